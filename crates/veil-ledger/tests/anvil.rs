//! The ChainClient against anvil (npm `@foundry-rs/anvil-linux-amd64`, installed by
//! scripts/contracts.sh) on 127.0.0.1 with a random port.

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use veil_ledger::{ChainClient, IntelligentData, LedgerError};

fn anvil() -> AnvilInstance {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin/anvil");
    assert!(
        path.exists(),
        "{} is missing: run scripts/contracts.sh first",
        path.display()
    );
    Anvil::at(path).arg("--host").arg("127.0.0.1").spawn()
}

fn provider_for(anvil: &AnvilInstance, index: usize) -> (DynProvider, Address) {
    let signer: PrivateKeySigner = anvil.keys()[index].clone().into();
    let address = signer.address();
    let p = ProviderBuilder::new()
        .wallet(signer)
        .connect_http(anvil.endpoint_url());
    (p.erased(), address)
}

fn refused_with(r: Result<impl std::fmt::Debug, LedgerError>, contract: &str, error: &str) {
    match r {
        Err(LedgerError::Reverted {
            contract: c,
            error: e,
        }) => {
            assert_eq!(c, contract);
            assert!(e.contains(error), "{e}");
        }
        other => panic!("expected {contract} to refuse with {error}, got {other:?}"),
    }
}

/// All contracts deployed by account 0, which owns them.
async fn deploy(anvil: &AnvilInstance) -> ChainClient<DynProvider> {
    let (admin_p, admin) = provider_for(anvil, 0);
    ChainClient::deploy(
        admin_p,
        admin,
        Address::repeat_byte(0x7e),
        Address::repeat_byte(0x1a),
    )
    .await
    .expect("deploy")
}

#[tokio::test]
async fn tokens_are_authorized_by_their_owner_only() {
    let anvil = anvil();
    let chain = deploy(&anvil).await;
    let (alice_p, alice) = provider_for(&anvil, 1);
    let (bob_p, bob) = provider_for(&anvil, 2);
    assert_eq!(chain.chain_id(), anvil.chain_id(), "chain id read from the node");
    let as_alice = ChainClient::connect(alice_p, chain.deployment())
        .await
        .expect("connect");
    let as_bob = ChainClient::connect(bob_p, chain.deployment())
        .await
        .expect("connect");

    let root = B256::from(keccak256(b"sealed records"));
    let token = as_alice
        .mint(
            alice,
            &[IntelligentData {
                description: "patient records".into(),
                data_hash: root,
            }],
        )
        .await
        .expect("mint");
    assert_eq!(token, U256::from(1));
    assert!(!as_alice.is_authorized(token, bob).await.expect("read").0);
    as_alice.authorize(token, bob).await.expect("authorize");
    let (ok, block) = as_alice.is_authorized(token, bob).await.expect("read");
    assert!(ok);
    assert!(block > 0, "the answer names the block it was read at");

    refused_with(as_bob.authorize(token, bob).await, "INFT", "NotTokenOwner");
    refused_with(as_alice.authorize(token, bob).await, "INFT", "AlreadyAuthorized");
    as_alice.revoke(token, bob).await.expect("revoke");
    assert!(!as_alice.is_authorized(token, bob).await.expect("read").0);
    refused_with(as_alice.mint(alice, &[]).await, "INFT", "EmptyData");
}

#[tokio::test]
async fn jobs_complete_once_by_an_unslashed_prover_with_its_enclave_key() {
    let anvil = anvil();
    let chain = deploy(&anvil).await;
    let (prover_p, _) = provider_for(&anvil, 1);
    let (user_p, _) = provider_for(&anvil, 2);
    chain.set_job_registry().await.expect("wire");
    let prover = ChainClient::connect(prover_p, chain.deployment())
        .await
        .expect("connect");
    let user = ChainClient::connect(user_p, chain.deployment())
        .await
        .expect("connect");

    let enclave = PrivateKeySigner::random();
    prover
        .register_prover(
            enclave.address(),
            B256::repeat_byte(0x11),
            U256::from(10).pow(U256::from(18)),
        )
        .await
        .expect("register");
    let job = user
        .submit_job(B256::repeat_byte(1), B256::repeat_byte(2), U256::from(1000))
        .await
        .expect("submit");
    let (result, receipt) = (B256::repeat_byte(3), B256::repeat_byte(4));
    let digest = prover
        .completion_digest(job, result, receipt)
        .await
        .expect("digest");
    let sig = enclave.sign_hash_sync(&digest).expect("sign").as_bytes().to_vec();

    // Another key's signature is refused.
    let stranger = PrivateKeySigner::random()
        .sign_hash_sync(&digest)
        .expect("sign")
        .as_bytes()
        .to_vec();
    refused_with(
        prover.complete_job(job, result, receipt, stranger).await,
        "JobRegistry",
        "BadEnclaveSignature",
    );

    prover
        .complete_job(job, result, receipt, sig.clone())
        .await
        .expect("complete");
    refused_with(
        prover.complete_job(job, result, receipt, sig).await,
        "JobRegistry",
        "JobNotOpen",
    );

    // A slashed prover cannot complete the next job.
    let job2 = user
        .submit_job(B256::repeat_byte(5), B256::repeat_byte(2), U256::from(1000))
        .await
        .expect("submit");
    chain
        .slash(
            prover_address(&anvil),
            U256::from(10).pow(U256::from(18)),
            B256::repeat_byte(9),
        )
        .await
        .expect("slash");
    let digest2 = prover
        .completion_digest(job2, result, receipt)
        .await
        .expect("digest");
    let sig2 = enclave
        .sign_hash_sync(&digest2)
        .expect("sign")
        .as_bytes()
        .to_vec();
    refused_with(
        prover.complete_job(job2, result, receipt, sig2).await,
        "JobRegistry",
        "ProverNotActive",
    );
}

fn prover_address(anvil: &AnvilInstance) -> Address {
    provider_for(anvil, 1).1
}
