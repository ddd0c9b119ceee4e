// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {LedgerManager} from "../src/LedgerManager.sol";
import {InferenceServing} from "../src/InferenceServing.sol";

contract MarketTest is Base {
    LedgerManager internal ledger;
    InferenceServing internal serving;
    address internal admin = address(0xA11CE);
    address internal provider = address(0x9807);
    address internal user = address(0x5E4);
    uint256 internal teeKey = 0x7EE51;
    uint256 internal otherKey = 0x07E4;
    string internal constant NAME = "inference-v1.0";

    function setUp() public {
        vm.warp(1_800_000_000);
        ledger = new LedgerManager(admin);
        serving = new InferenceServing(3600, address(ledger), admin);
        vm.prank(admin);
        ledger.registerService("inference", "v1.0", address(serving), "chat");
        vm.deal(provider, 10 ether);
        vm.deal(user, 100 ether);
        vm.prank(provider);
        serving.addOrUpdateService{value: 1 ether}(params(vm.addr(teeKey)));
        vm.prank(admin);
        serving.acknowledgeTEESignerByOwner(provider);
        vm.startPrank(user);
        ledger.addLedger{value: 5 ether}("");
        ledger.transferFund(provider, NAME, 2 ether);
        serving.acknowledgeTEESigner(provider, true);
        vm.stopPrank();
    }

    function params(address signer) internal pure returns (InferenceServing.ServiceParams memory) {
        return InferenceServing.ServiceParams({
            serviceType: "chatbot",
            url: "http://127.0.0.1:1",
            model: "smollm2",
            verifiability: "TeeML",
            inputPrice: 1e9,
            outputPrice: 2e9,
            additionalInfo: "{}",
            teeSignerAddress: signer
        });
    }

    function settlement(uint256 key, uint256 fee, uint256 nonce)
        internal
        returns (InferenceServing.TEESettlementData[] memory batch)
    {
        bytes32 requests = keccak256("request ids");
        bytes32 digest = serving.settlementDigest(user, provider, fee, requests, nonce);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        batch = new InferenceServing.TEESettlementData[](1);
        batch[0] = InferenceServing.TEESettlementData(user, provider, fee, requests, nonce, abi.encodePacked(r, s, v));
    }

    function settle(InferenceServing.TEESettlementData[] memory batch) internal returns (uint8) {
        vm.prank(provider);
        return serving.settleFeesWithTEE(batch)[0];
    }

    function test_ledger_and_sub_account_hold_the_funds() public view {
        LedgerManager.Ledger memory l = ledger.getLedger(user);
        assertEq(l.availableBalance, 3 ether, "available after transfer");
        assertEq(l.totalBalance, 5 ether, "total keeps the sub-account");
        assertEq(serving.getAccount(user, provider).balance, 2 ether, "sub-account");
        assertEq(ledger.getLedgerProviders(user, NAME)[0], provider, "provider listed");
        assertTrue(serving.getService(provider).teeSignerAcknowledged, "acknowledged");
    }

    function test_a_signed_settlement_pays_the_provider_once() public {
        uint256 before = provider.balance;
        // The charge is on the record with its requests' hash, for a user's dispute.
        vm.expectEmit(address(serving));
        emit InferenceServing.FeesSettled(user, provider, 1, 0.5 ether, 0.5 ether, keccak256("request ids"));
        assertEq(settle(settlement(teeKey, 0.5 ether, 1)), serving.SETTLED(), "settled");
        assertEq(provider.balance - before, 0.5 ether, "provider paid");
        assertEq(serving.getAccount(user, provider).balance, 1.5 ether, "account charged");
        assertEq(ledger.getLedger(user).totalBalance, 4.5 ether, "ledger total falls by the fee");
        // The same settlement again: refused, nothing moves.
        assertEq(settle(settlement(teeKey, 0.5 ether, 1)), serving.INVALID_NONCE(), "replay refused");
        assertEq(provider.balance - before, 0.5 ether, "paid once");
        assertEq(ledger.getLedger(user).totalBalance, 4.5 ether, "charged once");
        (uint256 verified, uint256 failed) = serving.getServiceProofs(provider);
        assertEq(verified, 1, "one verified settlement");
        assertEq(failed, 0, "a replay is not a failed proof");
    }

    function test_a_settlement_not_signed_by_the_acknowledged_enclave_pays_nothing() public {
        assertEq(settle(settlement(otherKey, 0.5 ether, 1)), serving.INVALID_SIGNATURE(), "foreign signer");
        assertEq(serving.getAccount(user, provider).balance, 2 ether, "untouched");
        (uint256 verified, uint256 failed) = serving.getServiceProofs(provider);
        assertEq(verified, 0, "nothing verified");
        assertEq(failed, 1, "the forged signature counts against the service");
        // Another provider cannot cash this provider's settlement.
        InferenceServing.TEESettlementData[] memory batch = settlement(teeKey, 0.5 ether, 1);
        vm.prank(address(0xBAD));
        assertEq(serving.settleFeesWithTEE(batch)[0], serving.PROVIDER_MISMATCH(), "wrong caller");
    }

    function test_a_new_signer_must_be_acknowledged_again() public {
        vm.prank(provider);
        serving.addOrUpdateService(params(vm.addr(otherKey)));
        assertTrue(!serving.getService(provider).teeSignerAcknowledged, "ack reset");
        assertEq(settle(settlement(otherKey, 0.5 ether, 1)), serving.NOT_ACKNOWLEDGED(), "not acknowledged");
        // The owner vouches for the new key; the user acknowledged the old one only.
        vm.prank(admin);
        serving.acknowledgeTEESignerByOwner(provider);
        assertTrue(!serving.getAccount(user, provider).acknowledged, "the user's acknowledgement was of the old key");
        assertEq(settle(settlement(otherKey, 0.5 ether, 1)), serving.NOT_ACKNOWLEDGED(), "the user has not vouched");
        vm.prank(user);
        serving.acknowledgeTEESigner(provider, true);
        assertTrue(serving.getAccount(user, provider).acknowledged, "acknowledged again");
        assertEq(settle(settlement(otherKey, 0.5 ether, 1)), serving.SETTLED(), "now it pays");
    }

    function test_a_fee_above_the_balance_is_paid_in_part() public {
        assertEq(settle(settlement(teeKey, 3 ether, 1)), serving.PARTIAL(), "partial");
        assertEq(serving.getAccount(user, provider).balance, 0, "emptied");
        assertEq(ledger.getLedger(user).totalBalance, 3 ether, "total falls by what was paid");
    }

    function test_refunds_wait_the_lock_time() public {
        address[] memory ps = new address[](1);
        ps[0] = provider;
        vm.prank(user);
        ledger.retrieveFund(ps, NAME);
        assertEq(serving.getAccount(user, provider).pendingRefund, 2 ether, "requested");
        // Served before the refund matured: still settles.
        assertEq(settle(settlement(teeKey, 0.5 ether, 1)), serving.SETTLED(), "settles in the window");
        assertEq(serving.getAccount(user, provider).pendingRefund, 1.5 ether, "refund shrinks to the balance");
        vm.prank(user);
        ledger.retrieveFund(ps, NAME);
        assertEq(ledger.getLedger(user).availableBalance, 3 ether, "nothing matured yet");
        vm.warp(block.timestamp + 3601);
        vm.prank(user);
        ledger.retrieveFund(ps, NAME);
        assertEq(ledger.getLedger(user).availableBalance, 4.5 ether, "matured refund collected");
        uint256 before = user.balance;
        vm.prank(user);
        ledger.refund(4.5 ether);
        assertEq(user.balance - before, 4.5 ether, "withdrawn");
        assertEq(ledger.getLedger(user).totalBalance, 0, "ledger empty");
    }

    function test_only_the_ledger_moves_sub_account_funds() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceServing.CallerNotLedger.selector, user));
        vm.prank(user);
        serving.requestRefundAll(user, provider);
        vm.expectRevert(abi.encodeWithSelector(LedgerManager.CallerNotRegisteredService.selector, user));
        vm.prank(user);
        ledger.spendFund(user, 1);
    }

    function test_a_missing_account_reverts_as_the_sdk_expects() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceServing.AccountNotExists.selector, address(0x1), provider));
        serving.getAccount(address(0x1), provider);
        vm.expectRevert(abi.encodeWithSelector(LedgerManager.LedgerNotExists.selector, address(0x1)));
        ledger.getLedger(address(0x1));
    }
}
