//! The seed's plain form: `POST /infer {tokenId, input}` with the API key (an access
//! grant) as `Authorization: Bearer`, answered with the completion and its whole
//! receipt (`{completion, receipt}`), which holds what the seed's "proof" held —
//! the prompt's, the context's and the completion's hashes and the model — signed by
//! the attested worker. The grant names the model; `tokenId` must be the grant's.

use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use veil_http::{ApiJson, HttpProblem};
use veil_protocol::{ChatInput, SignedAccessGrant, TokenId};

use crate::GatewayError;
use crate::chat;
use crate::gateway::Shared;

const ROUTE: &str = "/infer";

/// The token, as a JSON number or a decimal string.
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenField {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlainRequest {
    token_id: TokenField,
    input: String,
    #[serde(default)]
    max_tokens: Option<u32>,
}

/// `POST /infer`.
pub(crate) async fn infer(
    State(g): State<Shared>,
    headers: HeaderMap,
    body: Result<ApiJson<PlainRequest>, HttpProblem>,
) -> Response {
    let started = Instant::now();
    let r = async {
        let ApiJson(req) = body.map_err(GatewayError::from)?;
        let token: TokenId = match &req.token_id {
            TokenField::Number(n) => TokenId::from(*n),
            TokenField::Text(t) => {
                t.parse().map_err(|e: veil_protocol::TokenIdError| GatewayError::Malformed(e.to_string()))?
            }
        };
        let key = chat::bearer(&headers);
        // The grant names the model and the token; it is verified in `chat_job`.
        let grant = key.map(SignedAccessGrant::from_api_key).transpose().ok().flatten();
        let model = grant.as_ref().map(|g| g.model.to_string()).unwrap_or_default();
        if let Some(g) = &grant
            && g.token_id != token.to_string()
        {
            return Err(GatewayError::GrantLimit(format!(
                "this API key is for token {}, not token {token}",
                g.token_id
            )));
        }
        let input = ChatInput::question(req.input, req.max_tokens);
        let (job, _) = g.chat_job(key, &model, input, false).await?;
        let answer = chat::complete(&g, &job).await?;
        let out = chat::chat_output(&answer)?;
        let body: Value = json!({
            "tokenId": token.to_string(),
            "completion": out.content,
            "model": out.model,
            "usage": out.usage,
            "receipt": answer.receipt,
        });
        Ok::<_, GatewayError>(axum::Json(body).into_response())
    }
    .await;
    g.respond(ROUTE, started, r, |p| veil_http::problem_response(p.clone()))
}
