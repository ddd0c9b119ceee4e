//! `veil bench gateway`: attested inference against the same model run directly in
//! tract (measured by `veil_stack::bench`), then `POST /v1/infer` under load from wrk
//! (a second process) — all in one run on one machine, so the ratios compare like
//! with like.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use veil_stack::bench::{self, BenchToken, Latencies, percentile};

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

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Run the benchmark and print a markdown report.
pub fn run(args: BenchArgs) -> Result<()> {
    let tmp = tempfile::Builder::new().prefix("veil-bench-").tempdir()?;
    let rt = crate::runtime()?;
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let stack = rt.block_on(veil_stack::stack::start(&crate::up::options(
        tmp.path().join("stack"),
        listen,
        args.workers,
    )?))?;
    let result = rt.block_on(measure(&stack, &args, tmp.path()));
    rt.block_on(stack.shutdown());
    result
}

async fn measure(stack: &veil_stack::stack::Stack, args: &BenchArgs, tmp: &Path) -> Result<()> {
    let token = BenchToken::create(stack, args.rows, crate::unix_now).await?;
    let Latencies {
        direct,
        attested,
        without_release,
        stages,
    } = bench::latencies(&token, args.requests).await?;
    let (d50, a50) = (percentile(&direct, 0.5), percentile(&attested, 0.5));
    outln!(
        "## Attested inference vs direct tract (digits MLP, {} rows per request, {} requests)\n",
        args.rows,
        args.requests
    );
    outln!("| path | p50 | p99 | vs direct |");
    outln!("|---|---|---|---|");
    outln!(
        "| tract in-process (direct) | {} | {} | 1.00× |",
        ms(d50),
        ms(percentile(&direct, 0.99))
    );
    outln!(
        "| `POST /v1/infer` → attested worker (signature, ledger, key release, sealed data, receipt) | {} | {} | {:.1}× |",
        ms(a50),
        ms(percentile(&attested, 0.99)),
        a50.as_secs_f64() / d50.as_secs_f64().max(1e-9)
    );
    let w50 = percentile(&without_release, 0.5);
    outln!(
        "| the same, less the per-request key release | {} | {} | {:.1}× |",
        ms(w50),
        ms(percentile(&without_release, 0.99)),
        w50.as_secs_f64() / d50.as_secs_f64().max(1e-9)
    );
    outln!(
        "\nWhere an attested request's time goes (p50 of each `Server-Timing` stage; gw_* in the gateway, the rest in the worker):\n"
    );
    outln!("| stage | p50 |");
    outln!("|---|---|");
    for (name, v) in &stages {
        outln!("| {name} | {} |", ms(percentile(v, 0.5)));
    }

    if args.load_secs > 0 {
        load(args, &token, &stack.gateway, tmp).await?;
    }
    Ok(())
}

async fn load(args: &BenchArgs, token: &BenchToken, gateway: &str, tmp: &Path) -> Result<()> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        outln!("\n(wrk not found: `apt-get install wrk` for the load test)");
        return Ok(());
    }
    // Every request needs its own nonce: sign more than the run can send.
    let n = (args.load_secs as usize * 1500 * args.workers).max(2000);
    let bodies = token.sign(n).await?;
    let mut lines = String::new();
    for b in &bodies {
        lines.push_str(&serde_json::to_string(b)?);
        lines.push('\n');
    }
    let bodies_path = tmp.join("bodies.jsonl");
    std::fs::write(&bodies_path, lines)?;
    let script = tmp.join("infer.lua");
    std::fs::write(
        &script,
        "local bodies, i = {}, 0\n\
         function init(args) for line in io.lines(args[1]) do bodies[#bodies + 1] = line end end\n\
         function request()\n  i = i + 1\n  if i > #bodies then i = 1 end\n  \
         return wrk.format(\"POST\", \"/v1/infer\", {[\"Content-Type\"] = \"application/json\"}, bodies[i])\nend\n",
    )?;
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{}", args.connections),
            &format!("-d{}s", args.load_secs),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(gateway)
        .arg("--")
        .arg(&bodies_path)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let grab = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    let sent: usize = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    outln!(
        "\n## Load: wrk -t1 -c{} -d{}s, {} worker(s), {} rows per request\n",
        args.connections,
        args.load_secs,
        args.workers,
        args.rows
    );
    outln!("| requests/s | p50 | p99 | non-2xx |");
    outln!("|---|---|---|---|");
    let non2xx = grab("Non-2xx or 3xx responses:");
    outln!(
        "| {} | {} | {} | {} |",
        grab("Requests/sec:"),
        grab("50%"),
        grab("99%"),
        if non2xx == "?" { "0".into() } else { non2xx }
    );
    if sent > bodies.len() {
        outln!("(more requests than signed bodies: the excess were replays, refused with 409)");
    }
    Ok(())
}
