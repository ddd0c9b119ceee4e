//! `veil demo`'s story: the main job end to end on a running stack, told step by step
//! through a [`Narrator`] (the binary prints; this crate does not).
//!
//! It plays both parties: a data owner seals patient records to a token's key, stores
//! them by root and mints an iNFT over that root; a user, once authorized on chain,
//! asks the gateway for predictions over some of the records and gets them with a
//! receipt that verifies offline. Then it shows the refusals: an unauthorized wallet,
//! a replayed request, a tampered blob, an edited receipt.

use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use veil_gateway::{ClientError, GatewayClient};
use veil_store::Store;

use crate::stack::{BUNDLED_DATA, Stack};
use crate::{Result, StackError};

/// Who tells the story.
pub trait Narrator {
    /// A numbered step begins.
    fn step(&mut self, n: u32, text: &str);
    /// Something held.
    fn ok(&mut self, text: &str);
    /// Something was refused, as it should be.
    fn refused(&mut self, what: &str, code: &str, detail: &str);
}

/// Where the demo works: `dir` (created, owner-only, and kept), or a fresh temporary
/// directory that lives as long as the returned guard.
pub fn workspace(dir: Option<PathBuf>) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(d) => {
            veil_fs::create_private_dir(&d)?;
            Ok((d, None))
        }
        None => {
            let tmp = tempfile::Builder::new().prefix("veil-demo-").tempdir()?;
            Ok((tmp.path().to_path_buf(), Some(tmp)))
        }
    }
}

/// `0x1234…abcd`: long identifiers, shortened for people.
pub fn short(s: &str) -> String {
    if s.len() > 22 { format!("{}…{}", &s[..14], &s[s.len() - 6..]) } else { s.to_owned() }
}

/// The test split as a token's records (`id` + 30 measurements) and each id's true label.
fn patient_records() -> Result<(String, Vec<(String, &'static str)>)> {
    let r = veil_model::TokenRecords::from_dataset(BUNDLED_DATA[0].1, "P")?;
    let labels = ["malignant", "benign"];
    let truth = r.ids.into_iter().zip(r.targets).map(|(id, t)| (id, labels[t.min(1)])).collect();
    Ok((r.table, truth))
}

/// Tell the demo's story on a running `stack`, writing `receipt.json` to `work`.
pub async fn story(stack: &Stack, work: &Path, clock: fn() -> u64, out: &mut dyn Narrator) -> Result<()> {
    out.ok(&format!("chain {} at {}", stack.operator.chain_id(), stack.rpc));
    out.ok(&format!("key broker {} (its allowlist holds one measurement)", stack.kms));
    out.ok(&format!("gateway {}", stack.gateway));
    out.ok(&format!(
        "worker: simulated TDX, measurement {} = firmware, boot chain, and its binary, config and models in RTMR3; attested, keys generated inside",
        short(&stack.measurement)
    ));

    out.step(2, "The data owner's private records: held-out breast-mass measurements of 143 patients");
    let (records, truth) = patient_records()?;
    out.ok(&format!("{} records × 30 measurements, {} bytes of plaintext", truth.len(), records.len()));

    out.step(
        3,
        "The owner mints the iNFT, seals the records to that token's key, stores the blob by its root, and attaches it",
    );
    let chain = &stack.operator;
    let token = chain.mint(stack.operator_address, &[]).await?;
    out.ok(&format!(
        "token {token} minted to {} (first, so nobody can mint it over the data)",
        stack.operator_address
    ));
    let description = "breast-mass measurements (sealed)";
    let put = crate::publish::attach_sealed(
        chain,
        stack.operator_address,
        &stack.kms,
        &stack.store,
        token,
        records.as_bytes(),
        description,
    )
    .await?;
    out.ok(&format!(
        "sealed to token {token}'s key {} (bound to this chain and contract; only an attested worker can be given it)",
        short(&put.token_key.to_string())
    ));
    out.ok(&format!("stored: root {}", put.root));
    out.ok(&format!("token {token} now names that root"));

    out.step(4, "The owner authorizes a researcher's wallet on chain");
    let user = PrivateKeySigner::random();
    let stranger = PrivateKeySigner::random();
    chain.authorize(token, user.address()).await?;
    let (yes, block) = chain.is_authorized(token, user.address()).await?;
    if !yes {
        return Err(StackError::Demo("the authorization did not land".into()));
    }
    out.ok(&format!("isAuthorized(token {token}, {}) = true at block {block}", user.address()));

    out.step(5, "The researcher asks for predictions on three patients (an EIP-712 signed request)");
    let gw = GatewayClient::new(&stack.gateway);
    let ids = ["P0001", "P0002", "P0003"];
    let body = gw.sign(&user, token, "breast-cancer-logreg", json!({ "ids": ids }), 120, clock()).await?;
    let answer = gw.infer(&body).await?;
    let predictions = answer.output.predictions().map(|o| o.predictions.as_slice()).unwrap_or_default();
    for p in predictions {
        let id = p.id.as_deref().unwrap_or_default();
        let label = &p.label;
        let prob = p.probabilities.get(p.class).copied().unwrap_or_default();
        let actual = truth.iter().find(|(i, _)| i == id).map(|(_, t)| *t).unwrap_or("?");
        out.ok(&format!("{id}: {label} (p = {prob:.3}); recorded diagnosis: {actual}"));
    }
    out.ok("only predictions crossed the gateway; the records were opened inside the worker only");
    let receipt_path = work.join("receipt.json");
    veil_fs::write_atomic(&receipt_path, answer.receipt.to_json_pretty().as_bytes())?;
    out.ok(&format!("receipt {} → receipt.json", short(&answer.receipt.id)));

    out.step(6, "Anyone verifies the receipt offline: signature, attestation binding the key, event chain");
    let trust = crate::trust::of_stack(&stack.dev_root, &stack.measurement)?;
    let report = veil_verify::verify(&std::fs::read(&receipt_path)?, &trust)?;
    out.ok(&report.summary());
    let kinds: Vec<&str> = report.verified.receipt.events.iter().map(|e| e.kind.as_str()).collect();
    out.ok(&format!("events: {}", kinds.join(" → ")));
    let inclusion = gw.inclusion(&answer.receipt.id).await?;
    let log = crate::tlog::verifier(&stack.log_key)?;
    let cp = crate::tlog::check_receipt(&std::fs::read(&receipt_path)?, &inclusion, &log)?;
    out.ok(&format!(
        "in the transparency log before it was answered: entry {} of {}, checkpoint signed by {} (anchored on chain every minute)",
        inclusion.index, cp.size, cp.origin
    ));

    out.step(7, "What is refused");
    let expect_refusal = |out: &mut dyn Narrator,
                          r: Result<veil_protocol::JobResponse, ClientError>,
                          what: &str|
     -> Result<()> {
        match r {
            Ok(_) => Err(StackError::Demo(format!("{what} was answered"))),
            Err(ClientError::Refused(p)) => {
                out.refused(what, p.code.as_str(), &p.detail);
                Ok(())
            }
            Err(e) => Err(StackError::Gateway(e)),
        }
    };
    // One row, signed by `who`.
    let one_row = |who: PrivateKeySigner| {
        let gw = gw.clone();
        async move {
            gw.sign(&who, token, "breast-cancer-logreg", json!({ "ids": ["P0001"] }), 120, clock()).await
        }
    };
    let body_s = one_row(stranger.clone()).await?;
    expect_refusal(out, gw.infer(&body_s).await, "a wallet the owner never authorized")?;
    let audit = std::fs::read_to_string(&stack.audit_log)?;
    let last: Value = serde_json::from_str(audit.lines().last().unwrap_or("{}"))?;
    out.ok(&format!(
        "the key broker's audit log records it: {} {} for {}",
        last["event"]["decision"].as_str().unwrap_or("?"),
        last["event"]["code"].as_str().unwrap_or("?"),
        last["event"]["user"].as_str().unwrap_or("?"),
    ));
    expect_refusal(out, gw.infer(&body).await, "the researcher's request sent a second time")?;

    let Store::Local(local) = &stack.store else {
        return Err(StackError::Demo("the demo uses the local store".into()));
    };
    let blob = local.blob_path(&put.root);
    let mut bytes = std::fs::read(&blob)?;
    bytes[1000] ^= 0x01;
    std::fs::write(&blob, &bytes).map_err(StackError::io("flipping a byte in the stored blob"))?;
    let again = one_row(user.clone()).await?;
    expect_refusal(out, gw.infer(&again).await, "one flipped bit in the stored sealed blob")?;

    let mut doc: Value = serde_json::from_slice(&std::fs::read(&receipt_path)?)?;
    let before = doc["receipt"]["subject"].clone();
    doc["receipt"]["subject"] = json!(stranger.address().to_string());
    if doc["receipt"]["subject"] == before {
        return Err(StackError::Demo("the edit did not change the receipt".into()));
    }
    match veil_verify::verify(&serde_json::to_vec(&doc)?, &trust) {
        Ok(_) => return Err(StackError::Demo("an edited receipt verified".into())),
        Err(e) => {
            out.refused("the receipt with its subject changed to another wallet", e.code(), &e.to_string())
        }
    }
    Ok(())
}

/// The documents of the chat story: a small team's private notes, as an owner would
/// publish them (Markdown and JSON lines).
const NOTES: [(&str, &str); 3] = [
    (
        "office.md",
        "# Lisbon office\n\nThe door code of the Lisbon office is 4817. The office opens at 8:30 and the \
         last one out sets the alarm.\n",
    ),
    (
        "kestrel-tea.md",
        "# Kestrel Valley tea\n\nSteep the Kestrel Valley green tea at 80 degrees for exactly 150 seconds. \
         Longer steeping makes it bitter.\n",
    ),
    (
        "quotes.jsonl",
        "{\"author\":\"Seneca\",\"quote\":\"Luck is what happens when preparation meets opportunity.\"}\n",
    ),
];

/// The chat story, after [`story`], on a stack that serves `model` (a GGUF language
/// model): an owner's documents sealed to a new token, an authorized user's API key
/// (an access grant) and a streamed question answered from the documents inside the
/// worker, with a receipt that binds the text; then a stranger refused, and the user
/// refused on the next request once the owner revokes them on chain.
pub async fn chat_story(
    stack: &Stack,
    model: &str,
    first_step: u32,
    clock: fn() -> u64,
    out: &mut dyn Narrator,
) -> Result<()> {
    out.step(first_step, "A second owner mints a token for their private notes and publishes them to it");
    let chain = &stack.operator;
    let token = chain.mint(stack.operator_address, &[]).await?;
    let set = veil_retrieve::DocumentSet::new(NOTES.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())))
        .map_err(|e| StackError::Demo(e.to_string()))?;
    let put = crate::publish::attach_sealed(
        chain,
        stack.operator_address,
        &stack.kms,
        &stack.store,
        token,
        &set.encode(),
        "documents (veil.docs/1)",
    )
    .await?;
    out.ok(&format!(
        "token {token}: {} documents sealed to its key, stored as {}",
        NOTES.len(),
        short(&put.root.to_string())
    ));

    out.step(
        first_step + 1,
        "The owner authorizes a user, who signs one access grant: the API key for OpenAI and Ollama clients",
    );
    let user = PrivateKeySigner::random();
    chain.authorize(token, user.address()).await?;
    let gw = GatewayClient::new(&stack.gateway);
    let token_id = veil_protocol::TokenId::from(token);
    let (grant, _) = gw.grant(&user, token_id, Some(model), 64, 600, clock()).await?;
    let key = grant.to_api_key();
    out.ok(&format!(
        "API key {}… ({} characters; token {token}, model {model}, 64 tokens per answer, 10 minutes)",
        &key[..24],
        key.len()
    ));

    out.step(
        first_step + 2,
        "The user asks a question; the worker retrieves passages and answers inside the enclave",
    );
    let question = "What is the door code of the Lisbon office?";
    let input = veil_protocol::ChatInput::question(question, Some(48));
    let mut pieces = 0usize;
    let (text, receipt_id) = gw.chat_stream(&key, model, &input, |_| pieces += 1).await?;
    out.ok(&format!("Q: {question}"));
    out.ok(&format!("A: {}", text.trim()));
    out.ok(&format!("streamed in {pieces} pieces (POST /v1/chat/completions, as OpenAI clients send it)"));
    let receipt = gw.receipt(&receipt_id).await?;
    let trust = crate::trust::of_stack(&stack.dev_root, &stack.measurement)?;
    let report = veil_verify::verify(receipt.to_json_pretty().as_bytes(), &trust)?;
    out.ok(&report.summary());
    let bound = report.verified.receipt.events.iter().find_map(|e| {
        e.payload::<veil_receipt::events::LlmCompleted>().and_then(|p| p.ok()).and_then(|p| p.completion_hash)
    });
    let received = veil_content::root_of(text.as_bytes()).map_err(|e| StackError::Demo(e.to_string()))?;
    if bound != Some(received) {
        return Err(StackError::Demo("the receipt does not bind the text received".into()));
    }
    out.ok(&format!(
        "the receipt's completion_hash is the root of the text received ({})",
        short(&received.to_string())
    ));

    out.step(first_step + 3, "What is refused");
    let refused =
        |r: std::result::Result<(String, String), ClientError>, what: &str, out: &mut dyn Narrator| match r {
            Ok(_) => Err(StackError::Demo(format!("{what} was answered"))),
            Err(ClientError::Refused(p)) => {
                out.refused(what, p.code.as_str(), &p.detail);
                Ok(())
            }
            Err(e) => Err(StackError::Gateway(e)),
        };
    let stranger = PrivateKeySigner::random();
    let (their, _) = gw.grant(&stranger, token_id, Some(model), 64, 600, clock()).await?;
    refused(
        gw.chat_stream(&their.to_api_key(), model, &input, |_| ()).await,
        "a stranger's own API key",
        out,
    )?;
    chain.revoke(token, user.address()).await?;
    out.ok(&format!("the owner revokes {} on chain", short(&user.address().to_string())));
    refused(
        gw.chat_stream(&key, model, &input, |_| ()).await,
        "the revoked user's next question, same API key",
        out,
    )?;
    Ok(())
}

/// The FHE part of the story: a client's rows encrypted under its own key, evaluated
/// by an attested worker on ciphertexts only, the receipt checked against the exact
/// query and answer before decrypting; then a query under other parameters refused
/// at the gateway's door.
pub async fn fhe_story(stack: &Stack, work: &Path, first_step: u32, out: &mut dyn Narrator) -> Result<()> {
    use crate::fhe::{FheInferOptions, RowSource};
    out.step(
        first_step,
        "A client encrypts 143 patients' measurements under its own FHE key; an attested worker evaluates the model on ciphertexts only",
    );
    let set = veil_fhe::ParamSet::standard()?;
    let keys = work.join("fhe-keys");
    if !keys.join(crate::fhe::SECRET_KEY_FILE).exists() {
        crate::fhe::keygen(&keys, &set)?;
    }
    let rows = RowSource { model: "breast-cancer-logreg".into(), csv: None, test_split: true };
    let opts = FheInferOptions {
        gateway: stack.gateway.clone(),
        key: keys.join(crate::fhe::SECRET_KEY_FILE),
        rows: rows.clone(),
        privacy: veil_protocol::Privacy::Hybrid,
        receipt: Some(work.join("fhe-receipt.json")),
        timeout: 120,
        trust: crate::trust::TrustFiles {
            dev_roots: vec![stack.dev_root.clone()],
            measurements: vec![stack.measurement.clone()],
            ..Default::default()
        },
    };
    let report = crate::fhe::infer(&opts).await?;
    let (model, plain) = rows.load(&set)?;
    let mut agree = 0;
    let mut correct = 0;
    for ((d, x), (_, label)) in report.rows.iter().zip(&plain).zip(&model.data.test) {
        agree += usize::from(model.net.classify(x)? == d.class);
        correct += usize::from(d.class == *label);
    }
    let (q, a) = report.sizes;
    out.ok(&format!(
        "{} rows: query {q} bytes, answer {a} bytes; the host saw ciphertexts only (BFV, {})",
        report.rows.len(),
        set.name()
    ));
    out.ok(&format!(
        "decrypted by the client alone: the int8 model's exact result on {agree}/{} rows, {correct} correct",
        report.rows.len()
    ));
    out.ok(&format!("receipt checked before decrypting: {}", report.summary));
    out.ok("its input_hash and fhe.evaluated event are the roots of the very query sent and answer received");

    out.step(first_step + 1, "What is refused");
    let key = crate::fhe::read_client_key(&opts.key, &set)?;
    let mut query = key.encrypt_rows(&model.quantize(&plain[..1])?, &mut rand_09::rng())?.to_bytes();
    query[20] ^= 1;
    use base64::Engine as _;
    let body = veil_protocol::MlInferenceRequest {
        privacy: veil_protocol::Privacy::Fhe,
        rows: None,
        query: Some(base64::engine::general_purpose::STANDARD.encode(&query)),
    };
    match GatewayClient::new(stack.gateway.clone()).ml_inference("breast-cancer-logreg-int8", &body).await {
        Err(ClientError::Refused(p)) => {
            out.refused("a query under other FHE parameters", p.code.as_str(), &p.detail)
        }
        other => {
            return Err(StackError::Demo(format!(
                "a query under other parameters was not refused: {other:?}"
            )));
        }
    }
    Ok(())
}
