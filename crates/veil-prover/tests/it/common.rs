//! Helpers the proof server's tests share: sealing a request, posting it, polling a job.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A nonce no other statement of this process uses.
pub fn fresh_nonce() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("nonce-{}-{n:016x}", std::process::id())
}

/// `{"sealed": base64}` of `request` sealed to `to` as it is: envelope fields only if
/// the caller put them there.
pub fn sealed_exactly(to: &veil_seal::PublicKey, request: &Value) -> Value {
    let mut out = Vec::new();
    veil_seal::seal(request.to_string().as_bytes(), &mut out, &[*to]).unwrap();
    json!({ "sealed": base64::engine::general_purpose::STANDARD.encode(out) })
}

/// `{"sealed": base64}` of `request`, with a fresh nonce and an expiry five minutes
/// ahead, sealed to `to`.
pub fn sealed(to: &veil_seal::PublicKey, request: &Value) -> Value {
    let mut request = request.clone();
    request["nonce"] = json!(fresh_nonce());
    request["expires_at"] = json!(now() + 300);
    sealed_exactly(to, &request)
}

/// POST JSON; the status and the JSON answer.
pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(url).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A request for job `accepted` (the 202 answer), with its capability.
pub fn job(method: reqwest::Method, base: &str, accepted: &Value, suffix: &str) -> reqwest::RequestBuilder {
    let id = accepted["id"].as_str().expect("an accepted job");
    reqwest::Client::new()
        .request(method, format!("{base}/v1/proofs/{id}{suffix}"))
        .bearer_auth(accepted["capability"].as_str().expect("its capability"))
}

/// Poll job `accepted` until it is neither queued nor running (at most a minute).
pub async fn wait_done(base: &str, accepted: &Value) -> Value {
    for _ in 0..1200 {
        let job: Value =
            job(reqwest::Method::GET, base, accepted, "").send().await.unwrap().json().await.unwrap();
        if !matches!(job["job"]["status"].as_str(), Some("queued" | "running")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job did not finish");
}

/// What a verifier who read this prover's published keys (`GET /v1/prover`) pins.
pub async fn published_trust(base: &str) -> veil_verify::Trust {
    let info: Value = reqwest::get(format!("{base}/v1/prover")).await.unwrap().json().await.unwrap();
    let mut trust = veil_verify::Trust::default();
    for c in info["circuits"].as_object().expect("circuits").values() {
        trust.zk.keys.push(c["vk_hash"].as_str().unwrap().parse().unwrap());
        if let (Some(root), Some(commitment)) = (c["model_root"].as_str(), c["model_commitment"].as_str()) {
            trust.zk.models.push(veil_verify::ModelPin {
                model_root: root.parse().unwrap(),
                commitment: commitment.into(),
            });
        }
    }
    trust
}
