//! Exactness against the integer model, refusals before evaluation, and the wire
//! format against damaged and hostile bytes.

use proptest::prelude::*;
use rand_09::rngs::StdRng;
use rand_09::{Rng, SeedableRng};
use veil_fhe::{Answer, ClientKey, EncryptionKey, FheError, FheLinear, LinearLayer, ParamSet, Query};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn random_layer(r: &mut StdRng, inputs: usize, outputs: usize) -> LinearLayer {
    LinearLayer {
        inputs,
        outputs,
        weights: (0..inputs * outputs).map(|_| r.random_range(-127..=127)).collect(),
        bias: (0..outputs).map(|_| r.random_range(-40_000..=40_000)).collect(),
    }
}

fn random_rows(r: &mut StdRng, rows: usize, features: usize) -> Vec<Vec<i8>> {
    (0..rows).map(|_| (0..features).map(|_| r.random_range(-127..=127)).collect()).collect()
}

/// The integer model, computed in the clear.
fn forward(l: &LinearLayer, x: &[i8]) -> Vec<i64> {
    (0..l.outputs)
        .map(|o| {
            i64::from(l.bias[o])
                + (0..l.inputs)
                    .map(|i| i64::from(l.weights[i * l.outputs + o]) * i64::from(x[i]))
                    .sum::<i64>()
        })
        .collect()
}

struct Client {
    key: ClientKey,
    enc: EncryptionKey,
}

fn client(set: &ParamSet, seed: u64) -> Client {
    let mut r = rng(seed);
    let key = ClientKey::generate(set, &mut r);
    let enc = key.encryption_key(&mut r);
    Client { key, enc }
}

#[test]
fn decrypted_answers_equal_the_integer_model_on_every_row() {
    let set = ParamSet::standard().unwrap();
    let mut r = rng(1);
    let layer = random_layer(&mut r, 30, 2);
    // 300 rows of 30 features: three ciphertexts (136 rows each), the last partial.
    let rows = random_rows(&mut r, 300, 30);
    let c = client(&set, 2);
    let model = FheLinear::new(&set, &layer).unwrap();
    let query = c.enc.encrypt_rows(&rows, &mut r).unwrap();
    assert_eq!((query.rows(), query.ciphertexts()), (300, 3));
    let answer = model.evaluate(&query).unwrap();
    assert_eq!(answer.outputs(), 2);
    let got = c.key.decrypt_answer(&answer).unwrap();
    let want: Vec<Vec<i64>> = rows.iter().map(|x| forward(&layer, x)).collect();
    assert_eq!(got, want);

    // Under the secret key itself: one polynomial and a seed per ciphertext, as exact.
    let own = c.key.encrypt_rows(&rows, &mut r).unwrap();
    let (own_len, public_len) = (own.to_bytes().len(), query.to_bytes().len());
    assert!(own_len * 10 < public_len * 6, "{own_len} vs {public_len}");
    assert_eq!(c.key.decrypt_answer(&model.evaluate(&own).unwrap()).unwrap(), want);
}

#[test]
fn the_largest_accumulators_the_bound_admits_decode_exactly() {
    let set = ParamSet::standard().unwrap();
    let features = 64;
    let layer = LinearLayer {
        inputs: features,
        outputs: 3,
        weights: (0..features * 3).map(|k| if k % 3 == 1 { -127 } else { 127 }).collect(),
        bias: vec![1_000_000, -1_000_000, 0],
    };
    let rows = vec![vec![127i8; features], vec![-127i8; features], vec![0i8; features]];
    let c = client(&set, 3);
    let model = FheLinear::new(&set, &layer).unwrap();
    let answer = model.evaluate(&c.enc.encrypt_rows(&rows, &mut rng(4)).unwrap()).unwrap();
    let got = c.key.decrypt_answer(&answer).unwrap();
    assert_eq!(got[0], vec![1_000_000 + 64 * 127 * 127, -1_000_000 - 64 * 127 * 127, 64 * 127 * 127]);
    assert_eq!(got, rows.iter().map(|x| forward(&layer, x)).collect::<Vec<_>>());
}

#[test]
fn a_parameter_set_too_small_for_the_model_is_refused_before_evaluation() {
    let mut r = rng(5);
    let layer = random_layer(&mut r, 30, 2);
    // One 36-bit modulus: the noise of one product could exceed what decryption
    // tolerates, so the model is refused instead of decrypting to garbage.
    let small = ParamSet::custom(4096, 24, &[0xffffee001]).unwrap();
    let e = FheLinear::new(&small, &layer).unwrap_err();
    assert!(matches!(e, FheError::Budget(ref m) if m.contains("noise")), "{e}");
    // A plaintext modulus the accumulators could wrap around.
    let narrow = ParamSet::custom(4096, 16, &[0xffffee001, 0xffffc4001, 0x1ffffe0001]).unwrap();
    let e = FheLinear::new(&narrow, &layer).unwrap_err();
    assert!(matches!(e, FheError::Budget(ref m) if m.contains("plaintext modulus")), "{e}");
    // The standard set takes it.
    FheLinear::new(&ParamSet::standard().unwrap(), &layer).unwrap();
}

#[test]
fn another_clients_key_does_not_decrypt_the_answer() {
    let set = ParamSet::standard().unwrap();
    let mut r = rng(6);
    let layer = random_layer(&mut r, 30, 2);
    let rows = random_rows(&mut r, 10, 30);
    let (alice, eve) = (client(&set, 7), client(&set, 8));
    let answer = FheLinear::new(&set, &layer)
        .unwrap()
        .evaluate(&alice.enc.encrypt_rows(&rows, &mut r).unwrap())
        .unwrap();
    let want: Vec<Vec<i64>> = rows.iter().map(|x| forward(&layer, x)).collect();
    assert_eq!(alice.key.decrypt_answer(&answer).unwrap(), want);
    assert_ne!(eve.key.decrypt_answer(&answer).unwrap(), want);
}

#[test]
fn keys_queries_and_answers_round_trip_through_their_encoding() {
    let set = ParamSet::standard().unwrap();
    let mut r = rng(9);
    let layer = random_layer(&mut r, 30, 2);
    let rows = random_rows(&mut r, 140, 30);
    let c = client(&set, 10);
    let key = ClientKey::from_bytes(&set, &c.key.to_bytes()).unwrap();
    let enc = EncryptionKey::from_bytes(&set, &c.enc.to_bytes()).unwrap();
    let query_bytes = enc.encrypt_rows(&rows, &mut r).unwrap().to_bytes();
    let query = Query::from_bytes(&set, &query_bytes).unwrap();
    let answer_bytes = FheLinear::new(&set, &layer).unwrap().evaluate(&query).unwrap().to_bytes();
    let answer = Answer::from_bytes(&set, &answer_bytes).unwrap();
    assert_eq!(answer.to_bytes(), answer_bytes);
    let want: Vec<Vec<i64>> = rows.iter().map(|x| forward(&layer, x)).collect();
    assert_eq!(key.decrypt_answer(&answer).unwrap(), want);

    // An answer's words are raw NTT-form coefficients: one at or above its modulus,
    // a byte short or a byte over is refused, never decoded into a polynomial.
    let body = 42 + 5 * 4;
    let mut unreduced = answer_bytes.clone();
    // The first word (at most eight bytes wide) all ones: above its (odd, prime) modulus.
    unreduced[body..body + 8].fill(0xff);
    assert_ne!(unreduced, answer_bytes);
    assert!(matches!(Answer::from_bytes(&set, &unreduced), Err(FheError::Format(_))));
    assert!(matches!(
        Answer::from_bytes(&set, &answer_bytes[..answer_bytes.len() - 1]),
        Err(FheError::Format(_))
    ));
    let mut longer = answer_bytes.clone();
    longer.push(0);
    assert!(matches!(Answer::from_bytes(&set, &longer), Err(FheError::Format(_))));
}

/// A valid query for the tamper tests, with the model that takes it.
fn query_bytes(rows: usize) -> (ParamSet, Vec<u8>) {
    let set = ParamSet::standard().unwrap();
    let mut r = rng(11);
    let bytes = client(&set, 12).enc.encrypt_rows(&random_rows(&mut r, rows, 30), &mut r).unwrap().to_bytes();
    (set, bytes)
}

#[test]
fn damaged_or_misdirected_objects_are_refused_with_the_reason() {
    let (set, good) = query_bytes(140);
    Query::from_bytes(&set, &good).unwrap();
    let refused = |bytes: &[u8]| Query::from_bytes(&set, bytes).err().expect("refused");

    let mut version = good.clone();
    version[8] = 3;
    assert!(matches!(refused(&version), FheError::Version(3)));
    let mut kind = good.clone();
    kind[9] = 2;
    assert!(matches!(refused(&kind), FheError::Kind { found: "an FHE public key", .. }));
    let mut params = good.clone();
    params[10] ^= 1;
    assert_ne!(params, good);
    assert!(matches!(refused(&params), FheError::Params { .. }));
    assert!(matches!(refused(&good[..good.len() - 1]), FheError::Format(_)));
    assert!(matches!(refused(&[good.as_slice(), b"x"].concat()), FheError::Format(_)));
    assert!(matches!(refused(b"not fhe at all"), FheError::Format(_)));
    // Rows that the ciphertext count cannot hold.
    let mut rows = good.clone();
    rows[46..50].copy_from_slice(&100_000u32.to_le_bytes());
    assert!(matches!(refused(&rows), FheError::Shape(_)));
    // A query for another input shape reaches the model and is refused there.
    let other = client(&set, 13).enc.encrypt_rows(&[vec![1i8; 64]], &mut rng(14)).unwrap();
    let model = FheLinear::new(&set, &random_layer(&mut rng(15), 30, 2)).unwrap();
    assert!(matches!(model.evaluate(&other), Err(FheError::Shape(m)) if m.contains("30 features")));
    // A query under another parameter set.
    let custom = ParamSet::custom(4096, 23, &[0xffffee001, 0xffffc4001, 0x1ffffe0001]).unwrap();
    let q = client(&custom, 16).enc.encrypt_rows(&[vec![1i8; 30]], &mut rng(17)).unwrap().to_bytes();
    assert!(matches!(Query::from_bytes(&set, &q), Err(FheError::Params { .. })));
    // Secret keys are not queries.
    let sk = client(&set, 18).key.to_bytes();
    assert!(matches!(refused(&sk), FheError::Kind { found: "an FHE secret key", .. }));
}

#[test]
fn a_query_larger_than_a_request_may_carry_is_refused() {
    let set = ParamSet::standard().unwrap();
    let rows = vec![vec![1i8; 4096]; veil_fhe::wire::MAX_QUERY_CIPHERTEXTS + 1];
    let e = client(&set, 19).enc.encrypt_rows(&rows, &mut rng(20)).err().unwrap();
    assert!(matches!(e, FheError::TooLarge(_)), "{e}");
    let (_, mut good) = query_bytes(1);
    good[50..54].copy_from_slice(&(veil_fhe::wire::MAX_QUERY_CIPHERTEXTS as u32 + 1).to_le_bytes());
    assert!(matches!(Query::from_bytes(&set, &good), Err(FheError::TooLarge(_))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let set = ParamSet::standard().unwrap();
        let _ = Query::from_bytes(&set, &bytes);
        let _ = Answer::from_bytes(&set, &bytes);
        let _ = ClientKey::from_bytes(&set, &bytes);
        let _ = EncryptionKey::from_bytes(&set, &bytes);
    }

    #[test]
    fn a_damaged_query_is_refused_or_still_well_formed(at in 0usize..1 << 20, byte in any::<u8>()) {
        let (set, good) = query_bytes(1);
        let mut bad = good.clone();
        let at = at % bad.len();
        bad[at] ^= byte | 1;
        prop_assert_ne!(&bad, &good);
        // Damage inside a ciphertext's coefficients can still decode (it is then
        // another ciphertext); anything that decodes evaluates without panicking.
        if let Ok(q) = Query::from_bytes(&set, &bad) {
            let model = FheLinear::new(&set, &random_layer(&mut rng(21), 30, 2)).unwrap();
            prop_assert!(model.evaluate(&q).is_ok());
        }
    }
}
