//! `veil bench gateway`: attested inference against the same model run directly in
//! tract, then `POST /v1/infer` under load from wrk — measured by
//! `veil_stack::bench` in one run on one machine, so the ratios compare like with like.

use anyhow::Result;

pub use veil_stack::bench::BenchOptions as BenchArgs;

/// Run the benchmark and print a markdown report.
pub fn run(opts: BenchArgs) -> Result<()> {
    let tmp = tempfile::Builder::new().prefix("veil-bench-").tempdir()?;
    let rt = crate::runtime()?;
    let up = crate::up::options(tmp.path().join("stack"), "127.0.0.1:0".parse()?, opts.workers)?;
    let stack = rt.block_on(veil_stack::stack::start(&up))?;
    let report = rt.block_on(veil_stack::bench::report(&stack, &opts, tmp.path(), crate::unix_now));
    rt.block_on(stack.shutdown());
    outln!("{}", report?);
    Ok(())
}

pub use veil_stack::bench::LlmBenchOptions as LlmBenchArgs;

/// Bare candle, greedy: time to first token and decode rate, the median of `runs`, as
/// one JSON line (scripts/bench-llm.sh sets the threads with RAYON_NUM_THREADS and puts
/// it beside llama.cpp and the gateway).
pub fn llm(args: LlmBenchArgs) -> Result<()> {
    let bytes = veil_fs::read_limited(&args.model, 64 << 30)?;
    let report = veil_stack::bench::llm_decode(&bytes, &args.prompt, args.tokens, args.runs)?;
    outln!("{}", serde_json::to_string(&report)?);
    Ok(())
}
