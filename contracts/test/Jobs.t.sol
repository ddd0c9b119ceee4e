// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {ProverRegistry} from "../src/ProverRegistry.sol";
import {JobRegistry} from "../src/JobRegistry.sol";

/// A Groth16 verifier that accepts every proof (the embedded-EVM test in
/// crates/veil-zk/tests/it/evm.rs runs a real verifier with real proofs).
contract AcceptAll {
    function verifyProof(uint256[8] calldata, uint256[3] calldata) external pure {}
}

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
    uint256 internal enclaveKey2 = 0xE4C1A7F;
    uint256 internal oracleKey = 0x0AC1E;
    bytes32 internal constant MRTD = keccak256("mrtd");
    bytes32 internal constant ORACLE_MRTD = keccak256("oracle mrtd");
    bytes32 internal constant EVIDENCE = keccak256("evidence");

    function setUp() public {
        vm.warp(1_800_000_000);
        vm.roll(100);
        reg = new ProverRegistry(admin, treasury, insurance);
        jobs = new JobRegistry(reg);
        vm.startPrank(admin);
        reg.setJobRegistry(address(jobs));
        reg.approveMeasurement(MRTD, true);
        reg.pinVerifierMeasurement(ORACLE_MRTD);
        reg.addAttestationVerifier(vm.addr(oracleKey), ORACLE_MRTD, keccak256("oracle evidence"));
        vm.stopPrank();
        vm.deal(prover, 10 ether);
        vm.deal(prover2, 10 ether);
        vm.deal(requester, 10 ether);
        register(prover, enclaveKey);
    }

    function expiry() internal view returns (uint64) {
        return uint64(block.timestamp + 7 days);
    }

    function statement(uint256 signer, address who, address key, bytes32 m, uint64 expiresAt)
        internal
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signer, reg.attestationDigest(who, key, m, EVIDENCE, expiresAt));
        return abi.encodePacked(r, s, v);
    }

    function register(address who, uint256 key) internal {
        registerWith(who, key, 1 ether);
    }

    function registerWith(address who, uint256 key, uint256 stake) internal {
        uint64 exp = expiry();
        bytes memory sig = statement(oracleKey, who, vm.addr(key), MRTD, exp);
        vm.prank(who);
        reg.register{value: stake}(vm.addr(key), MRTD, EVIDENCE, exp, sig);
    }

    function signCompletion(uint256 key, uint256 jobId, address by, bytes32 result, bytes32 receipt, bytes32 proofHash)
        internal
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, jobs.completionDigest(jobId, by, result, receipt, proofHash));
        return abi.encodePacked(r, s, v);
    }

    function submit(uint256 fee) internal returns (uint256 id) {
        vm.prank(requester);
        id = jobs.submitJob{value: fee}(keccak256("data"), keccak256("model"));
        vm.roll(block.number + 1);
    }

    function complete(address by, uint256 key, uint256 id) internal {
        bytes memory sig = signCompletion(key, id, by, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(by);
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
    }

    function stakeOf(address who) internal view returns (uint256 stake) {
        (stake,,,,,,,,,) = reg.provers(who);
    }

    // --- Registration (finding 11: registration only with an attestation statement) ---

    function test_register_needs_stake_and_is_once() public {
        uint64 exp = expiry();
        bytes memory sig = statement(oracleKey, prover2, vm.addr(enclaveKey2), MRTD, exp);
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.StakeTooLow.selector, 0.5 ether, 1 ether));
        reg.register{value: 0.5 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, exp, sig);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.AlreadyRegistered.selector, prover));
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, exp, sig);
    }

    function test_a_self_declared_enclave_key_is_refused() public {
        uint64 exp = expiry();
        // Signed by the prover's own key instead of an attestation verifier.
        bytes memory sig = statement(enclaveKey2, prover2, vm.addr(enclaveKey2), MRTD, exp);
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.UntrustedAttestationVerifier.selector, vm.addr(enclaveKey2)));
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, exp, sig);
    }

    function test_a_statement_names_one_account_one_key_one_measurement() public {
        uint64 exp = expiry();
        bytes memory sig = statement(oracleKey, prover, vm.addr(enclaveKey2), MRTD, exp);
        // prover2 replays a statement made for prover: the digest differs, the signer too.
        vm.prank(prover2);
        vm.expectRevert();
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, exp, sig);
        // An unapproved measurement is refused even with a genuine statement.
        bytes32 other = keccak256("other build");
        sig = statement(oracleKey, prover2, vm.addr(enclaveKey2), other, exp);
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.MeasurementNotApproved.selector, other));
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), other, EVIDENCE, exp, sig);
    }

    function test_statements_expire_and_are_short_lived() public {
        uint64 past = uint64(block.timestamp);
        bytes memory sig = statement(oracleKey, prover2, vm.addr(enclaveKey2), MRTD, past);
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.AttestationExpired.selector, past));
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, past, sig);
        uint64 far = uint64(block.timestamp + 31 days);
        sig = statement(oracleKey, prover2, vm.addr(enclaveKey2), MRTD, far);
        vm.prank(prover2);
        vm.expectRevert(
            abi.encodeWithSelector(ProverRegistry.AttestationTooLong.selector, far, uint64(block.timestamp + 30 days))
        );
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, far, sig);
    }

    function test_verifiers_must_run_the_pinned_measurement() public {
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(ProverRegistry.VerifierMeasurementMismatch.selector, MRTD, ORACLE_MRTD)
        );
        reg.addAttestationVerifier(address(0xBAD), MRTD, EVIDENCE);
        // Re-pinning retires every verifier admitted under the old measurement.
        vm.prank(admin);
        reg.pinVerifierMeasurement(keccak256("oracle v2"));
        assertTrue(!reg.isAttestationVerifier(vm.addr(oracleKey)), "retired");
        uint64 exp = expiry();
        bytes memory sig = statement(oracleKey, prover2, vm.addr(enclaveKey2), MRTD, exp);
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.UntrustedAttestationVerifier.selector, vm.addr(oracleKey)));
        reg.register{value: 1 ether}(vm.addr(enclaveKey2), MRTD, EVIDENCE, exp, sig);
        // Only the owner admits verifiers.
        vm.prank(prover);
        vm.expectRevert();
        reg.pinVerifierMeasurement(MRTD);
    }

    function test_an_enclave_key_belongs_to_one_account() public {
        // Even a genuine statement cannot give prover's enclave key to prover2.
        uint64 exp = expiry();
        bytes memory sig = statement(oracleKey, prover2, vm.addr(enclaveKey), MRTD, exp);
        vm.prank(prover2);
        vm.expectRevert(
            abi.encodeWithSelector(ProverRegistry.EnclaveKeyTaken.selector, vm.addr(enclaveKey), prover)
        );
        reg.register{value: 1 ether}(vm.addr(enclaveKey), MRTD, EVIDENCE, exp, sig);
        assertEq(reg.proverOfKey(vm.addr(enclaveKey)), prover, "bound to prover");
    }

    function test_an_expired_attestation_stops_work_until_renewed() public {
        vm.warp(block.timestamp + 8 days);
        uint256 id = submit(1 ether);
        assertTrue(!reg.isEligible(prover), "attestation lapsed");
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProverNotEligible.selector, prover));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        // Renewed with a new enclave key (a restarted enclave).
        uint64 exp = expiry();
        bytes memory st = statement(oracleKey, prover, vm.addr(enclaveKey2), MRTD, exp);
        vm.prank(prover);
        reg.updateAttestation(vm.addr(enclaveKey2), MRTD, EVIDENCE, exp, st);
        assertTrue(reg.isEligible(prover), "renewed");
        // The old key no longer completes; the new one does.
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.BadEnclaveSignature.selector, vm.addr(enclaveKey)));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        complete(prover, enclaveKey2, id);
        // The retired key stays bound to prover.
        assertEq(reg.proverOfKey(vm.addr(enclaveKey)), prover, "never reused");
    }

    function test_withdrawing_an_approval_stops_work() public {
        uint256 id = submit(1 ether);
        vm.prank(admin);
        reg.approveMeasurement(MRTD, false);
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProverNotEligible.selector, prover));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
    }

    // --- Completion, fees, assignment ---

    function test_complete_pays_70_20_10_with_the_remainder_to_treasury() public {
        uint256 id = submit(1001 wei);
        complete(prover, enclaveKey, id);
        assertEq(reg.withdrawable(prover), 700, "70% floor");
        assertEq(reg.withdrawable(insurance), 100, "10% floor");
        assertEq(reg.withdrawable(treasury), 201, "20% plus remainder");
        assertEq(uint256(jobs.getJob(id).status), uint256(JobRegistry.Status.Completed), "completed");
        (,,, uint16 rep,,,,, uint32 successes,) = reg.provers(prover);
        assertEq(rep, 5100, "reputation up");
        assertEq(successes, 1, "one success");
        uint256 before = prover.balance;
        vm.prank(prover);
        reg.withdraw();
        assertEq(prover.balance - before, 700, "pulled");
    }

    function test_double_completion_is_refused() public {
        uint256 id = submit(1 ether);
        complete(prover, enclaveKey, id);
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.JobNotOpen.selector, id, JobRegistry.Status.Completed));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
    }

    function test_wrong_enclave_key_or_result_is_refused() public {
        uint256 id = submit(1 ether);
        bytes memory forged = signCompletion(0xBAD, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.BadEnclaveSignature.selector, vm.addr(0xBAD)));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), forged);
        // Signed for another result.
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert();
        jobs.completeJob(id, keccak256("other"), keccak256("r"), sig);
    }

    function test_a_completion_copied_from_the_mempool_pays_nobody_else() public {
        register(prover2, enclaveKey2);
        uint256 id = submit(1 ether);
        address selected = jobs.assign(id);
        address other = selected == prover ? prover2 : prover;
        uint256 selectedKey = selected == prover ? enclaveKey : enclaveKey2;
        bytes memory sig = signCompletion(selectedKey, id, selected, keccak256("out"), keccak256("r"), bytes32(0));
        // After the window the other prover may complete, but not with a copied signature.
        vm.warp(block.timestamp + 2 hours);
        vm.prank(other);
        vm.expectRevert();
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        // Its author still can, late.
        vm.prank(selected);
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        assertEq(jobs.getJob(id).prover, selected, "paid to its author");
    }

    function test_anyone_may_relay_a_completion_and_it_pays_the_prover_it_names() public {
        register(prover2, enclaveKey2);
        uint256 id = submit(1 ether);
        address selected = jobs.assign(id);
        (address other, uint256 otherKey) = selected == prover ? (prover2, enclaveKey2) : (prover, enclaveKey);
        uint256 selectedKey = selected == prover ? enclaveKey : enclaveKey2;
        bytes memory sig = signCompletion(selectedKey, id, selected, keccak256("out"), keccak256("r"), bytes32(0));
        // A relayer cannot name itself, or another prover, for the selected one's work.
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProverNotEligible.selector, requester));
        jobs.completeJobFor(id, requester, keccak256("out"), keccak256("r"), sig);
        bytes memory otherSig = signCompletion(otherKey, id, other, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.NotAssigned.selector, id, selected));
        jobs.completeJobFor(id, other, keccak256("out"), keccak256("r"), otherSig);
        vm.prank(requester);
        vm.expectRevert();
        jobs.completeJobFor(id, selected, keccak256("other"), keccak256("r"), sig);
        // Relayed by the requester, paid to the prover the enclave named.
        uint256 before = reg.withdrawable(selected);
        vm.prank(requester);
        jobs.completeJobFor(id, selected, keccak256("out"), keccak256("r"), sig);
        JobRegistry.Job memory j = jobs.getJob(id);
        assertEq(j.prover, selected, "the named prover completed it");
        assertEq(j.resultHash, keccak256("out"), "its result");
        assertEq(reg.withdrawable(selected) - before, 0.7 ether, "70% to the prover");
        assertEq(reg.withdrawable(requester), 0, "nothing to the relayer");
    }

    function test_a_relayed_completion_never_lands_in_the_submission_block() public {
        vm.prank(requester);
        uint256 id = jobs.submitJob{value: 1 ether}(keccak256("data"), keccak256("model"));
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.SelectionTooEarly.selector, id));
        jobs.completeJobFor(id, prover, keccak256("out"), keccak256("r"), sig);
    }

    function test_only_the_assigned_prover_completes_in_its_window_then_anyone_and_it_is_slashed() public {
        register(prover2, enclaveKey2);
        uint256 id = submit(1 ether);
        address selected = jobs.assign(id);
        JobRegistry.Job memory j = jobs.getJob(id);
        assertEq(j.assigned, selected, "recorded");
        (address other, uint256 otherKey) = selected == prover ? (prover2, enclaveKey2) : (prover, enclaveKey);
        bytes memory sig = signCompletion(otherKey, id, other, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(other);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.NotAssigned.selector, id, selected));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        // The window passes: the other completes, the selected one is slashed 1% for downtime.
        vm.warp(block.timestamp + 1 hours + 1);
        vm.prank(other);
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        assertEq(jobs.getJob(id).prover, other, "fallback completed");
        assertEq(stakeOf(selected), 0.99 ether, "downtime: 1%");
        assertEq(reg.withdrawable(insurance), 0.01 ether + 0.1 ether, "slash and fee share to insurance");
    }

    function test_selection_is_fixed_by_the_submission_block_and_never_in_it() public {
        register(prover2, enclaveKey2);
        vm.prank(requester);
        uint256 id = jobs.submitJob{value: 1 ether}(keccak256("data"), keccak256("model"));
        // A completion bundled into the submission's block would skip selection.
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.SelectionTooEarly.selector, id));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.SelectionTooEarly.selector, id));
        jobs.assign(id);
        uint256 submitted = block.number;
        vm.roll(block.number + 1);
        address expected = reg.pick(uint256(keccak256(abi.encode(id, blockhash(submitted)))));
        assertEq(jobs.assign(id), expected, "the seed is the job and its block's hash");
        // Nobody re-rolls it.
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.AlreadyAssigned.selector, id, expected));
        jobs.assign(id);
    }

    function test_nothing_completes_after_the_deadline() public {
        uint256 id = submit(1 ether);
        vm.warp(block.timestamp + 1 days + 1);
        bytes memory sig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        uint64 deadline = jobs.getJob(id).deadline;
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.JobExpired.selector, id, deadline));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), sig);
    }

    // --- zk jobs ---

    function test_zk_jobs_need_a_verifier_contract_and_complete_only_by_a_signed_proof() public {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.NoVerifier.selector, address(0xBEEF)));
        jobs.submitZkJob{value: 1 ether}(keccak256("input"), keccak256("model"), address(0xBEEF));
        AcceptAll verifier = new AcceptAll();
        vm.prank(requester);
        uint256 id = jobs.submitZkJob{value: 1 ether}(keccak256("input"), keccak256("model"), address(verifier));
        vm.roll(block.number + 1);
        uint256[8] memory proof;
        bytes32 proofHash = keccak256(abi.encode(proof));
        // The enclave-signature path is closed to a zk job.
        bytes memory plainSig = signCompletion(enclaveKey, id, prover, keccak256("out"), keccak256("r"), bytes32(0));
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProofRequired.selector, id));
        jobs.completeJob(id, keccak256("out"), keccak256("r"), plainSig);
        // A proof without its prover's enclave signature is refused.
        bytes memory wrong = signCompletion(enclaveKey, id, prover, bytes32(uint256(8)), keccak256("r"), proofHash);
        vm.prank(prover);
        vm.expectRevert();
        jobs.completeJobWithProof(id, proof, 7, keccak256("r"), wrong);
        // Unregistered accounts may not submit proofs.
        vm.prank(prover2);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.ProverNotEligible.selector, prover2));
        jobs.completeJobWithProof(id, proof, 7, keccak256("r"), wrong);
        bytes memory sig = signCompletion(enclaveKey, id, prover, bytes32(uint256(7)), keccak256("r"), proofHash);
        vm.prank(prover);
        assertTrue(jobs.completeJobWithProof(id, proof, 7, keccak256("r"), sig), "accepted");
        assertEq(jobs.getJob(id).resultHash, bytes32(uint256(7)), "result recorded");
        // A job without a verifier cannot be completed by proof.
        uint256 plain = submit(1 ether);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(JobRegistry.NotZkJob.selector, plain));
        jobs.completeJobWithProof(plain, proof, 7, keccak256("r"), sig);
    }

    function test_an_invalid_signed_proof_is_slashed_10_percent_and_the_job_stays_open() public {
        // A contract without verifyProof refuses every proof.
        vm.prank(requester);
        uint256 id = jobs.submitZkJob{value: 1 ether}(keccak256("input"), keccak256("model"), address(reg));
        vm.roll(block.number + 1);
        uint256[8] memory proof;
        bytes memory sig =
            signCompletion(enclaveKey, id, prover, bytes32(uint256(7)), keccak256("r"), keccak256(abi.encode(proof)));
        vm.prank(prover);
        assertTrue(!jobs.completeJobWithProof(id, proof, 7, keccak256("r"), sig), "rejected");
        assertEq(stakeOf(prover), 0.9 ether, "invalid proof: 10%");
        assertEq(uint256(jobs.getJob(id).status), uint256(JobRegistry.Status.Open), "still open");
    }

    // --- Offences, verification period, stake ---

    function test_offences_are_slashed_by_grade_and_reported_only_by_who_can_know() public {
        register(prover2, enclaveKey2);
        // Strangers and provers cannot report.
        vm.prank(prover2);
        vm.expectRevert(
            abi.encodeWithSelector(
                ProverRegistry.NotAllowedToReport.selector, prover2, ProverRegistry.Offence.InvalidProof
            )
        );
        reg.reportFailure(prover, ProverRegistry.Offence.InvalidProof, EVIDENCE);
        // An attestation verifier reports forgery, not downtime.
        vm.prank(vm.addr(oracleKey));
        vm.expectRevert(
            abi.encodeWithSelector(
                ProverRegistry.NotAllowedToReport.selector, vm.addr(oracleKey), ProverRegistry.Offence.Downtime
            )
        );
        reg.reportFailure(prover, ProverRegistry.Offence.Downtime, EVIDENCE);
        vm.prank(vm.addr(oracleKey));
        reg.reportFailure(prover, ProverRegistry.Offence.AttestationForgery, EVIDENCE);
        (uint256 stake,,,, bool active, bool banned,,,,) = reg.provers(prover);
        assertEq(stake, 0, "forgery: 100%");
        assertTrue(!active && banned, "banned");
        // A banned prover cannot come back.
        uint64 exp = expiry();
        bytes memory st = statement(oracleKey, prover, vm.addr(0xE4C1A80), MRTD, exp);
        vm.prank(prover);
        vm.expectRevert(abi.encodeWithSelector(ProverRegistry.Banned.selector, prover));
        reg.updateAttestation(vm.addr(0xE4C1A80), MRTD, EVIDENCE, exp, st);
        // The owner reports a data leak: 100% and a ban.
        vm.prank(admin);
        reg.reportFailure(prover2, ProverRegistry.Offence.DataLeak, EVIDENCE);
        assertEq(stakeOf(prover2), 0, "data leak: 100%");
        assertTrue(!reg.isEligible(prover2), "banned");
        assertEq(reg.withdrawable(insurance), 2 ether, "both stakes to insurance");
    }

    function test_new_provers_weigh_less_until_their_verification_period_ends() public {
        uint256 fresh = reg.selectionWeight(prover);
        assertEq(fresh, uint256(5000) / 101, "1/101 of the reputation");
        for (uint256 i = 0; i < 3; i++) {
            complete(prover, enclaveKey, submit(1 ether));
        }
        assertEq(reg.selectionWeight(prover), (uint256(5300) * 4) / 101, "grows with each success");
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

    /// Fuzz: the split always sums to the fee, and the shares are 70/20/10 up to rounding.
    function testFuzz_fee_split_conserves_value(uint96 fee) public {
        vm.assume(fee > 0);
        vm.deal(requester, uint256(fee));
        uint256 id = submit(fee);
        complete(prover, enclaveKey, id);
        uint256 p = reg.withdrawable(prover);
        uint256 t = reg.withdrawable(treasury);
        uint256 i = reg.withdrawable(insurance);
        assertEq(p + t + i, fee, "conserved");
        assertEq(p, (uint256(fee) * 70) / 100, "prover share");
        assertEq(i, (uint256(fee) * 10) / 100, "insurance share");
        assertTrue(t >= (uint256(fee) * 20) / 100 && t < (uint256(fee) * 20) / 100 + 3, "treasury gets the remainder");
    }

    /// Fuzz: a prover with no reputation left is never picked, whatever the seed.
    function testFuzz_zero_reputation_is_never_selected(uint256 seed) public {
        registerWith(prover2, enclaveKey2, 5 ether);
        vm.startPrank(admin);
        reg.reportFailure(prover2, ProverRegistry.Offence.Downtime, keccak256("e1"));
        reg.reportFailure(prover2, ProverRegistry.Offence.Downtime, keccak256("e2"));
        vm.stopPrank();
        (,,, uint16 rep, bool active,,,,,) = reg.provers(prover2);
        assertEq(rep, 0, "no reputation left");
        assertTrue(active, "still staked");
        assertEq(reg.pick(seed), prover, "weighted pick");
    }
}
