//! The versioned binary format of keys, queries and answers (`docs/FHE.md`).
//!
//! Every object starts with a 42-byte header: the magic `VEILFHE\0`, the format
//! version (1), the kind (1 secret key, 2 public key, 3 query, 4 answer) and the
//! 32-byte hash of the parameter set it belongs to. The body follows: fhe.rs's own
//! protobuf encoding for a key; for a query little-endian `u32` counts then
//! length-prefixed fhe.rs ciphertexts; for an answer the counts then the ciphertexts'
//! polynomials as raw NTT-form words. Decoding checks every length
//! against the parameter set before allocating, and refuses anything else with a
//! typed error: it never panics on bytes from outside.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fhe::bfv::{Ciphertext, Encoding, Plaintext, PublicKey, SecretKey};
use fhe_math::rq::traits::TryConvertFrom as _;
use fhe_math::rq::{Poly, Representation};
use fhe_traits::{DeserializeParametrized, FheDecoder, FheDecrypter, FheEncoder, FheEncrypter, Serialize};
use rand_09::CryptoRng;
use rayon::prelude::*;
use zeroize::Zeroizing;

use crate::{FheError, ParamSet, Result};

/// The format version this build writes and reads (2: answers as raw NTT-form words).
pub const VERSION: u8 = 2;
const MAGIC: &[u8; 8] = b"VEILFHE\0";
const HEADER: usize = 8 + 1 + 1 + 32;

/// Ciphertexts one query may carry (64 × ⌊4096 / 30⌋ = 8,704 rows of the LR-30).
pub const MAX_QUERY_CIPHERTEXTS: usize = 64;

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    SecretKey = 1,
    PublicKey = 2,
    Query = 3,
    Answer = 4,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SecretKey => "an FHE secret key",
            Kind::PublicKey => "an FHE public key",
            Kind::Query => "an FHE query",
            Kind::Answer => "an FHE answer",
        }
    }

    fn of(b: u8) -> Option<Self> {
        [Kind::SecretKey, Kind::PublicKey, Kind::Query, Kind::Answer].into_iter().find(|k| *k as u8 == b)
    }
}

fn header(set: &ParamSet, kind: Kind) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, kind as u8]);
    out.extend_from_slice(&set.hash());
    out
}

/// The body of `bytes` after a header of `kind` under `set`.
fn body<'a>(set: &ParamSet, kind: Kind, bytes: &'a [u8]) -> Result<&'a [u8]> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(FheError::Format("missing the VEILFHE header".into()));
    }
    if bytes[8] != VERSION {
        return Err(FheError::Version(bytes[8]));
    }
    let found = Kind::of(bytes[9]).ok_or_else(|| FheError::Format(format!("unknown kind {}", bytes[9])))?;
    if found != kind {
        return Err(FheError::Kind { expected: kind.name(), found: found.name() });
    }
    if bytes[10..HEADER] != set.hash() {
        let found = bytes[10..HEADER].iter().map(|b| format!("{b:02x}")).collect();
        return Err(FheError::Params { expected: set.hash_hex(), found });
    }
    Ok(&bytes[HEADER..])
}

/// Runs an fhe.rs decoder on outside bytes: its errors, and any panic inside it, become
/// a format error.
fn decode<T>(what: &str, f: impl FnOnce() -> fhe::Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(FheError::Format(format!("{what}: {e}"))),
        Err(_) => Err(FheError::Format(format!("{what}: malformed encoding"))),
    }
}

/// The largest encoding of one ciphertext under `set`: three polynomials of n
/// coefficients per modulus at eight bytes each, plus protobuf framing.
fn max_ciphertext_bytes(set: &ParamSet) -> usize {
    3 * set.degree() * 8 * (set.max_level() + 1) + 1024
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u32(&mut self, what: &str) -> Result<usize> {
        let (head, rest) =
            self.0.split_at_checked(4).ok_or_else(|| FheError::Format(format!("{what}: truncated")))?;
        self.0 = rest;
        Ok(u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n).ok_or_else(|| FheError::Format("truncated".into()))?;
        self.0 = rest;
        Ok(head)
    }
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_le_bytes());
}

/// Length-prefixed ciphertexts, `count` of them, each at `level` with two parts.
fn read_ciphertexts(
    set: &ParamSet,
    c: &mut Cursor<'_>,
    count: usize,
    level: usize,
) -> Result<Vec<Ciphertext>> {
    let max = max_ciphertext_bytes(set);
    let mut slices = Vec::with_capacity(count);
    for k in 0..count {
        let len = c.u32("ciphertext length")?;
        if len > max {
            return Err(FheError::TooLarge(format!(
                "ciphertext {k} is {len} bytes; at most {max} under this set"
            )));
        }
        slices.push(c.bytes(len)?);
    }
    if !c.0.is_empty() {
        return Err(FheError::Format(format!("{} bytes after the last ciphertext", c.0.len())));
    }
    // Decoding transforms every polynomial: both cores share a large object.
    slices
        .par_iter()
        .enumerate()
        .map(|(k, bytes)| {
            let ct = decode("ciphertext", || Ciphertext::from_bytes(bytes, set.bfv()))?;
            let at = decode("ciphertext", || set.bfv().level_of_context(ct[0].ctx()))?;
            if ct.len() != 2 || at != level {
                return Err(FheError::Shape(format!(
                    "ciphertext {k} has {} parts at level {at}; expected 2 parts at level {level}",
                    ct.len()
                )));
            }
            Ok(ct)
        })
        .collect()
}

/// The whole bytes a word below `q` takes.
fn word_bytes(q: u64) -> usize {
    (64 - (q - 1).leading_zeros() as usize).div_ceil(8).max(1)
}

/// `count` ciphertexts at `level` as raw NTT-form words (two polynomials each, per
/// modulus `n` little-endian words of [`word_bytes`] each): exactly that many bytes,
/// every word below its modulus.
fn read_ntt_ciphertexts(set: &ParamSet, bytes: &[u8], count: usize, level: usize) -> Result<Vec<Ciphertext>> {
    let ctx = decode("level", || set.bfv().context_at_level(level).cloned())?;
    let (moduli, n) = (ctx.moduli().to_vec(), set.degree());
    let widths: Vec<usize> = moduli.iter().map(|q| word_bytes(*q)).collect();
    let per_poly = n * widths.iter().sum::<usize>();
    let per_ct = 2 * per_poly;
    if bytes.len() != count * per_ct {
        return Err(FheError::Format(format!(
            "{} bytes of ciphertexts; {count} at level {level} are {}",
            bytes.len(),
            count * per_ct
        )));
    }
    bytes
        .par_chunks(per_ct)
        .enumerate()
        .map(|(k, ct)| {
            let polys = ct
                .chunks(per_poly)
                .map(|poly| {
                    let mut words = Vec::with_capacity(moduli.len() * n);
                    let mut rest = poly;
                    for width in &widths {
                        let (row, tail) = rest.split_at(n * width);
                        rest = tail;
                        words.extend(row.chunks_exact(*width).map(|w| {
                            let mut b = [0u8; 8];
                            b[..*width].copy_from_slice(w);
                            u64::from_le_bytes(b)
                        }));
                    }
                    let reduced = words.chunks(n).zip(&moduli).all(|(row, q)| row.iter().all(|w| w < q));
                    if !reduced {
                        return Err(FheError::Format(format!(
                            "ciphertext {k} has a word outside its modulus"
                        )));
                    }
                    decode("ciphertext", || {
                        Poly::try_convert_from(words, &ctx, false, Representation::Ntt)
                            .map_err(fhe::Error::from)
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            decode("ciphertext", || Ciphertext::new(polys, set.bfv()))
        })
        .collect()
}

fn write_ciphertexts(out: &mut Vec<u8>, cts: &[Ciphertext]) {
    let encoded: Vec<Vec<u8>> = cts.par_iter().map(Serialize::to_bytes).collect();
    for b in encoded {
        put_u32(out, b.len());
        out.extend_from_slice(&b);
    }
}

/// Rows of `features` that one ciphertext packs.
pub(crate) fn rows_per_ciphertext(set: &ParamSet, features: usize) -> usize {
    set.degree() / features.max(1)
}

/// Pack `rows` into plaintexts (`⌊n / f⌋` rows each) and encrypt each with `encrypt`.
fn encrypt_rows(
    set: &ParamSet,
    rows: &[Vec<i8>],
    mut encrypt: impl FnMut(&Plaintext) -> fhe::Result<Ciphertext>,
) -> Result<Query> {
    let features = rows.first().map_or(0, Vec::len);
    if features == 0 || rows.iter().any(|r| r.len() != features) {
        return Err(FheError::Input("rows must be non-empty and of one length".into()));
    }
    if rows.iter().flatten().any(|v| *v == i8::MIN) {
        return Err(FheError::Input("int8 features must be in -127..=127".into()));
    }
    if features > set.degree() {
        return Err(FheError::Shape(format!("{features} features exceed the ring degree")));
    }
    let per = rows_per_ciphertext(set, features);
    let count = rows.len().div_ceil(per);
    if count > MAX_QUERY_CIPHERTEXTS {
        return Err(FheError::TooLarge(format!(
            "{} rows need {count} ciphertexts; a query holds at most {MAX_QUERY_CIPHERTEXTS} ({} rows)",
            rows.len(),
            MAX_QUERY_CIPHERTEXTS * per
        )));
    }
    let cts = rows
        .chunks(per)
        .map(|chunk| {
            let coeffs: Vec<i64> = chunk.iter().flatten().map(|v| i64::from(*v)).collect();
            Ok(encrypt(&Plaintext::try_encode(&coeffs, Encoding::poly(), set.bfv())?)?)
        })
        .collect::<Result<Vec<Ciphertext>>>()?;
    Ok(Query { set: set.clone(), features, rows: rows.len(), cts })
}

/// The client's BFV secret key. It never leaves the client; its encoding is zeroized
/// when dropped (and fhe.rs zeroizes the key itself).
pub struct ClientKey {
    set: ParamSet,
    sk: SecretKey,
}

impl ClientKey {
    /// A fresh key under `set`.
    pub fn generate(set: &ParamSet, rng: &mut impl CryptoRng) -> Self {
        Self { set: set.clone(), sk: SecretKey::random(set.bfv(), rng) }
    }

    /// The public key that encrypts to this key (fresh randomness each time).
    pub fn encryption_key(&self, rng: &mut impl CryptoRng) -> EncryptionKey {
        EncryptionKey { set: self.set.clone(), pk: PublicKey::new(&self.sk, rng) }
    }

    /// Encrypt int8 rows (each in `−127..=127`, all of one length) as a query, under
    /// this key directly: half the size of a public-key encryption (one polynomial and
    /// a seed per ciphertext) and less noise. What a client encrypting its own rows uses.
    pub fn encrypt_rows(&self, rows: &[Vec<i8>], rng: &mut impl CryptoRng) -> Result<Query> {
        encrypt_rows(&self.set, rows, |pt| self.sk.try_encrypt(pt, rng))
    }

    /// Its encoding (write it with mode 0600).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(header(&self.set, Kind::SecretKey));
        out.extend_from_slice(&Zeroizing::new(self.sk.to_bytes()));
        out
    }

    /// A key from [`Self::to_bytes`] under `set`.
    pub fn from_bytes(set: &ParamSet, bytes: &[u8]) -> Result<Self> {
        let body = body(set, Kind::SecretKey, bytes)?;
        let sk = decode("secret key", || SecretKey::from_bytes(body, set.bfv()))?;
        Ok(Self { set: set.clone(), sk })
    }

    /// Each row's accumulators, in the order the query held the rows.
    pub fn decrypt_answer(&self, answer: &Answer) -> Result<Vec<Vec<i64>>> {
        if answer.set.hash() != self.set.hash() {
            return Err(FheError::Params { expected: self.set.hash_hex(), found: answer.set.hash_hex() });
        }
        let per = rows_per_ciphertext(&self.set, answer.features);
        let mut rows = Vec::with_capacity(answer.rows);
        for chunk in answer.cts.chunks(answer.outputs) {
            let decoded = chunk
                .iter()
                .map(|ct| Ok(Vec::<i64>::try_decode(&self.sk.try_decrypt(ct)?, Encoding::poly())?))
                .collect::<Result<Vec<_>>>()?;
            for j in 0..per.min(answer.rows - rows.len()) {
                rows.push(
                    decoded.iter().map(|coeffs| coeffs[j * answer.features + answer.features - 1]).collect(),
                );
            }
        }
        Ok(rows)
    }
}

/// The public key a client encrypts its queries with. Only the client needs it; it
/// reveals nothing about the secret key.
#[derive(Clone)]
pub struct EncryptionKey {
    set: ParamSet,
    pk: PublicKey,
}

impl EncryptionKey {
    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = header(&self.set, Kind::PublicKey);
        out.extend_from_slice(&self.pk.to_bytes());
        out
    }

    /// A key from [`Self::to_bytes`] under `set`.
    pub fn from_bytes(set: &ParamSet, bytes: &[u8]) -> Result<Self> {
        let body = body(set, Kind::PublicKey, bytes)?;
        let pk = decode("public key", || PublicKey::from_bytes(body, set.bfv()))?;
        Ok(Self { set: set.clone(), pk })
    }

    /// Encrypt int8 rows (each in `−127..=127`, all of one length) as a query.
    pub fn encrypt_rows(&self, rows: &[Vec<i8>], rng: &mut impl CryptoRng) -> Result<Query> {
        encrypt_rows(&self.set, rows, |pt| self.pk.try_encrypt(pt, rng))
    }
}

/// Encrypted feature rows for one model's input shape.
pub struct Query {
    pub(crate) set: ParamSet,
    pub(crate) features: usize,
    pub(crate) rows: usize,
    pub(crate) cts: Vec<Ciphertext>,
}

impl Query {
    /// Features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Ciphertexts.
    pub fn ciphertexts(&self) -> usize {
        self.cts.len()
    }

    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = header(&self.set, Kind::Query);
        put_u32(&mut out, self.features);
        put_u32(&mut out, self.rows);
        put_u32(&mut out, self.cts.len());
        write_ciphertexts(&mut out, &self.cts);
        out
    }

    /// A query from outside, checked against `set`: counts consistent with the
    /// packing, every ciphertext fresh (two parts, level 0).
    pub fn from_bytes(set: &ParamSet, bytes: &[u8]) -> Result<Self> {
        let (shape, mut c) = Self::read_shape(set, bytes)?;
        let cts = read_ciphertexts(set, &mut c, shape.ciphertexts, 0)?;
        Ok(Self { set: set.clone(), features: shape.features, rows: shape.rows, cts })
    }

    /// What a query's header and counts say, checked as [`Query::from_bytes`] checks
    /// them, without decoding a ciphertext: cheap enough for a front door to refuse a
    /// query under other parameters, for another input shape, or too large.
    pub fn shape(set: &ParamSet, bytes: &[u8]) -> Result<QueryShape> {
        Ok(Self::read_shape(set, bytes)?.0)
    }

    fn read_shape<'a>(set: &ParamSet, bytes: &'a [u8]) -> Result<(QueryShape, Cursor<'a>)> {
        let mut c = Cursor(body(set, Kind::Query, bytes)?);
        let (features, rows, count) = (c.u32("features")?, c.u32("rows")?, c.u32("count")?);
        if features == 0 || features > set.degree() || rows == 0 {
            return Err(FheError::Shape(format!("{rows} rows of {features} features")));
        }
        if count > MAX_QUERY_CIPHERTEXTS {
            return Err(FheError::TooLarge(format!(
                "{count} ciphertexts; a query holds at most {MAX_QUERY_CIPHERTEXTS}"
            )));
        }
        if count != rows.div_ceil(rows_per_ciphertext(set, features)) {
            return Err(FheError::Shape(format!(
                "{rows} rows of {features} features pack into {} ciphertexts, not {count}",
                rows.div_ceil(rows_per_ciphertext(set, features))
            )));
        }
        Ok((QueryShape { features, rows, ciphertexts: count }, c))
    }
}

/// A query's shape, as its header and counts state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryShape {
    /// Features per row.
    pub features: usize,
    /// Rows.
    pub rows: usize,
    /// Ciphertexts.
    pub ciphertexts: usize,
}

/// Encrypted accumulators: per query ciphertext, one ciphertext per model output.
pub struct Answer {
    pub(crate) set: ParamSet,
    pub(crate) features: usize,
    pub(crate) rows: usize,
    pub(crate) outputs: usize,
    pub(crate) level: usize,
    pub(crate) cts: Vec<Ciphertext>,
}

impl Answer {
    /// Rows answered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = header(&self.set, Kind::Answer);
        for v in [self.features, self.rows, self.outputs, self.level, self.cts.len()] {
            put_u32(&mut out, v);
        }
        // The evaluation leaves every polynomial in NTT form: written as it is, with no
        // inverse transform and no bit-packing (the client's decryption transforms),
        // each word in the fewest whole bytes its modulus needs.
        let Some(first) = self.cts.first() else {
            return out;
        };
        let widths: Vec<usize> = first[0].ctx().moduli().iter().map(|q| word_bytes(*q)).collect();
        let n = self.set.degree();
        out.reserve(self.cts.len() * 2 * n * widths.iter().sum::<usize>());
        for ct in &self.cts {
            for poly in ct.iter().take(2) {
                for (row, width) in poly.coefficients().outer_iter().zip(&widths) {
                    for w in row {
                        out.extend_from_slice(&w.to_le_bytes()[..*width]);
                    }
                }
            }
        }
        out
    }

    /// An answer from a server, checked against `set`.
    pub fn from_bytes(set: &ParamSet, bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor(body(set, Kind::Answer, bytes)?);
        let (features, rows, outputs) = (c.u32("features")?, c.u32("rows")?, c.u32("outputs")?);
        let (level, count) = (c.u32("level")?, c.u32("count")?);
        if features == 0 || features > set.degree() || rows == 0 || outputs == 0 || level > set.max_level() {
            return Err(FheError::Shape(format!("{rows} rows × {outputs} outputs at level {level}")));
        }
        let chunks = rows.div_ceil(rows_per_ciphertext(set, features));
        if chunks > MAX_QUERY_CIPHERTEXTS || outputs > 1024 || count != chunks * outputs {
            return Err(FheError::Shape(format!("{count} ciphertexts for {rows} rows × {outputs} outputs")));
        }
        let cts = read_ntt_ciphertexts(set, c.0, count, level)?;
        Ok(Self { set: set.clone(), features, rows, outputs, level, cts })
    }
}
