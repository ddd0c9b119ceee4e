//! `veil fl` end to end: an owner and five clients, each its own OS process, train a
//! logistic regression on the fixed non-IID split through a running stack, whose
//! attested worker aggregates every round by secure aggregation and signs an `fl`
//! receipt that `veil verify` checks under the stack's trust.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::common::{VEIL, fails, ok, up, up_json, veil};

fn lines(s: &str) -> Vec<Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// `veil ARGS` with owned arguments.
fn veil_owned(args: &[String]) -> Output {
    veil(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A federation named `name` meeting at the gateway `url`: its owner's and `n`
/// clients' key files in `dir` (`owner.key`, `c1.key`, …).
struct Federation {
    dir: PathBuf,
    url: String,
    name: &'static str,
    /// The owner's Ed25519 key (hex).
    owner: String,
    /// Each client's, client 1 first.
    keys: Vec<String>,
}

impl Federation {
    fn new(dir: &Path, url: &str, name: &'static str, n: usize) -> Self {
        let key =
            |f: &str| ok(&veil(&["fl", "key", "--out", dir.join(f).to_str().unwrap()])).trim().to_owned();
        let owner = key("owner.key");
        let keys = (1..=n).map(|i| key(&format!("c{i}.key"))).collect();
        ok(&veil(&["keygen", "--out", dir.join("model.identity").to_str().unwrap()]));
        Self { dir: dir.to_owned(), url: url.to_owned(), name, owner, keys }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }

    /// `veil fl COMMAND` as the owner, listing every client, then `extra`.
    fn owner_command(&self, command: &str, extra: &[&str]) -> Vec<String> {
        let owner_key = self.path("owner.key");
        let mut args: Vec<String> =
            ["fl", command, "--gateway", &self.url, "--name", self.name, "--owner-key", &owner_key]
                .map(str::to_owned)
                .to_vec();
        for k in &self.keys {
            args.extend(["--client".to_owned(), k.clone()]);
        }
        if command == "run" {
            args.extend(["--model-key".to_owned(), self.path("model.identity")]);
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    }

    /// Client `i` taking part in `rounds` rounds, its own process, with `extra` flags.
    fn join(&self, i: usize, rounds: &str, extra: &[&str]) -> Child {
        let (id, of, key) = (i.to_string(), self.keys.len().to_string(), self.path(&format!("c{i}.key")));
        Command::new(VEIL)
            .args([
                "fl",
                "join",
                "--gateway",
                &self.url,
                "--name",
                self.name,
                "--key",
                &key,
                "--owner",
                &self.owner,
                "--model-key",
                &self.path("model.identity"),
            ])
            .args(["--id", &id, "--of", &of, "--rounds", rounds])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn five_client_processes_train_through_the_attested_worker() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    let (_server, url) = up(&stack, &[]);
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let f = Federation::new(dir.path(), &url, "wdbc", 5);
    assert_eq!(f.owner.len(), 64);
    let rounds = "4";

    // The owner creates the federation on the stack's chain, naming the aggregator's
    // chain key after checking its evidence under the stack's trust.
    let info = up_json(&stack);
    let dev_root = stack.join("pki/dev-root.pem").to_str().unwrap().to_owned();
    let m = info["measurement"].as_str().unwrap().to_owned();
    let operator = stack.join("chain/operator.key").to_str().unwrap().to_owned();
    let ledger = [
        "--rpc",
        info["rpc"].as_str().unwrap(),
        "--deployment",
        info["deployment"].as_str().unwrap(),
        "--key",
        &operator,
    ];
    let create = f.owner_command("create", &ledger);
    // Evidence from an enclave whose measurement the owner did not pin: refused, and
    // nothing is created.
    let mut wrong = create.clone();
    wrong.extend(["--dev-root", &dev_root, "--measurement", "00"].map(str::to_owned));
    assert!(fails(&veil_owned(&wrong)).contains("measurement"));
    let mut create = create;
    create.extend(["--dev-root", &dev_root, "--measurement", &m].map(str::to_owned));
    let created: Value = serde_json::from_str(&ok(&veil_owned(&create))).unwrap();
    let fed = created["federation"].as_str().unwrap().to_owned();
    assert!(fed.starts_with("wdbc-"), "{created}");
    assert_eq!(created["measurement"], m.as_str());

    // Client 5 leaves round 2 after sharing its keys: the others recover its masks.
    let clients: Vec<_> =
        (1..=5).map(|i| f.join(i, rounds, if i == 5 { &["--drop-in-round", "2"] } else { &[] })).collect();

    let fl_out = p("fl");
    let log = info["log"].as_str().unwrap();
    let mut run = f.owner_command(
        "run",
        &[
            "--rounds",
            rounds,
            "--stage-timeout-ms",
            "3000",
            "--out",
            &fl_out,
            "--record",
            "--log",
            log,
            "--dev-root",
            &dev_root,
            "--measurement",
            &m,
        ],
    );
    run.extend(ledger.map(str::to_owned));
    let out = veil_owned(&run);
    let owner_lines = lines(&ok(&out));
    assert_eq!(owner_lines.len(), 4);
    assert_eq!(owner_lines[1]["dropped"], serde_json::json!([5]));
    assert!(owner_lines.iter().all(|l| l["recorded_gas"].as_u64().is_some_and(|g| g > 0)), "{owner_lines:?}");
    assert_eq!(owner_lines[1]["survivors"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(owner_lines[3]["survivors"], serde_json::json!([1, 2, 3, 4, 5]));
    let acc = owner_lines[3]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "held-out accuracy after 4 rounds: {acc}");

    for (i, c) in clients.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        let said = lines(&ok(&out));
        assert_eq!(said.len(), 4, "client {}", i + 1);
        for (r, l) in said.iter().enumerate() {
            // Every client that sent an update found it committed in the receipt.
            let dropped = i == 4 && r == 1;
            assert_eq!(l["included"], !dropped, "client {} round {}: {l}", i + 1, r + 1);
            assert_eq!(l["global_root"], owner_lines[r]["global_root"]);
        }
    }

    // The last round's receipt verifies under the stack's trust, as an attested fl
    // receipt; without the measurement pinned it is refused.
    let receipt = p("fl/round-4.receipt.json");
    let line = ok(&veil(&["verify", "--dev-root", &dev_root, "--measurement", &m, &receipt]));
    assert!(line.contains("mode=fl") && line.contains("evidence=Tdx"), "{line}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&receipt).unwrap()).unwrap();
    let event = &doc["receipt"]["events"][0];
    assert_eq!(event["type"], "fl.round");
    assert_eq!(event["data"]["update_roots"].as_object().unwrap().len(), 5);
    assert!(fails(&veil(&["verify", "--dev-root", &dev_root, &receipt])).contains("measurement"));
    // The owner names the aggregator again (as after a restart): only with its evidence
    // under a pinned measurement.
    let mut again = vec!["fl", "set-aggregator", "--gateway", &url, "--federation", &fed];
    again.extend(ledger);
    let mut unpinned = again.clone();
    unpinned.extend(["--dev-root", &dev_root, "--measurement", "00"]);
    assert!(fails(&veil(&unpinned)).contains("measurement"));
    again.extend(["--dev-root", &dev_root, "--measurement", &m]);
    let named: Value = serde_json::from_str(&ok(&veil(&again))).unwrap();
    assert_eq!(named["aggregator"], created["aggregator"]);
    // … and it is in the stack's transparency log.
    let inclusion = p("fl/round-4.inclusion.json");
    let log_key = info["log_key"].as_str().unwrap();
    let verify_logged = |receipt: &str| {
        veil(&[
            "verify",
            "--dev-root",
            &dev_root,
            "--measurement",
            &m,
            "--inclusion",
            &inclusion,
            "--log-key",
            log_key,
            receipt,
        ])
    };
    let logged = ok(&verify_logged(&receipt));
    assert!(logged.contains("logged: entry "), "{logged}");
    assert!(fails(&verify_logged(&p("fl/round-3.receipt.json"))).contains("not in the log"));

    // The ledger holds every round, signed by the registered aggregator, each naming
    // the receipt kept for it and the model the owner received.
    let mut history = vec!["fl", "history", "--federation", &fed];
    history.extend(ledger);
    let recorded = lines(&ok(&veil(&history)));
    assert_eq!(recorded.len(), 5, "{recorded:?}");
    assert_eq!(recorded[0]["round"], 4);
    assert_eq!(recorded[0]["aggregator"], created["aggregator"]);
    assert_eq!(recorded[0]["participants"].as_array().unwrap().len(), 5);
    assert_eq!(recorded[2]["survivors"], serde_json::json!([1, 2, 3, 4]));
    let hex =
        |v: &Value| v.as_str().unwrap().trim_start_matches("0x").trim_start_matches("sha256:").to_owned();
    assert_eq!(hex(&recorded[4]["receipt_id"]), hex(&doc["id"]));
    assert_eq!(hex(&recorded[4]["global_model"]), hex(&owner_lines[3]["global_root"]));

    // A message not signed by a listed key is refused with the route's problem shape,
    // and so is a start not signed by the federation's owner.
    assert_eq!(event["data"]["federation"], fed.as_str());
    let forged = serde_json::json!({
        "federation": fed, "round": 4, "stage": "advertise",
        "body": {"client": 1, "mask_key": vec![0; 32], "enc_key": vec![0; 32]}, "signature": "00".repeat(64),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, kind, body) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/fl/{fed}/messages"))
            .json(&forged)
            .send()
            .await
            .unwrap();
        let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
        (r.status().as_u16(), kind, r.json::<Value>().await.unwrap())
    });
    assert_eq!((status, kind.as_str()), (403, "application/problem+json"), "{body}");
    assert_eq!(body["code"], "fl.not_participant");
    let status = ok(&veil(&["fl", "status", "--gateway", &url, "--federation", &fed]));
    let v: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["stage"], "done");
    // What anyone may read of a round shows its models by root and sealed, never the
    // weights; the sealed model opens with the federation's model key and no other.
    assert!(!status.contains("weights"), "{status}");
    let sealed = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        v["outcome"]["global_sealed"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(p("global.sealed"), &sealed).unwrap();
    let opened = p("global.json");
    ok(&veil(&["open", "--key", &f.path("model.identity"), &p("global.sealed"), &opened]));
    let model: Value = serde_json::from_str(&std::fs::read_to_string(&opened).unwrap()).unwrap();
    assert_eq!(model["weights"].as_array().unwrap().len(), 30);
    fails(&veil(&["open", "--key", &f.path("c1.key"), &p("global.sealed"), &p("x")]));
    assert!(!std::path::Path::new(&p("x")).exists(), "nothing written");
    let mut start = v["start"].clone();
    start["start"]["config"]["round"] = 5.into();
    let (status, body) = rt.block_on(async {
        let r = reqwest::Client::new().post(format!("{url}/v1/fl/rounds")).json(&start).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    assert_eq!((status, body["code"].as_str()), (409, Some("fl.bad_round")), "{body}");

    // Starting rounds is open to any key for its own federation, so the route is
    // rate-limited per client like the other costly ones: a burst past the allowance
    // is refused with 429 and Retry-After, the rest reach the aggregator.
    let (limited, answered) = rt.block_on(async {
        let http = reqwest::Client::new();
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..400 {
            let (http, url) = (http.clone(), format!("{url}/v1/fl/rounds"));
            burst.spawn(async move {
                http.post(url).json(&serde_json::json!({})).send().await.unwrap().status().as_u16()
            });
        }
        let (mut limited, mut answered) = (0, 0);
        while let Some(s) = burst.join_next().await {
            match s.unwrap() {
                429 => limited += 1,
                400 | 422 => answered += 1,
                other => panic!("{other}"),
            }
        }
        (limited, answered)
    });
    assert!(limited > 0 && answered > 0, "{limited} limited, {answered} answered");
}

/// The registry need not be on the stack's chain: a federation aggregated by the
/// stack's worker is created on anvil (any EVM JSON-RPC; npm
/// `@foundry-rs/anvil-linux-amd64`, installed by scripts/contracts.sh) and its rounds
/// are recorded there, each signed by the aggregator for the chain and contract the
/// owner's start names.
#[test]
fn a_federation_records_its_rounds_on_anvil() {
    use std::os::unix::fs::PermissionsExt as _;
    let bin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin/anvil");
    assert!(bin.exists(), "{} is missing: run scripts/contracts.sh first", bin.display());
    let anvil =
        alloy::node_bindings::Anvil::at(bin).args(["--host", "127.0.0.1", "--hardfork", "cancun"]).spawn();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let wallet = alloy::signers::local::PrivateKeySigner::from(anvil.keys()[0].clone());
    std::fs::write(p("anvil.key"), format!("0x{}\n", hex::encode(wallet.to_bytes()))).unwrap();
    std::fs::set_permissions(p("anvil.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let rpc = anvil.endpoint();
    ok(&veil(&["chain", "deploy", "--rpc", &rpc, "--key", &p("anvil.key"), "--out", &p("anvil.json")]));
    let ledger = ["--rpc", rpc.as_str(), "--deployment", &p("anvil.json"), "--key", &p("anvil.key")];

    let stack = dir.path().join("stack");
    let (_server, url) = up(&stack, &[]);
    let info = up_json(&stack);
    let dev_root = stack.join("pki/dev-root.pem").to_str().unwrap().to_owned();
    let m = info["measurement"].as_str().unwrap().to_owned();
    let f = Federation::new(dir.path(), &url, "anvil", 3);
    let mut create = f.owner_command("create", &ledger);
    create.extend(["--dev-root", &dev_root, "--measurement", &m].map(str::to_owned));
    let created: Value = serde_json::from_str(&ok(&veil_owned(&create))).unwrap();
    let fed = created["federation"].as_str().unwrap().to_owned();

    let clients: Vec<_> = (1..=3).map(|i| f.join(i, "2", &[])).collect();
    let fl_out = p("fl");
    let mut run = f.owner_command(
        "run",
        &["--rounds", "2", "--out", &fl_out, "--record", "--dev-root", &dev_root, "--measurement", &m],
    );
    run.extend(ledger.map(str::to_owned));
    let said = lines(&ok(&veil_owned(&run)));
    assert!(said.iter().all(|l| l["recorded_gas"].as_u64().is_some_and(|g| g > 0)), "{said:?}");
    for c in clients {
        assert_eq!(lines(&ok(&c.wait_with_output().unwrap())).len(), 2);
    }
    let mut history = vec!["fl", "history", "--federation", &fed];
    history.extend(ledger);
    let recorded = lines(&ok(&veil(&history)));
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    assert_eq!(recorded[0]["round"], 2);
    assert_eq!(recorded[0]["aggregator"], created["aggregator"]);
    let hex = |v: &Value| v.as_str().unwrap().trim_start_matches("0x").to_owned();
    assert_eq!(hex(&recorded[2]["global_model"]), hex(&said[1]["global_root"]));
    // The stack's own chain has no such federation: the record was for anvil only.
    let mut elsewhere = vec!["fl", "history", "--federation", &fed];
    let own = stack.join("chain/operator.key").to_str().unwrap().to_owned();
    elsewhere.extend([
        "--rpc",
        info["rpc"].as_str().unwrap(),
        "--deployment",
        info["deployment"].as_str().unwrap(),
        "--key",
        &own,
    ]);
    assert!(fails(&veil(&elsewhere)).contains("UnknownFederation"));
}
