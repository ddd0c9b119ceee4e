//! Transactions per second of the embedded chain against anvil on Veil's workload:
//! per iteration mint + authorize + submit + complete, each sent through the same
//! `ChainClient` (simulated, estimated, signed, mined, receipt read), one after the
//! other as a client waiting for each receipt does. Run side by side in one process:
//!
//!     cargo bench -p veil-chain --bench tps -- [ITERATIONS] [ROUNDS]
//!
//! anvil comes from contracts/node_modules (scripts/contracts.sh) with Cancun rules.
//! The embedded chain fsyncs its log before each receipt exists; anvil keeps nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc, SystemClock};
use veil_ledger::{ChainClient, IntelligentData};

const KEYS: [&str; 3] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// A chain under test; the guards keep its process or directory alive.
enum Target {
    InProcess(Rpc, #[allow(dead_code)] tempfile::TempDir),
    Http(
        String,
        #[allow(dead_code)] Option<Box<AnvilInstance>>,
        #[allow(dead_code)] Option<tempfile::TempDir>,
    ),
}

fn signer(i: usize) -> PrivateKeySigner {
    KEYS[i].parse().expect("key")
}

fn embedded_node() -> (Rpc, tempfile::TempDir) {
    let dir = tempfile::tempdir_in(std::env::current_dir().expect("cwd")).expect("tempdir");
    let alloc: BTreeMap<Address, U256> =
        (0..KEYS.len()).map(|i| (signer(i).address(), U256::from(10u128.pow(24)))).collect();
    let (node, _) = Node::open(dir.path(), &Genesis::new(31337, 1_700_000_000, alloc)).expect("open");
    (Rpc::new(node, Arc::new(SystemClock)), dir)
}

impl Target {
    fn provider(&self, i: usize) -> DynProvider {
        let b = ProviderBuilder::new().wallet(signer(i));
        let client = match self {
            Self::InProcess(rpc, _) => EmbeddedTransport::new(rpc.clone()).client(),
            Self::Http(url, _, _) => RpcClient::new_http(url.parse().expect("url")),
        };
        // anvil mines after answering eth_sendRawTransaction, so a client polling at
        // alloy's default interval would measure its own sleep; poll every 1 ms on
        // every chain so the figure is the chain's.
        b.connect_client(client.with_poll_interval(Duration::from_millis(1))).erased()
    }
}

struct Run {
    txs: u64,
    elapsed: Duration,
    gas: BTreeMap<&'static str, u64>,
}

async fn workload(target: &Target, iterations: u64) -> Run {
    let owner_p = target.provider(0);
    let owner = signer(0).address();
    let chain = ChainClient::deploy(owner_p, owner, Address::repeat_byte(0x7e), Address::repeat_byte(0x1a))
        .await
        .expect("deploy");
    chain.set_job_registry().await.expect("wire");
    let user = ChainClient::connect(target.provider(1), chain.deployment()).await.expect("user");
    let prover = ChainClient::connect(target.provider(2), chain.deployment()).await.expect("prover");
    let enclave = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x11)).expect("enclave");
    let oracle = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x0a)).expect("oracle");
    let (measurement, oracle_measurement) = (B256::repeat_byte(1), B256::repeat_byte(2));
    chain.approve_measurement(measurement, true).await.expect("approve");
    chain.pin_verifier_measurement(oracle_measurement).await.expect("pin");
    chain.add_attestation_verifier(oracle.address(), oracle_measurement, B256::ZERO).await.expect("admit");
    let prover_address = signer(2).address();
    let statement = prover
        .attest_prover(&oracle, prover_address, enclave.address(), measurement, B256::ZERO, 3600)
        .await
        .expect("statement");
    prover.register_prover(&statement, U256::from(10u128.pow(18))).await.expect("register");
    let user_address = signer(1).address();

    let start_block = chain.block_number().await.expect("head");
    let start = Instant::now();
    for i in 0..iterations {
        let data = B256::from(U256::from(i + 1));
        let token = chain
            .mint(owner, &[IntelligentData { description: "records".into(), data_hash: data }])
            .await
            .expect("mint");
        chain.authorize(token, user_address).await.expect("authorize");
        let job = user.submit_job(data, B256::repeat_byte(2), U256::from(1000)).await.expect("submit");
        let (result, receipt) = (B256::repeat_byte(3), data);
        let digest =
            prover.completion_digest(job, prover_address, result, receipt, B256::ZERO).await.expect("digest");
        let sig = enclave.sign_hash_sync(&digest).expect("sign").as_bytes().to_vec();
        prover.complete_job(job, result, receipt, sig).await.expect("complete");
    }
    let elapsed = start.elapsed();
    let end_block = chain.block_number().await.expect("head");

    // Gas per operation, from the last iteration's receipts.
    let p = chain.provider();
    let mut gas = BTreeMap::new();
    for (name, n) in [
        ("mint", end_block - 3),
        ("authorize", end_block - 2),
        ("submitJob", end_block - 1),
        ("completeJob", end_block),
    ] {
        let block = p.get_block_by_number(n.into()).await.expect("block").expect("mined");
        let hash = block.transactions.hashes().next().expect("one tx");
        let r = p.get_transaction_receipt(hash).await.expect("receipt").expect("mined");
        gas.insert(name, r.gas_used);
    }
    Run { txs: end_block - start_block, elapsed, gas }
}

fn anvil() -> AnvilInstance {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin/anvil");
    assert!(path.exists(), "{} is missing: run scripts/contracts.sh first", path.display());
    Anvil::at(path).args(["--host", "127.0.0.1", "--hardfork", "cancun"]).spawn()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    // An optional third argument picks targets whose name contains it.
    let only = args.get(2).cloned().unwrap_or_default();
    let args: Vec<u64> = args.iter().take(2).filter_map(|a| a.parse().ok()).collect();
    let iterations = args.first().copied().unwrap_or(100);
    let rounds = args.get(1).copied().unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut best: BTreeMap<&str, f64> = BTreeMap::new();
        let mut gas_seen = Vec::new();
        for round in 0..rounds {
            // Alternate the order so neither side always runs on a warmer machine.
            let mut names = vec!["embedded (in-process)", "embedded (HTTP)", "anvil (HTTP)"];
            if round % 2 == 1 {
                names.reverse();
            }
            names.retain(|n| n.contains(only.as_str()));
            for name in names {
                let target = match name {
                    "embedded (in-process)" => {
                        let (rpc, dir) = embedded_node();
                        Target::InProcess(rpc, dir)
                    }
                    "embedded (HTTP)" => {
                        let (rpc, dir) = embedded_node();
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                        let url = format!("http://{}", listener.local_addr().expect("addr"));
                        tokio::spawn(async move { axum::serve(listener, veil_chain::router(rpc)).await });
                        Target::Http(url, None, Some(dir))
                    }
                    _ => {
                        let a = anvil();
                        Target::Http(a.endpoint(), Some(Box::new(a)), None)
                    }
                };
                let run = workload(&target, iterations).await;
                let tps = run.txs as f64 / run.elapsed.as_secs_f64();
                println!(
                    "round {round} {name:<22} {} txs in {:>7.3} s = {tps:>7.1} tx/s ({:.2} ms/tx)",
                    run.txs,
                    run.elapsed.as_secs_f64(),
                    1000.0 * run.elapsed.as_secs_f64() / run.txs as f64
                );
                let e = best.entry(name).or_insert(0.0);
                *e = e.max(tps);
                gas_seen.push((name, run.gas));
            }
        }
        println!("best of {rounds} rounds, {iterations} iterations (4 transactions each):");
        let anvil_tps = best.get("anvil (HTTP)").copied().unwrap_or(f64::NAN);
        for (name, tps) in &best {
            println!("  {name:<22} {tps:>7.1} tx/s  {:.2}x anvil", tps / anvil_tps);
        }
        let (_, first) = &gas_seen[0];
        assert!(gas_seen.iter().all(|(_, g)| g == first), "gas differs between chains: {gas_seen:?}");
        println!("gas per operation (identical on every chain): {first:?}");
    });
}
