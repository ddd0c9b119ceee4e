//! The same behaviour from both backends: the local directory, and a real
//! S3-compatible server (s3s-fs, an S3 protocol implementation over a directory)
//! started on 127.0.0.1 with SigV4 authentication.

use std::path::{Path, PathBuf};

use veil_content::{Root, SEGMENT_SIZE, root_of};
use veil_store::{LocalStore, S3Config, S3Store, Store, StoreError};
use zeroize::Zeroizing;

fn data(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i % 247) as u8 ^ salt).collect()
}

/// Flip one byte of a stored blob behind the store's back.
fn corrupt(blob: &Path, at: usize) {
    let mut bytes = std::fs::read(blob).unwrap();
    let before = bytes[at];
    bytes[at] ^= 0x55;
    assert_ne!(bytes[at], before);
    std::fs::write(blob, bytes).unwrap();
}

fn hex(root: &Root) -> String {
    root.to_string()[2..].to_owned()
}

struct S3Server {
    dir: tempfile::TempDir,
    config: S3Config,
}

const BUCKET: &str = "veil-test";

async fn start_s3() -> S3Server {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    let fs = s3s_fs::FileSystem::new(dir.path()).unwrap();
    let mut b = s3s::service::S3ServiceBuilder::new(fs);
    b.set_auth(s3s::auth::SimpleAuth::from_single("VEILTESTKEY", "veil-test-secret"));
    let service = b.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let svc = service.clone();
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(sock), svc).await;
            });
        }
    });
    let config = S3Config {
        bucket: BUCKET.into(),
        prefix: "veil".into(),
        endpoint: Some(format!("http://{addr}")),
        region: "us-east-1".into(),
        access_key_id: "VEILTESTKEY".into(),
        secret_access_key: Zeroizing::new("veil-test-secret".into()),
        allow_http: true,
    };
    S3Server { dir, config }
}

/// Exercise a store; `blob_file` maps a root to the file that physically holds it.
async fn exercise(
    store: Store,
    blob_file: impl Fn(&Root) -> PathBuf,
    sidecar_file: impl Fn(&Root) -> PathBuf,
) {
    let work = tempfile::tempdir().unwrap();

    // Put from a file and from memory; the name is the 0G root.
    let small = data(1000, 1);
    let src = work.path().join("small.bin");
    std::fs::write(&src, &small).unwrap();
    let put = store.put_path(&src).await.unwrap();
    assert_eq!(put.root, root_of(&small).unwrap());
    assert_eq!(put.size, 1000);
    assert!(store.contains(&put.root).await.unwrap());
    assert_eq!(store.put_bytes(small.clone()).await.unwrap(), put);
    assert_eq!(store.put_reader(std::io::Cursor::new(small.clone())).await.unwrap(), put);

    // Get back, to memory and to a file.
    assert_eq!(store.get_bytes(&put.root, 1 << 20).await.unwrap(), small);
    let out = work.path().join("out.bin");
    assert_eq!(store.get_to_path(&put.root, &out).await.unwrap(), 1000);
    assert_eq!(std::fs::read(&out).unwrap(), small);
    assert!(matches!(store.get_bytes(&put.root, 999).await, Err(StoreError::TooLarge { .. })));

    // Unknown root: clean error, destination untouched.
    let unknown = root_of(b"never stored").unwrap();
    assert!(!store.contains(&unknown).await.unwrap());
    std::fs::write(&out, b"keep me").unwrap();
    assert!(matches!(store.get_to_path(&unknown, &out).await, Err(StoreError::NotFound(r)) if r == unknown));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");

    // Empty input has no root and stores nothing.
    assert!(matches!(store.put_bytes(Vec::new()).await, Err(StoreError::Content(_))));

    // A multi-segment blob (big enough for a multipart upload on S3): segments with proofs.
    let big = data(3 * SEGMENT_SIZE as usize * 12 + 12345, 9);
    let big_src = work.path().join("big.bin");
    std::fs::write(&big_src, &big).unwrap();
    let big_put = store.put_path(&big_src).await.unwrap();
    assert_eq!(big_put.root, root_of(&big).unwrap());
    for index in [0u64, 1, 35, 36] {
        let seg = store.get_segment(&big_put.root, index).await.unwrap();
        let start = (index * SEGMENT_SIZE) as usize;
        let end = (start + SEGMENT_SIZE as usize).min(big.len());
        assert_eq!(seg.data, &big[start..end], "segment {index}");
        seg.proof.verify(&big_put.root, &seg.data).unwrap();
    }
    assert!(matches!(store.get_segment(&big_put.root, 10_000).await, Err(StoreError::Content(_))));

    // A lost sidecar is rebuilt from the blob.
    std::fs::remove_file(sidecar_file(&big_put.root)).unwrap();
    store.get_segment(&big_put.root, 2).await.unwrap();
    assert!(sidecar_file(&big_put.root).exists());

    // Corruption behind the store's back is caught on every kind of read.
    corrupt(&blob_file(&big_put.root), SEGMENT_SIZE as usize + 7);
    assert!(matches!(store.get_segment(&big_put.root, 1).await, Err(StoreError::Corrupt { .. })));
    store.get_segment(&big_put.root, 0).await.unwrap();
    std::fs::write(&out, b"keep me").unwrap();
    assert!(matches!(store.get_to_path(&big_put.root, &out).await, Err(StoreError::Corrupt { .. })));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me", "a corrupt blob must not reach the destination");
    corrupt(&blob_file(&put.root), 3);
    assert!(matches!(store.get_bytes(&put.root, 1 << 20).await, Err(StoreError::Corrupt { .. })));
    let leftovers: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 3, "temporary files left behind: {leftovers:?}");
}

#[tokio::test]
async fn local_store() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::open(dir.path()).unwrap();
    let (b, s) = (local.clone(), local.clone());
    exercise(
        Store::Local(local),
        move |r| b.blob_path(r),
        move |r| s.dir().join("segments").join(&hex(r)[..2]).join(hex(r)),
    )
    .await;
    // Nothing is left in tmp/ after all those writes.
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_against_a_real_s3_server() {
    let server = start_s3().await;
    let store = S3Store::new(&server.config).unwrap();
    let base = server.dir.path().join(BUCKET).join("veil");
    let (b, s) = (base.clone(), base);
    exercise(
        Store::S3(store),
        move |r| b.join("blobs").join(&hex(r)[..2]).join(hex(r)),
        move |r| s.join("segments").join(&hex(r)[..2]).join(hex(r)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refuses_wrong_credentials() {
    let server = start_s3().await;
    let mut cfg = server.config.clone();
    cfg.secret_access_key = Zeroizing::new("wrong".into());
    let store = Store::S3(S3Store::new(&cfg).unwrap());
    assert!(matches!(store.put_bytes(b"x".to_vec()).await, Err(StoreError::Backend(_))));
}
