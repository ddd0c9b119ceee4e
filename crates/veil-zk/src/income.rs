//! The income-threshold statement: "the payments committed to in H sum to at least T".
//!
//! Public inputs, in order: `H`, `T`, `count`. Private: `account`, `epoch`, the
//! `SLOTS` payment amounts (each < 2⁶⁴; slots from `count` on must be zero) and `salt`.
//! The commitment chains circomlib Poseidon so circomlibjs reproduces it:
//!
//! ```text
//! acc = Poseidon(account, epoch, count)
//! for each run of 11 slots (the last padded with zeros): acc = Poseidon(acc, a₀ … a₁₀)
//! H   = Poseidon(acc, salt)
//! ```
//!
//! Range checks: every amount in 64 bits, `T` in 80 bits, and `Σ − T` in 80 bits, so
//! a sum below `T` cannot wrap around the field into a small number.

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::gadgets::bits_of;
use crate::{ZkError, poseidon};

/// The circuit id receipts and the proof server name.
pub const CIRCUIT_ID: &str = "veil/income-threshold/v1";
/// Payment slots in the standard circuit (the issue's n = 256).
pub const SLOTS: usize = 256;
/// Most slots any instance may have.
pub const MAX_SLOTS: usize = 1024;
/// Slots per chained Poseidon call (plus the running hash: 12 inputs).
const CHUNK: usize = 11;
/// Bits of the threshold and of the surplus.
const SUM_BITS: usize = 80;

/// A statement and, for the prover, its witness.
#[derive(Debug, Clone)]
pub struct IncomeThreshold {
    /// The account the payments went to (a field element, e.g. an address).
    pub account: Fr,
    /// The period they cover.
    pub epoch: u64,
    /// Payment amounts; at most `SLOTS`.
    pub amounts: Vec<u64>,
    /// Blinding for the commitment.
    pub salt: Fr,
    /// The threshold.
    pub threshold: u128,
    /// Payment slots in the circuit (its shape: keys are per slot count).
    pub slots: usize,
}

impl IncomeThreshold {
    fn padded(&self) -> Result<Vec<u64>, ZkError> {
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(ZkError::Input(format!("{} slots: 1 to {MAX_SLOTS}", self.slots)));
        }
        if self.amounts.len() > self.slots {
            return Err(ZkError::Input(format!("{} payments: at most {}", self.amounts.len(), self.slots)));
        }
        let mut a = self.amounts.clone();
        a.resize(self.slots, 0);
        Ok(a)
    }

    /// The commitment `H` (what the payer publishes or signs).
    pub fn commitment(&self) -> Result<Fr, ZkError> {
        let amounts = self.padded()?;
        let mut acc =
            poseidon::hash(&[self.account, Fr::from(self.epoch), Fr::from(self.amounts.len() as u64)])?;
        for chunk in amounts.chunks(CHUNK) {
            let mut inputs = vec![acc];
            inputs.extend(chunk.iter().map(|&a| Fr::from(a)));
            inputs.resize(CHUNK + 1, Fr::from(0u64));
            acc = poseidon::hash(&inputs)?;
        }
        poseidon::hash(&[acc, self.salt])
    }

    /// The public inputs `[H, T, count]`, checking first that the statement is true.
    pub fn public_inputs(&self) -> Result<Vec<Fr>, ZkError> {
        self.padded()?;
        if self.threshold >= 1u128 << SUM_BITS {
            return Err(ZkError::Input(format!("the threshold must be below 2^{SUM_BITS}")));
        }
        let sum: u128 = self.amounts.iter().map(|&a| u128::from(a)).sum();
        if sum < self.threshold {
            return Err(ZkError::False(format!(
                "the payments sum to less than the threshold {}",
                self.threshold
            )));
        }
        Ok(vec![self.commitment()?, Fr::from(self.threshold), Fr::from(self.amounts.len() as u64)])
    }

    /// An empty instance with `slots` slots, for key generation.
    pub fn blank(slots: usize) -> Self {
        Self {
            account: Fr::from(0u64),
            epoch: 0,
            amounts: Vec::new(),
            salt: Fr::from(0u64),
            threshold: 0,
            slots,
        }
    }
}

/// An income statement as JSON (`veil prove income-threshold`, the proof server):
/// numbers as decimal strings (or JSON integers where they fit), `account` and `salt`
/// also as 0x-hex.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomeInput {
    /// Field element.
    pub account: String,
    /// Period.
    pub epoch: u64,
    /// Payments.
    pub amounts: Vec<u64>,
    /// Field element.
    pub salt: String,
    /// Decimal, below 2^80.
    pub threshold: String,
    /// Circuit slots (default 256).
    #[serde(default = "default_slots")]
    pub slots: usize,
}

fn default_slots() -> usize {
    SLOTS
}

/// A field element from decimal or 0x-hex (below the modulus).
pub fn parse_fr(s: &str, what: &str) -> Result<Fr, ZkError> {
    use ark_ff::{BigInteger, PrimeField};
    let bad = || ZkError::Input(format!("{what} must be a decimal or 0x-hex number below the field modulus"));
    let bytes = if let Some(h) = s.strip_prefix("0x") {
        if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let padded = format!("{h:0>64}");
        (0..32)
            .map(|i| u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>, _>>()?
    } else {
        return crate::decimal(s).ok_or_else(bad);
    };
    let f = Fr::from_be_bytes_mod_order(&bytes);
    let back = f.into_bigint().to_bytes_be();
    if back != bytes {
        return Err(bad());
    }
    Ok(f)
}

impl TryFrom<IncomeInput> for IncomeThreshold {
    type Error = ZkError;

    fn try_from(i: IncomeInput) -> Result<Self, ZkError> {
        let threshold: u128 =
            i.threshold.parse().map_err(|_| ZkError::Input("threshold must be a decimal integer".into()))?;
        let s = Self {
            account: parse_fr(&i.account, "account")?,
            epoch: i.epoch,
            amounts: i.amounts,
            salt: parse_fr(&i.salt, "salt")?,
            threshold,
            slots: i.slots,
        };
        s.padded()?;
        Ok(s)
    }
}

impl ConstraintSynthesizer<Fr> for IncomeThreshold {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let public = [
            self.commitment().unwrap_or_default(),
            Fr::from(self.threshold),
            Fr::from(self.amounts.len() as u64),
        ];
        self.synthesize(cs, public)
    }
}

impl IncomeThreshold {
    /// The constraints with the public inputs as claimed (which a cheating prover
    /// could choose freely).
    fn synthesize(self, cs: ConstraintSystemRef<Fr>, public: [Fr; 3]) -> Result<(), SynthesisError> {
        let amounts = self.padded().map_err(|_| SynthesisError::Unsatisfiable)?;
        let count = self.amounts.len();
        // Public inputs first, in the documented order.
        let h = FpVar::new_input(cs.clone(), || Ok(public[0]))?;
        let t = FpVar::new_input(cs.clone(), || Ok(public[1]))?;
        let n = FpVar::new_input(cs.clone(), || Ok(public[2]))?;

        let account = FpVar::new_witness(cs.clone(), || Ok(self.account))?;
        let epoch = FpVar::new_witness(cs.clone(), || Ok(Fr::from(self.epoch)))?;
        let salt = FpVar::new_witness(cs.clone(), || Ok(self.salt))?;

        // Amounts from 64 boolean bits each; the mask marks the first `count` slots.
        let mut a_vars = Vec::with_capacity(amounts.len());
        let mut mask_sum = FpVar::zero();
        let mut previous: Option<Boolean<Fr>> = None;
        let mut sum = FpVar::zero();
        for (i, &a) in amounts.iter().enumerate() {
            let a_var = bits_of(&cs, u128::from(a), 64)?;
            let m = Boolean::new_witness(cs.clone(), || Ok(i < count))?;
            // Active slots come first: m_i implies m_{i-1}.
            if let Some(prev) = &previous {
                (m.clone() & !prev).enforce_equal(&Boolean::FALSE)?;
            }
            // An inactive slot holds zero: a · (1 − m) = 0.
            let inactive = FpVar::from(!m.clone());
            (a_var.clone() * inactive).enforce_equal(&FpVar::zero())?;
            mask_sum += FpVar::from(m.clone());
            sum += &a_var;
            a_vars.push(a_var);
            previous = Some(m);
        }
        mask_sum.enforce_equal(&n)?;

        // T < 2^80 and Σ − T ∈ [0, 2^80).
        let t_bits = bits_of(&cs, self.threshold, SUM_BITS)?;
        t_bits.enforce_equal(&t)?;
        let total: u128 = amounts.iter().map(|&a| u128::from(a)).sum();
        let surplus = bits_of(&cs, total.saturating_sub(self.threshold), SUM_BITS)?;
        surplus.enforce_equal(&(sum - &t))?;

        // The commitment.
        let mut acc = poseidon::hash_var(&[account, epoch, n])?;
        for chunk in a_vars.chunks(CHUNK) {
            let mut inputs = vec![acc];
            inputs.extend(chunk.iter().cloned());
            inputs.resize(CHUNK + 1, FpVar::zero());
            acc = poseidon::hash_var(&inputs)?;
        }
        poseidon::hash_var(&[acc, salt])?.enforce_equal(&h)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;

    fn statement() -> IncomeThreshold {
        IncomeThreshold {
            account: Fr::from(0xa11ce_u64),
            epoch: 202611,
            amounts: vec![150_000, 225_000, 90_000],
            salt: Fr::from(0x5a17_u64),
            threshold: 400_000,
            slots: 16,
        }
    }

    fn satisfied(c: IncomeThreshold) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        c.generate_constraints(cs.clone()).unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn a_true_statement_is_satisfied() {
        let c = statement();
        assert!(c.public_inputs().is_ok());
        let cs = ConstraintSystem::<Fr>::new_ref();
        c.generate_constraints(cs.clone()).unwrap();
        assert!(cs.is_satisfied().unwrap());
        assert_eq!(cs.num_instance_variables(), 4, "one plus H, T, count");
    }

    #[test]
    fn a_false_statement_is_refused_before_proving_and_unsatisfiable() {
        let mut c = statement();
        c.threshold = 465_001;
        assert!(matches!(c.public_inputs(), Err(ZkError::False(_))));
        assert!(!satisfied(c), "sum below the threshold cannot wrap around");
        let mut c = statement();
        c.threshold = 1 << 80;
        assert!(c.public_inputs().is_err());
        assert!(!satisfied(c), "a threshold beyond 80 bits is refused");
    }

    #[test]
    fn every_public_input_and_every_payment_is_bound() {
        let c = statement();
        let good = [c.commitment().unwrap(), Fr::from(c.threshold), Fr::from(3u64)];
        let check = |c: IncomeThreshold, public: [Fr; 3]| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            c.synthesize(cs.clone(), public).unwrap();
            cs.is_satisfied().unwrap()
        };
        assert!(check(c.clone(), good));
        // One payment changed under the same commitment.
        let mut other = c.clone();
        other.amounts[1] += 1;
        assert_ne!(other.amounts, c.amounts);
        assert!(!check(other, good));
        // Another salt, count, commitment or threshold.
        let mut other = c.clone();
        other.salt += Fr::from(1u64);
        assert!(!check(other, good));
        for (i, delta) in [(0, 1u64), (1, 1), (2, 1)] {
            let mut public = good;
            public[i] += Fr::from(delta);
            assert!(!check(c.clone(), public), "public input {i} changed");
        }
        // A payment hidden beyond `count` (the mask must be a prefix of the slots).
        let mut public = good;
        public[2] = Fr::from(2u64);
        assert!(!check(c, public));
    }

    #[test]
    fn json_statements_parse_strictly() {
        let ok: IncomeInput = serde_json::from_str(
            r#"{"account": "0xa11ce", "epoch": 1, "amounts": [1, 2], "salt": "5", "threshold": "3", "slots": 16}"#,
        )
        .unwrap();
        let s = IncomeThreshold::try_from(ok).unwrap();
        assert_eq!(s.account, Fr::from(0xa11ce_u64));
        for bad in ["0x", "0xzz", "-1", "1.5", "", &"9".repeat(79), &format!("0x{}", "f".repeat(64))] {
            assert!(parse_fr(bad, "x").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn too_many_payments_are_a_clear_error() {
        let mut c = statement();
        c.amounts = vec![1; c.slots + 1];
        assert!(matches!(c.public_inputs(), Err(ZkError::Input(_))));
    }
}
