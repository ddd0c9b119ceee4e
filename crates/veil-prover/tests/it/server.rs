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

use common::{fresh_nonce, now, post, sealed_exactly, wait_done};

const SLOTS: usize = 16;

async fn serve(capacity: usize) -> (String, Arc<Prover>) {
    serve_with_clock(capacity, now).await
}

async fn serve_with_clock(capacity: usize, clock: fn() -> u64) -> (String, Arc<Prover>) {
    serve_with(capacity, clock, None).await
}

async fn serve_with(
    capacity: usize,
    clock: fn() -> u64,
    log: Option<veil_prover::ReceiptLog>,
) -> (String, Arc<Prover>) {
    let keys = groth::dev_setup(IncomeThreshold::blank(SLOTS), &mut StdRng::seed_from_u64(5)).unwrap();
    let prover = Prover::start(ProverParts {
        attestation: None,
        identity: Identity::generate().unwrap(),
        income: Some(IncomeCircuit { keys, slots: SLOTS }),
        inference: None,
        queue_capacity: capacity,
        clock,
        log,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, veil_prover::router(prover.clone())).into_future());
    (url, prover)
}

fn sealed(to: &veil_seal::PublicKey, threshold: &str) -> Value {
    common::sealed(to, &statement(threshold))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_statements_become_proofs_with_receipts_and_false_ones_are_refused() {
    let (base, prover) = serve(8).await;
    let key = prover.public_key();
    let (status, accepted) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&key, "600")).await;
    assert_eq!(status, 202, "{accepted}");
    let job = wait_done(&base, &accepted).await;
    assert_eq!(job["job"]["status"], "done", "{job}");
    assert_eq!(job["job"]["public"][1], "600");
    let receipt = serde_json::to_vec(&job["job"]["receipt"]).unwrap();
    let verified = veil_receipt::verify(&receipt).expect("the receipt verifies");
    assert_eq!(verified.receipt.mode, veil_receipt::Mode::Zk);
    // The whole-receipt verifier checks the Groth16 proof inside it.
    let trust = common::published_trust(&base).await;
    veil_verify::verify(&receipt, &trust).expect("the proof inside verifies");
    // A forger who re-signs a receipt claiming another threshold: the signature is
    // fine, the proof is not.
    let mut body = verified.receipt.clone();
    let mut evidence = body.evidence.clone().unwrap();
    evidence["zk"]["public"][1] = json!("599");
    assert_ne!(Some(&evidence), body.evidence.as_ref());
    body.evidence = Some(evidence);
    let forged = veil_receipt::sign(body, &Identity::generate().unwrap().signing_key()).unwrap();
    let err = veil_verify::verify(forged.to_json_pretty().as_bytes(), &trust).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    let r = common::job(reqwest::Method::POST, &base, &accepted, "/verify")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["valid"], true);

    // A false statement, a statement sealed to someone else, garbage, unknown jobs.
    let (status, p) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&key, "601")).await;
    assert_eq!((status, p["code"].as_str()), (422, Some("zk.statement_false")), "{p}");
    let other = Identity::generate().unwrap().public_key();
    let (status, p) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&other, "600")).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("zk.bad_input")), "{p}");
    let (status, _) = post(&format!("{base}/v1/prove/income-threshold"), &json!({"sealed": "!!"})).await;
    assert_eq!(status, 400);
    let r = reqwest::get(format!("{base}/v1/proofs/nope")).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let health: Value = reqwest::get(format!("{base}/v1/health")).await.unwrap().json().await.unwrap();
    assert!(health["queue_length"].is_u64() && health["estimated_wait_ms"].is_u64(), "{health}");
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
            202 => ids.push(body),
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
    let r = common::job(reqwest::Method::DELETE, &base, &last, "").send().await.unwrap();
    if r.status().as_u16() == 200 {
        let job = wait_done(&base, &last).await;
        assert_eq!(job["job"]["status"], "cancelled", "a cancelled job never runs: {job}");
    } else {
        assert_eq!(r.status().as_u16(), 409, "only queued jobs are cancellable");
    }
    for id in &ids[..ids.len() - 1] {
        assert_eq!(wait_done(&base, id).await["job"]["status"], "done");
    }
}

fn statement(threshold: &str) -> Value {
    json!({"account": "0xa11ce", "epoch": 7, "amounts": [100, 200, 300], "salt": "9", "threshold": threshold, "slots": SLOTS})
}

/// Issue 14, finding 10: anyone who captured a sealed statement could submit it again,
/// and anyone who learned a job id could read, verify or cancel the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_statement_is_not_replayed_and_a_job_is_only_its_submitters() {
    let (base, prover) = serve(8).await;
    let key = prover.public_key();
    let url = format!("{base}/v1/prove/income-threshold");
    let body = sealed(&key, "600");
    let (status, accepted) = post(&url, &body).await;
    assert_eq!(status, 202, "{accepted}");
    let (status, p) = post(&url, &body).await;
    assert_eq!((status, p["code"].as_str()), (409, Some("request.replayed")), "{p}");

    let with = |nonce: Option<String>, expires_at: Option<u64>| {
        let mut s = statement("600");
        if let Some(n) = nonce {
            s["nonce"] = json!(n);
        }
        if let Some(e) = expires_at {
            s["expires_at"] = json!(e);
        }
        sealed_exactly(&key, &s)
    };
    let (status, p) = post(&url, &with(Some(fresh_nonce()), Some(now() - 1))).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("request.expired")), "{p}");
    let (status, p) = post(&url, &with(Some(fresh_nonce()), Some(now() + 3600))).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("zk.bad_input")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("at most 600 s ahead"), "{p}");
    let (status, p) = post(&url, &with(None, Some(now() + 60))).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("zk.bad_input")), "{p}");
    let (status, p) = post(&url, &with(Some(fresh_nonce()), None)).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("zk.bad_input")), "{p}");

    // Someone who knows the id but not the capability sees no such job.
    let id = accepted["id"].as_str().unwrap();
    let http = reqwest::Client::new();
    for r in [
        http.get(format!("{base}/v1/proofs/{id}")).send().await.unwrap(),
        http.get(format!("{base}/v1/proofs/{id}")).bearer_auth("00".repeat(32)).send().await.unwrap(),
        http.delete(format!("{base}/v1/proofs/{id}")).send().await.unwrap(),
        http.post(format!("{base}/v1/proofs/{id}/verify")).json(&json!({})).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "zk.unknown_job");
    }
    assert_eq!(wait_done(&base, &accepted).await["job"]["status"], "done");
}

static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_800_000_000);

fn fake_clock() -> u64 {
    CLOCK.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_kept_for_their_retention_then_dropped() {
    let (base, prover) = serve_with_clock(8, fake_clock).await;
    let key = prover.public_key();
    let url = format!("{base}/v1/prove/income-threshold");
    let mut s = statement("600");
    s["nonce"] = json!(fresh_nonce());
    s["expires_at"] = json!(fake_clock() + 60);
    let (status, first) = post(&url, &sealed_exactly(&key, &s)).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(wait_done(&base, &first).await["job"]["status"], "done");
    // Within the retention it is there; past it, the next submission prunes it.
    CLOCK.fetch_add(veil_prover::JOB_RETENTION_SECS - 1, std::sync::atomic::Ordering::SeqCst);
    let read = |a: &Value| common::job(reqwest::Method::GET, &base, a, "").send();
    assert_eq!(read(&first).await.unwrap().status(), 200);
    CLOCK.fetch_add(2, std::sync::atomic::Ordering::SeqCst);
    s["nonce"] = json!(fresh_nonce());
    s["expires_at"] = json!(fake_clock() + 60);
    let (status, second) = post(&url, &sealed_exactly(&key, &s)).await;
    assert_eq!(status, 202, "{second}");
    assert_eq!(read(&first).await.unwrap().status(), 404, "dropped after its retention");
    assert_eq!(wait_done(&base, &second).await["job"]["status"], "done");
}

/// Every receipt the prover hands out is in the transparency log first: the log is
/// handed the very receipt the job then carries, with the inclusion it answered; a
/// log that does not take it fails the job, and no receipt leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_is_handed_out_only_with_its_receipt_logged() {
    let logged = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = logged.clone();
    let log: veil_prover::ReceiptLog = Box::new(move |receipt: &[u8]| {
        seen.lock().unwrap().push(receipt.to_vec());
        Ok(veil_protocol::Inclusion { index: 41, checkpoint: "example.com/log\n42\n".into(), proof: vec![] })
    });
    let (base, prover) = serve_with(8, now, Some(log)).await;
    let (status, accepted) =
        post(&format!("{base}/v1/prove/income-threshold"), &sealed(&prover.public_key(), "600")).await;
    assert_eq!(status, 202, "{accepted}");
    let job = wait_done(&base, &accepted).await;
    assert_eq!(job["job"]["status"], "done", "{job}");
    assert_eq!(job["job"]["inclusion"]["index"], 41);
    let handed_out = veil_receipt::verify(&serde_json::to_vec(&job["job"]["receipt"]).unwrap()).unwrap();
    let logged = logged.lock().unwrap().clone();
    assert_eq!(logged.len(), 1);
    assert_eq!(veil_receipt::verify(&logged[0]).unwrap().id, handed_out.id);

    let refusing: veil_prover::ReceiptLog = Box::new(|_: &[u8]| Err("connection refused".into()));
    let (base, prover) = serve_with(8, now, Some(refusing)).await;
    let (_, accepted) =
        post(&format!("{base}/v1/prove/income-threshold"), &sealed(&prover.public_key(), "600")).await;
    let job = wait_done(&base, &accepted).await;
    assert_eq!(job["job"]["status"], "failed", "{job}");
    assert_eq!(job["job"]["code"], "zk.log_unavailable");
    assert!(job["job"].get("receipt").is_none(), "{job}");
}
