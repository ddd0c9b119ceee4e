//! `veil bench gateway`: attested inference against the same model run directly in
//! tract, then `POST /v1/infer` under load from wrk — measured by
//! `veil_stack::bench` in one run on one machine, so the ratios compare like with like.

use anyhow::Result;
use clap::Args;
use veil_stack::bench::BenchOptions;

/// `veil bench gateway` arguments.
#[derive(Args)]
pub struct BenchArgs {
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
}

/// Run the benchmark and print a markdown report.
pub fn run(args: BenchArgs) -> Result<()> {
    let BenchArgs { workers, rows, requests, load_secs, connections } = args;
    let opts = BenchOptions { workers, rows, requests, load_secs, connections };
    let tmp = tempfile::Builder::new().prefix("veil-bench-").tempdir()?;
    let rt = crate::runtime()?;
    let up = crate::up::options(tmp.path().join("stack"), "127.0.0.1:0".parse()?, workers)?;
    let stack = rt.block_on(veil_stack::stack::start(&up))?;
    let report = rt.block_on(veil_stack::bench::report(&stack, &opts, tmp.path(), crate::unix_now));
    rt.block_on(stack.shutdown());
    outln!("{}", report?);
    Ok(())
}

/// `veil bench llm` arguments.
#[derive(Args)]
pub struct LlmBenchArgs {
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

/// Bare candle, greedy: time to first token (prefill and the first sample) and decode
/// rate, the median of `runs`, as one JSON line (scripts/bench-llm.sh sets the
/// threads with RAYON_NUM_THREADS and puts it beside llama.cpp and the gateway).
pub fn llm(args: LlmBenchArgs) -> Result<()> {
    use std::time::Instant;
    let bytes = std::fs::read(&args.model)?;
    let root = veil_content::root_of(&bytes)?;
    let model = veil_llm::LlmModel::load(&bytes, &root)?;
    drop(bytes);
    let prompt = model.tokenizer().encode_text(&args.prompt)?;
    let mut runs = Vec::new();
    for _ in 0..args.runs.max(1) {
        let sampling = veil_llm::Sampling {
            decoding: veil_llm::Decoding::Greedy,
            max_new_tokens: args.tokens,
            stop: Vec::new(),
        };
        let started = Instant::now();
        let mut generation = veil_llm::Generation::start(&model, &prompt, sampling)?;
        let first = started.elapsed();
        while generation.step()?.is_some() {}
        let decode = started.elapsed() - first;
        let n = generation.usage().completion_tokens;
        runs.push((first.as_secs_f64() * 1e3, (n.saturating_sub(1)) as f64 / decode.as_secs_f64(), n));
    }
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (ttft_ms, decode_tok_s, completion_tokens) = runs[runs.len() / 2];
    outln!(
        "{}",
        serde_json::json!({
            "engine": "candle (veil-llm)", "prompt_tokens": prompt.len(), "completion_tokens": completion_tokens,
            "ttft_ms": ttft_ms, "decode_tok_s": decode_tok_s,
        })
    );
    Ok(())
}
