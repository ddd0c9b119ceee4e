//! `veil zk setup`, `veil prove income-threshold|inference`, `veil zk verify`,
//! `veil zk export-r1cs` and `veil zk serve` through the binary.

use crate::common;

use common::{fails, ok, veil};

#[test]
fn prove_and_verify_an_income_threshold_and_refuse_what_is_false_or_changed() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let out = ok(&veil(&["zk", "setup", "--slots", "16", "--out", &p("keys")]));
    assert!(out.contains("constraints"), "{out}");
    let statement = |threshold: &str| {
        format!(
            r#"{{"account": "0xa11ce", "epoch": 202611, "amounts": [150000, 225000, 90000], "salt": "77", "threshold": "{threshold}", "slots": 16}}"#
        )
    };
    std::fs::write(p("true.json"), statement("465000")).unwrap();
    ok(&veil(&[
        "prove",
        "income-threshold",
        "--pk",
        &p("keys/income-16.pk"),
        "--statement",
        &p("true.json"),
        "--out",
        &p("proof"),
    ]));
    let verify = |public: &str| {
        veil(&[
            "zk",
            "verify",
            "--vk",
            &p("keys/income-16.vk.json"),
            "--public",
            public,
            "--proof",
            &p("proof/proof.json"),
        ])
    };
    assert!(ok(&verify(&p("proof/public.json"))).starts_with("valid proof (3 public inputs)"));

    // The same proof for a higher threshold: invalid, exit 1.
    let public: Vec<String> =
        serde_json::from_slice(&std::fs::read(p("proof/public.json")).unwrap()).unwrap();
    assert_eq!(public[1], "465000");
    let mut raised = public.clone();
    raised[1] = "465001".into();
    std::fs::write(p("raised.json"), serde_json::to_vec(&raised).unwrap()).unwrap();
    let out = verify(&p("raised.json"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("zk.invalid"));

    ok(&veil(&["zk", "export-solidity", "--vk", &p("keys/income-16.vk.json"), "--out", &p("Verifier.sol")]));
    let sol = std::fs::read_to_string(p("Verifier.sol")).unwrap();
    assert!(sol.contains("pragma solidity 0.8.37") && sol.contains("function verifyProof"), "{sol}");

    // A false statement: a clear error, no proof written.
    std::fs::write(p("false.json"), statement("465001")).unwrap();
    let err = fails(&veil(&[
        "prove",
        "income-threshold",
        "--pk",
        &p("keys/income-16.pk"),
        "--statement",
        &p("false.json"),
        "--out",
        &p("nope"),
    ]));
    assert!(err.contains("statement is false"), "{err}");
    assert!(!dir.path().join("nope").exists());
    // Malformed statements and files.
    std::fs::write(
        p("bad.json"),
        r#"{"account": "x", "epoch": 1, "amounts": [], "salt": "1", "threshold": "0"}"#,
    )
    .unwrap();
    assert!(
        fails(&veil(&[
            "prove",
            "income-threshold",
            "--pk",
            &p("keys/income-16.pk"),
            "--statement",
            &p("bad.json"),
            "--out",
            &p("nope")
        ]))
        .contains("account")
    );
    std::fs::write(p("garbage.json"), "[\"1\", 2]").unwrap();
    assert!(fails(&verify(&p("garbage.json"))).contains("malformed public inputs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proof_server_answers_with_a_receipt_that_veil_verify_checks() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    ok(&veil(&["zk", "setup", "--slots", "16", "--out", &p("keys")]));
    let (_server, url) =
        common::serve(&["zk", "serve", "--keys", &p("keys"), "--slots", "16", "--listen", "127.0.0.1:0"]);
    let info: serde_json::Value =
        reqwest::get(format!("{url}/v1/prover")).await.unwrap().json().await.unwrap();
    let key = info["hpke"].as_str().unwrap();
    std::fs::write(
        p("statement.json"),
        serde_json::json!({
            "account": "1", "epoch": 2, "amounts": [10, 20], "salt": "3", "threshold": "30", "slots": 16,
            "nonce": "cli-test-nonce-0001", "expires_at": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300,
        })
        .to_string(),
    )
    .unwrap();
    ok(&veil(&["seal", "--to", key, &p("statement.json"), &p("statement.sealed")]));
    let sealed =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p("statement.sealed")).unwrap());
    let http = reqwest::Client::new();
    let accepted: serde_json::Value = http
        .post(format!("{url}/v1/prove/income-threshold"))
        .json(&serde_json::json!({ "sealed": sealed }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["id"].as_str().unwrap();
    let mut job = serde_json::Value::Null;
    for _ in 0..600 {
        job = http
            .get(format!("{url}/v1/proofs/{id}"))
            .bearer_auth(accepted["capability"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["job"]["status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(job["job"]["status"], "done", "{job}");
    std::fs::write(p("receipt.json"), serde_json::to_vec(&job["job"]["receipt"]).unwrap()).unwrap();
    // Without pins the proof inside proves nothing: its key came with it.
    let refused = veil(&["verify", &p("receipt.json")]);
    assert!(fails(&refused).contains("receipt.zk_key_untrusted"));
    // The verifier pins the keys the prover's operator published.
    let out = ok(&veil(&["zk", "pins", "--keys", &p("keys"), "--slots", "16", "--out", &p("pins.json")]));
    assert!(out.starts_with("1 verifying key(s), 0 model(s)"), "{out}");
    let pinned: serde_json::Value = serde_json::from_slice(&std::fs::read(p("pins.json")).unwrap()).unwrap();
    assert_eq!(
        pinned["keys"][0],
        info["circuits"][veil_zk::income::CIRCUIT_ID]["vk_hash"],
        "the pins name the key the server publishes"
    );
    let line = ok(&veil(&["verify", "--zk-pins", &p("pins.json"), &p("receipt.json")]));
    assert!(line.contains("mode=zk"), "{line}");
    // Or the verifying key file itself.
    let line = ok(&veil(&["verify", "--zk-key", &p("keys/income-16.vk.json"), &p("receipt.json")]));
    assert!(line.contains("mode=zk"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkml_through_the_binary_and_an_attested_proof_server() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    // Public weights keep this quick; the private-weights circuit is proved in
    // crates/veil-prover/tests/inference.rs.
    let args = ["--model", "digits-mlp", "--weights", "public"];
    let out =
        ok(&veil(&[&["zk", "setup", "--circuit", "inference", "--out", &p("keys")][..], &args].concat()));
    assert!(out.contains("constraints"), "{out}");
    let pk = p("keys/mlp-digits-mlp-public.pk");
    let out = ok(&veil(
        &[&["prove", "inference", "--pk", &pk, "--row", "0", "--salt", "5", "--out", &p("inf")][..], &args]
            .concat(),
    ));
    assert!(out.contains("class 1 (held-out label 1)"), "{out}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p("inf/result.json")).unwrap()).unwrap();
    assert_eq!(result["class"], 1);
    let verify = |public: &str| {
        veil(&[
            "zk",
            "verify",
            "--vk",
            &p("keys/mlp-digits-mlp-public.vk.json"),
            "--public",
            public,
            "--proof",
            &p("inf/proof.json"),
        ])
    };
    ok(&verify(&p("inf/public.json")));
    let mut public: Vec<String> =
        serde_json::from_slice(&std::fs::read(p("inf/public.json")).unwrap()).unwrap();
    public[2] = "1".into();
    std::fs::write(p("other.json"), serde_json::to_vec(&public).unwrap()).unwrap();
    assert_eq!(verify(&p("other.json")).status.code(), Some(1), "another output commitment");
    let err = fails(&veil(
        &[&["prove", "inference", "--pk", &pk, "--row", "450", "--out", &p("nope")][..], &args].concat(),
    ));
    assert!(err.contains("450 held-out rows"), "{err}");
    let err = fails(&veil(
        &[&["prove", "inference", "--pk", &pk, "--features", "1,2,x", "--out", &p("nope")][..], &args]
            .concat(),
    ));
    assert!(err.contains("not a number"), "{err}");
    assert!(!dir.path().join("nope").exists());

    // The circuit as .r1cs for a ceremony.
    ok(&veil(
        &[&["zk", "export-r1cs", "--circuit", "inference", "--out", &p("mlp.r1cs")][..], &args].concat(),
    ));
    assert!(std::fs::read(p("mlp.r1cs")).unwrap().starts_with(b"r1cs"));

    // The server serves the inference key and attests its keys under a dev root.
    ok(&veil(&["sim-tee", "init", "--dir", &p("pki")]));
    let (_server, url) = common::serve(&[
        "zk",
        "serve",
        "--keys",
        &p("keys"),
        "--model",
        "digits-mlp",
        "--weights",
        "public",
        "--sim-tee-seed",
        &p("pki/seed"),
        "--listen",
        "127.0.0.1:0",
    ]);
    let info: serde_json::Value =
        reqwest::get(format!("{url}/v1/prover")).await.unwrap().json().await.unwrap();
    assert_eq!(info["circuits"]["veil/mlp-inference/v1"]["weights"], "public", "{info}");
    let a: serde_json::Value = reqwest::get(format!("{url}/v1/attestation?nonce=cli-challenge-000001"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rd = &a["evidence"]["runtime_data"];
    assert_eq!(rd["nonce"], "cli-challenge-000001");
    assert_eq!(rd["purpose"], "prover/attestation");
    assert_eq!(rd["public_keys"]["hpke"], info["hpke"]);
    assert_eq!(a["evidence"]["tee"], "tdx");
    let r = reqwest::get(format!("{url}/v1/attestation?nonce=x")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "a short nonce is refused");
}
