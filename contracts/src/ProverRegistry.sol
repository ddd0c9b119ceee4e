// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Provers and workers: stake, enclave identity, reputation, selection, slashing.
/// @notice A prover registers with a stake, the key its enclave signs receipts with and
/// the enclave's measurement. Work is assigned by reputation-weighted selection from a
/// commit-reveal seed (never `prevrandao` or a blockhash, which a block producer can
/// bias). Fees split 70/20/10 between prover, treasury and insurance, the rounding
/// remainder to the treasury; every payout and stake return is a pull withdrawal.
contract ProverRegistry is Ownable {
    struct Prover {
        uint256 stake;
        address enclaveKey;
        bytes32 measurement;
        uint16 reputationBps;
        bool active;
        uint64 unlockAt;
    }

    struct Commitment {
        bytes32 hash;
        uint64 blockNumber;
    }

    uint256 public constant MIN_STAKE = 1 ether;
    uint16 public constant INITIAL_REPUTATION_BPS = 5_000;
    uint16 public constant MAX_REPUTATION_BPS = 10_000;
    uint16 public constant SUCCESS_BONUS_BPS = 100;
    uint16 public constant SLASH_PENALTY_BPS = 2_500;
    uint64 public constant UNSTAKE_DELAY = 7 days;
    /// A reveal must come after the commit's block and within this many blocks.
    uint64 public constant REVEAL_WINDOW = 256;

    error StakeTooLow(uint256 given, uint256 minimum);
    error AlreadyRegistered(address prover);
    error UnknownProver(address prover);
    error ProverInactive(address prover);
    error ZeroAddress();
    error NotJobRegistry(address caller);
    error NoCommitment(address requester);
    error RevealTooEarly();
    error RevealTooLate();
    error RevealMismatch();
    error NoActiveProvers();
    error StakeLocked(uint64 unlockAt);
    error NothingToWithdraw();
    error TransferFailed();

    event Registered(address indexed prover, address enclaveKey, bytes32 measurement, uint256 stake);
    event Selected(address indexed requester, address indexed prover, bytes32 seed);
    event Slashed(address indexed prover, uint256 amount, bytes32 evidenceHash);
    event ReputationChanged(address indexed prover, uint16 reputationBps);
    event FeeSplit(address indexed prover, uint256 proverShare, uint256 treasuryShare, uint256 insuranceShare);
    event UnstakeRequested(address indexed prover, uint64 unlockAt);

    address public treasury;
    address public insurance;
    address public jobRegistry;
    address[] public proverList;
    mapping(address => Prover) public provers;
    mapping(address => Commitment) public commitments;
    mapping(address => uint256) public withdrawable;
    uint256 private _reveals;

    constructor(address admin, address treasury_, address insurance_) Ownable(admin) {
        if (treasury_ == address(0) || insurance_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        insurance = insurance_;
    }

    /// The job registry allowed to pay fees and report outcomes.
    function setJobRegistry(address registry) external onlyOwner {
        jobRegistry = registry;
    }

    /// Register `msg.sender` with a stake, its enclave's signing key and measurement.
    function register(address enclaveKey, bytes32 measurement) external payable {
        if (msg.value < MIN_STAKE) revert StakeTooLow(msg.value, MIN_STAKE);
        if (enclaveKey == address(0)) revert ZeroAddress();
        if (provers[msg.sender].stake != 0 || provers[msg.sender].enclaveKey != address(0)) {
            revert AlreadyRegistered(msg.sender);
        }
        provers[msg.sender] = Prover(msg.value, enclaveKey, measurement, INITIAL_REPUTATION_BPS, true, 0);
        proverList.push(msg.sender);
        emit Registered(msg.sender, enclaveKey, measurement, msg.value);
    }

    /// Number of provers ever registered.
    function proverCount() external view returns (uint256) {
        return proverList.length;
    }

    /// Is `prover` registered, active, and is `enclaveKey` its key?
    function isActiveWithKey(address prover, address enclaveKey) external view returns (bool) {
        Prover storage p = provers[prover];
        return p.active && p.enclaveKey == enclaveKey;
    }

    /// Step 1 of selection: commit to a secret (`keccak256(secret, msg.sender)`).
    function commitSeed(bytes32 commitment) external {
        commitments[msg.sender] = Commitment(commitment, uint64(block.number));
    }

    /// Step 2: reveal the secret in a later block; select a prover weighted by reputation.
    function revealAndSelect(bytes32 secret) external returns (address selected) {
        Commitment memory c = commitments[msg.sender];
        if (c.hash == bytes32(0)) revert NoCommitment(msg.sender);
        if (block.number <= c.blockNumber) revert RevealTooEarly();
        if (block.number > c.blockNumber + REVEAL_WINDOW) revert RevealTooLate();
        if (keccak256(abi.encodePacked(secret, msg.sender)) != c.hash) revert RevealMismatch();
        delete commitments[msg.sender];
        bytes32 seed = keccak256(abi.encodePacked(secret, msg.sender, c.blockNumber, _reveals++));
        selected = _weightedPick(uint256(seed));
        emit Selected(msg.sender, selected, seed);
    }

    function _weightedPick(uint256 r) private view returns (address) {
        uint256 total = 0;
        for (uint256 i = 0; i < proverList.length; i++) {
            Prover storage p = provers[proverList[i]];
            if (p.active) total += p.reputationBps;
        }
        if (total == 0) revert NoActiveProvers();
        uint256 x = r % total;
        for (uint256 i = 0; i < proverList.length; i++) {
            Prover storage p = provers[proverList[i]];
            if (!p.active) continue;
            if (x < p.reputationBps) return proverList[i];
            x -= p.reputationBps;
        }
        revert NoActiveProvers(); // unreachable: x < total
    }

    /// Slash `amount` of `prover`'s stake to the insurance fund, citing `evidenceHash`.
    function slash(address prover, uint256 amount, bytes32 evidenceHash) external onlyOwner {
        Prover storage p = provers[prover];
        if (p.enclaveKey == address(0)) revert UnknownProver(prover);
        uint256 taken = amount > p.stake ? p.stake : amount;
        p.stake -= taken;
        withdrawable[insurance] += taken;
        p.reputationBps = p.reputationBps > SLASH_PENALTY_BPS ? p.reputationBps - SLASH_PENALTY_BPS : 0;
        if (p.stake < MIN_STAKE) p.active = false;
        emit Slashed(prover, taken, evidenceHash);
        emit ReputationChanged(prover, p.reputationBps);
    }

    /// Called by the job registry with a job's fee when `prover` completed it.
    function payFee(address prover) external payable {
        if (msg.sender != jobRegistry) revert NotJobRegistry(msg.sender);
        Prover storage p = provers[prover];
        if (!p.active) revert ProverInactive(prover);
        uint256 proverShare = (msg.value * 70) / 100;
        uint256 insuranceShare = (msg.value * 10) / 100;
        uint256 treasuryShare = msg.value - proverShare - insuranceShare; // 20% plus the remainder
        withdrawable[prover] += proverShare;
        withdrawable[treasury] += treasuryShare;
        withdrawable[insurance] += insuranceShare;
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
