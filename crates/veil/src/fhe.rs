//! `veil fhe …`: inference on rows only the client can decrypt. The client makes its
//! keys and encrypts; a server evaluates without any key; the client decrypts.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use veil_fhe::{Answer, ParamSet};
use veil_stack::fhe;

/// `veil fhe …`.
#[derive(Subcommand)]
pub enum FheCommand {
    /// Make a client key pair in DIR: fhe.key (secret, 0600, never overwritten) and
    /// fhe.pub (what encrypts to it).
    Keygen {
        /// The directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Quantise feature rows as MODEL expects and encrypt them.
    Encrypt {
        /// The secret key (fhe.key: a query half the size), or the public key (fhe.pub:
        /// for whoever encrypts rows for the key's holder).
        #[arg(long)]
        key: PathBuf,
        /// The rows and their model.
        #[command(flatten)]
        rows: fhe::RowSource,
        /// Where to write the query.
        #[arg(long)]
        out: PathBuf,
    },
    /// Evaluate MODEL on an encrypted query, as a server does: with no key at all.
    Eval(fhe::EvalOptions),
    /// Decrypt an answer: one JSON line per row (its class and accumulators).
    Decrypt {
        /// The secret key (fhe.key).
        #[arg(long)]
        key: PathBuf,
        /// The answer (`veil fhe eval`).
        #[arg(long)]
        answer: PathBuf,
    },
    /// Encrypt rows, have the gateway evaluate them in an attested worker, verify the
    /// receipt against what was sent and received, and decrypt.
    Infer(fhe::FheInferOptions),
}

/// Run `veil fhe …`.
pub fn run(command: FheCommand) -> Result<()> {
    let set = ParamSet::standard()?;
    match command {
        FheCommand::Keygen { out } => {
            let (secret, public) = fhe::keygen(&out, &set)?;
            let (sk, pk) = (out.join(fhe::SECRET_KEY_FILE), out.join(fhe::PUBLIC_KEY_FILE));
            outln!("{} ({secret} bytes, keep it) and {} ({public} bytes)", sk.display(), pk.display());
            outln!("parameter set {} ({})", set.name(), set.hash_hex());
        }
        FheCommand::Encrypt { key, rows, out } => {
            let (model, rows) = rows.load(&set)?;
            let bytes = fhe::encrypt(&model, &key, &set, &rows)?.to_bytes();
            veil_fs::write_atomic(&out, &bytes)?;
            outln!("{} rows encrypted: {} ({} bytes)", rows.len(), out.display(), bytes.len());
        }
        FheCommand::Eval(opts) => outln!("{}", fhe::eval(&opts, &set)?),
        FheCommand::Infer(opts) => {
            let report = crate::runtime()?.block_on(fhe::infer(&opts))?;
            print_rows(&report.rows);
            outln!("{}", report.line());
        }
        FheCommand::Decrypt { key, answer } => {
            let key = fhe::read_client_key(&key, &set)?;
            let answer = fhe::read(&answer, |b| Answer::from_bytes(&set, b))?;
            print_rows(&fhe::decrypt(&key, &answer)?);
        }
    }
    Ok(())
}

fn print_rows(rows: &[fhe::Decrypted]) {
    for (row, d) in rows.iter().enumerate() {
        outln!("{}", serde_json::json!({ "row": row, "class": d.class, "accumulators": d.accumulators }));
    }
}
