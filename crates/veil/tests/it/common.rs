//! What every CLI test does: run `veil`, insist on success or on a one-line failure,
//! and run a server subcommand for the length of a test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub const VEIL: &str = env!("CARGO_BIN_EXE_veil");

pub fn veil(args: &[&str]) -> Output {
    Command::new(VEIL).args(args).output().expect("run veil")
}

/// `veil ARGS[0] FLAGS… ARGS[1..]`: a command with shared flags after its name.
pub fn veil_with(flags: &[&str], args: &[&str]) -> Output {
    let mut all = vec![args[0]];
    all.extend_from_slice(flags);
    all.extend_from_slice(&args[1..]);
    veil(&all)
}

/// Success; returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// A failure: non-zero exit and exactly one line on stderr.
pub fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "unexpectedly succeeded");
    let err = String::from_utf8(out.stderr.clone()).expect("utf-8");
    assert_eq!(err.trim_end().lines().count(), 1, "error is not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A running `veil` server, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `veil ARGS` and return it with its URL, from its first stdout line
/// (`listening on URL`).
pub fn serve(args: &[&str]) -> (Server, String) {
    let mut child =
        Command::new(VEIL).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("read");
    // Keep reading, so a server that prints more never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("expected a listening line, got {line:?}"))
        .to_owned();
    (Server(child), url)
}

/// `veil up` in `dir` on an ephemeral port, with `extra` flags.
pub fn up(dir: &Path, extra: &[&str]) -> (Server, String) {
    let d = dir.to_str().expect("utf-8");
    let mut args = vec!["up", "--dir", d, "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    serve(&args)
}

/// The running stack's `up.json`.
pub fn up_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("up.json")).expect("up.json")).expect("json")
}

/// `veil nft|chain …` against the stack in `dir`, as its chain operator.
pub fn on_chain(dir: &Path, args: &[&str]) -> std::process::Output {
    let info = up_json(dir);
    let s = |v: &Value| v.as_str().expect("string").to_owned();
    let operator = dir.join("chain/operator.key");
    veil_with(
        &[
            "--rpc",
            &s(&info["rpc"]),
            "--deployment",
            &s(&info["deployment"]),
            "--key",
            operator.to_str().expect("utf-8"),
        ],
        args,
    )
}

/// Run `tests/clients/SCRIPT` with the stock protocol clients' Python
/// (scripts/clients.sh installs it in ~/.cache/veil/py); its stdout is one JSON object
/// per line.
pub fn python_client(script: &str, args: &[&str]) -> Vec<Value> {
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let python = home.join(".cache/veil/py/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/clients.sh", python.display());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OLLAMA_HOST")
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The bundled language model's name (scripts/models.sh installs it).
pub const LLM: &str = "SmolLM2-135M-Instruct.Q8_0";

/// The bundled language model's GGUF, in $VEIL_MODELS or ~/.cache/veil/models.
pub fn llm_file() -> std::path::PathBuf {
    use std::path::PathBuf;
    let dir = match std::env::var_os("VEIL_MODELS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/veil/models"),
    };
    let file = dir.join(format!("{LLM}.gguf"));
    assert!(file.exists(), "{} is missing: run scripts/models.sh", file.display());
    file
}
