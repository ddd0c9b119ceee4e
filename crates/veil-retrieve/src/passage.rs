//! Cutting documents into passages: the units BM25 ranks and a context quotes.
//!
//! Text and Markdown split at blank lines (a Markdown heading stays with the paragraph
//! after it, so a passage carries its section's title); each JSON line is one record,
//! rendered as sorted `key: value` lines. Whitespace inside a paragraph is collapsed,
//! and anything longer than [`MAX_PASSAGE_WORDS`] is cut into consecutive windows, so
//! no single passage can take a context's whole budget.

use crate::{Document, Kind};

/// The most words in one passage.
pub const MAX_PASSAGE_WORDS: usize = 120;

/// A piece of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passage {
    /// `NAME#N`: the document's name and the passage's number in it, from 1.
    pub source: String,
    /// The passage's text.
    pub text: String,
}

/// The passages of `doc`, in document order.
pub fn passages(doc: &Document) -> Vec<Passage> {
    let pieces = match doc.kind() {
        Kind::Text => paragraphs(doc.text(), false),
        Kind::Markdown => paragraphs(doc.text(), true),
        Kind::JsonLines => doc.text().lines().filter_map(record).collect(),
    };
    pieces
        .iter()
        .flat_map(|p| windows(p))
        .enumerate()
        .map(|(i, text)| Passage { source: format!("{}#{}", doc.name(), i + 1), text })
        .collect()
}

fn paragraphs(text: &str, markdown: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut heading = String::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let words = block.split_whitespace().collect::<Vec<_>>().join(" ");
        if words.is_empty() {
            continue;
        }
        if markdown && words.starts_with('#') {
            if !heading.is_empty() {
                heading.push('\n');
            }
            heading.push_str(&words);
            continue;
        }
        out.push(if heading.is_empty() {
            words
        } else {
            format!("{}\n{words}", std::mem::take(&mut heading))
        });
    }
    if !heading.is_empty() {
        out.push(heading);
    }
    out
}

/// One JSON line as `key: value` lines, keys sorted; strings bare, other values in
/// RFC 8785 form. `None` for a blank line (the set's check refused everything else).
fn record(line: &str) -> Option<String> {
    let serde_json::Value::Object(map) = veil_jcs::parse_strict(line.as_bytes()).ok()? else {
        return None;
    };
    let mut fields: Vec<(&String, String)> = map
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s.clone()),
            v => (k, veil_jcs::canonicalize(v).unwrap_or_default()),
        })
        .collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    Some(fields.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n"))
}

/// `text` in windows of at most [`MAX_PASSAGE_WORDS`] words (short text unchanged).
fn windows(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= MAX_PASSAGE_WORDS {
        return vec![text.to_owned()];
    }
    words.chunks(MAX_PASSAGE_WORDS).map(|w| w.join(" ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DocumentSet;

    fn cut(name: &str, text: &str) -> Vec<(String, String)> {
        let set = DocumentSet::new([(name.to_owned(), text.to_owned())]).unwrap();
        passages(&set.documents()[0]).into_iter().map(|p| (p.source, p.text)).collect()
    }

    #[test]
    fn text_splits_at_blank_lines_and_collapses_whitespace() {
        let got = cut("a.txt", "one  two\nthree\n\n\n\nfour\r\n\r\nfive\n");
        assert_eq!(
            got,
            [
                ("a.txt#1".into(), "one two three".into()),
                ("a.txt#2".into(), "four".into()),
                ("a.txt#3".into(), "five".into())
            ]
        );
    }

    #[test]
    fn markdown_headings_stay_with_their_paragraph() {
        let got = cut("n.md", "# Tea\n\n## Green\n\nSteep at 80 C.\n\nThen drink.\n\n# Trailing");
        let texts: Vec<_> = got.into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, ["# Tea\n## Green\nSteep at 80 C.", "Then drink.", "# Trailing"]);
        // The same text as plain text keeps headings as passages of their own.
        assert_eq!(cut("n.txt", "# Tea\n\nSteep.").len(), 2);
    }

    #[test]
    fn json_lines_render_sorted_fields_one_record_per_passage() {
        let got = cut(
            "q.jsonl",
            "{\"quote\":\"Be brief.\",\"author\":\"Anon\",\"year\":1.50,\"tags\":[\"a\"]}\n\n{\"x\":null}\n",
        );
        let texts: Vec<_> = got.into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, ["author: Anon\nquote: Be brief.\ntags: [\"a\"]\nyear: 1.5", "x: null"]);
    }

    #[test]
    fn long_paragraphs_are_windowed() {
        let words: Vec<String> = (0..250).map(|i| format!("w{i}")).collect();
        let got = cut("long.txt", &words.join(" "));
        let counts: Vec<_> = got.iter().map(|(_, t)| t.split(' ').count()).collect();
        assert_eq!(counts, [120, 120, 10]);
        assert!(got[1].1.starts_with("w120 "), "windows are consecutive");
    }
}
