//! KServe's Open Inference Protocol v2 (the Triton HTTP protocol) for the public
//! classic models, as its stock client (`tritonclient[http]`) speaks it: bodies with
//! or without `Content-Type`, tensors as JSON or in the binary tensor extension
//! (`Inference-Header-Content-Length`: a JSON header, then raw little-endian tensor
//! bytes), outputs in JSON or binary as the request asks, and errors as
//! `{"error": "…"}`, which is what v2 clients parse.
//!
//! Every answer is run by an attested worker and signed: the receipt's id is in
//! `parameters.veil_receipt_id` and the `x-veil-receipt` header.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use veil_model::RegisteredModel;
use veil_protocol::{JobRequest, MAX_ROWS, Problem};

use crate::GatewayError;
use crate::gateway::Shared;

/// The binary tensor extension's header: how many leading bytes of the body (or the
/// answer) are the JSON header.
const HEADER_LENGTH: &str = "inference-header-content-length";
const ROUTE: &str = "/v2/models/{name}/infer";

/// A v2 refusal: `{"error": "…"}` with the refusal's status.
fn refusal(p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({ "error": format!("{} ({})", p.detail, p.code) }))).into_response()
}

fn bad(detail: impl Into<String>) -> GatewayError {
    GatewayError::BadTensor(detail.into())
}

pub(crate) async fn server() -> axum::Json<Value> {
    axum::Json(json!({
        "name": "veil", "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "veil-receipts"],
    }))
}

pub(crate) async fn live() -> axum::Json<Value> {
    axum::Json(json!({"live": true}))
}

pub(crate) async fn ready(State(g): State<Shared>) -> Response {
    let ready = g.pool().live() > 0;
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(json!({"ready": ready}))).into_response()
}

fn metadata_of(m: &RegisteredModel) -> Value {
    json!({
        "name": m.meta.name,
        "versions": [m.root.to_string()],
        "platform": "onnx",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, m.features]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, m.meta.classes.len()]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    })
}

/// A classic model by name or root (language models are not v2 tensors models).
fn classic<'g>(g: &'g Shared, name: &str) -> Result<&'g RegisteredModel, GatewayError> {
    g.model(name).and_then(|m| match m.features {
        0 => Err(GatewayError::ModelUnknown(format!("{name} (a language model: use /v1/chat/completions)"))),
        _ => Ok(m),
    })
}

pub(crate) async fn model(State(g): State<Shared>, Path(name): Path<String>) -> Response {
    match classic(&g, &name) {
        Ok(m) => axum::Json(metadata_of(m)).into_response(),
        Err(e) => refusal(&e.problem()),
    }
}

pub(crate) async fn model_ready(State(g): State<Shared>, Path(name): Path<String>) -> Response {
    match classic(&g, &name) {
        Ok(_) => axum::Json(json!({"name": name, "ready": g.pool().live() > 0})).into_response(),
        Err(e) => refusal(&e.problem()),
    }
}

#[derive(Deserialize, Default)]
struct TensorParameters {
    #[serde(default)]
    binary_data_size: Option<usize>,
    #[serde(default)]
    binary_data: Option<bool>,
}

#[derive(Deserialize)]
struct Tensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    parameters: TensorParameters,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: TensorParameters,
}

#[derive(Deserialize, Default)]
struct RequestParameters {
    #[serde(default)]
    binary_data_output: bool,
}

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<Tensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
    #[serde(default)]
    parameters: RequestParameters,
}

fn flatten(v: &Value, out: &mut Vec<f32>) -> Result<(), GatewayError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| flatten(i, out)),
        Value::Number(n) => {
            let x =
                n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| bad("a value is not a finite number"))?;
            out.push(x as f32);
            Ok(())
        }
        _ => Err(bad("tensor data must be numbers")),
    }
}

/// The request's JSON header and the binary section after it.
fn split(headers: &HeaderMap, body: &Bytes) -> Result<(InferRequest, Bytes), GatewayError> {
    let json_len = match headers.get(HEADER_LENGTH) {
        None => body.len(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|n| *n <= body.len())
            .ok_or_else(|| bad("Inference-Header-Content-Length is not a length within the body"))?,
    };
    let req = serde_json::from_slice(&body[..json_len])
        .map_err(|e| GatewayError::Malformed(format!("the inference header is not a v2 request: {e}")))?;
    Ok((req, body.slice(json_len..)))
}

/// The feature rows of the one input tensor, from JSON or from the binary section.
fn rows(m: &RegisteredModel, req: &InferRequest, binary: &Bytes) -> Result<(usize, Vec<f32>), GatewayError> {
    let [t] = req.inputs.as_slice() else {
        return Err(bad("send exactly one input tensor"));
    };
    if t.datatype != "FP32" || t.name != "input" {
        return Err(bad("the input tensor is `input`, FP32"));
    }
    let rows = match t.shape.as_slice() {
        [r, w] if *r > 0 && *r as usize <= MAX_ROWS && *w as usize == m.features => *r as usize,
        _ => return Err(bad(format!("shape must be [rows, {}] with 1 to {MAX_ROWS} rows", m.features))),
    };
    let mut flat = Vec::with_capacity(rows * m.features);
    match (t.parameters.binary_data_size, &t.data) {
        (Some(size), None) => {
            if size != binary.len() || size != rows * m.features * 4 {
                return Err(bad(format!(
                    "binary_data_size {size}: the body carries {} bytes after the header, the shape needs {}",
                    binary.len(),
                    rows * m.features * 4
                )));
            }
            flat.extend(binary.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            if flat.iter().any(|x| !x.is_finite()) {
                return Err(bad("a value is not a finite number"));
            }
        }
        (None, Some(data)) if binary.is_empty() => flatten(data, &mut flat)?,
        _ => {
            return Err(bad(
                "give the input's data in JSON or as binary_data_size bytes, not both or neither",
            ));
        }
    }
    if flat.len() != rows * m.features {
        return Err(bad("data does not match the shape"));
    }
    Ok((rows, flat))
}

/// One output tensor, in JSON or as binary bytes appended to `binary`.
fn output(
    name: &str,
    datatype: &str,
    shape: Value,
    json_data: Value,
    raw: Vec<u8>,
    as_binary: bool,
    binary: &mut Vec<u8>,
) -> Value {
    let mut t = json!({ "name": name, "datatype": datatype, "shape": shape });
    if as_binary {
        t["parameters"] = json!({ "binary_data_size": raw.len() });
        binary.extend(raw);
    } else {
        t["data"] = json_data;
    }
    t
}

/// `POST /v2/models/{name}/infer`.
pub(crate) async fn infer(
    State(g): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let body = body.map_err(|e| {
            let status = e.status();
            GatewayError::Body(Problem::new(
                status,
                veil_protocol::ErrorCode::RequestMalformed,
                e.body_text(),
            ))
        })?;
        let m = classic(&g, &name)?;
        let (req, binary_in) = split(&headers, &body)?;
        let (rows, flat) = rows(m, &req, &binary_in)?;
        let width = m.features;
        let job =
            JobRequest::Direct { model: m.root, rows: flat.chunks(width).map(<[f32]>::to_vec).collect() };
        let (answer, _) = g.pool().dispatch(&job).await?;
        g.keep(&answer.receipt).await?;
        let preds = &answer
            .output
            .predictions()
            .ok_or_else(|| {
                GatewayError::WorkerFailed("the worker answered a tensor request with a chat".into())
            })?
            .predictions;
        // Which outputs, and which of them in binary: as the request names them, or
        // all of them, in binary when `binary_data_output` says so.
        let wanted: Vec<(String, bool)> = match &req.outputs {
            Some(outs) => outs
                .iter()
                .map(|o| {
                    (o.name.clone(), o.parameters.binary_data.unwrap_or(req.parameters.binary_data_output))
                })
                .collect(),
            None => ["probabilities", "label"]
                .iter()
                .map(|n| ((*n).to_owned(), req.parameters.binary_data_output))
                .collect(),
        };
        let mut binary_out = Vec::new();
        let mut outputs = Vec::new();
        for (out_name, as_binary) in wanted {
            outputs.push(match out_name.as_str() {
                "probabilities" => {
                    let probs: Vec<f32> =
                        preds.iter().flat_map(|p| p.probabilities.iter().map(|x| *x as f32)).collect();
                    let raw = probs.iter().flat_map(|x| x.to_le_bytes()).collect();
                    let shape = json!([rows, m.meta.classes.len()]);
                    output("probabilities", "FP32", shape, json!(probs), raw, as_binary, &mut binary_out)
                }
                "label" => {
                    let labels: Vec<&str> = preds.iter().map(|p| p.label.as_str()).collect();
                    let raw = labels
                        .iter()
                        .flat_map(|l| (l.len() as u32).to_le_bytes().into_iter().chain(l.bytes()))
                        .collect();
                    output("label", "BYTES", json!([rows]), json!(labels), raw, as_binary, &mut binary_out)
                }
                other => return Err(bad(format!("model {} has no output {other:?}", m.meta.name))),
            });
        }
        let mut doc = Map::new();
        doc.insert("model_name".into(), json!(m.meta.name));
        doc.insert("model_version".into(), json!(m.root.to_string()));
        doc.insert("id".into(), json!(req.id.unwrap_or_else(|| answer.receipt.id.clone())));
        doc.insert("parameters".into(), json!({ "veil_receipt_id": answer.receipt.id }));
        doc.insert("outputs".into(), Value::Array(outputs));
        let header_json = serde_json::to_vec(&doc).map_err(|e| GatewayError::Storage(e.to_string()))?;
        let receipt = HeaderValue::from_str(&answer.receipt.id).ok();
        let mut resp = if binary_out.is_empty() {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], header_json)
                .into_response()
        } else {
            let len = HeaderValue::from(header_json.len());
            let mut bytes = header_json;
            bytes.extend(binary_out);
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
                    (header::HeaderName::from_static(HEADER_LENGTH), len),
                ],
                bytes,
            )
                .into_response()
        };
        if let Some(v) = receipt {
            resp.headers_mut().insert("x-veil-receipt", v);
        }
        Ok(resp)
    }
    .await;
    g.respond(ROUTE, started, r, refusal)
}
