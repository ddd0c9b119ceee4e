//! The broker's master secret: kept on disk only sealed to the broker's identity, and
//! the source of every per-resource data key.

use std::io::Write;
use std::path::Path;

use hkdf::Hkdf;
use sha2::Sha256;
use veil_seal::Identity;
use zeroize::Zeroizing;

/// Why the master secret could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// Sealing or opening failed (wrong identity, tampered file, …).
    #[error("master secret: {0}")]
    Seal(#[from] veil_seal::SealError),
    /// The sealed file holds something other than 32 bytes.
    #[error("master secret file does not hold a 32-byte secret")]
    Length,
    /// Reading or writing the file failed.
    #[error("master secret file: {0}")]
    Io(#[from] std::io::Error),
}

/// 32 secret bytes; wiped from memory on drop, never written in plaintext.
pub struct MasterSecret(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret(..)")
    }
}

impl MasterSecret {
    /// Open the sealed secret at `path`, or create one there (sealed to `identity`,
    /// written atomically, never overwriting) if the file does not exist.
    pub fn open_or_create(path: &Path, identity: &Identity) -> Result<Self, MasterError> {
        if path.exists() {
            let mut plain = Zeroizing::new(Vec::with_capacity(32));
            veil_seal::open(std::fs::File::open(path)?, &mut *plain, identity)?;
            let secret: [u8; 32] = plain.as_slice().try_into().map_err(|_| MasterError::Length)?;
            return Ok(Self(Zeroizing::new(secret)));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|_| veil_seal::SealError::Rng)?;
        let mut out = veil_fs::AtomicFile::create_new(path)?;
        veil_seal::seal(&secret[..], &mut out, &[identity.public_key()])?;
        out.flush()?;
        out.commit()?;
        Ok(Self(secret))
    }

    /// The data key of `resource` (e.g. `token/42`): HKDF-SHA256 of the master secret
    /// with the resource name as info, so keys for different resources are independent.
    pub fn resource_key(&self, resource: &str) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        let info = [b"veil/kms/v1 resource key\0".as_slice(), resource.as_bytes()].concat();
        Hkdf::<Sha256>::new(Some(b"veil/kms/v1"), self.0.as_ref())
            .expand(&info, key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        key
    }

    /// The public sealing key of `resource`'s data: only the identity whose seed is
    /// the resource's key opens what is sealed to it, and the broker releases that
    /// key only under its policy.
    pub fn public_key(&self, resource: &str) -> veil_seal::PublicKey {
        veil_seal::Identity::from_seed(&self.resource_key(resource)).public_key()
    }
}
