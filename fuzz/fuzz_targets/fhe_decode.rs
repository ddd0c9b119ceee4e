//! FHE keys, queries and answers from outside: decoding never panics, and whatever
//! decodes as a query can be evaluated, and its answer re-decodes to the same shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil_fhe::{Answer, ClientKey, EncryptionKey, FheLinear, LinearLayer, ParamSet, Query};

fuzz_target!(|data: &[u8]| {
    let set = ParamSet::standard().expect("the standard set builds");
    let _ = ClientKey::from_bytes(&set, data);
    let _ = EncryptionKey::from_bytes(&set, data);
    if let Ok(a) = Answer::from_bytes(&set, data) {
        let again = Answer::from_bytes(&set, &a.to_bytes()).expect("an answer re-decodes");
        assert_eq!((again.rows(), again.outputs()), (a.rows(), a.outputs()));
    }
    if let Ok(q) = Query::from_bytes(&set, data) {
        let layer = LinearLayer {
            inputs: q.features(),
            outputs: 2,
            weights: vec![1; q.features() * 2],
            bias: vec![0, 0],
        };
        let model = FheLinear::new(&set, &layer).expect("a small model fits the standard set");
        let answer = model.evaluate(&q).expect("a decoded query evaluates");
        let again = Answer::from_bytes(&set, &answer.to_bytes()).expect("the answer re-decodes");
        assert_eq!(again.rows(), q.rows());
    }
});
