//! Training inside: a logistic regression fitted on a token's sealed table for the user
//! who signed the order, sealed to the key the order names, and a `JobRegistry`
//! completion signed with the chain key made inside.
//!
//! The data never leaves: the table is opened here, and only the model (sealed to the
//! requester), its root and its training accuracy come out. The receipt states the
//! dataset's root (`context_hash`), the spec's (`model_hash`) and the trained model's
//! (`train.completed`); the completion commits the job on chain to that model's root
//! and that receipt. Which job an order names is the requester's word, checked against
//! the chain by the gateway before the job reaches a worker: this process has no chain
//! of its own to read.

use std::sync::Arc;

use alloy::primitives::B256;
use alloy::signers::SignerSync;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_content::{Root, root_of};
use veil_fl::lr;
use veil_protocol::fl::{LrModel, TrainSpec};
use veil_protocol::kms::UserProof;
use veil_protocol::train::{
    EnclaveCompletion, TRAINED_FORMAT, TrainJob, TrainOrder, TrainOutput, TrainResponse, TrainedModel,
    root_word,
};
use veil_protocol::{CompletionTarget, MAX_EXPIRY_SECS, Table};
use veil_receipt::events::{RequestReceived, ResponseReturned, TrainCompleted};
use veil_receipt::{Event, Mode, Receipt};
use zeroize::Zeroizing;

use crate::worker::{Timings, TokenData};
use crate::{JobError, Worker};

/// Most rows a training job reads.
pub const MAX_TRAIN_ROWS: usize = 100_000;

fn bad_order(m: impl Into<String>) -> JobError {
    JobError::BadOrder(m.into())
}

fn jcs(v: &impl serde::Serialize) -> Result<Vec<u8>, JobError> {
    let v = serde_json::to_value(v).map_err(|e| JobError::Internal(e.to_string()))?;
    veil_jcs::to_canonical_vec(&v).map_err(|e| JobError::Internal(e.to_string()))
}

fn root(bytes: &[u8]) -> Result<Root, JobError> {
    root_of(bytes).map_err(|e| JobError::Internal(e.to_string()))
}

/// What fitting produced.
struct Fitted {
    model: TrainedModel,
    rows: usize,
    accuracy: f64,
}

/// Fit the order's spec on the table in `plain`: the label column (0 or 1) against the
/// spec's feature columns (every other column when it names none), scaled by the
/// table's own ranges.
fn fit(plain: &[u8], order: &TrainOrder) -> Result<Fitted, JobError> {
    let text = std::str::from_utf8(plain).map_err(|_| bad_order("the token's data is not UTF-8 text"))?;
    let table = Table::parse(text).map_err(|e| bad_order(e.to_string()))?;
    let column = |name: &str| {
        table
            .columns()
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| bad_order(format!("the token's table has no column {name:?}")))
    };
    let label = column(&order.spec.label)?;
    let features: Vec<usize> = if order.spec.features.is_empty() {
        (0..table.columns().len()).filter(|&j| j != label).collect()
    } else {
        order.spec.features.iter().map(|f| column(f)).collect::<Result<_, _>>()?
    };
    let mut seen = std::collections::BTreeSet::new();
    if features.is_empty() || features.iter().any(|&j| j == label || !seen.insert(j)) {
        return Err(bad_order("name at least one feature column, each once, none of them the label"));
    }
    if table.is_empty() || table.len() > MAX_TRAIN_ROWS {
        return Err(bad_order(format!("train on 1 to {MAX_TRAIN_ROWS} rows, not {}", table.len())));
    }
    let mut rows = Vec::with_capacity(table.len());
    let mut labels = Vec::with_capacity(table.len());
    for i in 0..table.len() {
        let row = table.row(i).ok_or_else(|| JobError::Internal("a row out of range".into()))?;
        let y = row[label];
        if y != 0.0 && y != 1.0 {
            return Err(bad_order(format!("row {}: the label is {y}, not 0 or 1", i + 1)));
        }
        labels.push(y as u8);
        rows.push(features.iter().map(|&j| row[j]).collect::<Vec<f32>>());
    }
    let (feature_min, mut feature_max) = lr::ranges(&rows);
    // A constant column scales to 0 whatever its width; give it one so the spec holds.
    for (lo, hi) in feature_min.iter().zip(feature_max.iter_mut()) {
        if *hi <= *lo {
            *hi = *lo + 1.0;
        }
    }
    let spec = TrainSpec {
        epochs: order.spec.epochs,
        learning_rate: order.spec.learning_rate,
        l2: order.spec.l2,
        feature_min,
        feature_max,
    };
    lr::check_spec(&spec, rows[0].len()).map_err(|e| bad_order(e.to_string()))?;
    let trained = lr::train(&spec, &LrModel::zeros(rows[0].len()), &rows, &labels)
        .map_err(|e| bad_order(e.to_string()))?;
    let accuracy = lr::accuracy(&trained, &spec, &rows, &labels);
    Ok(Fitted {
        model: TrainedModel {
            format: TRAINED_FORMAT.into(),
            features: features.iter().map(|&j| table.columns()[j].clone()).collect(),
            label: order.spec.label.clone(),
            feature_min: spec.feature_min,
            feature_max: spec.feature_max,
            model: trained,
        },
        rows: rows.len(),
        accuracy,
    })
}

impl Worker {
    /// Train what `job`'s order asks on the token's data, for its signer.
    pub async fn train(self: &Arc<Self>, job: TrainJob) -> Result<(TrainResponse, Timings), JobError> {
        let mut t = Timings::start();
        let TrainJob { request, data_root: gateway_root } = job;
        let received = self.time();
        let user = request.verify(&self.domain, (self.clock)(), MAX_EXPIRY_SECS)?;
        let token = request.token()?;
        let order: TrainOrder = serde_json::from_value(request.input.clone())
            .map_err(|e| bad_order(format!("the input is not a training order: {e}")))?;
        let spec_root = order.spec.root().map_err(bad_order)?;
        if spec_root != request.model {
            return Err(bad_order(format!(
                "the signed model {} is not the order's spec root {spec_root}",
                request.model
            )));
        }
        let job_id = order
            .job_id()
            .ok_or_else(|| bad_order(format!("job {:?} is not a decimal uint256", order.job)))?;
        let recipient: veil_seal::PublicKey =
            order.recipient.parse().map_err(|e: veil_seal::SealError| bad_order(e.to_string()))?;
        let user_s = user.to_string();
        let TokenData { session, data_root, identity, sealed, events: access } =
            self.token_data(token, &user_s, UserProof::Request(&request), gateway_root, &mut t).await?;
        let fitted = tokio::task::spawn_blocking({
            let order = order.clone();
            move || -> Result<_, JobError> {
                let mut plain = Zeroizing::new(Vec::with_capacity(sealed.len()));
                veil_seal::open(sealed.as_slice(), &mut *plain, &identity).map_err(|e| {
                    JobError::DataIntegrity(format!(
                        "the token's data does not open with the token's key: {e}"
                    ))
                })?;
                fit(&plain, &order)
            }
        })
        .await
        .map_err(|_| JobError::Internal("the training task failed".into()))??;
        t.lap("train");
        let model_bytes = jcs(&fitted.model)?;
        let model_root = root(&model_bytes)?;
        let mut sealed_model = Vec::new();
        veil_seal::seal(model_bytes.as_slice(), &mut sealed_model, &[recipient])
            .map_err(|e| JobError::Internal(format!("sealing the model: {e}")))?;
        let stored = self
            .store
            .put_bytes(sealed_model.clone())
            .await
            .map_err(|e| JobError::Internal(format!("storing the sealed model: {e}")))?;
        t.lap("seal_store");
        let trained = TrainCompleted {
            dataset: data_root,
            spec: spec_root,
            model: model_root,
            sealed: stored.root,
            rows: fitted.rows as u64,
            features: fitted.model.features.len() as u32,
            epochs: order.spec.epochs,
        };
        let output = TrainOutput {
            job: order.job.clone(),
            trained: trained.clone(),
            train_accuracy: (fitted.accuracy * 1e6).round() / 1e6,
        };
        let output_hash = root(&jcs(&output)?)?;
        let done = self.time();
        let mut events = vec![Event::of(
            received,
            &RequestReceived {
                signer: Some(user_s.clone()),
                nonce: Some(request.nonce.clone()),
                expiry: Some(request.expiry),
                signature: Some(request.signature.clone()),
                grant: None,
            },
        )];
        events.extend(access);
        events.extend([
            Event::of(done, &trained),
            Event::of(done, &ResponseReturned { body_hash: output_hash }),
        ]);
        let mut receipt = Receipt::new(Mode::Train, root(&jcs(&request.input)?)?, output_hash, done);
        receipt.subject = Some(user_s);
        receipt.model_hash = Some(spec_root);
        receipt.context_hash = Some(data_root);
        receipt.events = events;
        let receipt = self.sign(receipt, &session)?;
        let target = CompletionTarget {
            chain_id: order.chain_id,
            job_registry: order.job_registry,
            job_id,
            account: order.prover,
            receipt_id: receipt_word(&receipt.id)?,
        };
        let result = root_word(&model_root);
        let signature = self
            .chain_key
            .sign_hash_sync(&target.digest(result, B256::ZERO))
            .map_err(|e| JobError::Internal(e.to_string()))?;
        t.lap("receipt");
        let completion = EnclaveCompletion {
            target,
            result,
            enclave_key: self.chain_key.address(),
            signature: signature.as_bytes().to_vec().into(),
        };
        let response = TrainResponse { output, receipt, sealed_model: B64.encode(&sealed_model), completion };
        Ok((response, t))
    }
}

/// A receipt's id (`sha256:…`) as the chain holds it.
fn receipt_word(id: &str) -> Result<B256, JobError> {
    let id: veil_receipt::ReceiptId = id.parse().map_err(|e| JobError::Internal(format!("{e}")))?;
    Ok(B256::from(id.0))
}
