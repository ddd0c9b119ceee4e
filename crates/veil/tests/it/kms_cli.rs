//! `veil kms serve` as an operator runs it: a config file, a dev PKI named explicitly,
//! a simulated worker measured from a real binary, and the audit log checked after.

use crate::common;

use common::{Server, VEIL, ok, veil};
use std::path::Path;
use std::sync::Arc;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use veil_kms_client::KmsClient;
use veil_protocol::SignedRequest;
use veil_protocol::kms::UserProof;
use veil_seal::Identity;
use veil_sim_tee::{DevPki, SimMeasurement, SimTdx};

/// The user's wallet (a fixed key, so configs can name its address).
fn user() -> PrivateKeySigner {
    "0x00000000000000000000000000000000000000000000000000000000000000a1".parse().expect("key")
}

/// The deployment a policy-file broker serves in these tests.
const CHAIN: u64 = 7;
const INFT: &str = "0x00000000000000000000000000000000000000c0";

/// `who`'s signed request for `token` on chain `chain`, INFT `inft`.
fn signed(who: &PrivateKeySigner, token: &str, chain: u64, inft: &str) -> SignedRequest {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    SignedRequest::sign(
        who,
        &veil_protocol::domain(chain, inft.parse().expect("address")),
        token.parse().expect("token"),
        veil_content::Root([3; 32]),
        serde_json::json!({ "ids": ["1"] }),
        U256::from(NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        now + 60,
    )
    .expect("sign")
}
const MODEL_ROOT: &str = "0x0303030303030303030303030303030303030303030303030303030303030303";

/// Start the broker and return it with its URL.
fn serve(config: &Path) -> (Server, String) {
    common::serve(&["kms", "serve", "--config", config.to_str().expect("utf-8")])
}

/// A broker directory whose allowlist holds the measurement of `veil` itself as
/// the worker binary; `dev_roots` names the dev PKI only when `trust_dev` is set.
fn setup(dir: &Path, trust_dev: bool) -> (String, Arc<DevPki>, SimMeasurement) {
    setup_with(
        dir,
        trust_dev,
        &format!(
            "[authorizations]\n\"42\" = [\"{}\"]\n[deployment]\nchain_id = {CHAIN}\ncontract = \"{INFT}\"\n",
            user().address()
        ),
    )
}

/// As `setup`, with `authz` as the config's authorization section.
fn setup_with(dir: &Path, trust_dev: bool, authz: &str) -> (String, Arc<DevPki>, SimMeasurement) {
    let p = |name: &str| dir.join(name).to_str().expect("utf-8").to_owned();
    ok(&veil(&["sim-tee", "init", "--dir", &p("pki")]));
    ok(&veil(&["keygen", "--out", &p("kms.key")]));
    std::fs::write(dir.join("worker.json"), r#"{"model":"digits","threads":2}"#).expect("write");
    let mr_td = ok(&veil(&[
        "sim-tee",
        "measure",
        "--binary",
        VEIL,
        "--config",
        &p("worker.json"),
        "--model-root",
        MODEL_ROOT,
    ]));
    let mr_td = mr_td.trim().to_owned();
    let dev_roots = if trust_dev { r#"dev_roots = ["pki/dev-root.pem"]"# } else { "" };
    let config = format!(
        "listen = \"127.0.0.1:0\"\nidentity = \"kms.key\"\nmaster_secret = \"master.sealed\"\naudit_log = \"audit.jsonl\"\n{dev_roots}\n\
         [release.measurements]\ntdx = [\"{mr_td}\"]\n[release.resources]\n\"{mr_td}\" = [\"token/*\"]\n{authz}"
    );
    std::fs::write(dir.join("kms.toml"), config).expect("write");
    let seed: [u8; 32] = hex::decode(std::fs::read_to_string(dir.join("pki/seed")).expect("seed").trim())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let config: serde_json::Value = serde_json::from_str(r#"{"threads":2,"model":"digits"}"#).expect("json");
    let root: [u8; 32] = hex::decode(&MODEL_ROOT[2..]).expect("hex").try_into().expect("32");
    let m = SimMeasurement::of(Path::new(VEIL), &config, &root).expect("measure");
    assert_eq!(m.measurement_id(), mr_td, "the CLI and the library measure alike");
    (p("kms.toml"), Arc::new(DevPki::from_seed(&seed).expect("pki")), m)
}

#[tokio::test]
async fn a_measured_simulated_worker_gets_its_key_and_the_log_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, pki, m) = setup(dir.path(), true);
    let (_server, url) = serve(Path::new(&config));
    let client = KmsClient::new(&url);
    let enclave = Identity::generate().expect("identity");
    let session = client.open_session(&SimTdx::new(pki.clone(), m.clone()), &enclave).await.expect("attest");
    assert!(session.dev_root);
    let released = client
        .resource(&session.session, "token/42", Some(UserProof::from(&signed(&user(), "42", CHAIN, INFT))))
        .await
        .expect("release");
    KmsClient::open_key(&enclave, &released).expect("opens");
    // Signed by the broker for this enclave's key, and by nobody else's.
    let broker = client.identity().await.expect("identity").ed25519;
    veil_kms_client::verify_grant(&released, &broker, &enclave.public_key()).expect("the broker's release");
    let other = Identity::generate().expect("identity");
    assert!(veil_kms_client::verify_grant(&released, &broker, &other.public_key()).is_err());
    let stranger = PrivateKeySigner::random();
    let refused = client
        .resource(&session.session, "token/42", Some(UserProof::from(&signed(&stranger, "42", CHAIN, INFT))))
        .await
        .expect_err("not authorized");
    assert_eq!(refused.code().map(|c| c.as_str()), Some("kms.not_authorized"));

    // Issue 14, finding 3: an allowlisted enclave used to get any token's key by
    // naming an authorized user (the owner always is). The user is now whoever signed.
    let http = reqwest::Client::new();
    let naming = http
        .post(format!("{url}/v1/kms/resource"))
        .json(&serde_json::json!({
            "session": session.session, "resource": "token/42", "user": user().address().to_string(),
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(naming.status(), 400, "a user named without a signature is not a request");
    for (what, request) in [
        ("no signed request", None),
        ("the user's request for another token", Some(signed(&user(), "43", CHAIN, INFT))),
        ("the user's key under another deployment", Some(signed(&user(), "42", CHAIN + 1, INFT))),
    ] {
        let err = client
            .resource(&session.session, "token/42", request.as_ref().map(UserProof::from))
            .await
            .expect_err(what);
        assert_eq!(err.code().map(|c| c.as_str()), Some("kms.not_authorized"), "{what}");
    }
    let mut forged = signed(&user(), "42", CHAIN, INFT);
    forged.input = serde_json::json!({ "ids": ["2"] });
    let err = client
        .resource(&session.session, "token/42", Some(UserProof::from(&forged)))
        .await
        .expect_err("an altered request");
    assert_eq!(err.code().map(|c| c.as_str()), Some("kms.not_authorized"), "{err}");

    // A worker built from another binary measures differently and is refused.
    let other = SimMeasurement::from_digests([0xee; 48], m.config, &[3; 32]);
    let err = client.open_session(&SimTdx::new(pki, other), &enclave).await.expect_err("other binary");
    assert_eq!(err.code().map(|c| c.as_str()), Some("kms.measurement"));

    let audit = dir.path().join("audit.jsonl");
    let out = ok(&veil(&["kms", "audit", "verify", audit.to_str().expect("utf-8")]));
    assert!(out.starts_with("audit log intact: 8 entries"), "{out}");
}

#[tokio::test]
async fn without_dev_roots_in_the_config_simulated_evidence_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, pki, m) = setup(dir.path(), false);
    let (_server, url) = serve(Path::new(&config));
    let enclave = Identity::generate().expect("identity");
    let err =
        KmsClient::new(&url).open_session(&SimTdx::new(pki, m), &enclave).await.expect_err("no dev root");
    assert_eq!(err.code().map(|c| c.as_str()), Some("attestation.chain"));
}

#[test]
fn bad_configs_fail_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("kms.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nidentity = \"k\"\nmaster_secret = \"m\"\naudit_log = \"a\"\nsurprise = 1\n")
        .expect("write");
    let out = veil(&["kms", "serve", "--config", cfg.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("surprise"), "{err}");
    assert!(!dir.path().join("a").exists(), "nothing created for a bad config");
}

#[tokio::test]
async fn with_a_ledger_the_chain_decides_and_the_audit_names_the_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = dir.path().join("chain");
    let c = c.to_str().expect("utf-8");
    ok(&veil(&["chain", "--chain-dir", c, "init"]));
    let (_chain, rpc) = common::serve(&["chain", "--chain-dir", c, "start", "--listen", "127.0.0.1:0"]);
    let deployment = format!("{c}/deployment.json");
    let key = format!("{c}/operator.key");
    let on_chain =
        |args: &[&str]| common::veil_with(&["--rpc", &rpc, "--deployment", &deployment, "--key", &key], args);
    let token = ok(&on_chain(&["nft", "mint", "--data", MODEL_ROOT])).trim().to_owned();
    let user_address = user().address().to_string();
    ok(&on_chain(&["nft", "authorize", &token, &user_address]));
    let inft: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&deployment).expect("deployment")).expect("json");
    let inft = inft["inft"].as_str().expect("inft").to_owned();
    let chain_id = veil_chain::DEFAULT_CHAIN_ID;

    let authz = format!("[ledger]\nrpc = \"{rpc}\"\ndeployment = \"{deployment}\"\n");
    let (config, pki, m) = setup_with(dir.path(), true, &authz);
    let (_kms, url) = serve(Path::new(&config));
    let client = KmsClient::new(&url);

    // The owner seals the token's data to the token's key, from the command line.
    let token_key = ok(&veil(&["kms", "token-key", "--url", &url, &token])).trim().to_owned();
    assert!(token_key.starts_with("veilpk1"), "{token_key}");
    let plain = dir.path().join("records.csv");
    std::fs::write(&plain, b"age,bp\n54,137\n").expect("write");
    let sealed = dir.path().join("records.sealed");
    ok(&veil(&["seal", "--to", &token_key, plain.to_str().expect("utf-8"), sealed.to_str().expect("utf-8")]));
    let err = common::fails(&veil(&["kms", "token-key", "--url", &url, "01"]));
    assert!(err.contains("request.malformed") || err.contains("decimal"), "{err}");
    let enclave = Identity::generate().expect("identity");
    let session = client.open_session(&SimTdx::new(pki, m), &enclave).await.expect("attest");
    let resource = format!("token/{token}");
    let request = signed(&user(), &token, chain_id, &inft);
    let released = client
        .resource(&session.session, &resource, Some(UserProof::from(&request)))
        .await
        .expect("authorized on chain");
    // Inside the enclave, the released key opens what the owner sealed.
    let token_identity = KmsClient::open_token_identity(&enclave, &released).expect("opens");
    let mut opened = Vec::new();
    veil_seal::open(std::fs::File::open(&sealed).expect("sealed"), &mut opened, &token_identity)
        .expect("the released token key opens the owner's data");
    assert_eq!(opened, b"age,bp\n54,137\n");

    // Another spelling of the same token names another resource (another key): the
    // chain would answer for the number, so the broker refuses the spelling first.
    let n: u64 = token.parse().expect("decimal");
    for spelling in [format!("token/0x{n:x}"), format!("token/0{token}")] {
        let err = client
            .resource(&session.session, &spelling, Some(UserProof::from(&request)))
            .await
            .expect_err("a second spelling");
        assert_eq!(err.code().map(|c| c.as_str()), Some("kms.not_authorized"), "{spelling}");
    }

    // Revoked on chain: the next release is refused.
    ok(&on_chain(&["nft", "revoke", &token, &user_address]));
    let err = client
        .resource(
            &session.session,
            &resource,
            Some(UserProof::from(&signed(&user(), &token, chain_id, &inft))),
        )
        .await
        .expect_err("revoked");
    assert_eq!(err.code().map(|c| c.as_str()), Some("kms.not_authorized"));

    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    let grant = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find_map(|e| {
            e.pointer("/event/authorization").cloned().or_else(|| e.pointer("/authorization").cloned())
        })
        .expect("a decision sourced from the chain");
    assert!(grant["source"].as_str().unwrap().starts_with("chain 32273 INFT 0x"), "{grant}");
    assert!(grant["block"].as_u64().unwrap() > 5, "the block the answer was read at: {grant}");
}

#[test]
fn a_ledger_and_a_policy_list_together_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let authz = format!(
        "[authorizations]\n\"1\" = [\"{}\"]\n[ledger]\nrpc = \"http://127.0.0.1:9\"\ndeployment = \"d.json\"\n",
        user().address()
    );
    let (config, _, _) = setup_with(dir.path(), true, &authz);
    let out = veil(&["kms", "serve", "--config", &config]);
    let err = common::fails(&out);
    assert!(err.contains("one place"), "{err}");
}

/// Policy before effect, for a broker run apart from `veil up`: with `[log]` in
/// its configuration it serves only once the log provably holds its release policy
/// (checked by inclusion under the log key it pins). A wrong declaration token or
/// a log answering under another key → it does not start.
#[tokio::test]
async fn a_broker_with_a_log_serves_only_once_its_policy_is_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, pki, m) = setup(dir.path(), true);
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let log_key = ok(&veil(&["log", "keygen", "--name", "test.example/log", "--out", &p("log.key")]));
    let log_key = log_key.trim().to_owned();
    ok(&veil(&["log", "token", "--out", &p("log.token")]));
    ok(&veil(&["log", "token", "--out", &p("stolen.token")]));
    let (_log, log_url) = common::serve(&[
        "log",
        "serve",
        "--dir",
        &p("log"),
        "--key",
        &p("log.key"),
        "--listen",
        "127.0.0.1:0",
        "--declare-token",
        &p("log.token"),
    ]);
    let (_, other_key) = veil_tlog::generate_key("test.example/log", &[9; 32]).expect("key");
    let base = std::fs::read_to_string(&config).expect("config");
    let with_log = |key: &str, token: &str| {
        std::fs::write(
            &config,
            format!("{base}\n[log]\nurl = \"{log_url}\"\nkey = \"{key}\"\ntoken_file = \"{token}\"\n"),
        )
        .expect("write")
    };
    let notable = || async {
        reqwest::get(format!("{log_url}/v1/log/notable"))
            .await
            .expect("get")
            .json::<serde_json::Value>()
            .await
            .expect("json")
    };

    // The broker warns about its dev roots first; its error is the last line.
    let refused = || {
        let out = veil(&["kms", "serve", "--config", &config]);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).trim_end().lines().last().unwrap_or_default().to_owned()
    };
    with_log(&log_key, "stolen.token");
    let err = refused();
    assert!(err.contains("request.unauthenticated"), "{err}");
    assert_eq!(notable().await["entries"].as_array().expect("list").len(), 0);

    with_log(&other_key, "log.token");
    let err = refused();
    assert!(err.contains("not signed by log key") && err.contains("log.bad_checkpoint"), "{err}");

    with_log(&log_key, "log.token");
    let (_broker, url) = serve(Path::new(&config));
    let enclave = Identity::generate().expect("identity");
    KmsClient::new(&url).open_session(&SimTdx::new(pki, m.clone()), &enclave).await.expect("attest");
    let entries = notable().await["entries"].clone();
    let policies: Vec<u64> = entries
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["type"] == "policy")
        .map(|e| e["index"].as_u64().expect("index"))
        .collect();
    // The wrong-key attempt reached the log too; each declaration is one policy entry.
    assert_eq!(policies.len(), 2, "{entries}");
    let entry: serde_json::Value = reqwest::get(format!("{log_url}/v1/log/entries/{}", policies[1]))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(entry["measurements"][0], format!("tdx:{}", m.measurement_id()));
    assert!(dir.path().join("audit.policy.inclusion").exists());
}
