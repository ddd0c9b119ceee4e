//! `veil train`: a logistic regression trained inside the gateway's attested worker on
//! a token's sealed table, as a `JobRegistry` job, end to end from the requester's
//! side.
//!
//! The requester escrows the fee for a job over (the token's data root, the spec's
//! root), checks the registry gives the job to the prover named, signs the order, and
//! takes back a `train` receipt, the model sealed to its own identity and the enclave's
//! completion. Before anything lands on chain it verifies the receipt under its trust,
//! that every root the receipt states is the one it asked for or received, and that the
//! sealed model opens to the root the completion commits to; then it relays the
//! completion (`completeJobFor`: the fee goes to the prover the enclave named) and
//! reads the job back.

use std::path::PathBuf;

use alloy::primitives::{Address, B256, U256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_content::{Root, root_of};
use veil_protocol::train::{TrainOrder, TrainResponse, TrainedModel, TrainingSpec, root_word};
use veil_protocol::{Problem, SignedRequest, TokenId};

use crate::{Result, StackError};

/// `veil train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOptions {
    /// The gateway whose worker trains (its chain key must be registered for --prover).
    #[arg(long)]
    pub gateway: String,
    /// The token whose sealed table to train on (you must be authorized on it).
    #[arg(long)]
    pub token: TokenId,
    /// The label column (values 0 and 1).
    #[arg(long)]
    pub label: String,
    /// The feature columns, comma-separated, in the order the weights take them
    /// (default: every column but the label).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Full-batch gradient steps.
    #[arg(long, default_value_t = 500)]
    pub epochs: u32,
    /// The step size.
    #[arg(long, default_value_t = 1.0)]
    pub learning_rate: f32,
    /// The L2 penalty.
    #[arg(long, default_value_t = 0.0)]
    pub l2: f32,
    /// The fee to escrow, in ETH (decimal).
    #[arg(long, value_parser = crate::ledger::parse_eth)]
    pub fee_eth: U256,
    /// The prover account the gateway's training worker is registered under.
    #[arg(long)]
    pub prover: Address,
    /// Your Veil identity (`veil keygen`): the model is sealed to its public key.
    #[arg(long)]
    pub identity: PathBuf,
    /// A directory for the model (opened, `model.json`), the sealed model
    /// (`model.sealed`) and the receipt (`receipt.json`); created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Whose evidence the receipt must carry.
    #[command(flatten)]
    pub trust: crate::trust::TrustFiles,
    /// The ledger, and your account on it (it pays the fee and signs the order).
    #[command(flatten)]
    pub ledger: crate::ledger::LedgerTarget,
}

fn bad(m: impl Into<String>) -> StackError {
    StackError::Config(m.into())
}

fn root(bytes: &[u8]) -> Result<Root> {
    root_of(bytes).map_err(|e| bad(e.to_string()))
}

fn jcs_root(v: &impl serde::Serialize) -> Result<Root> {
    let v = serde_json::to_value(v).map_err(|e| bad(e.to_string()))?;
    root(&veil_jcs::to_canonical_vec(&v).map_err(|e| bad(e.to_string()))?)
}

/// `veil train`: what was trained, where it went, and the job as the chain shows it.
pub async fn train(o: &TrainOptions, clock: fn() -> u64) -> Result<serde_json::Value> {
    let trust = o.trust.load()?;
    let identity = crate::keys::read_identity(&o.identity)?;
    let wallet = o.ledger.signing_key()?;
    let ledger = o.ledger.connect(clock).await?;
    let me = ledger.signer()?;
    let chain = &ledger.client;
    let spec = TrainingSpec {
        label: o.label.clone(),
        features: o.features.clone(),
        epochs: o.epochs,
        learning_rate: o.learning_rate,
        l2: o.l2,
    };
    let spec_root = spec.root().map_err(bad)?;
    // Refused later anyway (the broker reads the same fact); refusing here escrows nothing.
    let (authorized, block) = chain.is_authorized(o.token.value(), me).await?;
    if !authorized {
        return Err(bad(format!(
            "{me:#x} is not authorized on token {} (block {block}): nothing was submitted",
            o.token
        )));
    }
    let data = chain.intelligent_data(o.token.value()).await?;
    let data_root =
        Root(data.first().ok_or_else(|| bad(format!("token {} has no data", o.token)))?.data_hash.0);

    let job = chain.submit_job(root_word(&data_root), root_word(&spec_root), o.fee_eth).await?;
    let selected = chain.assign(job).await?;
    if selected != o.prover && selected != Address::ZERO {
        return Err(bad(format!(
            "the registry gave job {job} to prover {selected:#x}, not {:#x}: it has the job for its \
             window (`veil job show {job}`); reclaim the fee after the deadline",
            o.prover
        )));
    }
    let deployment = chain.deployment();
    let order = TrainOrder {
        job: job.to_string(),
        chain_id: chain.chain_id(),
        job_registry: deployment.jobs,
        prover: o.prover,
        recipient: identity.public_key().to_string(),
        spec,
    };
    let input = serde_json::to_value(&order).map_err(|e| bad(e.to_string()))?;
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| bad(format!("random: {e}")))?;
    let request = SignedRequest::sign(
        &wallet,
        &veil_protocol::domain(chain.chain_id(), deployment.inft),
        o.token.value(),
        spec_root,
        input.clone(),
        U256::from_be_bytes(nonce),
        clock() + 300,
    )
    .map_err(|e| bad(e.to_string()))?;

    let sent = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default()
        .post(format!("{}/v1/train", o.gateway.trim_end_matches('/')))
        .json(&request)
        .send()
        .await
        .map_err(|e| bad(format!("the gateway: {e}")))?;
    let status = sent.status();
    let bytes = sent.bytes().await.map_err(|e| bad(format!("the gateway: {e}")))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<Problem>(&bytes) {
            Ok(p) => bad(format!("training refused: {} ({})", p.detail, p.code)),
            Err(_) => bad(format!("training refused: HTTP {status}")),
        });
    }
    let answer: TrainResponse =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("the gateway's answer: {e}")))?;

    // The receipt: signed by an enclave this trust accepts, about this order, this data,
    // this spec and this output.
    let receipt_bytes = serde_json::to_vec(&answer.receipt).map_err(|e| bad(e.to_string()))?;
    let report = veil_verify::verify(&receipt_bytes, &trust)
        .map_err(|e| bad(format!("the receipt does not verify: {e} ({})", e.code())))?;
    let r = &report.verified.receipt;
    let out = &answer.output;
    let stated = r.mode == veil_receipt::Mode::Train
        && r.subject.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&me.to_string()))
        && r.input_hash == jcs_root(&input)?
        && r.context_hash == Some(data_root)
        && r.model_hash == Some(spec_root)
        && r.output_hash == jcs_root(out)?
        && out.trained.dataset == data_root
        && out.trained.spec == spec_root
        && out.job == order.job
        && r.events.iter().any(|e| {
            matches!(e.payload::<veil_receipt::events::TrainCompleted>(), Some(Ok(t)) if t == out.trained)
        });
    if !stated {
        return Err(bad("the receipt is not about this order, this data and this spec"));
    }
    // The model: sealed to me, stored by its root, opening to the root the chain gets.
    let sealed = B64.decode(&answer.sealed_model).map_err(|e| bad(format!("the sealed model: {e}")))?;
    if root(&sealed)? != out.trained.sealed {
        return Err(bad("the sealed model is not the one the receipt names"));
    }
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    veil_seal::open(sealed.as_slice(), &mut *plain, &identity)
        .map_err(|e| bad(format!("the sealed model does not open with your identity: {e}")))?;
    if root(&plain)? != out.trained.model {
        return Err(bad("the opened model is not the one the receipt names"));
    }
    let model: TrainedModel =
        serde_json::from_slice(&plain).map_err(|e| bad(format!("the opened model: {e}")))?;
    // The completion: this job, this prover, this receipt, this model.
    let c = &answer.completion;
    let receipt_id: veil_receipt::ReceiptId =
        answer.receipt.id.parse().map_err(|e| bad(format!("the receipt id: {e}")))?;
    let aimed = c.target.job_id == job
        && c.target.chain_id == chain.chain_id()
        && c.target.job_registry == deployment.jobs
        && c.target.account == o.prover
        && c.target.receipt_id == B256::from(receipt_id.0)
        && c.result == root_word(&out.trained.model);
    if !aimed {
        return Err(bad("the completion is not for this job, prover, receipt and model"));
    }

    veil_fs::create_private_dir(&o.out).map_err(StackError::io(format!("creating {}", o.out.display())))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = o.out.join(name);
        veil_fs::write_atomic(&path, bytes).map_err(StackError::io(format!("writing {}", path.display())))
    };
    write("model.json", &plain)?;
    write("model.sealed", &sealed)?;
    write("receipt.json", answer.receipt.to_json_pretty().as_bytes())?;

    chain.complete_job_for(job, o.prover, c.result, c.target.receipt_id, c.signature.to_vec()).await?;
    let landed = chain.job(job).await?;
    if landed.status != "completed" || landed.result_hash != root_word(&out.trained.model) {
        return Err(bad(format!("job {job} is {} with result {}", landed.status, landed.result_hash)));
    }
    Ok(serde_json::json!({
        "job": job.to_string(),
        "prover": landed.prover,
        "dataset": data_root,
        "spec": spec_root,
        "model": out.trained.model,
        "sealed": out.trained.sealed,
        "receipt": answer.receipt.id,
        "rows": out.trained.rows,
        "features": model.features.len(),
        "train_accuracy": out.train_accuracy,
        "enclave_key": c.enclave_key,
        "measurement": report.claims.map(|c| c.measurement_id),
    }))
}
