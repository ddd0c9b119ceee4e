// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Intelligent NFTs (ERC-7857 style): tokens that own sealed data.
/// @notice Each token lists its data by 0G root (`dataHash`). Data is sealed to a key the
/// key broker derives for this chain, this contract and this token id, so it must be
/// sealed after the token exists: mint (with no data), seal to the token's key, then
/// `setData` as its owner. Sealing first, to a guessed next id, would let anyone who
/// saw the root mint that id first. The owner may authorize
/// users to have inference run over the data without ever seeing it; Veil's key broker
/// releases a data key only when `isAuthorized(tokenId, user)` holds. Ownership moves
/// only with a re-encryption proof from a registered TEE oracle, because the new owner
/// cannot use data still sealed to the old one; every move clears the authorizations.
contract INFT is ERC721, EIP712, Ownable {
    /// One piece of a token's private data.
    struct IntelligentData {
        string dataDescription;
        bytes32 dataHash;
    }

    /// What an oracle signs for a transfer (EIP-712 `TransferProof`).
    struct TransferProof {
        uint256 tokenId;
        address from;
        address to;
        bytes32 oldDataRoot;
        bytes32 newDataRoot;
        bytes32 sealedKeyHash;
        uint256 deadline;
        bytes32 nonce;
    }

    /// At most this many users may be authorized per token (bounds `authorizedUsersOf`).
    uint256 public constant MAX_AUTHORIZED_USERS = 64;

    /// EIP-712 type of an oracle's re-encryption proof.
    bytes32 public constant TRANSFER_PROOF_TYPEHASH = keccak256(
        "TransferProof(uint256 tokenId,address from,address to,bytes32 oldDataRoot,bytes32 newDataRoot,bytes32 sealedKeyHash,uint256 deadline,bytes32 nonce)"
    );

    error NotTokenOwner(uint256 tokenId, address caller);
    error EmptyData();
    error ZeroAddress();
    error AlreadyAuthorized(uint256 tokenId, address user);
    error NotAuthorized(uint256 tokenId, address user);
    error TooManyAuthorizedUsers(uint256 tokenId);
    error TransferRequiresProof();
    error ProofExpired(uint256 deadline, uint256 nowTimestamp);
    error NonceUsed(bytes32 nonce);
    error UnknownOracle(address signer);

    event Minted(uint256 indexed tokenId, address indexed owner, bytes32[] dataHashes);
    event DataSet(uint256 indexed tokenId, bytes32[] dataHashes);
    event Authorization(address indexed from, address indexed to, uint256 indexed tokenId);
    event AuthorizationRevoked(address indexed from, address indexed to, uint256 indexed tokenId);
    event AuthorizationsCleared(uint256 indexed tokenId);
    event Transferred(uint256 indexed tokenId, address indexed from, address indexed to, bytes32 newDataRoot);
    event OracleSet(address indexed oracle, bool enabled);

    uint256 public nextTokenId = 1;
    mapping(address => bool) public oracles;
    /// Spent proof nonces. Never deleted, so a proof can never be replayed.
    mapping(bytes32 => bool) public usedNonces;

    mapping(uint256 => IntelligentData[]) private _data;
    mapping(uint256 => address[]) private _authorized;
    /// Authorizations live in an epoch; clearing them is starting a new one.
    mapping(uint256 => uint256) private _epoch;
    mapping(uint256 => mapping(uint256 => mapping(address => bool))) private _usageGranted;
    bool private _proofTransfer;

    constructor(address admin) ERC721("Veil Intelligent NFT", "VINFT") EIP712("VeilINFT", "1") Ownable(admin) {}

    /// Register or remove a TEE oracle key whose re-encryption proofs are accepted.
    function setOracle(address oracle, bool enabled) external onlyOwner {
        if (oracle == address(0)) revert ZeroAddress();
        oracles[oracle] = enabled;
        emit OracleSet(oracle, enabled);
    }

    /// Mint a token to `to`, owning `data` (usually none yet: see `setData`).
    function mint(address to, IntelligentData[] calldata data) external returns (uint256 tokenId) {
        if (to == address(0)) revert ZeroAddress();
        tokenId = nextTokenId++;
        bytes32[] memory hashes = new bytes32[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            _data[tokenId].push(data[i]);
            hashes[i] = data[i].dataHash;
        }
        _safeMint(to, tokenId);
        emit Minted(tokenId, to, hashes);
    }

    /// Replace the token's data (its owner only), e.g. with data sealed to its key.
    function setData(uint256 tokenId, IntelligentData[] calldata data) external {
        _onlyTokenOwner(tokenId);
        if (data.length == 0) revert EmptyData();
        delete _data[tokenId];
        _appendData(tokenId, data);
        bytes32[] memory hashes = new bytes32[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            hashes[i] = data[i].dataHash;
        }
        emit DataSet(tokenId, hashes);
    }

    /// The token's data entries.
    function intelligentDataOf(uint256 tokenId) external view returns (IntelligentData[] memory) {
        _requireOwned(tokenId);
        return _data[tokenId];
    }

    /// The root over all of a token's data hashes (what transfer proofs commit to).
    function dataRootOf(uint256 tokenId) public view returns (bytes32) {
        _requireOwned(tokenId);
        return _root(_data[tokenId]);
    }

    /// Let `user` have inference run over the token's data.
    function authorizeUsage(uint256 tokenId, address user) external {
        _onlyTokenOwner(tokenId);
        if (user == address(0)) revert ZeroAddress();
        uint256 epoch = _epoch[tokenId];
        if (_usageGranted[tokenId][epoch][user]) revert AlreadyAuthorized(tokenId, user);
        if (_authorized[tokenId].length >= MAX_AUTHORIZED_USERS) revert TooManyAuthorizedUsers(tokenId);
        _usageGranted[tokenId][epoch][user] = true;
        _authorized[tokenId].push(user);
        emit Authorization(msg.sender, user, tokenId);
    }

    /// Withdraw `user`'s authorization.
    function revokeAuthorization(uint256 tokenId, address user) external {
        _onlyTokenOwner(tokenId);
        uint256 epoch = _epoch[tokenId];
        if (!_usageGranted[tokenId][epoch][user]) revert NotAuthorized(tokenId, user);
        _usageGranted[tokenId][epoch][user] = false;
        address[] storage users = _authorized[tokenId];
        for (uint256 i = 0; i < users.length; i++) {
            if (users[i] == user) {
                users[i] = users[users.length - 1];
                users.pop();
                break;
            }
        }
        emit AuthorizationRevoked(msg.sender, user, tokenId);
    }

    /// The users currently authorized (the owner is implicitly authorized).
    function authorizedUsersOf(uint256 tokenId) external view returns (address[] memory) {
        _requireOwned(tokenId);
        return _authorized[tokenId];
    }

    /// May `user` use the token? True for its owner and authorized users; false for
    /// anyone else and for tokens that do not exist.
    function isAuthorized(uint256 tokenId, address user) external view returns (bool) {
        address owner = _ownerOf(tokenId);
        if (owner == address(0) || user == address(0)) return false;
        return owner == user || _usageGranted[tokenId][_epoch[tokenId]][user];
    }

    /// Move the token to `to` with its data re-encrypted by a registered oracle, which
    /// signed (EIP-712, this chain and contract) the old and new data roots and the key
    /// sealed for `to`.
    function transferWithProof(
        address to,
        uint256 tokenId,
        IntelligentData[] calldata newData,
        bytes calldata sealedKey,
        uint256 deadline,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        address from = _onlyTokenOwner(tokenId);
        if (to == address(0)) revert ZeroAddress();
        if (newData.length == 0) revert EmptyData();
        if (block.timestamp > deadline) revert ProofExpired(deadline, block.timestamp);
        if (usedNonces[nonce]) revert NonceUsed(nonce);
        _checkOracle(_proof(tokenId, from, to, newData, sealedKey, deadline, nonce), signature);
        usedNonces[nonce] = true;
        delete _data[tokenId];
        _appendData(tokenId, newData);
        _proofTransfer = true;
        _transfer(from, to, tokenId);
        _proofTransfer = false;
        emit Transferred(tokenId, from, to, _root(_data[tokenId]));
    }

    /// The EIP-712 domain separator (chain id and this contract's address).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// Every ownership change clears authorizations; only mints and proof transfers
    /// may change ownership at all.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        address from = _ownerOf(tokenId);
        if (from != address(0) && !_proofTransfer) revert TransferRequiresProof();
        if (from != address(0)) {
            _epoch[tokenId] += 1;
            delete _authorized[tokenId];
            emit AuthorizationsCleared(tokenId);
        }
        return super._update(to, tokenId, auth);
    }

    function _proof(
        uint256 tokenId,
        address from,
        address to,
        IntelligentData[] calldata newData,
        bytes calldata sealedKey,
        uint256 deadline,
        bytes32 nonce
    ) private view returns (TransferProof memory p) {
        p.tokenId = tokenId;
        p.from = from;
        p.to = to;
        p.oldDataRoot = _root(_data[tokenId]);
        p.newDataRoot = _rootCalldata(newData);
        p.sealedKeyHash = keccak256(sealedKey);
        p.deadline = deadline;
        p.nonce = nonce;
    }

    function _checkOracle(TransferProof memory p, bytes calldata signature) private view {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(TRANSFER_PROOF_TYPEHASH, p)));
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || !oracles[signer]) revert UnknownOracle(signer);
    }

    function _appendData(uint256 tokenId, IntelligentData[] calldata data) private {
        for (uint256 i = 0; i < data.length; i++) {
            _data[tokenId].push(data[i]);
        }
    }

    function _onlyTokenOwner(uint256 tokenId) private view returns (address owner) {
        owner = _requireOwned(tokenId);
        if (owner != msg.sender) revert NotTokenOwner(tokenId, msg.sender);
    }

    function _root(IntelligentData[] storage data) private view returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            hashes[i] = data[i].dataHash;
        }
        return keccak256(abi.encodePacked(hashes));
    }

    function _rootCalldata(IntelligentData[] calldata data) private pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            hashes[i] = data[i].dataHash;
        }
        return keccak256(abi.encodePacked(hashes));
    }
}
