//! Ledger failures, with contract custom errors decoded.

use crate::bindings::{
    FederationRegistry, INFT, InferenceServing, JobRegistry, LedgerManager, ProverRegistry, ReceiptAnchor,
};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A contract refused the call with one of its custom errors (decoded).
    #[error("{contract} refused: {error}")]
    Reverted {
        /// The contract.
        contract: &'static str,
        /// The custom error as text, e.g. `NotTokenOwner { tokenId: 1, caller: 0xb0b… }`.
        error: String,
        /// The same error, typed, for callers that branch on it.
        decoded: Box<ContractError>,
    },
    /// The call reverted without a recognisable reason.
    #[error("{contract} reverted: {detail}")]
    Revert {
        /// The contract.
        contract: &'static str,
        /// What the node said.
        detail: String,
    },
    /// The node refused the request outright (funds, nonce, chain id, …).
    #[error("the node refused {contract}'s transaction: {detail}")]
    Rejected {
        /// The contract.
        contract: &'static str,
        /// What the node said.
        detail: String,
    },
    /// A file (cursor) could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The node could not be reached or answered outside the protocol.
    #[error("EVM node: {0}")]
    Transport(String),
    /// A transaction was mined but did not succeed.
    #[error("transaction {0} failed on chain")]
    Failed(String),
    /// An expected event was not in the receipt.
    #[error("no {0} event in the receipt")]
    MissingEvent(&'static str),
}

/// A custom error of one of Veil's contracts.
#[derive(Debug, Clone)]
pub enum ContractError {
    /// From the INFT contract.
    Inft(INFT::INFTErrors),
    /// From the job registry.
    Jobs(JobRegistry::JobRegistryErrors),
    /// From the prover registry.
    Provers(ProverRegistry::ProverRegistryErrors),
    /// From the receipt anchor.
    Anchor(ReceiptAnchor::ReceiptAnchorErrors),
    /// From FederationRegistry.
    Federations(FederationRegistry::FederationRegistryErrors),
    /// From the serving marketplace's LedgerManager.
    MarketLedger(LedgerManager::LedgerManagerErrors),
    /// From the serving marketplace's InferenceServing.
    Serving(InferenceServing::InferenceServingErrors),
}

macro_rules! decode_with {
    ($err:expr, $contract:literal, $errors:ty, $variant:ident) => {
        if let Some(decoded) = $err.as_decoded_interface_error::<$errors>() {
            return LedgerError::Reverted {
                contract: $contract,
                error: unwrap_variant(format!("{decoded:?}")),
                decoded: Box::new(ContractError::$variant(decoded)),
            };
        }
    };
}

impl LedgerError {
    /// True when the INFT contract said the token does not exist.
    pub fn is_nonexistent_token(&self) -> bool {
        matches!(
            self,
            Self::Reverted { decoded, .. }
                if matches!(**decoded, ContractError::Inft(INFT::INFTErrors::ERC721NonexistentToken(_)))
        )
    }

    /// Classify an alloy contract error, decoding every Veil contract's custom errors
    /// (calls can cross contracts, e.g. JobRegistry → ProverRegistry).
    pub(crate) fn from_contract(contract: &'static str, e: alloy::contract::Error) -> Self {
        decode_with!(e, "INFT", INFT::INFTErrors, Inft);
        decode_with!(e, "JobRegistry", JobRegistry::JobRegistryErrors, Jobs);
        decode_with!(e, "ProverRegistry", ProverRegistry::ProverRegistryErrors, Provers);
        decode_with!(e, "ReceiptAnchor", ReceiptAnchor::ReceiptAnchorErrors, Anchor);
        decode_with!(e, "FederationRegistry", FederationRegistry::FederationRegistryErrors, Federations);
        decode_with!(e, "LedgerManager", LedgerManager::LedgerManagerErrors, MarketLedger);
        decode_with!(e, "InferenceServing", InferenceServing::InferenceServingErrors, Serving);
        match e {
            alloy::contract::Error::TransportError(t) => match t.as_error_resp() {
                // Code 3 is an execution revert (geth, anvil and the embedded chain).
                Some(resp) if resp.code == 3 => {
                    LedgerError::Revert { contract, detail: resp.message.to_string() }
                }
                Some(resp) => LedgerError::Rejected { contract, detail: resp.message.to_string() },
                None => LedgerError::Transport(t.to_string()),
            },
            other => LedgerError::Revert { contract, detail: other.to_string() },
        }
    }
}

/// `Name(Name { … })` (an error enum's Debug around the error's own) → `Name { … }`.
fn unwrap_variant(debug: String) -> String {
    if let Some((name, rest)) = debug.split_once('(')
        && rest.starts_with(name)
        && let Some(inner) = rest.strip_suffix(')')
    {
        return inner.to_owned();
    }
    debug
}

#[cfg(test)]
mod tests {
    #[test]
    fn decoded_errors_read_as_the_error_itself() {
        assert_eq!(
            super::unwrap_variant("NotTokenOwner(NotTokenOwner { tokenId: 1 })".into()),
            "NotTokenOwner { tokenId: 1 }"
        );
        assert_eq!(super::unwrap_variant("EmptyData(EmptyData)".into()), "EmptyData");
        assert_eq!(super::unwrap_variant("Other(x)".into()), "Other(x)");
    }
}
