//! Document sets from outside (a sealed blob opened in the worker): decoding never
//! panics, what decodes is canonical (re-encodes to the same bytes), and retrieval over
//! it stays within its limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use veil_retrieve::{DocumentSet, Index, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(set) = DocumentSet::decode(data) else { return };
    assert_eq!(set.encode(), data);
    let index = Index::new(&set);
    let limits = Limits { max_passages: 3, max_tokens: 64 };
    let question = set.documents()[0].text().chars().take(40).collect::<String>();
    let words = |t: &str| Ok::<_, ()>(t.split_whitespace().count());
    let ctx = index.select(&question, limits, words).unwrap();
    assert!(ctx.passages.len() <= 3 && ctx.tokens <= 64);
    assert!(ctx.passages.iter().all(|&i| i < index.passages().len()));
});
