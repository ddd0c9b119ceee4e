//! The ledger from the command line: the embedded chain created, used in-process and
//! served over HTTP; refusals as one line; and a chain killed with SIGKILL while
//! transactions stream in restarts consistent, every acknowledged transaction kept.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use common::{fails, ok, serve, veil, veil_with};
use veil_sim_tee::{DevPki, SimMeasurement, SimTdx};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

const DATA: &str = "0xabababababababababababababababababababababababababababababababab";

#[test]
fn tokens_and_jobs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("chain");
    let init = ok(&veil(&["chain", "--chain-dir", s(&c), "init"]));
    assert!(init.contains("\"inft\""), "{init}");
    fails(&veil(&["chain", "--chain-dir", s(&c), "init"]));
    let user_key = dir.path().join("user.key");
    let user = ok(&veil(&["chain", "keygen", "--out", s(&user_key)])).trim().to_owned();
    let v = |args: &[&str]| veil_with(&["--chain-dir", s(&c)], args);

    let token = ok(&v(&["nft", "mint", "--data", &format!("{DATA}:patient records")]));
    assert_eq!(token.trim(), "1");
    let no = v(&["nft", "is-authorized", "1", &user]);
    assert_eq!(no.status.code(), Some(1), "not authorized exits 1");
    assert!(String::from_utf8_lossy(&no.stdout).starts_with("not authorized at block"));
    ok(&v(&["nft", "authorize", "1", &user]));
    assert!(ok(&v(&["nft", "is-authorized", "1", &user])).starts_with("authorized at block"));

    // Refusals are one line naming the contract's error; nothing is sent.
    let err = fails(&v(&["nft", "authorize", "1", &user]));
    assert!(err.contains("INFT refused: AlreadyAuthorized"), "{err}");
    let err = fails(&v(&["nft", "--key", s(&user_key), "revoke", "1", &user]));
    assert!(err.contains("NotTokenOwner"), "{err}");
    let err = fails(&v(&["nft", "mint", "--data", "0x1234"]));
    assert!(err.contains("64 hex digits"), "{err}");
    // The user has no funds: the node refuses before anything is mined.
    let err = fails(&v(&[
        "job",
        "--key",
        s(&user_key),
        "submit",
        "--data",
        DATA,
        "--model",
        DATA,
        "--fee-eth",
        "1",
    ]));
    assert!(err.contains("refused"), "{err}");

    // A prover with an enclave key completes a job once.
    let enclave_key = dir.path().join("enclave.key");
    let enclave = ok(&veil(&["chain", "keygen", "--out", s(&enclave_key)])).trim().to_owned();
    ok(&v(&["chain", "fund", "--key", s(&c.join("operator.key")), "--to", &user, "--eth", "5"]));
    // An attestation verifier vouches for the prover's enclave key from its registration
    // evidence (a simulated TDX guest here), once the registry's owner (the operator)
    // has approved the measurement and admitted the verifier.
    let pki_dir = dir.path().join("pki");
    ok(&veil(&["sim-tee", "init", "--dir", s(&pki_dir)]));
    let seed: [u8; 32] = hex::decode(std::fs::read_to_string(pki_dir.join("seed")).unwrap().trim())
        .unwrap()
        .try_into()
        .unwrap();
    let m = SimMeasurement::of(
        Path::new(env!("CARGO_BIN_EXE_veil")),
        &serde_json::json!({"role": "prover"}),
        &[0; 32],
    )
    .unwrap();
    let tdx = SimTdx::new(Arc::new(DevPki::from_seed(&seed).unwrap()), m.clone());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let evidence_for = |account: &str| {
        let rd = veil_evidence::RuntimeData {
            nonce: account.to_lowercase(),
            public_keys: [("secp256k1".to_owned(), enclave.clone())].into(),
            purpose: veil_protocol::PROVER_REGISTRATION_PURPOSE.into(),
            issued_at: Some(now),
        };
        let path = dir.path().join(format!("evidence-{account}.json"));
        let ev = veil_attester::evidence_for(&tdx, rd).unwrap();
        std::fs::write(&path, serde_json::to_vec(&ev).unwrap()).unwrap();
        path
    };
    // The attestation verifier runs attested, in its own (simulated) enclave, with its
    // signing key made inside; the owner pins its measurement and admits its key only
    // from its evidence.
    let deployment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("deployment.json")).unwrap()).unwrap();
    let registry: Address = deployment["provers"].as_str().unwrap().parse().unwrap();
    let dev_root = pki_dir.join("dev-root.pem");
    let (_oracle, oracle) = serve(&[
        "oracle",
        "--chain-id",
        "32273",
        "--registry",
        &registry.to_string(),
        "--sim-tee-seed",
        s(&pki_dir.join("seed")),
        "--dev-root",
        s(&dev_root),
        "--listen",
        "127.0.0.1:0",
    ]);
    let config = serde_json::json!({ "role": "oracle", "chain_id": 0x7e11, "registry": registry });
    let oracle_m = SimMeasurement::of(Path::new(env!("CARGO_BIN_EXE_veil")), &config, &[0; 32]).unwrap();
    ok(&v(&["prover", "approve", &m.measurement_id()]));
    ok(&v(&["prover", "pin-verifier", &oracle_m.measurement_id()]));
    let admit = |trust: &[&str]| {
        let mut args = vec!["prover", "add-verifier", "--oracle", &oracle];
        args.extend_from_slice(trust);
        v(&args)
    };
    // Evidence the owner cannot verify (no dev root), or of another measurement than the
    // owner accepts, admits nothing; a verifier not running as the pinned measurement
    // is refused by the registry itself.
    let err = fails(&admit(&["--any-measurement"]));
    assert!(err.contains("attestation.chain"), "{err}");
    let err = fails(&admit(&["--dev-root", s(&dev_root), "--measurement", &"ab".repeat(48)]));
    assert!(err.contains("is not one you accept"), "{err}");
    ok(&admit(&["--dev-root", s(&dev_root), "--measurement", &oracle_m.measurement_id()]));
    let statement = dir.path().join("statement.json");
    let attest = |evidence: &Path, account: &str| {
        v(&[
            "prover",
            "attest",
            "--evidence",
            s(evidence),
            "--prover",
            account,
            "--oracle",
            &oracle,
            "--out",
            s(&statement),
        ])
    };
    // Evidence made for one account vouches for no other.
    let theirs = evidence_for(&format!("{:#x}", Address::repeat_byte(0xbb)));
    let err = fails(&attest(&theirs, &user));
    assert!(err.contains("registration evidence refused"), "{err}");
    assert!(!statement.exists(), "nothing signed");
    ok(&attest(&evidence_for(&user), &user));
    // Self-declared keys are refused by the registry: only a statement registers.
    let forged = dir.path().join("forged.json");
    let mut st: serde_json::Value = serde_json::from_slice(&std::fs::read(&statement).unwrap()).unwrap();
    st["enclave_key"] = serde_json::Value::String(user.clone());
    std::fs::write(&forged, serde_json::to_vec(&st).unwrap()).unwrap();
    let register = |statement: &Path| {
        v(&["prover", "--key", s(&user_key), "register", "--statement", s(statement), "--stake-eth", "1"])
    };
    let err = fails(&register(&forged));
    assert!(err.contains("UntrustedAttestationVerifier"), "{err}");
    ok(&register(&statement));
    let provers: serde_json::Value = serde_json::from_str(&ok(&v(&["prover", "list"]))).unwrap();
    assert_eq!(provers[0]["address"].as_str().unwrap().to_lowercase(), user.to_lowercase());
    assert_eq!(provers[0]["stake"], "1000000000000000000");
    let job = ok(&v(&["job", "submit", "--data", DATA, "--model", DATA, "--fee-eth", "0.01"]));
    let job = job.trim();
    // The enclave signs the completion inside; the test plays the enclave here.
    let deployment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("deployment.json")).unwrap()).unwrap();
    let target = veil_protocol::CompletionTarget {
        chain_id: 0x7e11,
        job_registry: deployment["jobs"].as_str().unwrap().parse().unwrap(),
        job_id: job.parse().unwrap(),
        account: user.parse().unwrap(),
        receipt_id: DATA.parse().unwrap(),
    };
    let digest = target.digest(DATA.parse().unwrap(), B256::ZERO);
    let sign = |key: &Path| {
        use alloy::signers::SignerSync;
        let signer: PrivateKeySigner = std::fs::read_to_string(key).unwrap().trim().parse().unwrap();
        hex::encode(signer.sign_hash_sync(&digest).unwrap().as_bytes())
    };
    let complete = |sig: &str| {
        v(&[
            "job",
            "--key",
            s(&user_key),
            "complete",
            job,
            "--result",
            DATA,
            "--receipt-id",
            DATA,
            "--signature",
            sig,
        ])
    };
    let err = fails(&complete(&sign(&user_key)));
    assert!(err.contains("BadEnclaveSignature"), "{err}");
    // A proof server's completion of some other job is refused before anything is sent.
    let other = dir.path().join("completion.json");
    let completion = veil_protocol::SignedCompletion {
        target: veil_protocol::CompletionTarget { job_id: U256::from(99), ..target },
        result: U256::from(1),
        proof: [U256::ZERO; 8],
        proof_hash: B256::ZERO,
        enclave_key: enclave.parse().unwrap(),
        signature: vec![0; 65].into(),
    };
    std::fs::write(&other, serde_json::to_vec(&completion).unwrap()).unwrap();
    let with_completion =
        |path: &Path| v(&["job", "--key", s(&user_key), "complete", job, "--completion", s(path)]);
    let err = fails(&with_completion(&other));
    assert!(err.contains("completes job 99, not job"), "{err}");
    // A job submitted without a verifier has no proof to check: completeJobWithProof
    // refuses it whatever the completion says.
    let same_job = dir.path().join("same-job.json");
    let completion = veil_protocol::SignedCompletion { target, ..completion };
    std::fs::write(&same_job, serde_json::to_vec(&completion).unwrap()).unwrap();
    let err = fails(&with_completion(&same_job));
    assert!(err.contains("NotZkJob"), "{err}");
    ok(&complete(&sign(&enclave_key)));
    let err = fails(&complete(&sign(&enclave_key)));
    assert!(err.contains("JobNotOpen"), "{err}");
    let shown: serde_json::Value = serde_json::from_str(&ok(&v(&["job", "show", job]))).unwrap();
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["fee"], "10000000000000000");

    let status: serde_json::Value = serde_json::from_str(&ok(&v(&["chain", "status"]))).unwrap();
    assert_eq!(status["chain_id"], 0x7e11);
    assert!(status["embedded"]["log_bytes"].as_u64().unwrap() > 40);
}

#[test]
fn a_served_chain_is_used_with_rpc_and_locks_out_in_process_use() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("chain");
    ok(&veil(&["chain", "--chain-dir", s(&c), "init"]));
    let (_server, url) = serve(&["chain", "--chain-dir", s(&c), "start", "--listen", "127.0.0.1:0"]);
    let err = fails(&veil(&["nft", "--chain-dir", s(&c), "mint", "--data", DATA]));
    assert!(err.contains("in use by another process"), "{err}");
    let deployment = c.join("deployment.json");
    let rpc = |args: &[&str]| veil_with(&["--rpc", &url, "--deployment", s(&deployment)], args);
    let err = fails(&rpc(&["nft", "mint", "--data", DATA]));
    assert!(err.contains("--key"), "{err}");
    let operator = c.join("operator.key");
    let token = ok(&rpc(&["nft", "--key", s(&operator), "mint", "--data", DATA]));
    assert_eq!(token.trim(), "1");
    // Deploying afresh to the served chain through --rpc.
    let out = dir.path().join("second.json");
    ok(&veil(&["chain", "--rpc", &url, "--key", s(&operator), "deploy", "--out", s(&out)]));
    let second: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("deployment.json")).unwrap()).unwrap();
    assert_ne!(second["inft"], first["inft"]);
}

/// What the chain must satisfy after any restart: every block carries one transaction
/// from the operator (so its nonce is the head), every transfer is in the recipient's
/// balance, and every transaction a client saw acknowledged is there.
async fn check_consistent(url: &str, operator: Address, setup_blocks: u64, acked: &[B256]) -> u64 {
    let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let head = p.get_block_number().await.unwrap();
    let nonce = p.get_transaction_count(operator).await.unwrap();
    assert_eq!(nonce, head, "one operator transaction per block");
    let balance = p.get_balance(Address::repeat_byte(0xee)).await.unwrap();
    assert_eq!(balance, U256::from(head - setup_blocks), "every mined transfer counted once");
    for hash in acked {
        let r = p.get_transaction_receipt(*hash).await.unwrap();
        assert!(r.is_some_and(|r| r.status()), "acknowledged {hash} survived");
    }
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_killed_mid_stream_restarts_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("chain");
    ok(&veil(&["chain", "--chain-dir", s(&c), "init"]));
    let key_text = std::fs::read_to_string(c.join("operator.key")).unwrap();
    let operator: PrivateKeySigner = key_text.trim().parse().unwrap();
    let me = operator.address();
    let start = || serve(&["chain", "--chain-dir", s(&c), "start", "--listen", "127.0.0.1:0"]);
    // The blocks `init` mined (the deployment); transfers come after them.
    let setup_blocks = {
        let (_server, url) = start();
        let p = ProviderBuilder::new().connect_http(url.parse().unwrap());
        p.get_block_number().await.unwrap()
    };

    let mut acked = Vec::new();
    for round in 0..4u64 {
        let (mut server, url) = start();
        let head = check_consistent(&url, me, setup_blocks, &acked).await;
        let p = ProviderBuilder::new().wallet(operator.clone()).connect_http(url.parse().unwrap());
        let stream_url = url.clone();
        let sender = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut nonce = head;
            loop {
                let tx = TransactionRequest::default()
                    .with_to(Address::repeat_byte(0xee))
                    .with_value(U256::from(1))
                    .with_nonce(nonce)
                    .with_gas_limit(21_000)
                    .with_max_fee_per_gas(10_000_000_000)
                    .with_max_priority_fee_per_gas(1);
                match p.send_transaction(tx).await {
                    // The embedded chain answers only after the block is logged.
                    Ok(pending) => seen.push(*pending.tx_hash()),
                    Err(_) => return (seen, stream_url),
                }
                nonce += 1;
            }
        });
        // Kill at a different moment each round, while transactions stream.
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        let pid = server.0.id().to_string();
        std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
        let _ = server.0.wait();
        let (seen, _) = tokio::time::timeout(Duration::from_secs(30), sender)
            .await
            .expect("sender stops once the node is gone")
            .unwrap();
        assert!(!seen.is_empty(), "round {round}: transactions were flowing");
        acked.extend(seen);
    }
    let (_server, url) = start();
    let head = check_consistent(&url, me, setup_blocks, &acked).await;
    assert!(head >= setup_blocks + acked.len() as u64);
}
