//! The ledger hook: may this user have this token's data used for them?

use std::collections::BTreeMap;

use serde::Deserialize;

use veil_protocol::TokenId;
use veil_protocol::kms::ChainRef;

use crate::KmsError;

/// Where an authorization was read, so the decision can be audited and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The source of the answer (e.g. `policy-file`, or a chain id and contract).
    pub source: String,
    /// The block the answer was read at, when it came from a chain.
    pub block: Option<u64>,
    /// The chain and contract that answered, when a chain did.
    pub chain: Option<ChainRef>,
    /// The token's data roots, read where the answer was (none from a policy file).
    pub data: Vec<veil_content::Root>,
}

/// Answers `isAuthorized(tokenId, user)`. The ledger fills this with an on-chain
/// read; until then a policy-file list does.
pub trait Authorizer: Send + Sync {
    /// `Ok` when `user` may use `token_id`, with where that was read.
    fn is_authorized(&self, token: TokenId, user: &str) -> Result<Authorization, KmsError>;
}

/// Authorizations listed in the broker's policy file: token id → users (compared
/// case-insensitively, as addresses are). A token not listed authorizes nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct PolicyListAuthorizer(pub BTreeMap<String, Vec<String>>);

impl Authorizer for PolicyListAuthorizer {
    fn is_authorized(&self, token: TokenId, user: &str) -> Result<Authorization, KmsError> {
        let token_id = token.to_string();
        let users = self.0.get(&token_id).map(Vec::as_slice).unwrap_or_default();
        if users.iter().any(|u| u.eq_ignore_ascii_case(user)) {
            Ok(Authorization { source: "policy-file".into(), block: None, chain: None, data: Vec::new() })
        } else {
            Err(KmsError::NotAuthorized { token_id: token_id.to_owned(), user: user.to_owned() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_protocol::ErrorCode;

    #[test]
    fn only_listed_users_of_listed_tokens() {
        let a = PolicyListAuthorizer([("7".to_owned(), vec!["0xAbC".to_owned()])].into());
        assert!(a.is_authorized(TokenId::from(7u64), "0xabc").is_ok());
        assert_eq!(
            a.is_authorized(TokenId::from(7u64), "0xabd").unwrap_err().code(),
            ErrorCode::KmsNotAuthorized
        );
        assert_eq!(
            a.is_authorized(TokenId::from(8u64), "0xabc").unwrap_err().code(),
            ErrorCode::KmsNotAuthorized
        );
        assert!(PolicyListAuthorizer::default().is_authorized(TokenId::from(7u64), "0xabc").is_err());
    }
}
