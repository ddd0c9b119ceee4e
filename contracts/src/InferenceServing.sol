// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

interface ILedger {
    function spendFund(address user, uint256 amount) external;
}

/// @title Pay-per-request inference services with enclave-signed settlement, with the ABI of 0G's InferenceServing.
/// @notice A provider lists a service (URL, model, prices per input and output token)
/// naming its TEE signer: the secp256k1 key of the attested enclave that signs its
/// answers and its settlements. The owner acknowledges that signer only after checking
/// its attestation (Veil's `veil market` does; 0G's owner flag is bare), and a changed
/// signer is unacknowledged again. Users fund a sub-account per provider from their
/// `LedgerManager` ledger and acknowledge the signer themselves before they are served.
/// The provider is paid by `settleFeesWithTEE`: batches of (user, fee, hash of the
/// request ids, nonce) signed by the service's signer under EIP-712 (this chain and
/// contract), each nonce above the account's last, so a settlement is paid once; a fee
/// above the balance is paid in part and reported. Refunds wait `lockTime`, so whatever
/// was served before a refund request can still be settled.
/// Names and field orders are 0G's (the 0G compute SDK decodes them by position); the
/// code is Veil's own.
contract InferenceServing is Ownable, ReentrancyGuard, EIP712 {
    struct Refund {
        uint256 index;
        uint256 amount;
        uint256 createdAt;
        bool processed;
    }

    struct Account {
        address user;
        address provider;
        uint256 nonce;
        uint256 balance;
        uint256 pendingRefund;
        Refund[] refunds;
        string additionalInfo;
        bool acknowledged;
        uint256 validRefundsLength;
        uint256 generation;
        uint256 revokedBitmap;
    }

    struct Service {
        address provider;
        string serviceType;
        string url;
        uint256 inputPrice;
        uint256 outputPrice;
        uint256 updatedAt;
        string model;
        string verifiability;
        string additionalInfo;
        address teeSignerAddress;
        bool teeSignerAcknowledged;
    }

    struct ServiceParams {
        string serviceType;
        string url;
        string model;
        string verifiability;
        uint256 inputPrice;
        uint256 outputPrice;
        string additionalInfo;
        address teeSignerAddress;
    }

    struct TEESettlementData {
        address user;
        address provider;
        uint256 totalFee;
        bytes32 requestsHash;
        uint256 nonce;
        bytes signature;
    }

    /// Per-settlement outcomes (`statuses`, `TEESettlementResult`).
    uint8 public constant SETTLED = 0;
    uint8 public constant PARTIAL = 1;
    uint8 public constant PROVIDER_MISMATCH = 2;
    uint8 public constant NO_TEE_SIGNER = 3;
    uint8 public constant INVALID_NONCE = 4;
    uint8 public constant INVALID_SIGNATURE = 5;
    uint8 public constant NO_ACCOUNT = 6;
    uint8 public constant NOT_ACKNOWLEDGED = 7;

    bytes32 public constant SETTLEMENT_TYPEHASH =
        keccak256("TEESettlement(address user,address provider,uint256 totalFee,bytes32 requestsHash,uint256 nonce)");
    uint256 public constant MIN_LOCKTIME = 60;
    uint256 public constant MAX_LOCKTIME = 30 days;
    uint256 public constant MIN_PROVIDER_STAKE = 1 ether;
    uint256 public constant MAX_SETTLEMENTS = 100;
    uint256 public constant MAX_REFUNDS = 30;
    uint256 public constant MAX_LIMIT = 100;
    uint256 public constant MAX_INFO_LENGTH = 4096;
    uint8 public constant EPHEMERAL_TOKEN_ID = 255;

    address public immutable ledgerAddress;
    uint256 public lockTime;

    mapping(bytes32 => Account) private accounts;
    bytes32[] private accountKeys;
    mapping(address => bytes32[]) private byProvider;
    mapping(address => bytes32[]) private byUser;
    mapping(address => Service) private services;
    mapping(address => bool) private listed;
    mapping(address => uint256) private stakes;
    address[] private providers;
    /// Per provider: settlements whose enclave signature verified, and those refused
    /// for a bad signature (Veil's, beyond 0G's ABI: a service's record of proofs).
    mapping(address => uint256) private verifiedProofs;
    mapping(address => uint256) private failedProofs;
    /// The signer each account's user acknowledged: a changed signer is unacknowledged
    /// by its users until each acknowledges it again (Veil's; 0G's flag outlives it).
    mapping(bytes32 => address) private ackedSigner;

    event AccountDeleted(address indexed user, address indexed provider, uint256 refundedAmount);
    event AllTokensRevoked(address indexed user, address indexed provider, uint256 newGeneration);
    event BalanceUpdated(address indexed user, address indexed provider, uint256 amount, uint256 pendingRefund);
    event LockTimeUpdated(uint256 oldLockTime, uint256 newLockTime);
    event ProviderStakeReturned(address indexed provider, uint256 amount);
    event ProviderStaked(address indexed provider, uint256 amount);
    event ProviderTEESignerAcknowledged(address indexed provider, address indexed teeSignerAddress, bool acknowledged);
    event RefundRequested(address indexed user, address indexed provider, uint256 indexed index, uint256 timestamp);
    event ServiceRemoved(address indexed service);
    event ServiceUpdated(
        address indexed service,
        string serviceType,
        string url,
        uint256 inputPrice,
        uint256 outputPrice,
        uint256 updatedAt,
        string model,
        string verifiability
    );
    event TEESettlementResult(address indexed user, uint8 status, uint256 unsettledAmount);
    /// What a paid settlement charged, and for which requests (Veil's, beyond 0G's ABI):
    /// a user shown the request ids recomputes `requestsHash` and disputes a charge
    /// the receipts do not support.
    event FeesSettled(
        address indexed user,
        address indexed provider,
        uint256 indexed nonce,
        uint256 totalFee,
        uint256 charged,
        bytes32 requestsHash
    );
    event TokenRevoked(address indexed user, address indexed provider, uint8 tokenId);
    event TokensRevoked(address indexed user, address indexed provider, uint8[] tokenIds);

    error AccountExists(address user, address provider);
    error AccountNotExists(address user, address provider);
    error AdditionalInfoTooLong();
    error BatchSizeTooLarge(uint256 size, uint256 max);
    error CallerNotLedger(address caller);
    error CannotAddStakeWhenUpdating();
    error CannotRevokeWithNonZeroBalance(address user, address provider, uint256 balance);
    error DirectDepositsDisabled();
    error InsufficientStake(uint256 provided, uint256 required);
    error InvalidAddress(address addr);
    error InvalidTEESignature(string reason);
    error LimitTooLarge(uint256 limit, uint256 max);
    error LockTimeOutOfRange(uint256 lockTime, uint256 min, uint256 max);
    error NoSettlementsProvided();
    error ProviderCannotBeUser();
    error ServiceNotExist(address provider);
    error TooManyRefunds(address user, address provider);
    error TooManySettlements(uint256 count, uint256 max);
    error TransferFailed();

    constructor(uint256 lockTime_, address ledger_, address owner_)
        Ownable(owner_)
        EIP712("VeilInferenceServing", "1")
    {
        if (lockTime_ < MIN_LOCKTIME || lockTime_ > MAX_LOCKTIME) {
            revert LockTimeOutOfRange(lockTime_, MIN_LOCKTIME, MAX_LOCKTIME);
        }
        if (ledger_ == address(0)) revert InvalidAddress(ledger_);
        lockTime = lockTime_;
        ledgerAddress = ledger_;
    }

    receive() external payable {
        revert DirectDepositsDisabled();
    }

    modifier onlyLedger() {
        if (msg.sender != ledgerAddress) revert CallerNotLedger(msg.sender);
        _;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7;
    }

    function updateLockTime(uint256 lockTime_) external onlyOwner {
        if (lockTime_ < MIN_LOCKTIME || lockTime_ > MAX_LOCKTIME) {
            revert LockTimeOutOfRange(lockTime_, MIN_LOCKTIME, MAX_LOCKTIME);
        }
        emit LockTimeUpdated(lockTime, lockTime_);
        lockTime = lockTime_;
    }

    // --- services ---

    /// List or update the caller's service. The first listing stakes
    /// `MIN_PROVIDER_STAKE`; a new signer must be acknowledged again.
    function addOrUpdateService(ServiceParams calldata params) external payable {
        if (bytes(params.additionalInfo).length > MAX_INFO_LENGTH) revert AdditionalInfoTooLong();
        Service storage s = services[msg.sender];
        if (!listed[msg.sender]) {
            if (msg.value < MIN_PROVIDER_STAKE) revert InsufficientStake(msg.value, MIN_PROVIDER_STAKE);
            listed[msg.sender] = true;
            stakes[msg.sender] = msg.value;
            providers.push(msg.sender);
            emit ProviderStaked(msg.sender, msg.value);
        } else if (msg.value != 0) {
            revert CannotAddStakeWhenUpdating();
        }
        if (s.teeSignerAddress != params.teeSignerAddress) {
            s.teeSignerAcknowledged = false;
        }
        s.provider = msg.sender;
        s.serviceType = params.serviceType;
        s.url = params.url;
        s.model = params.model;
        s.verifiability = params.verifiability;
        s.inputPrice = params.inputPrice;
        s.outputPrice = params.outputPrice;
        s.additionalInfo = params.additionalInfo;
        s.teeSignerAddress = params.teeSignerAddress;
        s.updatedAt = block.timestamp;
        emit ServiceUpdated(
            msg.sender,
            params.serviceType,
            params.url,
            params.inputPrice,
            params.outputPrice,
            block.timestamp,
            params.model,
            params.verifiability
        );
    }

    function removeService() external nonReentrant {
        if (!listed[msg.sender]) revert ServiceNotExist(msg.sender);
        delete services[msg.sender];
        listed[msg.sender] = false;
        for (uint256 i = 0; i < providers.length; i++) {
            if (providers[i] == msg.sender) {
                providers[i] = providers[providers.length - 1];
                providers.pop();
                break;
            }
        }
        uint256 stake = stakes[msg.sender];
        stakes[msg.sender] = 0;
        emit ServiceRemoved(msg.sender);
        if (stake > 0) {
            (bool ok,) = payable(msg.sender).call{value: stake}("");
            if (!ok) revert TransferFailed();
            emit ProviderStakeReturned(msg.sender, stake);
        }
    }

    function serviceExists(address provider) public view returns (bool) {
        return listed[provider];
    }

    function getService(address provider) public view returns (Service memory service) {
        if (!listed[provider]) revert ServiceNotExist(provider);
        return services[provider];
    }

    /// Settlements of `provider` whose enclave signature verified, and those refused
    /// for a bad one.
    function getServiceProofs(address provider) external view returns (uint256 verified, uint256 failed) {
        return (verifiedProofs[provider], failedProofs[provider]);
    }

    function getAllServices(uint256 offset, uint256 limit)
        external
        view
        returns (Service[] memory services_, uint256 total)
    {
        if (limit > MAX_LIMIT) revert LimitTooLarge(limit, MAX_LIMIT);
        total = providers.length;
        (uint256 from, uint256 n) = _page(offset, limit, total);
        services_ = new Service[](n);
        for (uint256 i = 0; i < n; i++) {
            services_[i] = services[providers[from + i]];
        }
    }

    /// The owner vouches for `provider`'s signer (after verifying its attestation).
    function acknowledgeTEESignerByOwner(address provider) external onlyOwner {
        Service storage s = services[provider];
        if (!listed[provider]) revert ServiceNotExist(provider);
        if (s.teeSignerAddress == address(0)) revert InvalidAddress(address(0));
        s.teeSignerAcknowledged = true;
        emit ProviderTEESignerAcknowledged(provider, s.teeSignerAddress, true);
    }

    function revokeTEESignerAcknowledgement(address provider) external onlyOwner {
        Service storage s = services[provider];
        if (!listed[provider]) revert ServiceNotExist(provider);
        s.teeSignerAcknowledged = false;
        emit ProviderTEESignerAcknowledged(provider, s.teeSignerAddress, false);
    }

    // --- accounts ---

    function accountExists(address user, address provider) public view returns (bool) {
        return accounts[_key(user, provider)].user != address(0);
    }

    function getAccount(address user, address provider) external view returns (Account memory a) {
        _account(user, provider);
        return _view(_key(user, provider));
    }

    function getPendingRefund(address user, address provider) external view returns (uint256) {
        return _account(user, provider).pendingRefund;
    }

    function getAllAccounts(uint256 offset, uint256 limit)
        external
        view
        returns (Account[] memory accounts_, uint256 total)
    {
        return _accountsPage(accountKeys, offset, limit);
    }

    function getAccountsByProvider(address provider, uint256 offset, uint256 limit)
        external
        view
        returns (Account[] memory accounts_, uint256 total)
    {
        return _accountsPage(byProvider[provider], offset, limit);
    }

    function getAccountsByUser(address user, uint256 offset, uint256 limit)
        external
        view
        returns (Account[] memory accounts_, uint256 total)
    {
        return _accountsPage(byUser[user], offset, limit);
    }

    function getBatchAccountsByUsers(address[] calldata users) external view returns (Account[] memory accounts_) {
        if (users.length > MAX_LIMIT) revert BatchSizeTooLarge(users.length, MAX_LIMIT);
        accounts_ = new Account[](users.length);
        for (uint256 i = 0; i < users.length; i++) {
            accounts_[i] = _view(_key(users[i], msg.sender));
        }
    }

    /// The user's own acknowledgement of `provider`'s signer; withdrawing it needs an
    /// empty account, so a signer cannot be disowned while it may still settle.
    function acknowledgeTEESigner(address provider, bool acknowledged) external {
        Account storage a = _account(msg.sender, provider);
        if (!acknowledged && a.balance != 0) {
            revert CannotRevokeWithNonZeroBalance(msg.sender, provider, a.balance);
        }
        a.acknowledged = acknowledged;
        ackedSigner[_key(msg.sender, provider)] = acknowledged ? services[provider].teeSignerAddress : address(0);
    }

    function addAccount(address user, address provider, string calldata additionalInfo)
        external
        payable
        onlyLedger
    {
        if (user == provider) revert ProviderCannotBeUser();
        if (bytes(additionalInfo).length > MAX_INFO_LENGTH) revert AdditionalInfoTooLong();
        bytes32 k = _key(user, provider);
        if (accounts[k].user != address(0)) revert AccountExists(user, provider);
        Account storage a = accounts[k];
        a.user = user;
        a.provider = provider;
        a.balance = msg.value;
        a.additionalInfo = additionalInfo;
        accountKeys.push(k);
        byProvider[provider].push(k);
        byUser[user].push(k);
        emit BalanceUpdated(user, provider, a.balance, 0);
    }

    /// Add to a sub-account; up to `cancelRetrievingAmount` of pending refunds are
    /// cancelled (newest first), so topping up also stops a withdrawal in progress.
    function depositFund(address user, address provider, uint256 cancelRetrievingAmount)
        external
        payable
        onlyLedger
    {
        Account storage a = _account(user, provider);
        a.balance += msg.value;
        uint256 cancel = cancelRetrievingAmount < a.pendingRefund ? cancelRetrievingAmount : a.pendingRefund;
        if (cancel > 0) _shrinkRefunds(a, a.pendingRefund - cancel);
        emit BalanceUpdated(user, provider, a.balance, a.pendingRefund);
    }

    function requestRefundAll(address user, address provider) external onlyLedger {
        Account storage a = _account(user, provider);
        uint256 amount = a.balance - a.pendingRefund;
        if (amount == 0) return;
        if (a.validRefundsLength >= MAX_REFUNDS) revert TooManyRefunds(user, provider);
        uint256 index = a.refunds.length;
        a.refunds.push(Refund(index, amount, block.timestamp, false));
        a.pendingRefund += amount;
        a.validRefundsLength += 1;
        emit RefundRequested(user, provider, index, block.timestamp);
    }

    /// Pay the refunds that have waited `lockTime` back to the ledger.
    function processRefund(address user, address provider)
        external
        onlyLedger
        nonReentrant
        returns (uint256 totalAmount, uint256 balance, uint256 pendingRefund)
    {
        Account storage a = _account(user, provider);
        for (uint256 i = 0; i < a.refunds.length; i++) {
            Refund storage r = a.refunds[i];
            if (r.processed || r.amount == 0 || block.timestamp < r.createdAt + lockTime) continue;
            r.processed = true;
            totalAmount += r.amount;
            a.validRefundsLength -= 1;
        }
        if (a.validRefundsLength == 0) delete a.refunds;
        a.balance -= totalAmount;
        a.pendingRefund -= totalAmount;
        if (totalAmount > 0) {
            (bool ok,) = payable(ledgerAddress).call{value: totalAmount}("");
            if (!ok) revert TransferFailed();
        }
        emit BalanceUpdated(user, provider, a.balance, a.pendingRefund);
        return (totalAmount, a.balance, a.pendingRefund);
    }

    // --- API-key revocation (the SDK's session tokens name a generation and an id) ---

    function revokeToken(address provider, uint8 tokenId) external {
        Account storage a = _account(msg.sender, provider);
        a.revokedBitmap |= uint256(1) << tokenId;
        emit TokenRevoked(msg.sender, provider, tokenId);
    }

    function revokeTokens(address provider, uint8[] calldata tokenIds) external {
        Account storage a = _account(msg.sender, provider);
        for (uint256 i = 0; i < tokenIds.length; i++) {
            a.revokedBitmap |= uint256(1) << tokenIds[i];
        }
        emit TokensRevoked(msg.sender, provider, tokenIds);
    }

    function revokeAllTokens(address provider) external {
        Account storage a = _account(msg.sender, provider);
        a.generation += 1;
        a.revokedBitmap = 0;
        emit AllTokensRevoked(msg.sender, provider, a.generation);
    }

    function isTokenRevoked(address user, address provider, uint8 tokenId) external view returns (bool) {
        return (_account(user, provider).revokedBitmap >> tokenId) & 1 == 1;
    }

    // --- settlement ---

    /// The digest the service's TEE signer signs for one settlement.
    function settlementDigest(address user, address provider, uint256 totalFee, bytes32 requestsHash, uint256 nonce)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(SETTLEMENT_TYPEHASH, user, provider, totalFee, requestsHash, nonce))
        );
    }

    /// Pay the caller (a provider) for each signed settlement that checks; the rest are
    /// reported, not reverted, so one bad entry does not block a batch.
    function settleFeesWithTEE(TEESettlementData[] calldata settlements)
        external
        nonReentrant
        returns (uint8[] memory statuses)
    {
        if (settlements.length == 0) revert NoSettlementsProvided();
        if (settlements.length > MAX_SETTLEMENTS) revert TooManySettlements(settlements.length, MAX_SETTLEMENTS);
        statuses = new uint8[](settlements.length);
        uint256 paid = 0;
        // Counted once per batch: only entries sent by their own provider get this far.
        uint256 verified = 0;
        uint256 failed = 0;
        for (uint256 i = 0; i < settlements.length; i++) {
            TEESettlementData calldata s = settlements[i];
            uint8 status = _check(s, msg.sender);
            uint256 unsettled = s.totalFee;
            if (status == SETTLED) {
                Account storage a = accounts[_key(s.user, s.provider)];
                uint256 charge = s.totalFee <= a.balance ? s.totalFee : a.balance;
                if (charge < s.totalFee) status = PARTIAL;
                unsettled = s.totalFee - charge;
                a.nonce = s.nonce;
                a.balance -= charge;
                if (a.pendingRefund > a.balance) _shrinkRefunds(a, a.balance);
                if (charge > 0) ILedger(ledgerAddress).spendFund(s.user, charge);
                paid += charge;
                verified++;
                emit BalanceUpdated(s.user, s.provider, a.balance, a.pendingRefund);
                emit FeesSettled(s.user, s.provider, s.nonce, s.totalFee, charge, s.requestsHash);
            } else if (status == INVALID_SIGNATURE) {
                failed++;
            }
            statuses[i] = status;
            emit TEESettlementResult(s.user, status, unsettled);
        }
        if (verified > 0) verifiedProofs[msg.sender] += verified;
        if (failed > 0) failedProofs[msg.sender] += failed;
        if (paid > 0) {
            (bool ok,) = payable(msg.sender).call{value: paid}("");
            if (!ok) revert TransferFailed();
        }
    }

    /// What `settleFeesWithTEE` would do, without doing it.
    function previewSettlementResults(TEESettlementData[] calldata settlements)
        external
        view
        returns (
            address[] memory failedUsers,
            uint8[] memory failureReasons,
            address[] memory partialUsers,
            uint256[] memory partialAmounts
        )
    {
        uint256 failed = 0;
        uint256 partials = 0;
        uint8[] memory st = new uint8[](settlements.length);
        for (uint256 i = 0; i < settlements.length; i++) {
            st[i] = _check(settlements[i], msg.sender);
            if (st[i] != SETTLED) failed++;
            else if (accounts[_key(settlements[i].user, settlements[i].provider)].balance < settlements[i].totalFee) {
                partials++;
            }
        }
        failedUsers = new address[](failed);
        failureReasons = new uint8[](failed);
        partialUsers = new address[](partials);
        partialAmounts = new uint256[](partials);
        (failed, partials) = (0, 0);
        for (uint256 i = 0; i < settlements.length; i++) {
            TEESettlementData calldata s = settlements[i];
            if (st[i] != SETTLED) {
                (failedUsers[failed], failureReasons[failed]) = (s.user, st[i]);
                failed++;
                continue;
            }
            uint256 balance = accounts[_key(s.user, s.provider)].balance;
            if (balance < s.totalFee) {
                (partialUsers[partials], partialAmounts[partials]) = (s.user, s.totalFee - balance);
                partials++;
            }
        }
    }

    // --- internals ---

    function _check(TEESettlementData calldata s, address caller) private view returns (uint8) {
        if (s.provider != caller) return PROVIDER_MISMATCH;
        Service storage svc = services[s.provider];
        if (!listed[s.provider] || svc.teeSignerAddress == address(0)) return NO_TEE_SIGNER;
        Account storage a = accounts[_key(s.user, s.provider)];
        if (a.user == address(0)) return NO_ACCOUNT;
        if (!_acknowledged(_key(s.user, s.provider), s.provider) || !svc.teeSignerAcknowledged) return NOT_ACKNOWLEDGED;
        if (s.nonce <= a.nonce) return INVALID_NONCE;
        bytes32 digest = settlementDigest(s.user, s.provider, s.totalFee, s.requestsHash, s.nonce);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, s.signature);
        if (err != ECDSA.RecoverError.NoError || signer != svc.teeSignerAddress) return INVALID_SIGNATURE;
        return SETTLED;
    }

    /// Cut pending refunds (newest first) until they total `target`.
    function _shrinkRefunds(Account storage a, uint256 target) private {
        for (uint256 i = a.refunds.length; i > 0 && a.pendingRefund > target; i--) {
            Refund storage r = a.refunds[i - 1];
            if (r.processed || r.amount == 0) continue;
            uint256 cut = a.pendingRefund - target < r.amount ? a.pendingRefund - target : r.amount;
            r.amount -= cut;
            a.pendingRefund -= cut;
            if (r.amount == 0) {
                r.processed = true;
                a.validRefundsLength -= 1;
            }
        }
    }

    function _key(address user, address provider) private pure returns (bytes32) {
        return keccak256(abi.encode(user, provider));
    }

    /// An account as readers see it: acknowledged only while the signer it vouched
    /// for is the service's.
    function _view(bytes32 k) private view returns (Account memory a) {
        a = accounts[k];
        a.acknowledged = _acknowledged(k, a.provider);
    }

    function _acknowledged(bytes32 k, address provider) private view returns (bool) {
        address signer = services[provider].teeSignerAddress;
        return accounts[k].acknowledged && signer != address(0) && ackedSigner[k] == signer;
    }

    function _account(address user, address provider) private view returns (Account storage a) {
        a = accounts[_key(user, provider)];
        if (a.user == address(0)) revert AccountNotExists(user, provider);
    }

    function _page(uint256 offset, uint256 limit, uint256 total) private pure returns (uint256 from, uint256 n) {
        if (offset >= total) return (total, 0);
        uint256 end = offset + limit > total ? total : offset + limit;
        return (offset, end - offset);
    }

    function _accountsPage(bytes32[] storage keys, uint256 offset, uint256 limit)
        private
        view
        returns (Account[] memory out, uint256 total)
    {
        if (limit > MAX_LIMIT) revert LimitTooLarge(limit, MAX_LIMIT);
        total = keys.length;
        (uint256 from, uint256 n) = _page(offset, limit, total);
        out = new Account[](n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = _view(keys[from + i]);
        }
    }
}
