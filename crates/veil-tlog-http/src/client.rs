//! The log's client: what the gateway, `veil verify` and witnesses use.

use veil_http::CallError;
use veil_protocol::{ConsistencyProof, Inclusion, InclusionProof, LogEntry, Problem};

/// Why a call to the log failed.
#[derive(Debug, thiserror::Error)]
pub enum LogClientError {
    /// The log refused, with its problem document.
    #[error("the log refused ({}): {}", .0.code, .0.detail)]
    Refused(Problem),
    /// The log could not be reached, or answered outside the protocol.
    #[error("the log could not be reached: {0}")]
    Transport(String),
}

impl From<CallError> for LogClientError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused(p) => Self::Refused(p),
            CallError::Transport(t) => Self::Transport(t),
        }
    }
}

/// A client of one log.
#[derive(Clone)]
pub struct LogClient {
    base: String,
    http: reqwest::Client,
}

/// A checkpoint is a few hundred bytes; refuse to buffer more than this.
const MAX_CHECKPOINT_BYTES: usize = 1 << 16;

impl LogClient {
    /// The log at `base` (e.g. `http://127.0.0.1:8090`).
    pub fn new(base: &str) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    /// Submit a receipt file; answered once the log holds it durably.
    pub async fn submit_receipt(&self, receipt: &[u8]) -> Result<Inclusion, LogClientError> {
        let sent = self
            .http
            .post(format!("{}/v1/log/receipts", self.base))
            .header("content-type", "application/json")
            .body(receipt.to_vec())
            .send()
            .await;
        Ok(veil_http::answer(sent).await?)
    }

    /// Declare an entry that is not a receipt (a model, a policy, an audit head)
    /// with the log's declaration token; answered once durable.
    pub async fn declare(&self, entry: &LogEntry, token: &str) -> Result<Inclusion, LogClientError> {
        let sent = self
            .http
            .post(format!("{}/v1/log/entries", self.base))
            .bearer_auth(token)
            .json(entry)
            .send()
            .await;
        Ok(veil_http::answer(sent).await?)
    }

    /// The latest signed checkpoint, verbatim (check it with `Checkpoint::open`).
    pub async fn checkpoint(&self) -> Result<Vec<u8>, LogClientError> {
        let resp = self
            .http
            .get(format!("{}/checkpoint", self.base))
            .send()
            .await
            .map_err(|e| LogClientError::Transport(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(LogClientError::Transport(format!("HTTP {}", resp.status())));
        }
        let bytes = resp.bytes().await.map_err(|e| LogClientError::Transport(e.to_string()))?;
        if bytes.len() > MAX_CHECKPOINT_BYTES {
            return Err(LogClientError::Transport("the checkpoint is implausibly large".into()));
        }
        Ok(bytes.to_vec())
    }

    /// The inclusion proof of `index` in the tree of `size`.
    pub async fn inclusion(&self, index: u64, size: u64) -> Result<InclusionProof, LogClientError> {
        let sent = self
            .http
            .get(format!("{}/v1/log/proof/inclusion?index={index}&size={size}", self.base))
            .send()
            .await;
        Ok(veil_http::answer(sent).await?)
    }

    /// The consistency proof from the tree of `old` to the tree of `new`.
    pub async fn consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, LogClientError> {
        let sent =
            self.http.get(format!("{}/v1/log/proof/consistency?old={old}&new={new}", self.base)).send().await;
        Ok(veil_http::answer(sent).await?)
    }
}

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum WitnessCallError {
    /// The witness holds another size for this log.
    #[error("the witness holds size {0}")]
    Conflict(u64),
    /// The witness refused (403 unsigned, 404 unknown log, 422 inconsistent: a fork).
    #[error("the witness refused with {status}: {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its explanation.
        detail: String,
    },
    /// The witness could not be reached, or answered outside the protocol.
    #[error("the witness could not be reached: {0}")]
    Transport(String),
    /// The log could not make the proof the witness needs.
    #[error(transparent)]
    Log(#[from] veil_tlog::TlogError),
}

/// Ask the witness at `url` to cosign the checkpoint of `snap`, proving
/// consistency from `held` (the size the witness is believed to hold; on a conflict
/// the witness's own answer is used once). The cosignature line and the size the
/// witness now holds.
pub async fn witness_checkpoint(
    http: &reqwest::Client,
    url: &str,
    log: &veil_tlog::Log,
    snap: &veil_tlog::Snapshot,
    mut held: u64,
) -> Result<(String, u64), WitnessCallError> {
    for attempt in 0..2 {
        let proof = log.prove_consistency(held, snap.checkpoint.size)?;
        let mut body = format!("old {held}\n");
        for h in &proof {
            body.push_str(&format!("{h}\n"));
        }
        body.push('\n');
        let mut bytes = body.into_bytes();
        bytes.extend_from_slice(&snap.note);
        let resp = http
            .post(format!("{}/add-checkpoint", url.trim_end_matches('/')))
            .body(bytes)
            .send()
            .await
            .map_err(|e| WitnessCallError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| WitnessCallError::Transport(e.to_string()))?;
        match status {
            200 => return Ok((text, snap.checkpoint.size)),
            409 => {
                let size =
                    text.trim().parse().map_err(|_| WitnessCallError::Transport("bad 409 body".into()))?;
                if attempt == 1 || size > snap.checkpoint.size {
                    return Err(WitnessCallError::Conflict(size));
                }
                held = size;
            }
            _ => return Err(WitnessCallError::Refused { status, detail: text.trim().to_owned() }),
        }
    }
    Err(WitnessCallError::Conflict(held))
}

/// Whenever the log's checkpoint changes, ask every witness to cosign it and keep
/// the note with the cosignatures gathered in `cosigned` (a witness that does not
/// cosign is logged and left out). Checks every `every` until the task is dropped.
pub async fn gather_cosignatures(
    log: std::sync::Arc<veil_tlog::Log>,
    witnesses: Vec<String>,
    cosigned: std::sync::Arc<crate::Cosigned>,
    every: std::time::Duration,
) {
    let http = reqwest::Client::new();
    let mut held = vec![0u64; witnesses.len()];
    loop {
        let snap = log.snapshot();
        if cosigned.get().is_none_or(|(size, _)| size != snap.checkpoint.size) {
            let mut note = snap.note.clone();
            for (w, h) in witnesses.iter().zip(held.iter_mut()) {
                match witness_checkpoint(&http, w, &log, &snap, *h).await {
                    Ok((line, size)) => {
                        *h = size;
                        note.extend_from_slice(line.as_bytes());
                    }
                    Err(e) => tracing::warn!(witness = %w, error = %e, "the witness did not cosign"),
                }
            }
            cosigned.set(snap.checkpoint.size, note);
        }
        tokio::time::sleep(every).await;
    }
}
