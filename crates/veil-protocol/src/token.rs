//! Token ids: one parser for the whole system.
//!
//! The INFT contract numbers tokens with `uint256`; everywhere a token id is text
//! (URLs, signed requests, resource names, CLI arguments) it is the canonical
//! decimal form: digits only, no sign, no leading zeros, at most 78 digits. A second
//! spelling of the same number (hex, `007`) would name the same token under another
//! resource string, so it is refused rather than normalised.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::U256;

/// A token id (canonical decimal uint256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(U256);

/// Why a token id does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token id {0:?} is not a decimal uint256")]
pub struct TokenIdError(pub String);

impl TokenId {
    /// The id as a number.
    pub fn value(self) -> U256 {
        self.0
    }
}

impl From<U256> for TokenId {
    fn from(v: U256) -> Self {
        Self(v)
    }
}

impl From<u64> for TokenId {
    fn from(v: u64) -> Self {
        Self(U256::from(v))
    }
}

impl From<TokenId> for U256 {
    fn from(t: TokenId) -> Self {
        t.0
    }
}

/// A canonical decimal uint256 (token ids, request nonces): digits only, no sign, no
/// leading zeros, in range.
pub(crate) fn parse_decimal_u256(s: &str) -> Option<U256> {
    let canonical = !s.is_empty()
        && s.len() <= 78
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return None;
    }
    s.parse::<U256>().ok()
}

impl FromStr for TokenId {
    type Err = TokenIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_decimal_u256(s).map(Self).ok_or_else(|| TokenIdError(s.chars().take(90).collect()))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl serde::Serialize for TokenId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TokenId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_the_canonical_decimal_form_parses() {
        for ok in ["0", "1", "42", &"9".repeat(77)] {
            let id: TokenId = ok.parse().unwrap();
            assert_eq!(id.to_string(), ok);
        }
        let max = U256::MAX.to_string();
        assert_eq!(max.parse::<TokenId>().unwrap().value(), U256::MAX);
        for bad in ["", "01", "00", "-1", "+1", "0x2a", "1e3", " 1", "1 ", "١", &"9".repeat(79)] {
            assert!(bad.parse::<TokenId>().is_err(), "{bad:?}");
        }
        // 78 digits above 2^256 - 1.
        assert!("9".repeat(78).parse::<TokenId>().is_err());
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(limbs in any::<[u64; 4]>()) {
            let id = TokenId(U256::from_limbs(limbs));
            let text = id.to_string();
            prop_assert_eq!(text.parse::<TokenId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<TokenId>(&json).unwrap(), id);
        }

        #[test]
        fn no_other_spelling_parses(s in "[0-9a-fx+ -]{0,80}") {
            if let Ok(id) = s.parse::<TokenId>() {
                prop_assert_eq!(id.to_string(), s);
            }
        }
    }
}
