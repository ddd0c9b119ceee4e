//! `veil bench gateway`: attested inference against the same model run directly in
//! tract, then `POST /v1/infer` under load from wrk — measured by
//! `veil_stack::bench` in one run on one machine, so the ratios compare like with like.

use anyhow::Result;
use veil_stack::stack::UpOptions;

pub use veil_stack::bench::BenchOptions as BenchArgs;

/// Run the benchmark and print a markdown report.
pub fn run(opts: BenchArgs) -> Result<()> {
    let (workers, database) = (opts.workers, opts.database.clone());
    on_stack(workers, database, move |stack, dir| {
        Box::pin(async move { veil_stack::bench::report(stack, &opts, dir, crate::unix_now).await })
    })
}

/// `veil bench fhe`: in one process, or through a stack of its own.
pub fn fhe(o: veil_stack::fhe::FheBenchOptions) -> Result<()> {
    if o.through_stack {
        return on_stack(1, None, |stack, dir| Box::pin(veil_stack::fhe::bench_api(stack, o.runs, dir)));
    }
    outln!("{}", veil_stack::fhe::bench(&o)?);
    Ok(())
}

/// `veil bench log`, in a temporary directory.
pub fn log(o: &veil_stack::tlog::LogBenchOptions) -> Result<()> {
    let tmp = tempfile::Builder::new().prefix("veil-bench-log-").tempdir()?;
    outln!("{}", veil_stack::tlog::bench(o, tmp.path())?);
    Ok(())
}

/// `veil bench secagg`.
pub fn secagg(o: &veil_stack::fl::SecAggBenchOptions) -> Result<()> {
    outln!("{}", veil_stack::fl::bench_secagg(o)?);
    Ok(())
}

/// `veil bench fl`.
pub fn fl(o: &veil_stack::fl::FlBenchOptions) -> Result<()> {
    outln!("{}", veil_stack::fl::bench_fl(o)?);
    Ok(())
}

type Report<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = veil_stack::Result<String>> + 'a>>;

/// Start a stack of `workers` in a temporary directory, print what `bench` reports on
/// it, and stop it.
fn on_stack(
    workers: usize,
    database: Option<String>,
    bench: impl for<'a> FnOnce(&'a veil_stack::stack::Stack, &'a std::path::Path) -> Report<'a>,
) -> Result<()> {
    let tmp = tempfile::Builder::new().prefix("veil-bench-").tempdir()?;
    let rt = crate::runtime()?;
    let (dir, listen) = (tmp.path().join("stack"), "127.0.0.1:0".parse()?);
    // A benchmark is one client sending as fast as it is answered.
    let up = UpOptions { ml_per_second: u32::MAX, database, ..crate::up::options(dir, listen, workers)? };
    let stack = rt.block_on(veil_stack::stack::start(&up))?;
    let report = rt.block_on(bench(&stack, tmp.path()));
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
