//! Key derivation, masks, share encryption and commitments, all bound to the round.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chacha20::ChaCha12;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{ClientId, RoundConfig, SecAggError};

/// SHA-256 of the round's configuration: salt of every key, associated data of every
/// ciphertext, prefix of every commitment.
pub(crate) fn context(cfg: &RoundConfig) -> [u8; 32] {
    let json = serde_json::to_vec(cfg).unwrap_or_default();
    Sha256::new().chain_update(b"veil/secagg/v1/round\0").chain_update(&json).finalize().into()
}

fn kdf(ctx: &[u8; 32], shared: &[u8; 32], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = Hkdf::<Sha256>::new(Some(ctx), shared).expand_multi_info(info, out.as_mut());
    out
}

/// A key from an X25519 agreement, bound to the round and to `info`.
fn agree(ctx: &[u8; 32], mine: &StaticSecret, theirs: &[u8; 32], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let dh = Zeroizing::new(mine.diffie_hellman(&PublicKey::from(*theirs)).to_bytes());
    kdf(ctx, &dh, info)
}

/// The mask seed clients `a` and `b` share (the same from either side).
pub(crate) fn pair_seed(
    ctx: &[u8; 32],
    mine: &StaticSecret,
    theirs: &[u8; 32],
    a: ClientId,
    b: ClientId,
) -> Zeroizing<[u8; 32]> {
    let (lo, hi) = (a.min(b), a.max(b));
    agree(ctx, mine, theirs, &[b"veil/secagg/v1/pair-mask\0", &lo.to_le_bytes(), &hi.to_le_bytes()])
}

/// The key of the share bundle `from` → `to` (one key per direction and round).
fn bundle_key(
    ctx: &[u8; 32],
    mine: &StaticSecret,
    theirs: &[u8; 32],
    from: ClientId,
    to: ClientId,
) -> Zeroizing<[u8; 32]> {
    agree(ctx, mine, theirs, &[b"veil/secagg/v1/share-key\0", &from.to_le_bytes(), &to.to_le_bytes()])
}

/// Encrypt a share bundle. The key is used once, so a fixed nonce is safe.
pub(crate) fn seal(
    ctx: &[u8; 32],
    mine: &StaticSecret,
    theirs: &[u8; 32],
    from: ClientId,
    to: ClientId,
    plain: &[u8],
) -> Vec<u8> {
    let key = bundle_key(ctx, mine, theirs, from, to);
    let cipher = Aes256Gcm::new(&(*key).into());
    cipher.encrypt(&Nonce::default(), Payload { msg: plain, aad: ctx }).unwrap_or_default()
}

/// Open a share bundle addressed to `to`.
pub(crate) fn open(
    ctx: &[u8; 32],
    mine: &StaticSecret,
    theirs: &[u8; 32],
    from: ClientId,
    to: ClientId,
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let key = bundle_key(ctx, mine, theirs, from, to);
    let cipher = Aes256Gcm::new(&(*key).into());
    cipher.decrypt(&Nonce::default(), Payload { msg: sealed, aad: ctx }).ok().map(Zeroizing::new)
}

/// A commitment to a share of `of`'s secret held by `holder` (`kind`: seed or key).
pub(crate) fn share_digest(
    ctx: &[u8; 32],
    kind: &[u8],
    of: ClientId,
    holder: ClientId,
    share: &[u8],
) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"veil/secagg/v1/share\0")
        .chain_update(ctx)
        .chain_update(kind)
        .chain_update(of.to_le_bytes())
        .chain_update(holder.to_le_bytes())
        .chain_update(share)
        .finalize()
        .into()
}

/// A commitment to a client's self-mask seed.
pub(crate) fn seed_commitment(ctx: &[u8; 32], client: ClientId, seed: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"veil/secagg/v1/seed\0")
        .chain_update(ctx)
        .chain_update(client.to_le_bytes())
        .chain_update(seed)
        .finalize()
        .into()
}

/// Add (or, with `negate`, subtract) the ChaCha12 keystream of `seed`, read as
/// little-endian words, to `v` mod 2³². Twelve rounds, as `rand`'s `StdRng`: the
/// best known attacks reach seven, and the aggregator expands one mask per dropped
/// client and survivor, so the rounds are most of its time.
pub fn add_mask(v: &mut [u32], seed: &[u8; 32], negate: bool) {
    let mut cipher = ChaCha12::new(&(*seed).into(), &[0u8; 12].into());
    let mut buf = [0u8; 4096];
    for chunk in v.chunks_mut(buf.len() / 4) {
        let bytes = &mut buf[..chunk.len() * 4];
        bytes.fill(0);
        cipher.apply_keystream(bytes);
        for (w, b) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
            let m = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            *w = if negate { w.wrapping_sub(m) } else { w.wrapping_add(m) };
        }
    }
}

/// 32 bytes from the operating system.
pub(crate) fn random32() -> Result<Zeroizing<[u8; 32]>, SecAggError> {
    let mut out = Zeroizing::new([0u8; 32]);
    getrandom::fill(out.as_mut()).map_err(|e| SecAggError::Random(e.to_string()))?;
    Ok(out)
}

/// Split a 32-byte secret into one share per participant (x = position + 1), any
/// `t` of which rebuild it.
pub(crate) fn split(secret: &[u8; 32], t: u32, n: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, SecAggError> {
    use chacha20::rand_core::SeedableRng as _;
    let rng = chacha20::ChaCha20Rng::from_seed(*random32()?);
    let shares = vsss_rs::Gf256::split_bytes(t as usize, n, secret, rng)
        .map_err(|e| SecAggError::Config(format!("Shamir split: {e:?}")))?;
    Ok(shares.into_iter().map(Zeroizing::new).collect())
}

/// Rebuild a secret from shares (each `[x, 32 bytes]`).
pub(crate) fn combine(shares: &[Vec<u8>]) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(vsss_rs::Gf256::combine_bytes(shares).ok()?);
    let arr: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Zeroizing::new(arr))
}
