//! Why evidence was refused.

/// A refusal. Callers match on the variant; machines read [`AttestationError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The bytes are not evidence of the claimed kind.
    #[error("cannot parse evidence: {0}")]
    Parse(String),
    /// A signature over the report, the QE report, or the collateral does not verify.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// A certificate chain does not lead to the trusted root.
    #[error("certificate chain not trusted: {0}")]
    Chain(String),
    /// A certificate in the chain is revoked.
    #[error("revoked: {0}")]
    Revoked(String),
    /// Collateral or a certificate is outside its validity window at the given time.
    #[error("collateral not valid at the verification time: {0}")]
    CollateralExpired(String),
    /// The platform's TCB status or advisories are not allowed by policy.
    #[error("TCB status {status} not allowed by policy{}", advisories_suffix(.advisories))]
    TcbStatus {
        /// The status found (or `NoMatchingTcbLevel`).
        status: String,
        /// Advisories not covered by policy.
        advisories: Vec<String>,
    },
    /// The enclave runs with debugging enabled.
    #[error("enclave is in debug mode")]
    Debug,
    /// A measurement is not on the allowlist.
    #[error("measurement not allowed: {0}")]
    Measurement(String),
    /// The evidence is not bound to the runtime data presented with it.
    #[error("evidence is not bound to the presented runtime data: {0}")]
    Binding(String),
    /// The nonce was already used or has expired.
    #[error("nonce replayed or expired")]
    Replay,
    /// Another policy rule refused it.
    #[error("refused by policy: {0}")]
    Policy(String),
    /// The event log presented with the evidence does not replay to its registers.
    #[error("event log does not match the evidence: {0}")]
    EventLog(String),
}

fn advisories_suffix(a: &[String]) -> String {
    if a.is_empty() { String::new() } else { format!(" (advisories {})", a.join(", ")) }
}

impl AttestationError {
    /// A stable machine-readable code (`attestation.<kind>`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Parse(_) => "attestation.parse",
            Self::Signature(_) => "attestation.signature",
            Self::Chain(_) => "attestation.chain",
            Self::Revoked(_) => "attestation.revoked",
            Self::CollateralExpired(_) => "attestation.collateral_expired",
            Self::TcbStatus { .. } => "attestation.tcb_status",
            Self::Debug => "attestation.debug",
            Self::Measurement(_) => "attestation.measurement",
            Self::Binding(_) => "attestation.binding",
            Self::Replay => "attestation.replay",
            Self::Policy(_) => "attestation.policy",
            Self::EventLog(_) => "attestation.event_log",
        }
    }
}

impl serde::Serialize for AttestationError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("AttestationError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("detail", &self.to_string())?;
        st.end()
    }
}
