//! Proofs, verifying keys and public inputs in snarkjs's JSON (`proof.json`,
//! `verification_key.json`, `public.json`), both ways. Field elements are decimal
//! strings; points are projective triples with z = 1; Fq2 elements are `[c0, c1]`.

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_groth16::{Proof, VerifyingKey};
use serde_json::{Value, json};

use crate::ZkError;

fn malformed(what: &'static str, reason: impl Into<String>) -> ZkError {
    ZkError::Malformed { what, reason: reason.into() }
}

fn g1(p: &G1Affine) -> Value {
    match p.xy() {
        Some((x, y)) => json!([x.to_string(), y.to_string(), "1"]),
        None => json!(["0", "1", "0"]),
    }
}

fn g2(p: &G2Affine) -> Value {
    match p.xy() {
        Some((x, y)) => {
            json!([[x.c0.to_string(), x.c1.to_string()], [y.c0.to_string(), y.c1.to_string()], ["1", "0"]])
        }
        None => json!([["0", "0"], ["1", "0"], ["0", "0"]]),
    }
}

fn fq(v: &Value, what: &'static str) -> Result<Fq, ZkError> {
    let s = v.as_str().ok_or_else(|| malformed(what, "a coordinate is not a string"))?;
    crate::decimal(s).ok_or_else(|| malformed(what, "a coordinate is not a decimal number below the modulus"))
}

fn parse_g1(v: &Value, what: &'static str) -> Result<G1Affine, ZkError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or_else(|| malformed(what, "a G1 point is three numbers"))?;
    if a[2].as_str() != Some("1") {
        return Err(malformed(what, "only affine points (z = 1) are accepted"));
    }
    let p = G1Affine::new_unchecked(fq(&a[0], what)?, fq(&a[1], what)?);
    if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(malformed(what, "a G1 point is not on the curve"));
    }
    Ok(p)
}

fn parse_fq2(v: &Value, what: &'static str) -> Result<Fq2, ZkError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| malformed(what, "an Fq2 element is two numbers"))?;
    Ok(Fq2::new(fq(&a[0], what)?, fq(&a[1], what)?))
}

fn parse_g2(v: &Value, what: &'static str) -> Result<G2Affine, ZkError> {
    let a =
        v.as_array().filter(|a| a.len() == 3).ok_or_else(|| malformed(what, "a G2 point is three pairs"))?;
    if a[2] != json!(["1", "0"]) {
        return Err(malformed(what, "only affine points (z = 1) are accepted"));
    }
    let p = G2Affine::new_unchecked(parse_fq2(&a[0], what)?, parse_fq2(&a[1], what)?);
    if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(malformed(what, "a G2 point is not on the curve or not in the subgroup"));
    }
    Ok(p)
}

/// `proof.json`.
pub fn proof_to_json(p: &Proof<Bn254>) -> Value {
    json!({ "pi_a": g1(&p.a), "pi_b": g2(&p.b), "pi_c": g1(&p.c), "protocol": "groth16", "curve": "bn128" })
}

/// Read `proof.json`.
pub fn proof_from_json(v: &Value) -> Result<Proof<Bn254>, ZkError> {
    if v["protocol"] != "groth16" || v["curve"] != "bn128" {
        return Err(malformed("proof", "not a groth16 proof on bn128"));
    }
    Ok(Proof {
        a: parse_g1(&v["pi_a"], "proof")?,
        b: parse_g2(&v["pi_b"], "proof")?,
        c: parse_g1(&v["pi_c"], "proof")?,
    })
}

/// `verification_key.json`.
pub fn vk_to_json(vk: &VerifyingKey<Bn254>) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len() - 1,
        "vk_alpha_1": g1(&vk.alpha_g1),
        "vk_beta_2": g2(&vk.beta_g2),
        "vk_gamma_2": g2(&vk.gamma_g2),
        "vk_delta_2": g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(g1).collect::<Vec<_>>(),
    })
}

/// A verifying key's name: the 0G root of its JCS-canonical snarkjs JSON — what receipts
/// (`zk.proof` events), `GET /v1/prover` and verifiers' pins call `vk_hash`.
pub fn vk_hash(vk: &Value) -> Result<veil_content::Root, ZkError> {
    let bytes = veil_jcs::to_canonical_vec(vk)
        .map_err(|e| ZkError::Malformed { what: "verifying key", reason: e.to_string() })?;
    veil_content::root_of(&bytes)
        .map_err(|e| ZkError::Malformed { what: "verifying key", reason: e.to_string() })
}

/// Read `verification_key.json`.
pub fn vk_from_json(v: &Value) -> Result<VerifyingKey<Bn254>, ZkError> {
    if v["protocol"] != "groth16" || v["curve"] != "bn128" {
        return Err(malformed("verification key", "not a groth16 key on bn128"));
    }
    let ic = v["IC"]
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= 1025)
        .ok_or_else(|| malformed("verification key", "IC must list 1 to 1025 points"))?;
    if v["nPublic"].as_u64() != Some(ic.len() as u64 - 1) {
        return Err(malformed("verification key", "nPublic does not match IC"));
    }
    Ok(VerifyingKey {
        alpha_g1: parse_g1(&v["vk_alpha_1"], "verification key")?,
        beta_g2: parse_g2(&v["vk_beta_2"], "verification key")?,
        gamma_g2: parse_g2(&v["vk_gamma_2"], "verification key")?,
        delta_g2: parse_g2(&v["vk_delta_2"], "verification key")?,
        gamma_abc_g1: ic.iter().map(|p| parse_g1(p, "verification key")).collect::<Result<_, _>>()?,
    })
}

/// `public.json`.
pub fn public_to_json(public: &[Fr]) -> Value {
    Value::Array(public.iter().map(|f| Value::String(f.to_string())).collect())
}

/// Read `public.json` (decimal strings below the scalar field's modulus).
pub fn public_from_json(v: &Value) -> Result<Vec<Fr>, ZkError> {
    let a = v.as_array().ok_or_else(|| malformed("public inputs", "not an array"))?;
    a.iter()
        .map(|x| {
            let s = x.as_str().ok_or_else(|| malformed("public inputs", "not a string"))?;
            crate::decimal(s)
                .ok_or_else(|| malformed("public inputs", "not a decimal number below the modulus"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groth::{dev_setup, prove_income, verify};
    use crate::income::IncomeThreshold;
    use ark_std::rand::SeedableRng;
    use ark_std::rand::rngs::StdRng;

    #[test]
    fn proofs_keys_and_inputs_round_trip_through_snarkjs_json() {
        let mut rng = StdRng::seed_from_u64(1);
        let keys = dev_setup(IncomeThreshold::blank(16), &mut rng).unwrap();
        let s = IncomeThreshold {
            account: Fr::from(1u64),
            epoch: 2,
            amounts: vec![5, 6],
            salt: Fr::from(3u64),
            threshold: 10,
            slots: 16,
        };
        let (proof, public) = prove_income(&keys.pk, s, &mut rng).unwrap();
        let p2 = proof_from_json(&proof_to_json(&proof)).unwrap();
        let vk2 = vk_from_json(&vk_to_json(&keys.vk)).unwrap();
        let pub2 = public_from_json(&public_to_json(&public)).unwrap();
        assert_eq!((&p2, &vk2, &pub2), (&proof, &keys.vk, &public));
        assert!(verify(&vk2, &pub2, &proof).unwrap());
        assert_eq!(public_to_json(&[Fr::from(10u64)]), json!(["10"]));
    }

    #[test]
    fn malformed_documents_are_refused_not_panicked_on() {
        let modulus = "21888242871839275222246405745257275088548364400416711922079930019245154185";
        for bad in [json!(["x"]), json!([1]), json!(["-1"]), json!([format!("{modulus}99999")]), json!({})] {
            assert!(public_from_json(&bad).is_err(), "{bad}");
        }
        let off_curve = json!({"pi_a": ["1", "3", "1"], "pi_b": [["0","0"],["0","0"],["1","0"]], "pi_c": ["1","2","1"], "protocol": "groth16", "curve": "bn128"});
        assert!(proof_from_json(&off_curve).is_err());
        assert!(vk_from_json(&json!({"protocol": "groth16", "curve": "bn128", "IC": []})).is_err());
    }
}
