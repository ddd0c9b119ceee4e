//! `veil grant` and `veil chat`: a user's API key for a token's documents, and a chat
//! over them from the terminal.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use veil_gateway::GatewayClient;
use veil_protocol::ChatInput;

use crate::infer::refused;

/// `veil grant` arguments.
#[derive(Args)]
pub struct GrantArgs {
    /// The gateway's URL (`veil up` prints it).
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub gateway: String,
    /// Your wallet key (hex secp256k1, mode 0600): the user the key chats as.
    #[arg(long)]
    pub key: PathBuf,
    /// The token whose documents the chats read (decimal).
    #[arg(long)]
    pub token: veil_protocol::TokenId,
    /// The model's name or weights root (default: the one language model served).
    #[arg(long)]
    pub model: Option<String>,
    /// New tokens one completion may ask for, at most.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// How long the key stays valid, seconds (at most 30 days).
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
}

/// Sign a grant and print it as an API key.
pub fn grant(args: GrantArgs) -> Result<()> {
    let signer = veil_stack::keys::read_wallet_key(&args.key)?;
    let client = GatewayClient::new(&args.gateway);
    let (grant, _) = crate::runtime()?
        .block_on(client.grant(
            &signer,
            args.token,
            args.model.as_deref(),
            args.max_tokens,
            args.ttl,
            crate::unix_now(),
        ))
        .map_err(refused)?;
    outln!("{}", grant.to_api_key());
    Ok(())
}

/// `veil chat` arguments.
#[derive(Args)]
pub struct ChatArgs {
    /// The gateway's URL.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub gateway: String,
    /// An API key from `veil grant`.
    #[arg(long, required_unless_present = "key")]
    pub api_key: Option<String>,
    /// Or your wallet key: a five-minute key is made for this chat.
    #[arg(long, conflicts_with = "api_key", requires = "token")]
    pub key: Option<PathBuf>,
    /// With --key: the token whose documents to ask.
    #[arg(long)]
    pub token: Option<veil_protocol::TokenId>,
    /// The model's name or weights root (default: the one language model served).
    #[arg(long)]
    pub model: Option<String>,
    /// New tokens at most.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Write the receipt here (default: RECEIPT_ID.json in the current directory).
    #[arg(long)]
    pub receipt: Option<PathBuf>,
    /// The question.
    pub question: String,
}

/// Stream the answer to stdout, then save its receipt.
pub fn chat(args: ChatArgs) -> Result<()> {
    let rt = crate::runtime()?;
    let client = GatewayClient::new(&args.gateway);
    let (api_key, model) = match (&args.api_key, &args.key, args.token) {
        (Some(key), _, _) => {
            let (_, m) = rt.block_on(client.find_model(args.model.as_deref())).map_err(refused)?;
            (key.clone(), m.name)
        }
        (None, Some(wallet), Some(token)) => {
            let signer = veil_stack::keys::read_wallet_key(wallet)?;
            let max = args.max_tokens.unwrap_or(veil_protocol::DEFAULT_MAX_TOKENS);
            let (grant, m) = rt
                .block_on(client.grant(&signer, token, args.model.as_deref(), max, 300, crate::unix_now()))
                .map_err(refused)?;
            (grant.to_api_key(), m.name)
        }
        _ => anyhow::bail!("give --api-key, or --key with --token"),
    };
    let input = ChatInput::question(args.question, args.max_tokens);
    let (_, id) = rt
        .block_on(client.chat_stream(&api_key, &model, &input, |piece| {
            let mut out = std::io::stdout().lock();
            // A closed stdout ends the chat below, when the answer is complete.
            let _ = out.write_all(piece.as_bytes()).and_then(|()| out.flush());
        }))
        .map_err(refused)?;
    outln!();
    let receipt = rt.block_on(client.receipt(&id)).map_err(refused)?;
    let path =
        args.receipt.unwrap_or_else(|| PathBuf::from(format!("{}.json", id.trim_start_matches("sha256:"))));
    veil_fs::write_atomic(&path, receipt.to_json_pretty().as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("receipt {id} saved to {}", path.display());
    Ok(())
}
