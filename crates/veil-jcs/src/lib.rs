//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Signed JSON in Veil (receipts, attestation runtime data) is hashed over its JCS
//! form: object members sorted by their UTF-16 code units, no whitespace, strings
//! escaped as ECMAScript's `JSON.stringify` does, numbers as IEEE-754 doubles printed
//! as ECMAScript's `Number.prototype.toString` does (via `ryu-js`).
//!
//! [`parse_strict`] is the only way signed JSON enters Veil: it refuses what would let
//! two parsers disagree about the signed content (duplicate member names, integers
//! that do not survive the trip through a double).
#![forbid(unsafe_code)]

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest integer magnitude a double holds exactly (2^53).
const MAX_SAFE: u64 = 1 << 53;

/// Errors from strict parsing or canonicalisation.
#[derive(Debug, thiserror::Error)]
pub enum JcsError {
    /// Not JSON, or JSON that I-JSON forbids.
    #[error("invalid JSON: {0}")]
    Parse(String),
    /// Serialising a value to JSON failed.
    #[error("cannot serialise to JSON: {0}")]
    Serialize(String),
}

/// Canonical JCS text of a JSON value.
pub fn canonicalize(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(&mut out, value)?;
    Ok(out)
}

/// Canonical JCS bytes of anything serde can serialise.
pub fn to_canonical_vec<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
    let v = serde_json::to_value(value).map_err(|e| JcsError::Serialize(e.to_string()))?;
    Ok(canonicalize(&v)?.into_bytes())
}

/// Parse JSON, refusing duplicate member names and integers beyond ±2^53.
pub fn parse_strict(text: &[u8]) -> Result<Value, JcsError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let v = Strict::deserialize(&mut de).map_err(|e| JcsError::Parse(e.to_string()))?;
    de.end().map_err(|e| JcsError::Parse(e.to_string()))?;
    Ok(v.0)
}

fn write_value(out: &mut String, v: &Value) -> Result<(), JcsError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // JCS orders by UTF-16 code units, not by UTF-8 bytes or chars.
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, val)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, val)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_number(out: &mut String, n: &Number) -> Result<(), JcsError> {
    let f = n
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| JcsError::Serialize(format!("number {n} is not a finite double")))?;
    if f == 0.0 {
        // Both zeros print as "0" in ECMAScript.
        out.push('0');
    } else {
        out.push_str(ryu_js::Buffer::new().format_finite(f));
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Integers beyond 2^53 are accepted only when written exactly as JCS writes the
/// double they denote, so nothing is silently rounded (`9007199254740993` is refused,
/// the canonical spelling `481100030080301060` of a large double is not).
fn check_integer<E: de::Error>(magnitude: u64, negative: bool) -> Result<(), E> {
    if magnitude <= MAX_SAFE {
        return Ok(());
    }
    let mut buf = ryu_js::Buffer::new();
    if buf.format_finite(magnitude as f64) == magnitude.to_string() {
        return Ok(());
    }
    let sign = if negative { "-" } else { "" };
    Err(E::custom(format!("integer {sign}{magnitude} is not exactly representable as a double")))
}

/// A JSON value read under I-JSON rules.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Strict, E> {
        check_integer(n.unsigned_abs(), n < 0)?;
        Ok(Strict(Value::Number(n.into())))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Strict, E> {
        check_integer(n, false)?;
        Ok(Strict(Value::Number(n.into())))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Strict, E> {
        Number::from_f64(f).map(|n| Strict(Value::Number(n))).ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(s)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member name {key:?}")));
            }
            out.insert(key, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}
