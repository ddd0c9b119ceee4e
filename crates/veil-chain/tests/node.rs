//! The embedded chain on its own: restarts replay to the same chain, torn appends are
//! cut, bad transactions are refused without touching the log, past blocks answer
//! calls, and the HTTP face speaks JSON-RPC with its error codes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc, SystemClock};
use veil_ledger::{ChainClient, IntelligentData};

const CHAIN_ID: u64 = 4242;

fn key(byte: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(byte)).expect("key")
}

fn genesis() -> Genesis {
    let alloc: BTreeMap<Address, U256> = [(key(1).address(), U256::from(10u128.pow(24)))].into();
    Genesis::new(CHAIN_ID, 1_700_000_000, alloc)
}

fn open(dir: &Path) -> Rpc {
    let (node, _) = Node::open(dir, &genesis()).expect("open");
    Rpc::new(node, Arc::new(SystemClock))
}

fn provider(rpc: &Rpc, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .wallet(signer)
        .connect_client(EmbeddedTransport::new(rpc.clone()).client())
        .erased()
}

/// A signed EIP-1559 transfer from `from`.
async fn raw_transfer(from: &PrivateKeySigner, nonce: u64, chain_id: u64, value: u64) -> Bytes {
    let tx = TransactionRequest::default()
        .with_to(Address::repeat_byte(0xee))
        .with_value(U256::from(value))
        .with_nonce(nonce)
        .with_chain_id(chain_id)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(2_000_000_000)
        .with_max_priority_fee_per_gas(1);
    let wallet = EthereumWallet::from(from.clone());
    <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(tx, &wallet)
        .await
        .expect("sign")
        .encoded_2718()
        .into()
}

fn send(rpc: &Rpc, raw: &Bytes) -> Result<Value, veil_chain::RpcError> {
    rpc.dispatch("eth_sendRawTransaction", &[json!(raw)])
}

async fn deploy_and_authorize(rpc: &Rpc) -> (ChainClient<DynProvider>, U256) {
    let admin = key(1);
    let chain = ChainClient::deploy(
        provider(rpc, admin.clone()),
        admin.address(),
        Address::repeat_byte(0x7e),
        Address::repeat_byte(0x1a),
    )
    .await
    .expect("deploy");
    let token = chain
        .mint(
            admin.address(),
            &[IntelligentData { description: "records".into(), data_hash: keccak256(b"records") }],
        )
        .await
        .expect("mint");
    chain.authorize(token, Address::repeat_byte(0xb0)).await.expect("authorize");
    (chain, token)
}

#[tokio::test]
async fn a_restart_replays_the_log_into_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let (chain, token) = deploy_and_authorize(&rpc).await;
    let head = rpc.node().head();
    let hashes: Vec<B256> = (0..=head).map(|n| rpc.node().block(n).unwrap().hash).collect();
    let deployment = chain.deployment();
    drop(chain);
    drop(rpc);

    let (node, report) = Node::open(dir.path(), &genesis()).expect("reopen");
    assert_eq!(report.replayed, head, "one logged transaction per block");
    assert_eq!(report.truncated, 0);
    assert_eq!(node.head(), head);
    let again: Vec<B256> = (0..=head).map(|n| node.block(n).unwrap().hash).collect();
    assert_eq!(again, hashes, "identical blocks after replay");
    let rpc = Rpc::new(node, Arc::new(SystemClock));
    let chain = ChainClient::connect(provider(&rpc, key(1)), deployment).await.expect("connect");
    assert!(chain.is_authorized(token, Address::repeat_byte(0xb0)).await.unwrap().0);
}

#[tokio::test]
async fn a_torn_final_append_loses_only_that_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let alice = key(1);
    for nonce in 0..3 {
        send(&rpc, &raw_transfer(&alice, nonce, CHAIN_ID, 5).await).expect("mined");
    }
    drop(rpc);
    let log = dir.path().join("txs.log");
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() - 7]).unwrap();

    let (node, report) = Node::open(dir.path(), &genesis()).expect("reopen");
    assert_eq!(report.replayed, 2);
    assert!(report.truncated > 0);
    assert_eq!(node.head(), 2);
    assert_eq!(node.state_at(2).balance(Address::repeat_byte(0xee)), U256::from(10));
    let rpc = Rpc::new(node, Arc::new(SystemClock));
    // The lost transaction's nonce is free again; the chain goes on.
    send(&rpc, &raw_transfer(&alice, 2, CHAIN_ID, 5).await).expect("mined");
    assert_eq!(rpc.node().head(), 3);
}

#[tokio::test]
async fn bad_transactions_are_refused_and_leave_the_log_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let alice = key(1);
    send(&rpc, &raw_transfer(&alice, 0, CHAIN_ID, 1).await).expect("mined");
    let before = rpc.node().log_bytes();

    let legacy_unprotected = {
        let tx = TransactionRequest::default()
            .with_to(Address::ZERO)
            .with_nonce(1)
            .with_gas_limit(21_000)
            .with_gas_price(2_000_000_000);
        let wallet = EthereumWallet::from(alice.clone());
        let env = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(tx, &wallet)
            .await
            .expect("sign");
        Bytes::from(env.encoded_2718())
    };
    let cases: Vec<(&str, Bytes)> = vec![
        ("chain", raw_transfer(&alice, 1, CHAIN_ID + 1, 1).await),
        ("replay-protected", legacy_unprotected),
        ("nonce", raw_transfer(&alice, 5, CHAIN_ID, 1).await),
        ("nonce", raw_transfer(&alice, 0, CHAIN_ID, 1).await),
        ("funds", raw_transfer(&key(2), 0, CHAIN_ID, 1).await),
        ("undecodable", Bytes::from_static(b"\x02garbage")),
        ("exceeds", Bytes::from(vec![0u8; 600 * 1024])),
    ];
    for (expect, raw) in cases {
        let err = send(&rpc, &raw).expect_err(expect);
        assert_eq!(err.code, -32000, "{expect}: {err:?}");
        assert!(err.message.to_lowercase().contains(expect), "{expect}: {}", err.message);
    }
    assert_eq!(rpc.node().log_bytes(), before, "nothing logged");
    assert_eq!(rpc.node().head(), 1);
}

#[tokio::test]
async fn calls_run_against_any_past_block() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let (chain, token) = deploy_and_authorize(&rpc).await;
    let user = Address::repeat_byte(0xb0);
    let (_, authorized_at) = chain.is_authorized(token, user).await.unwrap();
    chain.revoke(token, user).await.unwrap();
    assert!(!chain.is_authorized(token, user).await.unwrap().0);

    let inft = veil_ledger::bindings::INFT::new(chain.deployment().inft, chain.provider().clone());
    let then = inft.isAuthorized(token, user).block(authorized_at.into()).call().await.unwrap();
    assert!(then, "the authorization as of the block it was read at");
    let before_mint = inft.isAuthorized(token, user).block((authorized_at - 2).into()).call().await.unwrap();
    assert!(!before_mint);
    let future =
        rpc.dispatch("eth_call", &[json!({"to": chain.deployment().inft, "data": "0x"}), json!("0xffff")]);
    assert!(future.unwrap_err().message.contains("not found"));
}

#[tokio::test]
async fn a_reverting_transaction_is_mined_with_status_zero_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let (chain, token) = deploy_and_authorize(&rpc).await;
    // Sent without simulation, as a careless client would: authorize twice.
    let inft = veil_ledger::bindings::INFT::new(chain.deployment().inft, chain.provider().clone());
    let receipt = inft
        .authorizeUsage(token, Address::repeat_byte(0xb0))
        .gas(200_000)
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("mined");
    assert!(!receipt.status());
    let head = rpc.node().head();
    drop(chain);
    drop(inft);
    drop(rpc);
    let (node, report) = Node::open(dir.path(), &genesis()).expect("reopen");
    assert_eq!((node.head(), report.replayed), (head, head));
    let (_, tx) = node.transaction(receipt.transaction_hash).expect("logged");
    assert!(!tx.receipt.status());
}

#[tokio::test]
async fn the_http_face_speaks_json_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, veil_chain::router(rpc)).await });

    // A stock alloy HTTP provider works against it.
    let admin = key(1);
    let http = ProviderBuilder::new().wallet(admin.clone()).connect_http(url.parse().unwrap()).erased();
    assert_eq!(http.get_chain_id().await.unwrap(), CHAIN_ID);
    let chain = ChainClient::deploy(http, admin.address(), Address::repeat_byte(1), Address::repeat_byte(2))
        .await
        .expect("deploy over HTTP");
    assert_ne!(chain.deployment().inft, Address::ZERO);

    let client = reqwest::Client::new();
    let post =
        |body: &'static str, ct: &'static str| client.post(&url).header("content-type", ct).body(body).send();
    let r = post("{not json", "application/json").await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32700);
    let r = post(r#"{"jsonrpc":"2.0","id":7,"method":"eth_mine"}"#, "application/json").await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (json!(7), json!(-32601)));
    let r = post(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#, "text/plain").await.unwrap();
    assert_eq!(r.status(), 415);
    let r = post(
        r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["0x12"]}]"#,
        "application/json",
    )
    .await
    .unwrap();
    let v: Value = r.json().await.unwrap();
    let batch = v.as_array().expect("batch");
    assert_eq!(batch.len(), 2, "the notification gets no answer");
    assert_eq!(batch[0]["result"], json!(format!("{CHAIN_ID:#x}")));
    assert_eq!(batch[1]["error"]["code"], -32602);
    let r = post(r#"{"jsonrpc":"2.0","method":"eth_chainId"}"#, "application/json").await.unwrap();
    assert_eq!(r.status(), 204);
}

/// Issue 14, finding 8: a 4 MiB body once asked for 1024 blocks × ~500,000 percentiles,
/// half a billion numbers. Every method's work and every batch is bounded, and the
/// refusal costs nothing.
#[test]
fn no_request_makes_the_node_allocate_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let rpc = open(dir.path());
    let call = |body: String| rpc.handle_body(body.as_bytes()).expect("an answer");
    // Equal percentiles are ascending; 500,000 of them fit in a body the server takes.
    let many = vec!["50"; 500_000].join(",");
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x400","latest",[{many}]]}}"#
    );
    assert!(body.len() < 4 << 20);
    let v = call(body);
    assert_eq!(v["error"]["code"], -32602, "{}", v.to_string().chars().take(200).collect::<String>());
    assert!(v["error"]["message"].as_str().unwrap().contains("at most 100"));
    // The bound is the limit, not a ban: 100 percentiles answer.
    let hundred = vec!["50"; 100].join(",");
    let v = call(format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x400","latest",[{hundred}]]}}"#
    ));
    assert_eq!(v["result"]["reward"][0].as_array().unwrap().len(), 100, "{v}");

    // A batch is bounded in count…
    let one = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#;
    let batch = |n: usize| format!("[{}]", vec![one; n].join(","));
    assert_eq!(call(batch(100)).as_array().unwrap().len(), 100);
    let v = call(batch(101));
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("at most 100"));
    // …and in what it answers (at most 25 MiB; here, 1,000 bytes): the answers past
    // the limit are refused, and the batch still answers every request.
    let small = open(tempfile::tempdir().unwrap().path()).with_batch_response_limit(1000);
    let v = small.handle_body(batch(100).as_bytes()).unwrap();
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 100);
    let size: usize = answers.iter().filter(|a| a.get("result").is_some()).map(|a| a.to_string().len()).sum();
    assert!(size <= 1000, "{size}");
    let cut = answers.iter().filter(|a| a["error"]["code"] == -32003).count();
    assert!(cut > 50, "{cut} answers past the limit refused");
    assert_eq!(veil_chain::MAX_BATCH_RESPONSE_BYTES, 25 << 20);
}
