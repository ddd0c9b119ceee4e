//! What `veil bench gateway` measures on a running stack: a token over the held-out
//! digits, signed requests for it, and the latency of attested inference next to
//! the same model run directly in tract, in one run on one machine so the ratio
//! compares like with like; then `POST /v1/infer` under load from wrk (a second
//! process). [`report`] returns the markdown the binary prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::json;
use veil_gateway::{GatewayClient, InferBody};
use veil_model::OnnxModel;

use crate::stack::{BUNDLED_DATA, BUNDLED_MODELS, Stack};
use crate::{Result, StackError};

/// This process's peak resident memory as the kernel reports it (`VmHWM`), or `?`
/// where there is no `/proc`.
pub fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_owned())))
        .unwrap_or_else(|| "?".into())
}

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
        let (kms, store) = (&stack.kms, &stack.store);
        let bytes = records.table.as_bytes();
        crate::publish::attach_sealed(chain, stack.operator_address, kms, store, token, bytes, "digits")
            .await?;
        let user = PrivateKeySigner::random();
        chain.authorize(token, user.address()).await?;
        let values = records.cells.iter().flatten().map(|c| c.parse::<f32>().unwrap_or(0.0)).collect();
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
                self.gateway.sign(&self.user, self.token, "digits-mlp", input, 600, (self.clock)()).await?,
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

/// What `veil bench gateway` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Worker processes.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Rows of the token's data per request.
    #[arg(long, default_value_t = 16)]
    pub rows: usize,
    /// Sequential requests for the latency comparison.
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Seconds of wrk load (0 skips it).
    #[arg(long, default_value_t = 10)]
    pub load_secs: u64,
    /// Open connections during the load.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Run the gateway on PostgreSQL (`postgres://…`): nonces and receipts in the
    /// database rather than files (`veil up --database`).
    #[arg(long)]
    pub database: Option<String>,
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Measure on `stack` and return a markdown report; `tmp` holds wrk's script and
/// the signed bodies it sends.
pub async fn report(stack: &Stack, opts: &BenchOptions, tmp: &Path, clock: fn() -> u64) -> Result<String> {
    let token = BenchToken::create(stack, opts.rows, clock).await?;
    let Latencies { direct, attested, without_release, stages } = latencies(&token, opts.requests).await?;
    let (d50, a50, w50) =
        (percentile(&direct, 0.5), percentile(&attested, 0.5), percentile(&without_release, 0.5));
    let ratio = |d: Duration| d.as_secs_f64() / d50.as_secs_f64().max(1e-9);
    let mut out = format!(
        "## Attested inference vs direct tract (digits MLP, {} rows per request, {} requests)\n\n\
         | path | p50 | p99 | vs direct |\n|---|---|---|---|\n\
         | tract in-process (direct) | {} | {} | 1.00× |\n\
         | `POST /v1/infer` → attested worker (signature, ledger, key release, sealed data, receipt) | {} | {} | {:.1}× |\n\
         | the same, less the per-request key release | {} | {} | {:.1}× |\n\n\
         Where an attested request's time goes (p50 of each `Server-Timing` stage; gw_* in the gateway, the rest in the worker):\n\n\
         | stage | p50 |\n|---|---|\n",
        opts.rows,
        opts.requests,
        ms(d50),
        ms(percentile(&direct, 0.99)),
        ms(a50),
        ms(percentile(&attested, 0.99)),
        ratio(a50),
        ms(w50),
        ms(percentile(&without_release, 0.99)),
        ratio(w50),
    );
    for (name, v) in &stages {
        let _ = writeln!(out, "| {name} | {} |", ms(percentile(v, 0.5)));
    }
    if opts.load_secs > 0 {
        out.push_str(&load(opts, &token, &stack.gateway, tmp).await?);
    }
    Ok(out)
}

/// wrk's run against `POST /v1/infer`, each request with its own signed body.
async fn load(opts: &BenchOptions, token: &BenchToken, gateway: &str, tmp: &Path) -> Result<String> {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        return Ok("\n(wrk not found: `apt-get install wrk` for the load test)\n".into());
    }
    // Every request needs its own nonce: sign more than the run can send.
    let n = (opts.load_secs as usize * 1500 * opts.workers).max(2000);
    let bodies = token.sign(n).await?;
    let mut lines = String::new();
    for b in &bodies {
        lines.push_str(&serde_json::to_string(b)?);
        lines.push('\n');
    }
    let bodies_path = tmp.join("bodies.jsonl");
    std::fs::write(&bodies_path, lines).map_err(StackError::io("writing wrk's bodies"))?;
    let script = tmp.join("infer.lua");
    std::fs::write(
        &script,
        "local bodies, i = {}, 0\n\
         function init(args) for line in io.lines(args[1]) do bodies[#bodies + 1] = line end end\n\
         function request()\n  i = i + 1\n  if i > #bodies then i = 1 end\n  \
         return wrk.format(\"POST\", \"/v1/infer\", {[\"Content-Type\"] = \"application/json\"}, bodies[i])\nend\n",
    )
    .map_err(StackError::io("writing wrk's script"))?;
    let out = tokio::process::Command::new("wrk")
        .args(["-t1", &format!("-c{}", opts.connections)])
        .args([&format!("-d{}s", opts.load_secs), "--latency", "-s"])
        .arg(&script)
        .arg(gateway)
        .arg("--")
        .arg(&bodies_path)
        .output()
        .await
        .map_err(StackError::io("running wrk"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let grab = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    let sent: usize = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let non2xx = match grab("Non-2xx or 3xx responses:") {
        n if n == "?" => "0".to_owned(),
        n => n,
    };
    let mut report = format!(
        "\n## Load: wrk -t1 -c{} -d{}s, {} worker(s), {} rows per request\n\n\
         | requests/s | p50 | p99 | non-2xx |\n|---|---|---|---|\n| {} | {} | {} | {non2xx} |\n",
        opts.connections,
        opts.load_secs,
        opts.workers,
        opts.rows,
        grab("Requests/sec:"),
        grab("50%"),
        grab("99%"),
    );
    if sent > bodies.len() {
        report.push_str("(more requests than signed bodies: the excess were replays, refused with 409)\n");
    }
    Ok(report)
}

/// What `veil bench llm` measured: the median run by decode rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LlmDecode {
    /// Which engine.
    pub engine: &'static str,
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (fewer than asked when the model ended its text).
    pub completion_tokens: usize,
    /// Prefill and the first sample, milliseconds.
    pub ttft_ms: f64,
    /// Tokens per second after the first.
    pub decode_tok_s: f64,
    /// This process's peak resident memory (`VmHWM`) after the runs: the model file
    /// as read, the loaded weights and the largest KV cache.
    pub peak_rss: String,
    /// The model file's size, MiB.
    pub file_mib: f64,
}

/// What `veil bench llm` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct LlmBenchOptions {
    /// The GGUF model.
    pub model: std::path::PathBuf,
    /// The prompt (raw text, no chat template, so every engine feeds the same tokens).
    #[arg(long, default_value = "The history of the printing press begins")]
    pub prompt: String,
    /// New tokens per run (fewer when the model ends its text).
    #[arg(long, default_value_t = 128)]
    pub tokens: usize,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Bare candle, greedy, on `model_bytes` (its root is computed here, before any
/// timing): `runs` generations of `tokens` new tokens after `prompt` (raw text, no chat
/// template, so every engine feeds the same tokens); the median by decode rate.
pub fn llm_decode(model_bytes: &[u8], prompt: &str, tokens: usize, runs: usize) -> Result<LlmDecode> {
    let root = veil_content::root_of(model_bytes)?;
    let model = veil_llm::LlmModel::load(model_bytes, &root)?;
    let prompt = model.tokenizer().encode_text(prompt)?;
    let mut measured = Vec::new();
    for _ in 0..runs.max(1) {
        let sampling = veil_llm::Sampling {
            decoding: veil_llm::Decoding::Greedy,
            max_new_tokens: tokens,
            stop: Vec::new(),
        };
        let started = Instant::now();
        let mut generation = veil_llm::Generation::start(&model, &prompt, sampling)?;
        let first = started.elapsed();
        while generation.step()?.is_some() {}
        let decode = started.elapsed() - first;
        let n = generation.usage().completion_tokens;
        measured.push(LlmDecode {
            engine: "candle (veil-llm)",
            prompt_tokens: prompt.len(),
            completion_tokens: n,
            ttft_ms: first.as_secs_f64() * 1e3,
            decode_tok_s: n.saturating_sub(1) as f64 / decode.as_secs_f64(),
            peak_rss: String::new(),
            file_mib: model_bytes.len() as f64 / (1 << 20) as f64,
        });
    }
    measured.sort_by(|a, b| a.decode_tok_s.total_cmp(&b.decode_tok_s));
    let mut median = measured.swap_remove(measured.len() / 2);
    median.peak_rss = peak_rss();
    Ok(median)
}
