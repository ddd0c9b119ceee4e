//! Groth16 over BN254: keys, proofs, verification.

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_relations::gr1cs::ConstraintSynthesizer;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Valid, Validate};
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
pub fn prove_with<C: Statement>(
    pk: &ProvingKey<Bn254>,
    reduction: Reduction,
    circuit: C,
    rng: &mut StdRng,
) -> Result<Proof<Bn254>, ZkError> {
    let public = circuit.public()?;
    let proof = match reduction {
        Reduction::Arkworks => prove(pk, circuit, rng)?,
        Reduction::Snarkjs => crate::circom::prove_zkey(pk, circuit, rng)?,
    };
    // The key's queries are trusted, not subgroup-checked (see pk_from_bytes): a proof
    // leaves only once it verifies under the key's own verifying key.
    if !verify(&pk.vk, &public, &proof)? {
        return Err(ZkError::Groth16(
            "the proving key made a proof that does not verify: the key is damaged or for another circuit"
                .into(),
        ));
    }
    Ok(proof)
}

/// A statement Veil proves: a circuit that knows its public inputs (and refuses,
/// before any proving, to give them for a false statement).
pub trait Statement: ConstraintSynthesizer<Fr> {
    /// The public inputs, in the circuit's order.
    fn public(&self) -> Result<Vec<Fr>, ZkError>;
}

impl Statement for IncomeThreshold {
    fn public(&self) -> Result<Vec<Fr>, ZkError> {
        self.public_inputs()
    }
}

impl Statement for crate::mlp::Inference {
    fn public(&self) -> Result<Vec<Fr>, ZkError> {
        Ok(self.claim()?.public)
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
    Ok(Keys { pk, vk, reduction: Reduction::Arkworks })
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

/// A proving key as bytes (arkworks' uncompressed encoding: reading it back needs no
/// square roots).
pub fn pk_to_bytes(pk: &ProvingKey<Bn254>) -> Result<Vec<u8>, ZkError> {
    let mut out = Vec::new();
    pk.serialize_uncompressed(&mut out)
        .map_err(|e| ZkError::Groth16(format!("encoding the proving key: {e}")))?;
    Ok(out)
}

/// Read a proving key. Every point must be on the curve, and the verifying key inside
/// is checked in full (subgroups too). The queries' G2 points are not put through
/// subgroup checks, which would take seconds per load: a damaged key can only make
/// proofs that fail verification, and [`prove_with`] verifies every proof it makes
/// before returning it. Keys written compressed (older `veil zk setup`) still load,
/// fully checked.
pub fn pk_from_bytes(bytes: &[u8]) -> Result<ProvingKey<Bn254>, ZkError> {
    let malformed = |e: String| ZkError::Malformed { what: "proving key", reason: e };
    let pk = match ProvingKey::<Bn254>::deserialize_with_mode(bytes, Compress::No, Validate::No) {
        Ok(pk) => pk,
        Err(_) => return ProvingKey::deserialize_compressed(bytes).map_err(|e| malformed(e.to_string())),
    };
    pk.vk.check().map_err(|e| malformed(e.to_string()))?;
    let g1_ok = [&pk.a_query, &pk.b_g1_query, &pk.h_query, &pk.l_query]
        .iter()
        .all(|q| q.iter().all(|p| p.is_on_curve()))
        && pk.beta_g1.is_on_curve()
        && pk.delta_g1.is_on_curve();
    if !g1_ok || !pk.b_g2_query.iter().all(|p| p.is_on_curve()) {
        return Err(malformed("a point is not on the curve".into()));
    }
    Ok(pk)
}

/// How many constraints `circuit` has (synthesised without a witness check).
pub fn constraints<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<usize, ZkError> {
    let cs = ark_relations::gr1cs::ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).map_err(|e| ZkError::Groth16(e.to_string()))?;
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
            assert!(!verify(&keys.vk, &other, &proof).unwrap(), "public input {i} changed");
        }
        assert!(verify(&keys.vk, &public[..2], &proof).is_err());
        let mut false_statement = statement;
        false_statement.threshold = 426;
        assert!(matches!(prove_income(&keys.pk, false_statement, &mut rng), Err(ZkError::False(_))));
    }

    #[test]
    fn keys_round_trip_and_a_damaged_key_never_yields_a_proof() {
        use ark_ec::AffineRepr;
        let mut rng = StdRng::seed_from_u64(8);
        let keys = dev_setup(IncomeThreshold::blank(2), &mut rng).unwrap();
        let bytes = pk_to_bytes(&keys.pk).unwrap();
        assert_eq!(pk_from_bytes(&bytes).unwrap(), keys.pk);
        let (_, reduction) = read_pk(&bytes).unwrap();
        assert_eq!(reduction, Reduction::Arkworks);
        assert!(pk_from_bytes(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        let statement = IncomeThreshold {
            account: Fr::from(1u64),
            epoch: 1,
            amounts: vec![5, 6],
            salt: Fr::from(2u64),
            threshold: 11,
            slots: 2,
        };
        assert!(prove_with(&keys.pk, Reduction::Arkworks, statement.clone(), &mut rng).is_ok());
        // A query point swapped for another point on the curve: loads, cannot prove.
        let mut damaged = keys.pk.clone();
        damaged.a_query[3] = (damaged.a_query[3] + ark_bn254::G1Affine::generator()).into();
        assert_ne!(damaged, keys.pk);
        let reloaded = pk_from_bytes(&pk_to_bytes(&damaged).unwrap()).unwrap();
        let err = prove_with(&reloaded, Reduction::Arkworks, statement, &mut rng).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
}
