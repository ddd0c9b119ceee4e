// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {FederationRegistry} from "../src/FederationRegistry.sol";

contract FederationTest is Base {
    FederationRegistry internal reg;
    address internal owner = address(0x0E);
    uint256 internal aggKey = 0xA66;
    uint256 internal otherKey = 0xBAD;
    bytes32 internal fid;
    bytes32[] internal clients;
    uint32[] internal survivors;
    bytes32[] internal roots;

    function setUp() public {
        reg = new FederationRegistry();
        clients.push(keccak256("c1"));
        clients.push(keccak256("c2"));
        clients.push(keccak256("c3"));
        vm.prank(owner);
        fid = reg.create("wdbc-0011223344556677", keccak256("owner"), clients, vm.addr(aggKey));
        survivors.push(1);
        survivors.push(3);
        roots.push(keccak256("u1"));
        roots.push(keccak256("u3"));
    }

    function _sig(uint256 key, uint64 round, bytes32 prev, bytes32 next) internal returns (bytes memory) {
        bytes32 d = reg.roundDigest(fid, round, keccak256("start"), prev, next, keccak256("receipt"), survivors, roots);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, d);
        return abi.encodePacked(r, s, v);
    }

    function _record(uint256 key, uint64 round, bytes32 prev, bytes32 next) internal {
        reg.recordRound(
            fid, round, keccak256("start"), prev, next, keccak256("receipt"), survivors, roots, _sig(key, round, prev, next)
        );
    }

    function test_rounds_are_recorded_in_order_from_the_last_model() public {
        _record(aggKey, 1, bytes32(0), keccak256("m1"));
        _record(aggKey, 2, keccak256("m1"), keccak256("m2"));
        FederationRegistry.Federation memory f = reg.federation(fid);
        assertEq(f.round, 2, "two rounds");
        assertEq(f.model, keccak256("m2"), "the last model");
        (FederationRegistry.Round memory r, uint32[] memory s, bytes32[] memory u) = reg.roundOf(fid, 1);
        assertEq(r.globalModel, keccak256("m1"), "round 1's model");
        assertEq(r.aggregator, vm.addr(aggKey), "signed by the aggregator");
        assertEq(s.length, 2, "two survivors");
        assertEq(u[1], keccak256("u3"), "client 3's update root");
        assertEq(reg.participants(fid).length, 3, "three participants");
    }

    function test_only_the_aggregator_in_order_from_the_last_model() public {
        bytes memory forged = _sig(otherKey, 1, bytes32(0), keccak256("m1"));
        vm.expectRevert(abi.encodeWithSelector(FederationRegistry.BadAggregatorSignature.selector, vm.addr(otherKey)));
        reg.recordRound(fid, 1, keccak256("start"), bytes32(0), keccak256("m1"), keccak256("receipt"), survivors, roots, forged);
        // A signature over other survivors does not carry over.
        bytes memory good = _sig(aggKey, 1, bytes32(0), keccak256("m1"));
        survivors[1] = 2;
        vm.expectRevert();
        reg.recordRound(fid, 1, keccak256("start"), bytes32(0), keccak256("m1"), keccak256("receipt"), survivors, roots, good);
        survivors[1] = 3;
        reg.recordRound(fid, 1, keccak256("start"), bytes32(0), keccak256("m1"), keccak256("receipt"), survivors, roots, good);
        // The same round again, a skipped round, another starting model.
        vm.expectRevert(abi.encodeWithSelector(FederationRegistry.RoundOutOfOrder.selector, uint64(2), uint64(1)));
        reg.recordRound(fid, 1, keccak256("start"), bytes32(0), keccak256("m1"), keccak256("receipt"), survivors, roots, good);
        bytes memory skip = _sig(aggKey, 3, keccak256("m1"), keccak256("m3"));
        vm.expectRevert(abi.encodeWithSelector(FederationRegistry.RoundOutOfOrder.selector, uint64(2), uint64(3)));
        reg.recordRound(fid, 3, keccak256("start"), keccak256("m1"), keccak256("m3"), keccak256("receipt"), survivors, roots, skip);
        bytes memory fork = _sig(aggKey, 2, keccak256("other"), keccak256("m2"));
        vm.expectRevert(
            abi.encodeWithSelector(FederationRegistry.WrongPreviousModel.selector, keccak256("m1"), keccak256("other"))
        );
        reg.recordRound(fid, 2, keccak256("start"), keccak256("other"), keccak256("m2"), keccak256("receipt"), survivors, roots, fork);
    }

    function test_survivors_must_be_listed_participants_in_order() public {
        survivors[1] = 4;
        bytes memory sig = _sig(aggKey, 1, bytes32(0), keccak256("m1"));
        vm.expectRevert(FederationRegistry.BadSurvivors.selector);
        reg.recordRound(fid, 1, keccak256("start"), bytes32(0), keccak256("m1"), keccak256("receipt"), survivors, roots, sig);
        survivors[1] = 1;
        sig = _sig(aggKey, 1, bytes32(0), keccak256("m1"));
        vm.expectRevert(FederationRegistry.BadSurvivors.selector);
        reg.recordRound(fid, 1, keccak256("start"), bytes32(0), keccak256("m1"), keccak256("receipt"), survivors, roots, sig);
    }

    function test_only_the_owner_names_the_aggregator_and_ids_are_unique() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(FederationRegistry.NotOwner.selector, fid, address(0xBAD)));
        reg.setAggregator(fid, vm.addr(otherKey));
        vm.prank(owner);
        reg.setAggregator(fid, vm.addr(otherKey));
        _record(otherKey, 1, bytes32(0), keccak256("m1"));
        vm.expectRevert(abi.encodeWithSelector(FederationRegistry.FederationExists.selector, fid));
        reg.create("wdbc-0011223344556677", keccak256("owner"), clients, vm.addr(aggKey));
        bytes32[] memory one = new bytes32[](1);
        vm.expectRevert(abi.encodeWithSelector(FederationRegistry.BadParticipants.selector, uint256(1)));
        reg.create("other", keccak256("owner"), one, vm.addr(aggKey));
    }
}
