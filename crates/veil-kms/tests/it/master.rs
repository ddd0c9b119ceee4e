//! The master secret survives restarts, never sits on disk in plaintext, and yields
//! independent per-resource keys.

use veil_kms::{MasterError, MasterSecret};
use veil_seal::Identity;

#[test]
fn keys_survive_a_restart_and_differ_per_resource() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.sealed");
    let id = Identity::generate().unwrap();
    let first = MasterSecret::open_or_create(&path, &id).unwrap();
    let k42 = first.resource_key("token/42");
    assert_ne!(*k42, *first.resource_key("token/43"));
    assert_ne!(*k42, [0u8; 32]);
    drop(first);
    let again = MasterSecret::open_or_create(&path, &id).unwrap();
    assert_eq!(*again.resource_key("token/42"), *k42);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(!format!("{again:?}").contains(&hex::encode(*k42)));
}

#[test]
fn the_file_is_sealed_and_refuses_strangers_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.sealed");
    let id = Identity::generate().unwrap();
    MasterSecret::open_or_create(&path, &id).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"VEILSEAL"), "stored sealed, not in plaintext");
    let stranger = Identity::generate().unwrap();
    assert!(matches!(MasterSecret::open_or_create(&path, &stranger), Err(MasterError::Seal(_))));
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_ne!(bad, bytes);
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(MasterSecret::open_or_create(&path, &id), Err(MasterError::Seal(_))));
    assert_eq!(std::fs::read(&path).unwrap(), bad, "a failed open must not replace the file");
}

/// Authorizes nobody (only keys are compared).
struct Nobody;

impl veil_kms::Authorizer for Nobody {
    fn is_authorized(
        &self,
        token: veil_protocol::TokenId,
        user: &str,
    ) -> Result<veil_kms::Authorization, veil_kms::KmsError> {
        Err(veil_kms::KmsError::NotAuthorized { token_id: token.to_string(), user: user.to_owned() })
    }
}

/// Issue 14, finding 1: token keys derived from `token/<id>` alone, so token 7 of
/// another chain or deployment served by the same broker had the same key.
#[test]
fn a_token_key_is_bound_to_its_chain_contract_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::generate().unwrap();
    let broker = |n: &str, deployment: Option<veil_kms::ChainRef>| {
        veil_kms::Broker::new(veil_kms::BrokerParts {
            anchors: veil_evidence::TrustAnchors::vendor(),
            attestation: veil_evidence::Policy::default(),
            release: veil_kms::ReleasePolicy::default(),
            authorizer: Box::new(Nobody),
            master: MasterSecret::open_or_create(&dir.path().join("master.sealed"), &id).unwrap(),
            audit: veil_audit::AuditLog::open(&dir.path().join(format!("audit-{n}.log"))).unwrap(),
            limits: veil_kms::Limits::default(),
            identity: Identity::generate().unwrap(),
            deployment,
        })
        .unwrap()
    };
    let chain =
        |chain_id: u64, contract: &str| Some(veil_kms::ChainRef { chain_id, contract: contract.into() });
    let inft = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let token = |b: &veil_kms::Broker, n: u64| b.token_public_key(n.into()).to_string();
    let here = broker("a", chain(0x7e11, inft));
    let other_chain = broker("b", chain(1, inft));
    let other_contract = broker("c", chain(0x7e11, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"));
    let seven = token(&here, 7);
    assert_ne!(seven, token(&here, 8));
    for other in [&other_chain, &other_contract] {
        assert_ne!(seven, token(other, 7), "the same master secret, another deployment");
    }
    // One deployment, one key, however its address is spelled.
    let checksummed_lower = broker("e", chain(0x7e11, &inft.to_ascii_lowercase()));
    assert_eq!(seven, token(&checksummed_lower, 7));
}
