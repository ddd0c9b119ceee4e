// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.sol";
import {INFT} from "../src/INFT.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract INFTTest is Base {
    INFT internal nft;
    address internal admin = address(0xA11CE);
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);
    uint256 internal oracleKey = 0x0BAC1E;
    address internal oracle;

    function setUp() public {
        nft = new INFT(admin);
        oracle = vm.addr(oracleKey);
        vm.prank(admin);
        nft.setOracle(oracle, true);
    }

    function data(bytes32 h) internal pure returns (INFT.IntelligentData[] memory d) {
        d = new INFT.IntelligentData[](1);
        d[0] = INFT.IntelligentData("patient records", h);
    }

    function mintToAlice() internal returns (uint256 id) {
        id = nft.mint(alice, data(keccak256("sealed-0")));
    }

    function proof(uint256 id, address from, address to, bytes32 newHash, bytes memory key, uint256 deadline, bytes32 nonce)
        internal
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                nft.TRANSFER_PROOF_TYPEHASH(),
                id,
                from,
                to,
                nft.dataRootOf(id),
                keccak256(abi.encodePacked(newHash)),
                keccak256(key),
                deadline,
                nonce
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", nft.domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(oracleKey, digest);
        return abi.encodePacked(r, s, v);
    }

    function test_mint_records_data_and_owner() public {
        uint256 id = mintToAlice();
        assertEq(id, 1, "first token is 1");
        assertEq(nft.ownerOf(id), alice, "owner");
        assertEq(nft.intelligentDataOf(id)[0].dataHash, keccak256("sealed-0"), "data hash");
        assertTrue(nft.isAuthorized(id, alice), "owner is authorized");
        assertTrue(!nft.isAuthorized(id, bob), "stranger is not");
        assertTrue(!nft.isAuthorized(99, alice), "unknown token authorizes nobody");
    }

    function test_mint_first_then_the_owner_sets_data() public {
        uint256 id = nft.mint(alice, new INFT.IntelligentData[](0));
        assertEq(nft.intelligentDataOf(id).length, 0, "no data yet");
        vm.prank(alice);
        nft.setData(id, data(keccak256("sealed-to-this-token")));
        assertEq(nft.intelligentDataOf(id)[0].dataHash, keccak256("sealed-to-this-token"), "data set");
        vm.prank(alice);
        nft.setData(id, data(keccak256("v2")));
        assertEq(nft.intelligentDataOf(id).length, 1, "replaced, not appended");
        assertEq(nft.intelligentDataOf(id)[0].dataHash, keccak256("v2"), "replaced");
    }

    function test_only_the_owner_sets_data_and_never_empty() public {
        uint256 id = nft.mint(alice, new INFT.IntelligentData[](0));
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(INFT.NotTokenOwner.selector, id, bob));
        nft.setData(id, data(keccak256("mine now")));
        vm.prank(alice);
        vm.expectRevert(INFT.EmptyData.selector);
        nft.setData(id, new INFT.IntelligentData[](0));
    }

    function test_authorize_and_revoke() public {
        uint256 id = mintToAlice();
        vm.prank(alice);
        nft.authorizeUsage(id, bob);
        assertTrue(nft.isAuthorized(id, bob), "bob authorized");
        assertEq(nft.authorizedUsersOf(id).length, 1, "one user");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(INFT.AlreadyAuthorized.selector, id, bob));
        nft.authorizeUsage(id, bob);
        vm.prank(alice);
        nft.revokeAuthorization(id, bob);
        assertTrue(!nft.isAuthorized(id, bob), "bob revoked");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(INFT.NotAuthorized.selector, id, bob));
        nft.revokeAuthorization(id, bob);
    }

    function test_only_the_owner_authorizes() public {
        uint256 id = mintToAlice();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(INFT.NotTokenOwner.selector, id, bob));
        nft.authorizeUsage(id, bob);
    }

    function test_plain_transfers_are_refused() public {
        uint256 id = mintToAlice();
        vm.prank(alice);
        vm.expectRevert(INFT.TransferRequiresProof.selector);
        nft.transferFrom(alice, bob, id);
    }

    function test_proof_transfer_moves_data_and_clears_authorizations() public {
        uint256 id = mintToAlice();
        vm.prank(alice);
        nft.authorizeUsage(id, carol);
        bytes32 newHash = keccak256("sealed-to-bob");
        bytes memory key = hex"c0ffee";
        bytes memory sig = proof(id, alice, bob, newHash, key, block.timestamp + 60, bytes32(uint256(1)));
        vm.prank(alice);
        nft.transferWithProof(bob, id, data(newHash), key, block.timestamp + 60, bytes32(uint256(1)), sig);
        assertEq(nft.ownerOf(id), bob, "bob owns it");
        assertEq(nft.intelligentDataOf(id)[0].dataHash, newHash, "re-encrypted data");
        assertTrue(!nft.isAuthorized(id, carol), "authorizations cleared");
        assertTrue(!nft.isAuthorized(id, alice), "old owner no longer authorized");
        assertEq(nft.authorizedUsersOf(id).length, 0, "no users");
        assertTrue(nft.usedNonces(bytes32(uint256(1))), "nonce spent");
    }

    function test_replayed_expired_and_forged_proofs_are_refused() public {
        uint256 id = mintToAlice();
        bytes32 newHash = keccak256("sealed-to-bob");
        bytes memory key = hex"c0ffee";
        // Constants, not block.timestamp arithmetic: via-IR may re-read TIMESTAMP after a warp.
        vm.warp(1000);
        uint256 deadline = 1060;
        bytes memory sig = proof(id, alice, bob, newHash, key, deadline, bytes32(uint256(7)));

        // Another recipient than the oracle signed for.
        vm.prank(alice);
        vm.expectRevert();
        nft.transferWithProof(carol, id, data(newHash), key, deadline, bytes32(uint256(7)), sig);

        // Another chain: the domain separator changes, so the signer recovered is not the oracle.
        vm.chainId(999);
        vm.prank(alice);
        vm.expectRevert();
        nft.transferWithProof(bob, id, data(newHash), key, deadline, bytes32(uint256(7)), sig);
        vm.chainId(31337);

        // Expired.
        vm.warp(1061);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(INFT.ProofExpired.selector, 1060, 1061));
        nft.transferWithProof(bob, id, data(newHash), key, deadline, bytes32(uint256(7)), sig);
        vm.warp(1030);

        // Good once, then the nonce is spent for good.
        vm.prank(alice);
        nft.transferWithProof(bob, id, data(newHash), key, deadline, bytes32(uint256(7)), sig);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(INFT.NonceUsed.selector, bytes32(uint256(7))));
        nft.transferWithProof(alice, id, data(newHash), key, deadline, bytes32(uint256(7)), sig);
    }

    function test_only_admin_sets_oracles() public {
        vm.prank(alice);
        vm.expectRevert();
        nft.setOracle(alice, true);
    }

    /// Fuzz: whoever is authorized, only owner and authorized users pass the check,
    /// and a transfer always clears everyone but the new owner.
    function testFuzz_authorization_matches_the_grants(address user, address stranger) public {
        vm.assume(user != address(0) && stranger != address(0) && user != alice && stranger != alice && stranger != user);
        uint256 id = mintToAlice();
        vm.prank(alice);
        nft.authorizeUsage(id, user);
        assertTrue(nft.isAuthorized(id, user), "granted");
        assertTrue(!nft.isAuthorized(id, stranger), "not granted");
        bytes32 newHash = keccak256(abi.encode(user));
        bytes memory sig = proof(id, alice, stranger, newHash, "", block.timestamp, bytes32(uint256(uint160(user))));
        vm.prank(alice);
        nft.transferWithProof(stranger, id, data(newHash), "", block.timestamp, bytes32(uint256(uint160(user))), sig);
        assertTrue(!nft.isAuthorized(id, user), "cleared on transfer");
        assertTrue(nft.isAuthorized(id, stranger), "new owner");
    }

    function testFuzz_too_many_users_is_refused(uint8 extra) public {
        uint256 id = mintToAlice();
        uint256 max = nft.MAX_AUTHORIZED_USERS();
        vm.startPrank(alice);
        for (uint256 i = 1; i <= max; i++) {
            nft.authorizeUsage(id, address(uint160(0x1000 + i)));
        }
        vm.expectRevert(abi.encodeWithSelector(INFT.TooManyAuthorizedUsers.selector, id));
        nft.authorizeUsage(id, address(uint160(0x9000 + uint256(extra))));
        vm.stopPrank();
    }
}
