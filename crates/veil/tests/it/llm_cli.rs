//! A chat over a token's private documents, end to end through real processes:
//! `veil up --llm` with the bundled SmolLM2 (scripts/models.sh puts it in
//! ~/.cache/veil/models), the owner's `veil nft publish --docs`, an authorized
//! user's signed chat, and a receipt that binds the answer.

use std::path::Path;

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use veil_gateway::{ClientError, GatewayClient};

use crate::common::{
    LLM as MODEL, fails, llm_file as model_file, ok, on_chain, python_client, up, up_json, veil,
};

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

    let user_key = tmp.path().join("user.key");
    let user_address = ok(&veil(&["chain", "keygen", "--out", &p(&user_key)])).trim().to_owned();
    let user = veil_stack::keys::read_wallet_key(&user_key).expect("wallet key");
    ok(&on_chain(&dir, &["nft", "authorize", "1", &user_address]));
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

    // Stock clients: the user signs one grant, and its API key is all an OpenAI or
    // Ollama client needs. Every API gives the same greedy answer, each with a
    // receipt that verifies and binds the text the client received.
    let api_key = ok(&veil(&[
        "grant",
        "--gateway",
        &gateway,
        "--key",
        &p(&user_key),
        "--token",
        "1",
        "--max-tokens",
        "64",
        "--ttl",
        "600",
    ]))
    .trim()
    .to_owned();
    assert!(api_key.starts_with("veil-grant-v1."), "{api_key}");
    let got = stock_clients(&gateway, &api_key, question, "answers");
    let case =
        |name: &str| got.iter().find(|v| v["case"] == name).unwrap_or_else(|| panic!("{name}: {got:?}"));
    assert!(case("models")["ids"].as_array().expect("ids").contains(&json!(MODEL)), "{got:?}");
    assert_eq!(case("ollama_tags")["names"], json!([MODEL]));
    let verify = |id: &str, text: &str| {
        let receipt = rt.block_on(gw.receipt(id)).expect("the receipt is kept");
        let path = tmp.path().join(format!("{}.json", &id[7..19]));
        std::fs::write(&path, receipt.to_json_pretty()).expect("write");
        ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &p(&path)]));
        let doc: Value = serde_json::from_str(&receipt.to_json_pretty()).expect("json");
        let events = doc["receipt"]["events"].as_array().expect("events").clone();
        let llm = events.iter().find(|e| e["type"] == "llm.completed").expect("llm.completed");
        let root = veil_content::root_of(text.as_bytes()).expect("root");
        assert_eq!(llm["data"]["completion_hash"], root.to_string(), "the receipt binds the text received");
        let received = events.iter().find(|e| e["type"] == "request.received").expect("request.received");
        assert_eq!(
            received["data"]["signer"].as_str().map(str::to_lowercase),
            Some(user_address.to_lowercase())
        );
        assert!(received["data"]["grant"].as_str().is_some_and(|g| g.len() == 66), "{received}");
    };
    for name in ["openai", "openai_stream", "ollama", "ollama_stream", "ollama_generate"] {
        let c = case(name);
        assert_eq!(c["text"], json!(out.content), "{name}: {c}");
        // Ollama's client drops fields it does not know, so only OpenAI's shows the
        // receipt's id; Ollama's last line carries it too (checked below).
        if name.starts_with("openai") {
            verify(
                c["receipt"].as_str().unwrap_or_else(|| panic!("{name} names no receipt: {c}")),
                &out.content,
            );
        }
    }
    let last_line: Value = rt.block_on(async {
        let body = json!({
            "model": MODEL, "messages": [{"role": "user", "content": question}],
            "stream": true, "options": {"num_predict": 24},
        });
        let text = reqwest::Client::new()
            .post(format!("{gateway}/api/chat"))
            .bearer_auth(&api_key)
            .json(&body)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        serde_json::from_str(text.lines().last().expect("lines")).expect("json")
    });
    assert_eq!(last_line["done"], true, "{last_line}");
    verify(last_line["veil_receipt"].as_str().expect("the last line names the receipt"), &out.content);
    assert!(case("openai_stream")["chunks"].as_u64().is_some_and(|n| n >= 2), "it streamed: {got:?}");
    assert_eq!(case("openai_stream")["completion_tokens"], case("openai")["completion_tokens"]);
    for (name, error, status, code) in [
        ("bad_key", "AuthenticationError", 401, Some("request.unauthenticated")),
        ("over_grant", "PermissionDeniedError", 403, Some("request.grant_limit")),
        ("unknown_model", "NotFoundError", 404, Some("inference.model_unknown")),
        ("two_choices", "BadRequestError", 400, Some("request.malformed")),
        ("over_window", "BadRequestError", 400, Some("inference.bad_input")),
        ("ollama_bad_key", "ResponseError", 401, None),
    ] {
        let c = case(name);
        assert_eq!((c["error"].as_str(), c["status"].as_u64()), (Some(error), Some(status)), "{name}: {c}");
        if let Some(code) = code {
            assert_eq!(c["code"], code, "{name}: {c}");
        }
    }

    // The seed's plain form: `POST /infer {tokenId, input}` under the same key.
    let plain = |body: Value, key: Option<&str>| {
        rt.block_on(async {
            let mut req = reqwest::Client::new().post(format!("{gateway}/infer")).json(&body);
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            let resp = req.send().await.expect("send");
            (resp.status().as_u16(), resp.json::<Value>().await.expect("json"))
        })
    };
    let (status, answered) = plain(json!({"tokenId": 1, "input": question, "maxTokens": 24}), Some(&api_key));
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["completion"], json!(out.content));
    let receipt = answered["receipt"]["id"].as_str().expect("the receipt comes whole").to_owned();
    verify(&receipt, &out.content);
    let (status, refused) = plain(json!({"tokenId": "2", "input": question}), Some(&api_key));
    assert_eq!((status, refused["code"].as_str()), (403, Some("request.grant_limit")), "{refused}");
    let (status, refused) = plain(json!({"tokenId": 1, "input": question}), None);
    assert_eq!((status, refused["code"].as_str()), (401, Some("request.unauthenticated")), "{refused}");

    let window = case("over_window")["message"].as_str().unwrap_or_default().to_owned();
    assert!(window.contains("window"), "the refusal names the limit: {window}");

    // `veil chat` streams the same answer and saves a receipt that verifies.
    let saved = tmp.path().join("chat-receipt.json");
    let said = ok(&veil(&[
        "chat",
        "--gateway",
        &gateway,
        "--api-key",
        &api_key,
        "--max-tokens",
        "24",
        "--receipt",
        &p(&saved),
        question,
    ]));
    assert_eq!(said.strip_suffix('\n'), Some(out.content.as_str()));
    ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &p(&saved)]));

    // The owner revokes the user on chain: the same API key is refused on the next
    // request, by every client, streamed or not.
    ok(&on_chain(&dir, &["nft", "revoke", "1", &user_address]));
    for c in stock_clients(&gateway, &api_key, question, "refused") {
        let expected = if c["case"] == "ollama" { "ResponseError" } else { "PermissionDeniedError" };
        assert_eq!((c["error"].as_str(), c["status"].as_u64()), (Some(expected), Some(403)), "{c}");
    }
}

/// Run the stock OpenAI and Ollama Python clients against `gateway`; one JSON
/// object per case.
fn stock_clients(gateway: &str, api_key: &str, question: &str, scenario: &str) -> Vec<Value> {
    python_client("chat_clients.py", &[gateway, api_key, MODEL, question, "24", scenario])
}
