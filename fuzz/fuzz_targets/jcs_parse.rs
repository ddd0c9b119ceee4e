//! Strict parsing and canonicalisation: no panics, and the canonical form is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = veil_jcs::parse_strict(data) {
        let once = veil_jcs::canonicalize(&v).unwrap();
        let again = veil_jcs::canonicalize(&veil_jcs::parse_strict(once.as_bytes()).unwrap()).unwrap();
        assert_eq!(once, again);
    }
});
