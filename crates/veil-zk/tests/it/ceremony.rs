//! Production keys from a snarkjs phase-2 ceremony, once, end to end: Veil exports
//! the circuit as `.r1cs`, snarkjs runs a (small) powers-of-tau, the Groth16 setup on
//! that file and one phase-2 contribution, checks the transcript, and exports the
//! verifying key; Veil imports the `.zkey`, proves with it, and both arkworks and
//! snarkjs accept the proof under the ceremony's key and refuse a changed input.

use std::path::{Path, PathBuf};
use std::process::Command;

use ark_std::rand::SeedableRng;
use ark_std::rand::rngs::StdRng;
use veil_zk::circom::{pk_from_zkey, r1cs_bytes};
use veil_zk::groth::{Reduction, prove_with, read_pk};
use veil_zk::income::IncomeThreshold;
use veil_zk::{Fr, ZkError, groth, snarkjs};

fn snarkjs_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zk/node_modules/.bin/snarkjs");
    assert!(bin.exists(), "snarkjs is missing: run scripts/zk.sh (npm ci in zk/)");
    bin
}

fn snarkjs(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(snarkjs_bin()).args(args).current_dir(dir).output().expect("snarkjs");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "snarkjs {args:?} failed:\n{text}");
    text
}

/// A prepared powers-of-tau file of 2^power, made once per target directory.
fn ptau(power: u32) -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("veil-pot{power}.ptau"));
    if cache.exists() {
        return cache;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    snarkjs(d, &["powersoftau", "new", "bn128", &power.to_string(), "pot0.ptau"]);
    snarkjs(
        d,
        &["powersoftau", "contribute", "pot0.ptau", "pot1.ptau", "--name=first", "-e=veil test entropy 1"],
    );
    snarkjs(d, &["powersoftau", "prepare", "phase2", "pot1.ptau", "pot.ptau"]);
    // Renamed into place: a run cut short never leaves a half-written cache.
    let staged = cache.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::copy(d.join("pot.ptau"), &staged).unwrap();
    std::fs::rename(&staged, &cache).unwrap();
    cache
}

#[test]
fn a_snarkjs_ceremony_key_proves_veil_circuits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One payment slot keeps the ceremony small (snarkjs prepares 2^11 powers in about
    // 30 s); the code paths are those of every circuit.
    let blank = IncomeThreshold::blank(1);
    std::fs::write(d.join("income.r1cs"), r1cs_bytes(blank.clone()).unwrap()).unwrap();
    let info = snarkjs(d, &["r1cs", "info", "income.r1cs"]);
    let constraints = groth::constraints(blank).unwrap();
    assert!(
        info.contains(&format!("# of Constraints: {constraints}")),
        "snarkjs reads the exported circuit: {info}"
    );
    assert!(info.contains("# of Public Inputs: 3"), "{info}");
    let power = (constraints + 4).next_power_of_two().trailing_zeros().max(8);

    // Phase 1 (one contribution; prepared once per target directory, as it is the slow
    // part and carries no secret of this test) and phase 2 (one contribution).
    let ptau = ptau(power);
    snarkjs(d, &["groth16", "setup", "income.r1cs", ptau.to_str().unwrap(), "income_0.zkey"]);
    snarkjs(
        d,
        &["zkey", "contribute", "income_0.zkey", "income.zkey", "--name=veil", "-e=veil test entropy 2"],
    );
    let transcript = snarkjs(d, &["zkey", "verify", "income.r1cs", ptau.to_str().unwrap(), "income.zkey"]);
    assert!(transcript.contains("ZKey Ok!"), "{transcript}");
    snarkjs(d, &["zkey", "export", "verificationkey", "income.zkey", "vk.json"]);

    let (pk, reduction) = read_pk(&std::fs::read(d.join("income.zkey")).unwrap()).unwrap();
    assert_eq!(reduction, Reduction::Snarkjs, "told apart by the file's magic");
    let vk_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("vk.json")).unwrap()).unwrap();
    let vk = snarkjs::vk_from_json(&vk_json).unwrap();
    assert_eq!(pk.vk, vk, "the imported key is the ceremony's");

    let statement = IncomeThreshold {
        account: Fr::from(0xa11ce_u64),
        epoch: 202611,
        amounts: vec![465_000],
        salt: Fr::from(77u64),
        threshold: 400_000,
        slots: 1,
    };
    let public = statement.public_inputs().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let proof = prove_with(&pk, Reduction::Snarkjs, statement.clone(), &mut rng).unwrap();
    assert!(groth::verify(&vk, &public, &proof).unwrap(), "arkworks accepts it");
    std::fs::write(d.join("proof.json"), snarkjs::proof_to_json(&proof).to_string()).unwrap();
    std::fs::write(d.join("public.json"), snarkjs::public_to_json(&public).to_string()).unwrap();
    assert!(snarkjs(d, &["groth16", "verify", "vk.json", "public.json", "proof.json"]).contains("OK"));
    let mut raised = public.clone();
    raised[1] += Fr::from(1u64);
    assert_ne!(raised, public);
    assert!(!groth::verify(&vk, &raised, &proof).unwrap());
    std::fs::write(d.join("public.json"), snarkjs::public_to_json(&raised).to_string()).unwrap();
    let out = Command::new(snarkjs_bin())
        .args(["groth16", "verify", "vk.json", "public.json", "proof.json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OK!"), "snarkjs refuses it");

    // A false statement is refused before any proving; a key for another circuit too.
    let mut false_statement = statement.clone();
    false_statement.threshold = 465_001;
    assert!(matches!(prove_with(&pk, Reduction::Snarkjs, false_statement, &mut rng), Err(ZkError::False(_))));
    let mut bigger = statement;
    bigger.slots = 2;
    assert!(matches!(prove_with(&pk, Reduction::Snarkjs, bigger, &mut rng), Err(ZkError::Input(_))));

    // A damaged zkey is a clear error, never a panic or a wrong key.
    let bytes = std::fs::read(d.join("income.zkey")).unwrap();
    for cut in [0, 3, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(pk_from_zkey(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    // snarkjs writes the Groth16 header as the second section, at byte 28; alpha₁'s
    // x coordinate starts 84 bytes into its body.
    assert_eq!(&bytes[28..32], &2u32.to_le_bytes());
    let mut flipped = bytes.clone();
    flipped[40 + 84 + 5] ^= 0x40;
    assert_ne!(flipped, bytes);
    assert!(matches!(pk_from_zkey(&flipped), Err(ZkError::Malformed { .. })));
    assert!(pk_from_zkey(b"r1cs\x01\x00\x00\x00").is_err(), "another format");
}
