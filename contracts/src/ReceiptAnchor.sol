// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Transparency-log roots anchored on chain.
/// @notice The log's operators append (size, root) checkpoints; sizes only grow, so a
/// log that forks or shrinks cannot be anchored. Anyone reads them to check a receipt's
/// inclusion proof against a root the chain has seen.
contract ReceiptAnchor is Ownable {
    /// One checkpoint.
    struct Checkpoint {
        uint64 treeSize;
        bytes32 root;
        uint64 anchoredAt;
    }

    error NotAnchorer(address caller);
    error TreeSizeNotIncreasing(uint64 previous, uint64 given);
    error EmptyRoot();

    event AnchorerSet(address indexed anchorer, bool enabled);
    event Anchored(uint256 indexed index, uint64 treeSize, bytes32 root);

    mapping(address => bool) public anchorers;
    Checkpoint[] private _checkpoints;

    constructor(address admin) Ownable(admin) {}

    /// Allow or stop `anchorer` appending checkpoints.
    function setAnchorer(address anchorer, bool enabled) external onlyOwner {
        anchorers[anchorer] = enabled;
        emit AnchorerSet(anchorer, enabled);
    }

    /// Append the log's root at `treeSize` entries.
    function anchor(uint64 treeSize, bytes32 root) external returns (uint256 index) {
        if (!anchorers[msg.sender]) revert NotAnchorer(msg.sender);
        if (root == bytes32(0)) revert EmptyRoot();
        uint256 n = _checkpoints.length;
        if (n > 0 && treeSize <= _checkpoints[n - 1].treeSize) {
            revert TreeSizeNotIncreasing(_checkpoints[n - 1].treeSize, treeSize);
        }
        _checkpoints.push(Checkpoint(treeSize, root, uint64(block.timestamp)));
        emit Anchored(n, treeSize, root);
        return n;
    }

    /// How many checkpoints there are.
    function checkpointCount() external view returns (uint256) {
        return _checkpoints.length;
    }

    /// Checkpoint `index`.
    function checkpoint(uint256 index) external view returns (Checkpoint memory) {
        return _checkpoints[index];
    }

    /// The newest checkpoint (reverts when there is none).
    function latest() external view returns (Checkpoint memory) {
        return _checkpoints[_checkpoints.length - 1];
    }
}
