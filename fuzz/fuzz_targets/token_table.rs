//! Arbitrary bytes as a token's opened data and a row selection: parsed or refused
//! with a typed error, never a panic; a selection returns whole rows only; every row
//! has one cell per named column (what training reads).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (table, selection) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{\"ids\":[\"a\"]}"[..]),
    };
    let Ok(text) = std::str::from_utf8(table) else { return };
    let Ok(t) = veil_protocol::Table::parse(text) else { return };
    assert_eq!(t.columns().len(), t.features());
    for i in 0..t.len() {
        assert_eq!(t.row(i).map(<[f32]>::len), Some(t.features()));
    }
    assert!(t.row(t.len()).is_none());
    let Ok(sel) = serde_json::from_slice::<serde_json::Value>(selection) else { return };
    if let Ok((ids, values)) = t.select(&sel, 64) {
        assert_eq!(values.len(), ids.len() * t.features());
    }
});
