//! JSON-RPC bodies and raw transactions from anyone who can reach the embedded chain:
//! every input gets an answer or an error, never a panic, and a refused transaction
//! mines nothing.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use veil_chain::{Clock, Genesis, Node, Rpc};

struct Fixed;

impl Clock for Fixed {
    fn now(&self) -> u64 {
        1_800_000_000
    }
}

fn rpc() -> &'static Rpc {
    static RPC: OnceLock<Rpc> = OnceLock::new();
    RPC.get_or_init(|| {
        let genesis = Genesis::new(7, 1_700_000_000, Default::default());
        Rpc::new(Node::ephemeral(genesis), Arc::new(Fixed))
    })
}

fuzz_target!(|data: &[u8]| {
    let rpc = rpc();
    match data.split_first() {
        // A raw transaction: no account is funded, so nothing can be mined.
        Some((0, raw)) => {
            let hex = serde_json::json!(format!("0x{}", hex::encode(raw)));
            let head = rpc.node().head();
            let _ = rpc.dispatch("eth_sendRawTransaction", &[hex]);
            assert_eq!(rpc.node().head(), head);
        }
        _ => {
            let _ = rpc.handle_body(data);
        }
    }
});
