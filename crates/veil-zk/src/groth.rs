//! Groth16 over BN254: keys, proofs, verification.

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_relations::gr1cs::ConstraintSynthesizer;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_snark::{CircuitSpecificSetupSNARK, SNARK};
use ark_std::rand::SeedableRng;
use ark_std::rand::rngs::StdRng;

use crate::ZkError;
use crate::income::IncomeThreshold;

/// A proving key and its verifying key.
pub struct Keys {
    /// For the prover.
    pub pk: ProvingKey<Bn254>,
    /// For everyone else.
    pub vk: VerifyingKey<Bn254>,
}

/// A generator seeded from the operating system.
pub fn os_rng() -> Result<StdRng, ZkError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ZkError::Groth16(format!("randomness: {e}")))?;
    Ok(StdRng::from_seed(seed))
}

/// Development keys for `blank`'s circuit from `rng`. Whoever knows the randomness
/// can forge proofs: production keys come from a phase-2 ceremony instead.
pub fn dev_setup<C: ConstraintSynthesizer<Fr>>(blank: C, rng: &mut StdRng) -> Result<Keys, ZkError> {
    let (pk, vk) =
        Groth16::<Bn254>::setup(blank, rng).map_err(|e| ZkError::Groth16(format!("setup: {e}")))?;
    Ok(Keys { pk, vk })
}

/// Prove `circuit` (whose witness the caller has checked).
pub fn prove<C: ConstraintSynthesizer<Fr>>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    rng: &mut StdRng,
) -> Result<Proof<Bn254>, ZkError> {
    Groth16::<Bn254>::prove(pk, circuit, rng).map_err(|e| ZkError::Groth16(format!("prove: {e}")))
}

/// Prove an income statement: refused with [`ZkError::False`] before any work when
/// the payments do not reach the threshold. Returns the proof and its public inputs.
pub fn prove_income(
    pk: &ProvingKey<Bn254>,
    statement: IncomeThreshold,
    rng: &mut StdRng,
) -> Result<(Proof<Bn254>, Vec<Fr>), ZkError> {
    let public = statement.public_inputs()?;
    let proof = prove(pk, statement, rng)?;
    Ok((proof, public))
}

/// A proving key as bytes (arkworks' compressed encoding).
pub fn pk_to_bytes(pk: &ProvingKey<Bn254>) -> Result<Vec<u8>, ZkError> {
    let mut out = Vec::new();
    pk.serialize_compressed(&mut out)
        .map_err(|e| ZkError::Groth16(format!("encoding the proving key: {e}")))?;
    Ok(out)
}

/// Read a proving key, checking every point.
pub fn pk_from_bytes(bytes: &[u8]) -> Result<ProvingKey<Bn254>, ZkError> {
    ProvingKey::deserialize_compressed(bytes).map_err(|e| ZkError::Malformed {
        what: "proving key",
        reason: e.to_string(),
    })
}

/// How many constraints `circuit` has (synthesised without a witness check).
pub fn constraints<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<usize, ZkError> {
    let cs = ark_relations::gr1cs::ConstraintSystem::<Fr>::new_ref();
    circuit
        .generate_constraints(cs.clone())
        .map_err(|e| ZkError::Groth16(e.to_string()))?;
    Ok(cs.num_constraints())
}

/// Check `proof` for `public` under `vk`.
pub fn verify(vk: &VerifyingKey<Bn254>, public: &[Fr], proof: &Proof<Bn254>) -> Result<bool, ZkError> {
    if public.len() + 1 != vk.gamma_abc_g1.len() {
        return Err(ZkError::Input(format!(
            "{} public inputs for a key that takes {}",
            public.len(),
            vk.gamma_abc_g1.len().saturating_sub(1)
        )));
    }
    let pvk: PreparedVerifyingKey<Bn254> = ark_groth16::prepare_verifying_key(vk);
    Groth16::<Bn254>::verify_with_processed_vk(&pvk, public, proof)
        .map_err(|e| ZkError::Groth16(format!("verify: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_only_for_their_public_inputs() {
        let mut rng = StdRng::seed_from_u64(7);
        let keys = dev_setup(IncomeThreshold::blank(16), &mut rng).unwrap();
        let statement = IncomeThreshold {
            account: Fr::from(42u64),
            epoch: 7,
            amounts: vec![100, 250, 75],
            salt: Fr::from(99u64),
            threshold: 400,
            slots: 16,
        };
        let (proof, public) = prove_income(&keys.pk, statement.clone(), &mut rng).unwrap();
        assert!(verify(&keys.vk, &public, &proof).unwrap());
        for i in 0..public.len() {
            let mut other = public.clone();
            other[i] += Fr::from(1u64);
            assert!(
                !verify(&keys.vk, &other, &proof).unwrap(),
                "public input {i} changed"
            );
        }
        assert!(verify(&keys.vk, &public[..2], &proof).is_err());
        let mut false_statement = statement;
        false_statement.threshold = 426;
        assert!(matches!(
            prove_income(&keys.pk, false_statement, &mut rng),
            Err(ZkError::False(_))
        ));
    }
}
