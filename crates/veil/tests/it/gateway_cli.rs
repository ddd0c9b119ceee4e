//! Confidential inference end to end through real processes: `veil up` (chain, store,
//! key broker, gateway, supervised worker processes), the owner's CLI, and users'
//! signed requests over loopback HTTP.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use common::{Server, VEIL, fails, ok, on_chain, python_client, up, up_json, veil};
use serde_json::{Value, json};
use veil_gateway::{ClientError, GatewayClient, InferBody};

const LOGREG: &str = "breast-cancer-logreg";

/// A running stack with token 1 minted over sealed patient records and `user` authorized.
struct Ctx {
    _up: Server,
    dir: PathBuf,
    gateway: String,
    user: PrivateKeySigner,
    user_key: PathBuf,
    /// The records' first feature values, to look for in what crosses the gateway.
    plaintext_cells: Vec<String>,
    root: String,
}

/// The breast-cancer test split as records, and each row's fourth measurement as
/// the table spells it.
fn records() -> (String, Vec<String>) {
    let data =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/data/breast_cancer.csv"))
            .expect("data");
    let r = veil_model::TokenRecords::from_dataset(&data, "P").expect("records");
    let cells = r.cells.iter().map(|c| c[3].clone()).collect();
    (r.table, cells)
}

fn setup(extra: &[&str]) -> (tempfile::TempDir, Ctx) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("stack");
    let (server, gateway) = up(&dir, extra);
    let info = up_json(&dir);
    let s = |v: &Value| v.as_str().expect("string").to_owned();
    let kms = s(&info["kms"]);
    let on_chain = |args: &[&str]| on_chain(&dir, args);
    // The owner mints token 1, seals to its key, stores, attaches the root, authorizes.
    assert_eq!(ok(&on_chain(&["nft", "mint"])).trim(), "1");
    let token_key = ok(&veil(&["kms", "token-key", "--url", &kms, "1"])).trim().to_owned();
    let (plain, plaintext_cells) = records();
    let plain_path = tmp.path().join("records.csv");
    std::fs::write(&plain_path, &plain).expect("write");
    let sealed = tmp.path().join("records.sealed");
    let p = |x: &Path| x.to_str().expect("utf-8").to_owned();
    ok(&veil(&["seal", "--to", &token_key, &p(&plain_path), &p(&sealed)]));
    let root = ok(&veil(&["store", "--store", &p(&dir.join("store")), "put", &p(&sealed)])).trim().to_owned();
    assert!(
        ok(&on_chain(&["nft", "set-data", "1", "--data", &root]))
            .starts_with("token 1 now holds 1 data entry")
    );
    let user_key = tmp.path().join("user.key");
    let user_addr = ok(&veil(&["chain", "keygen", "--out", &p(&user_key)])).trim().to_owned();
    ok(&on_chain(&["nft", "authorize", "1", &user_addr]));
    let hexkey = std::fs::read_to_string(&user_key).expect("key");
    let user: PrivateKeySigner = hexkey.trim().parse().expect("key parses");
    assert_eq!(user.address().to_string(), user_addr);
    let ctx = Ctx { _up: server, dir, gateway, user, user_key, plaintext_cells, root };
    (tmp, ctx)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn signed(gw: &GatewayClient, who: &PrivateKeySigner, ids: &[&str]) -> InferBody {
    gw.sign(who, U256::from(1), LOGREG, json!({ "ids": ids }), 60, now()).await.expect("sign")
}

/// POST a body and return (status, content type, body).
async fn post(url: &str, body: &InferBody) -> (u16, String, Value) {
    let resp = reqwest::Client::new().post(format!("{url}/v1/infer")).json(body).send().await.expect("send");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, ct, resp.json().await.expect("json"))
}

fn audit_entries(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("kms/audit.jsonl"))
        .expect("audit")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn an_authorized_user_gets_predictions_and_a_receipt_that_verifies_offline() {
    let (tmp, ctx) = setup(&[]);
    let p = |x: &Path| x.to_str().expect("utf-8").to_owned();
    let infer = |ids: &str, receipt: &Path| {
        let key = p(&ctx.user_key);
        let args = ["--key", &key, "--token", "1", "--model", LOGREG, "--ids", ids, "--receipt", &p(receipt)];
        ok(&veil(&[&["infer", "--gateway", &ctx.gateway][..], &args[..]].concat()))
    };
    let receipt = tmp.path().join("receipt.json");
    let out = infer("P0001,P0002,P0003", &receipt);
    let output: Value = serde_json::from_str(&out).expect("json");
    let preds = output["predictions"].as_array().expect("predictions");
    assert_eq!(preds.len(), 3);
    assert_eq!(preds[0]["id"], "P0001");
    for p in preds {
        assert!(["malignant", "benign"].contains(&p["label"].as_str().unwrap()), "{p}");
        let sum: f64 = p["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{p}");
    }
    // Nothing of the records crosses the gateway: no measurement value appears.
    let receipt_text = std::fs::read_to_string(&receipt).expect("receipt");
    for cell in ctx.plaintext_cells.iter().take(3) {
        assert!(!out.contains(cell.as_str()) && !receipt_text.contains(&format!("{cell},")), "{cell} leaked");
    }

    let dev_root = p(&ctx.dir.join("pki/dev-root.pem"));
    // Naming no measurement trusts none.
    let err = fails(&veil(&["verify", "--dev-root", &dev_root, &p(&receipt)]));
    assert!(err.contains("receipt.measurement") && err.contains("no measurement is trusted"), "{err}");
    let summary = ok(&veil(&["verify", "--dev-root", &dev_root, "--any-measurement", &p(&receipt)]));
    assert!(summary.contains("mode=tee") && summary.contains("dev_root=true"), "{summary}");
    let measurement = up_json(&ctx.dir)["measurement"].as_str().unwrap().to_owned();
    ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &p(&receipt)]));
    // Dev evidence is trusted only when asked; another measurement is refused.
    let err = fails(&veil(&["verify", &p(&receipt)]));
    assert!(err.contains("attestation.chain"), "{err}");
    let err =
        fails(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &"ab".repeat(48), &p(&receipt)]));
    assert!(err.contains("measurement"), "{err}");

    let doc: Value = serde_json::from_str(&receipt_text).expect("json");
    let body = &doc["receipt"];
    assert_eq!(body["subject"], ctx.user.address().to_string());
    assert_eq!(body["context_hash"], ctx.root);
    let kinds: Vec<&str> =
        body["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "request.received",
            "nft.authorized",
            "key.released",
            "data.loaded",
            "model.loaded",
            "inference.completed",
            "response.returned"
        ]
    );
    let authz = &body["events"][1]["data"];
    assert_eq!(authz["chain_id"], 32273);
    assert_eq!(authz["token"], "1");
    assert!(authz["block"].as_u64().unwrap() >= 1, "{authz}");
    assert!(body["events"][2]["data"]["decision"].as_str().unwrap().contains(":sha256:"));

    // The receipt is in the stack's transparency log: its inclusion verifies under the
    // log's key, and not for another receipt, nor under another key.
    let info = up_json(&ctx.dir);
    let (log_url, log_key) =
        (info["log"].as_str().unwrap().to_owned(), info["log_key"].as_str().unwrap().to_owned());
    let id = doc["id"].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let inclusion = rt.block_on(async {
        let url = format!("{}/v1/receipts/{id}/inclusion", ctx.gateway);
        reqwest::get(url).await.unwrap().error_for_status().unwrap().text().await.unwrap()
    });
    let inclusion_path = tmp.path().join("inclusion.json");
    std::fs::write(&inclusion_path, &inclusion).unwrap();
    let verify_logged = |receipt: &Path, key: &str, extra: &[&str]| {
        let inclusion = p(&inclusion_path);
        let mut args = vec!["verify", "--dev-root", &dev_root, "--measurement", &measurement];
        args.extend_from_slice(&["--inclusion", &inclusion, "--log-key", key]);
        args.extend_from_slice(extra);
        let receipt = p(receipt);
        args.push(&receipt);
        veil(&args)
    };
    let index = serde_json::from_str::<Value>(&inclusion).unwrap()["index"].as_u64().unwrap();
    let size = index + 1;
    let logged = ok(&verify_logged(&receipt, &log_key, &[]));
    assert!(
        logged.contains(&format!("logged: entry {index} of {size} in veil.local/log/32273/0x")),
        "{logged}"
    );
    let (_, other_key) = veil_tlog::generate_key(log_key.split('+').next().unwrap(), &[7; 32]).unwrap();
    assert!(fails(&verify_logged(&receipt, &other_key, &[])).contains("log.bad_checkpoint"));
    // Before it: the models registered, then the key-release policy admitting this
    // measurement, logged before the broker acted on it.
    let entries: Vec<Value> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..index {
            let url = format!("{log_url}/v1/log/entries/{i}");
            out.push(reqwest::get(url).await.unwrap().json().await.unwrap());
        }
        out
    });
    assert!(entries.iter().any(|e| e["type"] == "model" && e["name"] == LOGREG), "{entries:?}");
    let policy = entries.iter().find(|e| e["type"] == "policy").expect("a policy entry");
    assert!(
        policy["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().ends_with(&measurement))
    );
    // A monitor saves the log's checkpoint, and the next only if it extends it.
    let cp_file = tmp.path().join("checkpoint");
    let saved = ok(&veil(&["log", "checkpoint", "--url", &log_url, "--log-key", &log_key, &p(&cp_file)]));
    assert!(saved.starts_with(&format!("checkpoint: {size} entries")), "{saved}");
    // Anchored on chain on demand, and the anchor checked against the log's history.
    let field = |k: &str| info[k].as_str().unwrap().to_owned();
    let (rpc, deployment, operator) =
        (field("rpc"), field("deployment"), p(&ctx.dir.join("chain/operator.key")));
    let anchor = |extra: &[&str]| {
        let mut args = vec!["log", "anchor", "--url", &log_url, "--log-key", &log_key, "--rpc", &rpc];
        args.extend_from_slice(&["--deployment", &deployment, "--key", &operator]);
        args.extend_from_slice(extra);
        veil(&args)
    };
    let anchored = ok(&anchor(&[]));
    assert!(
        anchored.starts_with(&format!("anchored {size} entries")) && anchored.contains("gas"),
        "{anchored}"
    );
    assert!(ok(&anchor(&[])).contains(&format!("already anchors {size} entries")));
    assert!(ok(&anchor(&["--check"])).contains(&format!("the anchor of {size} entries")));
    // And in one command: the receipt's checkpoint is consistent with that anchor.
    let anchored = ok(&verify_logged(
        &receipt,
        &log_key,
        &["--anchored", "--log-url", &log_url, "--rpc", &rpc, "--deployment", &deployment],
    ));
    assert!(
        anchored.contains(&format!("anchored: consistent with the root of {size} entries")),
        "{anchored}"
    );

    // Any field changed: the receipt no longer verifies.
    let edits: [(&str, Value); 8] = [
        ("/receipt/subject", json!("0x000000000000000000000000000000000000dEaD")),
        ("/receipt/model_hash", json!(format!("0x{}", "11".repeat(32)))),
        ("/receipt/context_hash", json!(format!("0x{}", "22".repeat(32)))),
        ("/receipt/output_hash", json!(format!("0x{}", "33".repeat(32)))),
        ("/receipt/created_at", json!("2030-01-01T00:00:00Z")),
        ("/receipt/events/1/data/block", json!(999_999)),
        ("/receipt/dev_root", json!(false)),
        ("/receipt/evidence/measurement", json!("00".repeat(48))),
    ];
    for (pointer, value) in edits {
        let mut edited = doc.clone();
        *edited.pointer_mut(pointer).expect(pointer) = value;
        assert_ne!(edited, doc, "{pointer} really changed");
        let path = tmp.path().join("edited.json");
        std::fs::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        let err = fails(&veil(&["verify", "--dev-root", &dev_root, &p(&path)]));
        assert!(err.contains("invalid receipt"), "{pointer}: {err}");
    }
    // Another (validly signed) receipt does not ride on this receipt's inclusion.
    let second = tmp.path().join("second.json");
    infer("P0004", &second);
    let err = fails(&verify_logged(&second, &log_key, &[]));
    assert!(err.contains("not in the log") && err.contains("log.bad_proof"), "{err}");
}

/// `psql` against the machine's PostgreSQL (scripts/test.sh starts it if needed).
fn psql(sql: &str) {
    let out = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
}

/// With `--database`, request nonces and kept receipts live in PostgreSQL: a signed
/// request accepted before the stack restarts is a replay after it, its receipt is
/// served after it, and nothing is kept in files.
#[test]
fn nonces_and_receipts_in_postgres_outlive_the_gateway() {
    let name = format!("veil_up_{}_{}", std::process::id(), now());
    psql(&format!("CREATE DATABASE {name}"));
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let (_tmp, ctx) = setup(&["--database", &url]);
    let Ctx { _up: server, dir, gateway, user, .. } = ctx;
    let gw = GatewayClient::new(&gateway);
    let body = rt().block_on(signed(&gw, &user, &["P0003"]));
    let (status, _, answer) = rt().block_on(post(&gateway, &body));
    assert_eq!(status, 200);
    let id = answer["receipt"]["id"].as_str().expect("receipt id").to_owned();
    assert!(!dir.join("gateway/nonces.log").exists(), "nonces kept in the database only");
    assert_eq!(std::fs::read_dir(dir.join("gateway/receipts")).expect("dir").count(), 0, "receipts too");
    drop(server);
    let (_server, gateway) = up(&dir, &["--database", &url]);
    let (status, _, problem) = rt().block_on(post(&gateway, &body));
    assert_eq!((status, problem["code"].as_str()), (409, Some("request.replayed")), "{problem}");
    // The receipt the first gateway kept is served by the next.
    let kept: Value = rt().block_on(async {
        reqwest::get(format!("{gateway}/v1/receipts/{id}")).await.expect("get").json().await.expect("json")
    });
    assert_eq!(kept["id"], id.as_str());
    psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[test]
fn refusals_unauthorized_replayed_expired_forged_and_tampered() {
    let (_tmp, ctx) = setup(&[]);
    rt().block_on(async {
        let gw = GatewayClient::new(&ctx.gateway);
        // An unauthorized wallet: 403, no key released, the refusal audited.
        let stranger = PrivateKeySigner::random();
        let before = audit_entries(&ctx.dir).len();
        let (status, ct, problem) = post(&ctx.gateway, &signed(&gw, &stranger, &["P0001"]).await).await;
        assert_eq!((status, ct.as_str()), (403, "application/problem+json"), "{problem}");
        assert_eq!(problem["code"], "inference.not_authorized");
        let entries = audit_entries(&ctx.dir);
        assert_eq!(entries.len(), before + 1, "exactly one decision recorded");
        let last = &entries[before]["event"];
        assert_eq!(last["decision"], "refused");
        assert_eq!(last["code"], "kms.not_authorized");
        assert_eq!(last["user"], stranger.address().to_string());
        assert!(
            !entries.iter().any(|e| e["event"]["user"] == stranger.address().to_string()
                && e["event"]["decision"] == "granted"),
            "no key was ever released for the stranger"
        );
        ok(&veil(&["kms", "audit", "verify", ctx.dir.join("kms/audit.jsonl").to_str().unwrap()]));

        // Issue 14, finding 1: a second party points a token of its own at the
        // victim's stored root (what a front-runner who minted first would hold). As
        // that token's owner it is authorized — and learns nothing: the blob is sealed
        // to token 1's key, and the broker releases token 2's.
        let attacker = PrivateKeySigner::random();
        let to = attacker.address().to_string();
        let minted = ok(&on_chain(&ctx.dir, &["nft", "mint", "--to", &to, "--data", &ctx.root]));
        assert_eq!(minted.trim(), "2");
        let capture = gw
            .sign(&attacker, U256::from(2), LOGREG, json!({ "ids": ["P0001"] }), 60, now())
            .await
            .expect("sign");
        let (status, _, problem) = post(&ctx.gateway, &capture).await;
        assert_eq!(problem["code"], "inference.data_integrity", "{status} {problem}");
        assert!(!problem.to_string().contains(&ctx.plaintext_cells[0]), "{problem}");

        // The same signed request twice: the second is a replay.
        let body = signed(&gw, &ctx.user, &["P0002"]).await;
        let (status, _, _) = post(&ctx.gateway, &body).await;
        assert_eq!(status, 200);
        let (status, _, problem) = post(&ctx.gateway, &body).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("request.replayed")));

        // Expired, too far ahead, or signed over other input.
        let expired = gw
            .sign(&ctx.user, U256::from(1), LOGREG, json!({"ids": ["P0001"]}), 60, now() - 3600)
            .await
            .unwrap();
        let (status, _, problem) = post(&ctx.gateway, &expired).await;
        assert_eq!((status, problem["code"].as_str()), (401, Some("request.expired")));
        let mut far = signed(&gw, &ctx.user, &["P0001"]).await;
        far.expiry += 3600;
        let (status, _, problem) = post(&ctx.gateway, &far).await;
        assert_eq!((status, problem["code"].as_str()), (400, Some("request.expiry_too_far")));
        let mut forged = signed(&gw, &ctx.user, &["P0001"]).await;
        forged.input = json!({"ids": ["P0001", "P0002"]});
        let (status, _, problem) = post(&ctx.gateway, &forged).await;
        // Another input recovers another (unauthorized) address: refused either way.
        assert!(matches!(status, 401 | 403), "{problem}");

        // Unknown token and model, bad input.
        let other =
            gw.sign(&ctx.user, U256::from(77), LOGREG, json!({"ids": ["P0001"]}), 60, now()).await.unwrap();
        let (status, _, problem) = post(&ctx.gateway, &other).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("inference.token_unknown")));
        let mut unknown_model = signed(&gw, &ctx.user, &["P0001"]).await;
        unknown_model.model = "no-such-model".into();
        let (status, _, problem) = post(&ctx.gateway, &unknown_model).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("inference.model_unknown")));
        let (status, _, problem) = post(&ctx.gateway, &signed(&gw, &ctx.user, &["P9999"]).await).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some("inference.bad_input")), "{problem}");
        let digits = gw
            .sign(&ctx.user, U256::from(1), "digits-mlp", json!({"ids": ["P0001"]}), 60, now())
            .await
            .unwrap();
        let (status, _, problem) = post(&ctx.gateway, &digits).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (422, Some("inference.bad_input")),
            "64 features wanted: {problem}"
        );

        // A flipped bit in the stored blob: a data-integrity error, never an answer.
        let blob = walk(&ctx.dir.join("store/blobs"))
            .into_iter()
            .find(|p| p.to_string_lossy().contains(ctx.root.trim_start_matches("0x")))
            .expect("the sealed blob");
        let mut bytes = std::fs::read(&blob).unwrap();
        let original = bytes.clone();
        bytes[500] ^= 1;
        assert_ne!(bytes, original);
        std::fs::write(&blob, &bytes).unwrap();
        let (status, _, problem) = post(&ctx.gateway, &signed(&gw, &ctx.user, &["P0001"]).await).await;
        assert_eq!((status, problem["code"].as_str()), (502, Some("inference.data_integrity")), "{problem}");
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_worker_whose_binary_or_models_differ_is_refused_and_the_gateway_says_so() {
    // Another binary: this one with a byte appended (it still runs, it measures differently).
    let (tmp, ctx) = setup(&[]);
    let other = tmp.path().join("veil-modified");
    let mut exe = std::fs::read(VEIL).expect("veil");
    exe.push(0);
    std::fs::write(&other, &exe).expect("write");
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = ctx.dir.clone();
    drop(ctx);
    let check_refused = |extra: &[&str]| {
        let (_up, gateway) = up(&dir, extra);
        rt().block_on(async {
            let gw = GatewayClient::new(&gateway);
            let user: PrivateKeySigner =
                std::fs::read_to_string(tmp.path().join("user.key")).unwrap().trim().parse().unwrap();
            let (status, _, problem) = post(&gateway, &signed(&gw, &user, &["P0001"]).await).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (503, Some("inference.attestation_refused")),
                "{problem}"
            );
            assert!(problem["detail"].as_str().unwrap().contains("(kms.measurement)"), "{problem}");
        });
    };
    check_refused(&["--worker-exe", other.to_str().unwrap()]);
    // The same binary serving other models (one dropped from its measured config).
    let path = dir.join("worker.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let before = config.clone();
    config["models"].as_array_mut().unwrap().pop();
    assert_ne!(config, before);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    check_refused(&[]);
}

#[test]
fn a_worker_killed_mid_job_never_yields_a_wrong_answer() {
    let (_tmp, ctx) = setup(&["--workers", "2"]);
    rt().block_on(async {
        let gw = GatewayClient::new(&ctx.gateway);
        let ids = ["P0001", "P0002", "P0003", "P0004"];
        let (baseline, timing) = gw.infer_timed(&signed(&gw, &ctx.user, &ids).await).await.expect("baseline");
        let expected = baseline.output;
        let timing = timing.expect("a Server-Timing header");
        for stage in
            ["gw_ledger;dur=", "key_release;dur=", "data_fetch;dur=", "inference;dur=", "receipt;dur="]
        {
            assert!(timing.contains(stage), "{stage} in {timing}");
        }
        let pattern = format!("worker --config {}", ctx.dir.join("worker.json").display());
        let pids = || -> Vec<String> {
            let out = std::process::Command::new("pgrep").args(["-f", &pattern]).output().expect("pgrep");
            String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
        };
        assert_eq!(pids().len(), 2, "two workers");
        let mut tasks = Vec::new();
        for i in 0..40 {
            let body = signed(&gw, &ctx.user, &ids).await;
            let gw = gw.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 5)).await;
                gw.infer(&body).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        let victim = pids()[0].clone();
        std::process::Command::new("kill").args(["-9", &victim]).status().expect("kill");
        let (mut answered, mut failed) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    assert_eq!(r.output, expected, "never a wrong answer");
                    answered += 1;
                }
                Err(ClientError::Refused(p)) => {
                    assert_eq!(p.code.as_str(), "inference.worker_unavailable", "a clean failure: {p:?}");
                    failed += 1;
                }
                Err(e) => panic!("not a clean failure: {e}"),
            }
        }
        assert!(answered > 0, "answered {answered}, failed {failed}");
        // The supervisor replaces the dead worker; service continues.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while pids().len() < 2 || pids().contains(&victim) {
            assert!(std::time::Instant::now() < deadline, "the worker was not replaced");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let again = gw.infer(&signed(&gw, &ctx.user, &ids).await).await.expect("after replacement");
        assert_eq!(again.output, expected);
    });
}

#[test]
fn kserve_v2_attestation_and_operational_endpoints() {
    let (_tmp, ctx) = setup(&[]);
    let g = &ctx.gateway;
    rt().block_on(async {
        let http = reqwest::Client::new();
        let get = |path: &str| {
            let http = http.clone();
            let url = format!("{g}{path}");
            async move {
                let r = http.get(&url).send().await.expect("get");
                let status = r.status().as_u16();
                (status, r.text().await.expect("text"))
            }
        };
        let (s, meta) = get("/v2/models/digits-mlp").await;
        assert_eq!(s, 200, "{meta}");
        let meta: Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(meta["inputs"][0]["shape"], json!([-1, 64]));
        assert_eq!(get("/v2/health/ready").await.0, 200);
        assert_eq!(get("/v2/models/digits-mlp/ready").await.0, 200);
        assert_eq!(get("/v2/models/nope").await.0, 404);

        // Two held-out digits through the stock v2 protocol.
        let data =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/data/digits.csv"))
                .unwrap();
        let rows: Vec<Vec<&str>> = data
            .lines()
            .skip(1)
            .filter(|l| l.ends_with(",test"))
            .take(2)
            .map(|l| l.split(',').collect())
            .collect();
        let flat: Vec<f64> =
            rows.iter().flat_map(|r| r[..64].iter().map(|v| v.parse::<f64>().unwrap())).collect();
        let req = json!({"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": flat}]});
        let resp: Value = http
            .post(format!("{g}/v2/models/digits-mlp/infer"))
            .json(&req)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let labels: Vec<&str> =
            resp["outputs"][1]["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(labels, [rows[0][64], rows[1][64]], "{resp}");
        let id = resp["parameters"]["veil_receipt_id"].as_str().unwrap().to_owned();
        let (s, receipt) = get(&format!("/v1/receipts/{id}")).await;
        assert_eq!(s, 200);
        let doc: Value = serde_json::from_str(&receipt).unwrap();
        assert_eq!(doc["id"], id);
        assert_eq!(doc["receipt"]["mode"], "tee");
        let bad = json!({"inputs": [{"name": "input", "shape": [1, 63], "datatype": "FP32", "data": [0.0]}]});
        let r = http.post(format!("{g}/v2/models/digits-mlp/infer")).json(&bad).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);

        let (s, health) = get("/v1/health").await;
        assert_eq!(s, 200, "{health}");
        let health: Value = serde_json::from_str(&health).unwrap();
        assert!(health["queue_length"].is_u64() && health["estimated_wait_ms"].is_u64(), "{health}");
        assert_eq!(health["workers"]["ready"], 1);
        let (_, metrics) = get("/metrics").await;
        assert!(
            metrics
                .contains("veil_gateway_requests_total{route=\"/v2/models/{name}/infer\",outcome=\"ok\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("veil_gateway_queue_length 0"), "{metrics}");

        // The stock Triton client, in binary-tensor and JSON modes, agrees with
        // onnxruntime on the same model file, and reads Veil's errors.
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");
        let host = g.trim_start_matches("http://").to_owned();
        let got = tokio::task::spawn_blocking(move || {
            let file = format!("{root}/breast_cancer_logreg.onnx");
            let csv = format!("{root}/data/breast_cancer.csv");
            python_client("kserve_client.py", &[&host, "breast-cancer-logreg", &file, &csv, "8"])
        })
        .await
        .unwrap();
        let case =
            |name: &str| got.iter().find(|v| v["case"] == name).unwrap_or_else(|| panic!("{name}: {got:?}"));
        assert_eq!(
            (case("live")["live"].as_bool(), case("live")["ready"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(case("metadata")["outputs"], json!(["probabilities", "label"]));
        for mode in ["binary", "json"] {
            let c = case(mode);
            assert_eq!(c["shape"], json!([8, 2]), "{c}");
            assert!(c["max_diff"].as_f64().is_some_and(|d| d < 1e-5), "{mode}: {c}");
            assert_eq!(c["argmax_agrees"], true, "{c}");
            assert!(
                c["labels"].as_array().is_some_and(|l| l.iter().all(|l| l == "malignant" || l == "benign")),
                "{c}"
            );
            let (s, _) = get(&format!("/v1/receipts/{}", c["receipt"].as_str().expect("receipt"))).await;
            assert_eq!(s, 200, "{mode}: the receipt is kept");
        }
        assert_eq!(case("bad_shape")["status"], "400", "{got:?}");
        assert!(
            case("bad_shape")["message"].as_str().is_some_and(|m| m.contains("inference.bad_input")),
            "{got:?}"
        );
        assert_eq!(case("unknown_model")["status"], "404", "{got:?}");
        let (_, openapi) = get("/openapi.json").await;
        let doc: Value = serde_json::from_str(&openapi).unwrap();
        for path in [
            "/v1/infer",
            "/v1/chat/completions",
            "/infer",
            "/api/chat",
            "/api/generate",
            "/api/tags",
            "/api/show",
            "/v1/attestation",
            "/v1/receipts/{id}",
            "/v1/models",
            "/v1/ml/models",
            "/v1/ml/models/{id}/inference",
            "/v1/ml/jobs/{id}",
            "/v1/ml/proofs/{id}/verify",
            "/v1/train",
            "/v1/train/registration",
            "/v1/proxy/chat/completions",
            "/v1/proxy/signature/{chat_id}",
            "/v1/user/{address}/unsettledfee",
            "/v1/quote",
            "/v1/health",
            "/metrics",
            "/openapi.json",
            "/v2",
            "/v2/health/live",
            "/v2/health/ready",
            "/v2/models/{name}",
            "/v2/models/{name}/ready",
            "/v2/models/{name}/infer",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is documented");
        }
        // A gateway that is no marketplace provider says so, on every marketplace route.
        for path in ["/v1/quote", "/v1/proxy/signature/chatcmpl-1"] {
            let (s, body) = get(path).await;
            assert!(s == 404 && body.contains("market.disabled"), "{path}: {s} {body}");
        }
        // Protocol errors are problem documents.
        let r = http.get(format!("{g}/nope")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let r = http
            .post(format!("{g}/v1/infer"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let r = http.post(format!("{g}/v1/infer")).body("x").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 415);
    });

    // `veil attestation`: fresh evidence for our nonce, verified under the dev root only.
    let dev_root = ctx.dir.join("pki/dev-root.pem");
    let err = fails(&veil(&["attestation", "--gateway", g, "--dev-root", dev_root.to_str().unwrap()]));
    assert!(err.contains("no measurement is trusted"), "{err}");
    let out = ok(&veil(&[
        "attestation",
        "--gateway",
        g,
        "--dev-root",
        dev_root.to_str().unwrap(),
        "--any-measurement",
    ]));
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["measurement"], up_json(&ctx.dir)["measurement"]);
    assert!(claims["keys"]["ed25519"].is_string() && claims["keys"]["hpke"].is_string());
    let err = fails(&veil(&["attestation", "--gateway", g]));
    assert!(err.contains("attestation.chain"), "{err}");
}
