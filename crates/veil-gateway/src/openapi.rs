//! The gateway's OpenAPI 3.1 document. A test checks that every route is described.

use serde_json::{Value, json};

fn problem_responses(codes: &[(&str, &str)]) -> Value {
    let mut out = serde_json::Map::new();
    for (status, what) in codes {
        out.insert(
            (*status).into(),
            json!({"description": what, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(out)
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// Errors on OpenAI's routes, in OpenAI's shape (which OpenAI clients parse).
fn openai_errors() -> Value {
    let mut out = serde_json::Map::new();
    out.insert("200".into(), json!({"description": "chat.completion, or text/event-stream of chat.completion.chunk ending in [DONE]"}));
    for (status, what) in [
        (
            "400",
            "request.malformed (n > 1, unsupported roles or parts), request.expiry_too_far, inference.bad_input (prompt and context over the window)",
        ),
        ("401", "request.unauthenticated (no or unreadable API key), request.bad_signature, request.expired"),
        (
            "403",
            "request.grant_limit (another model, more tokens), inference.not_authorized (revoked on chain)",
        ),
        ("404", "inference.model_unknown, inference.token_unknown"),
        ("413", "request.malformed (body too large)"),
        ("503", "inference.busy, inference.worker_unavailable (with Retry-After)"),
    ] {
        out.insert(status.into(), json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiError"}}}}));
    }
    Value::Object(out)
}

/// The private-ML inference route's refusals, with `ok` merged in.
fn ml_responses(ok: Value) -> Value {
    let mut r = problem_responses(&[
        ("400", "request.malformed, fhe.bad_ciphertext, ml.privacy_unsupported"),
        ("404", "inference.model_unknown"),
        ("413", "fhe.too_large, request.malformed (body over 12 MiB)"),
        ("415", "request.malformed (not JSON)"),
        ("429", "request.rate_limited (with Retry-After)"),
        ("503", "inference.busy"),
    ]);
    if let (Some(r), Value::Object(ok)) = (r.as_object_mut(), ok) {
        r.extend(ok);
    }
    r
}

/// The document.
pub fn document() -> Value {
    let mut infer_responses = problem_responses(&[
        ("400", "request.malformed, request.expiry_too_far"),
        ("401", "request.bad_signature, request.expired"),
        ("403", "inference.not_authorized, inference.key_refused"),
        ("404", "inference.token_unknown, inference.model_unknown"),
        ("409", "request.replayed"),
        ("415", "request.malformed (not JSON)"),
        ("422", "inference.bad_input"),
        ("502", "inference.data_integrity, ledger.unavailable"),
        ("503", "inference.attestation_refused, inference.worker_unavailable, inference.busy"),
    ]);
    infer_responses["200"] =
        ok("The output and its signed receipt.", json!({"$ref": "#/components/schemas/JobResponse"}));
    let mut doc = core(infer_responses);
    for extra in [market_paths(), audit_paths()] {
        if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), extra) {
            paths.extend(more);
        }
    }
    doc
}

/// The marketplace's settlement routes: a user's audit, a provider's "settle now".
fn audit_paths() -> Value {
    json!({
        "/v1/user/{address}/settlements": {"get": {
            "summary": "Which receipts each of the user's settlements charged (ids in order, whose keccak256 is the requestsHash the chain's FeesSettled event records), for the holder of that user's SDK key: `veil market audit` checks them against the chain and the receipts the user holds.",
            "parameters": [{"name": "address", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": ok("Claims, oldest first.", json!({"type": "object", "required": ["settlements"]})),
                "400": {"description": "market.bad_key"}, "401": {"description": "market.unauthorized"}},
        }},
        "/v1/provider/settle": {"post": {
            "summary": "Settle the unsettled fees now (`veil market settle`): the provider wallet's EIP-191 signature over purpose, chain, serving contract, provider, time (within 300 s) and a single-use nonce.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["chain_id", "serving", "provider", "issued_at", "nonce", "signature"]}}}},
            "responses": {"200": ok("Receipts settled, and still waiting.", json!({"type": "object", "required": ["settled", "waiting"]})),
                "400": {"description": "request.malformed"}, "401": {"description": "market.unauthorized"},
                "404": {"description": "market.disabled"}},
        }},
    })
}

/// The serving marketplace's routes (docs/MARKET.md).
fn market_paths() -> Value {
    json!({
            "/v1/proxy/chat/completions": {"post": {
                "summary": "The serving marketplace's chat (OpenAI's shape, streamed or not) for the 0G compute SDK's key: `Authorization: Bearer app-sk-…`, the user's EIP-191-signed session token. The key must be the user's, for this provider, unexpired and not revoked on chain; the account must have acknowledged the signer and can spend the unsettled fees plus the most this request costs. The completion's id is the chat id of `processResponse`; its receipt's `market.charged` event prices the usage.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": ok("The completion (or its SSE stream).", json!({"type": "object"})),
                    "400": {"description": "market.bad_key, request.malformed (OpenAI error shape)"},
                    "401": {"description": "market.unauthorized"},
                    "402": {"description": "market.insufficient_balance: the message names the amount due"},
                    "404": {"description": "market.disabled"}},
            }},
            "/v1/proxy/models": {"get": {
                "summary": "The models, as `GET /v1/models` (the SDK's endpoint is `{url}/v1/proxy`).",
                "responses": {"200": ok("Models.", json!({"type": "object"}))},
            }},
            "/v1/proxy/signature/{chat_id}": {"get": {
                "summary": "What the SDK's processResponse verifies: `text` is the chat's receipt (JSON), `signature` the EIP-191 signature of the service's TEE signer (the signer worker's attested chain key) over it.",
                "parameters": [{"name": "chat_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("Text and signature.", json!({"type": "object", "required": ["text", "signature"]})),
                    "404": {"description": "market.unknown_chat, market.disabled"}},
            }},
            "/v1/user/{address}/unsettledfee": {"get": {
                "summary": "The user's fees not yet settled on chain (wei, decimal), for the holder of that user's SDK key.",
                "parameters": [{"name": "address", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("Unsettled fee.", json!({"type": "object", "required": ["unsettledFee"]})),
                    "400": {"description": "market.bad_key"}, "401": {"description": "market.unauthorized"}},
            }},
            "/v1/quote": {"get": {
                "summary": "The marketplace signer worker's evidence binding its chain key (the service's TEE signer) to this provider's address (purpose prover/registration): verify it before acknowledging the signer.",
                "responses": {"200": ok("Evidence and measurement.", json!({"type": "object"})),
                    "404": {"description": "market.disabled"}, "503": {"description": "inference.worker_unavailable"}},
            }},
    })
}

fn core(infer_responses: Value) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Veil inference gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Confidential inference over tokens' sealed data, answered with receipts anyone can verify offline (`veil verify`).",
        },
        "paths": {
            "/v1/infer": {"post": {
                "summary": "Run a model over rows of a token's sealed data, for the wallet that signed the request.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferBody"}}}},
                "responses": infer_responses,
            }},
            "/v1/chat/completions": {"post": {
                "summary": "OpenAI chat completions over the documents of the token your API key (an access grant, `veil grant`) names; `stream: true` answers server-sent events. The receipt id is in `veil_receipt` (the last chunk when streamed) and the x-veil-receipt header.",
                "security": [{"grant": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "messages"]}}}},
                "responses": openai_errors(),
            }},
            "/infer": {"post": {
                "summary": "The seed's plain form: {tokenId, input} with your API key; answers {completion, receipt}.",
                "security": [{"grant": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["tokenId", "input"], "properties": {
                    "tokenId": {"type": ["string", "integer"]}, "input": {"type": "string"}, "maxTokens": {"type": "integer"},
                }}}}},
                "responses": problem_responses(&[("401", "request.unauthenticated, request.expired"), ("403", "request.grant_limit, inference.not_authorized"), ("404", "inference.token_unknown")]),
            }},
            "/api/chat": {"post": {
                "summary": "Ollama chat over the documents of the token your API key names (NDJSON stream unless `stream: false`); the last line names the receipt in `veil_receipt`.",
                "security": [{"grant": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "messages"]}}}},
                "responses": {"200": {"description": "The answer (NDJSON lines, or one object)."}, "4XX": {"description": "{\"error\": \"…\"}"}},
            }},
            "/api/generate": {"post": {
                "summary": "Ollama generate: the prompt as one user question over the token's documents.",
                "security": [{"grant": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "prompt"]}}}},
                "responses": {"200": {"description": "The answer (NDJSON lines, or one object)."}, "4XX": {"description": "{\"error\": \"…\"}"}},
            }},
            "/api/tags": {"get": {"summary": "Ollama: the language models served.", "responses": {"200": ok("Models.", json!({"type": "object"}))}}},
            "/api/show": {"post": {"summary": "Ollama: one language model's details.", "responses": {"200": ok("Details.", json!({"type": "object"})), "404": {"description": "{\"error\": \"…\"}"}}}},
            "/v1/attestation": {"get": {
                "summary": "Fresh evidence from a worker binding its keys and your nonce.",
                "parameters": [{"name": "nonce", "in": "query", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,128}$"}}],
                "responses": {"200": ok("Evidence and the expected measurement.", json!({"type": "object"}))},
            }},
            "/v1/receipts/{id}": {"get": {
                "summary": "A receipt this gateway returned.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("The signed receipt.", json!({"type": "object"})), "404": {"description": "receipt.not_found"}},
            }},
            "/v1/models": {"get": {"summary": "Served models and the EIP-712 domain requests are signed under.", "responses": {"200": ok("Models.", json!({"type": "object"}))}}},
            "/v1/health": {"get": {"summary": "Workers, queue length and estimated wait.", "responses": {"200": ok("Healthy.", json!({"type": "object"})), "503": {"description": "No ready worker."}}}},
            "/v1/ml/models": {"get": {
                "summary": "Private-ML models with the privacy levels each is offered at (tee: plaintext rows in an attested worker; fhe, hybrid: rows encrypted under the client's BFV key, evaluated in an attested worker), each level's measured latency, and an int8 model's FHE parameter set.",
                "responses": {"200": ok("Models.", json!({"type": "object", "properties": {"models": {"type": "array", "items": {"type": "object"}}}}))},
            }},
            "/v1/ml/models/{id}/inference": {"post": {
                "summary": "Start an inference at a privacy level: 202 with the job (its id, and an estimate from recent jobs). A query's header (parameter set, input shape, size) is checked here; its ciphertexts by the worker.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Model name or root."}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MlInferenceRequest"}}}},
                "responses": ml_responses(json!({"202": ok("Accepted; Location names the job.", json!({"$ref": "#/components/schemas/MlJob"}))})),
            }},
            "/v1/ml/jobs/{id}": {"get": {
                "summary": "A private-ML job: running, done (with the output and its receipt) or failed (with the problem). With wait_ms, a long poll: the answer comes as soon as the job settles.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "wait_ms", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 60000}}],
                "responses": {"200": ok("The job.", json!({"$ref": "#/components/schemas/MlJob"})), "404": {"description": "ml.unknown_job"}},
            }},
            "/v1/ml/proofs/{id}/verify": {"post": {
                "summary": "Verify a receipt this gateway kept (a job result's receipt id) as `veil verify` does, under the roots and measurements this deployment admits its workers with. A convenience: whoever does not trust the gateway verifies offline.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("The verdict.", json!({"type": "object", "required": ["valid", "verification_time_ms"], "properties": {
                    "valid": {"type": "boolean"}, "verification_time_ms": {"type": "number"}, "mode": {"type": "string"},
                    "summary": {"type": "string"}, "code": {"type": "string"}, "reason": {"type": "string"},
                }})), "400": {"description": "request.malformed"}, "404": {"description": "receipt.not_found"},
                "429": {"description": "request.rate_limited (with Retry-After)"}},
            }},
            "/v1/train": {"post": {
                "summary": "Train a logistic regression on a token's sealed table inside the attested worker, for a JobRegistry job: the body is a signed request whose model is the spec's root and whose input is the order (job, chain, registry, prover, recipient key, spec). The job must be open, the signer's, over the token's data root and the spec's root. The answer: the output, the `train` receipt, the model sealed to the recipient and the enclave's completion for anyone to relay.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": ok("Trained.", json!({"type": "object", "required": ["output", "receipt", "sealed_model", "completion"]})),
                    "401": {"description": "request.bad_signature, request.expired"}, "403": {"description": "inference.not_authorized"},
                    "409": {"description": "train.job_mismatch, request.replayed"}, "422": {"description": "train.bad_order"},
                    "429": {"description": "request.rate_limited (with Retry-After)"}},
            }},
            "/v1/train/registration": {"get": {
                "summary": "The training worker's registration evidence for a prover account: its keys, the secp256k1 chain key among them, with the account in the nonce's place (purpose prover/registration).",
                "parameters": [{"name": "account", "in": "query", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("Evidence and measurement.", json!({"type": "object"})), "422": {"description": "inference.bad_input"}},
            }},
            "/metrics": {"get": {"summary": "Prometheus metrics.", "responses": {"200": {"description": "Text exposition format.", "content": {"text/plain": {}}}}}},
            "/openapi.json": {"get": {"summary": "This document.", "responses": {"200": ok("OpenAPI 3.1.", json!({"type": "object"}))}}},
            "/v2": {"get": {"summary": "KServe v2 server metadata.", "responses": {"200": ok("Metadata.", json!({"type": "object"}))}}},
            "/v2/health/live": {"get": {"summary": "KServe v2 liveness.", "responses": {"200": ok("Live.", json!({"type": "object"}))}}},
            "/v2/health/ready": {"get": {"summary": "KServe v2 readiness.", "responses": {"200": ok("Ready.", json!({"type": "object"})), "503": {"description": "Not ready."}}}},
            "/v2/models/{name}": {"get": {
                "summary": "KServe v2 model metadata.",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("Metadata.", json!({"type": "object"})), "404": {"description": "inference.model_unknown"}},
            }},
            "/v2/models/{name}/ready": {"get": {
                "summary": "KServe v2 model readiness.",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("Readiness.", json!({"type": "object"})), "404": {"description": "inference.model_unknown"}},
            }},
            "/v2/models/{name}/infer": {"post": {
                "summary": "KServe v2 inference on rows you send, for public models; the receipt id is in parameters.veil_receipt_id.",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": problem_responses(&[("400", "inference.bad_input"), ("404", "inference.model_unknown"), ("503", "inference.worker_unavailable")]),
            }},
        },
        "components": {"securitySchemes": {
            "grant": {"type": "http", "scheme": "bearer", "description": "An access grant (veil-grant-v1.…): EIP-712 AccessGrant(uint256 tokenId,address user,bytes32 model,uint32 maxTokens,uint256 nonce,uint64 expiry) signed by the user, base64url JSON."},
        }, "schemas": {
            "OpenAiError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "properties": {
                "message": {"type": "string"}, "type": {"type": "string"}, "code": {"type": "string"},
            }}}},
            "Problem": {"type": "object", "required": ["type", "title", "status", "detail", "code"], "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "code": {"type": "string"},
            }},
            "InferBody": {"type": "object", "additionalProperties": false,
                "required": ["token_id", "model", "input", "nonce", "expiry", "signature"], "properties": {
                "token_id": {"type": "string", "pattern": "^(0|[1-9][0-9]{0,77})$"},
                "model": {"type": "string", "description": "Registered name or weights root; the signature covers the root."},
                "input": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}}},
                "nonce": {"type": "string", "pattern": "^(0|[1-9][0-9]{0,77})$"},
                "expiry": {"type": "integer", "description": "Unix seconds, at most max_expiry_secs ahead."},
                "signature": {"type": "string", "description": "EIP-712 InferenceRequest(uint256 tokenId,bytes32 model,bytes32 inputHash,uint256 nonce,uint64 expiry), inputHash = keccak256(JCS(input))."},
            }},
            "MlInferenceRequest": {"type": "object", "additionalProperties": false, "required": ["privacy"], "properties": {
                "privacy": {"type": "string", "enum": ["tee", "zk", "fhe", "hybrid"]},
                "rows": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}, "description": "Plaintext feature rows (tee)."},
                "query": {"type": "string", "contentEncoding": "base64", "description": "An FHE query in Veil's binary format, docs/FHE.md (fhe, hybrid)."},
            }},
            "MlJob": {"type": "object", "required": ["id", "model", "model_root", "privacy", "state", "created_at", "estimated_completion_ms"], "properties": {
                "id": {"type": "string"}, "model": {"type": "string"}, "model_root": {"type": "string"},
                "privacy": {"type": "string", "enum": ["tee", "zk", "fhe", "hybrid"]},
                "state": {"type": "string", "enum": ["running", "done", "failed"]},
                "created_at": {"type": "integer"}, "estimated_completion_ms": {"type": "integer"},
                "result": {"$ref": "#/components/schemas/JobResponse"}, "error": {"$ref": "#/components/schemas/Problem"},
            }},
            "JobResponse": {"type": "object", "required": ["output", "receipt"], "properties": {
                "output": {"type": "object"}, "receipt": {"type": "object"},
            }},
        }},
    })
}
