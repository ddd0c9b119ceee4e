//! Arbitrary bytes as a token's opened data and a row selection: parsed or refused
//! with a typed error, never a panic; a selection returns whole rows only.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (table, selection) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{\"ids\":[\"a\"]}"[..]),
    };
    let Ok(text) = std::str::from_utf8(table) else { return };
    let Ok(t) = veil_protocol::Table::parse(text) else { return };
    let Ok(sel) = serde_json::from_slice::<serde_json::Value>(selection) else { return };
    if let Ok((ids, values)) = t.select(&sel, 64) {
        assert_eq!(values.len(), ids.len() * t.features());
    }
});
