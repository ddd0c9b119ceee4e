//! Full key release over loopback HTTP (challenge, attest with simulated TDX evidence,
//! resource), as an enclave runs it: latency percentiles with one client, then
//! releases per second with two concurrent clients. The audit log (fsync per
//! decision) lives in the system temp directory.
//!
//! `cargo bench -p veil-kms-http --bench release [-- ROUNDS SECONDS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_evidence::{Policy, TrustAnchors};
use veil_kms::{Broker, BrokerParts, Limits, MasterSecret, PolicyListAuthorizer, ReleasePolicy};
use veil_kms_client::KmsClient;
use veil_protocol::kms::UserProof;
use veil_seal::Identity;
use veil_sim_tee::{DevPki, SimMeasurement, SimTdx};

const CHAIN: u64 = 7;
const INFT: &str = "0x00000000000000000000000000000000000000c0";

fn user() -> alloy::signers::local::PrivateKeySigner {
    "0x00000000000000000000000000000000000000000000000000000000000000a1".parse().expect("key")
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh signed request for token 42 (what a worker forwards for its user).
fn request() -> veil_protocol::SignedRequest {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    veil_protocol::SignedRequest::sign(
        &user(),
        &veil_protocol::domain(CHAIN, INFT.parse().expect("address")),
        alloy::primitives::U256::from(42),
        veil_content::Root([3; 32]),
        serde_json::json!({ "ids": ["1"] }),
        alloy::primitives::U256::from(NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        now() + 300,
    )
    .expect("sign")
}

async fn release_once(client: &KmsClient, attester: &SimTdx, enclave: &Identity) {
    let s = client.open_session(attester, enclave).await.expect("attest");
    let r =
        client.resource(&s.session, "token/42", Some(UserProof::from(&request()))).await.expect("release");
    KmsClient::open_key(enclave, &r).expect("open");
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rounds: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Arc::new(DevPki::from_seed(&[7u8; 32]).expect("pki"));
    let m = SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]);
    let mr_td = m.measurement_id();
    let broker_id = Identity::generate().expect("identity");
    let mut anchors = TrustAnchors::vendor();
    anchors.intel_roots.push(pki.root_der().to_vec());
    let mut release = ReleasePolicy::default();
    release.measurements.insert(veil_evidence::Tee::Tdx, vec![mr_td.clone()]);
    release.resources.insert(mr_td, vec!["token/*".into()]);
    let broker = Broker::new(BrokerParts {
        anchors,
        attestation: Policy::default(),
        release,
        authorizer: Box::new(PolicyListAuthorizer(
            [("42".to_owned(), vec![user().address().to_string()])].into(),
        )),
        master: MasterSecret::open_or_create(&dir.path().join("master.sealed"), &broker_id).expect("master"),
        audit: veil_audit::AuditLog::open(&dir.path().join("audit.jsonl")).expect("audit"),
        limits: Limits::default(),
        identity: broker_id,
        deployment: Some(veil_kms::ChainRef { chain_id: CHAIN, contract: INFT.into() }),
    })
    .expect("broker");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    // The bench measures the broker's work, so no per-client allowance applies.
    let app =
        veil_kms_http::router_with_limit(Arc::new(broker), now, veil_kms_http::RateLimit::new(u32::MAX));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let attester = SimTdx::new(pki, m);
    let enclave = Identity::generate().expect("identity");
    let client = KmsClient::new(&url);
    for _ in 0..20 {
        release_once(&client, &attester, &enclave).await; // warm up connections and caches
    }

    // Evidence generation alone (client side: quote + collateral signing).
    let t = Instant::now();
    for _ in 0..rounds {
        veil_kms_client::evidence_for(&attester, &enclave, &"00".repeat(32)).expect("evidence");
    }
    let evidence_ms = t.elapsed().as_secs_f64() * 1e3 / rounds as f64;

    let mut lat = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        release_once(&client, &attester, &enclave).await;
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "key release, 1 client, {rounds} rounds: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms (of which evidence generation {evidence_ms:.2} ms)",
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99)
    );

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (client, attester) = (KmsClient::new(&url), attester.clone());
        tasks.push(tokio::spawn(async move {
            let enclave = Identity::generate().expect("identity");
            let mut n = 0u64;
            while Instant::now() < deadline {
                release_once(&client, &attester, &enclave).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    println!(
        "key release, 2 concurrent clients, {seconds} s: {total} releases, {:.1} releases/s",
        total as f64 / seconds as f64
    );
}
