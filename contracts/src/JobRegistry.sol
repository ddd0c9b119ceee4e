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

/// @title Jobs with escrowed fees, assigned to a selected prover, completed by attested workers or by proofs.
/// @notice A requester escrows a fee for work over (dataHash, modelHash) until a deadline.
/// The job goes to one eligible prover, picked by selection weight with a seed of the job
/// id and the hash of the block that included the submission: the requester cannot know
/// that hash when it submits, and cannot re-roll it (a new submission is a new job with
/// its own escrowed fee). Anyone may make the assignment (`assign`), and completing an
/// unassigned job makes it first. The assigned prover has `ASSIGNMENT_WINDOW` to
/// complete alone; after that, any eligible prover may complete it and the assigned one
/// is reported for downtime. Nothing completes after the deadline.
/// A completion carries the completing prover's enclave signature (EIP-712, this chain
/// and contract) over the job, the completing account, the result, the receipt and, for
/// a zk job, the proof's hash: a completion copied from the mempool names its author, so
/// it pays nobody else (and anyone may relay it: `completeJobFor`). The fee then goes through the registry's 70/20/10 split.
/// A zk job names a Groth16 verifier: it completes only with a proof whose public inputs
/// are [modelHash, dataHash, result] (Veil's zkML commitments [M, I, O]), checked on
/// chain; a signed proof that does not verify is reported and slashed, not reverted.
/// Requesters reclaim the fee of a job nobody completed by its deadline. Payouts are
/// pull withdrawals.
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
        address assigned;
        uint64 assignedUntil;
        uint64 submitBlock;
    }

    bytes32 public constant COMPLETION_TYPEHASH = keccak256(
        "Completion(uint256 jobId,address prover,bytes32 resultHash,bytes32 receiptId,bytes32 proofHash)"
    );
    uint64 public constant JOB_TIMEOUT = 1 days;
    /// How long the selected prover has the job to itself.
    uint64 public constant ASSIGNMENT_WINDOW = 1 hours;
    /// Blocks after submission in which the selection seed (its block's hash) is readable.
    uint64 public constant SELECTION_WINDOW = 256;

    error NoFee();
    error UnknownJob(uint256 jobId);
    error JobNotOpen(uint256 jobId, Status status);
    error ProverNotEligible(address prover);
    error BadEnclaveSignature(address signer);
    error NotRequester(uint256 jobId, address caller);
    error NotExpired(uint256 jobId, uint64 deadline);
    error JobExpired(uint256 jobId, uint64 deadline);
    error NotAssigned(uint256 jobId, address assigned);
    error AlreadyAssigned(uint256 jobId, address assigned);
    error SelectionTooEarly(uint256 jobId);
    error AssignmentNotOver(uint256 jobId, uint64 assignedUntil);
    error NothingToWithdraw();
    error TransferFailed();
    error NoVerifier(address verifier);
    error NotZkJob(uint256 jobId);
    error ProofRequired(uint256 jobId);

    event JobSubmitted(uint256 indexed jobId, address indexed requester, bytes32 dataHash, bytes32 modelHash, uint256 fee);
    event JobAssigned(uint256 indexed jobId, address indexed prover);
    event JobCompleted(uint256 indexed jobId, address indexed prover, bytes32 resultHash, bytes32 receiptId);
    event JobCancelled(uint256 indexed jobId);
    event ZkJobSubmitted(uint256 indexed jobId, address indexed verifier);
    event ProofRejected(uint256 indexed jobId, address indexed prover);

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
        Job storage job = _jobs[jobId];
        job.requester = msg.sender;
        job.dataHash = dataHash;
        job.modelHash = modelHash;
        job.fee = msg.value;
        job.deadline = uint64(block.timestamp) + JOB_TIMEOUT;
        job.status = Status.Open;
        job.submitBlock = uint64(block.number);
        emit JobSubmitted(jobId, msg.sender, dataHash, modelHash, msg.value);
    }

    /// The job.
    function getJob(uint256 jobId) external view returns (Job memory) {
        if (_jobs[jobId].status == Status.None) revert UnknownJob(jobId);
        return _jobs[jobId];
    }

    function _open(uint256 jobId) internal view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == Status.None) revert UnknownJob(jobId);
        if (job.status != Status.Open) revert JobNotOpen(jobId, job.status);
        if (block.timestamp > job.deadline) revert JobExpired(jobId, job.deadline);
    }

    /// Assign an open job to the prover its seed selects (anyone may call this once the
    /// submission's block is sealed). Past the selection window the job has no
    /// selected prover and is open to every eligible one.
    function assign(uint256 jobId) public returns (address) {
        Job storage job = _open(jobId);
        if (job.assigned != address(0)) revert AlreadyAssigned(jobId, job.assigned);
        if (block.number <= job.submitBlock) revert SelectionTooEarly(jobId);
        bytes32 included = blockhash(job.submitBlock);
        if (included == bytes32(0)) return address(0);
        address selected = registry.pick(uint256(keccak256(abi.encode(jobId, included))));
        job.assigned = selected;
        job.assignedUntil = uint64(block.timestamp) + ASSIGNMENT_WINDOW;
        emit JobAssigned(jobId, selected);
        return selected;
    }

    /// After the assigned prover's window, report it for downtime and open the job to
    /// every eligible prover.
    function reassign(uint256 jobId) public {
        Job storage job = _open(jobId);
        if (job.assigned == address(0)) revert NotAssigned(jobId, address(0));
        if (block.timestamp <= job.assignedUntil) revert AssignmentNotOver(jobId, job.assignedUntil);
        address missed = job.assigned;
        job.assigned = address(0);
        job.assignedUntil = 0;
        job.submitBlock = 0; // no re-selection: the job is open to all
        registry.reportFailure(missed, ProverRegistry.Offence.Downtime, keccak256(abi.encode("missed", jobId)));
        emit JobAssigned(jobId, address(0));
    }

    /// May `prover` complete the job now? Assigns it first when nobody has.
    function _authorize(uint256 jobId, Job storage job, address prover) internal {
        if (!registry.isEligible(prover)) revert ProverNotEligible(prover);
        // Never in the submission's own block: a requester bundling its job with a
        // friendly prover's completion would skip selection (and farm reputation).
        if (job.assigned == address(0) && job.submitBlock != 0) {
            if (block.number <= job.submitBlock) revert SelectionTooEarly(jobId);
            assign(jobId);
        }
        if (job.assigned == address(0) || job.assigned == prover) return;
        if (block.timestamp <= job.assignedUntil) revert NotAssigned(jobId, job.assigned);
        reassign(jobId);
    }

    /// The digest `prover`'s enclave key signs to complete `jobId` (`proofHash` is zero
    /// except for a zk job: keccak256 of the ABI-encoded proof).
    function completionDigest(uint256 jobId, address prover, bytes32 resultHash, bytes32 receiptId, bytes32 proofHash)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(COMPLETION_TYPEHASH, jobId, prover, resultHash, receiptId, proofHash))
        );
    }

    function _checkSignature(bytes32 digest, bytes calldata enclaveSignature, address prover) internal view {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, enclaveSignature);
        if (err != ECDSA.RecoverError.NoError || !registry.isEligibleWithKey(prover, signer)) {
            revert BadEnclaveSignature(signer);
        }
    }

    /// Complete an open job as `msg.sender`, an eligible prover the job is (or may be)
    /// given to, with its enclave's signature over the result and receipt.
    function completeJob(uint256 jobId, bytes32 resultHash, bytes32 receiptId, bytes calldata enclaveSignature)
        external
    {
        _completeFor(jobId, msg.sender, resultHash, receiptId, enclaveSignature);
    }

    /// Complete an open job for `prover`, sent by anyone (the requester, typically):
    /// the prover's enclave signature names the prover, so the fee goes to it whoever
    /// relays the completion, and a prover's enclave can land its work with no operator
    /// sending transactions. Selection, the assignment window and the signature are
    /// checked exactly as for `completeJob`.
    function completeJobFor(
        uint256 jobId,
        address prover,
        bytes32 resultHash,
        bytes32 receiptId,
        bytes calldata enclaveSignature
    ) external {
        _completeFor(jobId, prover, resultHash, receiptId, enclaveSignature);
    }

    function _completeFor(
        uint256 jobId,
        address prover,
        bytes32 resultHash,
        bytes32 receiptId,
        bytes calldata enclaveSignature
    ) internal {
        Job storage job = _open(jobId);
        if (zkVerifierOf[jobId] != address(0)) revert ProofRequired(jobId);
        _authorize(jobId, job, prover);
        _checkSignature(completionDigest(jobId, prover, resultHash, receiptId, bytes32(0)), enclaveSignature, prover);
        _complete(job, jobId, prover, resultHash, receiptId);
    }

    /// Complete an open zk job with a proof for [modelHash, dataHash, result], signed by
    /// `msg.sender`'s enclave; the result becomes the job's resultHash. A signed proof
    /// that does not verify is reported as an invalid proof (the prover is slashed) and
    /// the job stays open; the call returns false.
    function completeJobWithProof(
        uint256 jobId,
        uint256[8] calldata proof,
        uint256 result,
        bytes32 receiptId,
        bytes calldata enclaveSignature
    ) external returns (bool) {
        Job storage job = _open(jobId);
        address verifier = zkVerifierOf[jobId];
        if (verifier == address(0)) revert NotZkJob(jobId);
        _authorize(jobId, job, msg.sender);
        bytes32 proofHash = keccak256(abi.encode(proof));
        _checkSignature(
            completionDigest(jobId, msg.sender, bytes32(result), receiptId, proofHash), enclaveSignature, msg.sender
        );
        uint256[3] memory input = [uint256(job.modelHash), uint256(job.dataHash), result];
        try IGroth16Verifier(verifier).verifyProof(proof, input) {}
        catch {
            registry.reportFailure(msg.sender, ProverRegistry.Offence.InvalidProof, proofHash);
            emit ProofRejected(jobId, msg.sender);
            return false;
        }
        _complete(job, jobId, msg.sender, bytes32(result), receiptId);
        return true;
    }

    function _complete(Job storage job, uint256 jobId, address prover, bytes32 resultHash, bytes32 receiptId)
        internal
    {
        job.status = Status.Completed;
        job.prover = prover;
        job.resultHash = resultHash;
        job.receiptId = receiptId;
        registry.payFee{value: job.fee}(prover);
        emit JobCompleted(jobId, prover, resultHash, receiptId);
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
