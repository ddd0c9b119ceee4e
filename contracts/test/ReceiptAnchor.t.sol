// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {ReceiptAnchor} from "../src/ReceiptAnchor.sol";

contract ReceiptAnchorTest is Base {
    ReceiptAnchor internal anchor;
    address internal admin = address(0xA11CE);
    address internal log = address(0x109);

    function setUp() public {
        anchor = new ReceiptAnchor(admin);
        vm.prank(admin);
        anchor.setAnchorer(log, true);
    }

    function test_anchors_grow_and_are_readable() public {
        vm.startPrank(log);
        anchor.anchor(10, keccak256("r10"));
        anchor.anchor(25, keccak256("r25"));
        vm.stopPrank();
        assertEq(anchor.checkpointCount(), 2, "two checkpoints");
        assertEq(anchor.latest().root, keccak256("r25"), "latest root");
        assertEq(anchor.checkpoint(0).treeSize, 10, "first size");
    }

    function test_only_anchorers_and_only_growth() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(ReceiptAnchor.NotAnchorer.selector, address(0xBAD)));
        anchor.anchor(1, keccak256("x"));
        vm.startPrank(log);
        anchor.anchor(5, keccak256("r5"));
        vm.expectRevert(abi.encodeWithSelector(ReceiptAnchor.TreeSizeNotIncreasing.selector, uint64(5), uint64(5)));
        anchor.anchor(5, keccak256("again"));
        vm.expectRevert(ReceiptAnchor.EmptyRoot.selector);
        anchor.anchor(6, bytes32(0));
        vm.stopPrank();
    }

    function testFuzz_sizes_must_strictly_increase(uint64 a, uint64 b) public {
        vm.assume(a > 0);
        vm.startPrank(log);
        anchor.anchor(a, keccak256("a"));
        if (b <= a) {
            vm.expectRevert(abi.encodeWithSelector(ReceiptAnchor.TreeSizeNotIncreasing.selector, a, b));
        }
        anchor.anchor(b, keccak256("b"));
        vm.stopPrank();
    }
}
