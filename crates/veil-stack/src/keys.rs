//! The private key files every role uses: Veil identities (HPKE + Ed25519) and
//! secp256k1 wallet keys. Written 0600 and never over an existing file; refused when
//! others can read them.

use std::path::Path;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use veil_seal::{Identity, PublicKey};
use zeroize::Zeroizing;

use crate::{Result, StackError};

/// Write a secret to a new file `out`: 0600, whole or not at all, never over an
/// existing file.
pub(crate) fn write_new_secret(out: &Path, secret: &[u8]) -> Result<()> {
    let failed = || StackError::io(format!("writing {}", out.display()));
    let mut f = veil_fs::AtomicFile::create_new(out).map_err(failed())?;
    std::io::Write::write_all(&mut f, secret).map_err(failed())?;
    f.commit().map_err(failed())
}

/// Write a new Veil identity to `out` (0600, never overwriting); its public key.
pub fn new_identity(out: &Path) -> Result<PublicKey> {
    let id = Identity::generate()?;
    write_new_secret(out, id.to_file_text().as_bytes())?;
    Ok(id.public_key())
}

/// Read an identity file (it must be private).
pub fn read_identity(path: &Path) -> Result<Identity> {
    veil_fs::check_private(path)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(path, 64 << 10)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{} is not a Veil identity", path.display())))?;
    Identity::from_file_text(text).map_err(|e| StackError::Config(format!("reading {}: {e}", path.display())))
}

/// Write a new secp256k1 key (hex, 0600, never overwriting); its address.
pub fn new_wallet_key(out: &Path) -> Result<Address> {
    let signer = PrivateKeySigner::random();
    let hex = Zeroizing::new(format!("0x{}\n", hex::encode(signer.to_bytes())));
    write_new_secret(out, hex.as_bytes())?;
    Ok(signer.address())
}

/// Read a key file written by [`new_wallet_key`] (or any 0x-hex private key, mode 0600).
pub fn read_wallet_key(path: &Path) -> Result<PrivateKeySigner> {
    veil_fs::check_private(path)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(path, 1024)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{} is not a hex key file", path.display())))?;
    text.trim().parse::<PrivateKeySigner>().map_err(|_| {
        StackError::Config(format!(
            "{} does not hold a secp256k1 private key (64 hex digits)",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_private_never_overwritten_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.key");
        let address = new_wallet_key(&wallet).unwrap();
        assert_eq!(read_wallet_key(&wallet).unwrap().address(), address);
        assert!(new_wallet_key(&wallet).is_err(), "never overwrites");
        let id = dir.path().join("id.key");
        let pk = new_identity(&id).unwrap();
        assert_eq!(read_identity(&id).unwrap().public_key(), pk);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [&wallet, &id] {
                assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600);
                std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            let e = read_wallet_key(&wallet).unwrap_err().to_string();
            assert!(e.contains("accessible by other users"), "{e}");
            assert!(read_identity(&id).is_err());
        }
    }
}
