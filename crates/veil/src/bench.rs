//! `veil bench gateway`: attested inference against the same model run directly in
//! tract, then `POST /v1/infer` under load from wrk (a second process) — all in one
//! run on one machine, so the ratios compare like with like.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use veil_gateway::{GatewayClient, InferBody};
use veil_kms_http::KmsClient;
use veil_ledger::IntelligentData;
use veil_model::OnnxModel;

use crate::up::{BUNDLED_MODELS, UpOptions};

const DIGITS: &str = crate::up::BUNDLED_DATA[1].1;

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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The digits test split as records: `id,x0..x63`, ids D0001…
fn digit_records() -> (String, Vec<f32>) {
    let mut out = String::from("id");
    for i in 0..64 {
        out.push_str(&format!(",x{i}"));
    }
    out.push('\n');
    let mut values = Vec::new();
    for (n, line) in DIGITS
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",test"))
        .enumerate()
    {
        let cells: Vec<&str> = line.split(',').collect();
        out.push_str(&format!("D{:04},{}\n", n + 1, cells[..64].join(",")));
        values.extend(cells[..64].iter().map(|c| c.parse::<f32>().unwrap_or(0.0)));
    }
    (out, values)
}

/// Run the benchmark and print a markdown report.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.rows == 0 || args.rows > 450 {
        bail!("--rows must be 1 to 450 (the held-out digits)");
    }
    let tmp = tempfile::Builder::new().prefix("veil-bench-").tempdir()?;
    let rt = crate::runtime()?;
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let stack = rt.block_on(crate::up::start(&UpOptions {
        dir: tmp.path().join("stack"),
        listen,
        workers: args.workers,
        worker_exe: None,
        allow_current_worker: false,
    }))?;
    let result = rt.block_on(measure(&stack, &args, tmp.path()));
    rt.block_on(stack.shutdown());
    result
}

async fn measure(stack: &crate::up::Stack, args: &BenchArgs, tmp: &Path) -> Result<()> {
    let (records, values) = digit_records();
    let chain = &stack.operator;
    let token = chain.next_token_id().await?;
    let key = KmsClient::new(&stack.kms)
        .token_public_key(&token.to_string())
        .await?;
    let mut sealed = Vec::new();
    veil_seal::seal(records.as_bytes(), &mut sealed, &[key])?;
    let put = stack.store.put_bytes(sealed).await?;
    let data = IntelligentData {
        description: "digits".into(),
        data_hash: put.root.0.into(),
    };
    if chain.mint(stack.operator_address, &[data]).await? != token {
        bail!("another mint raced the benchmark's");
    }
    let user = PrivateKeySigner::random();
    chain.authorize(token, user.address()).await?;
    let gw = GatewayClient::new(&stack.gateway);
    let ids: Vec<String> = (1..=args.rows).map(|i| format!("D{i:04}")).collect();
    let sign = |n: usize| {
        let gw = gw.clone();
        let user = user.clone();
        let ids = ids.clone();
        async move {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(
                    gw.sign(
                        &user,
                        token,
                        "digits-mlp",
                        json!({ "ids": ids }),
                        600,
                        crate::unix_now(),
                    )
                    .await?,
                );
            }
            anyhow::Ok(out)
        }
    };

    // Direct: the same rows through tract in this process.
    let (_, _, onnx, _) = BUNDLED_MODELS[1];
    let root = veil_content::root_of(onnx)?;
    let model = OnnxModel::load(onnx, &root)?;
    let x = &values[..args.rows * 64];
    let mut direct = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        let t = Instant::now();
        std::hint::black_box(model.run(args.rows, x)?);
        direct.push(t.elapsed());
    }
    direct.sort();

    // Attested: signed requests (signed beforehand) through the gateway, one at a time.
    let bodies = sign(args.requests + 10).await?;
    for b in &bodies[..10] {
        gw.infer(b).await.context("warm-up request")?;
    }
    let mut attested = Vec::with_capacity(args.requests);
    let mut without_release = Vec::with_capacity(args.requests);
    let mut stages: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    for b in &bodies[10..] {
        let t = Instant::now();
        let (answer, timing) = gw.infer_timed(b).await?;
        let took = t.elapsed();
        attested.push(took);
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
            stages.entry(name.to_owned()).or_default().push(d);
        }
        without_release.push(took.saturating_sub(release));
    }
    attested.sort();
    without_release.sort();
    for v in stages.values_mut() {
        v.sort();
    }
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
        load(args, &sign, &stack.gateway, tmp).await?;
    }
    Ok(())
}

async fn load<F, Fut>(args: &BenchArgs, sign: &F, gateway: &str, tmp: &Path) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<InferBody>>>,
{
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
    let bodies = sign(n).await?;
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
