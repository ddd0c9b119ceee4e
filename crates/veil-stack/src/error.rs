//! Why composing or running the stack failed.

use std::path::PathBuf;

/// A failure of the stack, naming the role or file it came from.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A file or socket could not be used.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be used (veil-fs names the file in its errors).
    #[error(transparent)]
    File(#[from] std::io::Error),
    /// A configuration or key file is unusable, or options contradict each other.
    #[error("{0}")]
    Config(String),
    /// The ledger refused or could not be reached.
    #[error(transparent)]
    Ledger(#[from] veil_ledger::LedgerError),
    /// The embedded chain could not be opened or created.
    #[error(transparent)]
    Chain(#[from] veil_chain::ChainError),
    /// An identity could not be made or read.
    #[error(transparent)]
    Seal(#[from] veil_seal::SealError),
    /// The simulated TEE could not be set up.
    #[error(transparent)]
    SimTee(#[from] veil_sim_tee::SimError),
    /// An FHE key, query or answer was refused.
    #[error(transparent)]
    Fhe(#[from] veil_fhe::FheError),
    /// A model could not be registered.
    #[error(transparent)]
    Model(#[from] veil_model::ModelError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] veil_store::StoreError),
    /// The broker's master secret could not be opened or created.
    #[error("master secret: {0}")]
    Master(#[from] veil_kms::MasterError),
    /// The broker's audit log could not be opened.
    #[error("audit log: {0}")]
    Audit(#[from] veil_audit::AuditError),
    /// The worker's configuration could not be measured.
    #[error(transparent)]
    Worker(#[from] veil_worker::WorkerError),
    /// The gateway's nonce log could not be opened.
    #[error(transparent)]
    Replay(#[from] veil_gateway::ReplayError),
    /// The shared-state database could not be reached or set up.
    #[error(transparent)]
    Database(#[from] veil_gateway::DatabaseError),
    /// A gateway refused or could not be reached.
    #[error(transparent)]
    Gateway(#[from] veil_gateway::ClientError),
    /// The gateway could not be set up.
    #[error("{0}")]
    GatewaySetup(#[from] veil_gateway::GatewayError),
    /// The key broker refused or could not be reached.
    #[error(transparent)]
    Kms(#[from] veil_kms_client::ClientError),
    /// A receipt did not verify.
    #[error(transparent)]
    Verify(#[from] veil_verify::VerifyError),
    /// The transparency log refused, or a proof from it does not hold.
    #[error("{0} ({code})", code = .0.code())]
    Log(#[from] veil_tlog::TlogError),
    /// The demo's story did not go as it must (something was answered that must be
    /// refused, or the other way round).
    #[error("{0}")]
    Demo(String),
    /// A circuit, key or proof could not be made or read.
    #[error(transparent)]
    Zk(#[from] veil_zk::ZkError),
    /// A document set was refused.
    #[error(transparent)]
    Docs(#[from] veil_retrieve::DocsError),
    /// A language model could not be loaded or run.
    #[error(transparent)]
    Llm(#[from] veil_llm::LlmError),
    /// Bytes have no content root (they are empty).
    #[error(transparent)]
    Content(#[from] veil_content::ContentError),
    /// Data would be sealed to a token its publisher does not own.
    #[error("{owner} does not own token {token} ({holder} does): mint it first, then publish its data")]
    NotOwner {
        /// The token.
        token: alloy::primitives::U256,
        /// Who tried to publish.
        owner: alloy::primitives::Address,
        /// Who owns it.
        holder: alloy::primitives::Address,
    },
    /// A federated round was refused or does not check out.
    #[error(transparent)]
    Fl(#[from] veil_fl::FlError),
    /// Worker processes did not come up.
    #[error("workers did not start within 60 s; see {0}")]
    WorkersDidNotStart(PathBuf),
}

impl StackError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

impl From<serde_json::Error> for StackError {
    fn from(e: serde_json::Error) -> Self {
        Self::Config(e.to_string())
    }
}
