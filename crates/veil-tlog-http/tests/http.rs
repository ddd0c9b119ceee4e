//! The log over HTTP with its own client and a bare HTTP client: receipts in,
//! inclusion and consistency out, tiles as C2SP clients fetch them, and every bad
//! input refused with a problem document and a stable code.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use veil_protocol::{ErrorCode, Problem};
use veil_receipt::{Mode, Receipt, sign};
use veil_tlog::{Admission, Log, LogOptions, LogSigner, LogVerifier, TilePath, generate_key};
use veil_tlog_http::{LogClient, LogClientError, LogService, router};

const ORIGIN: &str = "veil.local/log/31337/0x5fbdb2315678afecb367f032d93f642f64180aa3";
const NOW: u64 = 1_764_849_600;
const OPERATOR_TOKEN: &str = "4f70657261746f72";

fn clock() -> u64 {
    NOW
}

fn receipt_at(secs: u64, seed: u8) -> Vec<u8> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
    let r = Receipt::new(
        Mode::Tee,
        veil_content::root_of(b"in").unwrap(),
        veil_content::root_of(&[seed]).unwrap(),
        t,
    );
    sign(r, &SigningKey::from_bytes(&[seed; 32])).unwrap().to_json_pretty().into_bytes()
}

struct Server {
    url: String,
    log: Arc<Log>,
    verifier: LogVerifier,
    _dir: tempfile::TempDir,
}

/// Serve the log's routes on a loopback port; its URL.
async fn serve_log(service: LogService) -> String {
    let app = router(service);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(l, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
    });
    url
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (skey, vkey) = generate_key(ORIGIN, &[3; 32]).unwrap();
    let log = Arc::new(
        Log::open(dir.path(), LogSigner::from_encoded(&skey).unwrap(), clock, LogOptions::default()).unwrap(),
    );
    let url = serve_log(LogService {
        log: log.clone(),
        clock,
        admission: Admission::default(),
        per_second: 1000,
        cosigned: Default::default(),
        declare_token: Some(veil_tlog::token_digest(OPERATOR_TOKEN)),
    })
    .await;
    Server { url, log, verifier: LogVerifier::new(&vkey).unwrap(), _dir: dir }
}

fn refused(e: LogClientError) -> Problem {
    match e {
        LogClientError::Refused(p) => p,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn receipts_go_in_and_come_back_with_proofs_that_check() {
    let s = start().await;
    let client = LogClient::new(&s.url);
    let mut inclusions = Vec::new();
    for seed in 1..=5u8 {
        let r = receipt_at(NOW - 20, seed);
        inclusions.push((r.clone(), client.submit_receipt(&r).await.unwrap()));
    }
    for (i, (r, inc)) in inclusions.iter().enumerate() {
        assert_eq!(inc.index, i as u64);
        let (entry, _) = veil_tlog::receipt_leaf(r).unwrap();
        let leaf = veil_tlog::encode_entry(&entry).unwrap();
        let (cp, got) = veil_tlog::check_inclusion(inc, &leaf, &s.verifier).unwrap();
        assert_eq!(got, entry);
        assert_eq!(cp.time, NOW);
        // The proof the log serves later, for the latest tree, checks too.
        let later = client.inclusion(inc.index, 5).await.unwrap();
        let root = s.log.root_at(5).unwrap();
        veil_tlog::verify_inclusion(veil_tlog::leaf_hash(&leaf), inc.index, 5, root, &later.proof).unwrap();
    }
    let first = inclusions[0].1.checkpoint.clone();
    let latest = client.checkpoint().await.unwrap();
    let proof = client.consistency(1, 5).await.unwrap();
    veil_tlog::check_consistency(first.as_bytes(), &latest, &proof.proof, &s.verifier).unwrap();

    // Tiles, as a C2SP client fetches them: the same bytes the log holds.
    let http = reqwest::Client::new();
    let tile = http.get(format!("{}/tile/0/000.p/5", s.url)).send().await.unwrap();
    assert_eq!(tile.status(), 200);
    assert_eq!(tile.headers()["cache-control"], "no-store");
    let bytes = tile.bytes().await.unwrap();
    assert_eq!(bytes.to_vec(), s.log.tile(&TilePath::parse("tile/0/000.p/5").unwrap()).unwrap());
    let entries =
        http.get(format!("{}/tile/entries/000.p/5", s.url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(veil_tlog::bundle_entries(&entries).unwrap().len(), 5);
    let key = http.get(format!("{}/v1/log/key", s.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(key.trim(), s.verifier.encoded());
}

async fn problem(resp: reqwest::Response) -> (u16, Problem) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn bad_input_is_refused_with_stable_codes_and_nothing_is_logged() {
    let s = start().await;
    let client = LogClient::new(&s.url);
    let p = refused(client.submit_receipt(b"{not json").await.unwrap_err());
    assert_eq!((p.status, p.code), (400, ErrorCode::LogEntryMalformed));
    let p = refused(client.submit_receipt(&receipt_at(NOW - 3600, 1)).await.unwrap_err());
    assert_eq!((p.status, p.code), (422, ErrorCode::LogEntryTime));
    let p = refused(client.submit_receipt(&receipt_at(NOW + 3600, 1)).await.unwrap_err());
    assert_eq!((p.status, p.code), (422, ErrorCode::LogEntryTime));
    let good = receipt_at(NOW, 1);
    let tampered = String::from_utf8(good.clone()).unwrap().replacen("\"tee\"", "\"fhe\"", 1).into_bytes();
    assert_ne!(tampered, good);
    let p = refused(client.submit_receipt(&tampered).await.unwrap_err());
    assert_eq!(p.code, ErrorCode::LogEntryMalformed);
    assert_eq!(s.log.snapshot().checkpoint.size, 0);

    client.submit_receipt(&good).await.unwrap();
    let p = refused(client.inclusion(0, 2).await.unwrap_err());
    assert_eq!((p.status, p.code), (404, ErrorCode::LogBeyondTree));
    let p = refused(client.inclusion(1, 1).await.unwrap_err());
    assert_eq!((p.status, p.code), (404, ErrorCode::LogBeyondTree));
    let p = refused(client.consistency(1, 0).await.unwrap_err());
    assert_eq!((p.status, p.code), (409, ErrorCode::LogStaleCheckpoint));

    let http = reqwest::Client::new();
    let (status, p) =
        problem(http.get(format!("{}/v1/log/proof/inclusion?index=x&size=1", s.url)).send().await.unwrap())
            .await;
    assert_eq!((status, p.code), (400, ErrorCode::RequestMalformed));
    let (status, p) = problem(http.get(format!("{}/tile/0/0.p/1", s.url)).send().await.unwrap()).await;
    assert_eq!((status, p.code), (404, ErrorCode::RequestNotFound));
    let (status, p) = problem(http.get(format!("{}/tile/0/000.p/2", s.url)).send().await.unwrap()).await;
    assert_eq!((status, p.code), (404, ErrorCode::LogBeyondTree));
    let big = vec![b' '; 2 << 20];
    let resp = http.post(format!("{}/v1/log/receipts", s.url)).body(big).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(s.log.snapshot().checkpoint.size, 1);
}

async fn serve_witness(w: Arc<veil_tlog::Witness>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(l, veil_tlog_http::witness_router(w, clock)).await.unwrap();
    });
    url
}

fn append(log: &Log, entries: &[&str]) {
    for e in entries {
        log.append(e.as_bytes().to_vec()).unwrap();
    }
}

/// A log that shows two parties two histories is caught: the witness cosigns one,
/// refuses the other, and never forgets which it cosigned.
#[tokio::test]
async fn a_witness_cosigns_one_history_and_catches_a_fork() {
    let (skey, vkey) = generate_key(ORIGIN, &[4; 32]).unwrap();
    let (a_dir, b_dir, w_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open = |d: &std::path::Path| {
        Log::open(d, LogSigner::from_encoded(&skey).unwrap(), clock, LogOptions::default()).unwrap()
    };
    let (a, b) = (open(a_dir.path()), open(b_dir.path()));
    // The same operator key, two histories: they agree on two entries, then split.
    append(&a, &["one", "two", "three-a", "four-a"]);
    append(&b, &["one", "two", "three-b", "four-b", "five-b"]);

    let witness_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let w = veil_tlog::Witness::open(
        "witness.example",
        witness_key.clone(),
        vec![LogVerifier::new(&vkey).unwrap()],
        w_dir.path(),
    )
    .unwrap();
    let wkey = w.verifier_key();
    let url = serve_witness(Arc::new(w)).await;
    let http = reqwest::Client::new();

    let (line, held) = veil_tlog_http::witness_checkpoint(&http, &url, &a, &a.snapshot(), 0).await.unwrap();
    assert_eq!(held, 4);
    let cp = veil_tlog::Checkpoint::open(&a.snapshot().note, &LogVerifier::new(&vkey).unwrap()).unwrap();
    assert_eq!(veil_tlog::verify_cosignature(&cp, &line, &wkey).unwrap(), NOW);
    // The cosignature is over this checkpoint only.
    let other = veil_tlog::Checkpoint { size: 3, ..cp.clone() };
    assert!(veil_tlog::verify_cosignature(&other, &line, &wkey).is_err());

    // The fork, from the size the fork believes the witness holds, then from the
    // size the witness says it holds: refused both ways.
    match veil_tlog_http::witness_checkpoint(&http, &url, &b, &b.snapshot(), 0).await {
        Err(veil_tlog_http::WitnessCallError::Refused { status: 422, .. }) => {}
        other => panic!("the fork was not refused as inconsistent: {other:?}"),
    }
    // The honest log goes on from what the witness holds.
    append(&a, &["five-a"]);
    let (_, held) = veil_tlog_http::witness_checkpoint(&http, &url, &a, &a.snapshot(), 4).await.unwrap();
    assert_eq!(held, 5);

    // A restarted witness remembers what it cosigned, and still refuses the fork.
    let w2 = veil_tlog::Witness::open(
        "witness.example",
        witness_key,
        vec![LogVerifier::new(&vkey).unwrap()],
        w_dir.path(),
    )
    .unwrap();
    assert_eq!(w2.held_size(ORIGIN), 5);
    let url2 = serve_witness(Arc::new(w2)).await;
    assert!(veil_tlog_http::witness_checkpoint(&http, &url2, &b, &b.snapshot(), 5).await.is_err());

    // A checkpoint for a log the witness does not follow, one not signed by the log's
    // key, and a body that is not a request.
    let (stranger_key, _) = generate_key("other.example/log", &[5; 32]).unwrap();
    let stranger = Log::open(
        tempfile::tempdir().unwrap().path(),
        LogSigner::from_encoded(&stranger_key).unwrap(),
        clock,
        LogOptions::default(),
    )
    .unwrap();
    match veil_tlog_http::witness_checkpoint(&http, &url2, &stranger, &stranger.snapshot(), 0).await {
        Err(veil_tlog_http::WitnessCallError::Refused { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    let (impostor_key, _) = generate_key(ORIGIN, &[6; 32]).unwrap();
    let impostor = Log::open(
        tempfile::tempdir().unwrap().path(),
        LogSigner::from_encoded(&impostor_key).unwrap(),
        clock,
        LogOptions::default(),
    )
    .unwrap();
    match veil_tlog_http::witness_checkpoint(&http, &url2, &impostor, &impostor.snapshot(), 0).await {
        Err(veil_tlog_http::WitnessCallError::Refused { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    let resp = http.post(format!("{url2}/add-checkpoint")).body("old x\n\n").send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

/// The log serves its checkpoint with the cosignatures its witnesses gave.
#[tokio::test]
async fn the_served_checkpoint_carries_its_witnesses_cosignatures() {
    let (skey, vkey) = generate_key(ORIGIN, &[4; 32]).unwrap();
    let (log_dir, w_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = Arc::new(
        Log::open(log_dir.path(), LogSigner::from_encoded(&skey).unwrap(), clock, LogOptions::default())
            .unwrap(),
    );
    let w = veil_tlog::Witness::open(
        "witness.example",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
        vec![LogVerifier::new(&vkey).unwrap()],
        w_dir.path(),
    )
    .unwrap();
    let wkey = w.verifier_key();
    let witness_url = serve_witness(Arc::new(w)).await;
    let cosigned = Arc::new(veil_tlog_http::Cosigned::default());
    let url = serve_log(LogService {
        log: log.clone(),
        clock,
        admission: Admission::default(),
        per_second: 1000,
        cosigned: cosigned.clone(),
        declare_token: None,
    })
    .await;
    append(&log, &["one", "two", "three"]);
    tokio::spawn(veil_tlog_http::gather_cosignatures(
        log.clone(),
        vec![witness_url],
        cosigned,
        std::time::Duration::from_millis(20),
    ));
    let verifier = LogVerifier::new(&vkey).unwrap();
    for _ in 0..500 {
        let note = LogClient::new(&url).checkpoint().await.unwrap();
        let text = String::from_utf8(note.clone()).unwrap();
        if text.contains("— witness.example ") {
            let cp = veil_tlog::Checkpoint::open(&note, &verifier).unwrap();
            assert_eq!(cp.size, 3);
            let line = text.lines().find(|l| l.starts_with("— witness.example ")).unwrap();
            assert_eq!(veil_tlog::verify_cosignature(&cp, line, &wkey).unwrap(), NOW);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the served checkpoint never carried the witness's cosignature");
}

static WEB_NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(NOW);

fn web_clock() -> u64 {
    WEB_NOW.load(std::sync::atomic::Ordering::SeqCst)
}

/// The web view in Debian's headless Chromium, driven by playwright-core
/// (`tests/browser/web.mjs`, installed by `scripts/browser.sh`): every entry, past
/// checkpoint and pasted receipt verified in the browser, each forgery refused, and
/// an entry's text never turned into markup.
#[tokio::test]
async fn the_web_view_verifies_in_a_real_browser_and_refuses_forgeries() {
    let dir = tempfile::tempdir().unwrap();
    let (skey, vkey) = generate_key(ORIGIN, &[3; 32]).unwrap();
    let log = Arc::new(
        Log::open(dir.path(), LogSigner::from_encoded(&skey).unwrap(), web_clock, LogOptions::default())
            .unwrap(),
    );
    let hostile = "<img src=x onerror=\"window.__pwned=1\">";
    let entries = [
        veil_protocol::LogEntry::Model {
            name: hostile.into(),
            weights_root: veil_content::root_of(b"weights").unwrap(),
            format: "onnx".into(),
            sealed: None,
        },
        veil_protocol::LogEntry::Policy {
            policy_root: veil_content::root_of(b"policy").unwrap(),
            measurements: vec![format!("tdx:{}", "ab".repeat(48))],
            resources: vec![format!("{}=model:credit", "ab".repeat(48))],
        },
        veil_protocol::LogEntry::AuditHead { len: 7, hash: "cd".repeat(32) },
    ];
    for e in &entries {
        log.append(veil_tlog::encode_entry(e).unwrap()).unwrap();
        WEB_NOW.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let url = serve_log(LogService {
        log: log.clone(),
        clock: web_clock,
        admission: Admission::default(),
        per_second: 1000,
        cosigned: Default::default(),
        declare_token: None,
    })
    .await;
    let client = LogClient::new(&url);
    let mut logged = Vec::new();
    for seed in 1..=6u8 {
        let r = receipt_at(NOW - 10, seed);
        logged.push((r.clone(), client.submit_receipt(&r).await.unwrap()));
        WEB_NOW.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let (receipt, inclusion) = &logged[1];
    assert!(!inclusion.proof.is_empty());

    let work = tempfile::tempdir().unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(work.path().join(name), bytes).unwrap();
    put("receipt.json", receipt);
    put("inclusion.json", &serde_json::to_vec(inclusion).unwrap());
    // One byte of the body changed: the id no longer matches.
    let text = String::from_utf8(receipt.clone()).unwrap();
    let tampered = text.replacen("\"tee\"", "\"zk\"", 1);
    assert_ne!(tampered, text);
    put("tampered-receipt.json", tampered.as_bytes());
    // One hash of the audit path changed.
    let mut bad = inclusion.clone();
    bad.proof[0].0[0] ^= 1;
    assert_ne!(bad.proof, inclusion.proof);
    put("tampered-inclusion.json", &serde_json::to_vec(&bad).unwrap());
    // A genuine receipt that was never logged, with another's inclusion.
    put("other-receipt.json", &receipt_at(NOW - 10, 99));
    // The same checkpoint signed by a key with the log's name that is not the log's.
    let (other_skey, other_vkey) = generate_key(ORIGIN, &[4; 32]).unwrap();
    let cp = veil_tlog::Checkpoint::open(inclusion.checkpoint.as_bytes(), &LogVerifier::new(&vkey).unwrap())
        .unwrap();
    let forged_note = cp.sign(&LogSigner::from_encoded(&other_skey).unwrap()).unwrap();
    let mut forged = inclusion.clone();
    forged.checkpoint = String::from_utf8(forged_note).unwrap();
    assert_ne!(forged.checkpoint, inclusion.checkpoint);
    put("forged-inclusion.json", &serde_json::to_vec(&forged).unwrap());
    put("other-key.txt", other_vkey.as_bytes());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/web.mjs");
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/node_modules/playwright-core");
    assert!(std::path::Path::new(modules).exists(), "playwright-core is missing: run scripts/browser.sh");
    let run =
        tokio::process::Command::new("node").arg(script).arg(&url).arg(work.path()).output().await.unwrap();
    assert!(run.status.success(), "web.mjs failed: {}", String::from_utf8_lossy(&run.stderr));
    let out: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();

    let o = &out["overview"];
    assert_eq!(o["status"], "done", "{o}");
    assert_eq!(o["treeSize"], "9");
    let recent = o["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 9);
    assert!(recent.iter().all(|r| r["state"] == "ok"), "{o}");
    assert_eq!(recent.iter().filter(|r| r["type"] == "receipt" && r["mode"] == "tee").count(), 6);
    assert_eq!(o["measurements"][0], format!("tdx:{}", "ab".repeat(48)));
    assert_eq!(o["resources"].as_array().unwrap().len(), 1);
    assert_eq!(o["models"][0]["name"], hostile);
    assert_eq!(o["models"][0]["state"], "ok");
    assert_eq!(o["audit"][0]["len"], "7");
    assert_eq!(o["audit"][0]["state"], "ok");
    // One checkpoint per second of log time, each consistent with the latest.
    let history = o["history"].as_array().unwrap();
    assert!(history.len() >= 8, "{o}");
    assert!(history.iter().all(|h| h["state"] == "ok"), "{o}");
    assert_eq!(o["injected"], 0);
    assert_eq!(o["pwned"], false);

    let checks = |case: &str| out[case]["checks"].clone();
    assert_eq!(out["good"]["status"], "ok", "{}", out["good"]);
    for c in ["receipt-id", "receipt-signature", "checkpoint", "inclusion", "time", "consistency"] {
        assert_eq!(checks("good")[c], "ok", "{c}: {}", out["good"]);
    }
    assert_eq!(out["tamperedReceipt"]["status"], "fail");
    assert_eq!(checks("tamperedReceipt")["receipt-id"], "fail");
    assert_eq!(out["tamperedProof"]["status"], "fail");
    assert_eq!(checks("tamperedProof")["checkpoint"], "ok");
    assert_eq!(checks("tamperedProof")["inclusion"], "fail");
    assert_eq!(out["otherReceipt"]["status"], "fail");
    assert_eq!(checks("otherReceipt")["receipt-signature"], "ok");
    assert_eq!(checks("otherReceipt")["inclusion"], "fail");
    assert_eq!(out["forgedCheckpoint"]["status"], "fail");
    assert_eq!(checks("forgedCheckpoint")["checkpoint"], "fail");
    assert_eq!(out["wrongKey"]["status"], "error", "{}", out["wrongKey"]);
    assert!(out["wrongKey"]["mismatch"].as_bool().unwrap());
    assert_eq!(out["errors"].as_array().unwrap().len(), 0, "{}", out["errors"]);
    assert_eq!(out["foreign"].as_array().unwrap().len(), 0, "{}", out["foreign"]);
    for shot in ["overview.png", "verify.png"] {
        let png = std::fs::read(work.path().join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{shot}");
    }
}

/// Only the operator declares what a receipt cannot prove by itself (a model, a
/// key-release policy, an audit head): no token, a wrong token, or a log without
/// one → 401 and nothing logged; a receipt is never a declaration.
#[tokio::test]
async fn declarations_need_the_operator_token() {
    let s = start().await;
    let client = LogClient::new(&s.url);
    let policy = veil_protocol::LogEntry::Policy {
        policy_root: veil_content::root_of(b"policy").unwrap(),
        measurements: vec!["tdx:00".into()],
        resources: vec!["00=model:x".into()],
    };
    let http = reqwest::Client::new();
    let bare = http.post(format!("{}/v1/log/entries", s.url)).json(&policy).send().await.unwrap();
    let (status, p) = problem(bare).await;
    assert_eq!((status, p.code), (401, ErrorCode::RequestUnauthenticated));
    let p = refused(client.declare(&policy, "not-the-token").await.unwrap_err());
    assert_eq!(p.code, ErrorCode::RequestUnauthenticated);
    assert_eq!(s.log.snapshot().checkpoint.size, 0);

    let receipt = veil_tlog::receipt_leaf(&receipt_at(NOW, 1)).unwrap().0;
    let p = refused(client.declare(&receipt, OPERATOR_TOKEN).await.unwrap_err());
    assert_eq!(p.code, ErrorCode::LogEntryMalformed);
    assert_eq!(s.log.snapshot().checkpoint.size, 0);

    let inc = client.declare(&policy, OPERATOR_TOKEN).await.unwrap();
    let leaf = veil_tlog::encode_entry(&policy).unwrap();
    let (_, got) = veil_tlog::check_inclusion(&inc, &leaf, &s.verifier).unwrap();
    assert_eq!(got, policy);
    let notable: serde_json::Value =
        http.get(format!("{}/v1/log/notable", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(notable["entries"][0]["type"], "policy");
    assert_eq!(notable["scanned"], 1);
}

/// Go's sumdb tile client as Cloudflare ported it (`tlog_tiles::TileHashReader`,
/// `prove_record`, `check_record`, `Checkpoint::from_bytes`, and `signed_note` for
/// the signature), reading the log's tiles over HTTP: it computes every tile path
/// itself (sumdb's, which C2SP tlog-tiles spells without the height) and accepts a
/// tile only if the tiles together hash to the signed root.
struct SumdbTiles {
    base: String,
    rt: tokio::runtime::Handle,
}

impl tlog_tiles::TileReader for SumdbTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                let sumdb = t.path();
                let c2sp = sumdb.replacen("tile/8/data/", "tile/entries/", 1).replacen("tile/8/", "tile/", 1);
                let url = format!("{}/{c2sp}", self.base);
                self.rt
                    .block_on(async { reqwest::get(&url).await?.error_for_status()?.bytes().await })
                    .map(|b| b.to_vec())
                    .map_err(|e| tlog_tiles::Error::InvalidInput(format!("{url}: {e}")))
            })
            .collect()
    }

    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

#[tokio::test]
async fn a_stock_sumdb_tile_client_reads_the_log_and_checks_its_proofs() {
    let s = start().await;
    // 700 entries: two full tiles at level 0, a partial one, and a partial level-1 tile.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..700u32 {
        let tx = tx.clone();
        s.log
            .submit(
                format!("{{\"n\":{i}}}").into_bytes(),
                Box::new(move |r| {
                    let _ = tx.send(r.map(|a| a.index));
                }),
            )
            .unwrap();
    }
    for _ in 0..700 {
        rx.recv().await.unwrap().unwrap();
    }
    let (_, vkey) = generate_key(ORIGIN, &[3; 32]).unwrap();
    let note_bytes = LogClient::new(&s.url).checkpoint().await.unwrap();
    let note = signed_note::Note::from_bytes(&note_bytes).unwrap();
    let verifier = signed_note::StandardVerifier::new(&vkey).unwrap();
    let verifiers = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    let (verified, _) = note.verify(&verifiers).unwrap();
    assert_eq!(verified.len(), 1);
    let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!((cp.origin(), cp.size()), (ORIGIN, 700));

    let (base, rt) = (s.url.clone(), tokio::runtime::Handle::current());
    let root = *cp.hash();
    tokio::task::spawn_blocking(move || {
        let tiles = SumdbTiles { base, rt };
        let reader = tlog_tiles::TileHashReader::new(700, root, &tiles);
        assert_eq!(tlog_tiles::tree_hash(700, &reader).unwrap(), root);
        for index in [0u64, 255, 256, 511, 640, 699] {
            let proof = tlog_tiles::prove_record(700, index, &reader).unwrap();
            let leaf = tlog_tiles::record_hash(format!("{{\"n\":{index}}}").as_bytes());
            tlog_tiles::check_record(&proof, 700, root, index, leaf).unwrap();
            let wrong = tlog_tiles::record_hash(b"{\"n\":-1}");
            assert!(tlog_tiles::check_record(&proof, 700, root, index, wrong).is_err());
        }
        // The entry bundles, through the client's own data-tile paths.
        let data = tlog_tiles::Tile::new(8, 0, 2, 700 - 512, true);
        let bundle = tlog_tiles::TileReader::read_tiles(&tiles, &[data]).unwrap().remove(0);
        let entries = veil_tlog::bundle_entries(&bundle).unwrap();
        assert_eq!(entries.len(), 188);
        assert_eq!(entries[0], b"{\"n\":512}");
    })
    .await
    .unwrap();
    // The proofs the log's own API serves are the ones the client derived.
    let served = LogClient::new(&s.url).inclusion(640, 700).await.unwrap();
    let root = s.log.root_at(700).unwrap();
    veil_tlog::verify_inclusion(veil_tlog::leaf_hash(b"{\"n\":640}"), 640, 700, root, &served.proof).unwrap();
}
