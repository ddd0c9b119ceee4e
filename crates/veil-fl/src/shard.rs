//! The fixed non-IID split of a training set among clients, after McMahan et al.
//! ("Communication-Efficient Learning of Deep Networks from Decentralized Data",
//! 2017, §3's pathological non-IID partition), made deterministic:
//!
//! 1. order the rows by (label, position in the file);
//! 2. cut that order into 2N shards of ⌊rows / 2N⌋ rows, the last shard taking the
//!    remainder;
//! 3. client k (0-based) holds shards k and 2N − 1 − k.
//!
//! With the labels sorted, the low shards are all one class and the high shards the
//! other, so most clients see a skewed mix and some see a single class, while every
//! row belongs to exactly one client.

use crate::FlError;

/// The rows (indices into `labels`) client `k` of `n` holds.
pub fn non_iid(labels: &[u8], n: usize, k: usize) -> Result<Vec<usize>, FlError> {
    if n == 0 || k >= n {
        return Err(FlError::Data(format!("client {k} of {n}")));
    }
    let shards = 2 * n;
    if labels.len() < shards {
        return Err(FlError::Data(format!("{} rows cannot make {shards} shards", labels.len())));
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|&i| (labels[i], i));
    let size = labels.len() / shards;
    let shard = |s: usize| {
        let end = if s + 1 == shards { labels.len() } else { (s + 1) * size };
        order[s * size..end].to_vec()
    };
    let mut rows = shard(k);
    rows.extend(shard(shards - 1 - k));
    rows.sort_unstable();
    Ok(rows)
}
