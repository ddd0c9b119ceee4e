//! The proof server over loopback HTTP: sealed statements in, proofs and receipts out.

use crate::common;

use std::sync::Arc;

use ark_std::rand::SeedableRng;
use ark_std::rand::rngs::StdRng;
use serde_json::{Value, json};
use veil_prover::{IncomeCircuit, Prover, ProverParts};
use veil_seal::Identity;
use veil_zk::groth;
use veil_zk::income::IncomeThreshold;

use common::{post, wait_done};

const SLOTS: usize = 16;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn serve(capacity: usize) -> (String, Arc<Prover>) {
    let keys = groth::dev_setup(IncomeThreshold::blank(SLOTS), &mut StdRng::seed_from_u64(5)).unwrap();
    let prover = Prover::start(ProverParts {
        attestation: None,
        identity: Identity::generate().unwrap(),
        income: Some(IncomeCircuit { keys, slots: SLOTS }),
        inference: None,
        queue_capacity: capacity,
        clock: now,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, veil_prover::router(prover.clone())).into_future());
    (url, prover)
}

fn sealed(to: &veil_seal::PublicKey, threshold: &str) -> Value {
    let statement = json!({"account": "0xa11ce", "epoch": 7, "amounts": [100, 200, 300], "salt": "9", "threshold": threshold, "slots": SLOTS});
    common::sealed(to, &statement)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_statements_become_proofs_with_receipts_and_false_ones_are_refused() {
    let (base, prover) = serve(8).await;
    let key = prover.public_key();
    let (status, accepted) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&key, "600")).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    let job = wait_done(&base, &id).await;
    assert_eq!(job["job"]["status"], "done", "{job}");
    assert_eq!(job["job"]["public"][1], "600");
    let receipt = serde_json::to_vec(&job["job"]["receipt"]).unwrap();
    let verified = veil_receipt::verify(&receipt).expect("the receipt verifies");
    assert_eq!(verified.receipt.mode, veil_receipt::Mode::Zk);
    // The whole-receipt verifier checks the Groth16 proof inside it.
    veil_verify::verify(&receipt, &veil_verify::Trust::default()).expect("the proof inside verifies");
    // A forger who re-signs a receipt claiming another threshold: the signature is
    // fine, the proof is not.
    let mut body = verified.receipt.clone();
    let mut evidence = body.evidence.clone().unwrap();
    evidence["zk"]["public"][1] = json!("599");
    assert_ne!(Some(&evidence), body.evidence.as_ref());
    body.evidence = Some(evidence);
    let forged = veil_receipt::sign(body, &Identity::generate().unwrap().signing_key()).unwrap();
    let err =
        veil_verify::verify(forged.to_json_pretty().as_bytes(), &veil_verify::Trust::default()).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let (status, v) = post(&format!("{base}/v1/proofs/{id}/verify"), &json!({})).await;
    assert_eq!((status, v["valid"].as_bool()), (200, Some(true)));

    // A false statement, a statement sealed to someone else, garbage, unknown jobs.
    let (status, p) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&key, "601")).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (422, Some("zk.statement_false")),
        "{p}"
    );
    let other = Identity::generate().unwrap().public_key();
    let (status, p) = post(
        &format!("{base}/v1/prove/income-threshold"),
        &sealed(&other, "600"),
    )
    .await;
    assert_eq!((status, p["code"].as_str()), (400, Some("zk.bad_input")), "{p}");
    let (status, _) = post(
        &format!("{base}/v1/prove/income-threshold"),
        &json!({"sealed": "!!"}),
    )
    .await;
    assert_eq!(status, 400);
    let r = reqwest::get(format!("{base}/v1/proofs/nope")).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let health: Value = reqwest::get(format!("{base}/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        health["queue_length"].is_u64() && health["estimated_wait_ms"].is_u64(),
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_and_a_queued_job_can_be_cancelled() {
    let (base, prover) = serve(1).await;
    let key = prover.public_key();
    let mut ids = Vec::new();
    let mut busy = 0;
    for _ in 0..4 {
        let (status, body) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&key, "600")).await;
        match status {
            202 => ids.push(body["id"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(body["code"], "zk.busy");
                busy += 1;
            }
            other => panic!("{other} {body}"),
        }
    }
    assert!(busy >= 1, "a queue of one refuses some of four submissions");
    // The last accepted job is still queued behind the first: cancel it.
    let last = ids.last().unwrap().clone();
    let r = reqwest::Client::new()
        .delete(format!("{base}/v1/proofs/{last}"))
        .send()
        .await
        .unwrap();
    if r.status().as_u16() == 200 {
        let job = wait_done(&base, &last).await;
        assert_eq!(
            job["job"]["status"], "cancelled",
            "a cancelled job never runs: {job}"
        );
    } else {
        assert_eq!(r.status().as_u16(), 409, "only queued jobs are cancellable");
    }
    for id in &ids[..ids.len() - 1] {
        assert_eq!(wait_done(&base, id).await["job"]["status"], "done");
    }
}
