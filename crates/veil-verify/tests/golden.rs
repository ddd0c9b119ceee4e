//! A receipt signed by an attested worker of `veil demo` (simulated TDX, its dev root
//! committed beside it) must keep verifying as the code moves: the wire format of
//! receipts, their events and their evidence is a promise to everyone who kept one.
//! Verification runs at the receipt's own time, so the clock is pinned by the file.

use veil_evidence::TrustAnchors;
use veil_receipt::events::{
    DataLoaded, InferenceCompleted, KeyReleased, ModelLoaded, NftAuthorized, Payload, RequestReceived,
    ResponseReturned,
};
use veil_verify::{Trust, verify};

const RECEIPT: &[u8] = include_bytes!("data/golden-tee-receipt.json");
const DEV_ROOT: &[u8] = include_bytes!("data/golden-dev-root.der");
const MEASUREMENT: &str =
    "6c024dabfcdda96d687fda7f80da3605f8f29dff3b086c4be47d0123327d9620502619d1183cf2b93de2f4ebd6ebaa8e";

fn trust() -> Trust {
    let mut anchors = TrustAnchors::vendor();
    anchors.intel_roots.push(DEV_ROOT.to_vec());
    Trust {
        anchors,
        policy: veil_evidence::Policy::default(),
        measurements: vec![MEASUREMENT.into()],
    }
}

#[test]
fn the_golden_receipt_still_verifies() {
    let report = verify(RECEIPT, &trust()).expect("the golden receipt verifies");
    assert_eq!(report.verified.receipt.events.len(), 7);
    assert!(report.verified.receipt.dev_root);
}

#[test]
fn it_is_refused_without_the_dev_root_or_under_another_measurement() {
    let mut vendor_only = trust();
    vendor_only.anchors = TrustAnchors::vendor();
    assert!(verify(RECEIPT, &vendor_only).is_err());
    let mut other = trust();
    other.measurements = vec!["00".repeat(48)];
    assert!(verify(RECEIPT, &other).is_err());
}

/// Whether an event reads into its type and writes back to the same data.
type RoundTrip = fn(&veil_receipt::Event) -> bool;

fn round_trips<P: Payload>(e: &veil_receipt::Event) -> bool {
    let typed: P = e
        .payload::<P>()
        .expect("this type")
        .expect("its data fits the type");
    let again = veil_receipt::Event::of(time::OffsetDateTime::UNIX_EPOCH, &typed);
    again.data == e.data
}

/// Every event the worker wrote reads back into its type and writes back to the same
/// object: the typed events are the wire format, not an approximation of it.
#[test]
fn every_event_round_trips_through_its_type() {
    let doc: serde_json::Value = serde_json::from_slice(RECEIPT).unwrap();
    let events: Vec<veil_receipt::Event> = serde_json::from_value(doc["receipt"]["events"].clone()).unwrap();
    let checks: [(&str, RoundTrip); 7] = [
        (RequestReceived::KIND, round_trips::<RequestReceived>),
        (NftAuthorized::KIND, round_trips::<NftAuthorized>),
        (KeyReleased::KIND, round_trips::<KeyReleased>),
        (DataLoaded::KIND, round_trips::<DataLoaded>),
        (ModelLoaded::KIND, round_trips::<ModelLoaded>),
        (InferenceCompleted::KIND, round_trips::<InferenceCompleted>),
        (ResponseReturned::KIND, round_trips::<ResponseReturned>),
    ];
    assert_eq!(events.len(), checks.len());
    for (e, (kind, check)) in events.iter().zip(checks) {
        assert_eq!(e.kind, kind);
        assert!(check(e), "{kind} does not round-trip");
    }
}

#[test]
fn any_edit_to_an_event_is_refused() {
    let original: serde_json::Value = serde_json::from_slice(RECEIPT).unwrap();
    for (i, field, value) in [
        (
            1,
            "user",
            serde_json::json!("0x0000000000000000000000000000000000000001"),
        ),
        (3, "bytes", serde_json::json!(1)),
        (
            6,
            "body_hash",
            serde_json::json!(format!("0x{}", "ab".repeat(32))),
        ),
    ] {
        let mut doc = original.clone();
        doc["receipt"]["events"][i]["data"][field] = value;
        assert_ne!(doc, original, "the edit changed the receipt");
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert!(verify(&bytes, &trust()).is_err(), "event {i}.{field} edited");
    }
}

/// The golden receipt's evidence answered the key broker's challenge: it verifies as
/// that answer, and as nothing else (another nonce, another purpose).
#[test]
fn evidence_answers_only_its_own_challenge() {
    let doc: serde_json::Value = serde_json::from_slice(RECEIPT).unwrap();
    let evidence: veil_evidence::Evidence =
        serde_json::from_value(doc["receipt"]["evidence"]["attestation"].clone()).unwrap();
    let rd = evidence.runtime_data.clone().expect("runtime data");
    let at = time::OffsetDateTime::parse(
        doc["receipt"]["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp() as u64;
    let ok = veil_verify::verify_attestation_answer(&evidence, &rd.nonce, &rd.purpose, &trust(), at);
    assert!(ok.is_ok(), "{ok:?}");
    for (nonce, purpose) in [
        (rd.nonce.as_str(), "worker/attestation"),
        ("another-nonce-0123456789", rd.purpose.as_str()),
    ] {
        let r = veil_verify::verify_attestation_answer(&evidence, nonce, purpose, &trust(), at);
        assert_eq!(r.unwrap_err().code(), "receipt.evidence", "{nonce} {purpose}");
    }
    let mut other = trust();
    other.measurements = vec!["00".repeat(48)];
    let r = veil_verify::verify_attestation_answer(&evidence, &rd.nonce, &rd.purpose, &other, at);
    assert_eq!(r.unwrap_err().code(), "receipt.measurement");
}
