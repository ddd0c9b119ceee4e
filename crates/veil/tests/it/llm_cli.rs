//! A chat over a token's private documents, end to end through real processes:
//! `veil up --llm` with the bundled SmolLM2 (scripts/models.sh puts it in
//! ~/.cache/veil/models), the owner's `veil nft publish --docs`, an authorized
//! user's signed chat, and a receipt that binds the answer.

use std::path::{Path, PathBuf};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use veil_gateway::{ClientError, GatewayClient};

use crate::common::{fails, ok, on_chain, up, up_json, veil};

const MODEL: &str = "SmolLM2-135M-Instruct.Q8_0";

fn model_file() -> PathBuf {
    let dir = match std::env::var_os("VEIL_MODELS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/veil/models"),
    };
    let file = dir.join(format!("{MODEL}.gguf"));
    assert!(file.exists(), "{} is missing: run scripts/models.sh", file.display());
    file
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

fn chat(question: &str) -> Value {
    json!({ "messages": [{ "role": "user", "content": question }], "max_tokens": 24 })
}

#[test]
fn an_authorized_user_chats_with_a_tokens_documents_and_the_receipt_binds_the_answer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |x: &Path| x.to_str().expect("utf-8").to_owned();
    let dir = tmp.path().join("stack");
    let model = model_file();
    let (_up, gateway) = up(&dir, &["--llm", &p(&model)]);
    let kms = up_json(&dir)["kms"].as_str().expect("kms").to_owned();

    let docs = tmp.path().join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    let secret = "Steep the Kestrel Valley green tea at 80 degrees for exactly 150 seconds.";
    std::fs::write(docs.join("tea.md"), format!("# Kestrel Valley tea\n\n{secret}\n")).expect("write");
    std::fs::write(docs.join("quotes.jsonl"), "{\"author\":\"Seneca\",\"quote\":\"Luck is preparation.\"}\n")
        .expect("write");

    assert_eq!(ok(&on_chain(&dir, &["nft", "mint"])).trim(), "1");
    let store = p(&dir.join("store"));
    let published =
        ok(&on_chain(&dir, &["nft", "publish", "1", "--docs", &p(&docs), "--kms", &kms, "--store", &store]));
    assert!(published.starts_with("token 1: 2 documents sealed to "), "{published}");
    // Somebody else's token (here: minted to another wallet first) is refused before
    // anything is sealed to its key.
    let squatter = PrivateKeySigner::random().address().to_string();
    assert_eq!(ok(&on_chain(&dir, &["nft", "mint", "--to", &squatter])).trim(), "2");
    let err = fails(&on_chain(
        &dir,
        &["nft", "publish", "2", "--docs", &p(&docs), "--kms", &kms, "--store", &store],
    ));
    assert!(err.contains("does not own token 2") && err.contains(&squatter), "{err}");

    let user = PrivateKeySigner::random();
    ok(&on_chain(&dir, &["nft", "authorize", "1", &user.address().to_string()]));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let gw = GatewayClient::new(&gateway);
    let ask = |who: &PrivateKeySigner, input: Value| {
        rt.block_on(async {
            let body = gw.sign(who, U256::from(1), MODEL, input, 60, now()).await.expect("sign");
            gw.infer(&body).await
        })
    };

    let question = "How long should the Kestrel Valley green tea steep?";
    let answer = ask(&user, chat(question)).expect("an answer");
    let out = answer.output.chat().expect("a chat answer").clone();
    assert!(!out.content.trim().is_empty());
    assert!(out.usage.completion_tokens <= 24 && out.usage.prompt_tokens > 40, "{:?}", out.usage);
    assert_eq!(out.model, MODEL);
    // The passages stay in the enclave: their source markers never cross the gateway.
    let wire = serde_json::to_string(&answer).expect("json");
    assert!(!wire.contains("[tea.md#1]") && !wire.contains("Seneca"), "{wire}");

    // The receipt verifies, and binds the text received.
    let receipt_path = tmp.path().join("receipt.json");
    std::fs::write(&receipt_path, answer.receipt.to_json_pretty()).expect("write");
    let measurement = up_json(&dir)["measurement"].as_str().expect("measurement").to_owned();
    let dev_root = p(&dir.join("pki/dev-root.pem"));
    ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &p(&receipt_path)]));
    let doc: Value = serde_json::from_str(&answer.receipt.to_json_pretty()).expect("json");
    let body = &doc["receipt"];
    let weights = veil_content::root_of(&std::fs::read(&model).expect("model")).expect("root");
    assert_eq!(body["model_hash"], weights.to_string());
    let events = body["events"].as_array().expect("events");
    let llm = events.iter().find(|e| e["type"] == "llm.completed").expect("an llm.completed event");
    let content_root = veil_content::root_of(out.content.as_bytes()).expect("root");
    assert_eq!(llm["data"]["completion_hash"], content_root.to_string());
    assert_eq!(llm["data"]["decoding"], "greedy");
    assert_eq!(llm["data"]["context_passages"].as_u64().map(|n| n >= 1), Some(true), "{llm}");
    let data_root =
        events.iter().find(|e| e["type"] == "data.loaded").expect("data.loaded")["data"]["root"].clone();
    assert_ne!(body["context_hash"], data_root, "the context hash names the passages, not the blob");

    // Greedy decoding is reproducible: the same question, a new request, the same text.
    let again = ask(&user, chat(question)).expect("an answer");
    assert_eq!(again.output.chat().expect("chat").content, out.content);

    // A stranger is refused by the ledger; rows sent to a language model are bad input.
    let stranger = PrivateKeySigner::random();
    match ask(&stranger, chat(question)) {
        Err(ClientError::Refused(p)) => assert_eq!(p.status, 403, "{p:?}"),
        other => panic!("a stranger was not refused: {other:?}"),
    }
    match ask(&user, json!({ "ids": ["P0001"] })) {
        Err(ClientError::Refused(p)) => assert_eq!(p.status, 422, "{p:?}"),
        other => panic!("rows were not refused: {other:?}"),
    }
}
