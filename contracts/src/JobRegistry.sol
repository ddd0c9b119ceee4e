// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ProverRegistry} from "./ProverRegistry.sol";

/// @notice A Groth16 verifier as `veil zk export-solidity` renders it (gnark's template):
/// it reverts unless the proof holds for the three public inputs.
interface IGroth16Verifier {
    function verifyProof(uint256[8] calldata proof, uint256[3] calldata input) external view;
}

/// @title Jobs with escrowed fees, completed by attested workers or by proofs.
/// @notice A requester escrows a fee for work over (dataHash, modelHash). A registered,
/// active prover completes it with the result hash and the receipt id, signed (EIP-712,
/// this chain and contract) by the enclave key it registered; the fee then goes through
/// the registry's 70/20/10 split. Requesters can reclaim the fee of a job nobody
/// completed before its deadline. Payouts are pull withdrawals.
/// A zk job names a Groth16 verifier instead: it completes only with a proof whose public
/// inputs are [modelHash, dataHash, result] (Veil's zkML commitments [M, I, O]), checked
/// on chain; the enclave-signature path is closed to it.
contract JobRegistry is EIP712 {
    enum Status {
        None,
        Open,
        Completed,
        Cancelled
    }

    struct Job {
        address requester;
        bytes32 dataHash;
        bytes32 modelHash;
        uint256 fee;
        uint64 deadline;
        Status status;
        address prover;
        bytes32 resultHash;
        bytes32 receiptId;
    }

    bytes32 public constant COMPLETION_TYPEHASH =
        keccak256("Completion(uint256 jobId,bytes32 resultHash,bytes32 receiptId)");
    uint64 public constant JOB_TIMEOUT = 1 days;

    error NoFee();
    error UnknownJob(uint256 jobId);
    error JobNotOpen(uint256 jobId, Status status);
    error ProverNotActive(address prover);
    error BadEnclaveSignature(address signer);
    error NotRequester(uint256 jobId, address caller);
    error NotExpired(uint256 jobId, uint64 deadline);
    error NothingToWithdraw();
    error TransferFailed();
    error NoVerifier(address verifier);
    error NotZkJob(uint256 jobId);
    error ProofRequired(uint256 jobId);
    error ProofInvalid(uint256 jobId);

    event JobSubmitted(uint256 indexed jobId, address indexed requester, bytes32 dataHash, bytes32 modelHash, uint256 fee);
    event JobCompleted(uint256 indexed jobId, address indexed prover, bytes32 resultHash, bytes32 receiptId);
    event JobCancelled(uint256 indexed jobId);
    event ZkJobSubmitted(uint256 indexed jobId, address indexed verifier);

    ProverRegistry public immutable registry;
    uint256 public nextJobId = 1;
    mapping(uint256 => Job) private _jobs;
    mapping(address => uint256) public refunds;
    /// The verifier a zk job's proof must satisfy (zero for enclave-signed jobs).
    mapping(uint256 => address) public zkVerifierOf;

    constructor(ProverRegistry registry_) EIP712("VeilJobRegistry", "1") {
        registry = registry_;
    }

    /// Escrow `msg.value` for a job over the data and model named by their roots.
    function submitJob(bytes32 dataHash, bytes32 modelHash) external payable returns (uint256 jobId) {
        jobId = _submit(dataHash, modelHash);
    }

    /// Escrow `msg.value` for a proof that the model committed to by `modelCommitment`
    /// maps the input committed to by `inputCommitment` to a result, checked by `verifier`.
    function submitZkJob(bytes32 inputCommitment, bytes32 modelCommitment, address verifier)
        external
        payable
        returns (uint256 jobId)
    {
        if (verifier.code.length == 0) revert NoVerifier(verifier);
        jobId = _submit(inputCommitment, modelCommitment);
        zkVerifierOf[jobId] = verifier;
        emit ZkJobSubmitted(jobId, verifier);
    }

    function _submit(bytes32 dataHash, bytes32 modelHash) internal returns (uint256 jobId) {
        if (msg.value == 0) revert NoFee();
        jobId = nextJobId++;
        _jobs[jobId] = Job(
            msg.sender, dataHash, modelHash, msg.value, uint64(block.timestamp) + JOB_TIMEOUT, Status.Open,
            address(0), bytes32(0), bytes32(0)
        );
        emit JobSubmitted(jobId, msg.sender, dataHash, modelHash, msg.value);
    }

    /// The job.
    function getJob(uint256 jobId) external view returns (Job memory) {
        if (_jobs[jobId].status == Status.None) revert UnknownJob(jobId);
        return _jobs[jobId];
    }

    /// The digest the prover's enclave key signs to complete `jobId`.
    function completionDigest(uint256 jobId, bytes32 resultHash, bytes32 receiptId) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(COMPLETION_TYPEHASH, jobId, resultHash, receiptId)));
    }

    /// Complete an open job as `msg.sender`, a registered active prover, with its
    /// enclave's signature over the result and receipt.
    function completeJob(uint256 jobId, bytes32 resultHash, bytes32 receiptId, bytes calldata enclaveSignature)
        external
    {
        Job storage job = _jobs[jobId];
        if (job.status == Status.None) revert UnknownJob(jobId);
        if (job.status != Status.Open) revert JobNotOpen(jobId, job.status);
        if (zkVerifierOf[jobId] != address(0)) revert ProofRequired(jobId);
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(completionDigest(jobId, resultHash, receiptId), enclaveSignature);
        if (err != ECDSA.RecoverError.NoError) revert BadEnclaveSignature(address(0));
        if (!registry.isActiveWithKey(msg.sender, signer)) {
            (,,,, bool active,) = registry.provers(msg.sender);
            if (!active) revert ProverNotActive(msg.sender);
            revert BadEnclaveSignature(signer);
        }
        _complete(job, jobId, resultHash, receiptId);
    }

    /// Complete an open zk job as `msg.sender`, a registered active prover, with a
    /// proof for [modelHash, dataHash, result]; the result becomes the job's resultHash.
    function completeJobWithProof(uint256 jobId, uint256[8] calldata proof, uint256 result, bytes32 receiptId)
        external
    {
        Job storage job = _jobs[jobId];
        if (job.status == Status.None) revert UnknownJob(jobId);
        if (job.status != Status.Open) revert JobNotOpen(jobId, job.status);
        address verifier = zkVerifierOf[jobId];
        if (verifier == address(0)) revert NotZkJob(jobId);
        (,,,, bool active,) = registry.provers(msg.sender);
        if (!active) revert ProverNotActive(msg.sender);
        uint256[3] memory input = [uint256(job.modelHash), uint256(job.dataHash), result];
        try IGroth16Verifier(verifier).verifyProof(proof, input) {}
        catch {
            revert ProofInvalid(jobId);
        }
        _complete(job, jobId, bytes32(result), receiptId);
    }

    function _complete(Job storage job, uint256 jobId, bytes32 resultHash, bytes32 receiptId) internal {
        job.status = Status.Completed;
        job.prover = msg.sender;
        job.resultHash = resultHash;
        job.receiptId = receiptId;
        registry.payFee{value: job.fee}(msg.sender);
        emit JobCompleted(jobId, msg.sender, resultHash, receiptId);
    }

    /// Reclaim the fee of a job nobody completed before its deadline.
    function cancelExpired(uint256 jobId) external {
        Job storage job = _jobs[jobId];
        if (job.status == Status.None) revert UnknownJob(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        if (job.status != Status.Open) revert JobNotOpen(jobId, job.status);
        if (block.timestamp <= job.deadline) revert NotExpired(jobId, job.deadline);
        job.status = Status.Cancelled;
        refunds[msg.sender] += job.fee;
        emit JobCancelled(jobId);
    }

    /// Pull refunds owed to `msg.sender`.
    function withdrawRefund() external {
        uint256 amount = refunds[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        refunds[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
