//! `veil demo`: the main job end to end on embedded defaults, told step by step.
//!
//! It starts the whole stack (`veil up` in-process, with the worker as its own
//! attested process), then plays both parties: a data owner seals patient records to
//! a token's key, stores them by root and mints an iNFT over that root; a user, once
//! authorized on chain, asks the gateway for predictions over some of the records and
//! gets them with a receipt that verifies offline. Then it shows the refusals: an
//! unauthorized wallet, a replayed request, a tampered blob, an edited receipt.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use veil_gateway::{ClientError, GatewayClient};
use veil_kms_http::KmsClient;
use veil_ledger::IntelligentData;
use veil_store::Store;

use crate::up::{Stack, UpOptions};

/// The held-out rows of the breast-cancer data (UCI, CC BY 4.0; see models/data).
const BREAST_CANCER: &str = crate::up::BUNDLED_DATA[0].1;

fn step(n: u32, text: &str) {
    outln!("\n{n}. {text}");
}

fn ok(text: impl AsRef<str>) {
    outln!("   ✓ {}", text.as_ref());
}

fn refused(what: &str, code: &str, detail: &str) {
    outln!("   ✓ {what}: refused — {code}");
    outln!("     {detail}");
}

fn short(s: &str) -> String {
    if s.len() > 22 {
        format!("{}…{}", &s[..14], &s[s.len() - 6..])
    } else {
        s.to_owned()
    }
}

/// The test split as a token's records (`id` + 30 measurements) and each id's true label.
fn patient_records() -> Result<(String, Vec<(String, &'static str)>)> {
    let mut lines = BREAST_CANCER.lines();
    let header: Vec<&str> = lines.next().context("empty data")?.split(',').collect();
    let features = header.len() - 2;
    let mut out = String::from("id");
    for name in &header[..features] {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    let mut truth = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != features + 2 || cells[features + 1] != "test" {
            continue;
        }
        let id = format!("P{:04}", truth.len() + 1);
        out.push_str(&id);
        for c in &cells[..features] {
            out.push(',');
            out.push_str(c);
        }
        out.push('\n');
        truth.push((
            id,
            if cells[features] == "0" {
                "malignant"
            } else {
                "benign"
            },
        ));
    }
    Ok((out, truth))
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
    outln!("Veil demo: confidential inference over a token's private data, with a receipt anyone can check");
    outln!("   workspace: {}", work.display());
    step(
        1,
        "Start Veil: embedded chain, store, key broker, gateway, and an attested worker process",
    );
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let stack = rt.block_on(crate::up::start(&UpOptions {
        dir: work.join("stack"),
        listen,
        workers: 1,
        worker_exe: None,
        allow_current_worker: false,
    }))?;
    let result = rt.block_on(story(&stack, &work));
    rt.block_on(stack.shutdown());
    result?;
    let kept = !work
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("veil-demo-"));
    if kept {
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

async fn story(stack: &Stack, work: &Path) -> Result<()> {
    ok(format!("chain {} at {}", stack.operator.chain_id(), stack.rpc));
    ok(format!(
        "key broker {} (its allowlist holds one measurement)",
        stack.kms
    ));
    ok(format!("gateway {}", stack.gateway));
    ok(format!(
        "worker: simulated TDX, MRTD {} = its binary, config and models; attested, keys generated inside",
        short(&stack.measurement)
    ));

    step(
        2,
        "The data owner's private records: held-out breast-mass measurements of 143 patients",
    );
    let (records, truth) = patient_records()?;
    ok(format!(
        "{} records × 30 measurements, {} bytes of plaintext",
        truth.len(),
        records.len()
    ));

    step(
        3,
        "The owner seals them to the token's key, stores the blob by its root, and mints the iNFT",
    );
    let chain = &stack.operator;
    let token = chain.next_token_id().await?;
    let kms = KmsClient::new(&stack.kms);
    let token_key = kms.token_public_key(&token.to_string()).await?;
    let mut sealed = Vec::new();
    veil_seal::seal(records.as_bytes(), &mut sealed, &[token_key])?;
    let put = stack.store.put_bytes(sealed).await?;
    ok(format!(
        "sealed to token {token}'s key {} (only an attested worker can be given it)",
        short(&token_key.to_string())
    ));
    ok(format!("stored: root {}", put.root));
    let minted = chain
        .mint(
            stack.operator_address,
            &[IntelligentData {
                description: "breast-mass measurements (sealed)".into(),
                data_hash: put.root.0.into(),
            }],
        )
        .await?;
    if minted != token {
        bail!("token {minted} was minted, not {token}: another mint raced; seal again");
    }
    ok(format!(
        "token {token} minted to {} over that root",
        stack.operator_address
    ));

    step(4, "The owner authorizes a researcher's wallet on chain");
    let user = PrivateKeySigner::random();
    let stranger = PrivateKeySigner::random();
    chain.authorize(token, user.address()).await?;
    let (yes, block) = chain.is_authorized(token, user.address()).await?;
    if !yes {
        bail!("the authorization did not land");
    }
    ok(format!(
        "isAuthorized(token {token}, {}) = true at block {block}",
        user.address()
    ));

    step(
        5,
        "The researcher asks for predictions on three patients (an EIP-712 signed request)",
    );
    let gw = GatewayClient::new(&stack.gateway);
    let ids = ["P0001", "P0002", "P0003"];
    let body = gw
        .sign(
            &user,
            token,
            "breast-cancer-logreg",
            json!({ "ids": ids }),
            120,
            crate::unix_now(),
        )
        .await?;
    let answer = gw.infer(&body).await?;
    for p in answer.output["predictions"].as_array().context("predictions")? {
        let id = p["id"].as_str().unwrap_or_default();
        let label = p["label"].as_str().unwrap_or_default();
        let class = p["class"].as_u64().unwrap_or_default() as usize;
        let prob = p["probabilities"][class].as_f64().unwrap_or_default();
        let actual = truth
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, t)| *t)
            .unwrap_or("?");
        ok(format!(
            "{id}: {label} (p = {prob:.3}); recorded diagnosis: {actual}"
        ));
    }
    ok("only predictions crossed the gateway; the records were opened inside the worker only");
    let receipt_path = work.join("receipt.json");
    veil_fs::write_atomic(&receipt_path, answer.receipt.to_json_pretty().as_bytes())?;
    ok(format!("receipt {} → receipt.json", short(&answer.receipt.id)));

    step(
        6,
        "Anyone verifies the receipt offline: signature, attestation binding the key, event chain",
    );
    let mut trust = veil_verify::Trust::default();
    trust
        .anchors
        .intel_roots
        .push(crate::kms::read_cert(&stack.dev_root)?);
    trust.measurements = vec![stack.measurement.clone()];
    let report = veil_verify::verify(&std::fs::read(&receipt_path)?, &trust)?;
    ok(report.summary());
    let kinds: Vec<&str> = report
        .verified
        .receipt
        .events
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    ok(format!("events: {}", kinds.join(" → ")));

    step(7, "What is refused");
    let expect_refusal = |r: Result<veil_protocol::JobResponse, ClientError>, what: &str| -> Result<()> {
        match r {
            Ok(_) => bail!("{what} was answered"),
            Err(ClientError::Refused(p)) => {
                refused(what, &p.code, &p.detail);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    };
    // One row, signed by `who`.
    let one_row = |who: PrivateKeySigner| {
        let gw = gw.clone();
        async move {
            gw.sign(
                &who,
                token,
                "breast-cancer-logreg",
                json!({ "ids": ["P0001"] }),
                120,
                crate::unix_now(),
            )
            .await
        }
    };
    let body_s = one_row(stranger.clone()).await?;
    expect_refusal(gw.infer(&body_s).await, "a wallet the owner never authorized")?;
    let audit = std::fs::read_to_string(&stack.audit_log)?;
    let last: Value = serde_json::from_str(audit.lines().last().unwrap_or("{}"))?;
    ok(format!(
        "the key broker's audit log records it: {} {} for {}",
        last["event"]["decision"].as_str().unwrap_or("?"),
        last["event"]["code"].as_str().unwrap_or("?"),
        last["event"]["user"].as_str().unwrap_or("?"),
    ));
    expect_refusal(
        gw.infer(&body).await,
        "the researcher's request sent a second time",
    )?;

    let Store::Local(local) = &stack.store else {
        bail!("the demo uses the local store")
    };
    let blob = local.blob_path(&put.root);
    let mut bytes = std::fs::read(&blob)?;
    bytes[1000] ^= 0x01;
    std::fs::write(&blob, &bytes).context("flipping a byte in the stored blob")?;
    let again = one_row(user.clone()).await?;
    expect_refusal(
        gw.infer(&again).await,
        "one flipped bit in the stored sealed blob",
    )?;

    let mut doc: Value = serde_json::from_slice(&std::fs::read(&receipt_path)?)?;
    let before = doc["receipt"]["subject"].clone();
    doc["receipt"]["subject"] = json!(stranger.address().to_string());
    if doc["receipt"]["subject"] == before {
        bail!("the edit did not change the receipt");
    }
    match veil_verify::verify(&serde_json::to_vec(&doc)?, &trust) {
        Ok(_) => bail!("an edited receipt verified"),
        Err(e) => refused(
            "the receipt with its subject changed to another wallet",
            e.code(),
            &e.to_string(),
        ),
    }
    Ok(())
}
