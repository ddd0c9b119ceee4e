//! Helpers the proof server's tests share: sealing a request, posting it, polling a job.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// `{"sealed": base64}` of `request` sealed to `to`.
pub fn sealed(to: &veil_seal::PublicKey, request: &Value) -> Value {
    let mut out = Vec::new();
    veil_seal::seal(request.to_string().as_bytes(), &mut out, &[*to]).unwrap();
    json!({ "sealed": base64::engine::general_purpose::STANDARD.encode(out) })
}

/// POST JSON; the status and the JSON answer.
pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new().post(url).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Poll a job until it is neither queued nor running (at most a minute).
pub async fn wait_done(base: &str, id: &str) -> Value {
    for _ in 0..1200 {
        let job: Value = reqwest::get(format!("{base}/v1/proofs/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !matches!(job["job"]["status"].as_str(), Some("queued" | "running")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job did not finish");
}
