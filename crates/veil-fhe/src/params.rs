//! Named BFV parameter sets, identified on the wire by a hash of their encoding.

use std::sync::{Arc, OnceLock};

use fhe::bfv::{BfvParameters, BfvParametersBuilder};
use fhe_traits::Serialize as _;
use sha2::{Digest, Sha256};

use crate::Result;

/// The standard set's ciphertext moduli: homomorphicencryption.org's 128-bit set for
/// n = 4096 (109 bits; fhe.rs's `default_parameters_128` uses the same primes).
const STANDARD_MODULI: [u64; 3] = [0xffffee001, 0xffffc4001, 0x1ffffe0001];

/// The standard set's plaintext modulus: 2²⁴. Coefficient encoding takes any `t`; an
/// int8 model over up to 256 features accumulates below 2²² in magnitude, so
/// accumulators decode exactly with room for the bias.
const STANDARD_T_BITS: u32 = 24;

/// A BFV parameter set: ring degree, plaintext modulus and ciphertext moduli.
#[derive(Clone)]
pub struct ParamSet {
    name: String,
    params: Arc<BfvParameters>,
    hash: [u8; 32],
}

impl std::fmt::Debug for ParamSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamSet").field("name", &self.name).field("hash", &self.hash_hex()).finish()
    }
}

impl ParamSet {
    /// `bfv-n4096-q109-t24`: 128-bit security (homomorphicencryption.org's table for
    /// n = 4096, log q ≤ 109), t = 2²⁴.
    /// Every call shares one instance: fhe.rs refuses to combine objects decoded
    /// under separately built copies of the same parameters.
    pub fn standard() -> Result<Self> {
        static SET: OnceLock<ParamSet> = OnceLock::new();
        if let Some(set) = SET.get() {
            return Ok(set.clone());
        }
        let set = Self::custom(4096, STANDARD_T_BITS, &STANDARD_MODULI)?;
        Ok(SET.get_or_init(|| set).clone())
    }

    /// Whether `other` is this very instance (objects of both may be combined).
    pub(crate) fn same_instance(&self, other: &ParamSet) -> bool {
        Arc::ptr_eq(&self.params, &other.params)
    }

    /// A set from its parts (`moduli`: distinct primes ≡ 1 mod 2n). Only
    /// [`ParamSet::standard`] is claimed secure; other sets are for tests and research.
    pub fn custom(degree: usize, plaintext_bits: u32, moduli: &[u64]) -> Result<Self> {
        if !(2..62).contains(&plaintext_bits) {
            return Err(crate::FheError::Input(format!("plaintext modulus 2^{plaintext_bits}")));
        }
        let params = BfvParametersBuilder::new()
            .set_degree(degree)
            .set_plaintext_modulus(1 << plaintext_bits)
            .set_moduli(moduli)
            .build_arc()?;
        let q_bits: f64 = moduli.iter().map(|q| (*q as f64).log2()).sum();
        let name = format!("bfv-n{degree}-q{}-t{plaintext_bits}", q_bits.round());
        let hash = Sha256::digest([b"veil/fhe/params/v1\0".as_slice(), &params.to_bytes()].concat()).into();
        Ok(Self { name, params, hash })
    }

    /// Its name, e.g. `bfv-n4096-q109-t24`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hash every key, query and answer carries: SHA-256 over a domain tag and
    /// fhe.rs's encoding of the parameters.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`Self::hash`] in hex.
    pub fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The ring degree n.
    pub fn degree(&self) -> usize {
        self.params.degree()
    }

    /// The plaintext modulus t.
    pub fn plaintext_modulus(&self) -> u64 {
        self.params.plaintext()
    }

    /// log₂ of the ciphertext modulus at `level` (0 = all moduli).
    pub fn log2_q(&self, level: usize) -> f64 {
        let moduli = self.params.moduli();
        moduli[..moduli.len().saturating_sub(level)].iter().map(|q| (*q as f64).log2()).sum()
    }

    /// The deepest level a ciphertext can be switched to.
    pub fn max_level(&self) -> usize {
        self.params.max_level()
    }

    pub(crate) fn bfv(&self) -> &Arc<BfvParameters> {
        &self.params
    }
}
