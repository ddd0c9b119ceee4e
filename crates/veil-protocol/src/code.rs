//! The stable machine codes every Veil service refuses with.
//!
//! A code names *what* was refused, never how it travelled: the same
//! [`ErrorCode::KmsNotAuthorized`] is what the broker says, what a worker's typed
//! error carries, and what a client matches on. Codes are part of the wire
//! format (`urn:veil:error:<code>` in problem documents), so a variant's string
//! never changes; new codes are added, old ones are never reused.

use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable error code, `<area>.<reason>`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this version does not know (a newer peer's): kept verbatim so
            /// it can still be shown and logged, never produced by this version.
            Unrecognized(String),
        }

        impl ErrorCode {
            /// Every code this version produces.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unrecognized(s) => s,
                }
            }

            /// The code for `text`; unknown codes are kept as [`ErrorCode::Unrecognized`].
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Unrecognized(other.to_owned()),
                }
            }
        }
    };
}

codes! {
    /// The request does not parse or breaks the protocol's rules.
    RequestMalformed = "request.malformed",
    /// The signature is not the claimed signer's.
    RequestBadSignature = "request.bad_signature",
    /// The request's expiry has passed.
    RequestExpired = "request.expired",
    /// The expiry is further ahead than nonces are remembered.
    RequestExpiryTooFar = "request.expiry_too_far",
    /// The nonce was used before.
    RequestReplayed = "request.replayed",
    /// No such route.
    RequestNotFound = "request.not_found",
    /// The route needs an API key (an access grant) and none was given.
    RequestUnauthenticated = "request.unauthenticated",
    /// The request asks for more than its access grant allows (another model, more
    /// tokens).
    RequestGrantLimit = "request.grant_limit",
    /// The client used its allowance of requests on a costly route for this second.
    RequestRateLimited = "request.rate_limited",

    /// The ledger does not authorize the user for the token.
    InferenceNotAuthorized = "inference.not_authorized",
    /// The token does not exist or has no data.
    InferenceTokenUnknown = "inference.token_unknown",
    /// The model is not served here.
    InferenceModelUnknown = "inference.model_unknown",
    /// The input or the token's data does not fit the model.
    InferenceBadInput = "inference.bad_input",
    /// The token's sealed data did not arrive intact or does not open.
    InferenceDataIntegrity = "inference.data_integrity",
    /// The key broker refused the worker's attestation.
    InferenceAttestationRefused = "inference.attestation_refused",
    /// The key broker refused (or could not be asked for) the token key.
    InferenceKeyRefused = "inference.key_refused",
    /// No worker could run the job.
    InferenceWorkerUnavailable = "inference.worker_unavailable",
    /// Every worker is busy and the queue is full.
    InferenceBusy = "inference.busy",
    /// The worker may have run the job but its answer was lost, late or unusable; it
    /// is not run again, so a signed request never runs twice.
    InferenceWorkerFailed = "inference.worker_failed",
    /// The worker failed for reasons of its own.
    InferenceInternal = "inference.internal",

    /// The gateway could not record a nonce or keep a receipt.
    GatewayStorage = "gateway.storage",
    /// The transparency log could not take a receipt: the answer is withheld, since
    /// every receipt handed out is in the log.
    GatewayLogUnavailable = "gateway.log_unavailable",
    /// The ledger could not be read.
    LedgerUnavailable = "ledger.unavailable",
    /// No receipt with that id is kept here.
    ReceiptNotFound = "receipt.not_found",

    /// The measurement is not on the broker's allowlist.
    KmsMeasurement = "kms.measurement",
    /// The measurement may not receive the resource.
    KmsResource = "kms.resource",
    /// The ledger does not authorize the user for the token.
    KmsNotAuthorized = "kms.not_authorized",
    /// The broker could not read the authorization source.
    KmsLedger = "kms.ledger",
    /// The session is unknown or expired: attest again.
    KmsSession = "kms.session",
    /// The decision could not be audited, so it was not made.
    KmsAudit = "kms.audit",
    /// The key could not be sealed to the enclave.
    KmsSeal = "kms.seal",
    /// Too many challenges are outstanding.
    KmsBusy = "kms.busy",
    /// The broker's random number generator failed.
    KmsRng = "kms.rng",
    /// A client asked for more challenges or attestations than its allowance.
    KmsRateLimited = "kms.rate_limited",
    /// The broker failed for reasons of its own.
    KmsInternal = "kms.internal",
    /// The broker could not be reached.
    KmsUnreachable = "kms.unreachable",

    /// The evidence does not parse.
    AttestationParse = "attestation.parse",
    /// A signature in the evidence does not verify.
    AttestationSignature = "attestation.signature",
    /// The evidence does not chain to a trusted root.
    AttestationChain = "attestation.chain",
    /// A certificate in the chain is revoked.
    AttestationRevoked = "attestation.revoked",
    /// The collateral is outside its validity.
    AttestationCollateralExpired = "attestation.collateral_expired",
    /// The platform's TCB status is not accepted.
    AttestationTcbStatus = "attestation.tcb_status",
    /// The enclave runs in debug mode.
    AttestationDebug = "attestation.debug",
    /// The measurement is not the expected one.
    AttestationMeasurement = "attestation.measurement",
    /// The report data does not bind the runtime data.
    AttestationBinding = "attestation.binding",
    /// The challenge was answered before (or never issued).
    AttestationReplay = "attestation.replay",
    /// The evidence breaks the attestation policy.
    AttestationPolicy = "attestation.policy",
    /// The event log does not replay to the evidence's registers.
    AttestationEventLog = "attestation.event_log",

    /// The statement is false: no proof of it exists.
    ZkStatementFalse = "zk.statement_false",
    /// The statement's values are out of range.
    ZkBadInput = "zk.bad_input",
    /// A Poseidon hash could not be computed.
    ZkPoseidon = "zk.poseidon",
    /// Proving or verifying failed inside the prover.
    ZkGroth16 = "zk.groth16",
    /// A proof, key or statement file is malformed.
    ZkMalformed = "zk.malformed",
    /// The proving queue is full.
    ZkBusy = "zk.busy",
    /// No such circuit is served.
    ZkUnknownCircuit = "zk.unknown_circuit",
    /// No such proof job.
    ZkUnknownJob = "zk.unknown_job",
    /// Only a queued job can be cancelled.
    ZkNotCancellable = "zk.not_cancellable",
    /// The job has no proof yet.
    ZkNotDone = "zk.not_done",
    /// The prover has no attester.
    ZkNotAttested = "zk.not_attested",
    /// The prover failed for reasons of its own.
    ZkInternal = "zk.internal",
    /// The transparency log did not take a proof's receipt, so the proof is not
    /// handed out (every receipt a prover hands out is in the log).
    ZkLogUnavailable = "zk.log_unavailable",

    /// An FHE ciphertext or key is malformed, truncated, of another kind, under
    /// another parameter set, or shaped for another model's input.
    FheBadCiphertext = "fhe.bad_ciphertext",
    /// An FHE query holds more ciphertexts than one request may.
    FheTooLarge = "fhe.too_large",

    /// A federated round's message is not signed by a participant of that round and
    /// stage (unknown client, wrong key, or a message replayed from another round or
    /// federation).
    FlNotParticipant = "fl.not_participant",
    /// No such federation or round at this aggregator (never started, or finished
    /// and forgotten, or the aggregator restarted).
    FlUnknownRound = "fl.unknown_round",
    /// A message for a stage the round is not in (too early: ask again; too late:
    /// the client counts as dropped).
    FlWrongStage = "fl.wrong_stage",
    /// A federated round's message is malformed or does not fit the round (wrong
    /// dimension, a duplicate, a share that does not match its commitment).
    FlBadMessage = "fl.bad_message",
    /// A round start that is not the federation owner's, does not follow the last
    /// round, or has an unusable configuration.
    FlBadRound = "fl.bad_round",
    /// The round ended without an aggregate (too few clients, or a client's shares
    /// did not reconstruct); the problem says why and names the client.
    FlAborted = "fl.aborted",

    /// A training order whose job the chain does not show open, submitted by the
    /// order's signer, over the token's data root and the order's spec.
    TrainJobMismatch = "train.job_mismatch",
    /// A training order that cannot run: malformed, a spec out of range or whose root
    /// is not the signed one, no such label column, or labels that are not 0 and 1.
    TrainBadOrder = "train.bad_order",

    /// A marketplace API key that is not an SDK key (`app-sk-…`) or does not parse.
    MarketBadKey = "market.bad_key",
    /// A marketplace API key that is not the user's, is for another provider, has
    /// expired or was revoked on chain, or whose account has not acknowledged this
    /// provider's enclave signer.
    MarketUnauthorized = "market.unauthorized",
    /// The user's sub-account with the provider cannot pay for the request; the
    /// problem names the amount due.
    MarketInsufficientBalance = "market.insufficient_balance",
    /// No chat of that id was answered here.
    MarketUnknownChat = "market.unknown_chat",
    /// This gateway does not serve the marketplace.
    MarketDisabled = "market.disabled",

    /// No such private-ML job (it never existed, or its result was dropped).
    MlUnknownJob = "ml.unknown_job",
    /// The model is not offered at the privacy level asked for.
    MlPrivacyUnsupported = "ml.privacy_unsupported",

    /// A log entry (or the receipt it is made from) is malformed or does not verify.
    LogEntryMalformed = "log.entry_malformed",
    /// A log entry is larger than the log accepts.
    LogEntryTooLarge = "log.entry_too_large",
    /// A receipt's time is outside the window the log admits (backdated, or from
    /// the future).
    LogEntryTime = "log.entry_time",
    /// A proof or tile was asked for beyond the tree's size.
    LogBeyondTree = "log.beyond_tree",
    /// A checkpoint does not parse, or is not signed by the key it must be.
    LogBadCheckpoint = "log.bad_checkpoint",
    /// A checkpoint is older than one already seen.
    LogStaleCheckpoint = "log.stale_checkpoint",
    /// Two checkpoints (or a proof between them) show different histories.
    LogInconsistent = "log.inconsistent",
    /// A proof does not verify.
    LogBadProof = "log.bad_proof",
    /// The log has more submissions waiting than it queues.
    LogBusy = "log.busy",
    /// The log could not make an entry durable; the entry was not accepted.
    LogStorage = "log.storage",

    /// The attestation verifier could not attest or sign.
    OracleInternal = "oracle.internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(&ErrorCode::parse(code.as_str()), code);
            assert!(seen.insert(code.as_str()), "{code} twice");
            let (area, reason) = code.as_str().split_once('.').expect("area.reason");
            assert!(!area.is_empty() && !reason.is_empty() && !reason.contains('.'));
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
        }
        assert_eq!(ErrorCode::parse("future.code"), ErrorCode::Unrecognized("future.code".into()));
    }
}
