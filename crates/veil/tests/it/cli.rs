//! The `veil` binary as a user meets it: outputs, exit codes, one-line errors, and
//! no partial files when something is wrong.

use crate::common;
use std::path::{Path, PathBuf};

use std::process::{Command, Output, Stdio};

use common::{fails, ok, veil};

fn veil_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let pk = ok(&veil(&["keygen", "--out", s(&key)])).trim().to_owned();
    (key, pk)
}

#[test]
fn root_prints_the_0g_root_for_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d");
    std::fs::write(&f, pattern(4096)).unwrap();
    let expected = "0xaef6d19a4161f0fabc7a71f56477d1c829d6ba7967d6a987750ff67fbfb430a5\n";
    assert_eq!(ok(&veil(&["root", s(&f)])), expected);
    assert_eq!(ok(&veil_stdin(&["root", "-"], &pattern(4096))), expected);
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(fails(&veil(&["root", s(&empty)])).contains("empty"));
    assert!(fails(&veil(&["root", s(&dir.path().join("missing"))])).contains("missing"));
}

#[test]
fn keygen_writes_a_private_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pk) = keygen(dir.path(), "id.key");
    assert!(pk.starts_with("veilpk1"), "{pk}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let before = std::fs::read(&key).unwrap();
    assert!(fails(&veil(&["keygen", "--out", s(&key)])).contains("already exists"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn seal_and_open_round_trip_through_files_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let (ka, pa) = keygen(dir.path(), "a.key");
    let (kb, pb) = keygen(dir.path(), "b.key");
    let plain = dir.path().join("plain");
    let data = pattern(300_000);
    std::fs::write(&plain, &data).unwrap();
    let sealed = dir.path().join("sealed");
    ok(&veil(&["seal", "--to", &format!("{pa},{pb}"), s(&plain), s(&sealed)]));
    for key in [&ka, &kb] {
        let out = dir.path().join("opened");
        ok(&veil(&["open", "--key", s(key), s(&sealed), s(&out)]));
        assert_eq!(std::fs::read(&out).unwrap(), data);
    }
    let piped = veil_stdin(&["seal", "--to", &pa, "-", "-"], &data);
    assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
    let sealed_bytes = piped.stdout.clone();
    let opened = veil_stdin(&["open", "--key", s(&ka), "-", "-"], &sealed_bytes);
    assert_eq!(opened.stdout, data);
}

#[test]
fn bad_input_to_open_fails_cleanly_and_leaves_outputs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (ka, pa) = keygen(dir.path(), "a.key");
    let (stranger, _) = keygen(dir.path(), "s.key");
    let plain = dir.path().join("plain");
    std::fs::write(&plain, pattern(200_000)).unwrap();
    let sealed = dir.path().join("sealed");
    ok(&veil(&["seal", "--to", &pa, s(&plain), s(&sealed)]));
    let out = dir.path().join("out");

    assert!(
        fails(&veil(&["open", "--key", s(&stranger), s(&sealed), s(&out)]))
            .contains("sealed to someone else")
    );
    assert!(!out.exists(), "output written despite the error");

    let bytes = std::fs::read(&sealed).unwrap();
    let truncated = dir.path().join("truncated");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    std::fs::write(&out, b"previous contents").unwrap();
    let err = fails(&veil(&["open", "--key", s(&ka), s(&truncated), s(&out)]));
    assert!(err.contains("segment 3") || err.contains("truncated"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");

    let mut flipped = bytes.clone();
    flipped[70_000] ^= 4;
    assert_ne!(flipped, bytes);
    let tampered = dir.path().join("tampered");
    std::fs::write(&tampered, &flipped).unwrap();
    assert!(
        fails(&veil(&["open", "--key", s(&ka), s(&tampered), s(&out)])).contains("failed authentication")
    );
    assert!(fails(&veil(&["open", "--key", s(&ka), s(&plain), s(&out)])).contains("not a Veil sealed file"));
    assert!(
        fails(&veil(&["seal", "--to", "veilpk1notakey", s(&plain), s(&out)])).contains("invalid public key")
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ka, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(fails(&veil(&["open", "--key", s(&ka), s(&sealed), s(&out)])).contains("chmod 600"));
    }
}

#[test]
fn store_put_get_segment_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let f = dir.path().join("f");
    let data = pattern(600_000);
    std::fs::write(&f, &data).unwrap();
    let root = ok(&veil(&["store", "--store", s(&store), "put", s(&f)])).trim().to_owned();
    assert_eq!(root, ok(&veil(&["root", s(&f)])).trim());
    assert_eq!(ok(&veil_stdin(&["store", "--store", s(&store), "put", "-"], &data)).trim(), root);

    let out = dir.path().join("out");
    ok(&veil(&["store", "--store", s(&store), "get", &root, s(&out)]));
    assert_eq!(std::fs::read(&out).unwrap(), data);

    let seg = dir.path().join("seg1");
    ok(&veil(&["store", "--store", s(&store), "segment", &root, "1", s(&seg)]));
    let proof = dir.path().join("seg1.proof.json");
    assert!(ok(&veil(&["verify-segment", &root, s(&proof), s(&seg)])).contains("verified"));
    let other = dir.path().join("seg0");
    ok(&veil(&["store", "--store", s(&store), "segment", &root, "0", s(&other)]));
    assert!(fails(&veil(&["verify-segment", &root, s(&proof), s(&other)])).contains("root mismatch"));

    assert!(
        fails(&veil(&["store", "--store", s(&store), "get", "0xnothex", s(&out)])).contains("malformed root")
    );
    let unknown = format!("0x{}", "ab".repeat(32));
    assert!(
        fails(&veil(&["store", "--store", s(&store), "get", &unknown, s(&out)])).contains("not in the store")
    );

    let blob = store.join("blobs").join(&root[2..4]).join(&root[2..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let fresh = dir.path().join("fresh");
    assert!(fails(&veil(&["store", "--store", s(&store), "get", &root, s(&fresh)])).contains("corrupt"));
    assert!(!fresh.exists());
    assert!(fails(&veil(&["store", "--store", "s3://bucket", "put", s(&f)])).contains("--s3-credentials"));
}

#[test]
fn the_demo_runs_and_its_receipt_verifies_until_changed() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = ok(&veil(&["demo", "--dir", s(&work)]));
    assert!(out.contains("valid receipt sha256:"), "{out}");
    // The test suite installs the bundled language model first (scripts/models.sh), so
    // the chat story runs too: two more refusals; the FHE story has one.
    assert_eq!(out.matches(": refused — ").count(), 7, "{out}");
    for code in [
        "inference.not_authorized",
        "request.replayed",
        "inference.data_integrity",
        "receipt.id_mismatch",
        "fhe.bad_ciphertext",
    ] {
        assert!(out.contains(code), "{code} in {out}");
    }
    for said in [
        "the receipt's completion_hash is the root of the text received",
        // Greedy decoding over the note retrieved inside the worker (llama.cpp answers
        // the same prompt with the same words).
        "A: The door code of the Lisbon office is 4817.",
        "a stranger's own API key: refused — inference.not_authorized",
        "the revoked user's next question, same API key: refused — inference.not_authorized",
        "the int8 model's exact result on 143/143 rows",
        "mode=fhe",
        "in the transparency log before it was answered: entry ",
    ] {
        assert!(out.contains(said), "{said:?} in {out}");
    }
    let receipt = work.join("receipt.json");
    let dev_root = work.join("stack/pki/dev-root.pem");
    let up: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("stack/up.json")).unwrap()).unwrap();
    let measurement = up["measurement"].as_str().unwrap();
    let line = ok(&veil(&["verify", "--dev-root", s(&dev_root), "--measurement", measurement, s(&receipt)]));
    assert!(line.starts_with("valid receipt sha256:") && line.contains("mode=tee"), "{line}");
    assert_eq!(line.lines().count(), 1);
    let fhe = work.join("fhe-receipt.json");
    let line = ok(&veil(&["verify", "--dev-root", s(&dev_root), "--measurement", measurement, s(&fhe)]));
    assert!(line.contains("mode=fhe") && line.contains("evidence=Tdx"), "{line}");

    let original = std::fs::read_to_string(&receipt).unwrap();
    // The receipt names the on-chain authorization, and the demo's chain agrees.
    let doc: serde_json::Value = serde_json::from_str(&original).unwrap();
    let events = doc["receipt"]["events"].as_array().unwrap();
    let authz = events.iter().find(|e| e["type"] == "nft.authorized").expect("an nft.authorized event");
    let user = authz["data"]["user"].as_str().unwrap();
    assert_eq!(authz["data"]["chain_id"], 0x7e11);
    let chain = work.join("stack/chain");
    let answer = ok(&veil(&["nft", "--chain-dir", s(&chain), "is-authorized", "1", user]));
    assert!(answer.starts_with("authorized at block"), "{answer}");
    let changed = original.replacen("\"kms/measurement/", "\"kms/anything/", 1);
    assert_ne!(changed, original);
    std::fs::write(&receipt, changed).unwrap();
    let err = fails(&veil(&["verify", "--dev-root", s(&dev_root), s(&receipt)]));
    assert_eq!(veil(&["verify", s(&receipt)]).status.code(), Some(1));
    assert!(err.contains("id mismatch"), "{err}");
    std::fs::write(&receipt, b"{\"receipt\": [").unwrap();
    assert!(fails(&veil(&["verify", s(&receipt)])).contains("not valid JSON"));
}

#[test]
fn kms_audit_verify_reports_the_head_or_the_broken_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = veil_audit::AuditLog::open(&path).unwrap();
    for d in ["granted", "refused", "granted"] {
        log.append("2026-11-21T12:00:00Z", &serde_json::json!({ "decision": d })).unwrap();
    }
    let head = log.head().to_string();
    let out = ok(&veil(&["kms", "audit", "verify", s(&path), "--head", &head]));
    assert!(out.contains("3 entries") && out.contains(&head), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("refused", "granted", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    assert!(fails(&veil(&["kms", "audit", "verify", s(&path)])).contains("line 2"));
    assert!(fails(&veil(&["kms", "audit", "verify", s(&path), "--head", "x"])).contains("LEN:sha256:HEX"));
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_instead_of_panicking() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, as with `veil demo | head -0`
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
fn models_register_list_and_fetch_by_name_or_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let digits = models.join("digits_mlp.onnx");
    let m = |args: &[&str]| {
        let mut all = vec!["model", "--store", s(&store)];
        all.extend_from_slice(args);
        veil(&all)
    };
    let root = ok(&m(&["register", "--name", "digits-mlp", "--classes", "0,1,2,3,4,5,6,7,8,9", s(&digits)]));
    let root = root.trim();
    assert_eq!(root, ok(&veil(&["root", s(&digits)])).trim(), "addressed by its weights root");
    let listed: serde_json::Value = serde_json::from_str(&ok(&m(&["list"]))).unwrap();
    assert_eq!(listed[0]["meta"]["name"], "digits-mlp");
    assert_eq!(listed[0]["features"], 64);
    let out = dir.path().join("fetched.onnx");
    ok(&m(&["fetch", root, s(&out)]));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&digits).unwrap());

    let err = fails(&m(&["register", "--name", "digits-mlp", s(&models.join("breast_cancer_logreg.onnx"))]));
    assert!(err.contains("already registered"), "{err}");
    let not_onnx = dir.path().join("x.onnx");
    std::fs::write(&not_onnx, b"not a model").unwrap();
    let err = fails(&m(&["register", "--name", "x", s(&not_onnx)]));
    assert!(err.contains("onnx"), "{err}");
    let err = fails(&m(&["fetch", "resnet", s(&dir.path().join("r.onnx"))]));
    assert!(err.contains("unknown model"), "{err}");
    assert!(!dir.path().join("r.onnx").exists());
}

/// Issue 14, real hardware: an attesting role runs on configfs-tsm with a reference
/// measurement the operator supplies, or on the simulator with its seed; every other
/// combination stops at start, in one line.
#[test]
fn a_worker_attests_on_hardware_or_the_simulator_and_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.json");
    std::fs::write(
        &config,
        r#"{"chain_id": 1, "inft": "0x00000000000000000000000000000000000000c0", "models": [], "kms_key": "00"}"#,
    )
    .unwrap();
    let tsm = dir.path().join("tsm");
    std::fs::create_dir(&tsm).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let base = [
        "worker".to_owned(),
        "--config".into(),
        s(&config),
        "--kms".into(),
        "http://127.0.0.1:9".into(),
        "--store".into(),
        s(&dir.path().join("store")),
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        fails(&veil(&args))
    };
    let reference = "ab".repeat(48);
    let tsm = s(&tsm);
    for (extra, why) in [
        (vec![], "a worker attests"),
        (vec!["--attester", "sim"], "needs --sim-tee-seed"),
        (vec!["--attester", "configfs-tsm"], "needs --measurement"),
        (vec!["--attester", "configfs-tsm", "--measurement", "abc", "--tsm-dir", &tsm], "48 bytes of hex"),
        // A directory that is not configfs: no provider appears in a new entry.
        (
            vec!["--attester", "configfs-tsm", "--measurement", &reference, "--tsm-dir", &tsm],
            "not a configfs-tsm report entry",
        ),
    ] {
        let err = run(&extra);
        assert!(err.contains(why), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn usage_errors_are_one_line_naming_what_is_wrong_and_exit_2() {
    let missing = veil(&["chain", "keygen"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(fails(&missing).contains("--out <OUT>"));
    let bad = veil(&["zk", "setup", "--circuit", "foo", "--out", "x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(fails(&bad).contains("the circuits are `income` and `inference`"));
    // Help and version still go to stdout with exit 0.
    assert!(ok(&veil(&["--help"])).contains("Usage:"));
    assert!(ok(&veil(&["--version"])).starts_with("veil "));
}
