//! `veil demo`: the main job end to end on embedded defaults, told step by step
//! (the story is `veil_stack::demo`; this prints it).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use veil_stack::demo::Narrator;
use veil_stack::stack::UpOptions;

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

/// The bundled language model as `scripts/models.sh` installs it.
const LLM_NAME: &str = "SmolLM2-135M-Instruct.Q8_0";

/// The bundled language model, when installed.
fn bundled_llm() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".cache/veil/models").join(format!("{LLM_NAME}.gguf"));
    path.is_file().then_some(path)
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
    let llm = bundled_llm();
    let opts = UpOptions { llm: llm.clone(), ..crate::up::options(work.join("stack"), listen, 1)? };
    let stack = rt.block_on(veil_stack::stack::start(&opts))?;
    let result = rt.block_on(async {
        veil_stack::demo::story(&stack, &work, crate::unix_now, &mut out).await?;
        veil_stack::demo::fhe_story(&stack, &work, 8, &mut out).await?;
        match &llm {
            Some(path) => {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or(LLM_NAME);
                veil_stack::demo::chat_story(&stack, name, 10, crate::unix_now, &mut out).await
            }
            None => {
                outln!("\n10. (The chat story needs the bundled language model: run scripts/models.sh, then the demo again.)");
                Ok(())
            }
        }
    });
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
