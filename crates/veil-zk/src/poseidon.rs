//! Poseidon over BN254 with circomlib's parameters and state layout: state[0] is the
//! capacity (zero), inputs follow, x⁵ S-box, 8 full rounds around the partial ones,
//! the output is state[0]. Natively through `light-poseidon`; in-circuit through the
//! gadget below, which replays the same rounds with the same constants (arkworks' own
//! sponge has another layout and would not match circomlibjs or on-chain libraries).

use ark_bn254::Fr;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::SynthesisError;
use light_poseidon::parameters::bn254_x5::get_poseidon_parameters;
use light_poseidon::{Poseidon, PoseidonHasher, PoseidonParameters};

use crate::ZkError;

/// Most inputs one Poseidon call takes (circomlib's widths that light-poseidon ships).
pub const MAX_INPUTS: usize = 12;

fn params(inputs: usize) -> Result<PoseidonParameters<Fr>, ZkError> {
    if inputs == 0 || inputs > MAX_INPUTS {
        return Err(ZkError::Poseidon(format!(
            "{inputs} inputs: 1 to {MAX_INPUTS} are supported"
        )));
    }
    get_poseidon_parameters::<Fr>((inputs + 1) as u8).map_err(|e| ZkError::Poseidon(e.to_string()))
}

/// `Poseidon(inputs)` exactly as circomlibjs computes it.
pub fn hash(inputs: &[Fr]) -> Result<Fr, ZkError> {
    params(inputs.len())?;
    let mut h = Poseidon::<Fr>::new_circom(inputs.len()).map_err(|e| ZkError::Poseidon(e.to_string()))?;
    h.hash(inputs).map_err(|e| ZkError::Poseidon(e.to_string()))
}

fn sbox(x: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    let x2 = x.square()?;
    let x4 = x2.square()?;
    Ok(x4 * x)
}

/// The same hash as constraints: 3 per S-box, the rest linear.
pub fn hash_var(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let p = params(inputs.len()).map_err(|_| SynthesisError::Unsatisfiable)?;
    let width = p.width;
    let mut state: Vec<FpVar<Fr>> = Vec::with_capacity(width);
    state.push(FpVar::zero());
    state.extend(inputs.iter().cloned());
    let half = p.full_rounds / 2;
    let rounds = p.full_rounds + p.partial_rounds;
    for round in 0..rounds {
        for (i, s) in state.iter_mut().enumerate() {
            *s += FpVar::constant(p.ark[round * width + i]);
        }
        let full = round < half || round >= half + p.partial_rounds;
        if full {
            for s in state.iter_mut() {
                *s = sbox(s)?;
            }
        } else {
            state[0] = sbox(&state[0])?;
        }
        state = (0..width)
            .map(|i| {
                state
                    .iter()
                    .zip(&p.mds[i])
                    .fold(FpVar::zero(), |acc, (s, m)| acc + s * FpVar::constant(*m))
            })
            .collect();
    }
    Ok(state.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{BigInteger, PrimeField};
    use ark_r1cs_std::GR1CSVar;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_relations::gr1cs::ConstraintSystem;

    fn hex(f: Fr) -> String {
        let bytes = f.into_bigint().to_bytes_be();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_circomlib_test_vectors() {
        // circomlib test/poseidoncircuit.js and circomlibjs test/poseidon.js.
        let f = |v: &[u64]| v.iter().map(|&x| Fr::from(x)).collect::<Vec<_>>();
        assert_eq!(
            hex(hash(&f(&[1, 2])).unwrap()),
            "115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a"
        );
        assert_eq!(
            hex(hash(&f(&[1, 2, 3, 4])).unwrap()),
            "299c867db6c1fdd79dcefa40e4510b9837e60ebb1ce0663dbaa525df65250465"
        );
        assert!(hash(&[]).is_err());
        assert!(hash(&[Fr::from(1u64); 13]).is_err());
    }

    #[test]
    fn the_gadget_computes_the_native_hash_for_every_width() {
        for n in 1..=MAX_INPUTS {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let xs: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * 7919 + 3)).collect();
            let vars: Vec<FpVar<Fr>> = xs
                .iter()
                .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
                .collect();
            let out = hash_var(&vars).unwrap();
            assert_eq!(out.value().unwrap(), hash(&xs).unwrap(), "width {}", n + 1);
            assert!(cs.is_satisfied().unwrap());
        }
    }

    #[test]
    fn a_changed_witness_breaks_the_gadget() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let xs = [Fr::from(1u64), Fr::from(2u64)];
        let vars: Vec<FpVar<Fr>> = xs
            .iter()
            .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
            .collect();
        let out = hash_var(&vars).unwrap();
        let expected = FpVar::new_input(
            cs.clone(),
            || Ok(hash(&[Fr::from(1u64), Fr::from(3u64)]).unwrap()),
        )
        .unwrap();
        ark_r1cs_std::eq::EqGadget::enforce_equal(&out, &expected).unwrap();
        assert!(
            !cs.is_satisfied().unwrap(),
            "a hash of other inputs does not satisfy"
        );
    }
}
