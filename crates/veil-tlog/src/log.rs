//! The log: one sequencing thread that takes every entry submitted since its last
//! commit as one batch (group commit: the batch grows while the previous one is
//! being fsynced), writes the tiles, signs and writes the checkpoint, and only then
//! answers each submitter with its index and the snapshot that holds it.
//!
//! Invariant: a snapshot handed out is durable — its checkpoint file is on disk and
//! every tile it covers is too. A batch that cannot be written is refused as a
//! whole; its entries are answered with the error and nothing else changes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use tlog_tiles::{Hash, HashReader, Tile};
use veil_protocol::MAX_ENTRY_BYTES;

use crate::store::Store;
use crate::{Checkpoint, LogHash, LogSigner, LogVerifier, TILE_HEIGHT, TILE_WIDTH, TilePath, TlogError};
use crate::{bundle_entries, bundle_push};

const HASH: usize = 32;

/// A hash tile by (level, index), and its bytes.
type TileKey = (u8, u64);
type TileData = Arc<Vec<u8>>;
type TileCache = Mutex<HashMap<TileKey, TileData>>;
const FULL_TILE_BYTES: usize = TILE_WIDTH as usize * HASH;

/// How the log batches and bounds its queue.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// The most entries one commit takes.
    pub max_batch: usize,
    /// The most entries waiting; past it submissions are refused ([`TlogError::Busy`]).
    pub max_pending: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self { max_batch: 1 << 14, max_pending: 1 << 18 }
    }
}

/// The right edge of the tree: each level's partial tile, and the partial bundle.
#[derive(Clone, Default)]
struct Edge {
    hashes: Vec<Arc<Vec<u8>>>,
    entries: Arc<Vec<u8>>,
}

/// A durable state of the log.
pub struct Snapshot {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The checkpoint as the signed note served at `/checkpoint`.
    pub note: Vec<u8>,
    edge: Edge,
}

/// An entry made durable: its index and the first snapshot that holds it.
pub struct Appended {
    /// The entry's index.
    pub index: u64,
    /// The snapshot whose checkpoint covers it.
    pub snapshot: Arc<Snapshot>,
}

/// Called once with the outcome of a submission.
pub type Done = Box<dyn FnOnce(Result<Appended, TlogError>) + Send>;

#[derive(Default)]
struct Queue {
    pending: Vec<(Vec<u8>, Done)>,
    closed: bool,
}

struct Inner {
    store: Store,
    signer: LogSigner,
    clock: fn() -> u64,
    options: LogOptions,
    state: RwLock<Arc<Snapshot>>,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Full tiles above level 0 (a few per million entries), read once.
    cache: TileCache,
    /// Recent checkpoints (at most one per second), oldest first.
    history: Mutex<std::collections::VecDeque<(u64, Arc<Vec<u8>>)>>,
}

/// Checkpoints kept in memory for [`Log::history`].
const HISTORY_KEPT: usize = 256;

/// The transparency log over one directory.
pub struct Log {
    inner: Arc<Inner>,
    sequencer: Option<JoinHandle<()>>,
}

impl Log {
    /// Open (or create) the log in `dir`, signing with `signer`, whose name is the
    /// log's origin. Refuses a checkpoint not signed by `signer` or for another
    /// origin, and tiles that do not hash to the checkpoint's root.
    pub fn open(
        dir: &Path,
        signer: LogSigner,
        clock: fn() -> u64,
        options: LogOptions,
    ) -> Result<Self, TlogError> {
        let store = Store::new(dir)?;
        let verifier = LogVerifier::new(signer.verifier_key())?;
        let snapshot = match store.read_checkpoint()? {
            Some(note) => recover(&store, &note, &verifier)?,
            None if store.has_tiles() => {
                return Err(TlogError::Corrupt(format!("{} holds tiles but no checkpoint", dir.display())));
            }
            None => {
                let checkpoint = Checkpoint {
                    origin: signer.name().to_owned(),
                    size: 0,
                    root: LogHash(tlog_tiles::EMPTY_HASH.0),
                    time: clock(),
                };
                let note = checkpoint.sign(&signer)?;
                store.write_checkpoint(&note)?;
                Snapshot { checkpoint, note, edge: Edge::default() }
            }
        };
        let mut history = std::collections::VecDeque::new();
        for note in store.read_history(HISTORY_KEPT)? {
            // An unreadable or foreign line is skipped: the history is advisory.
            if let Ok(checkpoint) = Checkpoint::open(&note, &verifier)
                && checkpoint.size <= snapshot.checkpoint.size
            {
                history.push_back((checkpoint.time, Arc::new(note)));
            }
        }
        let inner = Arc::new(Inner {
            history: Mutex::new(history),
            store,
            signer,
            clock,
            options,
            state: RwLock::new(Arc::new(snapshot)),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            cache: Mutex::new(HashMap::new()),
        });
        let worker = inner.clone();
        let sequencer =
            std::thread::Builder::new().name("veil-tlog".into()).spawn(move || sequence(&worker))?;
        Ok(Self { inner, sequencer: Some(sequencer) })
    }

    /// The latest durable snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.state.read().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Recent signed checkpoints (notes), at most one per second of log time,
    /// newest first.
    pub fn history(&self, limit: usize) -> Vec<Arc<Vec<u8>>> {
        let h = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        h.iter().rev().take(limit).map(|(_, n)| n.clone()).collect()
    }

    /// The log's public key.
    pub fn verifier_key(&self) -> &str {
        self.inner.signer.verifier_key()
    }

    /// Queue `leaf`; `done` is called once it is durable, or with why it is not.
    pub fn submit(&self, leaf: Vec<u8>, done: Done) -> Result<(), TlogError> {
        if leaf.len() > MAX_ENTRY_BYTES {
            return Err(TlogError::EntryTooLarge { len: leaf.len(), max: MAX_ENTRY_BYTES });
        }
        let mut q = self.inner.queue.lock().map_err(|_| TlogError::Closed)?;
        if q.closed {
            return Err(TlogError::Closed);
        }
        if q.pending.len() >= self.inner.options.max_pending {
            return Err(TlogError::Busy(q.pending.len()));
        }
        q.pending.push((leaf, done));
        drop(q);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Append `leaf` and wait until it is durable.
    pub fn append(&self, leaf: Vec<u8>) -> Result<Appended, TlogError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.submit(
            leaf,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        rx.recv().map_err(|_| TlogError::Closed)?
    }

    /// The audit path of entry `index` in the tree of `size` leaves (at most the
    /// latest snapshot's).
    pub fn prove_inclusion(&self, index: u64, size: u64) -> Result<Vec<LogHash>, TlogError> {
        let snap = self.snapshot();
        let have = snap.checkpoint.size;
        if size > have {
            return Err(TlogError::BeyondTree { what: "tree size", asked: size, size: have });
        }
        if index >= size {
            return Err(TlogError::BeyondTree { what: "index", asked: index, size });
        }
        let r = self.inner.reader(have, &snap.edge);
        let p = tlog_tiles::prove_record(size, index, &r).map_err(|e| TlogError::Corrupt(e.to_string()))?;
        Ok(p.into_iter().map(|h| LogHash(h.0)).collect())
    }

    /// The proof that the tree of `new` leaves extends the tree of `old`.
    pub fn prove_consistency(&self, old: u64, new: u64) -> Result<Vec<LogHash>, TlogError> {
        let snap = self.snapshot();
        let have = snap.checkpoint.size;
        if new > have {
            return Err(TlogError::BeyondTree { what: "tree size", asked: new, size: have });
        }
        if old > new {
            return Err(TlogError::StaleCheckpoint { seen: old, given: new });
        }
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        let r = self.inner.reader(have, &snap.edge);
        let p = tlog_tiles::prove_tree(new, old, &r).map_err(|e| TlogError::Corrupt(e.to_string()))?;
        Ok(p.into_iter().map(|h| LogHash(h.0)).collect())
    }

    /// The root of the tree of `size` leaves (at most the latest snapshot's).
    pub fn root_at(&self, size: u64) -> Result<LogHash, TlogError> {
        let snap = self.snapshot();
        if size > snap.checkpoint.size {
            return Err(TlogError::BeyondTree { what: "tree size", asked: size, size: snap.checkpoint.size });
        }
        let r = self.inner.reader(snap.checkpoint.size, &snap.edge);
        tlog_tiles::tree_hash(size, &r).map(|h| LogHash(h.0)).map_err(|e| TlogError::Corrupt(e.to_string()))
    }

    /// A tile as C2SP clients fetch it, for the latest snapshot: a full tile, or a
    /// partial one of any width the log has (a narrower width than the log now holds
    /// is cut from the wider tile, so a client with an older checkpoint is served).
    pub fn tile(&self, t: &TilePath) -> Result<Vec<u8>, TlogError> {
        let snap = self.snapshot();
        let size = snap.checkpoint.size;
        let width = usize::from(t.width());
        let (full, edge_len) = match *t {
            TilePath::Hash { level, .. } => {
                let at_level = size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT)).unwrap_or(0);
                let edge = snap.edge.hashes.get(usize::from(level)).map_or(0, |e| e.len() / HASH);
                (at_level / TILE_WIDTH, edge)
            }
            TilePath::Entries { .. } => (size / TILE_WIDTH, (size % TILE_WIDTH) as usize),
        };
        let beyond = || TlogError::BeyondTree { what: "tile", asked: t.index(), size };
        let bytes: Vec<u8> = if t.index() < full {
            self.inner.store.read(&t.with_width(TILE_WIDTH as u16))?.ok_or_else(|| {
                TlogError::Corrupt(format!("{} is missing", t.with_width(TILE_WIDTH as u16)))
            })?
        } else if t.index() == full && width <= edge_len {
            match *t {
                TilePath::Hash { level, .. } => snap.edge.hashes[usize::from(level)].to_vec(),
                TilePath::Entries { .. } => snap.edge.entries.to_vec(),
            }
        } else {
            return Err(beyond());
        };
        match t {
            TilePath::Hash { .. } => bytes
                .get(..width * HASH)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| TlogError::Corrupt(format!("{t} is short"))),
            TilePath::Entries { .. } => {
                let entries = bundle_entries(&bytes)?;
                let mut out = Vec::new();
                for e in entries.iter().take(width) {
                    bundle_push(&mut out, e)?;
                }
                Ok(out)
            }
        }
    }

    /// Entry `index`'s bytes.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, TlogError> {
        let size = self.snapshot().checkpoint.size;
        if index >= size {
            return Err(TlogError::BeyondTree { what: "index", asked: index, size });
        }
        let bundle_index = index / TILE_WIDTH;
        let width = if bundle_index < size / TILE_WIDTH { TILE_WIDTH } else { size % TILE_WIDTH };
        let bundle = self.tile(&TilePath::Entries { index: bundle_index, width: width as u16 })?;
        let entries = bundle_entries(&bundle)?;
        entries
            .get((index % TILE_WIDTH) as usize)
            .map(|e| e.to_vec())
            .ok_or_else(|| TlogError::Corrupt(format!("bundle {bundle_index} is short")))
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Ok(mut q) = self.inner.queue.lock() {
            q.closed = true;
        }
        self.inner.wake.notify_all();
        if let Some(t) = self.sequencer.take() {
            let _ = t.join();
        }
    }
}

/// Reads stored hashes from tiles: full tiles from disk, the right edge from memory.
struct Reader<'a> {
    store: &'a Store,
    cache: Option<&'a TileCache>,
    size: u64,
    edge: &'a Edge,
}

impl Reader<'_> {
    fn tile_data(&self, level: u8, index: u64) -> Result<Arc<Vec<u8>>, tlog_tiles::Error> {
        let shift = (u32::from(level) + 1) * u32::from(TILE_HEIGHT);
        let full = self.size.checked_shr(shift).unwrap_or(0);
        if index == full {
            return self
                .edge
                .hashes
                .get(usize::from(level))
                .cloned()
                .ok_or(tlog_tiles::Error::IndexesNotInTree);
        }
        if index > full {
            return Err(tlog_tiles::Error::IndexesNotInTree);
        }
        let key = (level, index);
        let cache = self.cache.filter(|_| level > 0);
        if let Some(t) = cache.and_then(|c| c.lock().ok()?.get(&key).cloned()) {
            return Ok(t);
        }
        let t = TilePath::Hash { level, index, width: TILE_WIDTH as u16 };
        let data = match self.store.read(&t) {
            Ok(Some(d)) if d.len() == FULL_TILE_BYTES => Arc::new(d),
            _ => return Err(tlog_tiles::Error::InvalidTile),
        };
        if let Some(mut c) = cache.and_then(|c| c.lock().ok()) {
            c.insert(key, data.clone());
        }
        Ok(data)
    }
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut last: Option<(TileKey, TileData)> = None;
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let t = Tile::from_index(TILE_HEIGHT, i);
            let key = (t.level(), t.level_index());
            let data = match &last {
                Some((k, d)) if *k == key => d.clone(),
                _ => {
                    let d = self.tile_data(key.0, key.1)?;
                    last = Some((key, d.clone()));
                    d
                }
            };
            out.push(t.hash_at_index(&data, i)?);
        }
        Ok(out)
    }
}

/// Rebuild the edge from the tiles a checkpoint names, and check them against it.
fn recover(store: &Store, note: &[u8], verifier: &LogVerifier) -> Result<Snapshot, TlogError> {
    let checkpoint = Checkpoint::open(note, verifier)?;
    let size = checkpoint.size;
    let mut edge = Edge::default();
    let mut level: u8 = 0;
    while let Some(at_level) = size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        && at_level > 0
    {
        let w = (at_level % TILE_WIDTH) as u16;
        let data = if w == 0 {
            Vec::new()
        } else {
            let t = TilePath::Hash { level, index: at_level / TILE_WIDTH, width: w };
            let d = store.read(&t)?.ok_or_else(|| TlogError::Corrupt(format!("{t} is missing")))?;
            if d.len() != usize::from(w) * HASH {
                return Err(TlogError::Corrupt(format!("{t} holds {} bytes", d.len())));
            }
            d
        };
        edge.hashes.push(Arc::new(data));
        level += 1;
    }
    let w = (size % TILE_WIDTH) as u16;
    if w > 0 {
        let t = TilePath::Entries { index: size / TILE_WIDTH, width: w };
        let bundle = store.read(&t)?.ok_or_else(|| TlogError::Corrupt(format!("{t} is missing")))?;
        let entries = bundle_entries(&bundle)?;
        let leaves = &edge.hashes[0];
        if entries.len() != usize::from(w)
            || entries.iter().zip(leaves.chunks(HASH)).any(|(e, h)| tlog_tiles::record_hash(e).0 != h)
        {
            return Err(TlogError::Corrupt(format!("{t} does not match the leaf hashes")));
        }
        edge.entries = Arc::new(bundle);
    }
    let r = Reader { store, cache: None, size, edge: &edge };
    let root =
        tlog_tiles::tree_hash(size, &r).map_err(|e| TlogError::Corrupt(format!("reading the tree: {e}")))?;
    if root.0 != checkpoint.root.0 {
        return Err(TlogError::Corrupt(format!(
            "the tiles hash to {}, the checkpoint of size {size} says {}",
            LogHash(root.0),
            checkpoint.root
        )));
    }
    Ok(Snapshot { checkpoint, note: note.to_vec(), edge })
}

impl Inner {
    fn reader<'a>(&'a self, size: u64, edge: &'a Edge) -> Reader<'a> {
        Reader { store: &self.store, cache: Some(&self.cache), size, edge }
    }
}

/// The sequencer: take what is queued, commit it as one batch, answer, repeat.
fn sequence(inner: &Inner) {
    loop {
        let batch = {
            let Ok(mut q) = inner.queue.lock() else { return };
            while q.pending.is_empty() && !q.closed {
                q = match inner.wake.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            if q.pending.is_empty() {
                return;
            }
            let n = q.pending.len().min(inner.options.max_batch);
            q.pending.drain(..n).collect::<Vec<_>>()
        };
        let (leaves, dones): (Vec<Vec<u8>>, Vec<Done>) = batch.into_iter().unzip();
        match commit(inner, &leaves) {
            Ok((first, snapshot)) => {
                for (i, done) in dones.into_iter().enumerate() {
                    done(Ok(Appended { index: first + i as u64, snapshot: snapshot.clone() }));
                }
            }
            Err(e) => {
                let why = e.to_string();
                for done in dones {
                    done(Err(TlogError::Io(std::io::Error::other(why.clone()))));
                }
            }
        }
    }
}

/// Append `leaves` after the latest snapshot, durably; the index of the first.
fn commit(inner: &Inner, leaves: &[Vec<u8>]) -> Result<(u64, Arc<Snapshot>), TlogError> {
    let old = inner.state.read().map(|s| s.clone()).map_err(|_| TlogError::Closed)?;
    let first = old.checkpoint.size;
    let mut edge = old.edge.clone();
    let mut size = first;
    let mut files: Vec<(TilePath, Vec<u8>)> = Vec::new();
    for leaf in leaves {
        let entries = Arc::make_mut(&mut edge.entries);
        bundle_push(entries, leaf)?;
        if (size + 1) % TILE_WIDTH == 0 {
            files.push((
                TilePath::Entries { index: size / TILE_WIDTH, width: TILE_WIDTH as u16 },
                std::mem::take(entries),
            ));
        }
        push_hash(&mut edge, 0, size, tlog_tiles::record_hash(leaf), &mut files);
        size += 1;
    }
    // The right edge at the new size, for every level whose edge moved.
    let mut superseded = Vec::new();
    let mut level: u8 = 0;
    while let Some(at_new) = size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        && at_new > 0
    {
        let at_old = first.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT)).unwrap_or(0);
        if at_new != at_old {
            let w = (at_new % TILE_WIDTH) as u16;
            if w > 0 {
                let data = edge.hashes[usize::from(level)].to_vec();
                files.push((TilePath::Hash { level, index: at_new / TILE_WIDTH, width: w }, data));
            }
            let w_old = (at_old % TILE_WIDTH) as u16;
            if w_old > 0 {
                superseded.push(TilePath::Hash { level, index: at_old / TILE_WIDTH, width: w_old });
            }
        }
        level += 1;
    }
    let w = (size % TILE_WIDTH) as u16;
    if w > 0 {
        files.push((TilePath::Entries { index: size / TILE_WIDTH, width: w }, edge.entries.to_vec()));
    }
    let w_old = (first % TILE_WIDTH) as u16;
    if w_old > 0 {
        superseded.push(TilePath::Entries { index: first / TILE_WIDTH, width: w_old });
    }
    inner.store.write_tiles(&files)?;

    let reader = Reader { store: &inner.store, cache: None, size, edge: &edge };
    let root = tlog_tiles::tree_hash(size, &reader).map_err(|e| TlogError::Corrupt(e.to_string()))?;
    let checkpoint = Checkpoint {
        origin: old.checkpoint.origin.clone(),
        size,
        root: LogHash(root.0),
        // Checkpoint times never go backwards, whatever the clock does.
        time: (inner.clock)().max(old.checkpoint.time),
    };
    let note = checkpoint.sign(&inner.signer)?;
    inner.store.write_checkpoint(&note)?;
    let snapshot = Arc::new(Snapshot { checkpoint, note, edge });
    match inner.state.write() {
        Ok(mut s) => *s = snapshot.clone(),
        Err(p) => *p.into_inner() = snapshot.clone(),
    }
    record_history(inner, &snapshot);
    for t in superseded {
        if !files.iter().any(|(f, _)| *f == t) {
            inner.store.remove(&t);
        }
    }
    Ok((first, snapshot))
}

/// Keep `snapshot` in the history if it is the first of its second.
fn record_history(inner: &Inner, snapshot: &Snapshot) {
    let mut h = inner.history.lock().unwrap_or_else(|p| p.into_inner());
    if h.back().is_some_and(|(time, _)| *time >= snapshot.checkpoint.time) {
        return;
    }
    // Advisory: the checkpoint itself is durable; a failed write loses only its
    // history line, which a later one follows.
    let _ = inner.store.append_history(&snapshot.note);
    h.push_back((snapshot.checkpoint.time, Arc::new(snapshot.note.clone())));
    if h.len() > HISTORY_KEPT {
        h.pop_front();
    }
}

/// Add the hash at position `n` of tile level `level`, completing tiles upwards.
fn push_hash(edge: &mut Edge, level: u8, n: u64, h: Hash, files: &mut Vec<(TilePath, Vec<u8>)>) {
    let l = usize::from(level);
    if edge.hashes.len() <= l {
        edge.hashes.push(Arc::new(Vec::new()));
    }
    let tile = Arc::make_mut(&mut edge.hashes[l]);
    tile.extend_from_slice(&h.0);
    if tile.len() == FULL_TILE_BYTES {
        let full = std::mem::take(tile);
        let up = Tile::subtree_hash(&full);
        files.push((TilePath::Hash { level, index: n / TILE_WIDTH, width: TILE_WIDTH as u16 }, full));
        push_hash(edge, level + 1, n / TILE_WIDTH, up, files);
    }
}
