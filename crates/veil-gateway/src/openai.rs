//! OpenAI's chat completions API, so that stock OpenAI clients chat over a token's
//! documents unchanged: the API key is the user's access grant, the answer (or its
//! SSE stream) is OpenAI's shape, errors are `{"error": {message, type, code}}`
//! because that is what OpenAI clients parse.
//!
//! Veil adds one field everywhere an answer ends: `veil_receipt`, the id of the
//! receipt the worker signed for this completion (`GET /v1/receipts/{id}`); a
//! non-streamed answer also carries it in the `x-veil-receipt` header. The receipt's
//! `llm.completed` event holds the root of the completion's UTF-8 bytes, exactly the
//! concatenated `content` the client received.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use veil_http::{ApiJson, HttpProblem};
use veil_protocol::{ChatInput, ChatMessage, ChatOutput, ChatRole, FinishReason, Problem};

use crate::GatewayError;
use crate::chat::{self, Framing};
use crate::gateway::Shared;

const ROUTE: &str = "/v1/chat/completions";

/// One message as OpenAI clients send it: `content` is a string or a list of parts.
#[derive(Deserialize)]
struct Message {
    role: String,
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The fields of OpenAI's request Veil honours; others that clients commonly send
/// (`user`, `metadata`, `store`...) are ignored, as OpenAI-compatible servers do.
#[derive(Deserialize)]
pub(crate) struct CompletionRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(flatten)]
    sampling: chat::SamplingFields,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

impl CompletionRequest {
    /// The chat Veil runs, or why this request is not one it can run.
    fn input(&mut self) -> Result<ChatInput, GatewayError> {
        let bad = |m: String| GatewayError::Malformed(m);
        if self.n.is_some_and(|n| n != 1) {
            return Err(bad("only n = 1 is supported".into()));
        }
        let messages = self
            .messages
            .iter()
            .map(|m| {
                let role = match m.role.as_str() {
                    "system" | "developer" => ChatRole::System,
                    "user" => ChatRole::User,
                    "assistant" => ChatRole::Assistant,
                    other => return Err(bad(format!("messages of role {other:?} are not supported"))),
                };
                let content = match &m.content {
                    Content::Text(t) => t.clone(),
                    Content::Parts(parts) => {
                        let mut text = String::new();
                        for p in parts {
                            match (p.kind.as_str(), &p.text) {
                                ("text", Some(t)) => text.push_str(t),
                                (kind, _) => {
                                    return Err(bad(format!(
                                        "content parts of type {kind:?} are not supported"
                                    )));
                                }
                            }
                        }
                        text
                    }
                };
                Ok(ChatMessage { role, content })
            })
            .collect::<Result<Vec<_>, _>>()?;
        std::mem::take(&mut self.sampling).input(messages, self.max_completion_tokens.or(self.max_tokens))
    }
}

/// OpenAI's error `type` for a status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn error_body(p: &Problem) -> Value {
    json!({"error": {
        "message": p.detail,
        "type": error_type(p.status),
        "code": p.code.as_str(),
        "param": null,
    }})
}

/// A refusal in OpenAI's shape.
fn error_response(p: &Problem) -> Response {
    chat::refusal(p, error_body(p))
}

pub(crate) fn completion_id() -> String {
    let mut raw = [0u8; 12];
    // Only a name for the client; receipts are named by their content.
    let _ = getrandom::fill(&mut raw);
    format!("chatcmpl-{}", hex::encode(raw))
}

fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

fn usage(out: &ChatOutput) -> Value {
    json!({
        "prompt_tokens": out.usage.prompt_tokens,
        "completion_tokens": out.usage.completion_tokens,
        "total_tokens": out.usage.total_tokens,
    })
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(g): State<Shared>,
    headers: HeaderMap,
    body: Result<ApiJson<CompletionRequest>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let ApiJson(mut req) = body.map_err(GatewayError::from)?;
        let input = req.input()?;
        let (job, model) = g.chat_job(chat::bearer(&headers), &req.model, input, req.stream).await?;
        let name = model.meta.name.clone();
        // A marketplace chat's id is the one its receipt names (the SDK's chat id).
        let id = match &job {
            veil_protocol::JobRequest::Market(m) => m.chat_id.clone(),
            _ => completion_id(),
        };
        let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        if req.stream {
            let (events, first) = chat::open(&g, &job).await?;
            let meta = Meta { id, created: g.now(), model: name, include_usage };
            let headers = [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ];
            return Ok((headers, chat::body(g.clone(), events, first, meta)).into_response());
        }
        let answer = chat::complete(&g, &job).await?;
        let out = chat::chat_output(&answer)?;
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": g.now(),
            "model": name,
            "system_fingerprint": out.weights,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": out.content},
                "logprobs": null,
                "finish_reason": finish_reason(out.finish_reason),
            }],
            "usage": usage(out),
            "veil_receipt": answer.receipt.id,
        });
        let mut resp = axum::Json(body).into_response();
        if let Ok(v) = HeaderValue::from_str(&answer.receipt.id) {
            resp.headers_mut().insert("x-veil-receipt", v);
        }
        Ok::<_, GatewayError>(resp)
    }
    .await;
    g.respond(ROUTE, started, r, error_response)
}

/// What every chunk of one streamed completion repeats.
struct Meta {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Meta {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    }
}

fn data(v: &Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

/// OpenAI's server-sent events: a role chunk, content chunks, a finishing chunk
/// naming the receipt, a usage chunk when asked for, `[DONE]`. A failure mid-stream is
/// one `{"error": …}` event (OpenAI clients raise it) and no `[DONE]`.
impl Framing for Meta {
    fn start(&self) -> Vec<u8> {
        data(&self.chunk(json!({"role": "assistant", "content": ""}), None))
    }

    fn delta(&self, text: &str) -> Vec<u8> {
        data(&self.chunk(json!({ "content": text }), None))
    }

    fn done(&self, out: &ChatOutput, receipt: &str) -> Vec<u8> {
        let mut last = self.chunk(json!({}), Some(finish_reason(out.finish_reason)));
        last["veil_receipt"] = json!(receipt);
        let mut bytes = data(&last);
        if self.include_usage {
            bytes.extend(data(&json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage(out), "veil_receipt": receipt,
            })));
        }
        bytes.extend(b"data: [DONE]\n\n");
        bytes
    }

    fn error(&self, p: &Problem) -> Vec<u8> {
        data(&error_body(p))
    }
}
