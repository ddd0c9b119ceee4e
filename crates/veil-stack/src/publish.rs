//! Publishing a token's private data, with the mint-first rule in one place.
//!
//! Data is sealed only to the key of a token its publisher already owns: the
//! publisher mints first (or names a token it holds), `ownerOf` is checked on chain,
//! and only then is the broker asked for that token's key (bound to the chain, the
//! INFT contract and the token id). The sealed blob is stored by its root and, as
//! owner, made the token's data. Sealing to an id somebody else could still mint
//! would hand them the data.

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use veil_content::Root;
use veil_kms_client::KmsClient;
use veil_ledger::{ChainClient, IntelligentData};
use veil_retrieve::DocumentSet;
use veil_store::Store;

use crate::{Result, StackError};

/// What [`attach_sealed`] stored and recorded.
#[derive(Debug, Clone)]
pub struct Published {
    /// The sealed blob's root, now the token's data.
    pub root: Root,
    /// The key it is sealed to.
    pub token_key: veil_seal::PublicKey,
    /// The sealed blob's size.
    pub sealed_bytes: usize,
}

/// Seal `plaintext` to `token`'s key (asked of the broker at `kms`), store it, and
/// make its root the token's only data entry, described by `description`. `owner` is
/// the account `chain` signs as; it must own the token before anything is sealed.
pub async fn attach_sealed(
    chain: &ChainClient<DynProvider>,
    owner: Address,
    kms: &str,
    store: &Store,
    token: U256,
    plaintext: &[u8],
    description: &str,
) -> Result<Published> {
    let holder = chain.owner_of(token).await?;
    if holder != owner {
        return Err(StackError::NotOwner { token, owner, holder });
    }
    let token_key = KmsClient::new(kms).token_public_key(token.into()).await?;
    let mut sealed = Vec::new();
    veil_seal::seal(plaintext, &mut sealed, &[token_key])?;
    let sealed_bytes = sealed.len();
    let put = store.put_bytes(sealed).await?;
    let entry = IntelligentData { description: description.to_owned(), data_hash: put.root.0.into() };
    chain.set_data(token, &[entry]).await?;
    Ok(Published { root: put.root, token_key, sealed_bytes })
}

/// Publish the documents in directory `dir` ([`read_documents`]) as `token`'s data
/// ([`attach_sealed`]); returns what was stored and how many documents it holds.
pub async fn publish_documents(
    chain: &ChainClient<DynProvider>,
    owner: Address,
    kms: &str,
    store: &Store,
    token: U256,
    dir: &std::path::Path,
) -> Result<(Published, usize)> {
    let set = read_documents(dir)?;
    let published =
        attach_sealed(chain, owner, kms, store, token, &set.encode(), "documents (veil.docs/1)").await?;
    Ok((published, set.documents().len()))
}

/// What `veil nft publish` seals.
#[derive(Debug, Clone)]
pub enum Publish {
    /// A directory of documents ([`read_documents`]).
    Documents(std::path::PathBuf),
    /// A CSV table file ([`publish_table`]).
    Table(std::path::PathBuf),
}

/// Publish `what` as `token`'s data; one line saying what was sealed and stored.
pub async fn publish(
    chain: &ChainClient<DynProvider>,
    owner: Address,
    kms: &str,
    store: &Store,
    token: U256,
    what: &Publish,
) -> Result<String> {
    let (p, n, unit) = match what {
        Publish::Documents(dir) => {
            let (p, n) = publish_documents(chain, owner, kms, store, token, dir).await?;
            (p, n, "documents")
        }
        Publish::Table(path) => {
            let (p, n) = publish_table(chain, owner, kms, store, token, path).await?;
            (p, n, "rows")
        }
    };
    Ok(format!("token {token}: {n} {unit} sealed to {}, stored as {}", p.token_key, p.root))
}

/// The largest table `publish_table` seals.
pub const MAX_TABLE_BYTES: u64 = 32 << 20;

/// Publish the CSV table at `path` (`id`, then numeric columns, named in the header)
/// as `token`'s data ([`attach_sealed`]); returns what was stored and its row count. A
/// file that is not such a table is refused before anything is sealed.
pub async fn publish_table(
    chain: &ChainClient<DynProvider>,
    owner: Address,
    kms: &str,
    store: &Store,
    token: U256,
    path: &std::path::Path,
) -> Result<(Published, usize)> {
    let bytes = veil_fs::read_limited(path, MAX_TABLE_BYTES)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{}: the table is not UTF-8 text", path.display())))?;
    let table = veil_protocol::Table::parse(text)
        .map_err(|e| StackError::Config(format!("{}: {e}", path.display())))?;
    let published = attach_sealed(chain, owner, kms, store, token, &bytes, "table (id,column…)").await?;
    Ok((published, table.len()))
}

/// The document set in directory `dir`: every regular file in it (not recursive),
/// named by its file name. Anything else there (a subdirectory, a link, a file of an
/// unknown kind, a hidden file) is refused rather than silently left out, so what is
/// sealed is exactly what the owner sees in the directory.
pub fn read_documents(dir: &std::path::Path) -> Result<DocumentSet> {
    let mut files = Vec::new();
    let mut total = 0usize;
    let entries = std::fs::read_dir(dir).map_err(StackError::io(format!("reading {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(StackError::io(format!("reading {}", dir.display())))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(StackError::io(format!("reading {}", path.display())))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(StackError::Config(format!("{}: the file name is not UTF-8", path.display())));
        };
        if !kind.is_file() {
            return Err(StackError::Config(format!(
                "{}: not a regular file (a document set is the files of one directory)",
                path.display()
            )));
        }
        let bytes = veil_fs::read_limited(&path, veil_retrieve::MAX_SET_BYTES as u64)?;
        total += bytes.len();
        if total > veil_retrieve::MAX_SET_BYTES {
            return Err(veil_retrieve::DocsError::TooLarge {
                what: "the documents, in bytes,",
                limit: veil_retrieve::MAX_SET_BYTES,
            }
            .into());
        }
        files.push((name, bytes));
    }
    Ok(DocumentSet::from_files(files)?)
}
