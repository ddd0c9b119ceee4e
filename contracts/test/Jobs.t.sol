// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {ProverRegistry} from "../src/ProverRegistry.sol";
import {JobRegistry} from "../src/JobRegistry.sol";

contract JobsTest is Base {
    ProverRegistry internal reg;
    JobRegistry internal jobs;
    address internal admin = address(0xA11CE);
    address internal treasury = address(0x7EA);
    address internal insurance = address(0x1A5);
    address internal prover = address(0x9807);
    address internal prover2 = address(0x9808);
    address internal requester = address(0x4E9);
    uint256 internal enclaveKey = 0xE4C1A7E;
    bytes32 internal constant MRTD = keccak256("mrtd");

    function setUp() public {
        reg = new ProverRegistry(admin, treasury, insurance);
        jobs = new JobRegistry(reg);
        vm.prank(admin);
        reg.setJobRegistry(address(jobs));
        vm.deal(prover, 10 ether);
        vm.deal(prover2, 10 ether);
        vm.deal(requester, 10 ether);
        vm.prank(prover);
        reg.register{value: 1 ether}(vm.addr(enclaveKey), MRTD);
    }

    function signCompletion(uint256 key, uint256 jobId, bytes32 result, bytes32 receipt) internal returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, jobs.completionDigest(jobId, result, receipt));
        return abi.encodePacked(r, s, v);
    }

    function submit(uint256 fee) internal returns (uint256 id) {
        vm.prank(requester);
        id = jobs.submitJob{value: fee}(keccak256("data"), keccak256("model"));
    }

    function test_register_needs_stake_and_is_once() public {
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.StakeTooLow.selector, 0.5 ether, 1 ether));
        reg.register{value: 0.5 ether}(address(1), MRTD);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.AlreadyRegistered.selector, prover));
        reg.register{value: 1 ether}(address(1), MRTD);
    }

    function test_complete_pays_70_20_10_with_the_remainder_to_treasury() public {
        uint256 id = submit(1001 wei);
        bytes memory sig = signCompletion(enclaveKey, id, keccak256("out"), keccak256("receipt"));
        vm.prank(prover);
        jobs.completeJob(id, keccak256("out"), keccak256("receipt"), sig);
        assertEq(reg.withdrawable(prover), 700, "70% floor");
        assertEq(reg.withdrawable(insurance), 100, "10% floor");
        assertEq(reg.withdrawable(treasury), 201, "20% plus remainder");
        assertEq(uint256(jobs.getJob(id).status), uint256(JobRegistry.Status.Completed), "completed");
        (,,, uint16 rep,,) = reg.provers(prover);
        assertEq(rep, 5100, "reputation up");
        uint256 before = prover.balance;
        vm.prank(prover);
        reg.withdraw();
        assertEq(prover.balance - before, 700, "pulled");
    }

    function test_double_completion_is_refused() public {
        uint256 id = submit(1 ether);
        bytes memory sig = signCompletion(enclaveKey, id, keccak256("out"), keccak256("r"));
        vm.prank(prover);
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.JobNotOpen.selector, id, JobRegistry.Status.Completed));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
    }

    function test_wrong_enclave_key_or_result_is_refused() public {
        uint256 id = submit(1 ether);
        bytes memory forged = signCompletion(0xBAD, id, keccak256("out"), keccak256("r"));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.BadEnclaveSignature.selector, vm.addr(0xBAD)));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), forged);
        // Signed for another result.
        bytes memory sig = signCompletion(enclaveKey, id, keccak256("out"), keccak256("r"));
        vm.prank(prover);
        vm.expectRevert();
        jobs.completeJob(id, keccak256("other"), keccak256("r"), sig);
    }

    function test_a_slashed_prover_cannot_complete() public {
        uint256 id = submit(1 ether);
        vm.prank(admin);
        reg.slash(prover, 0.5 ether, keccak256("evidence"));
        assertEq(reg.withdrawable(insurance), 0.5 ether, "slashed stake to insurance");
        bytes memory sig = signCompletion(enclaveKey, id, keccak256("out"), keccak256("r"));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProverNotActive.selector, prover));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
    }

    function test_zk_jobs_need_a_verifier_contract_and_complete_only_by_proof() public {
        // Only a contract can be a verifier.
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.NoVerifier.selector, address(0xBEEF)));
        jobs.submitZkJob{value: 1 ether}(keccak256("input"), keccak256("model"), address(0xBEEF));
        // A contract without verifyProof refuses every proof (the embedded-EVM test in
        // crates/veil-zk/tests/evm.rs runs a real verifier with real proofs).
        vm.prank(requester);
        uint256 id = jobs.submitZkJob{value: 1 ether}(keccak256("input"), keccak256("model"), address(reg));
        assertEq(jobs.zkVerifierOf(id), address(reg), "verifier recorded");
        uint256[8] memory proof;
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProofInvalid.selector, id));
        jobs.completeJobWithProof(id, proof, 7, keccak256("r"));
        // The enclave-signature path is closed to a zk job.
        bytes memory sig = signCompletion(enclaveKey, id, keccak256("out"), keccak256("r"));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProofRequired.selector, id));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        // Only registered, active provers may submit proofs.
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProverNotActive.selector, prover2));
        jobs.completeJobWithProof(id, proof, 7, keccak256("r"));
        // A job without a verifier cannot be completed by proof.
        uint256 plain = submit(1 ether);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.NotZkJob.selector, plain));
        jobs.completeJobWithProof(plain, proof, 7, keccak256("r"));
        assertEq(uint256(jobs.getJob(id).status), uint256(JobRegistry.Status.Open), "still open");
    }

    function test_expired_jobs_refund_the_requester() public {
        uint256 id = submit(1 ether);
        vm.prank(requester);
        vm.expectRevert();
        jobs.cancelExpired(id);
        vm.warp(block.timestamp + 2 days);
        vm.prank(requester);
        jobs.cancelExpired(id);
        uint256 before = requester.balance;
        vm.prank(requester);
        jobs.withdrawRefund();
        assertEq(requester.balance - before, 1 ether, "refunded");
    }

    function test_stake_is_timelocked() public {
        vm.startPrank(prover);
        reg.requestUnstake();
        vm.expectRevert();
        reg.releaseStake();
        vm.warp(block.timestamp + 7 days + 1);
        reg.releaseStake();
        assertEq(reg.withdrawable(prover), 1 ether, "stake released");
        vm.stopPrank();
    }

    function test_selection_needs_a_later_reveal_of_the_commitment() public {
        bytes32 secret = keccak256("s");
        vm.startPrank(requester);
        reg.commitSeed(keccak256(abi.encodePacked(secret, requester)));
        vm.expectRevert(ProverRegistry.RevealTooEarly.selector);
        reg.revealAndSelect(secret);
        vm.roll(block.number + 1);
        vm.expectRevert(ProverRegistry.RevealMismatch.selector);
        reg.revealAndSelect(keccak256("other"));
        assertEq(reg.revealAndSelect(secret), prover, "the only prover");
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.NoCommitment.selector, requester));
        reg.revealAndSelect(secret);
        vm.stopPrank();
    }

    /// Fuzz: the split always sums to the fee, and the shares are 70/20/10 up to rounding.
    function testFuzz_fee_split_conserves_value(uint96 fee) public {
        vm.assume(fee > 0);
        vm.deal(requester, uint256(fee));
        uint256 id = submit(fee);
        bytes memory sig = signCompletion(enclaveKey, id, keccak256("out"), keccak256("r"));
        vm.prank(prover);
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        uint256 p = reg.withdrawable(prover);
        uint256 t = reg.withdrawable(treasury);
        uint256 i = reg.withdrawable(insurance);
        assertEq(p + t + i, fee, "conserved");
        assertEq(p, (uint256(fee) * 70) / 100, "prover share");
        assertEq(i, (uint256(fee) * 10) / 100, "insurance share");
        assertTrue(t >= (uint256(fee) * 20) / 100 && t < (uint256(fee) * 20) / 100 + 3, "treasury gets the remainder");
    }

    /// Fuzz: selection is weighted by reputation — a prover with 0 reputation is never picked.
    function testFuzz_zero_reputation_is_never_selected(bytes32 secret) public {
        vm.prank(prover2);
        reg.register{value: 1 ether}(address(2), MRTD);
        vm.startPrank(admin);
        reg.slash(prover2, 0, keccak256("e1"));
        reg.slash(prover2, 0, keccak256("e2"));
        vm.stopPrank();
        (,,, uint16 rep, bool active,) = reg.provers(prover2);
        assertEq(rep, 0, "no reputation left");
        assertTrue(active, "still staked");
        vm.prank(requester);
        reg.commitSeed(keccak256(abi.encodePacked(secret, requester)));
        vm.roll(block.number + 1);
        vm.prank(requester);
        assertEq(reg.revealAndSelect(secret), prover, "weighted pick");
    }
}
