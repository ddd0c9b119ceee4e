//! The iden3 formats, so production keys can come from a snarkjs phase-2 ceremony
//! instead of a development setup: a circuit exported as `.r1cs` (what `snarkjs
//! groth16 setup` takes), a ceremony's `.zkey` imported as a proving key, and proofs
//! made with snarkjs's QAP reduction (its H query is evaluated on the odd powers of
//! a 2n-th root of unity, not on arkworks' coset), so they verify under the zkey's
//! verifying key.
//!
//! The exported wires are arkworks' variables in order (the constant one, the public
//! inputs, then the witness), and the constraints are the finalised matrices the
//! prover uses; proving re-synthesises the same circuit, so the two always agree.

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, BigInteger256, PrimeField, Zero};
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP, evaluate_constraint};
use ark_groth16::{Groth16, Proof, ProvingKey, VerifyingKey};
use ark_poly::EvaluationDomain;
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, R1CS_PREDICATE_LABEL,
    Result as R1CSResult, SynthesisError, SynthesisMode,
};
use ark_std::UniformRand;
use ark_std::rand::rngs::StdRng;

use crate::ZkError;

/// A synthesised circuit: its matrices and, when proving, its assignment.
struct Synthesised {
    matrices: Vec<Matrix<Fr>>,
    num_instance: usize,
    num_witness: usize,
    num_constraints: usize,
    assignment: Option<Vec<Fr>>,
}

fn synthesise<C: ConstraintSynthesizer<Fr>>(circuit: C, prove: bool) -> Result<Synthesised, ZkError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(if prove {
        SynthesisMode::Prove { construct_matrices: true, generate_lc_assignments: false }
    } else {
        SynthesisMode::Setup
    });
    circuit.generate_constraints(cs.clone()).map_err(|e| ZkError::Groth16(format!("synthesis: {e}")))?;
    cs.finalize();
    if prove && !cs.is_satisfied().map_err(|e| ZkError::Groth16(e.to_string()))? {
        return Err(ZkError::False("the witness does not satisfy the circuit".into()));
    }
    let mut all = cs.to_matrices().map_err(|e| ZkError::Groth16(format!("matrices: {e}")))?;
    let matrices = all
        .remove(R1CS_PREDICATE_LABEL)
        .ok_or_else(|| ZkError::Groth16("the circuit has no R1CS constraints".into()))?;
    let assignment = if prove {
        let inner = cs.borrow().ok_or_else(|| ZkError::Groth16("constraint system gone".into()))?;
        let instance = inner.instance_assignment().map_err(|e| ZkError::Groth16(e.to_string()))?;
        let witness = inner.witness_assignment().map_err(|e| ZkError::Groth16(e.to_string()))?;
        Some([instance, witness].concat())
    } else {
        None
    };
    Ok(Synthesised {
        num_constraints: matrices.first().map_or(0, Vec::len),
        matrices,
        num_instance: cs.num_instance_variables(),
        num_witness: cs.num_witness_variables(),
        assignment,
    })
}

fn put_u32(out: &mut Vec<u8>, v: usize) -> Result<(), ZkError> {
    let v = u32::try_from(v).map_err(|_| ZkError::Input("the circuit is too large for .r1cs".into()))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

fn put_fr(out: &mut Vec<u8>, f: &Fr) {
    out.extend_from_slice(&f.into_bigint().to_bytes_le());
}

/// The circuit as an iden3 `.r1cs` file (version 1: header, constraints, wire map).
pub fn r1cs_bytes<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Vec<u8>, ZkError> {
    let s = synthesise(circuit, false)?;
    let wires = s.num_instance + s.num_witness;
    let mut header = Vec::new();
    put_u32(&mut header, 32)?;
    header.extend_from_slice(&Fr::MODULUS.to_bytes_le());
    put_u32(&mut header, wires)?;
    put_u32(&mut header, 0)?; // public outputs
    put_u32(&mut header, s.num_instance - 1)?; // public inputs
    put_u32(&mut header, 0)?; // private inputs (all witness wires are internal here)
    header.extend_from_slice(&(wires as u64).to_le_bytes());
    put_u32(&mut header, s.num_constraints)?;

    let mut constraints = Vec::new();
    for i in 0..s.num_constraints {
        for m in &s.matrices {
            let row = &m[i];
            put_u32(&mut constraints, row.len())?;
            for (coeff, wire) in row {
                put_u32(&mut constraints, *wire)?;
                put_fr(&mut constraints, coeff);
            }
        }
    }
    let labels: Vec<u8> = (0..wires as u64).flat_map(u64::to_le_bytes).collect();

    let mut out = b"r1cs".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&3u32.to_le_bytes());
    for (kind, body) in [(1u32, header), (2, constraints), (3, labels)] {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
    }
    Ok(out)
}

/// A reader over a zkey's sections that refuses to run past them.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn malformed(reason: impl Into<String>) -> ZkError {
    ZkError::Malformed { what: "zkey", reason: reason.into() }
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ZkError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| malformed("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, ZkError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| malformed("truncated"))?))
    }

    fn u64(&mut self) -> Result<u64, ZkError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| malformed("truncated"))?))
    }

    /// A base-field element in snarkjs's Montgomery form (which is arkworks' own
    /// representation, R = 2²⁵⁶), refused unless below the modulus.
    fn fq(&mut self) -> Result<Fq, ZkError> {
        let raw = self.take(32)?;
        let mut limbs = [0u64; 4];
        for (l, c) in limbs.iter_mut().zip(raw.chunks_exact(8)) {
            *l = u64::from_le_bytes(c.try_into().map_err(|_| malformed("truncated"))?);
        }
        let big = BigInteger256::new(limbs);
        if big >= Fq::MODULUS {
            return Err(malformed("a coordinate is not below the modulus"));
        }
        Ok(Fq::new_unchecked(big))
    }

    fn g1(&mut self) -> Result<G1Affine, ZkError> {
        let (x, y) = (self.fq()?, self.fq()?);
        if x.is_zero() && y.is_zero() {
            return Ok(G1Affine::zero());
        }
        let p = G1Affine::new_unchecked(x, y);
        if !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
            return Err(malformed("a G1 point is not on the curve"));
        }
        Ok(p)
    }

    /// A G2 point on the curve; in the subgroup too when `subgroup` (the verifying
    /// key's points). The query's points skip that check, which costs seconds on a
    /// large key: proofs are verified under the key's verifying key before they leave
    /// (`groth::prove_with`), so a bad query point can only cause a refusal.
    fn g2(&mut self, subgroup: bool) -> Result<G2Affine, ZkError> {
        let x = Fq2::new(self.fq()?, self.fq()?);
        let y = Fq2::new(self.fq()?, self.fq()?);
        if x.is_zero() && y.is_zero() {
            return Ok(G2Affine::zero());
        }
        let p = G2Affine::new_unchecked(x, y);
        if !p.is_on_curve() || (subgroup && !p.is_in_correct_subgroup_assuming_on_curve()) {
            return Err(malformed("a G2 point is not on the curve or not in the subgroup"));
        }
        Ok(p)
    }
}

/// A snarkjs Groth16 `.zkey` (a ceremony's output) as an arkworks proving key; prove
/// with it through `groth::prove_with`. Every point is checked on the curve (on BN254
/// that puts G1 points in the subgroup), the verifying key's G2 points in the subgroup
/// too; sizes are checked against each other, never trusted for allocation.
pub fn pk_from_zkey(bytes: &[u8]) -> Result<ProvingKey<Bn254>, ZkError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != b"zkey" {
        return Err(malformed("not a zkey file"));
    }
    let _version = r.u32()?;
    let sections = r.u32()?;
    let mut table = std::collections::BTreeMap::new();
    for _ in 0..sections {
        let kind = r.u32()?;
        let size = usize::try_from(r.u64()?).map_err(|_| malformed("section size"))?;
        let start = r.at;
        r.take(size)?;
        table.entry(kind).or_insert((start, size));
    }
    let section = |kind: u32| -> Result<Reader<'_>, ZkError> {
        let (start, size) =
            table.get(&kind).ok_or_else(|| malformed(format!("section {kind} is missing")))?;
        Ok(Reader { bytes: &bytes[..start + size], at: *start })
    };
    if section(1)?.u32()? != 1 {
        return Err(malformed("not a Groth16 key"));
    }
    let mut h = section(2)?;
    let n8q = h.u32()? as usize;
    if n8q != 32 || h.take(32)? != Fq::MODULUS.to_bytes_le().as_slice() {
        return Err(malformed("not a BN254 key"));
    }
    let n8r = h.u32()? as usize;
    if n8r != 32 || h.take(32)? != Fr::MODULUS.to_bytes_le().as_slice() {
        return Err(malformed("not a BN254 key"));
    }
    let n_vars = h.u32()? as usize;
    let n_public = h.u32()? as usize;
    let domain_size = h.u32()? as usize;
    if n_public >= n_vars || !domain_size.is_power_of_two() {
        return Err(malformed("inconsistent sizes"));
    }
    let alpha_g1 = h.g1()?;
    let beta_g1 = h.g1()?;
    let beta_g2 = h.g2(true)?;
    let gamma_g2 = h.g2(true)?;
    let delta_g1 = h.g1()?;
    let delta_g2 = h.g2(true)?;

    let points = |kind: u32, n: usize, g2: bool| -> Result<(Vec<G1Affine>, Vec<G2Affine>), ZkError> {
        let mut s = section(kind)?;
        let (_, size) = table[&kind];
        let each = if g2 { 128 } else { 64 };
        if size != n.saturating_mul(each) {
            return Err(malformed(format!("section {kind} has the wrong size")));
        }
        let mut g1s = Vec::new();
        let mut g2s = Vec::new();
        for _ in 0..n {
            if g2 {
                g2s.push(s.g2(false)?);
            } else {
                g1s.push(s.g1()?);
            }
        }
        Ok((g1s, g2s))
    };
    let ic = points(3, n_public + 1, false)?.0;
    let a_query = points(5, n_vars, false)?.0;
    let b_g1_query = points(6, n_vars, false)?.0;
    let b_g2_query = points(7, n_vars, true)?.1;
    let l_query = points(8, n_vars - n_public - 1, false)?.0;
    let h_query = points(9, domain_size, false)?.0;
    Ok(ProvingKey {
        vk: VerifyingKey { alpha_g1, beta_g2, gamma_g2, delta_g2, gamma_abc_g1: ic },
        beta_g1,
        delta_g1,
        a_query,
        b_g1_query,
        b_g2_query,
        h_query,
        l_query,
    })
}

/// snarkjs's R1CS-to-QAP reduction (as ark-circom ports it): the quotient is
/// evaluated on the odd powers of a 2n-th root of unity.
pub struct CircomReduction;

impl R1CSToQAP for CircomReduction {
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ark_relations::gr1cs::ConstraintSystemRef<F>,
        t: &F,
    ) -> R1CSResult<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize)> {
        LibsnarkReduction::instance_map_with_evaluation::<F, D>(cs, t)
    }

    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        matrices: &[Matrix<F>],
        num_inputs: usize,
        num_constraints: usize,
        full_assignment: &[F],
    ) -> R1CSResult<Vec<F>> {
        let domain = D::new(num_constraints + num_inputs).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let n = domain.size();
        let mut a = vec![F::zero(); n];
        let mut b = vec![F::zero(); n];
        for i in 0..num_constraints {
            a[i] = evaluate_constraint(&matrices[0][i], full_assignment);
            b[i] = evaluate_constraint(&matrices[1][i], full_assignment);
        }
        a[num_constraints..num_constraints + num_inputs].clone_from_slice(&full_assignment[..num_inputs]);
        let mut c = vec![F::zero(); n];
        for i in 0..num_constraints {
            c[i] = a[i] * b[i];
        }
        let root = D::new(2 * n).ok_or(SynthesisError::PolynomialDegreeTooLarge)?.element(1);
        let shift = |v: &mut Vec<F>| {
            domain.ifft_in_place(v);
            D::distribute_powers_and_mul_by_const(v, root, F::one());
            domain.fft_in_place(v);
        };
        shift(&mut a);
        shift(&mut b);
        shift(&mut c);
        Ok(a.iter().zip(&b).zip(&c).map(|((a, b), c)| *a * b - c).collect())
    }

    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        zt: F,
        delta_inverse: F,
    ) -> R1CSResult<Vec<F>> {
        // Keys for this reduction come from a ceremony, never from arkworks' setup.
        LibsnarkReduction::h_query_scalars::<F, D>(max_power, t, zt, delta_inverse)
    }
}

/// Prove `circuit` under a key imported from a zkey (snarkjs's reduction).
pub fn prove_zkey<C: ConstraintSynthesizer<Fr>>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    rng: &mut StdRng,
) -> Result<Proof<Bn254>, ZkError> {
    let s = synthesise(circuit, true)?;
    let assignment = s.assignment.ok_or_else(|| ZkError::Groth16("no assignment".into()))?;
    if pk.a_query.len() != assignment.len() || pk.vk.gamma_abc_g1.len() != s.num_instance {
        return Err(ZkError::Input(format!(
            "the zkey is for a circuit of {} wires and {} public inputs, not this one ({} and {})",
            pk.a_query.len(),
            pk.vk.gamma_abc_g1.len().saturating_sub(1),
            assignment.len(),
            s.num_instance - 1
        )));
    }
    let (r, t) = (Fr::rand(rng), Fr::rand(rng));
    Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
        pk,
        r,
        t,
        &s.matrices,
        s.num_instance,
        s.num_constraints,
        &assignment,
    )
    .map_err(|e| ZkError::Groth16(format!("prove: {e}")))
}
