//! `veil demo`: the main job end to end on embedded defaults, told step by step
//! (the story is `veil_stack::demo`; this prints it).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use veil_stack::demo::Narrator;

/// Prints the story to stdout.
struct Printer;

impl Narrator for Printer {
    fn step(&mut self, n: u32, text: &str) {
        outln!("\n{n}. {text}");
    }

    fn ok(&mut self, text: &str) {
        outln!("   ✓ {text}");
    }

    fn refused(&mut self, what: &str, code: &str, detail: &str) {
        outln!("   ✓ {what}: refused — {code}");
        outln!("     {detail}");
    }
}

/// Run the demo in `dir` (kept) or a temporary directory.
pub fn run(dir: Option<PathBuf>) -> Result<()> {
    let (work, tmp) = veil_stack::demo::workspace(dir)?;
    let rt = crate::runtime()?;
    outln!("Veil demo: confidential inference over a token's private data, with a receipt anyone can check");
    outln!("   workspace: {}", work.display());
    let mut out = Printer;
    out.step(1, "Start Veil: embedded chain, store, key broker, gateway, and an attested worker process");
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let stack = rt.block_on(veil_stack::stack::start(&crate::up::options(work.join("stack"), listen, 1)?))?;
    let result = rt.block_on(veil_stack::demo::story(&stack, &work, crate::unix_now, &mut out));
    rt.block_on(stack.shutdown());
    result?;
    if tmp.is_none() {
        outln!(
            "\nDone. Check it yourself: veil verify --dev-root {} {}",
            work.join("stack/pki/dev-root.pem").display(),
            work.join("receipt.json").display()
        );
    } else {
        outln!(
            "\nDone. The workspace was temporary; run `veil demo --dir DIR` to keep the files and check them yourself."
        );
    }
    Ok(())
}
