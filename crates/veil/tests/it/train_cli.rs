//! `veil train` end to end on a running stack: the owner publishes a labelled table as
//! a token's sealed data; the stack's worker registers its chain key as a prover
//! (evidence → attestation verifier → registry); an authorized user escrows a fee for a
//! job, the worker trains inside and signs the `train` receipt and the completion, and
//! the user relays the completion so the job completes on chain with the model's root.

use std::path::Path;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::Value;
use veil_sim_tee::SimMeasurement;

use crate::common::{fails, ok, on_chain, serve, up, up_json, veil, veil_with};

/// The breast-cancer training split as a token's table: `id`, the 30 features, `target`.
fn labelled_table(path: &Path) -> usize {
    let csv =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/data/breast_cancer.csv"))
            .expect("dataset");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut out = format!("id,{}\n", header[..header.len() - 1].join(","));
    let mut n = 0;
    for line in lines.filter(|l| l.ends_with(",train")) {
        n += 1;
        out.push_str(&format!("R{n:04},{}\n", line.trim_end_matches(",train")));
    }
    std::fs::write(path, out).expect("write");
    n
}

#[test]
fn a_user_trains_on_a_tokens_sealed_table_and_the_enclave_completes_the_job() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |x: &Path| x.to_str().expect("utf-8").to_owned();
    let dir = tmp.path().join("stack");
    let (_up, gateway) = up(&dir, &[]);
    let info = up_json(&dir);
    let s = |v: &Value| v.as_str().expect("string").to_owned();
    let (kms, rpc, deployment_path, measurement) =
        (s(&info["kms"]), s(&info["rpc"]), s(&info["deployment"]), s(&info["measurement"]));
    let dev_root = p(&dir.join("pki/dev-root.pem"));
    let deployment: Value =
        serde_json::from_slice(&std::fs::read(&deployment_path).expect("read")).expect("json");
    let registry = s(&deployment["provers"]);
    let operator = veil_stack::keys::read_wallet_key(&dir.join("chain/operator.key")).expect("key").address();
    let operator = format!("{operator:#x}");

    // The owner's labelled table, sealed to token 1.
    let table = tmp.path().join("wdbc.csv");
    let rows = labelled_table(&table);
    assert_eq!(ok(&on_chain(&dir, &["nft", "mint"])).trim(), "1");
    let store = p(&dir.join("store"));
    let published = ok(&on_chain(
        &dir,
        &["nft", "publish", "1", "--table", &p(&table), "--kms", &kms, "--store", &store],
    ));
    assert!(published.starts_with(&format!("token 1: {rows} rows sealed to ")), "{published}");
    // Something that is not a table is refused before anything is sealed.
    let not_table = tmp.path().join("notes.csv");
    std::fs::write(&not_table, "name,value\nalpha,1\n").expect("write");
    let err = fails(&on_chain(
        &dir,
        &["nft", "publish", "1", "--table", &p(&not_table), "--kms", &kms, "--store", &store],
    ));
    assert!(err.contains("the first column must be `id`"), "{err}");

    // The worker's chain key becomes prover `operator`'s enclave key: an attestation
    // verifier (its own simulated enclave) vouches for the worker's registration
    // evidence, once the registry's owner approved the worker's measurement and
    // admitted the verifier.
    let (_oracle, oracle) = serve(&[
        "oracle",
        "--chain-id",
        &veil_chain::DEFAULT_CHAIN_ID.to_string(),
        "--registry",
        &registry,
        "--sim-tee-seed",
        &p(&dir.join("pki/seed")),
        "--dev-root",
        &dev_root,
        "--listen",
        "127.0.0.1:0",
    ]);
    let registry_address: Address = registry.parse().expect("address");
    let config = serde_json::json!({ "role": "oracle", "chain_id": veil_chain::DEFAULT_CHAIN_ID, "registry": registry_address });
    let oracle_m =
        SimMeasurement::of(Path::new(env!("CARGO_BIN_EXE_veil")), &config, &[0; 32]).expect("measure");
    ok(&on_chain(&dir, &["prover", "approve", &measurement]));
    ok(&on_chain(&dir, &["prover", "pin-verifier", &oracle_m.measurement_id()]));
    ok(&on_chain(
        &dir,
        &[
            "prover",
            "add-verifier",
            "--oracle",
            &oracle,
            "--dev-root",
            &dev_root,
            "--measurement",
            &oracle_m.measurement_id(),
        ],
    ));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let registration: Value = rt.block_on(async {
        reqwest::get(format!("{gateway}/v1/train/registration?account={operator}"))
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    });
    let enclave_key = s(&registration["evidence"]["runtime_data"]["public_keys"]["secp256k1"]);
    let evidence = tmp.path().join("registration.json");
    std::fs::write(&evidence, registration["evidence"].to_string()).expect("write");
    let statement = tmp.path().join("statement.json");
    ok(&on_chain(
        &dir,
        &[
            "prover",
            "attest",
            "--evidence",
            &p(&evidence),
            "--prover",
            &operator,
            "--oracle",
            &oracle,
            "--out",
            &p(&statement),
        ],
    ));
    ok(&on_chain(&dir, &["prover", "register", "--statement", &p(&statement), "--stake-eth", "1"]));

    // The user: a wallet with funds, authorized on token 1, and a Veil identity the
    // model is sealed to.
    let user_key = tmp.path().join("user.key");
    let user = ok(&veil(&["chain", "keygen", "--out", &p(&user_key)])).trim().to_owned();
    let operator_key = p(&dir.join("chain/operator.key"));
    ok(&on_chain(&dir, &["chain", "fund", "--key", &operator_key, "--to", &user, "--eth", "5"]));
    let identity = tmp.path().join("me.identity");
    ok(&veil(&["keygen", "--out", &p(&identity)]));
    let out = tmp.path().join("model");
    let identity_s = p(&identity);
    let train_with = |key: &Path, label: &str, prover: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--gateway",
            &gateway,
            "--token",
            "1",
            "--label",
            label,
            "--epochs",
            "300",
            "--fee-eth",
            "0.01",
            "--prover",
            prover,
            "--identity",
            &identity_s,
            "--dev-root",
            &dev_root,
            "--measurement",
            &measurement,
        ];
        args.extend_from_slice(extra);
        veil_with(&["--rpc", &rpc, "--deployment", &deployment_path, "--key", &p(key)], &args)
    };
    let out_s = p(&out);
    let train = |key: &Path, label: &str, prover: &str| train_with(key, label, prover, &["--out", &out_s]);
    // Not authorized on the token: refused before any fee is escrowed (the broker
    // would refuse the key anyway; the order below shows it).
    let err = fails(&train(&user_key, "target", &operator));
    assert!(err.contains("is not authorized on token 1") && err.contains("nothing was submitted"), "{err}");
    assert!(fails(&on_chain(&dir, &["job", "show", "1"])).contains("UnknownJob"), "no job");
    ok(&on_chain(&dir, &["nft", "authorize", "1", &user]));
    // A prover the registry did not give the job to: refused before any order is signed.
    let stranger = format!("{:#x}", PrivateKeySigner::random().address());
    let err = fails(&train(&user_key, "target", &stranger));
    assert!(err.contains(&format!("not {stranger}")), "{err}");
    // No such label column: refused inside, with the reason.
    let err = fails(&train(&user_key, "diagnosis", &operator));
    assert!(err.contains("train.bad_order") && err.contains("no column \"diagnosis\""), "{err}");
    let err =
        fails(&train_with(&user_key, "target", &operator, &["--features", "x0,target", "--out", &out_s]));
    assert!(err.contains("train.bad_order") && err.contains("none of them the label"), "{err}");
    assert!(!out.join("model.json").exists(), "nothing written");

    let done: Value = serde_json::from_str(&ok(&train(&user_key, "target", &operator))).expect("json");
    assert_eq!(done["rows"], rows as u64);
    assert_eq!(done["features"], 30);
    assert!(done["train_accuracy"].as_f64().expect("accuracy") > 0.95, "{done}");
    assert_eq!(done["enclave_key"].as_str().expect("key").to_lowercase(), enclave_key.to_lowercase());
    assert_eq!(done["measurement"], measurement.as_str());
    // On chain: completed by the prover the enclave named, with the model's root.
    let job = s(&done["job"]);
    let shown: Value = serde_json::from_str(&ok(&on_chain(&dir, &["job", "show", &job]))).expect("json");
    assert_eq!(shown["status"], "completed");
    assert_eq!(s(&shown["prover"]).to_lowercase(), operator);
    let model_root: veil_content::Root = s(&done["model"]).parse().expect("root");
    assert_eq!(shown["result_hash"], format!("{:#x}", alloy::primitives::B256::from(model_root.0)));
    // The opened model is the one on chain; the receipt verifies on its own.
    let model = std::fs::read(out.join("model.json")).expect("model");
    assert_eq!(veil_content::root_of(&model).expect("root"), model_root);
    let receipt = p(&out.join("receipt.json"));
    ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &receipt]));
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&receipt).expect("read")).expect("json");
    assert_eq!(doc["receipt"]["mode"], "train");
    // A receipt claiming another spec does not verify.
    let spec = doc["receipt"]["model_hash"].clone();
    doc["receipt"]["model_hash"] = Value::String(s(&doc["receipt"]["context_hash"]));
    assert_ne!(doc["receipt"]["model_hash"], spec);
    std::fs::write(&receipt, doc.to_string()).expect("write");
    fails(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &receipt]));

    // Named feature columns: the model takes exactly those, in that order.
    let subset = tmp.path().join("subset");
    let done3: Value = serde_json::from_str(&ok(&train_with(
        &user_key,
        "target",
        &operator,
        &["--features", "x20,x22,x27", "--out", &p(&subset)],
    )))
    .expect("json");
    assert_eq!(done3["features"], 3);
    let model: Value =
        serde_json::from_slice(&std::fs::read(subset.join("model.json")).expect("model")).expect("json");
    assert_eq!(model["features"], serde_json::json!(["x20", "x22", "x27"]));
    assert_ne!(done3["spec"], done["spec"], "another spec, another job");

    // Orders sent as they are, signed by the user for a job: a real recipient key, so
    // only the checks under test can refuse them.
    let recipient = ok(&veil(&["keygen", "--out", &p(&tmp.path().join("other.identity"))]));
    let recipient = recipient.split_whitespace().find(|w| w.starts_with("veilpk1")).expect("key").to_owned();
    let order = |job: &str, nonce: u64| {
        rt.block_on(async {
            let wallet = veil_stack::keys::read_wallet_key(&user_key).expect("key");
            let order = serde_json::json!({
                "job": job, "chain_id": veil_chain::DEFAULT_CHAIN_ID, "job_registry": s(&deployment["jobs"]),
                "prover": operator, "recipient": recipient,
                "spec": {"label": "target", "epochs": 300, "learning_rate": 1.0, "l2": 0.0},
            });
            let spec: veil_protocol::train::TrainingSpec =
                serde_json::from_value(order["spec"].clone()).expect("spec");
            let domain = veil_protocol::domain(
                veil_chain::DEFAULT_CHAIN_ID,
                s(&deployment["inft"]).parse().expect("inft"),
            );
            let request = veil_protocol::SignedRequest::sign(
                &wallet,
                &domain,
                U256::from(1),
                spec.root().expect("root"),
                order,
                U256::from(nonce),
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
                    + 60,
            )
            .expect("sign");
            let answer = reqwest::Client::new()
                .post(format!("{gateway}/v1/train"))
                .json(&request)
                .send()
                .await
                .expect("send");
            (answer.status().as_u16(), answer.json::<Value>().await.expect("problem"))
        })
    };
    // An order naming a job already completed (or somebody else's) never reaches a
    // worker: the gateway checks the job on chain.
    let (status, problem) = order(&job, 7);
    assert_eq!((status, &problem["code"]), (409, &Value::from("train.job_mismatch")), "{problem}");
    assert!(s(&problem["detail"]).contains("completed, not open"), "{problem}");
    // A user whose authorization was revoked, with an open job of its own over this
    // data and spec: the order passes the gateway, and the broker refuses the enclave
    // the token's key.
    let spec_root = s(&done["spec"]);
    let user_job = ok(&veil_with(
        &["--rpc", &rpc, "--deployment", &deployment_path, "--key", &p(&user_key)],
        &["job", "submit", "--data", &s(&done["dataset"]), "--model", &spec_root, "--fee-eth", "0.01"],
    ));
    ok(&on_chain(&dir, &["nft", "revoke", "1", &user]));
    let (status, problem) = order(user_job.trim(), 8);
    assert_eq!((status, &problem["code"]), (403, &Value::from("inference.not_authorized")), "{problem}");
}
