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

/// A `veil up --llm --market` stack and a funded user, for `veil market` commands.
struct Stack {
    tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    user_key: std::path::PathBuf,
    provider: String,
    up: Option<crate::common::Server>,
    gateway: String,
}

fn path(x: &Path) -> String {
    x.to_str().expect("utf-8").to_owned()
}

impl Stack {
    fn up() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("stack");
        let (up, gateway) = up(&dir, &["--llm", &path(&model_file()), "--market"]);
        let provider = up_json(&dir)["market"]["provider"].as_str().expect("provider").to_owned();
        let user_key = tmp.path().join("user.key");
        let user = ok(&veil(&["chain", "keygen", "--out", &path(&user_key)])).trim().to_owned();
        ok(&on_chain(&dir, &["chain", "fund", "--to", &user, "--eth", "20"]));
        Self { tmp, dir, user_key, provider, up: Some(up), gateway }
    }

    /// Stop the stack and start it again in the same directory.
    fn restart(&mut self) {
        self.up = None;
        let (server, gateway) = up(&self.dir, &["--llm", &path(&model_file()), "--market"]);
        self.up = Some(server);
        self.gateway = gateway;
    }

    /// `veil market ARGS` on this stack's chain, signing with `key`.
    fn market(&self, key: &Path, args: &[&str]) -> std::process::Output {
        let info = up_json(&self.dir);
        let s = |v: &Value| v.as_str().expect("string").to_owned();
        let (rpc, deployment, key) = (s(&info["rpc"]), s(&info["deployment"]), path(key));
        let mut all = vec!["market", "--rpc", &rpc, "--deployment", &deployment, "--key", &key];
        all.extend_from_slice(args);
        veil(&all)
    }

    fn user(&self, args: &[&str]) -> std::process::Output {
        self.market(&self.user_key, args)
    }

    /// The flags that make the user trust this stack's enclaves.
    fn trust(&self) -> [String; 4] {
        let measurement = up_json(&self.dir)["measurement"].as_str().expect("measurement").to_owned();
        ["--dev-root".into(), path(&self.dir.join("pki/dev-root.pem")), "--measurement".into(), measurement]
    }

    /// Ack with this stack's trust, depositing `deposit` 0G.
    fn ack(&self, deposit: &str) -> Value {
        let t = self.trust();
        let mut args = vec!["ack", "--provider", &self.provider, "--deposit", deposit];
        args.extend(t.iter().map(String::as_str));
        json(&self.user(&args))
    }

    /// One paid chat; its answer (fee_wei, receipt_file, …).
    fn chat(&self, receipts: &Path, q: &str) -> Value {
        json(&self.user(&[
            "chat",
            "--provider",
            &self.provider,
            "--receipts",
            &path(receipts),
            "--max-tokens",
            "8",
            q,
        ]))
    }
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).expect("json")
}

fn refused(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a refusal: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fee_of(chat: &Value) -> u128 {
    chat["fee_wei"].as_str().expect("fee").parse().expect("wei")
}

/// `veil market …` as a user and a provider: the signer is acknowledged only after its
/// evidence verifies under the user's trust, answers are accepted only with a receipt
/// from that signer, and an audit supports each settlement on chain with receipts the
/// user holds, or disputes it.
#[test]
fn veil_market_buys_chats_settles_and_audits_them_against_the_chain() {
    let st = Stack::up();
    let (provider, gateway) = (st.provider.as_str(), st.gateway.as_str());

    let listed = json(&st.user(&["list"]));
    let service = &listed["services"][0];
    assert_eq!(service["provider"].as_str().map(str::to_lowercase), Some(provider.to_lowercase()));
    assert_eq!(service["url"], gateway);
    assert_eq!(service["acknowledged_by_owner"], true);
    assert_eq!(service["proofs"]["verified"], "0");
    let tee_input = service["levels"]["tee"]["input"].as_str().and_then(|w| w.parse::<u128>().ok());
    assert_eq!(tee_input, Some(wei_of(service["input_price"].as_str().expect("price"))), "{service}");
    let funded = json(&st.user(&["fund", "--amount", "5"]));
    assert_eq!(funded["available"], "5.000000000000000000");

    // Acknowledging takes evidence the user trusts: not the stack's dev root by
    // default, and not another measurement. Nothing is sent when it does not verify.
    let untrusted = refused(&st.user(&["ack", "--provider", provider, "--deposit", "2"]));
    assert!(untrusted.contains("evidence"), "{untrusted}");
    let [dev, dev_root, _, measurement] = st.trust();
    let other = "ab".repeat(48);
    let wrong = refused(&st.user(&["ack", "--provider", provider, &dev, &dev_root, "--measurement", &other]));
    assert!(wrong.contains("measurement"), "{wrong}");
    let before = json(&st.user(&["balance"]));
    assert_eq!(before["accounts"], Value::Array(vec![]), "no account opened by a refused ack: {before}");
    let acked = st.ack("2");
    assert_eq!(acked["acknowledged"], true);
    assert_eq!(acked["signer"], service["tee_signer"]);

    // Two paid chats; each answer comes with a receipt kept for `veil verify`.
    let receipts = st.tmp.path().join("receipts");
    let mut fees = 0u128;
    for q in ["What is 2+2?", "Name a colour."] {
        let chat = st.chat(&receipts, q);
        fees += fee_of(&chat);
        let file = chat["receipt_file"].as_str().expect("file");
        let verified = ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &measurement, file]));
        assert!(verified.contains("valid receipt"), "{verified}");
    }
    assert!(fees > 0);

    // Only the provider's own wallet makes its gateway settle now.
    let no = refused(&st.user(&["settle", "--gateway", gateway]));
    assert!(no.contains("401") && no.contains("market.unauthorized"), "{no}");
    let settled = json(&st.market(&st.dir.join("market/provider.key"), &["settle"]));
    assert_eq!(settled["waiting"], 0, "{settled}");
    let balance = json(&st.user(&["balance", "--provider", provider]));
    let account = &balance["accounts"][0];
    assert_eq!(account["unsettled"], "0.000000000000000000", "{balance}");
    let left = wei_of(account["balance"].as_str().expect("balance"));
    assert_eq!(2_000_000_000_000_000_000 - left, fees, "the account fell by exactly the fees: {balance}");
    let listed = json(&st.user(&["list"]));
    assert_ne!(listed["services"][0]["proofs"]["verified"], "0", "{listed}");

    // The audit supports every settlement with the receipts held...
    let audit_args = ["audit", "--provider", provider, "--receipts", &path(&receipts)];
    let audit = json(&st.user(&audit_args));
    assert_eq!(audit["disputed"], 0, "{audit}");
    let settlements = audit["settlements"].as_array().expect("settlements");
    assert!(!settlements.is_empty() && settlements.iter().all(|s| s["verdict"] == "supported"), "{audit}");
    // ...and disputes a charge for a receipt the user does not hold.
    let held: Vec<_> =
        std::fs::read_dir(&receipts).expect("receipts").map(|e| e.expect("entry").path()).collect();
    assert_eq!(held.len(), 2);
    let gone = held[0].clone();
    std::fs::rename(&gone, st.tmp.path().join("moved.json")).expect("move");
    assert!(!gone.exists());
    let disputed = st.user(&audit_args);
    assert_eq!(disputed.status.code(), Some(1), "a dispute exits 1");
    let report: Value = serde_json::from_slice(&disputed.stdout).expect("json");
    let id = gone.file_stem().and_then(|s| s.to_str()).expect("id");
    assert!(report["disputed"].as_u64() > Some(0), "{report}");
    assert!(report.to_string().contains(&format!("receipt sha256:{id} is not one you hold")), "{report}");

    // A provider's stack sells chats: without a model it is refused before anything is made.
    let nothing = st.tmp.path().join("no-model");
    let no_llm = refused(&veil(&["market", "serve", "--dir", &path(&nothing), "--listen", "127.0.0.1:0"]));
    assert!(no_llm.contains("needs --llm"), "{no_llm}");
    assert!(!nothing.exists(), "nothing made for a refused stack");

    // Refund: the account is requested back (time-locked), the ledger's free balance paid out.
    let refund = json(&st.user(&["refund", "--provider", provider]));
    assert_eq!(refund["refunded"], "3.000000000000000000", "{refund}");
    let after = json(&st.user(&["balance", "--provider", provider]));
    assert_eq!(after["accounts"][0]["pending_refund"], after["accounts"][0]["balance"], "{after}");
}

/// A provider that restarts comes back with a new enclave key: the user's
/// acknowledgement of the old one no longer counts, and nothing is charged twice —
/// what was settled stays settled, what the old enclave signed and was not settled is
/// written off.
#[test]
fn a_provider_restart_charges_nothing_twice_and_needs_the_new_signer_acknowledged() {
    let mut st = Stack::up();
    let provider = st.provider.clone();
    json(&st.user(&["fund", "--amount", "5"]));
    st.ack("2");
    let receipts = st.tmp.path().join("receipts");
    let first = fee_of(&st.chat(&receipts, "Say hi."));
    let old_signer = json(&st.user(&["list"]))["services"][0]["tee_signer"].clone();
    st.restart();

    let listed = json(&st.user(&["list"]));
    assert_ne!(listed["services"][0]["tee_signer"], old_signer, "a new enclave key is listed");
    let no = refused(&st.user(&["chat", "--provider", &provider, "--receipts", &path(&receipts), "Hello?"]));
    assert!(no.contains("401") && no.contains("acknowledged"), "{no}");
    assert_eq!(st.ack("0")["acknowledged"], true);
    let second = fee_of(&st.chat(&receipts, "Say bye."));
    json(&st.market(&st.dir.join("market/provider.key"), &["settle"]));

    let balance = json(&st.user(&["balance", "--provider", &provider]));
    let spent =
        2_000_000_000_000_000_000 - wei_of(balance["accounts"][0]["balance"].as_str().expect("balance"));
    assert!(
        spent == second || spent == first + second,
        "charged {spent}: {first} + {second} at most once each"
    );
    let audit = json(&st.user(&["audit", "--provider", &provider, "--receipts", &path(&receipts)]));
    assert_eq!(audit["disputed"], 0, "{audit}");
    let charged: u128 = audit["settlements"]
        .as_array()
        .expect("settlements")
        .iter()
        .map(|s| wei_of(s["total_fee"].as_str().expect("fee")))
        .sum();
    assert_eq!(charged, spent, "every charge is a settlement the audit supports: {audit}");
}

/// "1.5" (0G) → wei.
fn wei_of(eth: &str) -> u128 {
    let (whole, frac) = eth.split_once('.').unwrap_or((eth, ""));
    let frac = format!("{frac:0<18}");
    whole.parse::<u128>().expect("whole") * 10u128.pow(18) + frac[..18].parse::<u128>().expect("fraction")
}
