//! Keys derived from the seed, usable both for raw ECDSA and by rcgen.

use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sha2::Sha256;

/// A P-256 key whose every signature is deterministic (RFC 6979).
#[derive(Clone)]
pub(crate) struct DevKey {
    key: SigningKey,
    /// Uncompressed SEC1 point (65 bytes).
    public: Vec<u8>,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey").field("public", &hex::encode(&self.public)).finish_non_exhaustive()
    }
}

impl DevKey {
    /// The key called `name` under `seed`.
    pub(crate) fn derive(seed: &[u8; 32], name: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"veil/sim-tee/v1"), seed);
        for counter in 0u8.. {
            let mut scalar = [0u8; 32];
            let info = [name.as_bytes(), &[counter]].concat();
            hk.expand(&info, &mut scalar).expect("32 bytes is a valid HKDF-SHA256 length");
            // A candidate is out of range with probability ~2^-32; try the next one.
            if let Ok(key) = SigningKey::from_slice(&scalar) {
                let public = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
                return Self { key, public };
            }
        }
        unreachable!("256 candidates cannot all be out of range")
    }

    /// `r ‖ s`, the form Intel puts in quotes and collateral.
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        let sig: Signature = self.key.sign(msg);
        sig.to_bytes().into()
    }

    /// The public key as a quote carries it: `x ‖ y` without the SEC1 tag.
    pub(crate) fn public_xy(&self) -> [u8; 64] {
        let mut xy = [0u8; 64];
        xy.copy_from_slice(&self.public[1..]);
        xy
    }
}

impl rcgen::PublicKeyData for DevKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for DevKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let sig: Signature = self.key.sign(msg);
        Ok(sig.to_der().to_bytes().to_vec())
    }
}
