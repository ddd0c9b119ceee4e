//! The broker: challenge → attest → resource, every decision audited.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_evidence::{AttestationError, Claims, Evidence, Policy, TrustAnchors};
use veil_audit::AuditLog;
use veil_seal::PublicKey;

use crate::authz::ChainRef;
use crate::{Authorizer, Challenge, KmsError, MasterSecret, NonceStore, ReleasePolicy, primary_measurement};

/// The purpose an enclave must state in its runtime data to receive keys.
pub const KEY_RELEASE_PURPOSE: &str = "kms/key-release";
/// Resources named `token/<id>` are a token's data keys: the ledger must authorize
/// the user they are released for.
pub const TOKEN_RESOURCE_PREFIX: &str = "token/";

/// Bounds and lifetimes of the broker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// How long a challenge nonce may be answered.
    pub challenge_ttl_secs: u64,
    /// How long an attested session may ask for resources.
    pub session_ttl_secs: u64,
    /// Outstanding challenges, and live sessions, at most.
    pub max_outstanding: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            challenge_ttl_secs: 60,
            session_ttl_secs: 300,
            max_outstanding: 10_000,
        }
    }
}

/// An attested enclave's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionGrant {
    /// Bearer token for resource requests (32 random bytes, hex).
    pub session: String,
    /// Unix time after which the session is refused.
    pub expires_at: u64,
    /// The TEE that attested.
    pub tee: veil_evidence::Tee,
    /// Its primary measurement (hex).
    pub measurement: String,
    /// True when the evidence chained to a development root.
    pub dev_root: bool,
}

/// A released key, sealed to the enclave's attested HPKE key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedResource {
    /// The resource name.
    pub resource: String,
    /// The 32-byte key as a Veil sealed blob to the enclave's key, base64.
    pub sealed_key: String,
    /// Where the user's authorization was read (token resources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationRecord>,
    /// True when the enclave attested under a development root.
    pub dev_root: bool,
    /// The audit-log entry that records this release (`LEN:sha256:HEX`, the log's
    /// head just after it), so a receipt can name the decision.
    #[serde(default)]
    pub decision: String,
}

/// The authorization a release relied on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRecord {
    /// The user the key was released for.
    pub user: String,
    /// Where `isAuthorized` was read.
    pub source: String,
    /// At which block, for a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// The chain, when the answer came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainRef>,
}

struct Session {
    claims: Claims,
    hpke: PublicKey,
    expires_at: u64,
}

/// Everything the broker decides with.
pub struct BrokerParts {
    /// Roots evidence may chain to (vendor roots, plus dev roots only if configured).
    pub anchors: TrustAnchors,
    /// What evidence must satisfy (TCB statuses, advisories, SNP guest policy).
    pub attestation: Policy,
    /// Which measurements may have which resources.
    pub release: ReleasePolicy,
    /// The ledger hook.
    pub authorizer: Box<dyn Authorizer>,
    /// Root of every released key.
    pub master: MasterSecret,
    /// Where every decision is recorded.
    pub audit: AuditLog,
    /// Lifetimes and bounds.
    pub limits: Limits,
}

/// The key broker.
pub struct Broker {
    anchors: TrustAnchors,
    attestation: Policy,
    release: ReleasePolicy,
    authorizer: Box<dyn Authorizer>,
    master: MasterSecret,
    limits: Limits,
    nonces: NonceStore,
    audit: Mutex<AuditLog>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps or the log in a half-state that
    // matters: each update is a single insert/remove or a whole appended line.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn rfc3339(now: u64) -> String {
    i64::try_from(now)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| now.to_string())
}

impl Broker {
    /// A broker deciding with `parts`.
    pub fn new(parts: BrokerParts) -> Self {
        let BrokerParts {
            anchors,
            attestation,
            release,
            authorizer,
            master,
            audit,
            limits,
        } = parts;
        Self {
            anchors,
            attestation,
            release,
            authorizer,
            master,
            limits,
            nonces: NonceStore::new(limits.challenge_ttl_secs, limits.max_outstanding),
            audit: Mutex::new(audit),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// True when any development root is trusted (callers warn about it).
    pub fn trusts_dev_roots(&self) -> bool {
        let vendor = TrustAnchors::vendor();
        self.anchors
            .intel_roots
            .iter()
            .any(|r| !vendor.intel_roots.contains(r))
            || self
                .anchors
                .amd_roots
                .iter()
                .any(|r| !vendor.amd_roots.contains(r))
    }

    fn record(&self, now: u64, event: serde_json::Value) -> Result<veil_audit::Head, KmsError> {
        lock(&self.audit)
            .append(&rfc3339(now), &event)
            .map_err(|e| KmsError::Audit(e.to_string()))
    }

    /// Record a decision; a grant that cannot be recorded is not a grant.
    fn decide<T>(
        &self,
        now: u64,
        mut event: serde_json::Value,
        result: Result<T, KmsError>,
    ) -> Result<(T, veil_audit::Head), KmsError> {
        match &result {
            Ok(_) => event["decision"] = "granted".into(),
            Err(e) => {
                event["decision"] = "refused".into();
                event["code"] = e.code().into();
                event["reason"] = e.to_string().into();
            }
        }
        let head = self.record(now, event)?;
        result.map(|t| (t, head))
    }

    /// A single-use challenge.
    pub fn challenge(&self, now: u64) -> Result<Challenge, KmsError> {
        self.nonces.issue(now)
    }

    /// Verify `evidence` answering one of our challenges; on success, a session.
    pub fn attest(&self, evidence: &Evidence, now: u64) -> Result<SessionGrant, KmsError> {
        let mut event = serde_json::json!({ "event": "attest", "tee": evidence.tee });
        let result = self.attest_inner(evidence, now, &mut event);
        self.decide(now, event, result).map(|(grant, _)| grant)
    }

    fn attest_inner(
        &self,
        evidence: &Evidence,
        now: u64,
        event: &mut serde_json::Value,
    ) -> Result<SessionGrant, KmsError> {
        let rd = evidence
            .runtime_data
            .as_ref()
            .ok_or_else(|| AttestationError::Binding("the evidence carries no runtime data".into()))?;
        if rd.purpose != KEY_RELEASE_PURPOSE {
            return Err(AttestationError::Policy(format!(
                "runtime data purpose is {:?}, not {KEY_RELEASE_PURPOSE:?}",
                rd.purpose
            ))
            .into());
        }
        // The nonce is spent before anything else is checked, so a refused attempt
        // cannot be retried with the same challenge.
        self.nonces.consume(&rd.nonce, now)?;
        let claims = veil_evidence::verify(evidence, &self.anchors, &self.attestation, now)?;
        let measurement = primary_measurement(&claims).unwrap_or_default().to_owned();
        event["measurement"] = measurement.clone().into();
        event["dev_root"] = claims.dev_root.into();
        self.release.allow_measurement(&claims)?;
        let hpke: PublicKey = rd
            .public_keys
            .get("hpke")
            .ok_or_else(|| AttestationError::Binding("runtime data names no hpke key".into()))?
            .parse()
            .map_err(|e: veil_seal::SealError| AttestationError::Binding(e.to_string()))?;

        let token = hex::encode(crate::random32()?);
        let expires_at = now.saturating_add(self.limits.session_ttl_secs);
        let grant = SessionGrant {
            session: token.clone(),
            expires_at,
            tee: claims.tee,
            measurement,
            dev_root: claims.dev_root,
        };
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= self.limits.max_outstanding {
            sessions.retain(|_, s| s.expires_at >= now);
            if sessions.len() >= self.limits.max_outstanding {
                return Err(KmsError::Busy);
            }
        }
        sessions.insert(
            token,
            Session {
                claims,
                hpke,
                expires_at,
            },
        );
        Ok(grant)
    }

    /// The public sealing key of token `token_id`'s data: what a data owner seals the
    /// token's data to. Only the key this broker releases for `token/<id>` opens it
    /// (an identity whose seed is that key), so the data opens only inside an attested,
    /// allowlisted enclave on behalf of an authorized user. Public: not audited.
    pub fn token_public_key(&self, token_id: &str) -> veil_seal::PublicKey {
        let seed = self
            .master
            .resource_key(&format!("{TOKEN_RESOURCE_PREFIX}{token_id}"));
        veil_seal::Identity::from_seed(&seed).public_key()
    }

    /// Release `resource` to the enclave behind `session`, for `user` when the
    /// resource is a token's.
    pub fn resource(
        &self,
        session: &str,
        resource: &str,
        user: Option<&str>,
        now: u64,
    ) -> Result<SealedResource, KmsError> {
        let mut event = serde_json::json!({ "event": "resource", "resource": resource, "user": user });
        let result = self.resource_inner(session, resource, user, now, &mut event);
        self.decide(now, event, result).map(|(mut released, head)| {
            released.decision = head.to_string();
            released
        })
    }

    fn resource_inner(
        &self,
        session: &str,
        resource: &str,
        user: Option<&str>,
        now: u64,
        event: &mut serde_json::Value,
    ) -> Result<SealedResource, KmsError> {
        let (claims, hpke) = {
            let sessions = lock(&self.sessions);
            match sessions.get(session) {
                Some(s) if now <= s.expires_at => (s.claims.clone(), s.hpke),
                _ => return Err(KmsError::Session),
            }
        };
        event["tee"] = serde_json::to_value(claims.tee).unwrap_or_default();
        event["measurement"] = primary_measurement(&claims).unwrap_or_default().into();
        event["dev_root"] = claims.dev_root.into();
        self.release.allow(&claims, resource)?;
        let authorization = match resource.strip_prefix(TOKEN_RESOURCE_PREFIX) {
            Some(token_id) => {
                let user = user.ok_or_else(|| KmsError::NotAuthorized {
                    token_id: token_id.to_owned(),
                    user: "(none given)".into(),
                })?;
                let a = self.authorizer.is_authorized(token_id, user)?;
                event["authorization"] = serde_json::json!({ "source": a.source, "block": a.block });
                Some(AuthorizationRecord {
                    user: user.to_owned(),
                    source: a.source,
                    block: a.block,
                    chain: a.chain,
                })
            }
            None => None,
        };
        let key = self.master.resource_key(resource);
        let mut sealed = Vec::with_capacity(256);
        veil_seal::seal(key.as_slice(), &mut sealed, &[hpke]).map_err(|e| KmsError::Seal(e.to_string()))?;
        use base64::Engine as _;
        Ok(SealedResource {
            resource: resource.to_owned(),
            sealed_key: base64::engine::general_purpose::STANDARD.encode(sealed),
            authorization,
            dev_root: claims.dev_root,
            decision: String::new(),
        })
    }
}
