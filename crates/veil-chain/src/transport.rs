//! The node as an alloy transport: `ProviderBuilder::connect_client` over it gives a
//! provider that talks to the embedded chain with no socket in between, so
//! `ChainClient` runs on it exactly as on anvil or a public RPC.

use std::task::{Context, Poll};

use alloy::rpc::client::RpcClient;
use alloy::rpc::json_rpc::{
    ErrorPayload, RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest,
};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::rpc::{Rpc, RpcError};

/// A tower service answering JSON-RPC packets from the in-process node.
#[derive(Debug, Clone)]
pub struct EmbeddedTransport {
    rpc: Rpc,
}

impl EmbeddedTransport {
    /// A transport over `rpc`.
    pub fn new(rpc: Rpc) -> Self {
        Self { rpc }
    }

    /// An alloy RPC client over this transport (marked local, so alloy polls fast).
    pub fn client(self) -> RpcClient {
        RpcClient::new(self, true)
    }
}

fn answer(rpc: &Rpc, req: &SerializedRequest) -> Response {
    let params: Result<Vec<Value>, RpcError> = match req.params() {
        None => Ok(Vec::new()),
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Array(a)) => Ok(a),
            Ok(Value::Null) => Ok(Vec::new()),
            _ => Err(RpcError { code: -32602, message: "params must be an array".into(), data: None }),
        },
    };
    let payload = match params.and_then(|p| rpc.dispatch(req.method(), &p)) {
        Ok(v) => {
            ResponsePayload::Success(RawValue::from_string(v.to_string()).expect("serde_json output is JSON"))
        }
        Err(e) => ResponsePayload::Failure(ErrorPayload {
            code: e.code,
            message: e.message.into(),
            data: e.data.map(|d| RawValue::from_string(d.to_string()).expect("serde_json output is JSON")),
        }),
    };
    Response { id: req.id().clone(), payload }
}

impl tower::Service<RequestPacket> for EmbeddedTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, packet: RequestPacket) -> Self::Future {
        let rpc = self.rpc.clone();
        Box::pin(async move {
            // Execution and fsync block: keep them off the async workers.
            tokio::task::spawn_blocking(move || match packet {
                RequestPacket::Single(r) => ResponsePacket::Single(answer(&rpc, &r)),
                RequestPacket::Batch(rs) => {
                    ResponsePacket::Batch(rs.iter().map(|r| answer(&rpc, r)).collect())
                }
            })
            .await
            .map_err(|e| TransportErrorKind::custom_str(&format!("embedded chain task: {e}")))
        })
    }
}
