//! The log's key and its checkpoints, as C2SP signed notes.
//!
//! A checkpoint's text is C2SP tlog-checkpoint with one extension line:
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root>\ntime <unix seconds>\n
//! ```
//!
//! The signature is the signed-note Ed25519 one over exactly that text, by a key
//! whose name is the origin. Veil's origins name the chain and the anchor contract
//! (`veil.local/log/<chain id>/<ReceiptAnchor address>`), so a checkpoint cannot be
//! replayed as another deployment's, and the note's own framing keeps its signature
//! apart from every other signature Veil makes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use signed_note::{Note, Signer as _, StandardSigner, StandardVerifier, Verifier as _, VerifierList};
use zeroize::Zeroizing;

use crate::{LogHash, TlogError};

/// The signed-note algorithm byte for Ed25519.
const ALG_ED25519: u8 = 1;

/// A checkpoint: the log's signed statement of its size and root at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Which log (and deployment) this is.
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: LogHash,
    /// When the log signed it (unix seconds): every entry it covers was in the log by then.
    pub time: u64,
}

impl Checkpoint {
    /// The note text the log signs.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\ntime {}\n", self.origin, self.size, self.root, self.time)
    }

    /// Parse a checkpoint's text (the note without its signatures), strictly: one
    /// spelling per checkpoint.
    pub fn parse_text(text: &str) -> Result<Self, TlogError> {
        let bad = |why: &str| TlogError::BadCheckpoint(why.to_owned());
        let body = text.strip_suffix('\n').ok_or_else(|| bad("the text does not end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, time] = lines[..] else {
            return Err(bad("a checkpoint has four lines: origin, size, root, time"));
        };
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        let number = |s: &str, what: &str| -> Result<u64, TlogError> {
            let n: u64 = s.parse().map_err(|_| bad(&format!("{what} is not a number")))?;
            if n.to_string() != s {
                return Err(bad(&format!("{what} is not in canonical decimal")));
            }
            Ok(n)
        };
        let time =
            time.strip_prefix("time ").ok_or_else(|| bad("the fourth line is not `time <seconds>`"))?;
        let cp = Self {
            origin: origin.to_owned(),
            size: number(size, "the tree size")?,
            root: root.parse().map_err(|e: String| TlogError::BadCheckpoint(e))?,
            time: number(time, "the time")?,
        };
        if cp.text() != text {
            return Err(bad("not in canonical form"));
        }
        Ok(cp)
    }

    /// Sign as a note with `signer` (whose name must be the origin).
    pub fn sign(&self, signer: &LogSigner) -> Result<Vec<u8>, TlogError> {
        if signer.name() != self.origin {
            return Err(TlogError::BadCheckpoint(format!(
                "the key is named {:?}, the checkpoint's origin is {:?}",
                signer.name(),
                self.origin
            )));
        }
        let mut note = Note::new(self.text().as_bytes(), &[])
            .map_err(|e| TlogError::BadCheckpoint(format!("origin is not note text: {e}")))?;
        note.add_sigs(&[&signer.inner]).map_err(|e| TlogError::BadCheckpoint(e.to_string()))?;
        Ok(note.to_bytes())
    }

    /// Open a signed checkpoint: it must carry a valid signature by `log` (other
    /// signatures, a witness's, are allowed and ignored here) and its origin must be
    /// the key's name.
    pub fn open(note: &[u8], log: &LogVerifier) -> Result<Self, TlogError> {
        let parsed = Note::from_bytes(note)
            .map_err(|e| TlogError::BadCheckpoint(format!("not a signed note: {e}")))?;
        let list = VerifierList::new(vec![Box::new(log.inner.clone())]);
        parsed
            .verify(&list)
            .map_err(|e| TlogError::BadCheckpoint(format!("not signed by log key {}: {e}", log.name())))?;
        let text =
            std::str::from_utf8(parsed.text()).map_err(|_| TlogError::BadCheckpoint("not UTF-8".into()))?;
        let cp = Self::parse_text(text)?;
        if cp.origin != log.name() {
            return Err(TlogError::BadCheckpoint(format!(
                "origin {:?} is not the log key's name {:?}",
                cp.origin,
                log.name()
            )));
        }
        Ok(cp)
    }
}

/// The log's signing key (Ed25519, in the signed-note private key encoding
/// `PRIVATE+KEY+<name>+<id>+<base64>`, which Go's `note` package reads too).
pub struct LogSigner {
    inner: StandardSigner,
    vkey: String,
}

impl LogSigner {
    /// Read an encoded private key. The text is not kept.
    pub fn from_encoded(skey: &str) -> Result<Self, TlogError> {
        let (inner, seed) = parse_private(skey)?;
        // The verifier key is derived from the seed, never trusted from a file.
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let vkey = verifier_key(inner.name(), &public);
        Ok(Self { inner, vkey })
    }

    /// The key's name: the log's origin.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The public verifier key, `<name>+<id>+<base64>`.
    pub fn verifier_key(&self) -> &str {
        &self.vkey
    }
}

/// A signed-note private key, checked (its id must be its name's and key's), and
/// its seed.
fn parse_private(skey: &str) -> Result<(StandardSigner, Zeroizing<[u8; 32]>), TlogError> {
    let skey = skey.trim_end();
    let inner = StandardSigner::new(skey)
        .map_err(|e| TlogError::BadCheckpoint(format!("not a signed-note private key: {e}")))?;
    // PRIVATE+KEY+<name>+<id>+<base64>: names hold no '+', base64 may.
    let rest = skey.splitn(5, '+').nth(4).ok_or_else(|| TlogError::BadCheckpoint("no key".into()))?;
    let key =
        Zeroizing::new(STANDARD.decode(rest).map_err(|_| TlogError::BadCheckpoint("key not base64".into()))?);
    let seed: [u8; 32] = key
        .get(1..)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| TlogError::BadCheckpoint("an Ed25519 key is 32 bytes".into()))?;
    Ok((inner, Zeroizing::new(seed)))
}

/// A witness's name and cosigning key from a signed-note private key (as `veil log
/// keygen` writes one): witnesses cosign with the same Ed25519 seed, under the
/// cosignature/v1 algorithm.
pub fn witness_key(skey: &str) -> Result<(String, ed25519_dalek::SigningKey), TlogError> {
    let (inner, seed) = parse_private(skey)?;
    Ok((inner.name().to_owned(), ed25519_dalek::SigningKey::from_bytes(&seed)))
}

/// A log's public key, as a signed-note verifier key.
#[derive(Clone)]
pub struct LogVerifier {
    inner: StandardVerifier,
    vkey: String,
}

impl std::fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.vkey)
    }
}

impl LogVerifier {
    /// Parse `<name>+<id hex>+<base64 of 0x01 ‖ key>`.
    pub fn new(vkey: &str) -> Result<Self, TlogError> {
        let vkey = vkey.trim();
        let inner = StandardVerifier::new(vkey)
            .map_err(|e| TlogError::BadCheckpoint(format!("not a signed-note verifier key: {e}")))?;
        Ok(Self { inner, vkey: vkey.to_owned() })
    }

    /// The log's name (its origin).
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The encoded key.
    pub fn encoded(&self) -> &str {
        &self.vkey
    }
}

fn verifier_key(name: &str, public: &[u8; 32]) -> String {
    let mut key = vec![ALG_ED25519];
    key.extend_from_slice(public);
    format!("{name}+{:08x}+{}", signed_note::key_id(name, &key), STANDARD.encode(&key))
}

/// A new log key named `name` from a 32-byte `seed` the caller drew from the OS:
/// the encoded private key (zeroized on drop) and the public verifier key.
pub fn generate_key(name: &str, seed: &[u8; 32]) -> Result<(Zeroizing<String>, String), TlogError> {
    if name.is_empty() || name.chars().any(|c| c == '+' || c.is_whitespace() || c.is_control()) {
        return Err(TlogError::BadCheckpoint(format!("log name {name:?} has spaces, pluses or nothing")));
    }
    let public = ed25519_dalek::SigningKey::from_bytes(seed).verifying_key().to_bytes();
    let mut private = Zeroizing::new(vec![ALG_ED25519]);
    private.extend_from_slice(seed);
    let mut pub_key = vec![ALG_ED25519];
    pub_key.extend_from_slice(&public);
    let skey = Zeroizing::new(format!(
        "PRIVATE+KEY+{name}+{:08x}+{}",
        signed_note::key_id(name, &pub_key),
        STANDARD.encode(&*private)
    ));
    Ok((skey, verifier_key(name, &public)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "veil.local/log/31337/0x5fbdb2315678afecb367f032d93f642f64180aa3";

    fn keys() -> (LogSigner, LogVerifier) {
        let (skey, vkey) = generate_key(ORIGIN, &[9; 32]).unwrap();
        (LogSigner::from_encoded(&skey).unwrap(), LogVerifier::new(&vkey).unwrap())
    }

    fn cp() -> Checkpoint {
        Checkpoint { origin: ORIGIN.into(), size: 12, root: LogHash([3; 32]), time: 1_764_806_400 }
    }

    #[test]
    fn a_checkpoint_round_trips_through_its_signed_note() {
        let (signer, verifier) = keys();
        assert_eq!(signer.verifier_key(), verifier.encoded());
        let note = cp().sign(&signer).unwrap();
        let text = String::from_utf8(note.clone()).unwrap();
        assert!(text.starts_with(&format!("{ORIGIN}\n12\n")), "{text}");
        assert!(text.contains(&format!("\n\n— {ORIGIN} ")), "{text}");
        assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), cp());
    }

    #[test]
    fn a_checkpoint_with_a_changed_size_or_another_key_is_refused() {
        let (signer, verifier) = keys();
        let note = String::from_utf8(cp().sign(&signer).unwrap()).unwrap();
        let forged = note.replacen("\n12\n", "\n13\n", 1);
        assert_ne!(forged, note);
        assert!(matches!(Checkpoint::open(forged.as_bytes(), &verifier), Err(TlogError::BadCheckpoint(_))));

        let (other, _) = generate_key(ORIGIN, &[8; 32]).unwrap();
        let other = LogSigner::from_encoded(&other).unwrap();
        let by_other = cp().sign(&other).unwrap();
        assert!(Checkpoint::open(&by_other, &verifier).is_err());

        // A key named for another deployment cannot sign this origin.
        let (elsewhere, _) = generate_key("veil.local/log/1/0x00", &[9; 32]).unwrap();
        assert!(cp().sign(&LogSigner::from_encoded(&elsewhere).unwrap()).is_err());
    }

    #[test]
    fn checkpoint_text_has_one_spelling() {
        let good = cp().text();
        assert_eq!(Checkpoint::parse_text(&good).unwrap(), cp());
        for bad in [
            good.replacen("\n12\n", "\n012\n", 1),
            good.replacen("time ", "time  ", 1),
            good.trim_end().to_owned(),
            format!("{good}extra\n"),
            good.replacen(ORIGIN, "", 1),
        ] {
            assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_whose_base64_holds_a_plus_read_back() {
        // Seeds until the encoded private key's base64 holds a '+' (about one in two).
        let (seed, skey) = (0u8..=255)
            .map(|i| (i, generate_key(ORIGIN, &[i; 32]).unwrap().0))
            .find(|(_, k)| k.rsplit('+').next().is_some_and(|b64| b64.len() < 40))
            .expect("some seed's key has a '+' in its base64");
        let signer = LogSigner::from_encoded(&skey).unwrap();
        assert_eq!(signer.verifier_key(), generate_key(ORIGIN, &[seed; 32]).unwrap().1);
    }

    #[test]
    fn names_with_spaces_or_pluses_are_refused() {
        assert!(generate_key("a b", &[1; 32]).is_err());
        assert!(generate_key("a+b", &[1; 32]).is_err());
        assert!(generate_key("", &[1; 32]).is_err());
    }
}
