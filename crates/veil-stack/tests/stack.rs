//! The stack's parts that need no worker process: the embedded chain created and
//! reopened as a signer, the broker built from its file (and refused when the file
//! contradicts itself), and the worker measurement the broker's allowlist pins.

use std::path::Path;

use veil_stack::ledger::{LedgerTarget, OPERATOR_KEY, init};
use veil_stack::{StackError, kms, stack};

/// 2026-03-01T00:00:00Z: the chain's genesis time and every block's.
fn pinned() -> u64 {
    1_772_323_200
}

#[tokio::test]
async fn an_embedded_chain_is_created_once_and_reopened_as_its_operator() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let (deployment, operator) = init(&chain, 31337, &[], pinned).await.expect("init");
    assert!(chain.join(OPERATOR_KEY).exists());
    let again = init(&chain, 31337, &[], pinned).await;
    assert!(matches!(again, Err(StackError::Config(m)) if m.contains("already holds a chain")));
    let ledger = LedgerTarget::embedded(chain.clone()).connect(pinned).await.expect("connect");
    assert_eq!(ledger.signer().expect("operator"), operator);
    assert_eq!(ledger.client.chain_id(), 31337);
    assert_eq!(ledger.client.deployment().inft, deployment.inft);
    drop(ledger);
    // Without a chain there, a clear refusal naming what to do.
    let none = LedgerTarget::embedded(dir.path().join("nothing")).connect(pinned).await;
    assert!(matches!(none, Err(StackError::Config(m)) if m.contains("veil chain init")));
}

fn broker_dir(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    veil_stack::keys::new_identity(&dir.path().join("kms.key")).unwrap();
    let config = dir.path().join("kms.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nidentity = \"kms.key\"\nmaster_secret = \"master.sealed\"\n\
             audit_log = \"audit.jsonl\"\n{extra}"
        ),
    )
    .unwrap();
    (dir, config)
}

#[tokio::test]
async fn a_broker_is_built_from_its_file_and_refused_when_it_contradicts_itself() {
    let (dir, config) = broker_dir("[authorizations]\n\"1\" = [\"0xabc\"]\n");
    let cfg = kms::read_config(&config).expect("parses");
    assert_eq!(cfg.identity, dir.path().join("kms.key"), "paths are relative to the file");
    let (_, broker) = kms::load(&config, None).await.expect("builds");
    assert!(!broker.trusts_dev_roots());
    assert!(dir.path().join("master.sealed").exists(), "the master secret is created");

    for (extra, why) in [
        (
            "[authorizations]\n\"1\" = [\"0xabc\"]\n[ledger]\nrpc = \"http://127.0.0.1:9\"\ndeployment = \"d.json\"\n",
            "one place",
        ),
        ("[deployment]\nchain_id = 1\ncontract = \"not an address\"\n", "not an address"),
        ("[limits]\nmax_outstanding = 0\n", "at least 1"),
        ("surprise = true\n", "unknown field"),
    ] {
        let (_dir, config) = broker_dir(extra);
        let err = kms::load(&config, None).await.expect_err(why).to_string();
        assert!(err.contains(why), "{err}");
    }
}

#[test]
fn the_worker_measurement_covers_its_binary_and_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("worker");
    std::fs::write(&binary, b"a worker binary").unwrap();
    let config = |chain_id, kms: &str| veil_worker::WorkerConfig {
        chain_id,
        inft: alloy::primitives::Address::repeat_byte(1),
        models: Vec::new(),
        kms_key: kms.repeat(32),
    };
    let m = |b: &Path, c| stack::measure_worker(b, &c).unwrap().measurement_id();
    assert_eq!(m(&binary, config(1, "ab")), m(&binary, config(1, "ab")));
    assert_ne!(m(&binary, config(1, "ab")), m(&binary, config(2, "ab")), "another chain");
    // Issue 14, finding 5: the broker a worker trusts is part of what it measures.
    assert_ne!(m(&binary, config(1, "ab")), m(&binary, config(1, "cd")), "another broker");
    let other = dir.path().join("other");
    std::fs::write(&other, b"a worker binary!").unwrap();
    assert_ne!(m(&binary, config(1, "ab")), m(&other, config(1, "ab")), "another binary");
}

/// The front-running attack on publishing: somebody else holds the token (they minted
/// the id first). Publishing refuses before it asks for the token's key, so nothing
/// is sealed to a key the other party's token would unlock, and nothing is stored.
#[tokio::test]
async fn data_is_never_sealed_to_a_token_its_publisher_does_not_own() {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let (_, operator) = init(&chain, 31337, &[], pinned).await.expect("init");
    let ledger = LedgerTarget::embedded(chain).connect(pinned).await.expect("connect");
    let squatter = alloy::primitives::Address::repeat_byte(0x5a);
    let token = ledger.client.mint(squatter, &[]).await.expect("mint");
    let store = veil_store::Store::Local(veil_store::LocalStore::open(&dir.path().join("store")).unwrap());
    // Nothing listens on port 9: had the check come after the key request, this
    // would fail as a connection error instead.
    let got = veil_stack::publish::attach_sealed(
        &ledger.client,
        operator,
        "http://127.0.0.1:9",
        &store,
        token,
        b"the victim's records",
        "records",
    )
    .await;
    assert!(matches!(got, Err(StackError::NotOwner { holder, .. }) if holder == squatter), "{got:?}");
    assert!(std::fs::read_dir(dir.path().join("store/blobs")).unwrap().next().is_none(), "nothing stored");
    assert!(ledger.client.intelligent_data(token).await.unwrap().is_empty());
}

#[test]
fn a_document_directory_is_read_whole_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("notes.md"), "# Tea\n\nSteep for two minutes.").unwrap();
    std::fs::write(docs.join("quotes.jsonl"), "{\"quote\":\"Be brief.\"}\n").unwrap();
    let set = veil_stack::publish::read_documents(&docs).expect("read");
    let names: Vec<_> = set.documents().iter().map(|d| d.name()).collect();
    assert_eq!(names, ["notes.md", "quotes.jsonl"]);

    // Nothing in the directory is silently left out.
    std::fs::create_dir(docs.join("drafts")).unwrap();
    let got = veil_stack::publish::read_documents(&docs);
    assert!(matches!(&got, Err(StackError::Config(m)) if m.contains("not a regular file")), "{got:?}");
    std::fs::remove_dir(docs.join("drafts")).unwrap();
    std::fs::write(docs.join("scan.pdf"), "%PDF").unwrap();
    let got = veil_stack::publish::read_documents(&docs);
    assert!(matches!(got, Err(StackError::Docs(veil_retrieve::DocsError::Kind(_)))), "{got:?}");
    std::fs::remove_file(docs.join("scan.pdf")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", docs.join("passwd.txt")).unwrap();
    assert!(veil_stack::publish::read_documents(&docs).is_err(), "a link is not followed");
}

/// A running broker's audit head goes into the log whenever it grew (not only at
/// start), and an audit log later cut short of a logged head is caught by it.
#[tokio::test]
async fn a_growing_audit_log_has_its_heads_logged_and_a_cut_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.key");
    veil_stack::tlog::new_key(&key, "test.example/log").unwrap();
    let log = veil_stack::tlog::open(&dir.path().join("log"), &key, pinned).unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let sink = veil_stack::tlog::AuditSink::Local(log.clone());
    let mut last = 0;
    // No audit log yet: nothing to log.
    veil_stack::tlog::log_audit_head_if_grew(&sink, &audit_path, &mut last).await.unwrap();
    assert_eq!(log.snapshot().checkpoint.size, 0);

    let mut audit = veil_audit::AuditLog::open(&audit_path).unwrap();
    for i in 0..3 {
        audit.append("2026-03-01T00:00:00Z", &serde_json::json!({ "event": i })).unwrap();
    }
    veil_stack::tlog::log_audit_head_if_grew(&sink, &audit_path, &mut last).await.unwrap();
    veil_stack::tlog::log_audit_head_if_grew(&sink, &audit_path, &mut last).await.unwrap();
    assert_eq!((last, log.snapshot().checkpoint.size), (3, 1), "logged once while unchanged");
    audit.append("2026-03-01T00:00:01Z", &serde_json::json!({ "event": 3 })).unwrap();
    veil_stack::tlog::log_audit_head_if_grew(&sink, &audit_path, &mut last).await.unwrap();
    assert_eq!((last, log.snapshot().checkpoint.size), (4, 2));
    drop(audit);

    let veil_protocol::LogEntry::AuditHead { len, hash } =
        veil_tlog::decode_entry(&log.entry(1).unwrap()).unwrap()
    else {
        panic!("not an audit head");
    };
    let logged = veil_audit::Head { len, hash: hex::decode(hash).unwrap().try_into().unwrap() };
    veil_audit::verify(&audit_path, Some(logged)).expect("the whole log matches its logged head");
    // Drop the last entry: the log now ends before the head the log holds.
    let text = std::fs::read_to_string(&audit_path).unwrap();
    let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    assert_ne!(cut, text);
    std::fs::write(&audit_path, cut).unwrap();
    assert!(veil_audit::verify(&audit_path, Some(logged)).is_err());
}
