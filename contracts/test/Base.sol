// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The forge cheatcodes these tests use (forge-std is not on npm, so this is the
/// slice of its `Vm` interface we need, at forge's fixed cheatcode address).
interface Vm {
    function prank(address) external;
    function startPrank(address) external;
    function stopPrank() external;
    function expectRevert(bytes calldata) external;
    function expectRevert(bytes4) external;
    function expectRevert() external;
    function warp(uint256) external;
    function roll(uint256) external;
    function deal(address, uint256) external;
    function chainId(uint256) external;
    function addr(uint256) external returns (address);
    function sign(uint256, bytes32) external returns (uint8, bytes32, bytes32);
    function assume(bool) external;
    function expectEmit(address) external;
}

/// Assertions that revert with a message, which forge reports as a failed test.
abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function assertTrue(bool ok, string memory what) internal pure {
        require(ok, what);
    }

    function assertEq(uint256 a, uint256 b, string memory what) internal pure {
        require(a == b, what);
    }

    function assertEq(address a, address b, string memory what) internal pure {
        require(a == b, what);
    }

    function assertEq(bytes32 a, bytes32 b, string memory what) internal pure {
        require(a == b, what);
    }
}
