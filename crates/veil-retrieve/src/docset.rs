//! The document set: what an owner seals to a token, in one canonical encoding.
//!
//! `{"documents":[{"name":N,"text":T},…],"format":"veil.docs/1"}`, RFC 8785 JSON with
//! the documents sorted bytewise by name. Decoding refuses every other encoding of the
//! same documents (reordered, re-escaped, padded), so equal roots mean equal sets.

use serde::Deserialize;

use crate::DocsError;

/// The format tag inside every set.
pub const FORMAT: &str = "veil.docs/1";
/// The most bytes an encoded set may hold (the worker opens it in enclave memory).
pub const MAX_SET_BYTES: usize = 32 << 20;
/// The most documents in one set.
pub const MAX_DOCUMENTS: usize = 10_000;
/// The longest document name, in bytes (a file name on common file systems).
pub const MAX_NAME_BYTES: usize = 255;

/// How a document's text is cut into passages, chosen by its name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `.txt`: paragraphs separated by blank lines.
    Text,
    /// `.md`, `.markdown`: paragraphs, each heading kept with the paragraph after it.
    Markdown,
    /// `.jsonl`, `.ndjson`: one JSON object per line, one record per passage.
    JsonLines,
}

impl Kind {
    /// The kind a document named `name` holds.
    pub fn of_name(name: &str) -> Result<Self, DocsError> {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "txt" | "text" => Ok(Self::Text),
            "md" | "markdown" => Ok(Self::Markdown),
            "jsonl" | "ndjson" => Ok(Self::JsonLines),
            _ => Err(DocsError::Kind(name.to_owned())),
        }
    }
}

/// One named document of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    name: String,
    kind: Kind,
    text: String,
}

impl Document {
    /// Its file name (unique within the set).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How its text is read.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its whole text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A checked set of documents, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSet {
    documents: Vec<Document>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSet {
    documents: Vec<WireDocument>,
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDocument {
    name: String,
    text: String,
}

impl DocumentSet {
    /// A set of `(name, text)` documents, checked: plain unique file names of a known
    /// kind, JSON-lines documents made of JSON objects, and within the limits.
    pub fn new(documents: impl IntoIterator<Item = (String, String)>) -> Result<Self, DocsError> {
        let mut checked = Vec::new();
        for (name, text) in documents {
            if checked.len() == MAX_DOCUMENTS {
                return Err(DocsError::TooLarge { what: "documents in the set", limit: MAX_DOCUMENTS });
            }
            check_name(&name)?;
            let kind = Kind::of_name(&name)?;
            if kind == Kind::JsonLines {
                check_json_lines(&name, &text)?;
            }
            checked.push(Document { name, kind, text });
        }
        if checked.is_empty() {
            return Err(DocsError::Empty);
        }
        checked.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        if let Some(w) = checked.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(DocsError::Duplicate(w[0].name.clone()));
        }
        let set = Self { documents: checked };
        if set.encoded_len() > MAX_SET_BYTES {
            return Err(DocsError::TooLarge { what: "the encoded set, in bytes,", limit: MAX_SET_BYTES });
        }
        Ok(set)
    }

    /// A set from files read by the caller: `(file name, contents)`.
    pub fn from_files(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Result<Self, DocsError> {
        let mut documents = Vec::new();
        for (name, bytes) in files {
            match String::from_utf8(bytes) {
                Ok(text) => documents.push((name, text)),
                Err(_) => return Err(DocsError::Utf8(name)),
            }
        }
        Self::new(documents)
    }

    /// The documents, sorted bytewise by name.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// The canonical bytes (what is sealed and named by its root).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(b"{\"documents\":[");
        for (i, d) in self.documents.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            json_string(&mut out, &d.name);
            out.extend_from_slice(b",\"text\":");
            json_string(&mut out, &d.text);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"format\":");
        json_string(&mut out, FORMAT);
        out.push(b'}');
        out
    }

    /// A set from its canonical bytes; any other encoding is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, DocsError> {
        if bytes.len() > MAX_SET_BYTES {
            return Err(DocsError::TooLarge { what: "the encoded set, in bytes,", limit: MAX_SET_BYTES });
        }
        let value = veil_jcs::parse_strict(bytes).map_err(|e| DocsError::Format(e.to_string()))?;
        let wire: WireSet = serde_json::from_value(value).map_err(|e| DocsError::Format(e.to_string()))?;
        if wire.format != FORMAT {
            return Err(DocsError::Format(format!("format is {:?}, expected {FORMAT:?}", wire.format)));
        }
        let set = Self::new(wire.documents.into_iter().map(|d| (d.name, d.text)))?;
        if set.encode() != bytes {
            return Err(DocsError::Format("documents out of name order or not canonically encoded".into()));
        }
        Ok(set)
    }

    fn encoded_len(&self) -> usize {
        let strings: usize = self.documents.iter().map(|d| json_len(&d.name) + json_len(&d.text)).sum();
        // `{"documents":[` + `],"format":"veil.docs/1"}` + per document `{"name":` `,"text":` `}` and commas.
        14 + 25 + strings + self.documents.len() * 17 + self.documents.len().saturating_sub(1)
    }
}

fn check_name(name: &str) -> Result<(), DocsError> {
    let why = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("longer than 255 bytes")
    } else if name.starts_with('.') {
        Some("hidden or relative (starts with a dot)")
    } else if name.contains(['/', '\\']) {
        Some("holds a path separator (documents are one flat directory)")
    } else if name.chars().any(char::is_control) {
        Some("holds a control character")
    } else {
        None
    };
    match why {
        Some(why) => Err(DocsError::Name { name: name.to_owned(), why }),
        None => Ok(()),
    }
}

fn check_json_lines(name: &str, text: &str) -> Result<(), DocsError> {
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| DocsError::Jsonl { name: name.to_owned(), line: i + 1, why };
        match veil_jcs::parse_strict(line.as_bytes()) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => return Err(bad("not a JSON object".into())),
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok(())
}

/// RFC 8785's string form: `"` and `\` escaped, the short escapes for \b \t \n \f \r,
/// `\u00xx` (lower-case hex) for the other controls, everything else as UTF-8.
fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = c as u8;
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ]);
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}

fn json_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{8}' | '\t' | '\n' | '\u{c}' | '\r' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn encoding_is_rfc8785_and_its_length_is_predicted(
            docs in proptest::collection::btree_map("[a-z]{1,8}\\.(txt|md)", "\\PC{0,40}|[\\x00-\\x1f\"\\\\]{0,8}", 1..5)
        ) {
            let set = DocumentSet::new(docs.clone())?;
            let bytes = set.encode();
            let documents: Vec<_> =
                docs.iter().map(|(n, t)| serde_json::json!({"name": n, "text": t})).collect();
            let value = serde_json::json!({"format": FORMAT, "documents": documents});
            prop_assert_eq!(&bytes, &veil_jcs::to_canonical_vec(&value)?);
            prop_assert_eq!(bytes.len(), set.encoded_len());
        }
    }
}
