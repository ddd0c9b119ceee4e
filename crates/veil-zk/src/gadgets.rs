//! Small gadgets the circuits share.

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

/// `n` little-endian witness bits of `value` (each constrained boolean) and the
/// number they compose: a range check `[0, 2ⁿ)` on whatever the composition is
/// then equated with.
pub fn bits(
    cs: &ConstraintSystemRef<Fr>,
    value: u128,
    n: usize,
) -> Result<(FpVar<Fr>, Vec<Boolean<Fr>>), SynthesisError> {
    let vars = (0..n)
        .map(|i| Boolean::new_witness(cs.clone(), || Ok(i < 128 && (value >> i) & 1 == 1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((Boolean::le_bits_to_fp(&vars)?, vars))
}

/// [`bits`], keeping only the composed number.
pub fn bits_of(cs: &ConstraintSystemRef<Fr>, value: u128, n: usize) -> Result<FpVar<Fr>, SynthesisError> {
    Ok(bits(cs, value, n)?.0)
}

/// A signed integer as a field element (negatives wrap to `p − |v|`).
pub fn fr_i128(v: i128) -> Fr {
    let f = Fr::from(v.unsigned_abs());
    if v < 0 { -f } else { f }
}
