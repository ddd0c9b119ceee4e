//! What `veil bench gateway` measures on a running stack: a token over the held-out
//! digits, signed requests for it, and the latency of attested inference next to
//! the same model run directly in tract, in one run on one machine so the ratio
//! compares like with like. Reporting (and driving wrk) is the binary's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::json;
use veil_gateway::{GatewayClient, InferBody};
use veil_kms_client::KmsClient;
use veil_ledger::IntelligentData;
use veil_model::OnnxModel;

use crate::stack::{BUNDLED_DATA, BUNDLED_MODELS, Stack};
use crate::{Result, StackError};

/// The p-th percentile (0..=1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// A token over the held-out digits, and a user authorized on it.
pub struct BenchToken {
    gateway: GatewayClient,
    user: PrivateKeySigner,
    token: U256,
    ids: Vec<String>,
    clock: fn() -> u64,
    /// The digits' feature values, row after row (what the direct path runs on).
    pub values: Vec<f32>,
}

impl BenchToken {
    /// Seal the digits test split to a new token's key, mint it, and authorize a
    /// fresh user for requests of `rows` rows.
    pub async fn create(stack: &Stack, rows: usize, clock: fn() -> u64) -> Result<Self> {
        let records = veil_model::TokenRecords::from_dataset(BUNDLED_DATA[1].1, "D")?;
        if rows == 0 || rows > records.ids.len() {
            return Err(StackError::Config(format!(
                "--rows must be 1 to {} (the held-out digits)",
                records.ids.len()
            )));
        }
        let chain = &stack.operator;
        let token = chain.mint(stack.operator_address, &[]).await?;
        let key = KmsClient::new(&stack.kms).token_public_key(token.into()).await?;
        let mut sealed = Vec::new();
        veil_seal::seal(records.table.as_bytes(), &mut sealed, &[key])?;
        let put = stack.store.put_bytes(sealed).await?;
        let data = IntelligentData {
            description: "digits".into(),
            data_hash: put.root.0.into(),
        };
        chain.set_data(token, &[data]).await?;
        let user = PrivateKeySigner::random();
        chain.authorize(token, user.address()).await?;
        let values = records
            .cells
            .iter()
            .flatten()
            .map(|c| c.parse::<f32>().unwrap_or(0.0))
            .collect();
        Ok(Self {
            gateway: GatewayClient::new(&stack.gateway),
            user,
            token,
            ids: records.ids[..rows].to_vec(),
            clock,
            values,
        })
    }

    /// `n` signed requests, each with its own nonce.
    pub async fn sign(&self, n: usize) -> Result<Vec<InferBody>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let input = json!({ "ids": self.ids });
            out.push(
                self.gateway
                    .sign(&self.user, self.token, "digits-mlp", input, 600, (self.clock)())
                    .await?,
            );
        }
        Ok(out)
    }
}

/// Sorted latencies of one run.
#[derive(Debug, Default)]
pub struct Latencies {
    /// The same rows through tract in this process.
    pub direct: Vec<Duration>,
    /// `POST /v1/infer` through the attested worker.
    pub attested: Vec<Duration>,
    /// The same, less the per-request key release.
    pub without_release: Vec<Duration>,
    /// Each `Server-Timing` stage.
    pub stages: BTreeMap<String, Vec<Duration>>,
}

/// Run `requests` requests of the token's first rows directly and through the
/// gateway (after ten warm-up requests), one at a time.
pub async fn latencies(t: &BenchToken, requests: usize) -> Result<Latencies> {
    let rows = t.ids.len();
    let (_, _, onnx, _) = BUNDLED_MODELS[1];
    let root = veil_content::root_of(onnx).map_err(|e| StackError::Config(e.to_string()))?;
    let model = OnnxModel::load(onnx, &root)?;
    let x = &t.values[..rows * model.features()];
    let mut out = Latencies::default();
    for _ in 0..requests {
        let began = Instant::now();
        std::hint::black_box(model.run(rows, x)?);
        out.direct.push(began.elapsed());
    }
    // Signed beforehand, so signing is not timed.
    let bodies = t.sign(requests + 10).await?;
    for b in &bodies[..10] {
        t.gateway.infer(b).await?;
    }
    for b in &bodies[10..] {
        let began = Instant::now();
        let (answer, timing) = t.gateway.infer_timed(b).await?;
        let took = began.elapsed();
        out.attested.push(took);
        std::hint::black_box(answer);
        let mut release = Duration::ZERO;
        for part in timing.as_deref().unwrap_or_default().split(", ") {
            let Some((name, dur)) = part.split_once(";dur=") else {
                continue;
            };
            let d = Duration::from_secs_f64(dur.parse::<f64>().unwrap_or(0.0) / 1000.0);
            if name == "key_release" {
                release = d;
            }
            out.stages.entry(name.to_owned()).or_default().push(d);
        }
        out.without_release.push(took.saturating_sub(release));
    }
    out.direct.sort();
    out.attested.sort();
    out.without_release.sort();
    for v in out.stages.values_mut() {
        v.sort();
    }
    Ok(out)
}
