//! Poseidon over BN254 with circomlib's parameters and state layout: state[0] is the
//! capacity (zero), inputs follow, x⁵ S-box, 8 full rounds around the partial ones,
//! the output is state[0]. Natively through `light-poseidon`; in-circuit through the
//! gadget below, which replays the same rounds with the same constants (arkworks' own
//! sponge has another layout and would not match circomlibjs or on-chain libraries).

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use ark_r1cs_std::GR1CSVar;
use ark_r1cs_std::fields::fp::{AllocatedFp, FpVar};
use ark_relations::gr1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};
use light_poseidon::parameters::bn254_x5::get_poseidon_parameters;
use light_poseidon::{Poseidon, PoseidonHasher, PoseidonParameters};

use crate::ZkError;

/// Most inputs one Poseidon call takes (circomlib's widths that light-poseidon ships).
pub const MAX_INPUTS: usize = 12;

fn params(inputs: usize) -> Result<PoseidonParameters<Fr>, ZkError> {
    if inputs == 0 || inputs > MAX_INPUTS {
        return Err(ZkError::Poseidon(format!("{inputs} inputs: 1 to {MAX_INPUTS} are supported")));
    }
    get_poseidon_parameters::<Fr>((inputs + 1) as u8).map_err(|e| ZkError::Poseidon(e.to_string()))
}

/// `Poseidon(inputs)` exactly as circomlibjs computes it.
pub fn hash(inputs: &[Fr]) -> Result<Fr, ZkError> {
    params(inputs.len())?;
    let mut h = Poseidon::<Fr>::new_circom(inputs.len()).map_err(|e| ZkError::Poseidon(e.to_string()))?;
    h.hash(inputs).map_err(|e| ZkError::Poseidon(e.to_string()))
}

/// One state element between S-boxes: a flat linear combination of allocated
/// variables plus a constant, and its value when proving.
///
/// arkworks would build the MDS layers as symbolic linear combinations nested round
/// after round; inlining them (every partial round mixes all elements) cost seconds
/// per proof. Here only S-box inputs and the output reach the constraint system, each
/// as one flat combination, and the partial rounds are folded algebraically (below).
#[derive(Clone)]
struct Lin {
    terms: Vec<(Fr, Variable)>,
    constant: Fr,
    value: Option<Fr>,
}

impl Lin {
    fn atom(v: Variable, value: Option<Fr>) -> Self {
        Self { terms: vec![(Fr::one(), v)], constant: Fr::zero(), value }
    }

    fn lc(&self) -> LinearCombination<Fr> {
        let mut terms = self.terms.clone();
        if !self.constant.is_zero() {
            terms.push((self.constant, Variable::One));
        }
        LinearCombination(terms)
    }
}

/// Per width, what the partial rounds reduce to. With `MD` the MDS matrix with its
/// first column zeroed (the S-boxed element is replaced by a fresh variable), the
/// state entering partial round r is `(MD)^(r−1)·E + Σₖ wᵣ₋₁₋ₖ·aₖ + constants`, where
/// E is the state entering the partial rounds and aₖ the k-th partial S-box output.
struct Partial {
    /// Row 0 of (MD)^r, r = 0 … partial rounds.
    row0: Vec<Vec<Fr>>,
    /// (MD)^j · M · e₀, j = 0 … partial rounds − 1.
    w: Vec<Vec<Fr>>,
    /// (MD)^(partial rounds).
    exit: Vec<Vec<Fr>>,
}

fn partial(p: &PoseidonParameters<Fr>) -> &'static Partial {
    static CACHE: [std::sync::OnceLock<Partial>; MAX_INPUTS + 2] =
        [const { std::sync::OnceLock::new() }; MAX_INPUTS + 2];
    CACHE[p.width].get_or_init(|| {
        let t = p.width;
        let md: Vec<Vec<Fr>> =
            (0..t).map(|i| (0..t).map(|j| if j == 0 { Fr::zero() } else { p.mds[i][j] }).collect()).collect();
        let mul_mv = |m: &[Vec<Fr>], v: &[Fr]| -> Vec<Fr> {
            m.iter().map(|row| row.iter().zip(v).map(|(a, b)| *a * b).sum()).collect()
        };
        let mut row0 = vec![(0..t).map(|j| if j == 0 { Fr::one() } else { Fr::zero() }).collect::<Vec<Fr>>()];
        for _ in 0..p.partial_rounds {
            let prev = row0.last().cloned().unwrap_or_default();
            row0.push((0..t).map(|j| (0..t).map(|i| prev[i] * md[i][j]).sum()).collect());
        }
        let mut w = vec![(0..t).map(|i| p.mds[i][0]).collect::<Vec<Fr>>()];
        for _ in 1..p.partial_rounds {
            let prev = w.last().cloned().unwrap_or_default();
            w.push(mul_mv(&md, &prev));
        }
        let mut exit: Vec<Vec<Fr>> =
            (0..t).map(|i| (0..t).map(|j| if i == j { Fr::one() } else { Fr::zero() }).collect()).collect();
        for _ in 0..p.partial_rounds {
            exit = (0..t)
                .map(|i| (0..t).map(|j| (0..t).map(|k| md[i][k] * exit[k][j]).sum()).collect())
                .collect();
        }
        Partial { row0, w, exit }
    })
}

/// x⁵ as three constraints (x² = x·x, x⁴ = x²·x², x⁵ = x⁴·x); a constant costs none.
fn sbox(cs: &ConstraintSystemRef<Fr>, x: &Lin) -> Result<Lin, SynthesisError> {
    if x.terms.is_empty() {
        let c = x.constant.pow([5]);
        return Ok(Lin { terms: Vec::new(), constant: c, value: Some(c) });
    }
    let x2v = x.value.map(|v| v.square());
    let x4v = x2v.map(|v| v.square());
    let x5v = x4v.zip(x.value).map(|(a, b)| a * b);
    let witness = |v: Option<Fr>| cs.new_witness_variable(|| v.ok_or(SynthesisError::AssignmentMissing));
    let (x2, x4, x5) = (witness(x2v)?, witness(x4v)?, witness(x5v)?);
    let one = |v| LinearCombination(vec![(Fr::one(), v)]);
    let lc = x.lc();
    cs.enforce_r1cs_constraint(|| lc.clone(), || lc.clone(), || one(x2))?;
    cs.enforce_r1cs_constraint(|| one(x2), || one(x2), || one(x4))?;
    cs.enforce_r1cs_constraint(|| one(x4), || lc, || one(x5))?;
    Ok(Lin::atom(x5, x5v))
}

/// `m · state` for a full round: each element's terms scaled and concatenated.
fn mix(m: &[Vec<Fr>], state: &[Lin]) -> Vec<Lin> {
    m.iter()
        .map(|row| {
            let mut out = Lin { terms: Vec::new(), constant: Fr::zero(), value: Some(Fr::zero()) };
            for (s, c) in state.iter().zip(row) {
                out.terms.extend(s.terms.iter().map(|(k, v)| (*k * c, *v)));
                out.constant += s.constant * c;
                out.value = out.value.zip(s.value).map(|(o, v)| o + v * c);
            }
            out
        })
        .collect()
}

/// The same hash as constraints: 3 per S-box, the linear layers free.
pub fn hash_var(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let p = params(inputs.len()).map_err(|_| SynthesisError::Unsatisfiable)?;
    let cs = inputs.iter().fold(ConstraintSystemRef::None, |cs, x| cs.or(x.cs()));
    if cs.is_none() {
        // All constants: no constraints, just the hash.
        let values = inputs.iter().map(|x| x.value()).collect::<Result<Vec<_>, _>>()?;
        return hash(&values).map(FpVar::Constant).map_err(|_| SynthesisError::Unsatisfiable);
    }
    let t = p.width;
    let mut state: Vec<Lin> =
        std::iter::once(Lin { terms: Vec::new(), constant: Fr::zero(), value: Some(Fr::zero()) })
            .chain(inputs.iter().map(|x| match x {
                FpVar::Constant(c) => Lin { terms: Vec::new(), constant: *c, value: Some(*c) },
                FpVar::Var(a) => Lin::atom(a.variable, a.value().ok()),
            }))
            .collect();
    let add_ark = |state: &mut [Lin], round: usize| {
        for (i, s) in state.iter_mut().enumerate() {
            let c = p.ark[round * t + i];
            s.constant += c;
            s.value = s.value.map(|v| v + c);
        }
    };
    let half = p.full_rounds / 2;
    let full_round = |state: &mut Vec<Lin>, round: usize| -> Result<(), SynthesisError> {
        add_ark(state, round);
        let boxed = state.iter().map(|s| sbox(&cs, s)).collect::<Result<Vec<_>, _>>()?;
        *state = mix(&p.mds, &boxed);
        Ok(())
    };
    for round in 0..half {
        full_round(&mut state, round)?;
    }

    // The partial rounds, folded: E's variables are the basis; the state's dependence
    // on E and on each partial S-box output is read off the precomputed powers.
    let pre = partial(&p);
    let mut basis: Vec<Variable> = Vec::new();
    for s in &state {
        for (_, v) in &s.terms {
            if !basis.contains(v) {
                basis.push(*v);
            }
        }
    }
    let e: Vec<Vec<Fr>> = state
        .iter()
        .map(|s| {
            let mut row = vec![Fr::zero(); basis.len()];
            for (c, v) in &s.terms {
                if let Some(l) = basis.iter().position(|b| b == v) {
                    row[l] += c;
                }
            }
            row
        })
        .collect();
    let mut constants: Vec<Fr> = state.iter().map(|s| s.constant).collect();
    let mut values: Option<Vec<Fr>> = state.iter().map(|s| s.value).collect();
    let mut atoms: Vec<Variable> = Vec::with_capacity(p.partial_rounds);
    for r in 1..=p.partial_rounds {
        let round = half + r - 1;
        for (i, c) in constants.iter_mut().enumerate() {
            *c += p.ark[round * t + i];
        }
        if let Some(v) = values.as_mut() {
            for (i, x) in v.iter_mut().enumerate() {
                *x += p.ark[round * t + i];
            }
        }
        let row = &pre.row0[r - 1];
        let mut terms: Vec<(Fr, Variable)> =
            basis.iter().enumerate().map(|(l, b)| ((0..t).map(|j| row[j] * e[j][l]).sum(), *b)).collect();
        terms.extend(atoms.iter().enumerate().map(|(k, a)| (pre.w[r - 2 - k][0], *a)));
        let input = Lin { terms, constant: constants[0], value: values.as_ref().map(|v| v[0]) };
        let out = sbox(&cs, &input)?;
        atoms.push(out.terms[0].1);
        constants[0] = Fr::zero();
        constants = (0..t).map(|i| (0..t).map(|j| p.mds[i][j] * constants[j]).sum()).collect();
        if let Some(v) = values.as_mut() {
            v[0] = out.value.unwrap_or_default();
            *v = (0..t).map(|i| (0..t).map(|j| p.mds[i][j] * v[j]).sum()).collect();
        }
    }
    let n = p.partial_rounds;
    state = (0..t)
        .map(|i| {
            let mut terms: Vec<(Fr, Variable)> = basis
                .iter()
                .enumerate()
                .map(|(l, b)| ((0..t).map(|j| pre.exit[i][j] * e[j][l]).sum(), *b))
                .collect();
            terms.extend(atoms.iter().enumerate().map(|(k, a)| (pre.w[n - 1 - k][i], *a)));
            Lin { terms, constant: constants[i], value: values.as_ref().map(|v| v[i]) }
        })
        .collect();

    for round in half + p.partial_rounds..p.full_rounds + p.partial_rounds {
        full_round(&mut state, round)?;
    }
    let out = &state[0];
    let variable = cs.new_lc(|| out.lc())?;
    Ok(FpVar::Var(AllocatedFp::new(out.value, variable, cs)))
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
            let vars: Vec<FpVar<Fr>> =
                xs.iter().map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap()).collect();
            let out = hash_var(&vars).unwrap();
            assert_eq!(out.value().unwrap(), hash(&xs).unwrap(), "width {}", n + 1);
            assert!(cs.is_satisfied().unwrap());
        }
    }

    #[test]
    fn a_changed_witness_breaks_the_gadget() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let xs = [Fr::from(1u64), Fr::from(2u64)];
        let vars: Vec<FpVar<Fr>> =
            xs.iter().map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap()).collect();
        let out = hash_var(&vars).unwrap();
        let expected =
            FpVar::new_input(cs.clone(), || Ok(hash(&[Fr::from(1u64), Fr::from(3u64)]).unwrap())).unwrap();
        ark_r1cs_std::eq::EqGadget::enforce_equal(&out, &expected).unwrap();
        assert!(!cs.is_satisfied().unwrap(), "a hash of other inputs does not satisfy");
    }
}
