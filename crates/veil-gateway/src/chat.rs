//! What the chat APIs (OpenAI's, Ollama's) share: running a chat job, keeping its
//! receipt, and relaying a streamed answer in the API's own framing.
//!
//! Invariant: a completion reaches a client only with a kept receipt. The final
//! event (OpenAI's last chunk, Ollama's `done` line) is written after the receipt is
//! verified and stored, and names it; if it cannot be kept, the client gets an error
//! event instead of an ending.

use std::convert::Infallible;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use veil_protocol::{ChatEvent, ChatInput, ChatMessage, ChatOutput, JobRequest, JobResponse, Problem};

use crate::GatewayError;
use crate::gateway::Shared;
use crate::pool::JobStream;

/// How one API frames a streamed answer.
pub(crate) trait Framing: Send + Sync + 'static {
    /// Before any text (OpenAI's role chunk); may be empty.
    fn start(&self) -> Vec<u8>;
    /// New text.
    fn delta(&self, text: &str) -> Vec<u8>;
    /// The end: the answer and its kept receipt's id.
    fn done(&self, out: &ChatOutput, receipt: &str) -> Vec<u8>;
    /// A failure; nothing follows it.
    fn error(&self, p: &Problem) -> Vec<u8>;
}

/// The API key a chat client sent (`Authorization: Bearer KEY`), if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// Stop strings as chat clients send them: one, or a list.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

/// The sampling fields OpenAI's request and Ollama's `options` name alike.
#[derive(serde::Deserialize, Default)]
pub(crate) struct SamplingFields {
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stop: Option<Stop>,
}

impl SamplingFields {
    /// A chat of `messages` with these fields and at most `max_tokens` new tokens.
    pub(crate) fn input(
        self,
        messages: Vec<ChatMessage>,
        max_tokens: Option<u32>,
    ) -> Result<ChatInput, GatewayError> {
        let stop = match self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        };
        if stop.len() > 4 || stop.iter().any(String::is_empty) {
            return Err(GatewayError::Malformed("stop takes at most four non-empty strings".into()));
        }
        let (temperature, top_p, seed) = (self.temperature, self.top_p, self.seed);
        Ok(ChatInput { messages, max_tokens, temperature, top_p, seed, stop })
    }
}

/// Seconds a client told "busy" should wait before trying again.
const RETRY_AFTER_SECS: &str = "2";

/// A refusal in an API's own error `body`, with the refusal's status and, when every
/// slot is busy, `Retry-After`.
pub(crate) fn refusal(p: &Problem, body: Value) -> Response {
    let status = match p.status {
        // Chat clients know 400 for a request that cannot be served as sent (OpenAI's
        // context_length_exceeded among them), not 422.
        422 => StatusCode::BAD_REQUEST,
        s => StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    resp
}

/// The completion in a worker's answer.
pub(crate) fn chat_output(answer: &JobResponse) -> Result<&ChatOutput, GatewayError> {
    answer
        .output
        .chat()
        .ok_or_else(|| GatewayError::WorkerFailed("the worker answered a chat with predictions".into()))
}

/// Run a chat to its end and keep its receipt.
pub(crate) async fn complete(g: &Shared, job: &JobRequest) -> Result<JobResponse, GatewayError> {
    let (answer, _) = g.pool().dispatch(job).await?;
    chat_output(&answer)?;
    g.keep(&answer.receipt).await?;
    g.charge(&answer.receipt).await?;
    Ok(answer)
}

/// Start a streamed chat and read its first event. Refusals come before any text
/// (the key is released first), so they are answered with their own status rather
/// than inside a stream that already said 200.
pub(crate) async fn open(
    g: &Shared,
    job: &JobRequest,
) -> Result<(JobStream, Option<ChatEvent>), GatewayError> {
    let mut events = g.pool().dispatch_stream(job).await?;
    let first = events.next().await?;
    if let Some(ChatEvent::Error(p)) = &first {
        return Err(GatewayError::Worker(p.clone()));
    }
    Ok((events, first))
}

/// The framed bytes for one event, and whether the stream is over.
async fn frame<F: Framing>(
    g: &Shared,
    f: &F,
    event: Result<Option<ChatEvent>, GatewayError>,
) -> (Vec<u8>, bool) {
    match event {
        Ok(Some(ChatEvent::Delta(text))) => (f.delta(&text), false),
        Ok(Some(ChatEvent::Error(p))) => (f.error(&p), true),
        Ok(None) => {
            let e = GatewayError::WorkerFailed("the worker ended the stream without an answer".into());
            (f.error(&e.problem()), true)
        }
        Err(e) => (f.error(&e.problem()), true),
        Ok(Some(ChatEvent::Done(answer))) => {
            let kept = match chat_output(&answer) {
                Ok(out) => match g.keep(&answer.receipt).await {
                    Ok(()) => g.charge(&answer.receipt).await.map(|()| out),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match kept {
                Ok(out) => (f.done(out, &answer.receipt.id), true),
                Err(e) => (f.error(&e.problem()), true),
            }
        }
    }
}

/// The stream's body: `f.start()`, then each event framed. Dropping the body (the
/// client went away) drops `events`, which closes the worker's connection and stops
/// generation.
pub(crate) fn body<F: Framing>(
    g: Shared,
    events: JobStream,
    first: Option<ChatEvent>,
    f: F,
) -> axum::body::Body {
    // (state, the first event while it is pending, whether the stream is over)
    let state = (g, events, f, Some(first), false);
    let stream = futures::stream::unfold(state, |(g, mut events, f, pending, over)| async move {
        if over {
            return None;
        }
        let (bytes, over) = match pending {
            Some(first) => {
                let mut bytes = f.start();
                let (more, over) = frame(&g, &f, Ok(first)).await;
                bytes.extend(more);
                (bytes, over)
            }
            None => {
                let event = events.next().await;
                frame(&g, &f, event).await
            }
        };
        Some((Ok::<_, Infallible>(bytes), (g, events, f, None, over)))
    });
    axum::body::Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use serde_json::json;
    use veil_protocol::{ErrorCode, Problem};

    use super::refusal;

    /// Chat clients retry a busy server after `Retry-After`, and know 400 (not 422) for
    /// a request that cannot be served as sent; every other status passes through.
    #[test]
    fn refusals_speak_the_chat_clients_statuses() {
        let p = |status, code| Problem::new(status, code, "why");
        let busy = refusal(&p(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::InferenceBusy), json!({}));
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
        let window = refusal(&p(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InferenceBadInput), json!({}));
        assert_eq!(window.status(), StatusCode::BAD_REQUEST);
        assert!(window.headers().get(header::RETRY_AFTER).is_none());
        let revoked = refusal(&p(StatusCode::FORBIDDEN, ErrorCode::InferenceNotAuthorized), json!({}));
        assert_eq!(revoked.status(), StatusCode::FORBIDDEN);
    }
}
