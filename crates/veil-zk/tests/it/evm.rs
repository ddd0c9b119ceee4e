//! The Solidity verifier rendered from a Veil key, compiled with solc-js (npm) and run
//! on the embedded EVM: it accepts a fresh proof, reverts for a changed public input
//! or proof, and its gas is measured. A zkML job then completes through the
//! JobRegistry only with a valid proof, on the embedded chain and on anvil.
//! `scripts/contracts.sh` installs solc-js and anvil.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use ark_std::rand::SeedableRng;
use ark_std::rand::rngs::StdRng;
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc, SystemClock};
use veil_zk::income::IncomeThreshold;
use veil_zk::mlp::{Inference, Layer, Network, WeightMode, output_hash};
use veil_zk::{Fr, groth, solidity};

alloy::sol! {
    #[sol(rpc)]
    interface IVerifier {
        function verifyProof(uint256[8] calldata proof, uint256[3] calldata input) external view;
    }
}

/// Compile `source` with the contracts' pinned solc-js (optimizer on, cancun).
fn solc(source: &str) -> Vec<u8> {
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    assert!(contracts.join("node_modules/solc").exists(), "solc-js is missing: run scripts/contracts.sh");
    let script = r#"
        const solc = require("solc");
        let src = ""; process.stdin.on("data", d => src += d).on("end", () => {
          const out = JSON.parse(solc.compile(JSON.stringify({
            language: "Solidity", sources: { "Verifier.sol": { content: src } },
            settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun",
                        outputSelection: { "*": { "*": ["evm.bytecode.object"] } } } })));
          const errors = (out.errors || []).filter(e => e.severity === "error");
          if (errors.length) { console.error(JSON.stringify(errors)); process.exit(1); }
          process.stdout.write(out.contracts["Verifier.sol"]["Verifier"].evm.bytecode.object);
        });"#;
    let mut child = Command::new("node")
        .args(["-e", script])
        .current_dir(&contracts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    child.stdin.take().unwrap().write_all(source.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "solc failed");
    hex::decode(String::from_utf8(out.stdout).unwrap().trim()).expect("bytecode hex")
}

fn word(f: &Fr) -> U256 {
    U256::from_str_radix(&f.to_string(), 10).unwrap()
}

type Verifier = IVerifier::IVerifierInstance<alloy::providers::DynProvider>;

/// Render, compile and deploy the verifier for `vk` on a fresh embedded chain.
async fn deploy(vk: &ark_groth16::VerifyingKey<ark_bn254::Bn254>) -> Verifier {
    let bytecode = solc(&solidity::verifier_source(vk).unwrap());
    let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
    let alloc: BTreeMap<Address, U256> = [(signer.address(), U256::from(10u128.pow(24)))].into();
    let rpc = Rpc::new(Node::ephemeral(Genesis::new(4242, 1_700_000_000, alloc)), Arc::new(SystemClock));
    let provider =
        ProviderBuilder::new().wallet(signer).connect_client(EmbeddedTransport::new(rpc).client()).erased();
    let receipt = provider
        .send_transaction(TransactionRequest::default().with_deploy_code(bytecode))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    IVerifier::new(receipt.contract_address.expect("deployed"), provider)
}

fn words(public: &[Fr]) -> [U256; 3] {
    [word(&public[0]), word(&public[1]), word(&public[2])]
}

#[tokio::test]
async fn the_solidity_verifier_accepts_our_proofs_and_reverts_on_changed_ones() {
    let mut rng = StdRng::seed_from_u64(3);
    let keys = groth::dev_setup(IncomeThreshold::blank(16), &mut rng).unwrap();
    let statement = IncomeThreshold {
        account: Fr::from(1u64),
        epoch: 2,
        amounts: vec![300, 200],
        salt: Fr::from(5u64),
        threshold: 450,
        slots: 16,
    };
    let (proof, public) = groth::prove_income(&keys.pk, statement, &mut rng).unwrap();
    let verifier = deploy(&keys.vk).await;

    let words_p = solidity::proof_words(&proof).map(U256::from_be_bytes);
    let input = words(&public);
    verifier.verifyProof(words_p, input).call().await.expect("a valid proof passes");
    let gas = verifier.verifyProof(words_p, input).estimate_gas().await.unwrap();
    println!("verifyProof gas (estimate, including the 21000 base): {gas}");
    assert!(gas < 300_000, "{gas}");

    let mut raised = input;
    raised[1] += U256::from(1);
    assert_ne!(raised, input);
    assert!(verifier.verifyProof(words_p, raised).call().await.is_err(), "a raised threshold reverts");
    let mut bent = words_p;
    bent[0] += U256::from(1);
    assert!(verifier.verifyProof(bent, input).call().await.is_err(), "a changed proof reverts");
}

#[tokio::test]
async fn the_zkml_verifier_reverts_for_a_wrong_output_or_model() {
    let mut rng = StdRng::seed_from_u64(4);
    let network = Network {
        layers: vec![
            Layer {
                inputs: 3,
                outputs: 2,
                weights: vec![5, -7, 127, -127, 0, 33],
                bias: vec![-900, 1200],
                relu: true,
                requant: Some((1 << 30, 10)),
            },
            Layer {
                inputs: 2,
                outputs: 2,
                weights: vec![3, -4, 2, 9],
                bias: vec![10, -10],
                relu: false,
                requant: None,
            },
        ],
    };
    let keys = groth::dev_setup(Inference::blank(network.clone(), WeightMode::Private), &mut rng).unwrap();
    let statement =
        Inference { network, mode: WeightMode::Private, input: vec![100, -20, 64], salt: Fr::from(9u64) };
    let claim = statement.claim().unwrap();
    let proof = groth::prove(&keys.pk, statement, &mut rng).unwrap();
    let verifier = deploy(&keys.vk).await;
    let words_p = solidity::proof_words(&proof).map(U256::from_be_bytes);
    verifier.verifyProof(words_p, words(&claim.public)).call().await.expect("a valid proof passes");
    let mut outputs = claim.outputs.clone();
    outputs[1] -= 1;
    for (i, value) in [(2, output_hash(&outputs).unwrap()), (0, Fr::from(2u64))] {
        let mut public = claim.public.clone();
        public[i] = value;
        assert_ne!(public, claim.public);
        assert!(
            verifier.verifyProof(words_p, words(&public)).call().await.is_err(),
            "public input {i} changed reverts"
        );
    }
}

/// anvil's first two development keys, funded on both chains.
const KEYS: [&str; 2] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
];

/// Providers for the two keys on the embedded chain or on anvil (kept alive by the guard).
fn chain(anvil: bool) -> (Vec<alloy::providers::DynProvider>, Box<dyn std::any::Any>) {
    let signers: Vec<PrivateKeySigner> = KEYS.iter().map(|k| k.parse().unwrap()).collect();
    if anvil {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules/.bin/anvil");
        assert!(path.exists(), "anvil is missing: run scripts/contracts.sh");
        let instance = alloy::node_bindings::Anvil::at(path)
            .args(["--host", "127.0.0.1", "--hardfork", "cancun"])
            .spawn();
        let providers = signers
            .into_iter()
            .map(|s| ProviderBuilder::new().wallet(s).connect_http(instance.endpoint_url()).erased())
            .collect();
        (providers, Box::new(instance))
    } else {
        let alloc: BTreeMap<Address, U256> =
            signers.iter().map(|s| (s.address(), U256::from(10u128.pow(24)))).collect();
        let rpc = Rpc::new(Node::ephemeral(Genesis::new(31337, 1_700_000_000, alloc)), Arc::new(SystemClock));
        let providers = signers
            .into_iter()
            .map(|s| {
                ProviderBuilder::new()
                    .wallet(s)
                    .connect_client(EmbeddedTransport::new(rpc.clone()).client())
                    .erased()
            })
            .collect();
        (providers, Box::new(()))
    }
}

fn b256(f: &Fr) -> B256 {
    B256::from(word(f))
}

async fn zk_job_scenario(anvil: bool) {
    let (providers, _guard) = chain(anvil);
    let admin = KEYS[0].parse::<PrivateKeySigner>().unwrap().address();
    let requester = veil_ledger::ChainClient::deploy(
        providers[0].clone(),
        admin,
        Address::repeat_byte(0x7e),
        Address::repeat_byte(0x1a),
    )
    .await
    .unwrap();
    requester.set_job_registry().await.unwrap();
    // An attested prover: the registry admits an attestation verifier, which vouches
    // for the prover's enclave key.
    let (measurement, oracle_measurement) = (B256::repeat_byte(1), B256::repeat_byte(2));
    let oracle = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x0a)).unwrap();
    requester.approve_measurement(measurement, true).await.unwrap();
    requester.pin_verifier_measurement(oracle_measurement).await.unwrap();
    requester.add_attestation_verifier(oracle.address(), oracle_measurement, B256::ZERO).await.unwrap();
    let prover =
        veil_ledger::ChainClient::connect(providers[1].clone(), requester.deployment()).await.unwrap();
    let prover_account = KEYS[1].parse::<PrivateKeySigner>().unwrap().address();
    let enclave = PrivateKeySigner::from_bytes(&B256::repeat_byte(0xee)).unwrap();
    let statement = prover
        .attest_prover(&oracle, prover_account, enclave.address(), measurement, B256::ZERO, 3600)
        .await
        .unwrap();
    prover.register_prover(&statement, U256::from(2 * 10u128.pow(18))).await.unwrap();
    // The enclave signs what it proved, for the account it works for.
    let sign = |job: U256, result: U256, receipt: B256, words: &[U256; 8]| {
        let prover = prover.clone();
        let enclave = enclave.clone();
        let words = *words;
        async move {
            let digest = prover
                .completion_digest(
                    job,
                    prover_account,
                    B256::from(result.to_be_bytes::<32>()),
                    receipt,
                    veil_protocol::proof_hash(&words),
                )
                .await
                .unwrap();
            enclave.sign_hash_sync(&digest).unwrap().as_bytes().to_vec()
        }
    };

    // The model owner publishes M and the key's verifier; the requester commits to an
    // input (I) and escrows a fee for the proof.
    let mut rng = StdRng::seed_from_u64(5);
    let network = Network {
        layers: vec![
            Layer {
                inputs: 4,
                outputs: 3,
                weights: vec![9, -8, 7, -6, 5, -4, 3, -2, 1, 0, 127, -127],
                bias: vec![100, -100, 5],
                relu: true,
                requant: Some((1_500_000_000, 12)),
            },
            Layer {
                inputs: 3,
                outputs: 2,
                weights: vec![1, 2, 3, 4, 5, 6],
                bias: vec![0, 1],
                relu: false,
                requant: None,
            },
        ],
    };
    let keys = groth::dev_setup(Inference::blank(network.clone(), WeightMode::Private), &mut rng).unwrap();
    let verifier = {
        let bytecode = solc(&solidity::verifier_source(&keys.vk).unwrap());
        let r = providers[0]
            .send_transaction(TransactionRequest::default().with_deploy_code(bytecode))
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        r.contract_address.expect("deployed")
    };
    let statement =
        Inference { network, mode: WeightMode::Private, input: vec![50, -50, 100, 3], salt: Fr::from(11u64) };
    let claim = statement.claim().unwrap();
    let [m, i, o] = [claim.public[0], claim.public[1], claim.public[2]];
    let job = requester.submit_zk_job(b256(&i), b256(&m), verifier, U256::from(1_000_000u64)).await.unwrap();

    let proof = groth::prove(&keys.pk, statement, &mut rng).unwrap();
    let words = solidity::proof_words(&proof).map(U256::from_be_bytes);
    // A signed proof claiming another output is refused by the verifier, behind the
    // registry, and its signer slashed 10% for it.
    let mut other = claim.outputs.clone();
    other[0] += 1;
    let wrong_output = word(&output_hash(&other).unwrap());
    let sig = sign(job, wrong_output, B256::ZERO, &words).await;
    let accepted = prover.complete_job_with_proof(job, words, wrong_output, B256::ZERO, sig).await.unwrap();
    assert!(!accepted, "an invalid proof is rejected");
    assert_eq!(requester.job(job).await.unwrap().status, "open");
    let listed = requester.provers_list().await.unwrap();
    assert_eq!(listed[0].stake, U256::from(18 * 10u128.pow(17)), "slashed 10%");
    let output = word(&o);
    let receipt = B256::repeat_byte(0xaa);
    let sig = sign(job, output, receipt, &words).await;
    assert!(prover.complete_job_with_proof(job, words, output, receipt, sig).await.unwrap());
    let done = requester.job(job).await.unwrap();
    assert_eq!(done.status, "completed");
    assert_eq!(done.result_hash, b256(&o), "the result is the output commitment");
    assert_eq!(done.model_hash, b256(&m));
}

#[tokio::test]
async fn a_zk_job_completes_only_with_a_valid_proof_on_the_embedded_chain() {
    zk_job_scenario(false).await;
}

#[tokio::test]
async fn a_zk_job_completes_only_with_a_valid_proof_on_anvil() {
    zk_job_scenario(true).await;
}
