//! The Solidity verifier rendered from a Veil key, compiled with solc-js (npm) and run
//! on the embedded EVM: it accepts a fresh proof, reverts for a changed public input
//! or proof, and its gas is measured. `scripts/contracts.sh` installs solc-js.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use ark_std::rand::SeedableRng;
use ark_std::rand::rngs::StdRng;
use veil_chain::{EmbeddedTransport, Genesis, Node, Rpc, SystemClock};
use veil_zk::income::IncomeThreshold;
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
    assert!(
        contracts.join("node_modules/solc").exists(),
        "solc-js is missing: run scripts/contracts.sh"
    );
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
    let bytecode = solc(&solidity::verifier_source(&keys.vk).unwrap());

    let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
    let alloc: BTreeMap<Address, U256> = [(signer.address(), U256::from(10u128.pow(24)))].into();
    let rpc = Rpc::new(
        Node::ephemeral(Genesis::new(4242, 1_700_000_000, alloc)),
        Arc::new(SystemClock),
    );
    let provider = ProviderBuilder::new()
        .wallet(signer)
        .connect_client(EmbeddedTransport::new(rpc).client())
        .erased();
    let receipt = provider
        .send_transaction(TransactionRequest::default().with_deploy_code(bytecode))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let verifier = IVerifier::new(receipt.contract_address.expect("deployed"), &provider);

    let words = solidity::proof_words(&proof).map(U256::from_be_bytes);
    let input = [word(&public[0]), word(&public[1]), word(&public[2])];
    verifier
        .verifyProof(words, input)
        .call()
        .await
        .expect("a valid proof passes");
    let gas = verifier.verifyProof(words, input).estimate_gas().await.unwrap();
    println!("verifyProof gas (estimate, including the 21000 base): {gas}");
    assert!(gas < 300_000, "{gas}");

    let mut raised = input;
    raised[1] += U256::from(1);
    assert_ne!(raised, input);
    assert!(
        verifier.verifyProof(words, raised).call().await.is_err(),
        "a raised threshold reverts"
    );
    let mut bent = words;
    bent[0] += U256::from(1);
    assert!(
        verifier.verifyProof(bent, input).call().await.is_err(),
        "a changed proof reverts"
    );
}
