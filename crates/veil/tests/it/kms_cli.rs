//! `veil kms serve` as an operator runs it: a config file, a dev PKI named explicitly,
//! a simulated worker measured from a real binary, and the audit log checked after.

use crate::common;

use common::{Server, VEIL, ok, veil};
use std::path::Path;
use std::sync::Arc;

use veil_kms_client::KmsClient;
use veil_seal::Identity;
use veil_sim_tee::{DevPki, SimMeasurement, SimTdx};

const USER: &str = "0x00000000000000000000000000000000000000a1";
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
        &format!("[authorizations]\n\"42\" = [\"{USER}\"]\n"),
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
    let dev_roots = if trust_dev {
        r#"dev_roots = ["pki/dev-root.pem"]"#
    } else {
        ""
    };
    let config = format!(
        "listen = \"127.0.0.1:0\"\nidentity = \"kms.key\"\nmaster_secret = \"master.sealed\"\naudit_log = \"audit.jsonl\"\n{dev_roots}\n\
         [release.measurements]\ntdx = [\"{mr_td}\"]\n[release.resources]\n\"{mr_td}\" = [\"token/*\"]\n{authz}"
    );
    std::fs::write(dir.join("kms.toml"), config).expect("write");
    let seed: [u8; 32] = hex::decode(
        std::fs::read_to_string(dir.join("pki/seed"))
            .expect("seed")
            .trim(),
    )
    .expect("hex")
    .try_into()
    .expect("32 bytes");
    let config: serde_json::Value = serde_json::from_str(r#"{"threads":2,"model":"digits"}"#).expect("json");
    let root: [u8; 32] = hex::decode(&MODEL_ROOT[2..])
        .expect("hex")
        .try_into()
        .expect("32");
    let m = SimMeasurement::of(Path::new(VEIL), &config, &root).expect("measure");
    assert_eq!(
        hex::encode(m.mr_td()),
        mr_td,
        "the CLI and the library measure alike"
    );
    (p("kms.toml"), Arc::new(DevPki::from_seed(&seed).expect("pki")), m)
}

#[tokio::test]
async fn a_measured_simulated_worker_gets_its_key_and_the_log_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, pki, m) = setup(dir.path(), true);
    let (_server, url) = serve(Path::new(&config));
    let client = KmsClient::new(&url);
    let enclave = Identity::generate().expect("identity");
    let session = client
        .open_session(&SimTdx::new(pki.clone(), m.clone()), &enclave)
        .await
        .expect("attest");
    assert!(session.dev_root);
    let released = client
        .resource(&session.session, "token/42", Some(USER))
        .await
        .expect("release");
    KmsClient::open_key(&enclave, &released).expect("opens");
    let refused = client
        .resource(&session.session, "token/42", Some("0xb0b"))
        .await
        .expect_err("not authorized");
    assert_eq!(refused.code().map(|c| c.as_str()), Some("kms.not_authorized"));

    // A worker built from another binary measures differently and is refused.
    let other = SimMeasurement::from_digests([0xee; 48], m.config, &[3; 32]);
    let err = client
        .open_session(&SimTdx::new(pki, other), &enclave)
        .await
        .expect_err("other binary");
    assert_eq!(err.code().map(|c| c.as_str()), Some("kms.measurement"));

    let audit = dir.path().join("audit.jsonl");
    let out = ok(&veil(&["kms", "audit", "verify", audit.to_str().expect("utf-8")]));
    assert!(out.starts_with("audit log intact: 4 entries"), "{out}");
}

#[tokio::test]
async fn without_dev_roots_in_the_config_simulated_evidence_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, pki, m) = setup(dir.path(), false);
    let (_server, url) = serve(Path::new(&config));
    let enclave = Identity::generate().expect("identity");
    let err = KmsClient::new(&url)
        .open_session(&SimTdx::new(pki, m), &enclave)
        .await
        .expect_err("no dev root");
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
    let token = ok(&on_chain(&["nft", "mint", "--data", MODEL_ROOT]))
        .trim()
        .to_owned();
    ok(&on_chain(&["nft", "authorize", &token, USER]));

    let authz = format!("[ledger]\nrpc = \"{rpc}\"\ndeployment = \"{deployment}\"\n");
    let (config, pki, m) = setup_with(dir.path(), true, &authz);
    let (_kms, url) = serve(Path::new(&config));
    let client = KmsClient::new(&url);

    // The owner seals the token's data to the token's key, from the command line.
    let token_key = ok(&veil(&["kms", "token-key", "--url", &url, &token]))
        .trim()
        .to_owned();
    assert!(token_key.starts_with("veilpk1"), "{token_key}");
    let plain = dir.path().join("records.csv");
    std::fs::write(&plain, b"age,bp\n54,137\n").expect("write");
    let sealed = dir.path().join("records.sealed");
    ok(&veil(&[
        "seal",
        "--to",
        &token_key,
        plain.to_str().expect("utf-8"),
        sealed.to_str().expect("utf-8"),
    ]));
    let err = common::fails(&veil(&["kms", "token-key", "--url", &url, "01"]));
    assert!(
        err.contains("request.malformed") || err.contains("decimal"),
        "{err}"
    );
    let enclave = Identity::generate().expect("identity");
    let session = client
        .open_session(&SimTdx::new(pki, m), &enclave)
        .await
        .expect("attest");
    let resource = format!("token/{token}");
    let released = client
        .resource(&session.session, &resource, Some(USER))
        .await
        .expect("authorized on chain");
    // Inside the enclave, the released key opens what the owner sealed.
    let token_identity = KmsClient::open_token_identity(&enclave, &released).expect("opens");
    let mut opened = Vec::new();
    veil_seal::open(
        std::fs::File::open(&sealed).expect("sealed"),
        &mut opened,
        &token_identity,
    )
    .expect("the released token key opens the owner's data");
    assert_eq!(opened, b"age,bp\n54,137\n");

    // Another spelling of the same token names another resource (another key): the
    // chain would answer for the number, so the broker refuses the spelling first.
    let n: u64 = token.parse().expect("decimal");
    for spelling in [format!("token/0x{n:x}"), format!("token/0{token}")] {
        let err = client
            .resource(&session.session, &spelling, Some(USER))
            .await
            .expect_err("a second spelling");
        assert_eq!(
            err.code().map(|c| c.as_str()),
            Some("kms.not_authorized"),
            "{spelling}"
        );
    }

    // Revoked on chain: the next release is refused.
    ok(&on_chain(&["nft", "revoke", &token, USER]));
    let err = client
        .resource(&session.session, &resource, Some(USER))
        .await
        .expect_err("revoked");
    assert_eq!(err.code().map(|c| c.as_str()), Some("kms.not_authorized"));

    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("audit");
    let grant = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find_map(|e| {
            e.pointer("/event/authorization")
                .cloned()
                .or_else(|| e.pointer("/authorization").cloned())
        })
        .expect("a decision sourced from the chain");
    assert!(
        grant["source"]
            .as_str()
            .unwrap()
            .starts_with("chain 32273 INFT 0x"),
        "{grant}"
    );
    assert!(
        grant["block"].as_u64().unwrap() > 5,
        "the block the answer was read at: {grant}"
    );
}

#[test]
fn a_ledger_and_a_policy_list_together_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let authz = format!(
        "[authorizations]\n\"1\" = [\"{USER}\"]\n[ledger]\nrpc = \"http://127.0.0.1:9\"\ndeployment = \"d.json\"\n"
    );
    let (config, _, _) = setup_with(dir.path(), true, &authz);
    let out = veil(&["kms", "serve", "--config", &config]);
    let err = common::fails(&out);
    assert!(err.contains("one place"), "{err}");
}
