//! `veil root`, `keygen`, `seal`, `open`, `store`, `verify-segment`: files, their
//! roots, and the blob store.

use std::path::Path;

use anyhow::{Context, Result};
use veil_content::{Root, root_of_reader};
use veil_fs::stdio::{Input, Output};
use veil_seal::PublicKey;

use crate::cli::StoreCommand;
use crate::store_args::StoreArgs;

/// `veil root FILE`.
pub fn root(file: &Path) -> Result<()> {
    let (root, _) =
        root_of_reader(Input::open(file)?).with_context(|| format!("hashing {}", file.display()))?;
    outln!("{root}");
    Ok(())
}

/// `veil keygen --out FILE`.
pub fn keygen(out: &Path) -> Result<()> {
    outln!("{}", veil_stack::keys::new_identity(out)?);
    Ok(())
}

/// `veil seal --to KEYS IN OUT`.
pub fn seal(to: &[String], input: &Path, output: &Path) -> Result<()> {
    let recipients = to.iter().map(|s| s.parse::<PublicKey>()).collect::<Result<Vec<_>, _>>()?;
    let reader = Input::open(input)?;
    let mut out = Output::create(output)?;
    veil_seal::seal(reader, &mut out, &recipients)?;
    Ok(out.commit()?)
}

/// `veil open --key KEY IN OUT`.
pub fn open(key: &Path, input: &Path, output: &Path) -> Result<()> {
    let id = veil_stack::keys::read_identity(key)?;
    let reader = Input::open(input)?;
    let mut out = Output::create(output)?;
    veil_seal::open(reader, &mut out, &id).with_context(|| format!("opening {}", input.display()))?;
    Ok(out.commit()?)
}

/// `veil store put|get|segment`.
pub fn store(store: &StoreArgs, command: StoreCommand) -> Result<()> {
    let rt = crate::runtime()?;
    let store = crate::store_args::open(store)?;
    rt.block_on(async {
        match command {
            StoreCommand::Put { file } => {
                let put = if file.as_os_str() == "-" {
                    store.put_reader(std::io::stdin()).await?
                } else {
                    store.put_path(&file).await.with_context(|| format!("storing {}", file.display()))?
                };
                outln!("{}", put.root);
            }
            StoreCommand::Get { root, out } => _ = store.get_to_path(&root, &out).await?,
            StoreCommand::Segment { root, index, out } => {
                let seg = store.get_segment(&root, index).await?;
                let proof_path = out.with_added_extension("proof.json");
                veil_fs::write_atomic(&out, &seg.data)?;
                veil_fs::write_json(&proof_path, &seg.proof)?;
                outln!("segment {index}: {} bytes, proof in {}", seg.data.len(), proof_path.display());
            }
        }
        anyhow::Ok(())
    })
}

/// `veil verify-segment ROOT PROOF SEGMENT`.
pub fn verify_segment(root: &Root, proof: &Path, segment: &Path) -> Result<()> {
    let (index, len) = veil_stack::store::verify_segment(root, proof, segment)?;
    outln!("segment {index} of {root} verified ({len} bytes)");
    Ok(())
}
