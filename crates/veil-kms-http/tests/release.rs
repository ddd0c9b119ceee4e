//! Key release end to end over loopback HTTP, with simulated TDX evidence verified by
//! the production verifier; every refusal is checked for its code and its audit entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use veil_evidence::{Policy, TrustAnchors};
use veil_kms::{Broker, BrokerParts, Limits, MasterSecret, PolicyListAuthorizer, ReleasePolicy};
use veil_kms_client::{ClientError, KmsClient, evidence_for};
use veil_kms_http::{RateLimit, router_with_limit};
use veil_protocol::SignedAccessGrant;
use veil_protocol::kms::UserProof;
use veil_seal::Identity;
use veil_sim_tee::{DevPki, Faults, SimMeasurement, SimTdx};

/// 2026-03-01T00:00:00Z.
const NOW: u64 = 1_772_323_200;
/// The deployment the broker serves.
const CHAIN: u64 = 7;
const INFT: &str = "0x00000000000000000000000000000000000000c0";

/// The authorized user's wallet.
fn user() -> alloy::signers::local::PrivateKeySigner {
    "0x00000000000000000000000000000000000000000000000000000000000000a1".parse().expect("key")
}

/// `who`'s signed request for `token`, valid at the pinned time.
fn signed(who: &alloy::signers::local::PrivateKeySigner, token: u64) -> veil_protocol::SignedRequest {
    static NONCE: AtomicU64 = AtomicU64::new(1);
    veil_protocol::SignedRequest::sign(
        who,
        &veil_protocol::domain(CHAIN, INFT.parse().expect("address")),
        alloy::primitives::U256::from(token),
        veil_content::Root([3; 32]),
        serde_json::json!({ "ids": ["1"] }),
        alloy::primitives::U256::from(NONCE.fetch_add(1, Ordering::SeqCst)),
        NOW + 60,
    )
    .expect("sign")
}

fn pinned() -> u64 {
    NOW
}

static TICKS: AtomicU64 = AtomicU64::new(0);
/// Each reading is ten seconds after the last.
fn ticking() -> u64 {
    NOW + TICKS.fetch_add(10, Ordering::SeqCst)
}

fn good() -> SimMeasurement {
    SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32])
}

struct Setup {
    trust_dev_root: bool,
    allowed: Vec<String>,
    clock: fn() -> u64,
    challenge_ttl_secs: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            trust_dev_root: true,
            allowed: vec![good().measurement_id()],
            clock: pinned,
            challenge_ttl_secs: 60,
        }
    }
}

struct Kms {
    url: String,
    dir: tempfile::TempDir,
    broker_identity: Identity,
    pki: Arc<DevPki>,
}

impl Kms {
    fn audit_events(&self) -> Vec<serde_json::Value> {
        veil_audit::verify(&self.dir.path().join("audit.jsonl"), None).expect("audit log intact");
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["event"].clone())
            .collect()
    }

    /// The key of token `id` on this deployment.
    fn expected_token_key(&self, id: u64) -> [u8; 32] {
        let m = MasterSecret::open_or_create(&self.dir.path().join("master.sealed"), &self.broker_identity)
            .expect("master");
        *m.resource_key(&format!("token/{CHAIN}/{INFT}/{id}"))
    }

    fn attester(&self, m: SimMeasurement, faults: Faults) -> SimTdx {
        SimTdx::new(self.pki.clone(), m).with_faults(faults).with_clock(pinned)
    }
}

async fn start(setup: Setup) -> Kms {
    // Scenarios run many attestations within one pinned second: well past the default
    // allowance, which has its own test.
    start_limited(setup, 10_000).await
}

async fn start_limited(setup: Setup, per_second: u32) -> Kms {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Arc::new(DevPki::from_seed(&[7u8; 32]).expect("pki"));
    let broker_identity = Identity::from_seed(&[9u8; 32]);
    let mut anchors = TrustAnchors::vendor();
    if setup.trust_dev_root {
        anchors.intel_roots.push(pki.root_der().to_vec());
    }
    let mut release = ReleasePolicy::default();
    release.measurements.insert(veil_evidence::Tee::Tdx, setup.allowed.clone());
    for m in &setup.allowed {
        release.resources.insert(m.clone(), vec!["token/*".into()]);
    }
    let broker = Broker::new(BrokerParts {
        anchors,
        attestation: Policy::default(),
        release,
        authorizer: Box::new(PolicyListAuthorizer(
            [("42".to_owned(), vec![user().address().to_string()])].into(),
        )),
        master: MasterSecret::open_or_create(&dir.path().join("master.sealed"), &broker_identity)
            .expect("master"),
        audit: veil_audit::AuditLog::open(&dir.path().join("audit.jsonl")).expect("audit"),
        limits: Limits { challenge_ttl_secs: setup.challenge_ttl_secs, ..Limits::default() },
        identity: Identity::from_seed(&[9u8; 32]),
        deployment: Some(veil_kms::ChainRef { chain_id: CHAIN, contract: INFT.into() }),
    })
    .expect("broker");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = router_with_limit(Arc::new(broker), setup.clock, RateLimit::new(per_second))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Kms { url, dir, broker_identity, pki }
}

fn refused(r: Result<impl std::fmt::Debug, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Refused(p)) => (p.status, p.code.as_str().to_owned()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn attested_enclave_receives_the_token_key_sealed_to_its_key() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let session =
        client.open_session(&kms.attester(good(), Faults::default()), &enclave).await.expect("attest");
    assert!(session.dev_root, "the grant says the dev root was used");
    assert_eq!(session.measurement, good().measurement_id());

    let released = client
        .resource(&session.session, "token/42", Some(UserProof::from(&signed(&user(), 42))))
        .await
        .expect("release");
    assert!(released.dev_root);
    assert_eq!(released.authorization.as_ref().map(|a| a.source.as_str()), Some("policy-file"));
    let key = KmsClient::open_key(&enclave, &released).expect("opens with the enclave key");
    assert_eq!(*key, kms.expected_token_key(42));
    // Only the attested key opens it.
    let other = Identity::generate().expect("identity");
    assert!(KmsClient::open_key(&other, &released).is_err());

    let events = kms.audit_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["event"], "attest");
    assert_eq!(events[0]["decision"], "granted");
    assert_eq!(events[1]["event"], "resource");
    assert_eq!(events[1]["decision"], "granted");
    assert_eq!(events[1]["user"], user().address().to_string());
}

#[tokio::test]
async fn data_sealed_to_a_token_opens_only_with_that_tokens_released_key() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let token_key = client.token_public_key("42".parse().unwrap()).await.expect("public key");
    assert_eq!(token_key, client.token_public_key("42".parse().unwrap()).await.expect("again"), "stable");
    assert_ne!(token_key, client.token_public_key("43".parse().unwrap()).await.expect("other token"));
    // The owner seals the token's data to it, without any attestation.
    let records = b"patient,age\n1,54\n".repeat(100);
    let mut sealed = Vec::new();
    veil_seal::seal(&records[..], &mut sealed, &[token_key]).expect("seal");

    let enclave = Identity::generate().expect("identity");
    let session =
        client.open_session(&kms.attester(good(), Faults::default()), &enclave).await.expect("attest");
    let released = client
        .resource(&session.session, "token/42", Some(UserProof::from(&signed(&user(), 42))))
        .await
        .expect("release");
    let token_identity = KmsClient::open_token_identity(&enclave, &released).expect("opens");
    assert_eq!(token_identity.public_key(), token_key);
    let mut opened = Vec::new();
    veil_seal::open(&sealed[..], &mut opened, &token_identity).expect("the released key opens the data");
    assert_eq!(opened, records);
    // Nobody else's key opens it, and malformed token ids are refused.
    assert!(veil_seal::open(&sealed[..], std::io::sink(), &enclave).is_err());
    // The client cannot spell them (TokenId has one parser); a raw caller can.
    assert!("".parse::<veil_protocol::TokenId>().is_err());
    for bad in ["0042", "4x", "-1", "0x2a", "01"] {
        assert!(bad.parse::<veil_protocol::TokenId>().is_err(), "{bad:?}");
        let resp =
            reqwest::get(format!("{}/v1/kms/tokens/{bad}/public-key", kms.url)).await.expect("answers");
        assert_eq!(resp.status().as_u16(), 400, "{bad:?}");
        let p: veil_protocol::Problem = resp.json().await.expect("problem document");
        assert_eq!(p.code.as_str(), "request.malformed", "{bad:?}");
    }
}

/// A model's sealing key is public and per model; its key is a resource like any
/// other, so a measurement the policy allows only `token/*` is refused it (deny by
/// default), and the refusal is audited.
#[tokio::test]
async fn a_model_key_is_released_only_where_the_policy_names_models() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let (a, b) = (veil_content::Root([1; 32]), veil_content::Root([2; 32]));
    let key = client.model_public_key(&a).await.expect("public key");
    assert_eq!(key, client.model_public_key(&a).await.expect("again"), "stable");
    assert_ne!(key, client.model_public_key(&b).await.expect("other model"));
    assert_ne!(key, client.token_public_key("42".parse().unwrap()).await.expect("a token's"));
    let resp = reqwest::get(format!("{}/v1/kms/models/0x12/public-key", kms.url)).await.expect("answers");
    assert_eq!(resp.status().as_u16(), 400);

    let enclave = Identity::generate().expect("identity");
    let session =
        client.open_session(&kms.attester(good(), Faults::default()), &enclave).await.expect("attest");
    let resource = veil_protocol::kms::model_resource(&a);
    match client.resource(&session.session, &resource, None).await {
        Err(veil_kms_client::ClientError::Refused(p)) => assert_eq!(p.code.as_str(), "kms.resource"),
        other => panic!("a model key was released to a token-only measurement: {other:?}"),
    }
    let events = kms.audit_events();
    let last = events.last().expect("audited");
    assert_eq!(
        (last["resource"].as_str(), last["decision"].as_str()),
        (Some(resource.as_str()), Some("refused"))
    );
}

#[tokio::test]
async fn refused_attestations_each_have_their_code_and_an_audit_entry() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let wrong = SimMeasurement::from_digests([9; 48], [2; 48], &[3; 32]);
    let cases = [
        (kms.attester(wrong, Faults::default()), "kms.measurement"),
        (kms.attester(good(), Faults { debug: true, ..Faults::default() }), "attestation.debug"),
        (kms.attester(good(), Faults { revoked_pck: true, ..Faults::default() }), "attestation.revoked"),
        (
            kms.attester(good(), Faults { expired_collateral: true, ..Faults::default() }),
            "attestation.collateral_expired",
        ),
    ];
    for (attester, code) in &cases {
        let (status, got) = refused(client.open_session(attester, &enclave).await);
        assert_eq!((status, got.as_str()), (403, *code));
    }
    let events = kms.audit_events();
    assert_eq!(events.len(), cases.len());
    for (e, (_, code)) in events.iter().zip(&cases) {
        assert_eq!(e["decision"], "refused");
        assert_eq!(e["code"], *code);
    }
}

#[tokio::test]
async fn a_nonce_is_good_once() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let nonce = client.challenge().await.expect("challenge").nonce;
    let evidence =
        evidence_for(&kms.attester(good(), Faults::default()), &enclave, &nonce).expect("evidence");
    client.attest(evidence.clone()).await.expect("first use");
    assert_eq!(refused(client.attest(evidence).await), (403, "attestation.replay".into()));
    // A nonce the broker never issued.
    let made_up =
        evidence_for(&kms.attester(good(), Faults::default()), &enclave, &"ab".repeat(32)).expect("evidence");
    assert_eq!(refused(client.attest(made_up).await), (403, "attestation.replay".into()));
}

#[tokio::test]
async fn an_expired_nonce_is_refused() {
    let kms = start(Setup { clock: ticking, challenge_ttl_secs: 5, ..Setup::default() }).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let nonce = client.challenge().await.expect("challenge").nonce;
    let evidence =
        evidence_for(&kms.attester(good(), Faults::default()), &enclave, &nonce).expect("evidence");
    // The broker's clock moved 10 s past issue; the nonce lived 5 s.
    assert_eq!(refused(client.attest(evidence).await), (403, "attestation.replay".into()));
}

#[tokio::test]
async fn evidence_bound_to_another_key_is_refused() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let thief = Identity::generate().expect("identity");
    let nonce = client.challenge().await.expect("challenge").nonce;
    let mut evidence =
        evidence_for(&kms.attester(good(), Faults::default()), &enclave, &nonce).expect("evidence");
    let rd = evidence.runtime_data.as_mut().expect("runtime data");
    let before = rd.public_keys["hpke"].clone();
    rd.public_keys.insert("hpke".into(), thief.public_key().to_string());
    assert_ne!(rd.public_keys["hpke"], before);
    assert_eq!(refused(client.attest(evidence).await), (403, "attestation.binding".into()));
}

#[tokio::test]
async fn tampered_evidence_is_refused() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let nonce = client.challenge().await.expect("challenge").nonce;
    let mut evidence =
        evidence_for(&kms.attester(good(), Faults::default()), &enclave, &nonce).expect("evidence");
    let mut quote = hex::decode(&evidence.quote).expect("hex");
    quote[48 + 136 + 1] ^= 0x80; // inside MRTD
    let tampered = hex::encode(&quote);
    assert_ne!(tampered, evidence.quote);
    evidence.quote = tampered;
    assert_eq!(refused(client.attest(evidence).await), (403, "attestation.signature".into()));
}

/// Open a session with good simulated evidence against a broker set up as `setup`.
async fn session_refusal(setup: Setup) -> (u16, String) {
    let kms = start(setup).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let r = client.open_session(&kms.attester(good(), Faults::default()), &enclave).await;
    refused(r)
}

#[tokio::test]
async fn dev_evidence_is_refused_when_the_dev_root_is_not_configured() {
    let setup = Setup { trust_dev_root: false, ..Setup::default() };
    assert_eq!(session_refusal(setup).await, (403, "attestation.chain".into()));
}

#[tokio::test]
async fn an_empty_allowlist_denies_everyone() {
    let setup = Setup { allowed: vec![], ..Setup::default() };
    assert_eq!(session_refusal(setup).await, (403, "kms.measurement".into()));
}

#[tokio::test]
async fn resources_need_a_session_a_grant_and_an_authorized_user() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let s = client
        .open_session(&kms.attester(good(), Faults::default()), &enclave)
        .await
        .expect("attest")
        .session;
    assert_eq!(
        refused(
            client
                .resource(
                    &s,
                    "token/42",
                    Some(UserProof::from(&signed(&alloy::signers::local::PrivateKeySigner::random(), 42)))
                )
                .await
        ),
        (403, "kms.not_authorized".into())
    );
    assert_eq!(refused(client.resource(&s, "token/42", None).await), (403, "kms.not_authorized".into()));
    assert_eq!(
        refused(client.resource(&s, "token/43", Some(UserProof::from(&signed(&user(), 43)))).await),
        (403, "kms.not_authorized".into())
    );
    assert_eq!(refused(client.resource(&s, "model/x", None).await), (403, "kms.resource".into()));
    assert_eq!(
        refused(
            client.resource(&"00".repeat(32), "token/42", Some(UserProof::from(&signed(&user(), 42)))).await
        ),
        (401, "kms.session".into())
    );
    // Issue 14, finding 7: refusals wrote what strangers sent (up to 256 KiB a time)
    // into the fsynced log. Now every logged string is bounded.
    let huge = "r".repeat(200_000);
    assert_eq!(refused(client.resource(&s, &huge, None).await), (403, "kms.resource".into()));
    let events = kms.audit_events();
    assert_eq!(events.len(), 7);
    assert!(events[1..].iter().all(|e| e["decision"] == "refused"));
    let logged = events[6]["resource"].as_str().unwrap();
    assert!(logged.starts_with("sha256:") && logged.ends_with("(200000 bytes)"), "{logged}");
    let size = std::fs::metadata(kms.dir.path().join("audit.jsonl")).unwrap().len();
    assert!(size < 8_000, "the whole log is {size} bytes");
}

#[tokio::test]
async fn malformed_requests_get_problem_documents() {
    let kms = start(Setup::default()).await;
    let http = reqwest::Client::new();
    for (body, ctype, status) in [
        ("{", "application/json", 400),
        (r#"{"evidence":{"tee":"nvidia","quote":"00","collateral":null}}"#, "application/json", 400),
        (r#"{"evidence":1}"#, "application/json", 400),
        ("{}", "text/plain", 415),
    ] {
        let resp = http
            .post(format!("{}/v1/kms/attest", kms.url))
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), status, "{body}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let p: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(p["code"], "request.malformed");
    }
    let big =
        format!(r#"{{"evidence":{{"tee":"tdx","quote":"{}","collateral":null}}}}"#, "0".repeat(300_000));
    let resp = http
        .post(format!("{}/v1/kms/attest", kms.url))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 413);
    let resp = http.get(format!("{}/nope", kms.url)).send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 404);
    assert!(kms.audit_events().is_empty(), "malformed requests reach no decision");
}

static STEP: AtomicU64 = AtomicU64::new(0);
/// The pinned time plus however many seconds the test has stepped.
fn stepped() -> u64 {
    NOW + STEP.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_flood_from_one_client_is_limited_and_other_clients_are_not() {
    let kms = start_limited(Setup { clock: stepped, ..Default::default() }, 5).await;
    let challenge = |client: reqwest::Client| {
        let url = format!("{}/v1/kms/challenge", kms.url);
        async move { client.post(url).send().await.expect("send") }
    };
    let flooder = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(challenge(flooder.clone()).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let r = challenge(flooder.clone()).await;
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(p["code"], "kms.rate_limited");
    // Attestation shares the allowance: the flooder cannot spend evidence checks either.
    let enclave = Identity::generate().expect("identity");
    let client = KmsClient::new(&kms.url);
    assert_eq!(
        refused(client.open_session(&kms.attester(good(), Faults::default()), &enclave).await),
        (429, "kms.rate_limited".into())
    );
    // A worker on another address is served in the same second.
    let worker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    assert_eq!(challenge(worker).await.status(), 200);
    // The next second the flooder's allowance is back, and an enclave attests.
    STEP.store(1, Ordering::SeqCst);
    client
        .open_session(&kms.attester(good(), Faults::default()), &enclave)
        .await
        .expect("attested after the window");
    // Requests the limit refused reached no decision: the log holds only the one grant.
    let events = kms.audit_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["decision"], "granted");
}

/// `who`'s access grant for `token`, ending at `expiry`.
fn grant(who: &alloy::signers::local::PrivateKeySigner, token: u64, expiry: u64) -> SignedAccessGrant {
    SignedAccessGrant::sign(
        who,
        &veil_protocol::domain(CHAIN, INFT.parse().expect("address")),
        token.into(),
        veil_content::Root([3; 32]),
        128,
        alloy::primitives::U256::from(5),
        expiry,
    )
    .expect("sign")
}

/// A stock client's API key (an access grant) stands for its user at the broker only
/// for the token it names, within its time, signed by the user it names; and it never
/// travels together with a signed request.
#[tokio::test]
async fn an_access_grant_releases_its_tokens_key_and_nothing_else() {
    let kms = start(Setup::default()).await;
    let client = KmsClient::new(&kms.url);
    let enclave = Identity::generate().expect("identity");
    let s = client
        .open_session(&kms.attester(good(), Faults::default()), &enclave)
        .await
        .expect("attest")
        .session;
    let good_grant = grant(&user(), 42, NOW + 3600);
    let released = client
        .resource(&s, "token/42", Some(UserProof::from(&good_grant)))
        .await
        .expect("an authorized user's grant");
    assert_eq!(released.authorization.as_ref().map(|a| a.user.clone()), Some(user().address().to_string()));
    assert_eq!(*KmsClient::open_key(&enclave, &released).expect("opens"), kms.expected_token_key(42));
    let events = kms.audit_events();
    let last = events.last().expect("audited");
    assert_eq!(last["user"], user().address().to_string());
    assert!(last["grant"].as_str().is_some_and(|g| g.starts_with("0x") && g.len() == 66), "{last}");

    // Another token's grant, an expired one, a stranger's, one naming the user but
    // signed by someone else: refused.
    let stranger = alloy::signers::local::PrivateKeySigner::random();
    let mut impostor = grant(&stranger, 42, NOW + 3600);
    impostor.user = user().address().to_string();
    for (what, g, code) in [
        ("another token", grant(&user(), 43, NOW + 3600), "kms.not_authorized"),
        ("expired", grant(&user(), 42, NOW - 1), "request.expired"),
        ("too long", grant(&user(), 42, NOW + veil_protocol::MAX_GRANT_SECS + 1), "request.expiry_too_far"),
        ("a stranger's", grant(&stranger, 42, NOW + 3600), "kms.not_authorized"),
        ("an impostor's", impostor, "request.bad_signature"),
    ] {
        let (_, got) = refused(client.resource(&s, "token/42", Some(UserProof::from(&g))).await);
        assert_eq!(got, code, "{what}");
    }

    // Both a request and a grant: which user would the key be for? Refused.
    let both = veil_protocol::kms::ResourceRequest {
        session: s.clone(),
        resource: "token/42".into(),
        request: Some(signed(&user(), 42)),
        grant: Some(good_grant),
    };
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/kms/resource", kms.url))
        .json(&both)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "request.malformed", "{body}");
}
