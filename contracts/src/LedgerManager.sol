// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice What a serving contract (InferenceServing) offers the ledger: per-provider
/// sub-accounts funded from a user's ledger, refunded to it after a lock time.
interface IServing {
    function addAccount(address user, address provider, string calldata additionalInfo) external payable;
    function depositFund(address user, address provider, uint256 cancelRetrievingAmount) external payable;
    function accountExists(address user, address provider) external view returns (bool);
    function requestRefundAll(address user, address provider) external;
    function processRefund(address user, address provider)
        external
        returns (uint256 totalAmount, uint256 balance, uint256 pendingRefund);
}

/// @title A user's prepaid balance for pay-per-request serving, with the ABI of 0G's LedgerManager.
/// @notice Users fund one ledger here and move funds into a sub-account per provider on a
/// registered serving contract (`transferFund`); providers are paid from those
/// sub-accounts by enclave-signed settlements, which spend from the ledger's total
/// (`spendFund`, callable only by a registered service). Funds come back from a provider
/// in two phases (`retrieveFund` requests, and once the serving contract's lock time has
/// passed, collects), so a provider always has a window to settle what it served.
/// Function names, argument and struct field orders are 0G's (the 0G compute SDK decodes
/// them by position); the code is Veil's own.
contract LedgerManager is Ownable, ReentrancyGuard {
    struct Ledger {
        address user;
        uint256 availableBalance;
        uint256 totalBalance;
        string additionalInfo;
    }

    struct ServiceInfo {
        address serviceAddress;
        address serviceContract;
        string serviceType;
        string version;
        string fullName;
        string description;
        bool isRecommended;
        uint256 registeredAt;
    }

    /// The least a new ledger holds (the SDK's 3 0G).
    uint256 public constant MIN_ACCOUNT_BALANCE = 3 ether;
    /// The least that opens a provider sub-account (the SDK's 1 0G).
    uint256 public constant MIN_TRANSFER_AMOUNT = 1 ether;
    uint256 public constant MAX_ADDITIONAL_INFO_LENGTH = 4096;
    uint256 public constant MAX_PROVIDERS_PER_BATCH = 20;
    uint256 public constant MAX_PROVIDERS_PER_USER_PER_SERVICE = 50;
    uint256 public constant MAX_SERVICES = 20;

    mapping(address => Ledger) private ledgers;
    mapping(address => bool) private hasLedger;
    address[] private users;
    mapping(address => mapping(address => address[])) private providersOf; // user => service => providers
    mapping(address => ServiceInfo) private services;
    mapping(bytes32 => address) private serviceByName;
    address[] private serviceList;

    event LedgerInfoUpdated(address indexed user, string additionalInfo);
    event ServiceRegistered(address indexed serviceAddress, string serviceName);
    event FundSpent(address indexed user, address indexed service, uint256 amount);

    error AdditionalInfoTooLong(uint256 length, uint256 max);
    error CallerNotRegisteredService(address caller);
    error DirectDepositsDisabled();
    error InsufficientAvailableBalance(uint256 available, uint256 required);
    error InsufficientBalance(address user);
    error InvalidServiceAddress(address serviceAddress);
    error LedgerExists(address user);
    error LedgerNotExists(address user);
    error MinimumDepositRequired(uint256 provided, uint256 required);
    error MustWithdrawAllFundsFirst(uint256 remainingBalance);
    error ServiceAlreadyRegistered(address serviceAddress);
    error ServiceNameExists(string serviceName);
    error ServiceNotFound(address serviceAddress);
    error ServiceNotRegistered(address serviceAddress);
    error ServiceRegistryLimitReached(uint256 limit);
    error ServiceTypeRequired();
    error TooManyProviders(uint256 requested, uint256 maximum);
    error TooManyProvidersForService(uint256 current, uint256 maximum);
    error TransferFailed();
    error VersionRequired();
    error ZeroAddressNotAllowed();
    error ZeroAmountNotAllowed();

    constructor(address owner_) Ownable(owner_) {}

    /// Only registered serving contracts send value here (matured refunds).
    receive() external payable {
        if (services[msg.sender].serviceAddress == address(0)) revert DirectDepositsDisabled();
    }

    modifier onlyService() {
        if (services[msg.sender].serviceAddress == address(0)) revert CallerNotRegisteredService(msg.sender);
        _;
    }

    // --- services ---

    /// Register a serving contract as `<serviceType>-<version>` (e.g. inference-v1.0).
    function registerService(
        string calldata serviceType,
        string calldata version,
        address serviceAddress,
        string calldata description
    ) external onlyOwner {
        if (serviceAddress == address(0) || serviceAddress.code.length == 0) {
            revert InvalidServiceAddress(serviceAddress);
        }
        if (bytes(serviceType).length == 0) revert ServiceTypeRequired();
        if (bytes(version).length == 0) revert VersionRequired();
        if (services[serviceAddress].serviceAddress != address(0)) revert ServiceAlreadyRegistered(serviceAddress);
        if (serviceList.length >= MAX_SERVICES) revert ServiceRegistryLimitReached(MAX_SERVICES);
        string memory fullName = string.concat(serviceType, "-", version);
        bytes32 key = keccak256(bytes(fullName));
        if (serviceByName[key] != address(0)) revert ServiceNameExists(fullName);
        services[serviceAddress] = ServiceInfo({
            serviceAddress: serviceAddress,
            serviceContract: serviceAddress,
            serviceType: serviceType,
            version: version,
            fullName: fullName,
            description: description,
            isRecommended: true,
            registeredAt: block.timestamp
        });
        serviceByName[key] = serviceAddress;
        serviceList.push(serviceAddress);
        emit ServiceRegistered(serviceAddress, fullName);
    }

    function getServiceInfo(address serviceAddress) external view returns (ServiceInfo memory) {
        ServiceInfo memory s = services[serviceAddress];
        if (s.serviceAddress == address(0)) revert ServiceNotFound(serviceAddress);
        return s;
    }

    function getServiceAddressByName(string calldata serviceName) public view returns (address) {
        address a = serviceByName[keccak256(bytes(serviceName))];
        if (a == address(0)) revert ServiceNotFound(address(0));
        return a;
    }

    function getAllActiveServices() external view returns (ServiceInfo[] memory out) {
        out = new ServiceInfo[](serviceList.length);
        for (uint256 i = 0; i < serviceList.length; i++) {
            out[i] = services[serviceList[i]];
        }
    }

    // --- ledgers ---

    function addLedger(string calldata additionalInfo) external payable returns (uint256, uint256) {
        _create(msg.sender, msg.value, additionalInfo);
        return (ledgers[msg.sender].availableBalance, ledgers[msg.sender].totalBalance);
    }

    /// Add to the caller's ledger, making it if it does not exist.
    function depositFund() external payable {
        _deposit(msg.sender, msg.value);
    }

    function depositFundFor(address recipient) external payable {
        if (recipient == address(0)) revert ZeroAddressNotAllowed();
        _deposit(recipient, msg.value);
    }

    function getLedger(address user) external view returns (Ledger memory) {
        if (!hasLedger[user]) revert LedgerNotExists(user);
        return ledgers[user];
    }

    function getAllLedgers(uint256 offset, uint256 limit)
        external
        view
        returns (Ledger[] memory out, uint256 total)
    {
        total = users.length;
        if (limit > 100) limit = 100;
        uint256 end = offset + limit > total ? total : offset + limit;
        uint256 n = offset >= end ? 0 : end - offset;
        out = new Ledger[](n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = ledgers[users[offset + i]];
        }
    }

    function getLedgerProviders(address user, string calldata serviceName)
        external
        view
        returns (address[] memory)
    {
        return providersOf[user][getServiceAddressByName(serviceName)];
    }

    function updateAdditionalInfo(string calldata additionalInfo) external {
        if (!hasLedger[msg.sender]) revert LedgerNotExists(msg.sender);
        _checkInfo(additionalInfo);
        ledgers[msg.sender].additionalInfo = additionalInfo;
        emit LedgerInfoUpdated(msg.sender, additionalInfo);
    }

    /// Move `amount` of the caller's available balance into its sub-account with
    /// `provider` on the serving contract `serviceName`, opening it if needed.
    function transferFund(address provider, string calldata serviceName, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmountNotAllowed();
        if (provider == address(0)) revert ZeroAddressNotAllowed();
        Ledger storage l = _ledger(msg.sender);
        if (l.availableBalance < amount) revert InsufficientAvailableBalance(l.availableBalance, amount);
        address service = getServiceAddressByName(serviceName);
        l.availableBalance -= amount;
        IServing serving = IServing(service);
        if (serving.accountExists(msg.sender, provider)) {
            serving.depositFund{value: amount}(msg.sender, provider, amount);
        } else {
            if (amount < MIN_TRANSFER_AMOUNT) revert MinimumDepositRequired(amount, MIN_TRANSFER_AMOUNT);
            address[] storage ps = providersOf[msg.sender][service];
            if (ps.length >= MAX_PROVIDERS_PER_USER_PER_SERVICE) {
                revert TooManyProvidersForService(ps.length, MAX_PROVIDERS_PER_USER_PER_SERVICE);
            }
            ps.push(provider);
            serving.addAccount{value: amount}(msg.sender, provider, "");
        }
    }

    /// Phase one and two of taking funds back from `providers`: collect what matured
    /// (requested at least a lock time ago) into the available balance, then request
    /// the rest.
    function retrieveFund(address[] calldata providers, string calldata serviceName) external nonReentrant {
        if (providers.length > MAX_PROVIDERS_PER_BATCH) {
            revert TooManyProviders(providers.length, MAX_PROVIDERS_PER_BATCH);
        }
        Ledger storage l = _ledger(msg.sender);
        IServing serving = IServing(getServiceAddressByName(serviceName));
        uint256 collected = 0;
        for (uint256 i = 0; i < providers.length; i++) {
            if (!serving.accountExists(msg.sender, providers[i])) continue;
            (uint256 matured,,) = serving.processRefund(msg.sender, providers[i]);
            collected += matured;
            serving.requestRefundAll(msg.sender, providers[i]);
        }
        l.availableBalance += collected;
    }

    /// Withdraw `amount` of the available balance to the caller.
    function refund(uint256 amount) external nonReentrant {
        Ledger storage l = _ledger(msg.sender);
        if (l.availableBalance < amount) revert InsufficientAvailableBalance(l.availableBalance, amount);
        l.availableBalance -= amount;
        l.totalBalance -= amount;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    function deleteLedger() external {
        Ledger storage l = _ledger(msg.sender);
        if (l.totalBalance != 0) revert MustWithdrawAllFundsFirst(l.totalBalance);
        delete ledgers[msg.sender];
        hasLedger[msg.sender] = false;
        for (uint256 i = 0; i < users.length; i++) {
            if (users[i] == msg.sender) {
                users[i] = users[users.length - 1];
                users.pop();
                break;
            }
        }
    }

    /// A settlement paid `amount` of `user`'s sub-account funds to a provider.
    function spendFund(address user, uint256 amount) external onlyService {
        Ledger storage l = _ledger(user);
        if (l.totalBalance < amount) revert InsufficientBalance(user);
        l.totalBalance -= amount;
        emit FundSpent(user, msg.sender, amount);
    }

    // --- internals ---

    function _ledger(address user) private view returns (Ledger storage) {
        if (!hasLedger[user]) revert LedgerNotExists(user);
        return ledgers[user];
    }

    function _create(address user, uint256 value, string memory additionalInfo) private {
        if (hasLedger[user]) revert LedgerExists(user);
        if (value < MIN_ACCOUNT_BALANCE) revert MinimumDepositRequired(value, MIN_ACCOUNT_BALANCE);
        _checkInfo(additionalInfo);
        ledgers[user] = Ledger(user, value, value, additionalInfo);
        hasLedger[user] = true;
        users.push(user);
    }

    function _deposit(address user, uint256 value) private {
        if (value == 0) revert ZeroAmountNotAllowed();
        if (!hasLedger[user]) {
            _create(user, value, "");
            return;
        }
        ledgers[user].availableBalance += value;
        ledgers[user].totalBalance += value;
    }

    function _checkInfo(string memory info) private pure {
        if (bytes(info).length > MAX_ADDITIONAL_INFO_LENGTH) {
            revert AdditionalInfoTooLong(bytes(info).length, MAX_ADDITIONAL_INFO_LENGTH);
        }
    }
}
