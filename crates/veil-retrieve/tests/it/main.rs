//! veil-retrieve's integration tests: the document set's canonical encoding and its
//! checks, and retrieval's ranking, limits and determinism.

use proptest::prelude::*;
use veil_retrieve::{DocsError, DocumentSet, FORMAT, Index, Kind, Limits, MAX_DOCUMENTS, MAX_SET_BYTES};

fn set(docs: &[(&str, &str)]) -> DocumentSet {
    DocumentSet::new(docs.iter().map(|(n, t)| (n.to_string(), t.to_string()))).unwrap()
}

/// Words as tokens: enough to test budgets without a model.
fn words(text: &str) -> Result<usize, std::convert::Infallible> {
    Ok(text.split_whitespace().count())
}

const TEA: &str = "# Green tea\n\nSteep green tea at 80 degrees for two minutes.\n\n# Black tea\n\nBlack tea wants boiling water and four minutes.";
const SEA: &str = "The sea was calm at dawn.\n\nFishing boats left the harbour before the storm.";
const QUOTES: &str = "{\"author\":\"Seneca\",\"quote\":\"Luck is what happens when preparation meets opportunity.\"}\n{\"author\":\"Lao Tzu\",\"quote\":\"A journey of a thousand miles begins with a single step.\"}\n";

fn library() -> DocumentSet {
    set(&[("tea.md", TEA), ("sea.txt", SEA), ("quotes.jsonl", QUOTES)])
}

#[test]
fn the_passage_that_answers_ranks_first_and_is_quoted_with_its_source() {
    let index = Index::new(&library());
    let limits = Limits { max_passages: 2, max_tokens: 1000 };
    let ctx = index.select("How long should green tea steep?", limits, words).unwrap();
    let first = &index.passages()[ctx.passages[0]];
    assert_eq!(first.source, "tea.md#1");
    assert!(ctx.text.starts_with("[tea.md#1]\n# Green tea\nSteep green tea at 80 degrees"), "{}", ctx.text);
    assert_eq!(ctx.tokens, ctx.text.split_whitespace().count());

    let ctx = index.select("who said a journey begins with a single step", limits, words).unwrap();
    assert_eq!(
        index.passages()[ctx.passages[0]].text,
        "author: Lao Tzu\nquote: A journey of a thousand miles begins with a single step."
    );
}

#[test]
fn a_question_sharing_no_term_gets_an_empty_context() {
    let index = Index::new(&library());
    let ctx =
        index.select("quantum chromodynamics", Limits { max_passages: 4, max_tokens: 1000 }, words).unwrap();
    assert!(ctx.passages.is_empty() && ctx.text.is_empty() && ctx.tokens == 0);
}

#[test]
fn a_passage_over_the_budget_is_skipped_and_a_shorter_one_still_fits() {
    let long = format!("green tea brewing {}", "notes ".repeat(100));
    let docs = set(&[("a.txt", &long), ("b.txt", "green tea brewing is simple")]);
    let index = Index::new(&docs);
    let ranked = index.rank("green tea brewing notes");
    assert_eq!(ranked[0].0, 0, "the long passage ranks first");
    let ctx =
        index.select("green tea brewing notes", Limits { max_passages: 2, max_tokens: 20 }, words).unwrap();
    assert_eq!(ctx.passages, [1]);
    assert!(ctx.tokens <= 20);
    // With room for both, both are quoted, best first.
    let ctx =
        index.select("green tea brewing notes", Limits { max_passages: 2, max_tokens: 500 }, words).unwrap();
    assert_eq!(ctx.passages, [0, 1]);
    // And the passage count is a limit of its own.
    let ctx =
        index.select("green tea brewing notes", Limits { max_passages: 1, max_tokens: 500 }, words).unwrap();
    assert_eq!(ctx.passages, [0]);
}

#[test]
fn ties_break_by_set_order_and_retrieval_is_a_function() {
    let docs = set(&[("b.txt", "the lighthouse keeper"), ("a.txt", "the lighthouse keeper")]);
    let index = Index::new(&docs);
    let ranked = index.rank("lighthouse");
    assert_eq!(ranked.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(index.passages()[0].source, "a.txt#1", "documents are in name order");
    let limits = Limits { max_passages: 3, max_tokens: 1000 };
    let q = "what does the keeper of the lighthouse do at sea";
    let one = Index::new(&library()).select(q, limits, words).unwrap();
    let two =
        Index::new(&DocumentSet::decode(&library().encode()).unwrap()).select(q, limits, words).unwrap();
    assert_eq!(one, two);
}

#[test]
fn decoding_refuses_every_encoding_but_the_canonical_one() {
    let bytes = library().encode();
    assert_eq!(DocumentSet::decode(&bytes).unwrap(), library());
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("{\"documents\":[{\"name\":\"quotes.jsonl\""), "sorted by name: {text}");
    assert!(text.ends_with(&format!("],\"format\":\"{FORMAT}\"}}")));

    let tampered = [
        text.replacen("{\"documents\"", "{ \"documents\"", 1),
        text.replacen("\"format\":\"veil.docs/1\"", "\"format\":\"veil.docs/2\"", 1),
        text.replacen("\"format\"", "\"extra\":1,\"format\"", 1),
        text.replacen("Seneca", "Sen\\u0065ca", 1),
        // The same documents, out of name order.
        String::from_utf8(set(&[("b.txt", "x")]).encode()).unwrap().replacen(
            "[{\"name\":\"b.txt\",\"text\":\"x\"}]",
            "[{\"name\":\"c.txt\",\"text\":\"y\"},{\"name\":\"b.txt\",\"text\":\"x\"}]",
            1,
        ),
    ];
    for t in tampered {
        assert_ne!(t.as_bytes(), bytes.as_slice(), "the tamper changed the bytes");
        assert!(matches!(DocumentSet::decode(t.as_bytes()), Err(DocsError::Format(_))), "{t}");
    }
    assert!(DocumentSet::decode(b"[]").is_err());
    assert!(DocumentSet::decode(b"").is_err());
    let huge = vec![b' '; MAX_SET_BYTES + 1];
    assert!(matches!(DocumentSet::decode(&huge), Err(DocsError::TooLarge { .. })));
}

#[test]
fn names_kinds_and_contents_are_checked() {
    let one = |name: &str, text: &str| DocumentSet::new([(name.to_owned(), text.to_owned())]);
    for bad in ["", "../x.txt", ".hidden.txt", "a/b.txt", "a\\b.txt", "tab\t.txt"] {
        assert!(matches!(one(bad, "x"), Err(DocsError::Name { .. })), "{bad:?}");
    }
    assert!(matches!(one(&format!("{}.txt", "n".repeat(252)), "x"), Err(DocsError::Name { .. })));
    assert!(one(&format!("{}.txt", "n".repeat(251)), "x").is_ok());
    assert_eq!(one("report.pdf", "x"), Err(DocsError::Kind("report.pdf".into())));
    assert_eq!(one("NOTES.MD", "x").unwrap().documents()[0].kind(), Kind::Markdown);
    assert_eq!(
        one("q.jsonl", "{\"a\":1}\n\n[1]\n"),
        Err(DocsError::Jsonl { name: "q.jsonl".into(), line: 3, why: "not a JSON object".into() })
    );
    assert!(matches!(one("q.jsonl", "{\"a\":1,\"a\":2}"), Err(DocsError::Jsonl { line: 1, .. })));
    let dup = DocumentSet::new([("a.txt".to_owned(), "x".to_owned()), ("a.txt".to_owned(), "y".to_owned())]);
    assert_eq!(dup, Err(DocsError::Duplicate("a.txt".into())));
    assert_eq!(DocumentSet::new([]), Err(DocsError::Empty));
    let not_utf8 = DocumentSet::from_files([("a.txt".to_owned(), vec![0xff, 0xfe])]);
    assert_eq!(not_utf8, Err(DocsError::Utf8("a.txt".into())));
    let many = (0..=MAX_DOCUMENTS).map(|i| (format!("{i}.txt"), String::new()));
    assert!(matches!(DocumentSet::new(many), Err(DocsError::TooLarge { .. })));
}

fn any_set() -> impl Strategy<Value = DocumentSet> {
    let text = "[a-z ]{0,60}(\n\n[a-z \t\"\\\\é]{0,60}){0,3}";
    proptest::collection::btree_map("[a-z0-9_-]{1,12}\\.(txt|md)", text, 1..6)
        .prop_map(|docs| DocumentSet::new(docs).unwrap())
}

proptest! {
    #[test]
    fn sets_round_trip_through_their_encoding(set in any_set()) {
        let bytes = set.encode();
        let back = DocumentSet::decode(&bytes)?;
        prop_assert_eq!(&back, &set);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn a_context_stays_within_its_limits(
        set in any_set(), question in "[a-z ]{0,40}", max_passages in 0usize..5, max_tokens in 0usize..80
    ) {
        let index = Index::new(&set);
        let ctx = index.select(&question, Limits { max_passages, max_tokens }, words).unwrap();
        prop_assert!(ctx.passages.len() <= max_passages);
        prop_assert!(ctx.tokens <= max_tokens);
        prop_assert_eq!(ctx.tokens, words(&ctx.text).unwrap());
        let mut seen = ctx.passages.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), ctx.passages.len(), "no passage quoted twice");
    }
}
