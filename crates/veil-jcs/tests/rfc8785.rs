//! Conformance with the examples of RFC 8785 (sections 3.2.2, 3.2.3 and Appendix B).

use proptest::prelude::*;
use veil_jcs::{canonicalize, parse_strict};

fn jcs(text: &str) -> String {
    canonicalize(&parse_strict(text.as_bytes()).unwrap()).unwrap()
}

#[test]
fn section_3_2_2_primitives_and_escaping() {
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50,
                  2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(jcs(input), expected);
}

#[test]
fn section_3_2_3_sorting_by_utf16_code_units() {
    let input = r#"{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(jcs(input), expected);
}

#[test]
fn appendix_b_number_serialisation() {
    let table: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expected) in table {
        let v = serde_json::Value::from(f64::from_bits(*bits));
        assert_eq!(canonicalize(&v).unwrap(), *expected, "{bits:016x}");
        // The printed form parses back to the same double.
        assert_eq!(
            jcs(expected).parse::<f64>().unwrap(),
            f64::from_bits(*bits).abs().copysign(f64::from_bits(*bits)) + 0.0
        );
    }
}

#[test]
fn strict_parser_refuses_what_parsers_disagree_on() {
    for bad in [
        &br#"{"a":1,"a":2}"#[..],
        br#"{"x":{"b":true,"b":false}}"#,
        br#"9007199254740993"#,
        br#"-9007199254740993"#,
        br#"{"a":1} trailing"#,
        br#"{"a":"#,
        b"\xff",
    ] {
        assert!(parse_strict(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    assert!(parse_strict(b"9007199254740992").is_ok());
    // Found by the jcs_parse fuzz target: a large double's canonical form is an integer
    // literal, and it must parse back to the same canonical form.
    let big = jcs("481100030080301074.701006");
    assert_eq!(big, "481100030080301060");
    assert_eq!(jcs(&big), big);
    assert!(parse_strict(b"481100030080301061").is_err());
    // Nesting past serde_json's recursion limit is an error, not a stack overflow.
    let deep = "[".repeat(100_000);
    assert!(parse_strict(deep.as_bytes()).is_err());
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(".*", inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_form_is_a_fixed_point(v in arb_json()) {
        let once = canonicalize(&v).unwrap();
        let reparsed = parse_strict(once.as_bytes()).unwrap();
        prop_assert_eq!(canonicalize(&reparsed).unwrap(), once);
    }

    #[test]
    fn pretty_printing_does_not_change_the_canonical_form(v in arb_json()) {
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(jcs(&pretty), canonicalize(&v).unwrap());
    }
}
