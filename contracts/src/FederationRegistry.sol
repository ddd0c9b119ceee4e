// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Federated-learning rounds on the ledger.
/// @notice A federation (named by the id Veil derives from its owner's Ed25519 key and
/// its name) lists its participants' Ed25519 keys and the secp256k1 address of the
/// attested enclave that aggregates it — set by the owner after checking that
/// enclave's attestation off chain, replaced the same way when the enclave restarts.
/// Each round is recorded once, in order, from the model the last round made: the
/// root of the owner's signed start, the model before and after, the receipt's id, the
/// survivors and the root of each survivor's masked update — and only with the
/// aggregator enclave's EIP-712 signature (this chain, this contract) over all of it.
/// Anyone may relay a signed round; nobody else can write one.
contract FederationRegistry is EIP712 {
    struct Federation {
        address owner;
        address aggregator;
        bytes32 ownerKey;
        uint64 round;
        bytes32 model;
    }

    struct Round {
        bytes32 startRoot;
        bytes32 previousModel;
        bytes32 globalModel;
        bytes32 receiptId;
        address aggregator;
        uint64 postedAt;
    }

    bytes32 public constant ROUND_TYPEHASH = keccak256(
        "Round(bytes32 federation,uint64 round,bytes32 startRoot,bytes32 previousModel,bytes32 globalModel,bytes32 receiptId,uint32[] survivors,bytes32[] updateRoots)"
    );
    /// The most participants a federation lists (secure aggregation's limit).
    uint256 public constant MAX_PARTICIPANTS = 255;

    error FederationExists(bytes32 federation);
    error UnknownFederation(bytes32 federation);
    error NotOwner(bytes32 federation, address caller);
    error BadParticipants(uint256 count);
    error NoAggregator();
    error RoundOutOfOrder(uint64 expected, uint64 given);
    error WrongPreviousModel(bytes32 expected, bytes32 given);
    error BadSurvivors();
    error BadAggregatorSignature(address signer);

    event FederationCreated(bytes32 indexed federation, string id, address indexed owner, address aggregator);
    event AggregatorSet(bytes32 indexed federation, address aggregator);
    event RoundRecorded(
        bytes32 indexed federation, uint64 indexed round, bytes32 globalModel, bytes32 receiptId, uint256 survivors
    );

    mapping(bytes32 => Federation) private _federations;
    mapping(bytes32 => bytes32[]) private _participants;
    mapping(bytes32 => mapping(uint64 => Round)) private _rounds;
    mapping(bytes32 => mapping(uint64 => uint32[])) private _survivors;
    mapping(bytes32 => mapping(uint64 => bytes32[])) private _updateRoots;

    constructor() EIP712("VeilFederationRegistry", "1") {}

    /// The key a federation id string is recorded under.
    function federationKey(string calldata id) public pure returns (bytes32) {
        return keccak256(bytes(id));
    }

    /// Create federation `id` owned by the caller: its owner's Ed25519 key, its
    /// participants' Ed25519 keys (client i is `clientKeys[i - 1]`) and its aggregator.
    function create(string calldata id, bytes32 ownerKey, bytes32[] calldata clientKeys, address aggregator)
        external
        returns (bytes32 fid)
    {
        fid = federationKey(id);
        if (_federations[fid].owner != address(0)) revert FederationExists(fid);
        if (clientKeys.length < 2 || clientKeys.length > MAX_PARTICIPANTS) revert BadParticipants(clientKeys.length);
        if (aggregator == address(0)) revert NoAggregator();
        _federations[fid] = Federation(msg.sender, aggregator, ownerKey, 0, bytes32(0));
        _participants[fid] = clientKeys;
        emit FederationCreated(fid, id, msg.sender, aggregator);
    }

    /// Name another aggregator enclave (the owner, after checking its attestation).
    function setAggregator(bytes32 fid, address aggregator) external {
        Federation storage f = _known(fid);
        if (msg.sender != f.owner) revert NotOwner(fid, msg.sender);
        if (aggregator == address(0)) revert NoAggregator();
        f.aggregator = aggregator;
        emit AggregatorSet(fid, aggregator);
    }

    /// The digest the aggregator signs for a round.
    function roundDigest(
        bytes32 fid,
        uint64 round,
        bytes32 startRoot,
        bytes32 previousModel,
        bytes32 globalModel,
        bytes32 receiptId,
        uint32[] calldata survivors,
        bytes32[] calldata updateRoots
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ROUND_TYPEHASH,
                    fid,
                    round,
                    startRoot,
                    previousModel,
                    globalModel,
                    receiptId,
                    keccak256(abi.encodePacked(survivors)),
                    keccak256(abi.encodePacked(updateRoots))
                )
            )
        );
    }

    /// Record round `round`, signed by the federation's aggregator.
    function recordRound(
        bytes32 fid,
        uint64 round,
        bytes32 startRoot,
        bytes32 previousModel,
        bytes32 globalModel,
        bytes32 receiptId,
        uint32[] calldata survivors,
        bytes32[] calldata updateRoots,
        bytes calldata signature
    ) external {
        Federation storage f = _known(fid);
        if (round != f.round + 1) revert RoundOutOfOrder(f.round + 1, round);
        if (f.round > 0 && previousModel != f.model) revert WrongPreviousModel(f.model, previousModel);
        uint256 n = _participants[fid].length;
        if (survivors.length == 0 || survivors.length != updateRoots.length) revert BadSurvivors();
        for (uint256 i = 0; i < survivors.length; i++) {
            if (survivors[i] == 0 || survivors[i] > n || (i > 0 && survivors[i] <= survivors[i - 1])) {
                revert BadSurvivors();
            }
        }
        bytes32 digest =
            roundDigest(fid, round, startRoot, previousModel, globalModel, receiptId, survivors, updateRoots);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != f.aggregator) revert BadAggregatorSignature(signer);
        f.round = round;
        f.model = globalModel;
        _rounds[fid][round] =
            Round(startRoot, previousModel, globalModel, receiptId, signer, uint64(block.timestamp));
        _survivors[fid][round] = survivors;
        _updateRoots[fid][round] = updateRoots;
        emit RoundRecorded(fid, round, globalModel, receiptId, survivors.length);
    }

    /// The federation.
    function federation(bytes32 fid) external view returns (Federation memory) {
        return _known(fid);
    }

    /// Its participants' Ed25519 keys.
    function participants(bytes32 fid) external view returns (bytes32[] memory) {
        _known(fid);
        return _participants[fid];
    }

    /// Round `round` as recorded, with its survivors and their update roots.
    function roundOf(bytes32 fid, uint64 round)
        external
        view
        returns (Round memory, uint32[] memory survivors, bytes32[] memory updateRoots)
    {
        _known(fid);
        return (_rounds[fid][round], _survivors[fid][round], _updateRoots[fid][round]);
    }

    function _known(bytes32 fid) internal view returns (Federation storage f) {
        f = _federations[fid];
        if (f.owner == address(0)) revert UnknownFederation(fid);
    }
}
