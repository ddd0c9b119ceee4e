//! One integration suite for the ChainClient, run on both chains Veil supports out
//! of the box: the embedded chain (revm in-process, through the alloy transport) and
//! anvil (npm `@foundry-rs/anvil-linux-amd64`, installed by scripts/contracts.sh, on
//! 127.0.0.1 with a random port, Cancun rules like the embedded chain). A last test runs
//! one workload on both and compares every receipt.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc, SystemClock};
use veil_ledger::bindings::JobRegistry;
use veil_ledger::{
    ChainClient, ContractError, EventCursor, IntelligentData, LedgerError, Offence, SignedAttestation,
    VeilEvent,
};

/// anvil's first four development keys (public test keys), so that both chains see
/// the same senders and therefore the same contract addresses and calldata.
const KEYS: [&str; 4] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];
const ANVIL_CHAIN_ID: u64 = 31337;

enum Backend {
    Anvil(AnvilInstance),
    Embedded { _dir: tempfile::TempDir, rpc: Rpc },
}

impl Backend {
    fn anvil() -> Self {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin/anvil");
        assert!(path.exists(), "{} is missing: run scripts/contracts.sh first", path.display());
        let anvil = Anvil::at(path).args(["--host", "127.0.0.1", "--hardfork", "cancun"]).spawn();
        for (ours, theirs) in KEYS.iter().zip(anvil.keys()) {
            assert_eq!(signer(ours).address(), PrivateKeySigner::from(theirs.clone()).address());
        }
        Self::Anvil(anvil)
    }

    fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let alloc: BTreeMap<Address, U256> = KEYS
            .iter()
            .map(|k| (signer(k).address(), U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18))))
            .collect();
        let genesis = Genesis::new(ANVIL_CHAIN_ID, 1_700_000_000, alloc);
        let (node, _) = Node::open(dir.path(), &genesis).expect("open chain");
        let rpc = Rpc::new(node, Arc::new(SystemClock));
        Self::Embedded { _dir: dir, rpc }
    }

    fn provider(&self, index: usize) -> (DynProvider, Address) {
        let signer = signer(KEYS[index]);
        let address = signer.address();
        let builder = ProviderBuilder::new().wallet(signer);
        let p = match self {
            Self::Anvil(a) => builder.connect_http(a.endpoint_url()).erased(),
            Self::Embedded { rpc, .. } => {
                builder.connect_client(EmbeddedTransport::new(rpc.clone()).client()).erased()
            }
        };
        (p, address)
    }

    fn chain_id(&self) -> u64 {
        match self {
            Self::Anvil(a) => a.chain_id(),
            Self::Embedded { .. } => ANVIL_CHAIN_ID,
        }
    }
}

fn signer(hex_key: &str) -> PrivateKeySigner {
    hex_key.parse().expect("test key")
}

/// Each scenario runs once per chain.
macro_rules! on_both_chains {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn embedded() {
                super::$scenario(&super::Backend::embedded()).await
            }
            #[tokio::test]
            async fn anvil() {
                super::$scenario(&super::Backend::anvil()).await
            }
        }
    )*};
}

on_both_chains!(
    tokens_are_authorized_by_their_owner_only,
    jobs_complete_once_by_an_attested_prover_with_its_enclave_key,
    tokens_move_only_with_a_fresh_oracle_proof_for_this_chain,
    jobs_go_to_the_prover_their_block_selects,
    events_follow_a_persisted_cursor,
    federation_rounds_are_recorded_only_with_the_aggregators_signature,
);

/// A federation's rounds go on the ledger in order, from the last model, each only
/// with the EIP-712 signature (this chain, this registry) of the aggregator its owner
/// named; the owner alone may name another.
async fn federation_rounds_are_recorded_only_with_the_aggregators_signature(backend: &Backend) {
    use alloy::sol_types::SolStruct as _;
    let chain = deploy(backend).await;
    let aggregator = PrivateKeySigner::random();
    let clients: Vec<B256> = (1..=3u8).map(B256::repeat_byte).collect();
    let fid = chain
        .fl_create("wdbc-00aa", B256::repeat_byte(9), clients.clone(), aggregator.address())
        .await
        .unwrap();
    assert_eq!(fid, keccak256("wdbc-00aa"));
    let domain = veil_protocol::fl::registry_domain(backend.chain_id(), chain.deployment().federations);
    let round = |n: u64, prev: B256, next: B256| veil_ledger::RecordedRound {
        round: n,
        start_root: B256::repeat_byte(0x51),
        previous_model: prev,
        global_model: next,
        receipt_id: B256::repeat_byte(0x7e),
        survivors: vec![1, 3],
        update_roots: vec![B256::repeat_byte(0xa1), B256::repeat_byte(0xa3)],
    };
    let sign = |key: &PrivateKeySigner, r: &veil_ledger::RecordedRound| {
        let typed = veil_protocol::fl::Round {
            federation: fid,
            round: r.round,
            startRoot: r.start_root,
            previousModel: r.previous_model,
            globalModel: r.global_model,
            receiptId: r.receipt_id,
            survivors: r.survivors.clone(),
            updateRoots: r.update_roots.clone(),
        };
        alloy::primitives::Bytes::from(
            key.sign_hash_sync(&typed.eip712_signing_hash(&domain)).unwrap().as_bytes().to_vec(),
        )
    };
    let (m1, m2) = (B256::repeat_byte(0x01), B256::repeat_byte(0x02));
    let r1 = round(1, B256::ZERO, m1);
    refused_with(
        chain.fl_record_round(fid, &r1, sign(&PrivateKeySigner::random(), &r1)).await,
        "FederationRegistry",
        "BadAggregatorSignature",
    );
    let mut bent = r1.clone();
    bent.survivors = vec![1, 2];
    assert_ne!(bent, r1);
    refused_with(
        chain.fl_record_round(fid, &bent, sign(&aggregator, &r1)).await,
        "FederationRegistry",
        "BadAggregatorSignature",
    );
    chain.fl_record_round(fid, &r1, sign(&aggregator, &r1)).await.unwrap();
    refused_with(
        chain.fl_record_round(fid, &r1, sign(&aggregator, &r1)).await,
        "FederationRegistry",
        "RoundOutOfOrder",
    );
    let fork = round(2, B256::repeat_byte(0xff), m2);
    refused_with(
        chain.fl_record_round(fid, &fork, sign(&aggregator, &fork)).await,
        "FederationRegistry",
        "WrongPreviousModel",
    );
    let r2 = round(2, m1, m2);
    chain.fl_record_round(fid, &r2, sign(&aggregator, &r2)).await.unwrap();
    let info = chain.fl_federation(fid).await.unwrap();
    assert_eq!((info.round, info.model, info.aggregator), (2, m2, aggregator.address()));
    assert_eq!(info.participants, clients);
    assert_eq!(chain.fl_round(fid, 2).await.unwrap(), Some(r2));
    assert_eq!(chain.fl_round(fid, 3).await.unwrap(), None);
    // Nobody but the owner names another aggregator.
    let (other, _) = backend.provider(1);
    let stranger = ChainClient::connect(other, chain.deployment()).await.unwrap();
    refused_with(
        stranger.fl_set_aggregator(fid, Address::repeat_byte(1)).await,
        "FederationRegistry",
        "NotOwner",
    );
    refused_with(
        chain.fl_create("wdbc-00aa", B256::ZERO, clients, aggregator.address()).await,
        "FederationRegistry",
        "FederationExists",
    );
}

fn refused_with(r: Result<impl std::fmt::Debug, LedgerError>, contract: &str, error: &str) {
    match r {
        Err(LedgerError::Reverted { contract: c, error: e, .. }) => {
            assert_eq!(c, contract);
            assert!(e.contains(error), "{e}");
        }
        other => panic!("expected {contract} to refuse with {error}, got {other:?}"),
    }
}

/// All contracts deployed by account 0, which owns them.
async fn deploy(chain: &Backend) -> ChainClient<DynProvider> {
    let (admin_p, admin) = chain.provider(0);
    ChainClient::deploy(admin_p, admin, Address::repeat_byte(0x7e), Address::repeat_byte(0x1a))
        .await
        .expect("deploy")
}

async fn tokens_are_authorized_by_their_owner_only(backend: &Backend) {
    let chain = deploy(backend).await;
    let (alice_p, alice) = backend.provider(1);
    let (bob_p, bob) = backend.provider(2);
    assert_eq!(chain.chain_id(), backend.chain_id(), "chain id read from the node");
    let as_alice = ChainClient::connect(alice_p, chain.deployment()).await.expect("connect");
    let as_bob = ChainClient::connect(bob_p, chain.deployment()).await.expect("connect");

    let root = B256::from(keccak256(b"sealed records"));
    let token = as_alice
        .mint(alice, &[IntelligentData { description: "patient records".into(), data_hash: root }])
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
    // Mint first, then attach data as the owner; nobody else can, and never nothing.
    let later = as_alice.mint(alice, &[]).await.expect("a token without data yet");
    assert_eq!(later, U256::from(2));
    assert!(as_alice.intelligent_data(later).await.expect("read").is_empty());
    let entry = IntelligentData {
        description: "sealed to token 2".into(),
        data_hash: B256::from(keccak256(b"sealed to 2")),
    };
    refused_with(as_bob.set_data(later, std::slice::from_ref(&entry)).await, "INFT", "NotTokenOwner");
    refused_with(as_alice.set_data(later, &[]).await, "INFT", "EmptyData");
    as_alice.set_data(later, std::slice::from_ref(&entry)).await.expect("the owner sets data");
    assert_eq!(as_alice.intelligent_data(later).await.expect("read"), vec![entry]);
}

/// The measurement the test registry approves for provers, and the one it pins for
/// attestation verifiers.
const PROVER_MEASUREMENT: B256 = B256::repeat_byte(0x11);
const VERIFIER_MEASUREMENT: B256 = B256::repeat_byte(0x0a);

fn oracle() -> PrivateKeySigner {
    signer(&"33".repeat(32))
}

/// Wire the job registry, approve the prover measurement and admit the test oracle.
async fn admit_oracle(chain: &ChainClient<DynProvider>) {
    chain.set_job_registry().await.expect("wire");
    chain.approve_measurement(PROVER_MEASUREMENT, true).await.expect("approve");
    chain.pin_verifier_measurement(VERIFIER_MEASUREMENT).await.expect("pin");
    chain
        .add_attestation_verifier(oracle().address(), VERIFIER_MEASUREMENT, B256::repeat_byte(0xee))
        .await
        .expect("admit the oracle");
}

/// A statement by `by` that `enclave` belongs to `prover`, valid until a week after
/// the start of today (chain time): the same on both chains, so their calldata and gas
/// compare.
async fn statement(
    chain: &ChainClient<DynProvider>,
    by: &PrivateKeySigner,
    prover: Address,
    enclave: Address,
) -> SignedAttestation {
    let today = chain.head_timestamp().await.expect("head") / 86_400 * 86_400;
    let unsigned = SignedAttestation {
        prover,
        enclave_key: enclave,
        measurement: PROVER_MEASUREMENT,
        evidence_hash: B256::repeat_byte(0xe1),
        expires_at: today + 7 * 86_400,
        signature: Default::default(),
    };
    unsigned.sign(by, &chain.registry_domain().await.expect("domain")).expect("sign")
}

async fn jobs_complete_once_by_an_attested_prover_with_its_enclave_key(backend: &Backend) {
    let chain = deploy(backend).await;
    let (prover_p, prover_address) = backend.provider(1);
    let (user_p, _) = backend.provider(2);
    admit_oracle(&chain).await;
    let prover = ChainClient::connect(prover_p, chain.deployment()).await.expect("connect");
    let user = ChainClient::connect(user_p, chain.deployment()).await.expect("connect");

    // Fixed keys: ECDSA signatures are deterministic (RFC 6979), so both chains see
    // the same calldata and charge the same gas.
    let enclave = signer(&"11".repeat(32));
    let stake = U256::from(10).pow(U256::from(18));
    // A self-declared key (the enclave vouching for itself) is refused.
    let self_declared = statement(&prover, &enclave, prover_address, enclave.address()).await;
    refused_with(
        prover.register_prover(&self_declared, stake).await,
        "ProverRegistry",
        "UntrustedAttestationVerifier",
    );
    let st = statement(&prover, &oracle(), prover_address, enclave.address()).await;
    // The digest signed here is the one the contract computes.
    let on_chain = prover.attestation_digest(&st).await.expect("digest");
    assert_eq!(st.digest(&prover.registry_domain().await.expect("domain")), on_chain);
    prover.register_prover(&st, stake).await.expect("register");

    let job =
        user.submit_job(B256::repeat_byte(1), B256::repeat_byte(2), U256::from(1000)).await.expect("submit");
    let (result, receipt) = (B256::repeat_byte(3), B256::repeat_byte(4));
    let digest =
        prover.completion_digest(job, prover_address, result, receipt, B256::ZERO).await.expect("digest");
    let sig = enclave.sign_hash_sync(&digest).expect("sign").as_bytes().to_vec();
    // What an enclave computes offline is what the contract computes.
    let target = veil_protocol::CompletionTarget {
        chain_id: prover.chain_id(),
        job_registry: prover.deployment().jobs,
        job_id: job,
        account: prover_address,
        receipt_id: receipt,
    };
    assert_eq!(target.digest(result, B256::ZERO), digest);

    // Another key's signature is refused.
    let stranger = signer(&"22".repeat(32)).sign_hash_sync(&digest).expect("sign").as_bytes().to_vec();
    refused_with(
        prover.complete_job(job, result, receipt, stranger).await,
        "JobRegistry",
        "BadEnclaveSignature",
    );

    prover.complete_job(job, result, receipt, sig.clone()).await.expect("complete");
    // Typed, for callers that branch on the error.
    match prover.complete_job(job, result, receipt, sig).await {
        Err(LedgerError::Reverted { decoded, .. }) => match *decoded {
            ContractError::Jobs(JobRegistry::JobRegistryErrors::JobNotOpen(e)) => assert_eq!(e.jobId, job),
            other => panic!("expected JobNotOpen, got {other:?}"),
        },
        other => panic!("expected a revert, got {other:?}"),
    }
    let done = user.job(job).await.expect("job");
    assert_eq!((done.status, done.prover, done.assigned), ("completed", prover_address, prover_address));

    // The requester relays the enclave's completion: the prover it names is paid, and a
    // relayer cannot put another prover's name on it.
    let relayed =
        user.submit_job(B256::repeat_byte(6), B256::repeat_byte(2), U256::from(1000)).await.expect("submit");
    let digest3 =
        prover.completion_digest(relayed, prover_address, result, receipt, B256::ZERO).await.expect("digest");
    let sig3 = enclave.sign_hash_sync(&digest3).expect("sign").as_bytes().to_vec();
    let (_, user_address) = backend.provider(2);
    refused_with(
        user.complete_job_for(relayed, user_address, result, receipt, sig3.clone()).await,
        "JobRegistry",
        "ProverNotEligible",
    );
    user.complete_job_for(relayed, prover_address, result, receipt, sig3).await.expect("relayed");
    let done = user.job(relayed).await.expect("job");
    assert_eq!((done.status, done.prover, done.result_hash), ("completed", prover_address, result));

    // A prover banned for a data leak cannot complete the next job.
    let job2 =
        user.submit_job(B256::repeat_byte(5), B256::repeat_byte(2), U256::from(1000)).await.expect("submit");
    chain.report_failure(prover_address, Offence::DataLeak, B256::repeat_byte(9)).await.expect("report");
    let listed = user.provers_list().await.expect("list");
    assert!(listed[0].banned && listed[0].stake.is_zero() && listed[0].failures == 1);
    let digest2 =
        prover.completion_digest(job2, prover_address, result, receipt, B256::ZERO).await.expect("digest");
    let sig2 = enclave.sign_hash_sync(&digest2).expect("sign").as_bytes().to_vec();
    refused_with(prover.complete_job(job2, result, receipt, sig2).await, "JobRegistry", "ProverNotEligible");
}

fn entry(description: &str, seed: &[u8]) -> IntelligentData {
    IntelligentData { description: description.into(), data_hash: keccak256(seed) }
}

/// A deadline far in the future, fixed so that both chains see the same calldata.
const FAR_DEADLINE: u64 = 4_000_000_000;

async fn tokens_move_only_with_a_fresh_oracle_proof_for_this_chain(backend: &Backend) {
    let chain = deploy(backend).await;
    let (alice_p, alice) = backend.provider(1);
    let (_, bob) = backend.provider(2);
    let (_, carol) = backend.provider(3);
    let oracle = signer(&"33".repeat(32));
    chain.set_oracle(oracle.address(), true).await.expect("oracle");
    let as_alice = ChainClient::connect(alice_p, chain.deployment()).await.expect("connect");
    let token = as_alice.mint(alice, &[entry("records", b"v1")]).await.expect("mint");
    as_alice.authorize(token, carol).await.expect("authorize");

    let new_data = [entry("records re-sealed for bob", b"v2")];
    let sealed_key = b"key sealed to bob".to_vec();
    let proof = as_alice
        .transfer_proof(token, bob, &new_data, &sealed_key, FAR_DEADLINE, B256::repeat_byte(0x0a))
        .await
        .expect("proof");
    let digest = as_alice.transfer_proof_digest(&proof).await.expect("digest");
    let sig = oracle.sign_hash_sync(&digest).expect("sign").as_bytes().to_vec();

    // The same proof signed under another chain id's domain names another signer.
    let mut domain = as_alice.inft_domain().await.expect("domain");
    assert_eq!(domain.chain_id, Some(U256::from(backend.chain_id())), "domain read from the chain");
    domain.chain_id = Some(U256::from(backend.chain_id() + 1));
    let foreign = {
        use alloy::sol_types::SolStruct;
        let d = proof.eip712_signing_hash(&domain);
        oracle.sign_hash_sync(&d).expect("sign").as_bytes().to_vec()
    };
    refused_with(
        as_alice.transfer_with_proof(&proof, &new_data, sealed_key.clone(), foreign).await,
        "INFT",
        "UnknownOracle",
    );
    // An expired proof is refused even when correctly signed.
    let mut expired = proof.clone();
    expired.deadline = U256::from(1);
    let expired_sig = oracle
        .sign_hash_sync(&as_alice.transfer_proof_digest(&expired).await.expect("digest"))
        .expect("sign")
        .as_bytes()
        .to_vec();
    refused_with(
        as_alice.transfer_with_proof(&expired, &new_data, sealed_key.clone(), expired_sig).await,
        "INFT",
        "ProofExpired",
    );

    as_alice.transfer_with_proof(&proof, &new_data, sealed_key.clone(), sig.clone()).await.expect("transfer");
    assert_eq!(as_alice.owner_of(token).await.expect("owner"), bob);
    assert!(!as_alice.is_authorized(token, carol).await.expect("read").0, "cleared on transfer");
    assert!(as_alice.is_authorized(token, bob).await.expect("read").0, "the owner is");
    // Replaying the proof (now from bob, the owner) is refused: nonces are never reused.
    let (bob_p, _) = backend.provider(2);
    let as_bob = ChainClient::connect(bob_p, chain.deployment()).await.expect("connect");
    refused_with(as_bob.transfer_with_proof(&proof, &new_data, sealed_key, sig).await, "INFT", "NonceUsed");
}

async fn jobs_go_to_the_prover_their_block_selects(backend: &Backend) {
    let chain = deploy(backend).await;
    admit_oracle(&chain).await;
    let (user_p, _) = backend.provider(3);
    let as_user = ChainClient::connect(user_p, chain.deployment()).await.expect("connect");
    let early = as_user
        .submit_job(B256::repeat_byte(1), B256::repeat_byte(2), U256::from(1000))
        .await
        .expect("submit");
    refused_with(as_user.assign(early).await, "ProverRegistry", "NoActiveProvers");
    let stake = U256::from(10).pow(U256::from(18));
    let mut registered = Vec::new();
    for i in [1, 2] {
        let (p, address) = backend.provider(i);
        let as_prover = ChainClient::connect(p, chain.deployment()).await.expect("connect");
        let enclave = signer(&format!("{:02x}", 0x40 + i).repeat(32));
        let st = statement(&as_prover, &oracle(), address, enclave.address()).await;
        refused_with(as_prover.register_prover(&st, U256::from(1)).await, "ProverRegistry", "StakeTooLow");
        as_prover.register_prover(&st, stake).await.expect("register");
        registered.push(address);
    }
    // One enclave key, one account: prover 2 cannot take prover 1's key.
    let (p2, address2) = backend.provider(2);
    let as_p2 = ChainClient::connect(p2, chain.deployment()).await.expect("connect");
    let taken = statement(&as_p2, &oracle(), address2, signer(&"41".repeat(32)).address()).await;
    refused_with(as_p2.update_attestation(&taken).await, "ProverRegistry", "EnclaveKeyTaken");
    let listed = as_user.provers_list().await.expect("list");
    assert_eq!(listed.iter().map(|p| p.address).collect::<Vec<_>>(), registered);
    assert!(listed.iter().all(|p| p.active
        && !p.banned
        && p.reputation_bps == 5_000
        && p.stake == stake
        && p.successes == 0
        && p.attested_until > 0));
    let job = as_user
        .submit_job(B256::repeat_byte(3), B256::repeat_byte(2), U256::from(1000))
        .await
        .expect("submit");
    let picked = as_user.assign(job).await.expect("assign");
    assert!(registered.contains(&picked), "{picked} is a registered prover");
    assert_eq!(as_user.job(job).await.expect("job").assigned, picked);
    refused_with(as_user.assign(job).await, "JobRegistry", "AlreadyAssigned");
}

async fn events_follow_a_persisted_cursor(backend: &Backend) {
    let chain = deploy(backend).await;
    let (_, admin) = backend.provider(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cursor.json");
    let cursor = EventCursor::load(&path, chain.chain_id()).expect("fresh cursor");
    assert_eq!(cursor.next_block, 0);
    let token = chain.mint(admin, &[entry("a", b"a")]).await.expect("mint");
    chain.authorize(token, Address::repeat_byte(0xb0)).await.expect("authorize");

    let batch = chain.events_since(cursor, 1_000, 0).await.expect("poll");
    let names: Vec<String> = batch
        .events
        .iter()
        .filter_map(|e| match &e.event {
            VeilEvent::Inft(veil_ledger::bindings::INFT::INFTEvents::Minted(m)) => {
                assert_eq!(m.tokenId, token);
                Some("Minted".into())
            }
            VeilEvent::Inft(veil_ledger::bindings::INFT::INFTEvents::Authorization(a)) => {
                assert_eq!(a.to, Address::repeat_byte(0xb0));
                Some("Authorization".into())
            }
            _ => None,
        })
        .collect();
    assert_eq!(names, ["Minted", "Authorization"]);
    assert!(batch.events.windows(2).all(|w| (w[0].block, w[0].log_index) < (w[1].block, w[1].log_index)));
    batch.next.save(&path).expect("save");

    // A restarted follower resumes after what it handled.
    let resumed = EventCursor::load(&path, chain.chain_id()).expect("load");
    assert_eq!(resumed, batch.next);
    assert!(chain.events_since(resumed, 1_000, 0).await.expect("poll").events.is_empty());
    chain.revoke(token, Address::repeat_byte(0xb0)).await.expect("revoke");
    let later = chain.events_since(resumed, 1_000, 0).await.expect("poll");
    assert_eq!(later.events.len(), 1);
    assert!(matches!(
        later.events[0].event,
        VeilEvent::Inft(veil_ledger::bindings::INFT::INFTEvents::AuthorizationRevoked(_))
    ));
    // A cursor is never applied to another chain.
    assert!(EventCursor::load(&path, chain.chain_id() + 1).is_err());
}

/// Status, gas and logs of every transaction a chain mined, in order.
async fn receipts(backend: &Backend) -> Vec<(bool, u64, Option<Address>, Vec<alloy::primitives::Log>)> {
    let (p, _) = backend.provider(0);
    let head = p.get_block_number().await.expect("head");
    let mut out = Vec::new();
    for n in 1..=head {
        let block = p.get_block_by_number(n.into()).await.expect("block").expect("mined");
        for hash in block.transactions.hashes() {
            let r = p.get_transaction_receipt(hash).await.expect("receipt").expect("mined");
            let logs = r.inner.logs().iter().map(|l| l.inner.clone()).collect();
            out.push((r.status(), r.gas_used, r.contract_address, logs));
        }
    }
    out
}

#[tokio::test]
async fn both_chains_mine_the_same_receipts_for_the_same_workload() {
    let mut all = Vec::new();
    for backend in [Backend::embedded(), Backend::anvil()] {
        tokens_are_authorized_by_their_owner_only(&backend).await;
        jobs_complete_once_by_an_attested_prover_with_its_enclave_key(&backend).await;
        tokens_move_only_with_a_fresh_oracle_proof_for_this_chain(&backend).await;
        // Not jobs_go_to_the_prover_their_block_selects: which of two provers a job
        // goes to depends on the chain's block hashes, by design.
        all.push(receipts(&backend).await);
    }
    let (embedded, anvil) = (&all[0], &all[1]);
    assert!(embedded.len() > 20, "a real workload: {} transactions", embedded.len());
    assert_eq!(embedded.len(), anvil.len());
    for (i, (e, a)) in embedded.iter().zip(anvil).enumerate() {
        assert_eq!(e, a, "transaction {i}: embedded vs anvil");
    }
}
