//! The broker: challenge → attest → resource, every decision audited.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use veil_audit::AuditLog;
use veil_evidence::{AttestationError, Claims, Evidence, Policy, TrustAnchors};
use veil_seal::PublicKey;

use crate::{Authorizer, KmsError, MasterSecret, NonceStore, ReleasePolicy};
use veil_protocol::TokenId;
use veil_protocol::kms::UserProof;
use veil_protocol::kms::{
    AuthorizationRecord, BrokerIdentity, ChainRef, Challenge, KEY_RELEASE_PURPOSE, SealedResource,
    SessionGrant, TOKEN_RESOURCE_PREFIX, grant_message, token_resource,
};

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
        Self { challenge_ttl_secs: 60, session_ttl_secs: 300, max_outstanding: 10_000 }
    }
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
    /// The broker's identity: it signs every release with its Ed25519 key.
    pub identity: veil_seal::Identity,
    /// The deployment (chain id and INFT contract) whose tokens this broker keys and
    /// whose users' signed requests it verifies; without one it releases no token key.
    pub deployment: Option<ChainRef>,
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
    identity: veil_seal::Identity,
    deployment: Option<ChainRef>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("limits", &self.limits).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these maps or the log in a half-state that
    // matters: each update is a single insert/remove or a whole appended line.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The longest string an audit entry keeps as is.
pub const MAX_AUDIT_STRING: usize = 256;

/// Replace every string longer than [`MAX_AUDIT_STRING`] bytes (refused requests carry
/// what strangers sent) with its SHA-256 and length: the entry still identifies what
/// was asked, and a refusal costs the log a bounded number of bytes.
fn bound_strings(v: &mut serde_json::Value) {
    use sha2::Digest as _;
    match v {
        serde_json::Value::String(s) if s.len() > MAX_AUDIT_STRING => {
            *s = format!("sha256:{} ({} bytes)", hex::encode(sha2::Sha256::digest(s.as_bytes())), s.len());
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(bound_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(bound_strings),
        _ => {}
    }
}

fn rfc3339(now: u64) -> String {
    i64::try_from(now)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| now.to_string())
}

impl Broker {
    /// A broker deciding with `parts`; fails only if the system random generator does.
    pub fn new(parts: BrokerParts) -> Result<Self, KmsError> {
        let BrokerParts {
            anchors,
            attestation,
            release,
            authorizer,
            master,
            audit,
            limits,
            identity,
            deployment,
        } = parts;
        Ok(Self {
            anchors,
            attestation,
            release,
            authorizer,
            master,
            limits,
            nonces: NonceStore::new(limits.challenge_ttl_secs, limits.max_outstanding)?,
            audit: Mutex::new(audit),
            sessions: Mutex::new(HashMap::new()),
            identity,
            deployment,
        })
    }

    /// The key this broker signs releases with (what workers' configurations name).
    pub fn identity(&self) -> BrokerIdentity {
        BrokerIdentity { ed25519: hex::encode(self.identity.signing_key().verifying_key().as_bytes()) }
    }

    /// True when any development root is trusted (callers warn about it).
    pub fn trusts_dev_roots(&self) -> bool {
        let vendor = TrustAnchors::vendor();
        self.anchors.intel_roots.iter().any(|r| !vendor.intel_roots.contains(r))
            || self.anchors.amd_roots.iter().any(|r| !vendor.amd_roots.contains(r))
    }

    fn record(&self, now: u64, mut event: serde_json::Value) -> Result<veil_audit::Head, KmsError> {
        bound_strings(&mut event);
        lock(&self.audit).append(&rfc3339(now), &event).map_err(|e| KmsError::Audit(e.to_string()))
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
                event["code"] = e.code().as_str().into();
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
        // Receipts are bounded by the time the evidence states; an enclave whose clock
        // is far off would sign receipts nobody can verify, so it is told now.
        if let Some(issued_at) = rd.issued_at
            && issued_at.abs_diff(now) > self.limits.challenge_ttl_secs
        {
            return Err(AttestationError::Binding(format!(
                "the evidence says it was made at {issued_at}; the broker's clock says {now}"
            ))
            .into());
        }
        let claims = veil_evidence::verify(evidence, &self.anchors, &self.attestation, now)?;
        let measurement = claims.measurement_id.clone();
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
        sessions.insert(token, Session { claims, hpke, expires_at });
        Ok(grant)
    }

    /// The public sealing key of token `token_id`'s data: what a data owner seals the
    /// token's data to. Only the key this broker releases for `token/<id>` opens it
    /// (an identity whose seed is that key), so the data opens only inside an attested,
    /// allowlisted enclave on behalf of an authorized user. Public: not audited.
    pub fn token_public_key(&self, token: TokenId) -> veil_seal::PublicKey {
        self.master.public_key(&self.key_name(&token_resource(token)))
    }

    /// The public sealing key of the model whose weights root is `root`: what a
    /// model is sealed to at rest. Only the key this broker releases for
    /// `model/<root>` (to measurements its policy allows) opens it. Public: not audited.
    pub fn model_public_key(&self, root: &veil_content::Root) -> veil_seal::PublicKey {
        self.master.public_key(&veil_protocol::kms::model_resource(root))
    }

    /// What a resource's key is derived from. A token's key is bound to the chain id and
    /// INFT contract the broker answers for, as well as the token id: the resource is
    /// named `token/<id>` on the wire, but token 7 of another chain or deployment is
    /// another key. (A broker without a deployment releases no token key at all.)
    fn key_name(&self, resource: &str) -> String {
        match (resource.strip_prefix(TOKEN_RESOURCE_PREFIX), &self.deployment) {
            (Some(id), Some(chain)) => format!(
                "{TOKEN_RESOURCE_PREFIX}{}/{}/{id}",
                chain.chain_id,
                chain.contract.to_ascii_lowercase()
            ),
            _ => resource.to_owned(),
        }
    }

    /// Release `resource` to the enclave behind `session`; a token's key only for the
    /// user whose signed request or grant for that token (`proof`) verifies here.
    pub fn resource(
        &self,
        session: &str,
        resource: &str,
        proof: Option<UserProof<'_>>,
        now: u64,
    ) -> Result<SealedResource, KmsError> {
        let mut event = serde_json::json!({ "event": "resource", "resource": resource });
        let result = self.resource_inner(session, resource, proof, now, &mut event);
        let ((mut released, hpke), head) = self.decide(now, event, result)?;
        released.decision = head.to_string();
        let message =
            grant_message(&released, &hpke.to_string()).map_err(|e| KmsError::Seal(e.to_string()))?;
        use ed25519_dalek::Signer as _;
        released.signature = hex::encode(self.identity.signing_key().sign(&message).to_bytes());
        Ok(released)
    }

    fn resource_inner(
        &self,
        session: &str,
        resource: &str,
        proof: Option<UserProof<'_>>,
        now: u64,
        event: &mut serde_json::Value,
    ) -> Result<(SealedResource, PublicKey), KmsError> {
        let (claims, hpke) = {
            let sessions = lock(&self.sessions);
            match sessions.get(session) {
                Some(s) if now <= s.expires_at => (s.claims.clone(), s.hpke),
                _ => return Err(KmsError::Session),
            }
        };
        event["tee"] = serde_json::to_value(claims.tee).unwrap_or_default();
        event["measurement"] = claims.measurement_id.clone().into();
        event["dev_root"] = claims.dev_root.into();
        self.release.allow(&claims, resource)?;
        let authorization = match resource.strip_prefix(TOKEN_RESOURCE_PREFIX) {
            Some(token_id) => {
                let refused = |user: &str| KmsError::NotAuthorized {
                    token_id: token_id.to_owned(),
                    user: user.to_owned(),
                };
                // Only the canonical spelling names a token: `token/007` would be
                // another resource (another key) for the same token.
                let token: TokenId = token_id.parse().map_err(|_| refused("(any)"))?;
                // The user is whoever signed the request or the grant, under this
                // deployment's domain — never a name the enclave passes along.
                let proof = proof.ok_or_else(|| refused("(no signed request)"))?;
                let deployment = self.deployment.as_ref().ok_or(KmsError::NoDeployment)?;
                let domain = deployment.domain().ok_or(KmsError::NoDeployment)?;
                let (signer, signed_token) = proof.verify(&domain, now).map_err(KmsError::Request)?;
                let signer = signer.to_string();
                event["user"] = signer.clone().into();
                if let UserProof::Grant(g) = proof {
                    event["grant"] = g.digest(&domain).map(|d| d.to_string()).unwrap_or_default().into();
                }
                if signed_token != token {
                    return Err(refused(&signer));
                }
                let a = self.authorizer.is_authorized(token, &signer)?;
                event["authorization"] =
                    serde_json::json!({ "source": a.source, "block": a.block, "data": a.data });
                Some(AuthorizationRecord {
                    user: signer,
                    source: a.source,
                    block: a.block,
                    chain: a.chain,
                    data: a.data,
                })
            }
            None => None,
        };
        let key = self.master.resource_key(&self.key_name(resource));
        let mut sealed = Vec::with_capacity(256);
        veil_seal::seal(key.as_slice(), &mut sealed, &[hpke]).map_err(|e| KmsError::Seal(e.to_string()))?;
        use base64::Engine as _;
        let released = SealedResource {
            resource: resource.to_owned(),
            sealed_key: base64::engine::general_purpose::STANDARD.encode(sealed),
            authorization,
            dev_root: claims.dev_root,
            decision: String::new(),
            signature: String::new(),
        };
        Ok((released, hpke))
    }
}
