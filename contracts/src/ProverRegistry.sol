// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Provers and workers: attested registration, stake, reputation, selection, slashing.
/// @notice A prover registers with a stake and an attestation statement: an EIP-712
/// message (this chain, this contract) in which an attestation verifier says that it
/// checked TEE evidence binding `enclaveKey` to the registering account, for an approved
/// measurement, valid until `expiresAt`. Attestation verifiers (the "oracle") run
/// attested themselves: the owner admits a verifier key only with the measurement this
/// registry pins for verifiers and the hash of the evidence that binds the key, which
/// anyone can check off chain; re-pinning the measurement retires every verifier
/// admitted under the old one. An enclave key belongs to one account, forever.
/// A prover is eligible for work while active, not banned, and attested (statements
/// expire; `updateAttestation` renews them). New provers serve a verification period:
/// their selection weight grows with each successful job until `VERIFICATION_PROOFS`.
/// Offences are slashed by grade: an invalid proof 10% of the stake, downtime 1%,
/// attestation forgery or a data leak 100% and a ban. Fees split 70/20/10 between
/// prover, treasury and insurance (the rounding remainder to the treasury); every payout
/// and stake return is a pull withdrawal.
contract ProverRegistry is Ownable, EIP712 {
    enum Offence {
        InvalidProof,
        Downtime,
        AttestationForgery,
        DataLeak
    }

    struct Prover {
        uint256 stake;
        address enclaveKey;
        bytes32 measurement;
        uint16 reputationBps;
        bool active;
        bool banned;
        uint64 unlockAt;
        uint64 attestedUntil;
        uint32 successes;
        uint32 failures;
    }

    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(address prover,address enclaveKey,bytes32 measurement,bytes32 evidenceHash,uint64 expiresAt)"
    );
    uint256 public constant MIN_STAKE = 1 ether;
    uint16 public constant INITIAL_REPUTATION_BPS = 5_000;
    uint16 public constant MAX_REPUTATION_BPS = 10_000;
    uint16 public constant SUCCESS_BONUS_BPS = 100;
    uint16 public constant SLASH_PENALTY_BPS = 2_500;
    uint64 public constant UNSTAKE_DELAY = 7 days;
    /// The longest an attestation statement may be valid for.
    uint64 public constant MAX_ATTESTATION_TTL = 30 days;
    /// Successful jobs before a prover's selection weight is its full reputation.
    uint32 public constant VERIFICATION_PROOFS = 100;

    error StakeTooLow(uint256 given, uint256 minimum);
    error AlreadyRegistered(address prover);
    error UnknownProver(address prover);
    error ProverInactive(address prover);
    error Banned(address prover);
    error ZeroAddress();
    error NotJobRegistry(address caller);
    error NotAllowedToReport(address caller, Offence offence);
    error NoActiveProvers();
    error StakeLocked(uint64 unlockAt);
    error NothingToWithdraw();
    error TransferFailed();
    error MeasurementNotApproved(bytes32 measurement);
    error VerifierMeasurementMismatch(bytes32 given, bytes32 pinned);
    error UntrustedAttestationVerifier(address signer);
    error AttestationExpired(uint64 expiresAt);
    error AttestationTooLong(uint64 expiresAt, uint64 latest);
    error EnclaveKeyTaken(address enclaveKey, address owner);

    event Registered(address indexed prover, address enclaveKey, bytes32 measurement, uint256 stake);
    event AttestationUpdated(
        address indexed prover, address enclaveKey, bytes32 measurement, bytes32 evidenceHash, uint64 expiresAt
    );
    event Slashed(address indexed prover, Offence offence, uint256 amount, bytes32 evidenceHash);
    event ProverBanned(address indexed prover);
    event ReputationChanged(address indexed prover, uint16 reputationBps);
    event FeeSplit(address indexed prover, uint256 proverShare, uint256 treasuryShare, uint256 insuranceShare);
    event UnstakeRequested(address indexed prover, uint64 unlockAt);
    event MeasurementApproved(bytes32 indexed measurement, bool approved);
    event VerifierMeasurementPinned(bytes32 measurement);
    event AttestationVerifierAdded(address indexed verifier, bytes32 measurement, bytes32 evidenceHash);
    event AttestationVerifierRemoved(address indexed verifier);

    address public treasury;
    address public insurance;
    address public jobRegistry;
    address[] public proverList;
    mapping(address => Prover) public provers;
    mapping(address => uint256) public withdrawable;
    /// Measurements a prover may attest to.
    mapping(bytes32 => bool) public approvedMeasurements;
    /// The measurement an attestation verifier must run as.
    bytes32 public verifierMeasurement;
    /// Each admitted verifier key's measurement (valid while it equals the pinned one).
    mapping(address => bytes32) public verifierMeasurementOf;
    /// The account an enclave key was registered by (keys are never reused).
    mapping(address => address) public proverOfKey;

    constructor(address admin, address treasury_, address insurance_)
        Ownable(admin)
        EIP712("VeilProverRegistry", "1")
    {
        if (treasury_ == address(0) || insurance_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        insurance = insurance_;
    }

    /// The job registry allowed to pay fees, report missed work and invalid proofs.
    function setJobRegistry(address registry) external onlyOwner {
        jobRegistry = registry;
    }

    /// Allow (or stop allowing) provers to run with `measurement`.
    function approveMeasurement(bytes32 measurement, bool approved) external onlyOwner {
        approvedMeasurements[measurement] = approved;
        emit MeasurementApproved(measurement, approved);
    }

    /// Pin the measurement attestation verifiers run as; verifiers admitted under
    /// another measurement stop being trusted.
    function pinVerifierMeasurement(bytes32 measurement) external onlyOwner {
        verifierMeasurement = measurement;
        emit VerifierMeasurementPinned(measurement);
    }

    /// Admit an attestation verifier's signing key, running as the pinned measurement,
    /// with the hash of the evidence that binds the key (published for anyone to check).
    function addAttestationVerifier(address verifier, bytes32 measurement, bytes32 evidenceHash)
        external
        onlyOwner
    {
        if (verifier == address(0)) revert ZeroAddress();
        if (measurement == bytes32(0) || measurement != verifierMeasurement) {
            revert VerifierMeasurementMismatch(measurement, verifierMeasurement);
        }
        verifierMeasurementOf[verifier] = measurement;
        emit AttestationVerifierAdded(verifier, measurement, evidenceHash);
    }

    /// Stop trusting an attestation verifier.
    function removeAttestationVerifier(address verifier) external onlyOwner {
        delete verifierMeasurementOf[verifier];
        emit AttestationVerifierRemoved(verifier);
    }

    /// Is `verifier` an admitted attestation verifier running as the pinned measurement?
    function isAttestationVerifier(address verifier) public view returns (bool) {
        bytes32 m = verifierMeasurementOf[verifier];
        return m != bytes32(0) && m == verifierMeasurement;
    }

    /// The digest an attestation verifier signs for `prover`.
    function attestationDigest(
        address prover,
        address enclaveKey,
        bytes32 measurement,
        bytes32 evidenceHash,
        uint64 expiresAt
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ATTESTATION_TYPEHASH, prover, enclaveKey, measurement, evidenceHash, expiresAt))
        );
    }

    function _checkAttestation(
        address enclaveKey,
        bytes32 measurement,
        bytes32 evidenceHash,
        uint64 expiresAt,
        bytes calldata verifierSignature
    ) internal view {
        if (enclaveKey == address(0)) revert ZeroAddress();
        if (!approvedMeasurements[measurement]) revert MeasurementNotApproved(measurement);
        if (expiresAt <= block.timestamp) revert AttestationExpired(expiresAt);
        uint64 latest = uint64(block.timestamp) + MAX_ATTESTATION_TTL;
        if (expiresAt > latest) revert AttestationTooLong(expiresAt, latest);
        bytes32 digest = attestationDigest(msg.sender, enclaveKey, measurement, evidenceHash, expiresAt);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, verifierSignature);
        if (err != ECDSA.RecoverError.NoError || !isAttestationVerifier(signer)) {
            revert UntrustedAttestationVerifier(signer);
        }
        address holder = proverOfKey[enclaveKey];
        if (holder != address(0) && holder != msg.sender) revert EnclaveKeyTaken(enclaveKey, holder);
    }

    /// Register `msg.sender` with a stake and an attestation verifier's statement that
    /// `enclaveKey`, running as `measurement`, belongs to it.
    function register(
        address enclaveKey,
        bytes32 measurement,
        bytes32 evidenceHash,
        uint64 expiresAt,
        bytes calldata verifierSignature
    ) external payable {
        if (msg.value < MIN_STAKE) revert StakeTooLow(msg.value, MIN_STAKE);
        Prover storage p = provers[msg.sender];
        if (p.banned) revert Banned(msg.sender);
        if (p.enclaveKey != address(0)) revert AlreadyRegistered(msg.sender);
        _checkAttestation(enclaveKey, measurement, evidenceHash, expiresAt, verifierSignature);
        provers[msg.sender] =
            Prover(msg.value, enclaveKey, measurement, INITIAL_REPUTATION_BPS, true, false, 0, expiresAt, 0, 0);
        proverOfKey[enclaveKey] = msg.sender;
        proverList.push(msg.sender);
        emit Registered(msg.sender, enclaveKey, measurement, msg.value);
        emit AttestationUpdated(msg.sender, enclaveKey, measurement, evidenceHash, expiresAt);
    }

    /// Renew `msg.sender`'s attestation (a restarted enclave brings a new key).
    function updateAttestation(
        address enclaveKey,
        bytes32 measurement,
        bytes32 evidenceHash,
        uint64 expiresAt,
        bytes calldata verifierSignature
    ) external {
        Prover storage p = provers[msg.sender];
        if (p.enclaveKey == address(0)) revert UnknownProver(msg.sender);
        if (p.banned) revert Banned(msg.sender);
        _checkAttestation(enclaveKey, measurement, evidenceHash, expiresAt, verifierSignature);
        p.enclaveKey = enclaveKey;
        p.measurement = measurement;
        p.attestedUntil = expiresAt;
        proverOfKey[enclaveKey] = msg.sender;
        emit AttestationUpdated(msg.sender, enclaveKey, measurement, evidenceHash, expiresAt);
    }

    /// Number of provers ever registered.
    function proverCount() external view returns (uint256) {
        return proverList.length;
    }

    /// May `prover` take work now: active, not banned, attested, measurement still approved?
    function isEligible(address prover) public view returns (bool) {
        Prover storage p = provers[prover];
        return p.active && !p.banned && p.attestedUntil >= block.timestamp && approvedMeasurements[p.measurement];
    }

    /// Is `prover` eligible, and is `enclaveKey` its current key?
    function isEligibleWithKey(address prover, address enclaveKey) external view returns (bool) {
        return isEligible(prover) && provers[prover].enclaveKey == enclaveKey;
    }

    /// `prover`'s selection weight: its reputation, scaled down during the verification period.
    function selectionWeight(address prover) public view returns (uint256) {
        if (!isEligible(prover)) return 0;
        Prover storage p = provers[prover];
        uint256 w = p.reputationBps;
        if (w == 0) return 0;
        if (p.successes < VERIFICATION_PROOFS) {
            w = (w * (uint256(p.successes) + 1)) / (uint256(VERIFICATION_PROOFS) + 1);
        }
        return w == 0 ? 1 : w;
    }

    /// The eligible prover that the random value `r` picks, weighted by selection weight.
    function pick(uint256 r) external view returns (address) {
        uint256 total = 0;
        for (uint256 i = 0; i < proverList.length; i++) {
            total += selectionWeight(proverList[i]);
        }
        if (total == 0) revert NoActiveProvers();
        uint256 x = r % total;
        for (uint256 i = 0; i < proverList.length; i++) {
            uint256 w = selectionWeight(proverList[i]);
            if (x < w) return proverList[i];
            x -= w;
        }
        revert NoActiveProvers(); // unreachable: x < total
    }

    /// Report `offence` by `prover`, citing `evidenceHash`. The job registry reports what
    /// it observes (invalid proofs, missed assignments); an attestation verifier reports
    /// forged attestations; the owner reports anything, including data leaks.
    function reportFailure(address prover, Offence offence, bytes32 evidenceHash) external {
        bool allowed = msg.sender == owner()
            || (msg.sender == jobRegistry && (offence == Offence.InvalidProof || offence == Offence.Downtime))
            || (isAttestationVerifier(msg.sender) && offence == Offence.AttestationForgery);
        if (!allowed) revert NotAllowedToReport(msg.sender, offence);
        Prover storage p = provers[prover];
        if (p.enclaveKey == address(0)) revert UnknownProver(prover);
        uint256 bps = offence == Offence.InvalidProof ? 1_000 : offence == Offence.Downtime ? 100 : 10_000;
        uint256 taken = (p.stake * bps) / 10_000;
        p.stake -= taken;
        withdrawable[insurance] += taken;
        p.failures += 1;
        p.reputationBps = p.reputationBps > SLASH_PENALTY_BPS ? p.reputationBps - SLASH_PENALTY_BPS : 0;
        if (p.stake < MIN_STAKE) p.active = false;
        emit Slashed(prover, offence, taken, evidenceHash);
        emit ReputationChanged(prover, p.reputationBps);
        if (bps == 10_000) {
            p.banned = true;
            p.active = false;
            emit ProverBanned(prover);
        }
    }

    /// Called by the job registry with a job's fee when `prover` completed it.
    function payFee(address prover) external payable {
        if (msg.sender != jobRegistry) revert NotJobRegistry(msg.sender);
        Prover storage p = provers[prover];
        if (!isEligible(prover)) revert ProverInactive(prover);
        uint256 proverShare = (msg.value * 70) / 100;
        uint256 insuranceShare = (msg.value * 10) / 100;
        uint256 treasuryShare = msg.value - proverShare - insuranceShare; // 20% plus the remainder
        withdrawable[prover] += proverShare;
        withdrawable[treasury] += treasuryShare;
        withdrawable[insurance] += insuranceShare;
        if (p.successes < type(uint32).max) p.successes += 1;
        uint16 rep = p.reputationBps + SUCCESS_BONUS_BPS;
        p.reputationBps = rep > MAX_REPUTATION_BPS ? MAX_REPUTATION_BPS : rep;
        emit FeeSplit(prover, proverShare, treasuryShare, insuranceShare);
        emit ReputationChanged(prover, p.reputationBps);
    }

    /// Stop taking work and start the stake's timelock.
    function requestUnstake() external {
        Prover storage p = provers[msg.sender];
        if (p.enclaveKey == address(0)) revert UnknownProver(msg.sender);
        p.active = false;
        p.unlockAt = uint64(block.timestamp) + UNSTAKE_DELAY;
        emit UnstakeRequested(msg.sender, p.unlockAt);
    }

    /// After the timelock, move the remaining stake to the withdrawable balance.
    function releaseStake() external {
        Prover storage p = provers[msg.sender];
        if (p.unlockAt == 0 || block.timestamp < p.unlockAt) revert StakeLocked(p.unlockAt);
        uint256 amount = p.stake;
        if (amount == 0) revert NothingToWithdraw();
        p.stake = 0;
        withdrawable[msg.sender] += amount;
    }

    /// Pull what is owed to `msg.sender`.
    function withdraw() external {
        uint256 amount = withdrawable[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        withdrawable[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
