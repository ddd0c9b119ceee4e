//! Ollama's API (`/api/chat`, `/api/generate`, `/api/tags`, `/api/show`), so that
//! stock Ollama clients chat over a token's documents unchanged. The API key (an
//! access grant) travels as `Authorization: Bearer …`, a header every Ollama client
//! can set. Answers stream as NDJSON unless `"stream": false`, as Ollama's do; errors
//! are `{"error": "…"}`, the shape Ollama clients parse. The last line (or the only
//! one) carries `veil_receipt`, the id of the completion's receipt.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use veil_http::{ApiJson, HttpProblem};
use veil_model::{ModelFormat, RegisteredModel};
use veil_protocol::{ChatInput, ChatMessage, ChatOutput, ChatRole, FinishReason, Problem};

use crate::GatewayError;
use crate::chat::{self, Framing};
use crate::gateway::Shared;

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
}

/// The sampling options Veil honours (others, such as `num_ctx`, are ignored).
#[derive(Deserialize, Default)]
struct Options {
    #[serde(flatten)]
    sampling: chat::SamplingFields,
    #[serde(default)]
    num_predict: Option<i64>,
}

fn default_stream() -> bool {
    true
}

/// `POST /api/chat`.
#[derive(Deserialize)]
pub(crate) struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(default = "default_stream")]
    stream: bool,
    #[serde(default)]
    options: Option<Options>,
}

/// `POST /api/generate`.
#[derive(Deserialize)]
pub(crate) struct GenerateRequest {
    model: String,
    prompt: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(default = "default_stream")]
    stream: bool,
    #[serde(default)]
    options: Option<Options>,
}

/// `POST /api/show`.
#[derive(Deserialize)]
pub(crate) struct ShowRequest {
    #[serde(alias = "name")]
    model: String,
}

fn input(messages: Vec<ChatMessage>, options: Option<Options>) -> Result<ChatInput, GatewayError> {
    let o = options.unwrap_or_default();
    // Ollama's -1 and -2 mean "until the window ends"; the grant's limit applies then.
    let max_tokens = match o.num_predict {
        None => None,
        Some(n) if n < 0 => None,
        Some(n) => {
            Some(u32::try_from(n).map_err(|_| GatewayError::Malformed("num_predict is too large".into()))?)
        }
    };
    o.sampling.input(messages, max_tokens)
}

fn role(r: &str) -> Result<ChatRole, GatewayError> {
    match r {
        "system" => Ok(ChatRole::System),
        "user" => Ok(ChatRole::User),
        "assistant" => Ok(ChatRole::Assistant),
        other => Err(GatewayError::Malformed(format!("messages of role {other:?} are not supported"))),
    }
}

/// A refusal in Ollama's shape, `{"error": "…"}`.
fn error_response(p: &Problem) -> Response {
    chat::refusal(p, error_body(p))
}

fn error_body(p: &Problem) -> Value {
    json!({ "error": format!("{} ({})", p.detail, p.code) })
}

fn rfc3339(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Which Ollama route a stream answers: chat lines carry a `message`, generate lines
/// a `response`.
#[derive(Clone, Copy)]
enum Shape {
    Chat,
    Generate,
}

struct Lines {
    shape: Shape,
    model: String,
    created_at: String,
    started: Instant,
}

impl Lines {
    fn line(&self, text: &str, done: bool) -> Value {
        let mut v = json!({ "model": self.model, "created_at": self.created_at, "done": done });
        match self.shape {
            Shape::Chat => v["message"] = json!({ "role": "assistant", "content": text }),
            Shape::Generate => v["response"] = json!(text),
        }
        v
    }

    /// The last line: Ollama's counts and durations (nanoseconds), and the receipt.
    fn last(&self, text: &str, out: &ChatOutput, receipt: &str) -> Value {
        let mut v = self.line(text, true);
        v["done_reason"] = json!(match out.finish_reason {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        });
        v["total_duration"] = json!(self.started.elapsed().as_nanos() as u64);
        v["prompt_eval_count"] = json!(out.usage.prompt_tokens);
        v["eval_count"] = json!(out.usage.completion_tokens);
        v["veil_receipt"] = json!(receipt);
        v
    }
}

fn ndjson(v: &Value) -> Vec<u8> {
    let mut line = v.to_string().into_bytes();
    line.push(b'\n');
    line
}

impl Framing for Lines {
    fn start(&self) -> Vec<u8> {
        Vec::new()
    }

    fn delta(&self, text: &str) -> Vec<u8> {
        ndjson(&self.line(text, false))
    }

    fn done(&self, out: &ChatOutput, receipt: &str) -> Vec<u8> {
        ndjson(&self.last("", out, receipt))
    }

    fn error(&self, p: &Problem) -> Vec<u8> {
        ndjson(&error_body(p))
    }
}

/// Run a chat for either route, streamed or not.
async fn run(
    g: Shared,
    headers: &HeaderMap,
    shape: Shape,
    model: &str,
    input: ChatInput,
    stream: bool,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let (job, m) = g.chat_job(chat::bearer(headers), model, input, stream).await?;
    let lines = Lines { shape, model: m.meta.name.clone(), created_at: rfc3339(g.now()), started };
    if stream {
        let (events, first) = chat::open(&g, &job).await?;
        let ct = [(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"))];
        return Ok((ct, chat::body(g.clone(), events, first, lines)).into_response());
    }
    let answer = chat::complete(&g, &job).await?;
    let out = chat::chat_output(&answer)?;
    let mut resp = axum::Json(lines.last(&out.content, out, &answer.receipt.id)).into_response();
    if let Ok(v) = HeaderValue::from_str(&answer.receipt.id) {
        resp.headers_mut().insert("x-veil-receipt", v);
    }
    Ok(resp)
}

/// `POST /api/chat`.
pub(crate) async fn chat(
    State(g): State<Shared>,
    headers: HeaderMap,
    body: Result<ApiJson<ChatRequest>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let ApiJson(req) = body.map_err(GatewayError::from)?;
        let messages = req
            .messages
            .into_iter()
            .map(|m| Ok(ChatMessage { role: role(&m.role)?, content: m.content }))
            .collect::<Result<Vec<_>, GatewayError>>()?;
        let input = input(messages, req.options)?;
        run(g.clone(), &headers, Shape::Chat, &req.model, input, req.stream).await
    }
    .await;
    g.respond("/api/chat", started, r, error_response)
}

/// `POST /api/generate`: the prompt is one user message (after `system`, if any).
pub(crate) async fn generate(
    State(g): State<Shared>,
    headers: HeaderMap,
    body: Result<ApiJson<GenerateRequest>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let ApiJson(req) = body.map_err(GatewayError::from)?;
        let mut messages = Vec::new();
        if let Some(system) = req.system.filter(|s| !s.is_empty()) {
            messages.push(ChatMessage { role: ChatRole::System, content: system });
        }
        messages.push(ChatMessage { role: ChatRole::User, content: req.prompt });
        let input = input(messages, req.options)?;
        run(g.clone(), &headers, Shape::Generate, &req.model, input, req.stream).await
    }
    .await;
    g.respond("/api/generate", started, r, error_response)
}

fn details() -> Value {
    json!({
        "parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
        "parameter_size": "", "quantization_level": "",
    })
}

fn language_models(g: &Shared) -> impl Iterator<Item = &RegisteredModel> {
    g.models().iter().filter(|m| m.format == ModelFormat::Gguf)
}

/// `GET /api/tags`: the language models served.
pub(crate) async fn tags(State(g): State<Shared>) -> Response {
    let models: Vec<Value> = language_models(&g)
        .map(|m| {
            json!({
                "name": m.meta.name, "model": m.meta.name, "modified_at": rfc3339(0),
                "digest": m.root.to_string(), "details": details(),
            })
        })
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

/// `POST /api/show`.
pub(crate) async fn show(
    State(g): State<Shared>,
    body: Result<ApiJson<ShowRequest>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let ApiJson(req) = body.map_err(GatewayError::from)?;
        let m: &RegisteredModel = language_models(&g)
            .find(|m| m.meta.name == req.model || m.root.to_string() == req.model)
            .ok_or_else(|| GatewayError::ModelUnknown(req.model.chars().take(80).collect()))?;
        Ok::<_, GatewayError>(
            axum::Json(json!({
                "modelfile": "", "parameters": "", "template": "", "details": details(),
                "model_info": { "veil.weights_root": m.root.to_string() },
                "capabilities": ["completion"], "modified_at": rfc3339(0),
            }))
            .into_response(),
        )
    }
    .await;
    g.respond("/api/show", started, r, error_response)
}
