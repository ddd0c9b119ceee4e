//! `veil fhe keygen | encrypt | eval | decrypt` through the binary: the decrypted
//! accumulators equal the int8 model's in the clear on the whole held-out split, and
//! what is damaged, misdirected or unprotected is refused in one line.

use serde_json::Value;
use veil_fhe::ParamSet;
use veil_stack::fhe::FheModel;

use crate::common::{fails, ok, veil};

/// The int8 model's accumulators in the clear, row by row.
fn clear_accumulators(model: &FheModel, rows: &[Vec<f32>]) -> Vec<Vec<i64>> {
    let quantized = model.quantize(rows).unwrap();
    quantized.iter().map(|x| model.net.forward(x).unwrap().into_iter().map(i64::from).collect()).collect()
}

fn decrypted(stdout: &str) -> Vec<Vec<i64>> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .enumerate()
        .map(|(i, v)| {
            assert_eq!(v["row"], i);
            v["accumulators"].as_array().unwrap().iter().map(|a| a.as_i64().unwrap()).collect()
        })
        .collect()
}

#[test]
fn encrypted_rows_come_back_as_the_int8_models_accumulators() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let out = ok(&veil(&["fhe", "keygen", "--out", &p("keys")]));
    assert!(out.contains("bfv-n4096-q109-t24"), "{out}");
    let model = FheModel::bundled("breast-cancer-logreg", &ParamSet::standard().unwrap()).unwrap();

    // Encrypted under the secret key itself (what a client does with its own rows).
    ok(&veil(&["fhe", "encrypt", "--key", &p("keys/fhe.key"), "--test-split", "--out", &p("q.bin")]));
    // The server's step takes no key.
    ok(&veil(&["fhe", "eval", "--query", &p("q.bin"), "--out", &p("a.bin")]));
    let got =
        decrypted(&ok(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.key"), "--answer", &p("a.bin")])));
    let rows = model.test_rows();
    assert_eq!(got.len(), rows.len());
    assert_eq!(got, clear_accumulators(&model, &rows));

    // Rows from a CSV (header and the dataset's extra columns skipped), encrypted under
    // the public key.
    let csv = "x0,x1,rest\n".to_owned()
        + &rows[..2]
            .iter()
            .map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + ",1,test")
            .collect::<Vec<_>>()
            .join("\n");
    std::fs::write(p("rows.csv"), csv).unwrap();
    ok(&veil(&[
        "fhe",
        "encrypt",
        "--key",
        &p("keys/fhe.pub"),
        "--csv",
        &p("rows.csv"),
        "--out",
        &p("q2.bin"),
    ]));
    ok(&veil(&["fhe", "eval", "--query", &p("q2.bin"), "--out", &p("a2.bin")]));
    let two =
        decrypted(&ok(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.key"), "--answer", &p("a2.bin")])));
    assert_eq!(two, got[..2]);
}

#[test]
fn damaged_misdirected_or_unprotected_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    ok(&veil(&["fhe", "keygen", "--out", &p("keys")]));
    let before = std::fs::read(p("keys/fhe.key")).unwrap();
    assert!(fails(&veil(&["fhe", "keygen", "--out", &p("keys")])).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(p("keys/fhe.key")).unwrap(), before);

    ok(&veil(&["fhe", "encrypt", "--key", &p("keys/fhe.pub"), "--test-split", "--out", &p("q.bin")]));
    // A query under another parameter set (its hash changed in the header).
    let mut query = std::fs::read(p("q.bin")).unwrap();
    query[10] ^= 0xff;
    std::fs::write(p("other.bin"), &query).unwrap();
    let err = fails(&veil(&["fhe", "eval", "--query", &p("other.bin"), "--out", &p("a.bin")]));
    assert!(err.contains("parameter set"), "{err}");
    // Truncated.
    let query = std::fs::read(p("q.bin")).unwrap();
    std::fs::write(p("short.bin"), &query[..query.len() / 2]).unwrap();
    assert!(
        fails(&veil(&["fhe", "eval", "--query", &p("short.bin"), "--out", &p("a.bin")]))
            .contains("truncated")
    );
    assert!(!dir.path().join("a.bin").exists(), "no answer is written for a refused query");
    // A model FHE cannot evaluate.
    let err =
        fails(&veil(&["fhe", "eval", "--model", "digits-mlp", "--query", &p("q.bin"), "--out", &p("a.bin")]));
    assert!(err.contains("linear models"), "{err}");
    // A public key where the secret key belongs, and a secret key others can read.
    ok(&veil(&["fhe", "eval", "--query", &p("q.bin"), "--out", &p("a.bin")]));
    let err = fails(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.pub"), "--answer", &p("a.bin")]));
    assert!(err.contains("found an FHE public key"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p("keys/fhe.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = fails(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.key"), "--answer", &p("a.bin")]));
        assert!(err.contains("mode 644"), "{err}");
        let err = fails(&veil(&[
            "fhe",
            "encrypt",
            "--key",
            &p("keys/fhe.key"),
            "--test-split",
            "--out",
            &p("q4.bin"),
        ]));
        assert!(err.contains("mode 644"), "{err}");
    }
    // Rows of the wrong width.
    std::fs::write(p("narrow.csv"), "1,2,3\n").unwrap();
    let err = fails(&veil(&[
        "fhe",
        "encrypt",
        "--key",
        &p("keys/fhe.pub"),
        "--csv",
        &p("narrow.csv"),
        "--out",
        &p("q3.bin"),
    ]));
    assert!(err.contains("expected 30 numbers"), "{err}");
}

/// The private-ML API end to end: `veil fhe infer` encrypts the held-out split, the
/// gateway hands the query to an attested worker that evaluates the int8 model on
/// ciphertexts, and the client verifies the receipt (its evidence, and that it names
/// the very query sent and answer received) before decrypting to exactly the int8
/// model's accumulators. Then the API's refusals, each with its status and code.
#[test]
fn the_private_ml_api_evaluates_encrypted_rows_in_an_attested_worker() {
    use crate::common::{up, up_json};
    use base64::Engine as _;
    use serde_json::json;
    let b64 = base64::engine::general_purpose::STANDARD;

    let tmp = tempfile::tempdir().unwrap();
    let (_up, g) = up(&tmp.path().join("stack"), &[]);
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_owned();
    let dev_root = p("stack/pki/dev-root.pem");
    ok(&veil(&["fhe", "keygen", "--out", &p("keys")]));
    let set = ParamSet::standard().unwrap();
    let model = FheModel::bundled("breast-cancer-logreg", &set).unwrap();
    let rows = model.test_rows();

    let key_path = p("keys/fhe.key");
    let infer = |extra: &[&str]| {
        let mut args = vec!["fhe", "infer", "--gateway", &g, "--key", &key_path, "--dev-root", &dev_root];
        args.extend_from_slice(extra);
        veil(&args)
    };
    let out = ok(&infer(&["--test-split", "--any-measurement", "--receipt", &p("r.json")]));
    let json_lines: String = out.lines().filter(|l| l.starts_with('{')).collect::<Vec<_>>().join("\n");
    assert_eq!(decrypted(&json_lines), clear_accumulators(&model, &rows), "{out}");
    assert!(out.contains("mode=fhe") && out.contains("evidence=Tdx"), "{out}");
    // Naming no measurement trusts none: the receipt's evidence is checked like a tee one's.
    let err = fails(&infer(&["--test-split"]));
    assert!(err.contains("measurement"), "{err}");

    // The receipt verifies offline as an attested fhe receipt, and its query hash is
    // the root of the query's bytes; a changed byte breaks it.
    let summary = ok(&veil(&["verify", "--dev-root", &dev_root, "--any-measurement", &p("r.json")]));
    assert!(summary.contains("mode=fhe") && summary.contains("measurement="), "{summary}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(p("r.json")).unwrap()).unwrap();
    assert_eq!(doc["receipt"]["mode"], "fhe");
    let kinds: Vec<&str> =
        doc["receipt"]["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["request.received", "model.loaded", "fhe.evaluated", "response.returned"]);
    let fhe_event = &doc["receipt"]["events"][2]["data"];
    assert_eq!(fhe_event["query_hash"], doc["receipt"]["input_hash"]);
    assert_eq!(fhe_event["params_hash"], set.hash_hex());
    assert_eq!(fhe_event["rows"], rows.len());
    let mut tampered = doc.clone();
    tampered["receipt"]["events"][2]["data"]["rows"] = json!(rows.len() + 1);
    assert_ne!(tampered, doc);
    std::fs::write(p("t.json"), serde_json::to_vec(&tampered).unwrap()).unwrap();
    fails(&veil(&["verify", "--dev-root", &dev_root, "--any-measurement", &p("t.json")]));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let catalog: Value =
            http.get(format!("{g}/v1/ml/models")).send().await.unwrap().json().await.unwrap();
        let levels = |id: &str| -> Vec<String> {
            let m = catalog["models"].as_array().unwrap().iter().find(|m| m["id"] == id).expect(id);
            m["privacy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["privacy"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(levels("breast-cancer-logreg-int8"), ["fhe", "hybrid"], "{catalog}");
        assert_eq!(levels("breast-cancer-logreg"), ["tee"], "{catalog}");

        // The gateway checks the receipt it kept under its deployment's trust.
        let verify = |id: String| {
            let (http, url) = (http.clone(), format!("{g}/v1/ml/proofs/{id}/verify"));
            async move {
                let r = http.post(url).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (s, checked) = verify(doc["id"].as_str().unwrap().to_owned()).await;
        assert_eq!((s, &checked["valid"], &checked["mode"]), (200, &json!(true), &json!("fhe")), "{checked}");
        assert!(checked["verification_time_ms"].as_f64().is_some_and(|t| t > 0.0), "{checked}");
        let (s, missing) = verify(format!("sha256:{}", "0".repeat(64))).await;
        assert_eq!((s, missing["code"].as_str()), (404, Some("receipt.not_found")), "{missing}");
        assert_eq!(verify("../x".into()).await.0, 404, "not a route");
        assert_eq!(verify("xyz".into()).await.0, 400);

        let post = |model: &str, body: Value| {
            let (http, url) = (http.clone(), format!("{g}/v1/ml/models/{model}/inference"));
            async move {
                let r = http.post(url).json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
                (status, ct, r.json::<Value>().await.unwrap())
            }
        };
        let refused = |(status, ct, body): (u16, String, Value), want: u16, code: &str| {
            assert_eq!((status, body["code"].as_str()), (want, Some(code)), "{body}");
            assert_eq!(ct, "application/problem+json");
        };
        let key = veil_stack::fhe::read_client_key(&tmp.path().join("keys/fhe.key"), &set).unwrap();
        let mut rng = rand_09::rng();
        let query = key.encrypt_rows(&model.quantize(&rows[..3]).unwrap(), &mut rng).unwrap().to_bytes();
        let int8 = "breast-cancer-logreg-int8";

        // At the door: not base64, truncated, under other parameters, another shape.
        let q = |bytes: &[u8]| json!({"privacy": "fhe", "query": b64.encode(bytes)});
        refused(post(int8, json!({"privacy": "fhe", "query": "%%%"})).await, 400, "fhe.bad_ciphertext");
        refused(post(int8, q(&query[..30])).await, 400, "fhe.bad_ciphertext");
        let mut other_params = query.clone();
        other_params[20] ^= 1;
        assert_ne!(other_params, query);
        refused(post(int8, q(&other_params)).await, 400, "fhe.bad_ciphertext");
        let wide = key.encrypt_rows(&[vec![1i8; 64]], &mut rng).unwrap().to_bytes();
        let (s, _, body) = post(int8, q(&wide)).await;
        assert_eq!((s, body["code"].as_str()), (400, Some("fhe.bad_ciphertext")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains("64 features"), "{body}");
        // Too many ciphertexts by the header's count, and a body over the limit.
        let mut many = query.clone();
        many[50..54].copy_from_slice(&65u32.to_le_bytes());
        refused(post(int8, q(&many)).await, 413, "fhe.too_large");
        // The gateway answers 413 before reading the rest, so the client may see its
        // connection closed mid-body instead: the gateway's own count of refusals for
        // the route is what must move.
        let refusals = || {
            let (http, url) = (http.clone(), format!("{g}/metrics"));
            async move {
                let text = http.get(url).send().await.unwrap().text().await.unwrap();
                let label = "route=\"/v1/ml/models/{id}/inference\",outcome=\"request.malformed\"} ";
                text.lines()
                    .find_map(|l| l.split_once(label).map(|(_, n)| n.parse::<u64>().unwrap()))
                    .unwrap_or(0)
            }
        };
        let before = refusals().await;
        let huge = json!({"privacy": "fhe", "query": "A".repeat(13 << 20)});
        // Its own connection: one the server closed mid-body is not one to reuse.
        let once = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        match once.post(format!("{g}/v1/ml/models/{int8}/inference")).json(&huge).send().await {
            Ok(r) => assert_eq!(r.status().as_u16(), 413),
            Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        }
        assert_eq!(refusals().await, before + 1, "the oversized body was refused, unread");
        // Levels a model is not offered at, and inputs for another level.
        refused(post(int8, json!({"privacy": "tee", "rows": [[0.0]]})).await, 400, "ml.privacy_unsupported");
        refused(post(LOGREG_ONNX, q(&query)).await, 400, "ml.privacy_unsupported");
        refused(post(int8, json!({"privacy": "zk", "query": "AA=="})).await, 400, "ml.privacy_unsupported");
        refused(post(int8, json!({"privacy": "hybrid", "rows": [[1.0]]})).await, 400, "request.malformed");
        refused(post("nope", q(&query)).await, 404, "inference.model_unknown");
        let r = http.get(format!("{g}/v1/ml/jobs/ml_{}", "0".repeat(32))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let r = http.get(format!("{g}/v1/ml/jobs/x?wait_ms=soon")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);

        // A header that passes the door over a damaged ciphertext: the job fails with
        // the worker's 400, and nothing is signed.
        let mut damaged = query.clone();
        let n = damaged.len();
        damaged[n - 100..].fill(0xff);
        let (s, _, job) = post(int8, q(&damaged)).await;
        assert_eq!(s, 202, "{job}");
        let done = wait(&http, &g, job["id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "failed", "{done}");
        assert_eq!(done["error"]["code"], "fhe.bad_ciphertext", "{done}");

        // tee: plaintext rows to the attested worker, through the same API.
        let (s, _, job) = post(LOGREG_ONNX, json!({"privacy": "tee", "rows": [rows[0].clone()]})).await;
        assert_eq!(s, 202, "{job}");
        let done = wait(&http, &g, job["id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "done", "{done}");
        assert_eq!(done["result"]["receipt"]["receipt"]["mode"], "tee");
        assert_eq!(done["result"]["output"]["predictions"].as_array().unwrap().len(), 1);
        let again: Value = http.get(format!("{g}/v1/ml/models")).send().await.unwrap().json().await.unwrap();
        let measured = again["models"].as_array().unwrap().iter().find(|m| m["id"] == LOGREG_ONNX).unwrap();
        assert!(measured["privacy"][0]["measured_latency_ms"].as_f64().is_some(), "{again}");

        // The costly routes allow a client 100 requests a second: a burst past that is
        // refused with 429 and Retry-After, the rest answered as usual.
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..400 {
            let (http, url) = (http.clone(), format!("{g}/v1/ml/proofs/xyz/verify"));
            burst.spawn(async move {
                let r = http.post(url).send().await.unwrap();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (r.status().as_u16(), retry, r.json::<Value>().await.unwrap())
            });
        }
        let (mut limited, mut answered) = (0, 0);
        while let Some(r) = burst.join_next().await {
            match r.unwrap() {
                (429, retry, body) => {
                    assert_eq!(
                        (retry.as_deref(), body["code"].as_str()),
                        (Some("1"), Some("request.rate_limited"))
                    );
                    limited += 1;
                }
                (400, _, _) => answered += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(limited > 0 && answered > 0, "{limited} limited, {answered} answered");
    });
    assert!(up_json(&tmp.path().join("stack"))["gateway"].is_string());
}

const LOGREG_ONNX: &str = "breast-cancer-logreg";

/// The job once settled, by long polls.
async fn wait(http: &reqwest::Client, g: &str, id: &str) -> Value {
    for _ in 0..10 {
        let url = format!("{g}/v1/ml/jobs/{id}?wait_ms=30000");
        let job: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        if job["state"] != "running" {
            return job;
        }
    }
    panic!("job {id} never finished");
}

/// Models FHE evaluates are sealed at rest: the store holds no plaintext of them,
/// and a worker opens one only with the key the broker releases under its policy. A
/// deployment whose broker policy stops releasing model keys serves no sealed model,
/// and says why; nothing is evaluated.
#[test]
fn a_sealed_model_opens_only_where_the_broker_releases_its_key() {
    use crate::common::up;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stack");
    let (first, _) = up(&dir, &[]);
    drop(first);

    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("store/models.json")).unwrap()).unwrap();
    let int8 = &index["breast-cancer-logreg-int8"];
    assert_eq!(int8["format"], "int8");
    assert!(int8["sealed"].is_string() && int8["sealed"] != int8["root"], "{int8}");
    let plain =
        FheModel::bundled("breast-cancer-logreg", &ParamSet::standard().unwrap()).unwrap().net.to_file();
    let mut files = vec![dir.join("store")];
    while let Some(d) = files.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                files.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let leak = bytes.windows(plain.len().min(64)).any(|w| w == &plain[..plain.len().min(64)]);
                assert!(!leak, "{} holds the int8 model in the clear", path.display());
            }
        }
    }

    // The broker's policy no longer releases model keys.
    let toml = dir.join("kms/kms.toml");
    let policy = std::fs::read_to_string(&toml).unwrap();
    let narrowed = policy.replace(r#"["token/*", "model/*"]"#, r#"["token/*"]"#);
    assert_ne!(narrowed, policy);
    std::fs::write(&toml, narrowed).unwrap();
    let (_up, g) = up(&dir, &[]);
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_owned();
    ok(&veil(&["fhe", "keygen", "--out", &p("keys")]));
    let err = fails(&veil(&[
        "fhe",
        "infer",
        "--gateway",
        &g,
        "--key",
        &p("keys/fhe.key"),
        "--test-split",
        "--any-measurement",
        "--dev-root",
        &p("stack/pki/dev-root.pem"),
    ]));
    assert!(err.contains("inference.key_refused") || err.contains("kms.resource"), "{err}");
    assert!(err.contains("breast-cancer-logreg-int8"), "{err}");
    let audit = std::fs::read_to_string(dir.join("kms/audit.jsonl")).unwrap();
    assert!(audit.contains("model/0x") && audit.contains("kms.resource"), "the refusal is audited");
}

/// `veil bench fhe --through-stack` runs the private-ML path end to end on a stack of
/// its own (the figures themselves are for docs/BENCHMARKS.md, not asserted).
#[test]
fn the_through_stack_fhe_benchmark_reports_both_levels() {
    let out = ok(&veil(&["bench", "fhe", "--through-stack", "--runs", "1"]));
    for row in ["| submit → settled job", "| client: verify receipt", "| total |", "opens the sealed model"]
    {
        assert!(out.contains(row), "{row} in {out}");
    }
}
