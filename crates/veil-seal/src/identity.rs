//! Identities: one secret seed from which the sealing key and the signing key derive.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32, Hrp};
use hkdf::Hkdf;
use hpke::{Deserializable, Kem as _, Serializable};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::SealError;

pub(crate) type Kem = hpke::kem::X25519HkdfSha256;

/// Ed25519 key that signs receipts.
pub type SigningKey = ed25519_dalek::SigningKey;
/// Ed25519 key that checks receipt signatures.
pub type VerifyingKey = ed25519_dalek::VerifyingKey;

const PUBLIC_HRP: Hrp = Hrp::parse_unchecked("veilpk");
const SECRET_HRP: Hrp = Hrp::parse_unchecked("veilsk");

/// A secret identity. Its seed is wiped from memory on drop and never printed.
pub struct Identity {
    seed: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("public", &self.public_key()).finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh identity from the operating system's random generator.
    pub fn generate() -> Result<Self, SealError> {
        Ok(Self { seed: crate::random::<32>()? })
    }

    /// The identity with this seed (deterministic; for keys derived elsewhere).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { seed: Zeroizing::new(*seed) }
    }

    fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(b"veil/identity/v1"), self.seed.as_ref())
            .expand(label, out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    pub(crate) fn hpke_keypair(&self) -> (<Kem as hpke::Kem>::PrivateKey, <Kem as hpke::Kem>::PublicKey) {
        Kem::derive_keypair(self.derive(b"x25519 sealing key").as_ref())
    }

    /// The key others seal to.
    pub fn public_key(&self) -> PublicKey {
        let bytes = self.hpke_keypair().1.to_bytes();
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes);
        PublicKey(out)
    }

    /// The Ed25519 key this identity signs receipts with.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.derive(b"ed25519 signing key"))
    }

    /// The identity file's text: comments with the public keys, then the secret line.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let secret =
            bech32::encode::<Bech32>(SECRET_HRP, self.seed.as_ref()).expect("32 bytes always fit in bech32");
        let verifying = hex_lower(self.signing_key().verifying_key().as_bytes());
        Zeroizing::new(format!(
            "# Veil identity. Keep this file secret: it opens everything sealed to it.\n\
             # public key: {}\n# signing key: ed25519:{}\n{}\n",
            self.public_key(),
            verifying,
            Zeroizing::new(secret.to_uppercase()).as_str(),
        ))
    }

    /// Parse an identity file: `#` comments and blank lines, then one secret line.
    pub fn from_file_text(text: &str) -> Result<Self, SealError> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        let line = lines.next().ok_or_else(|| SealError::BadIdentity("no secret key line".into()))?;
        if lines.next().is_some() {
            return Err(SealError::BadIdentity("more than one secret key line".into()));
        }
        // Error texts never echo the line: it is secret.
        let (hrp, data) = bech32::decode(line)
            .map_err(|_| SealError::BadIdentity("secret key line is not valid bech32".into()))?;
        let data = Zeroizing::new(data);
        if hrp != SECRET_HRP {
            return Err(SealError::BadIdentity("not a Veil secret key (expected VEILSK1...)".into()));
        }
        let seed: [u8; 32] = data
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadIdentity("secret key has the wrong length".into()))?;
        let id = Self::from_seed(&seed);
        let mut seed = seed;
        zeroize::Zeroize::zeroize(&mut seed);
        Ok(id)
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A recipient's X25519 public key, written `veilpk1...` (bech32).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub(crate) fn to_hpke(self) -> Result<<Kem as hpke::Kem>::PublicKey, SealError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0).map_err(|e| SealError::BadPublicKey(e.to_string()))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = bech32::encode::<Bech32>(PUBLIC_HRP, &self.0).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = SealError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shown: String = s.chars().take(90).collect();
        let (hrp, data) = bech32::decode(s.trim())
            .map_err(|e| SealError::BadPublicKey(format!("{shown:?} is not bech32 ({e})")))?;
        if hrp != PUBLIC_HRP {
            return Err(SealError::BadPublicKey(format!(
                "{shown:?} is not a Veil public key (expected veilpk1...)"
            )));
        }
        let bytes: [u8; 32] = data
            .try_into()
            .map_err(|_| SealError::BadPublicKey(format!("{shown:?} has the wrong length")))?;
        Ok(Self(bytes))
    }
}
