//! What a marketplace provider verifies and signs per request, on the CPU alone:
//! the SDK key (parse, keccak256, secp256k1 recovery; the gateway and the enclave each
//! do it once) and the enclave's EIP-191 signature over a receipt-sized text.
//! `scripts/bench-market-verify.sh` runs this next to ethers' `verifyMessage` (the
//! SDK's own library) on the same key.
use alloy::primitives::Address;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use criterion::{Criterion, criterion_group, criterion_main};
use veil_protocol::market::ApiKey;

/// The key the ethers side verifies too (scripts/bench-market-verify.mjs).
const USER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const PROVIDER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn bench(c: &mut Criterion) {
    let user: PrivateKeySigner = USER_KEY.parse().expect("key");
    let provider: Address = PROVIDER.parse().expect("address");
    let key = ApiKey::issue(&user, provider, 1_800_000_000_000, 600_000, "bench-nonce", 0).expect("issue");
    let now_ms = 1_800_000_000_001;
    assert_eq!(ApiKey::parse(&key).and_then(|k| k.verify(provider, now_ms)), Ok(user.address()));
    c.bench_function("market/key_verify", |b| {
        b.iter(|| ApiKey::parse(std::hint::black_box(&key)).and_then(|k| k.verify(provider, now_ms)))
    });
    let enclave = PrivateKeySigner::random();
    let receipt = "x".repeat(3 * 1024);
    c.bench_function("market/receipt_sign_eip191_3KiB", |b| {
        b.iter(|| enclave.sign_message_sync(std::hint::black_box(receipt.as_bytes())))
    });
    println!("key {key}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
