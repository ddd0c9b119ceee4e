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

/// A BN254 Groth16 proving key.
pub type Pk = ProvingKey<Bn254>;
/// A BN254 Groth16 proof.
pub type GrothProof = Proof<Bn254>;

/// How proofs under a proving key are made: the key's QAP reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// arkworks' own (keys from [`dev_setup`]).
    Arkworks,
    /// snarkjs's (keys imported from a ceremony's `.zkey`).
    Snarkjs,
}

/// A proving key and its verifying key.
pub struct Keys {
    /// For the prover.
    pub pk: ProvingKey<Bn254>,
    /// For everyone else.
    pub vk: VerifyingKey<Bn254>,
    /// How to prove under `pk`.
    pub reduction: Reduction,
}

/// Read a proving key: a snarkjs `.zkey` (by its magic) or arkworks' encoding.
pub fn read_pk(bytes: &[u8]) -> Result<(ProvingKey<Bn254>, Reduction), ZkError> {
    if bytes.starts_with(b"zkey") {
        Ok((crate::circom::pk_from_zkey(bytes)?, Reduction::Snarkjs))
    } else {
        Ok((pk_from_bytes(bytes)?, Reduction::Arkworks))
    }
}

/// Prove `circuit` under `pk` with its reduction.
pub fn prove_with<C: ConstraintSynthesizer<Fr>>(
    pk: &ProvingKey<Bn254>,
    reduction: Reduction,
    circuit: C,
    rng: &mut StdRng,
) -> Result<Proof<Bn254>, ZkError> {
    match reduction {
        Reduction::Arkworks => prove(pk, circuit, rng),
        Reduction::Snarkjs => crate::circom::prove_zkey(pk, circuit, rng),
    }
}

/// A generator seeded from the operating system.
pub fn os_rng() -> Result<StdRng, ZkError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ZkError::Groth16(format!("randomness: {e}")))?;
    Ok(StdRng::from_seed(seed))
}

/// A uniformly random field element (a salt), from the operating system.
pub fn random_fr() -> Result<Fr, ZkError> {
    Ok(<Fr as ark_std::UniformRand>::rand(&mut os_rng()?))
}

/// Development keys for `blank`'s circuit from `rng`. Whoever knows the randomness
/// can forge proofs: production keys come from a phase-2 ceremony instead.
pub fn dev_setup<C: ConstraintSynthesizer<Fr>>(blank: C, rng: &mut StdRng) -> Result<Keys, ZkError> {
    let (pk, vk) =
        Groth16::<Bn254>::setup(blank, rng).map_err(|e| ZkError::Groth16(format!("setup: {e}")))?;
    Ok(Keys {
        pk,
        vk,
        reduction: Reduction::Arkworks,
    })
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
    prove_income_with(pk, Reduction::Arkworks, statement, rng)
}

/// [`prove_income`] under a key of either reduction.
pub fn prove_income_with(
    pk: &ProvingKey<Bn254>,
    reduction: Reduction,
    statement: IncomeThreshold,
    rng: &mut StdRng,
) -> Result<(Proof<Bn254>, Vec<Fr>), ZkError> {
    let public = statement.public_inputs()?;
    let proof = prove_with(pk, reduction, statement, rng)?;
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
