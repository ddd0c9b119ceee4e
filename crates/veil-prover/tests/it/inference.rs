//! zkML on the bundled digits model: the circuit's arithmetic is veil-model's, bit
//! for bit, on every held-out digit; and the proof server proves a private-weights
//! inference, with a receipt `veil verify` accepts, and answers attestation
//! challenges with evidence for the keys it seals to and signs with.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;

use ark_std::rand::rngs::StdRng;
use ark_std::rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use veil_model::{Dataset, QuantizedNet, dense_layers};
use veil_prover::{InferenceCircuit, Prover, ProverAttestation, ProverParts, circuit_network};
use veil_seal::Identity;
use veil_zk::mlp::{Inference, WeightMode, output_hash};
use veil_zk::{Fr, groth, snarkjs};

use common::{post, sealed, wait_done};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn digits() -> (Vec<u8>, QuantizedNet, Dataset) {
    let onnx = std::fs::read(models().join("digits_mlp.onnx")).unwrap();
    let data = Dataset::parse(&std::fs::read_to_string(models().join("data/digits.csv")).unwrap()).unwrap();
    let net = QuantizedNet::quantize(&dense_layers(&onnx).unwrap(), &data.train).unwrap();
    (onnx, net, data)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn the_circuit_arithmetic_is_veil_models_on_every_held_out_digit() {
    let (_, q, data) = digits();
    let net = circuit_network(&q);
    net.check().unwrap();
    let mut correct = 0;
    for (x, label) in &data.test {
        let x_q = q.quantize_input(x).unwrap();
        let ours = net.forward(&x_q).unwrap();
        let theirs: Vec<i64> = q.forward(&x_q).unwrap().into_iter().map(i64::from).collect();
        assert_eq!(ours, theirs, "bit-exact on every held-out row");
        let class = veil_zk::mlp::class_of(&ours);
        assert_eq!(class, q.classify(x).unwrap());
        correct += usize::from(class == *label);
    }
    // The same 437 of 450 as the int8 path in models/README.md: proving adds no loss.
    assert_eq!((correct, data.test.len()), (437, 450));
    // And on inputs no dataset has: every int8 value, saturating both ways.
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..500 {
        let x: Vec<i8> = (0..64).map(|_| rng.gen_range(-127i8..=127)).collect();
        let theirs: Vec<i64> = q.forward(&x).unwrap().into_iter().map(i64::from).collect();
        assert_eq!(net.forward(&x).unwrap(), theirs);
    }
}

#[test]
fn one_private_weights_key_serves_every_digits_model_of_that_shape() {
    let (_, q, _) = digits();
    let net = circuit_network(&q);
    let mut other = net.clone();
    other.layers[0].weights[0] = other.layers[0].weights[0].saturating_sub(1).max(-127);
    assert_ne!(other, net);
    let count = |n| groth::constraints(Inference::blank(n, WeightMode::Private)).unwrap();
    assert_eq!(count(net.clone()), count(other.clone()));
    assert_ne!(net.hash().unwrap(), other.hash().unwrap(), "the commitment tells them apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_proves_a_private_weights_inference_and_attests_its_keys() {
    let (onnx, q, data) = digits();
    let net = circuit_network(&q);
    let keys =
        groth::dev_setup(Inference::blank(net.clone(), WeightMode::Private), &mut StdRng::seed_from_u64(3))
            .unwrap();
    let pki = Arc::new(veil_sim_tee::DevPki::from_seed(&[9; 32]).unwrap());
    let measurement = veil_sim_tee::SimMeasurement::from_digests([1; 48], [2; 48], &[3; 32]);
    let mr_td = measurement.measurement_id();
    let model_root = veil_content::root_of(&onnx).unwrap();
    let prover = Prover::start(ProverParts {
        attestation: Some(ProverAttestation {
            attester: Arc::new(veil_sim_tee::SimTdx::new(pki.clone(), measurement.clone())),
            measurement: mr_td.clone(),
        }),
        identity: Identity::generate().unwrap(),
        income: None,
        inference: Some(InferenceCircuit {
            keys,
            network: net.clone(),
            mode: WeightMode::Private,
            name: "digits-mlp".into(),
            model_root: Some(model_root),
            input_scales: q.input_scales.clone(),
        }),
        queue_capacity: 4,
        clock: now,
        log: None,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, veil_prover::router(prover.clone())).into_future());
    let key = prover.public_key();

    let info: Value = reqwest::get(format!("{base}/v1/prover")).await.unwrap().json().await.unwrap();
    let circuit = &info["circuits"][veil_prover::ZK_CIRCUIT_MLP];
    assert_eq!(circuit["weights"], "private");
    assert_eq!(circuit["model_commitment"], net.hash().unwrap().to_string());
    assert!(info["circuits"][veil_prover::ZK_CIRCUIT_INCOME].is_null(), "only what it has keys for");

    // A held-out digit, as raw pixels: quantised by the prover, proved, classified.
    let (x, label) = &data.test[0];
    let request = json!({ "features": x, "salt": "12345" });
    let (status, accepted) = post(&format!("{base}/v1/prove/inference"), &sealed(&key, &request)).await;
    assert_eq!(status, 202, "{accepted}");
    let job = wait_done(&base, &accepted).await;
    assert_eq!(job["job"]["status"], "done", "{job}");
    let outputs: Vec<i64> = serde_json::from_value(job["job"]["result"]["outputs"].clone()).unwrap();
    let x_q = q.quantize_input(x).unwrap();
    let expected: Vec<i64> = q.forward(&x_q).unwrap().into_iter().map(i64::from).collect();
    assert_eq!(outputs, expected);
    assert_eq!(job["job"]["result"]["class"], json!(label));
    // The public inputs are the commitments: to the model, the input (salted), the outputs.
    let public = snarkjs::public_from_json(&job["job"]["public"]).unwrap();
    assert_eq!(
        public,
        vec![
            net.hash().unwrap(),
            veil_zk::mlp::input_hash(&x_q, Fr::from(12345u64)).unwrap(),
            output_hash(&outputs).unwrap()
        ]
    );
    // The receipt names the model file and carries the proof, which veil verify checks.
    let receipt = serde_json::to_vec(&job["job"]["receipt"]).unwrap();
    let trust = common::published_trust(&base).await;
    veil_verify::verify(&receipt, &trust).expect("the proof inside verifies");
    let r = veil_receipt::verify(&receipt).unwrap().receipt;
    assert_eq!(r.model_hash, Some(model_root));
    assert_eq!(r.policy_id.as_deref(), Some(veil_prover::ZK_CIRCUIT_MLP));
    // A receipt re-signed with a claimed other output: signature fine, proof not.
    let mut body = r.clone();
    let mut evidence = body.evidence.clone().unwrap();
    let mut other = outputs.clone();
    other[0] += 1;
    evidence["zk"]["public"][2] = json!(output_hash(&other).unwrap().to_string());
    assert_ne!(Some(&evidence), body.evidence.as_ref());
    body.evidence = Some(evidence);
    let forged = veil_receipt::sign(body, &Identity::generate().unwrap().signing_key()).unwrap();
    let err = veil_verify::verify(forged.to_json_pretty().as_bytes(), &trust).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");

    // A receipt re-signed to report other outputs next to the same proof.
    let mut body = r.clone();
    let mut evidence = body.evidence.clone().unwrap();
    evidence["zk"]["result"]["outputs"][0] = json!(outputs[0] + 1);
    assert_ne!(Some(&evidence), body.evidence.as_ref());
    body.evidence = Some(evidence);
    let forged = veil_receipt::sign(body, &Identity::generate().unwrap().signing_key()).unwrap();
    let err = veil_verify::verify(forged.to_json_pretty().as_bytes(), &trust).unwrap_err();
    assert!(err.to_string().contains("not the ones the proof commits to"), "{err}");

    // Bad requests: wrong width, both kinds of input, an out-of-range int8, garbage.
    let zeros = vec![0i8; 64];
    let lowest = vec![-128i32; 64];
    for (bad, code) in [
        (json!({ "features": [1.0, 2.0], "salt": "1" }), "zk.bad_input"),
        (json!({ "features": x, "input": zeros, "salt": "1" }), "zk.bad_input"),
        (json!({ "input": lowest, "salt": "1" }), "zk.bad_input"),
        (json!({ "input": zeros, "salt": "0xzz" }), "zk.bad_input"),
        (json!({ "input": zeros }), "zk.bad_input"),
    ] {
        let (status, p) = post(&format!("{base}/v1/prove/inference"), &sealed(&key, &bad)).await;
        assert_eq!((status, p["code"].as_str()), (400, Some(code)), "{bad} → {p}");
    }
    // A circuit this prover has no key for.
    let (status, p) = post(&format!("{base}/v1/prove/income-threshold"), &sealed(&key, &json!({}))).await;
    assert_eq!((status, p["code"].as_str()), (404, Some("zk.unknown_circuit")), "{p}");

    // Attestation: fresh evidence for our nonce, binding the keys it advertises.
    let nonce = "prover-challenge-0001";
    let a: veil_protocol::AttestationResponse =
        reqwest::get(format!("{base}/v1/attestation?nonce={nonce}")).await.unwrap().json().await.unwrap();
    let anchors =
        veil_evidence::TrustAnchors { intel_roots: vec![pki.root_der().to_vec()], amd_roots: vec![] };
    let claims =
        veil_evidence::verify(&a.evidence, &anchors, &veil_evidence::Policy::default(), now()).unwrap();
    assert_eq!(claims.measurement_id, mr_td);
    assert_eq!(
        claims.event_log,
        measurement.event_log(),
        "the guest's event log comes with its evidence and replays"
    );
    let rd = a.evidence.runtime_data.clone().unwrap();
    assert_eq!(rd.nonce, nonce);
    assert_eq!(rd.purpose, veil_protocol::PROVER_ATTESTATION_PURPOSE);
    assert_eq!(rd.public_keys["hpke"], key.to_string());
    assert_eq!(rd.public_keys["ed25519"], prover.signing_key_hex());
    assert!(
        veil_evidence::verify(
            &a.evidence,
            &veil_evidence::TrustAnchors::vendor(),
            &veil_evidence::Policy::default(),
            now()
        )
        .is_err(),
        "simulated evidence does not chain to Intel's root"
    );
    let r = reqwest::get(format!("{base}/v1/attestation?nonce=short")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // Registration evidence for an account binds the secp256k1 completion key the
    // prover advertises, with the account in the nonce's place.
    let account = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let reg: veil_protocol::AttestationResponse =
        reqwest::get(format!("{base}/v1/registration?account={account}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    veil_evidence::verify(&reg.evidence, &anchors, &veil_evidence::Policy::default(), now()).unwrap();
    let rd = reg.evidence.runtime_data.clone().unwrap();
    assert_eq!(rd.nonce, account.to_lowercase());
    assert_eq!(rd.purpose, veil_protocol::PROVER_REGISTRATION_PURPOSE);
    let completion_key = format!("{:#x}", prover.completion_address());
    assert_eq!(rd.public_keys["secp256k1"], completion_key);
    assert_eq!(info["secp256k1"], completion_key);
    let r = reqwest::get(format!("{base}/v1/registration?account=alice")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // A completion for a zk job: signed over the job, the account, the proof's output
    // and hash, by the completion key; only for the job's capability holder.
    let target = veil_protocol::CompletionTarget {
        chain_id: 31337,
        job_registry: alloy::primitives::Address::repeat_byte(0x10),
        job_id: alloy::primitives::U256::from(7),
        account: account.parse().unwrap(),
        receipt_id: alloy::primitives::B256::repeat_byte(0xaa),
    };
    let signed: veil_protocol::SignedCompletion =
        common::job(reqwest::Method::POST, &base, &accepted, "/completion")
            .json(&target)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let result = alloy::primitives::U256::from_str_radix(&public[2].to_string(), 10).unwrap();
    assert_eq!(signed.result, result, "the output commitment");
    assert_eq!(signed.proof_hash, veil_protocol::proof_hash(&signed.proof));
    let digest = target.digest(alloy::primitives::B256::from(result.to_be_bytes::<32>()), signed.proof_hash);
    let sig = alloy::primitives::Signature::try_from(signed.signature.as_ref()).unwrap();
    assert_eq!(sig.recover_address_from_prehash(&digest).unwrap(), prover.completion_address());
    let stranger = reqwest::Client::new()
        .post(format!("{base}/v1/proofs/{}/completion", accepted["id"].as_str().unwrap()))
        .bearer_auth("not-the-capability")
        .json(&target)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status().as_u16(), 404, "no capability, no signature");
}
