//! The serving marketplace, driven by the 0G compute SDK and OpenAI's npm client
//! unchanged (tests/clients/market, pinned; scripts/clients.sh installs them): a
//! `veil up --llm --market` stack lists its gateway on the embedded chain with its
//! worker's attested key as the TEE signer, and a user's SDK runs its whole flow.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{LLM as MODEL, llm_file as model_file, ok, on_chain, up, up_json, veil};

/// Run the SDK flow; one JSON object per step.
fn sdk_flow(args: &[&str]) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/market");
    assert!(dir.join("node_modules").exists(), "run scripts/clients.sh (npm ci in {})", dir.display());
    let out =
        Command::new("node").current_dir(&dir).arg("sdk_flow.cjs").args(args).output().expect("run node");
    assert!(out.status.success(), "the SDK flow failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps.iter().find(|s| s["step"] == name).unwrap_or_else(|| panic!("no step {name}: {steps:?}"))
}

fn wei(v: &Value) -> u128 {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a decimal string")).parse().expect("wei")
}

#[test]
fn the_0g_compute_sdk_buys_a_chat_and_the_ledger_falls_by_exactly_the_billed_usage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = |x: &Path| x.to_str().expect("utf-8").to_owned();
    let dir = tmp.path().join("stack");
    let (_up, gateway) = up(&dir, &["--llm", &p(&model_file()), "--market"]);
    let info = up_json(&dir);
    let market = &info["market"];
    let s = |v: &Value| v.as_str().expect("string").to_owned();

    let user_key = tmp.path().join("user.key");
    let user = ok(&veil(&["chain", "keygen", "--out", &p(&user_key)])).trim().to_owned();
    ok(&on_chain(&dir, &["chain", "fund", "--to", &user, "--eth", "20"]));
    let stranger_key = tmp.path().join("stranger.key");
    ok(&veil(&["chain", "keygen", "--out", &p(&stranger_key)]));
    let hex_key = |f: &Path| std::fs::read_to_string(f).expect("key").trim().to_owned();

    let steps = sdk_flow(&[
        &s(&info["rpc"]),
        &s(&market["ledger"]),
        &s(&market["serving"]),
        &s(&market["provider"]),
        &hex_key(&user_key),
        &hex_key(&stranger_key),
    ]);

    // Listed, with the worker's attested key acknowledged by the owner.
    let list = step(&steps, "list");
    assert_eq!(list["url"], Value::from(gateway.clone()));
    assert_eq!(list["model"], MODEL);
    assert_eq!(list["verifiability"], "TeeML");
    assert_eq!(list["acknowledged"], true);

    // The chat: processResponse accepts the enclave's signature, and the signed text
    // is the receipt, which verifies offline and names this completion and its fee.
    let chat = step(&steps, "chat");
    assert_eq!(chat["valid"], true, "{chat}");
    assert!(chat["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-")));
    let receipt_file = tmp.path().join("receipt.json");
    std::fs::write(&receipt_file, chat["text"].as_str().expect("text")).expect("write");
    let dev_root = p(&dir.join("pki/dev-root.pem"));
    let measurement = s(&info["measurement"]);
    let verified =
        ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, &p(&receipt_file)]));
    assert!(verified.contains("valid receipt"), "{verified}");
    let receipt: Value = serde_json::from_str(chat["text"].as_str().expect("text")).expect("json");
    let body = &receipt["receipt"];
    assert_eq!(body["subject"].as_str().map(str::to_lowercase), Some(user.to_lowercase()));
    let events = body["events"].as_array().expect("events");
    let charged = &events.iter().find(|e| e["type"] == "market.charged").expect("market.charged")["data"];
    assert_eq!(charged["chat_id"], chat["id"]);
    let usage = &chat["usage"];
    let (inp, outp) = (wei(&list["inputPrice"]), wei(&list["outputPrice"]));
    let fee = |u: &Value| {
        u["prompt_tokens"].as_u64().expect("prompt") as u128 * inp
            + u["completion_tokens"].as_u64().expect("completion") as u128 * outp
    };
    assert_eq!(wei(&charged["fee"]), fee(usage));
    let llm = &events.iter().find(|e| e["type"] == "llm.completed").expect("llm.completed")["data"];
    let content = chat["content"].as_str().expect("content");
    assert_eq!(llm["completion_hash"], veil_content::root_of(content.as_bytes()).expect("root").to_string());

    let stream = step(&steps, "stream");
    assert_eq!(stream["valid"], true, "{stream}");
    assert_ne!(stream["id"], chat["id"]);

    // Settled by the provider on its own: exactly the two chats' usage.
    let settled = step(&steps, "settled");
    let billed = fee(usage) + fee(&stream["usage"]);
    assert_eq!(wei(&settled["billed"]), billed);
    assert_eq!(wei(&settled["before"]) - wei(&settled["after"]), billed, "{settled}");
    assert_eq!(settled["unsettled"]["unsettledFee"], "0");

    // Every bad key is refused before any work, in OpenAI's error shape.
    let refusals = step(&steps, "refusals");
    for (case, status, code) in [
        ("expired", 401, "market.unauthorized"),
        ("foreign", 401, "market.unauthorized"),
        ("tampered", 401, "market.unauthorized"),
        ("malformed", 400, "market.bad_key"),
        ("unfunded", 402, "market.insufficient_balance"),
    ] {
        let r = &refusals[case];
        assert_eq!(
            (r["status"].as_u64(), r["error"]["code"].as_str()),
            (Some(status), Some(code)),
            "{case}: {r}"
        );
        assert!(r["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: {r}");
    }
    let revoked = &step(&steps, "revoked")["old"];
    assert_eq!(revoked["status"], 401, "{revoked}");

    // retrieveFund requests the account's balance back (time-locked); refund pays out
    // what the ledger holds free.
    let refund = step(&steps, "refund");
    assert_eq!(refund["pendingRefund"], refund["accountBalance"]);
    assert!(wei(&refund["pendingRefund"]) > 0);
    assert_eq!(wei(&refund["availableBefore"]) - wei(&refund["availableAfter"]), 1_000_000_000_000_000_000);
    let gain: i128 = refund["walletGain"].as_str().expect("gain").parse().expect("gain");
    assert!(gain > 999_000_000_000_000_000 && gain < 1_000_000_000_000_000_000, "{gain}");
}
