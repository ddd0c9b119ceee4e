//! `veil demo`: the main job end to end on embedded defaults, told step by step.
//!
//! Today the job is: a data owner seals private records to an enclave key, stores the
//! sealed blob by its 0G root, mints an iNFT over that root on the embedded chain and
//! authorizes a user; the enclave fetches the blob back by root (verified), opens it,
//! computes a result, and signs a receipt (naming the block the authorization was read
//! at) that anyone can verify offline. Then the demo shows tampering refused. Later
//! work replaces the stand-ins (attested worker, model inference) without changing the
//! shape.

use std::io::Write;
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use anyhow::{Context, Result, bail};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use veil_content::root_of;
use veil_ledger::IntelligentData;
use veil_receipt::{Event, Mode, Receipt, event};
use veil_seal::Identity;
use veil_store::{LocalStore, Store};

/// Deterministic synthetic patient records (no real person): enough rows for two
/// 256 KiB segments, so the segment proof has a sibling to check.
fn synthetic_records(rows: usize) -> String {
    let mut state: u64 = 0x5eed_7e11_da7a_0001;
    let mut next = move |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    let mut out = String::from("patient_id,age,sex,systolic_bp,cholesterol_mg_dl,diabetic\n");
    for i in 0..rows {
        let age = 25 + next(60);
        let sex = if next(2) == 0 { "F" } else { "M" };
        let bp = 100 + next(40) + age / 3;
        let chol = 150 + next(100);
        let diabetic = u8::from(next(100) < 8 + age / 5);
        out.push_str(&format!("P{i:06},{age},{sex},{bp},{chol},{diabetic}\n"));
    }
    out
}

/// The job the enclave runs on the opened records: cohort statistics.
fn cohort_stats(csv: &str) -> Result<serde_json::Value> {
    let (mut n, mut age, mut bp, mut diabetic) = (0u64, 0u64, 0u64, 0u64);
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            bail!("malformed record {line:?}");
        }
        n += 1;
        age += f[1].parse::<u64>()?;
        bp += f[3].parse::<u64>()?;
        diabetic += f[5].parse::<u64>()?;
    }
    if n == 0 {
        bail!("no records");
    }
    let mean = |s: u64| (s as f64 / n as f64 * 10.0).round() / 10.0;
    Ok(json!({
        "records": n,
        "mean_age": mean(age),
        "mean_systolic_bp": mean(bp),
        "diabetic_share": (diabetic as f64 / n as f64 * 1000.0).round() / 1000.0,
    }))
}

fn step(n: u32, text: &str) {
    outln!("\n{n}. {text}");
}

fn ok(text: impl AsRef<str>) {
    outln!("   ✓ {}", text.as_ref());
}

fn refused(what: &str, err: impl std::fmt::Display) {
    outln!("   ✓ {what}: refused — {err}");
}

fn sha256_file(p: &Path) -> Result<String> {
    Ok(hex::encode(Sha256::digest(std::fs::read(p)?)))
}

fn short(s: &str) -> String {
    if s.len() > 22 {
        format!("{}…{}", &s[..14], &s[s.len() - 6..])
    } else {
        s.to_owned()
    }
}

pub fn run(dir: Option<PathBuf>) -> Result<()> {
    let tmp: tempfile::TempDir;
    let work = match dir {
        Some(d) => {
            veil_fs::create_private_dir(&d)?;
            d
        }
        None => {
            tmp = tempfile::Builder::new().prefix("veil-demo-").tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let rt = crate::runtime()?;
    outln!("Veil demo: private data, sealed and content-addressed, with a receipt anyone can check");
    outln!("   workspace: {}", work.display());

    step(1, "Identities");
    let owner = Identity::generate()?;
    let enclave = Identity::generate()?;
    let enclave_key = work.join("enclave.key");
    let mut f = veil_fs::AtomicFile::create(&enclave_key)?;
    f.write_all(enclave.to_file_text().as_bytes())?;
    f.commit()?;
    outln!("   data owner  {}", owner.public_key());
    outln!(
        "   enclave     {}  (secret in enclave.key, mode 0600)",
        enclave.public_key()
    );
    outln!("               a stand-in: attested enclave keys arrive with the attestation work");

    step(2, "The owner's private records");
    let records = synthetic_records(12_000);
    let plain_path = work.join("patient-records.csv");
    veil_fs::write_atomic(&plain_path, records.as_bytes())?;
    ok(format!(
        "patient-records.csv: {} synthetic patients, {} bytes",
        12_000,
        records.len()
    ));

    step(
        3,
        "Seal them to the enclave (and the owner) — AES-256-GCM segments, key wrapped with HPKE",
    );
    let sealed_path = work.join("patient-records.csv.sealed");
    let mut out = veil_fs::AtomicFile::create(&sealed_path)?;
    let s = veil_seal::seal(
        records.as_bytes(),
        &mut out,
        &[enclave.public_key(), owner.public_key()],
    )?;
    out.commit()?;
    ok(format!(
        "{} bytes in {} segments of 64 KiB, 2 recipients",
        s.sealed_bytes, s.segments
    ));

    step(4, "Store the sealed blob; its name is its 0G Storage root");
    let store = Store::Local(LocalStore::open(&work.join("store"))?);
    let put = rt.block_on(store.put_path(&sealed_path))?;
    ok(format!("root {}", put.root));

    step(
        5,
        "The owner mints an iNFT over that root on the embedded chain and authorizes a user",
    );
    let chain_dir = work.join("chain");
    let (_, owner_wallet) = rt.block_on(crate::chain::init(&chain_dir, veil_chain::DEFAULT_CHAIN_ID, &[]))?;
    let user = crate::chain::keygen(&work.join("user.key"))?;
    let (token, authorized_at, chain_id, inft) = rt.block_on(async {
        let ledger = crate::chain::LedgerArgs::embedded(chain_dir.clone())
            .connect()
            .await?;
        let c = &ledger.client;
        let data = IntelligentData {
            description: "patient records (sealed)".into(),
            data_hash: B256::from(put.root.0),
        };
        let token = c.mint(owner_wallet, &[data]).await?;
        c.authorize(token, user).await?;
        let (yes, block) = c.is_authorized(token, user).await?;
        let (stranger_ok, _) = c.is_authorized(token, Address::repeat_byte(0x5e)).await?;
        if !yes || stranger_ok {
            bail!("the chain answered isAuthorized wrongly");
        }
        anyhow::Ok((token, block, c.chain_id(), c.deployment().inft))
    })?;
    ok(format!(
        "chain {chain_id}: token {token} minted to {owner_wallet} over the sealed root"
    ));
    ok(format!(
        "isAuthorized(token {token}, user {user}) = true at block {authorized_at}"
    ));
    ok("isAuthorized(token, a stranger) = false");

    step(
        6,
        "The enclave fetches it back by root (every read is checked against the root)",
    );
    let fetched = work.join("fetched.sealed");
    rt.block_on(store.get_to_path(&put.root, &fetched))?;
    if sha256_file(&fetched)? != sha256_file(&sealed_path)? {
        bail!("fetched bytes differ from the stored ones");
    }
    ok("fetched.sealed is byte-identical to what was stored");
    let seg = rt.block_on(store.get_segment(&put.root, 1))?;
    ok(format!(
        "segment 1 alone ({} bytes) verified against the root with {} sibling hash(es)",
        seg.data.len(),
        seg.proof.siblings.len()
    ));

    step(
        7,
        "The enclave opens it with its key and runs the job (cohort statistics)",
    );
    let mut opened = Vec::new();
    veil_seal::open(
        std::fs::File::open(&fetched)?,
        &mut opened,
        &crate::io::read_identity(&enclave_key)?,
    )?;
    if opened != records.as_bytes() {
        bail!("opened plaintext differs from the original");
    }
    ok("plaintext authenticated segment by segment and identical to the original");
    let request = serde_json::to_vec(&json!({"job": "cohort-stats", "data": put.root}))?;
    let t0 = OffsetDateTime::now_utc();
    let output = cohort_stats(std::str::from_utf8(&opened)?)?;
    let output_bytes = serde_json::to_vec(&output)?;
    ok(format!("result {output}"));

    step(
        8,
        "The enclave signs a receipt: which input, which data, which output, for whom",
    );
    let now = OffsetDateTime::now_utc();
    let mut receipt = Receipt::new(Mode::Plain, root_of(&request)?, root_of(&output_bytes)?, now);
    receipt.subject = Some(user.to_string());
    receipt.context_hash = Some(put.root);
    receipt.policy_id = Some("demo/owner-sealed".into());
    receipt.events = vec![
        Event::new(event::REQUEST_RECEIVED, t0, json!({})),
        Event::new(
            event::NFT_AUTHORIZED,
            t0,
            json!({"chain_id": chain_id, "contract": inft, "token": token.to_string(), "user": user, "block": authorized_at}),
        ),
        Event::new(event::DATA_LOADED, t0, json!({"root": put.root})),
        Event::new(
            event::RESPONSE_RETURNED,
            now,
            json!({"body_hash": root_of(&output_bytes)?}),
        ),
    ];
    let signed = veil_receipt::sign(receipt, &enclave.signing_key())?;
    let receipt_path = work.join("receipt.json");
    veil_fs::write_atomic(&receipt_path, signed.to_json_pretty().as_bytes())?;
    ok(format!("receipt.json, id {}", short(&signed.id)));

    step(
        9,
        "Anyone verifies the receipt offline (`veil verify receipt.json`)",
    );
    let verified = veil_receipt::verify(&std::fs::read(&receipt_path)?)?;
    ok(verified.summary());

    step(10, "Tampering is refused");
    let stranger = Identity::generate()?;
    match veil_seal::open(std::fs::File::open(&fetched)?, std::io::sink(), &stranger) {
        Ok(_) => bail!("a stranger opened the blob"),
        Err(e) => refused("a stranger's key opening the blob", e),
    }
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt_path)?)?;
    doc["receipt"]["output_hash"] = json!(root_of(b"a different answer")?);
    match veil_receipt::verify(&serde_json::to_vec(&doc)?) {
        Ok(_) => bail!("a changed receipt verified"),
        Err(e) => refused("the receipt with its output hash changed", e),
    }
    let Store::Local(local) = &store else {
        bail!("the demo uses the local store")
    };
    let blob = local.blob_path(&put.root);
    let mut bytes = std::fs::read(&blob)?;
    bytes[1000] ^= 0x01;
    std::fs::write(&blob, &bytes).context("flipping a byte in the stored blob")?;
    let dest = work.join("refetched.sealed");
    match rt.block_on(store.get_to_path(&put.root, &dest)) {
        Ok(_) => bail!("a corrupted blob was served"),
        Err(e) => refused("one flipped bit in the stored blob", e),
    }
    if dest.exists() {
        bail!("a partial file was left behind");
    }
    ok("and no partial output file was left behind");

    if tmp_kept(&work) {
        outln!(
            "\nDone. Check it yourself: veil verify {}",
            receipt_path.display()
        );
    } else {
        outln!(
            "\nDone. The workspace was temporary; run `veil demo --dir DIR` to keep the files and check them yourself."
        );
    }
    Ok(())
}

/// Whether the workspace outlives the demo (it does when the user named it).
fn tmp_kept(work: &Path) -> bool {
    !work
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("veil-demo-"))
        || !work.starts_with(std::env::temp_dir())
}
