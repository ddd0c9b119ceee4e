//! Federated learning's parts that run in the stack: `veil fl run` (the owner: each
//! round's start signed, its receipt checked, held-out accuracy), `veil fl join` (one
//! client, its own OS process, training on its shard of the fixed non-IID split),
//! both through a gateway whose worker aggregates; and `veil bench secagg`, one
//! secure-aggregation round at a given size in this process, clients one after
//! another on one thread, so each party's time is its CPU time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use veil_protocol::fl::{
    FlBody, FlMessage, LrModel, RoundOutcome, RoundStart, RoundView, SignedRoundStart, Stage, StageInput,
    TrainSpec,
};
use veil_protocol::{ErrorCode, Problem};
use veil_receipt::events::FlRound;
use veil_secagg::{Aggregator, Client, RoundConfig, SecAggError};

use crate::{Result, StackError};

/// What `veil bench secagg` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct SecAggBenchOptions {
    /// Clients in the round.
    #[arg(long, default_value_t = 100)]
    pub clients: u32,
    /// Parameters per update.
    #[arg(long, default_value_t = 100_000)]
    pub dim: u32,
    /// The share of clients that drop after sharing their keys (their masks are then
    /// rebuilt by the aggregator).
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
}

fn secagg(e: SecAggError) -> StackError {
    StackError::Config(e.to_string())
}

/// Run one round and report each party's time.
pub fn bench_secagg(o: &SecAggBenchOptions) -> Result<String> {
    let n = o.clients;
    let cfg = RoundConfig {
        federation: "bench".into(),
        round: 1,
        participants: (1..=n).collect(),
        threshold: n / 2 + 1,
        dim: o.dim,
        clip: 1.0,
        scale_bits: 16,
        max_weight: 1000,
    };
    let drop_count = ((f64::from(n) * o.dropout).round() as u32).min(n);
    let dropped: Vec<u32> = (1..=n).rev().take(drop_count as usize).collect();
    let update: Vec<f32> = (0..o.dim).map(|k| ((k % 2001) as f32 - 1000.0) / 1000.0).collect();

    let mut agg_time = Duration::ZERO;
    let mut client_time = vec![Duration::ZERO; n as usize];
    let timed = |acc: &mut Duration, start: Instant| *acc += start.elapsed();

    let t = Instant::now();
    let mut agg = Aggregator::new(&cfg).map_err(secagg)?;
    timed(&mut agg_time, t);
    let mut clients = Vec::new();
    for c in 1..=n {
        let t = Instant::now();
        let (client, ad) = Client::new(&cfg, c).map_err(secagg)?;
        timed(&mut client_time[c as usize - 1], t);
        let t = Instant::now();
        agg.advertise(ad).map_err(secagg)?;
        timed(&mut agg_time, t);
        clients.push(client);
    }
    let t = Instant::now();
    let roster = agg.roster().map_err(secagg)?;
    timed(&mut agg_time, t);
    for (i, client) in clients.iter_mut().enumerate() {
        let t = Instant::now();
        let shares = client.share_keys(&roster).map_err(secagg)?;
        timed(&mut client_time[i], t);
        let t = Instant::now();
        agg.share_keys(shares).map_err(secagg)?;
        timed(&mut agg_time, t);
    }
    let t = Instant::now();
    let inboxes = agg.inboxes().map_err(secagg)?;
    timed(&mut agg_time, t);
    for (i, client) in clients.iter_mut().enumerate() {
        let c = i as u32 + 1;
        let t = Instant::now();
        let m = client.masked(&inboxes[&c], &update, 500).map_err(secagg)?;
        timed(&mut client_time[i], t);
        if !dropped.contains(&c) {
            let t = Instant::now();
            agg.masked(m).map_err(secagg)?;
            timed(&mut agg_time, t);
        }
    }
    let t = Instant::now();
    let req = agg.unmask_request().map_err(secagg)?;
    timed(&mut agg_time, t);
    for &c in &req.survivors {
        let i = c as usize - 1;
        let t = Instant::now();
        let r = clients[i].reveal(&req).map_err(secagg)?;
        timed(&mut client_time[i], t);
        let t = Instant::now();
        agg.reveal(r).map_err(secagg)?;
        timed(&mut agg_time, t);
    }
    let t = Instant::now();
    let result = agg.finish().map_err(secagg)?;
    let finish = t.elapsed();
    agg_time += finish;
    let worst = result.mean.iter().zip(&update).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);

    let mut masks = vec![0u32; o.dim as usize];
    let t = Instant::now();
    veil_secagg::add_mask(&mut masks, &[7; 32], false);
    let mask_time = t.elapsed();

    client_time.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "secure aggregation: {n} clients × {} parameters, threshold {}, {} dropped after sharing",
        o.dim,
        cfg.threshold,
        result.dropped.len()
    );
    let _ = writeln!(
        out,
        "aggregator CPU per round: {:.1} ms (of which unmasking {:.1} ms)",
        ms(agg_time),
        ms(finish)
    );
    let _ = writeln!(
        out,
        "client CPU per round: median {:.1} ms, max {:.1} ms",
        ms(client_time[client_time.len() / 2]),
        ms(client_time[client_time.len() - 1])
    );
    let _ = writeln!(
        out,
        "one mask of {} words (ChaCha12): {:.2} ms ({:.0} MB/s); upload per client {} KiB",
        o.dim,
        ms(mask_time),
        f64::from(o.dim) * 4.0 / mask_time.as_secs_f64() / 1e6,
        (o.dim as usize + 1) * 4 / 1024
    );
    let _ = writeln!(out, "mean error against the plaintext mean: {worst:.2e}");
    Ok(out)
}

/// `veil fl …`: federated rounds through a gateway whose worker aggregates.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FlCommand {
    /// Make an owner's or a client's key (an identity file, 0600) and print its
    /// Ed25519 public key.
    Key {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a federation's rounds as its owner: each round's start signed, its
    /// receipt checked and kept, the model's held-out accuracy printed.
    Run(FlRunOptions),
    /// Take part in a federation's rounds as one client, training on its own shard.
    Join(FlJoinOptions),
    /// Create a federation on the ledger: its participants' keys and, after checking
    /// its attestation, the address of the enclave that aggregates it.
    Create(FlCreateOptions),
    /// Name the gateway's aggregating worker (its evidence checked) as a federation's
    /// aggregator on the ledger, after it restarted with a new chain key.
    SetAggregator(FlSetAggregatorOptions),
    /// A federation's rounds as the ledger recorded them.
    History {
        /// The federation id.
        #[arg(long)]
        federation: String,
        /// The ledger.
        #[command(flatten)]
        ledger: crate::ledger::LedgerTarget,
    },
    /// A federation's current (or last) round at the aggregator.
    Status {
        /// The gateway.
        #[arg(long)]
        gateway: String,
        /// The federation id.
        #[arg(long)]
        federation: String,
    },
}

/// Where a federation meets, and under whose key.
#[derive(Debug, Clone, clap::Args)]
pub struct FlFederation {
    /// The gateway (its worker aggregates).
    #[arg(long)]
    pub gateway: String,
    /// The federation's name.
    #[arg(long)]
    pub name: String,
}

/// A federation's rounds and its clients' local training (flags of `veil fl run` and
/// `veil bench fl`).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Rounds to run.
    #[arg(long, default_value_t = 20)]
    pub rounds: u64,
    /// Local epochs per round.
    #[arg(long, default_value_t = 5)]
    pub epochs: u32,
    /// Local step size.
    #[arg(long, default_value_t = 2.0)]
    pub learning_rate: f32,
    /// L2 penalty.
    #[arg(long, default_value_t = 1e-4)]
    pub l2: f32,
}

impl TrainArgs {
    fn spec(&self) -> Result<TrainSpec> {
        bundled_spec(self.epochs, self.learning_rate, self.l2)
    }
}

/// The model a round starts from, as a start names it: its root, the model sealed to
/// the federation's model key and the aggregator's, and the model key.
struct StartModel {
    root: veil_content::Root,
    sealed: String,
    key: String,
}

/// Round `round` of federation `fed` (named `name` under `owner`) over `clients`
/// (client i's Ed25519 key, hex, at i − 1), from `global`.
#[allow(clippy::too_many_arguments)]
fn round_start(
    name: &str,
    owner: &ed25519_dalek::SigningKey,
    fed: &str,
    round: u64,
    clients: &[String],
    spec: &TrainSpec,
    global: StartModel,
    stage_timeout_ms: u64,
) -> RoundStart {
    let n = clients.len() as u32;
    RoundStart {
        name: name.to_owned(),
        owner: hex::encode(owner.verifying_key().as_bytes()),
        config: RoundConfig {
            federation: fed.to_owned(),
            round,
            participants: (1..=n).collect(),
            threshold: n / 2 + 1,
            dim: spec.feature_min.len() as u32 + 1,
            clip: CLIP,
            scale_bits: SCALE_BITS,
            max_weight: MAX_WEIGHT,
        },
        clients: (1..=n).zip(clients.iter().cloned()).collect(),
        spec: spec.clone(),
        global_root: global.root,
        global_sealed: global.sealed,
        model_key: global.key,
        stage_timeout_ms,
        registry: None,
    }
}

/// A federation's owner and clients (flags of `veil fl create` and `veil fl run`).
#[derive(Debug, Clone, clap::Args)]
pub struct FlRoster {
    /// The owner's key file (`veil fl key`).
    #[arg(long)]
    pub owner_key: PathBuf,
    /// Each client's Ed25519 key (hex), in client-number order from 1.
    #[arg(long = "client", required = true)]
    pub clients: Vec<String>,
}

impl FlRoster {
    /// The owner's key and the id it gives federation `name`.
    fn owner(&self, name: &str) -> Result<(ed25519_dalek::SigningKey, String)> {
        let owner = crate::keys::read_identity(&self.owner_key)?.signing_key();
        let fed = veil_fl::federation_id(name, &owner.verifying_key())
            .ok_or_else(|| StackError::Config(format!("{name:?} is not a federation name")))?;
        Ok((owner, fed))
    }
}

/// `veil fl run`.
#[derive(Debug, Clone, clap::Args)]
pub struct FlRunOptions {
    /// Where the federation meets.
    #[command(flatten)]
    pub federation: FlFederation,
    /// The owner and the clients.
    #[command(flatten)]
    pub roster: FlRoster,
    /// Rounds and local training.
    #[command(flatten)]
    pub training: TrainArgs,
    /// How long each stage waits for clients (ms); later ones are dropped.
    #[arg(long, default_value_t = 10_000)]
    pub stage_timeout_ms: u64,
    /// The federation's model key (a Veil identity, `veil keygen`; give it to every
    /// client with the roster): every global model is sealed to it.
    #[arg(long)]
    pub model_key: PathBuf,
    /// Whose evidence the aggregator must show: the first round's model is sealed to
    /// the sealing key that evidence binds.
    #[command(flatten)]
    pub trust: crate::trust::TrustFiles,
    /// Where receipts and the final model go.
    #[arg(long)]
    pub out: PathBuf,
    /// Submit every round's receipt to this transparency log and keep its inclusion
    /// beside it (`round-R.inclusion.json`, for `veil verify --inclusion`).
    #[arg(long)]
    pub log: Option<String>,
    /// Record every round in the ledger's federation registry (the federation must
    /// have been created there with `veil fl create`).
    #[arg(long)]
    pub record: bool,
    /// The ledger, when recording.
    #[command(flatten)]
    pub ledger: crate::ledger::LedgerTarget,
}

/// `veil fl create`.
#[derive(Debug, Clone, clap::Args)]
pub struct FlCreateOptions {
    /// Where the federation meets.
    #[command(flatten)]
    pub federation: FlFederation,
    /// The owner and the clients.
    #[command(flatten)]
    pub roster: FlRoster,
    /// Whose evidence the aggregator must show.
    #[command(flatten)]
    pub trust: crate::trust::TrustFiles,
    /// The ledger, and the owner's account on it.
    #[command(flatten)]
    pub ledger: crate::ledger::LedgerTarget,
}

/// `veil fl set-aggregator`.
#[derive(Debug, Clone, clap::Args)]
pub struct FlSetAggregatorOptions {
    /// The gateway whose aggregating worker to name.
    #[arg(long)]
    pub gateway: String,
    /// The federation id.
    #[arg(long)]
    pub federation: String,
    /// Whose evidence the aggregator must show.
    #[command(flatten)]
    pub trust: crate::trust::TrustFiles,
    /// The ledger, and the owner's account on it.
    #[command(flatten)]
    pub ledger: crate::ledger::LedgerTarget,
}

/// `veil fl join`.
#[derive(Debug, Clone, clap::Args)]
pub struct FlJoinOptions {
    /// Where the federation meets.
    #[command(flatten)]
    pub federation: FlFederation,
    /// This client's key file (`veil fl key`).
    #[arg(long)]
    pub key: PathBuf,
    /// The owner's Ed25519 key (hex): rounds it did not sign are refused.
    #[arg(long)]
    pub owner: String,
    /// The federation's model key (the identity file its owner gave you): the global
    /// models are sealed to it.
    #[arg(long)]
    pub model_key: PathBuf,
    /// This client's number (from 1); it holds shard `id − 1` of the split.
    #[arg(long)]
    pub id: u32,
    /// Clients the training split is divided among (the fixed non-IID rule).
    #[arg(long)]
    pub of: u32,
    /// Rounds to take part in.
    #[arg(long, default_value_t = 20)]
    pub rounds: u64,
    /// Leave round R after sharing keys (a dropout the others recover from).
    #[arg(long)]
    pub drop_in_round: Option<u64>,
    /// How long to wait for each round to open (seconds).
    #[arg(long, default_value_t = 120)]
    pub wait_secs: u64,
}

/// The bundled breast-cancer data as rows and labels: (train, test).
type Rows = (Vec<Vec<f32>>, Vec<u8>);

fn bundled_data() -> Result<(Rows, Rows)> {
    let d = veil_model::Dataset::parse(crate::stack::BUNDLED_DATA[0].1)?;
    let train = (d.train, d.train_labels.iter().map(|&y| u8::from(y == 1)).collect());
    let test = (
        d.test.iter().map(|(x, _)| x.clone()).collect(),
        d.test.iter().map(|(_, y)| u8::from(*y == 1)).collect(),
    );
    Ok((train, test))
}

/// A federation's training spec over the bundled data: the feature ranges are the
/// published ranges of the Wisconsin diagnostic data (every row's), not any client's.
pub fn bundled_spec(epochs: u32, learning_rate: f32, l2: f32) -> Result<TrainSpec> {
    let ((train, _), (test, _)) = bundled_data()?;
    let all: Vec<Vec<f32>> = train.into_iter().chain(test).collect();
    let (feature_min, feature_max) = veil_fl::lr::ranges(&all);
    Ok(TrainSpec { epochs, learning_rate, l2, feature_min, feature_max })
}

/// Make a key file and return its Ed25519 public key (hex).
pub fn new_key(out: &Path) -> Result<String> {
    crate::keys::new_identity(out)?;
    Ok(hex::encode(crate::keys::read_identity(out)?.signing_key().verifying_key().as_bytes()))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap_or_default()
}

fn transport(e: impl std::fmt::Display) -> StackError {
    StackError::Config(format!("the gateway: {e}"))
}

/// A refusal's problem, or the body.
async fn call<T: serde::de::DeserializeOwned>(
    sent: reqwest::RequestBuilder,
) -> Result<std::result::Result<T, Problem>> {
    let resp = sent.send().await.map_err(transport)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(transport)?;
    if status.is_success() {
        if bytes.is_empty() {
            return serde_json::from_slice(b"null").map(Ok).map_err(transport);
        }
        return serde_json::from_slice(&bytes).map(Ok).map_err(transport);
    }
    serde_json::from_slice::<Problem>(&bytes).map(Err).map_err(|_| transport(format!("HTTP {status}")))
}

fn refused(p: &Problem) -> StackError {
    StackError::Config(format!("{} ({})", p.detail, p.code))
}

async fn view(gw: &str, fed: &str) -> Result<std::result::Result<RoundView, Problem>> {
    call(http().get(format!("{gw}/v1/fl/{fed}"))).await
}

/// `veil fl status`: the round as JSON.
pub async fn status(gw: &str, fed: &str) -> Result<String> {
    let v = view(gw, fed).await?.map_err(|p| refused(&p))?;
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// `veil fl run`: one JSON line per round through `say`.
pub async fn run(o: &FlRunOptions, clock: fn() -> u64, mut say: impl FnMut(&str)) -> Result<()> {
    let ledger = if o.record { Some(o.ledger.connect(clock).await?) } else { None };
    let (owner, fed) = o.roster.owner(&o.federation.name)?;
    let spec = o.training.spec()?;
    let (_, (test, test_labels)) = bundled_data()?;
    veil_fs::create_private_dir(&o.out)?;
    let gw = o.federation.gateway.trim_end_matches('/');
    let model_key = crate::keys::read_identity(&o.model_key)?;
    // The first model is sealed to the aggregator's attested sealing key and the
    // federation's; each round's outcome comes back sealed to both, and is the next
    // start's model as it is.
    let (_, _, enclave_key) = attested_aggregator(gw, &o.trust, clock).await?;
    let mut global = LrModel::zeros(spec.feature_min.len());
    let mut sealed = B64.encode(seal_model(&global, &[model_key.public_key(), enclave_key])?);
    for round in 1..=o.training.rounds {
        let model = StartModel {
            root: veil_fl::jcs_root(&global)?,
            sealed: sealed.clone(),
            key: model_key.public_key().to_string(),
        };
        let mut start = round_start(
            &o.federation.name,
            &owner,
            &fed,
            round,
            &o.roster.clients,
            &spec,
            model,
            o.stage_timeout_ms,
        );
        start.registry = ledger.as_ref().map(|l| veil_protocol::fl::RegistryRef {
            chain_id: l.client.chain_id(),
            address: l.client.deployment().federations.to_checksum(None),
        });
        let signed = veil_fl::sign_start(&owner, start)?;
        call::<RoundView>(http().post(format!("{gw}/v1/fl/rounds")).json(&signed))
            .await?
            .map_err(|p| refused(&p))?;
        let outcome = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let v = view(gw, &fed).await?.map_err(|p| refused(&p))?;
            if v.start.start.config.round != round {
                return Err(StackError::Config(format!(
                    "the aggregator moved to round {}",
                    v.start.start.config.round
                )));
            }
            if let Some(p) = v.aborted {
                return Err(StackError::Config(format!("round {round} aborted: {}", refused(&p))));
            }
            if let Some(o) = v.outcome {
                break o;
            }
        };
        let (event, next) = check_outcome(&outcome, &fed, round, veil_fl::jcs_root(&global)?, &model_key)?;
        let recorded = match &ledger {
            Some(l) => Some(record_round(l, &fed, &outcome, &event).await?),
            None => None,
        };
        let receipt = outcome.receipt.to_json_pretty();
        veil_fs::write_atomic(o.out.join(format!("round-{round}.receipt.json")), receipt.as_bytes())?;
        let logged = match &o.log {
            Some(url) => {
                let inclusion = veil_tlog_http::LogClient::new(url)
                    .submit_receipt(receipt.as_bytes())
                    .await
                    .map_err(|e| StackError::Config(format!("the transparency log: {e}")))?;
                let json =
                    serde_json::to_vec_pretty(&inclusion).map_err(|e| StackError::Config(e.to_string()))?;
                veil_fs::write_atomic(o.out.join(format!("round-{round}.inclusion.json")), &json)?;
                Some(inclusion.index)
            }
            None => None,
        };
        global = next;
        sealed = outcome.global_sealed.clone();
        let accuracy = veil_fl::lr::accuracy(&global, &spec, &test, &test_labels);
        say(&serde_json::json!({
            "round": round, "global_root": outcome.global_root, "sealed_root": outcome.sealed_root, "survivors": event.survivors,
            "dropped": event.dropped, "accuracy": accuracy, "receipt": outcome.receipt.id, "recorded_gas": recorded, "log_index": logged,
        })
        .to_string());
    }
    let model = serde_json::to_vec_pretty(&global).map_err(|e| StackError::Config(e.to_string()))?;
    veil_fs::write_atomic(o.out.join("model.json"), &model)?;
    Ok(())
}

/// Record a finished round on the ledger: only a record that states this round's
/// receipt, models and commitments, signed by the federation's registered aggregator,
/// is sent (the registry checks the signature again).
async fn record_round(
    l: &crate::ledger::Ledger,
    fed: &str,
    o: &RoundOutcome,
    event: &FlRound,
) -> Result<u64> {
    let r = o
        .record
        .as_ref()
        .ok_or_else(|| StackError::Config("the aggregator did not sign the round's record".into()))?;
    let b = |root: veil_content::Root| alloy::primitives::B256::from(root.0);
    let fid = alloy::primitives::keccak256(fed.as_bytes());
    let receipt_id: alloy::primitives::B256 = o
        .receipt
        .id
        .trim_start_matches("sha256:")
        .parse()
        .map_err(|_| StackError::Config("receipt id".into()))?;
    let roots: Vec<alloy::primitives::B256> = event
        .survivors
        .iter()
        .map(|c| event.update_roots.get(&c.to_string()).map_or(Default::default(), |r| b(*r)))
        .collect();
    let info = l.client.fl_federation(fid).await?;
    if r.federation != fid
        || r.chain_id != l.client.chain_id()
        || r.registry.parse::<alloy::primitives::Address>().ok() != Some(l.client.deployment().federations)
        || r.global_model != b(event.global_root)
        || r.previous_model != b(event.previous_root)
        || r.receipt_id != receipt_id
        || r.survivors != event.survivors
        || r.update_roots != roots
        || r.aggregator != info.aggregator
    {
        return Err(StackError::Config(format!(
            "round {}'s record does not state its receipt, or is not signed by the registered aggregator {}",
            r.round, info.aggregator
        )));
    }
    let rec = veil_ledger::RecordedRound {
        round: r.round,
        start_root: r.start_root,
        previous_model: r.previous_model,
        global_model: r.global_model,
        receipt_id: r.receipt_id,
        survivors: r.survivors.clone(),
        update_roots: r.update_roots.clone(),
    };
    Ok(l.client.fl_record_round(fid, &rec, r.signature.clone()).await?)
}

/// `veil fl create`: check the aggregator's evidence for a fresh nonce, then create the
/// federation on the ledger naming the chain key that evidence binds. Returns what
/// was created, as JSON.
pub async fn create(o: &FlCreateOptions, clock: fn() -> u64) -> Result<String> {
    let (owner, fed) = o.roster.owner(&o.federation.name)?;
    let clients = o
        .roster
        .clients
        .iter()
        .map(|k| {
            veil_fl::parse_key(k)
                .map(|k| alloy::primitives::B256::from(k.to_bytes()))
                .map_err(StackError::Config)
        })
        .collect::<Result<Vec<_>>>()?;
    let (aggregator, measurement, _) = attested_aggregator(&o.federation.gateway, &o.trust, clock).await?;
    let ledger = o.ledger.connect(clock).await?;
    let fid = ledger
        .client
        .fl_create(&fed, alloy::primitives::B256::from(owner.verifying_key().to_bytes()), clients, aggregator)
        .await?;
    Ok(serde_json::json!({"federation": fed, "key": fid, "aggregator": aggregator, "measurement": measurement})
        .to_string())
}

/// The chain key of the gateway's aggregating worker, from its evidence for a fresh
/// nonce verified under `trust`, and the measurement it showed.
async fn attested_aggregator(
    gateway: &str,
    trust: &crate::trust::TrustFiles,
    clock: fn() -> u64,
) -> Result<(alloy::primitives::Address, String, veil_seal::PublicKey)> {
    let trust = trust.load()?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| StackError::Config(format!("random: {e}")))?;
    let nonce = hex::encode(raw);
    let gw = gateway.trim_end_matches('/');
    let answer: veil_protocol::AttestationResponse =
        call(http().get(format!("{gw}/v1/fl/attestation?nonce={nonce}"))).await?.map_err(|p| refused(&p))?;
    let claims = veil_verify::verify_attestation_answer(
        &answer.evidence,
        &nonce,
        veil_protocol::ATTESTATION_PURPOSE,
        &trust,
        clock(),
    )
    .map_err(|e| StackError::Config(format!("the aggregator's evidence: {e} ({})", e.code())))?;
    let aggregator = answer
        .evidence
        .runtime_data
        .as_ref()
        .and_then(|rd| rd.public_keys.get(veil_worker::CHAIN_KEY))
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| StackError::Config("the aggregator's evidence binds no chain key".into()))?;
    let sealing = answer
        .evidence
        .runtime_data
        .as_ref()
        .and_then(|rd| rd.public_keys.get("hpke"))
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| StackError::Config("the aggregator's evidence binds no sealing key".into()))?;
    Ok((aggregator, claims.measurement_id.as_str().to_owned(), sealing))
}

/// `model`'s JCS bytes sealed to `to`.
fn seal_model(model: &LrModel, to: &[veil_seal::PublicKey]) -> Result<Vec<u8>> {
    let mut sealed = Vec::new();
    veil_seal::seal(veil_fl::jcs_bytes(model)?.as_slice(), &mut sealed, to)?;
    Ok(sealed)
}

/// A sealed model (standard base64) opened with `key`, checked against `root`.
fn open_model(sealed: &str, key: &veil_seal::Identity, root: veil_content::Root) -> Result<LrModel> {
    let bad = |m: String| StackError::Config(format!("the global model: {m}"));
    let bytes = B64.decode(sealed).map_err(|e| bad(format!("not base64: {e}")))?;
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    veil_seal::open(bytes.as_slice(), &mut *plain, key)
        .map_err(|e| bad(format!("does not open with the federation's model key: {e}")))?;
    let model: LrModel = serde_json::from_slice(&plain).map_err(|e| bad(e.to_string()))?;
    if veil_fl::jcs_root(&model)? != root {
        return Err(bad(format!("it is not the model {root} the round names")));
    }
    Ok(model)
}

/// `veil fl set-aggregator`: name the gateway's aggregating worker (after checking its
/// evidence) as the federation's aggregator on the ledger — after that worker
/// restarted with a new chain key. The ledger key must be the federation's owner.
pub async fn set_aggregator(o: &FlSetAggregatorOptions, clock: fn() -> u64) -> Result<String> {
    let (aggregator, measurement, _) = attested_aggregator(&o.gateway, &o.trust, clock).await?;
    let ledger = o.ledger.connect(clock).await?;
    let fid = alloy::primitives::keccak256(o.federation.as_bytes());
    ledger.client.fl_set_aggregator(fid, aggregator).await?;
    Ok(serde_json::json!({"federation": o.federation, "aggregator": aggregator, "measurement": measurement})
        .to_string())
}

/// `veil fl history`: the federation, then each recorded round, as JSON lines.
pub async fn history(
    fed: &str,
    ledger: &crate::ledger::LedgerTarget,
    clock: fn() -> u64,
    mut say: impl FnMut(&str),
) -> Result<()> {
    let l = ledger.connect(clock).await?;
    let fid = alloy::primitives::keccak256(fed.as_bytes());
    let info = l.client.fl_federation(fid).await?;
    say(&serde_json::to_string(&info).unwrap_or_default());
    for round in 1..=info.round {
        if let Some(r) = l.client.fl_round(fid, round).await? {
            say(&serde_json::to_string(&r).unwrap_or_default());
        }
    }
    Ok(())
}

/// What a round's outcome must show before its model is taken: a receipt that
/// verifies, of mode `fl`, for this federation and round, from the model the round
/// started at (`previous`) to the model handed back, sealed as stored; the model,
/// opened with the federation's model key.
pub fn check_outcome(
    o: &RoundOutcome,
    fed: &str,
    round: u64,
    previous: veil_content::Root,
    model_key: &veil_seal::Identity,
) -> Result<(FlRound, LrModel)> {
    let bytes = serde_json::to_vec(&o.receipt).map_err(|e| StackError::Config(e.to_string()))?;
    let v =
        veil_receipt::verify(&bytes).map_err(|e| StackError::Config(format!("the round's receipt: {e}")))?;
    let root = o.global_root;
    let event = v
        .receipt
        .events
        .iter()
        .find_map(|e| e.payload::<FlRound>())
        .and_then(|e| e.ok())
        .ok_or_else(|| StackError::Config("the round's receipt has no fl.round event".into()))?;
    let sealed =
        B64.decode(&o.global_sealed).map_err(|e| StackError::Config(format!("the sealed model: {e}")))?;
    if v.receipt.mode != veil_receipt::Mode::Fl
        || v.receipt.output_hash != root
        || event.global_root != root
        || event.previous_root != previous
        || v.receipt.model_hash != Some(previous)
        || event.federation != fed
        || event.round != round
        || event.sealed_root != Some(o.sealed_root)
        || veil_content::root_of(&sealed)? != o.sealed_root
    {
        return Err(StackError::Config(format!(
            "round {round}'s receipt does not state this round and model"
        )));
    }
    let model = open_model(&o.global_sealed, model_key, root)?;
    Ok((event, model))
}

/// Fixed point: updates within ±4, 20 fraction bits, weights up to 1,000 rows — at
/// most 255 · 4 · 2²⁰ < 2³¹, so no sum wraps.
const CLIP: f32 = 4.0;
const SCALE_BITS: u32 = 20;
const MAX_WEIGHT: u64 = 1000;

/// `veil fl join`: one JSON line per round through `say`.
pub async fn join(o: &FlJoinOptions, mut say: impl FnMut(&str)) -> Result<()> {
    let key = crate::keys::read_identity(&o.key)?.signing_key();
    let model_key = crate::keys::read_identity(&o.model_key)?;
    let owner = veil_fl::parse_key(&o.owner).map_err(StackError::Config)?;
    let fed = veil_fl::federation_id(&o.federation.name, &owner)
        .ok_or_else(|| StackError::Config(format!("{:?} is not a federation name", o.federation.name)))?;
    if o.id == 0 || o.id > o.of {
        return Err(StackError::Config(format!("client {} of {}", o.id, o.of)));
    }
    let ((train, labels), _) = bundled_data()?;
    let mine = veil_fl::shard::non_iid(&labels, o.of as usize, o.id as usize - 1)?;
    let rows: Vec<Vec<f32>> = mine.iter().map(|&i| train[i].clone()).collect();
    let ys: Vec<u8> = mine.iter().map(|&i| labels[i]).collect();
    let gw = o.federation.gateway.trim_end_matches('/');
    for round in 1..=o.rounds {
        let start = wait_for_round(gw, &fed, round, Duration::from_secs(o.wait_secs)).await?;
        let s = &start.start;
        let global = open_model(&s.global_sealed, &model_key, s.global_root)?;
        veil_fl::check_global(s, &global)?;
        let (update, weight) = veil_fl::local_update(&s.spec, &global, &rows, &ys, s.config.clip)?;
        let started = s.global_root;
        let (mut p, ad) = veil_fl::Participant::join(key.clone(), o.id, &owner, &o.federation.name, start)?;
        post(gw, &fed, &ad).await?;
        let mut my_root = None;
        let mut stages = 0;
        while stages < 3 {
            let got: std::result::Result<StageInput, Problem> =
                call(http().get(format!("{gw}/v1/fl/{fed}/rounds/{round}/input/{}", o.id))).await?;
            let input = match got {
                Ok(i) => i,
                Err(p) if p.code == ErrorCode::FlWrongStage => {
                    let v = view(gw, &fed).await?.map_err(|p| refused(&p))?;
                    if matches!(v.stage, Stage::Done | Stage::Aborted) {
                        break;
                    }
                    continue;
                }
                Err(p) => return Err(refused(&p)),
            };
            let msg = p.answer(input, &update, weight)?;
            if let FlBody::Masked(m) = &msg.body {
                if o.drop_in_round == Some(round) {
                    break;
                }
                let bytes: Vec<u8> = m.vector.iter().flat_map(|w| w.to_le_bytes()).collect();
                my_root = Some(veil_content::root_of(&bytes)?);
            }
            post(gw, &fed, &msg).await?;
            stages += 1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(o.wait_secs);
        let line = loop {
            let got: std::result::Result<RoundOutcome, Problem> =
                call(http().get(format!("{gw}/v1/fl/{fed}/rounds/{round}"))).await?;
            match got {
                Ok(out) => {
                    let (event, _) = check_outcome(&out, &fed, round, started, &model_key)?;
                    let included =
                        my_root.is_some_and(|r| event.update_roots.get(&o.id.to_string()) == Some(&r));
                    if my_root.is_some() && !included {
                        return Err(StackError::Config(format!(
                            "round {round}'s receipt does not commit to the update this client sent"
                        )));
                    }
                    break serde_json::json!({"client": o.id, "round": round, "included": included,
                        "global_root": out.global_root});
                }
                Err(p) if p.code == ErrorCode::FlWrongStage && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(p) => {
                    break serde_json::json!({"client": o.id, "round": round, "aborted": p.detail, "code": p.code.as_str()});
                }
            }
        };
        say(&line.to_string());
    }
    Ok(())
}

async fn post(gw: &str, fed: &str, msg: &FlMessage) -> Result<()> {
    call::<serde_json::Value>(http().post(format!("{gw}/v1/fl/{fed}/messages")).json(msg))
        .await?
        .map(|_| ())
        .map_err(|p| refused(&p))
}

/// Wait until round `round` of `fed` is taking advertisements.
async fn wait_for_round(gw: &str, fed: &str, round: u64, wait: Duration) -> Result<SignedRoundStart> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match view(gw, fed).await? {
            Ok(v) if v.start.start.config.round == round && v.stage == Stage::Advertise => return Ok(v.start),
            Ok(v) if v.start.start.config.round > round => {
                return Err(StackError::Config(format!("round {round} of {fed} is over")));
            }
            Ok(_) => {}
            Err(p) if p.code == ErrorCode::FlUnknownRound => {}
            Err(p) => return Err(refused(&p)),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StackError::Config(format!(
                "round {round} of {fed} did not open within {} s",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What `veil bench fl` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct FlBenchOptions {
    /// Clients (the training split is divided among them by the fixed non-IID rule).
    #[arg(long, default_value_t = 5)]
    pub clients: u32,
    /// Rounds and local training.
    #[command(flatten)]
    pub training: TrainArgs,
}

/// Run a federation in this process — every client's training, signed messages and
/// secure aggregation, the aggregator's session — and report held-out accuracy and
/// wall time per round, beside the same model trained centrally for rounds × epochs.
pub fn bench_fl(o: &FlBenchOptions) -> Result<String> {
    let spec = o.training.spec()?;
    let ((train, labels), (test, test_labels)) = bundled_data()?;
    let n = o.clients;
    let owner = ed25519_dalek::SigningKey::from_bytes(&[0xee; 32]);
    let keys: Vec<ed25519_dalek::SigningKey> =
        (1..=n).map(|c| ed25519_dalek::SigningKey::from_bytes(&[c as u8; 32])).collect();
    let keys_hex: Vec<String> = keys.iter().map(|k| hex::encode(k.verifying_key().as_bytes())).collect();
    let fed = veil_fl::federation_id("bench", &owner.verifying_key())
        .ok_or_else(|| StackError::Config("name".into()))?;
    let shards = (0..n as usize)
        .map(|k| {
            let rows = veil_fl::shard::non_iid(&labels, n as usize, k)?;
            Ok((
                rows.iter().map(|&i| train[i].clone()).collect::<Vec<_>>(),
                rows.iter().map(|&i| labels[i]).collect::<Vec<u8>>(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut global = LrModel::zeros(spec.feature_min.len());
    let mut last = None;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "federated logistic regression: {n} clients (non-IID), {} rounds × {} local epochs, secure aggregation",
        o.training.rounds, o.training.epochs
    );
    let started = Instant::now();
    for round in 1..=o.training.rounds {
        let t = Instant::now();
        // In one process nothing travels, so nothing is sealed.
        let model =
            StartModel { root: veil_fl::jcs_root(&global)?, sealed: String::new(), key: String::new() };
        let start = round_start("bench", &owner, &fed, round, &keys_hex, &spec, model, 1000);
        let signed = veil_fl::sign_start(&owner, start)?;
        let mut session = veil_fl::Session::open(signed.clone(), global.clone(), last.as_ref())?;
        let mut parts = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let (p, ad) = veil_fl::Participant::join(
                k.clone(),
                i as u32 + 1,
                &owner.verifying_key(),
                "bench",
                signed.clone(),
            )?;
            session.submit(ad)?;
            let (update, weight) = veil_fl::local_update(&spec, &global, &shards[i].0, &shards[i].1, CLIP)?;
            parts.push((p, update, weight));
        }
        for _ in 0..3 {
            session.advance();
            for (p, update, weight) in parts.iter_mut() {
                if let Some(input) = session.input_for(p.id()) {
                    session.submit(p.answer(input, update, *weight)?)?;
                }
            }
        }
        session.advance();
        let f = match session.result() {
            Some(Ok(f)) => f.clone(),
            Some(Err(e)) => return Err(e.clone().into()),
            None => return Err(StackError::Config("the round did not finish".into())),
        };
        global = f.global;
        last = Some(veil_fl::LastRound { round, global_root: f.global_root });
        let acc = veil_fl::lr::accuracy(&global, &spec, &test, &test_labels);
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({"round": round, "accuracy": acc, "wall_ms": (t.elapsed().as_secs_f64() * 1e4).round() / 10.0})
        );
    }
    let total = started.elapsed();
    let central_spec = TrainSpec { epochs: o.training.epochs * o.training.rounds as u32, ..spec.clone() };
    let central =
        veil_fl::lr::train(&central_spec, &LrModel::zeros(spec.feature_min.len()), &train, &labels)?;
    let _ = writeln!(
        out,
        "{}",
        serde_json::json!({"total_s": (total.as_secs_f64() * 100.0).round() / 100.0,
            "central_accuracy": veil_fl::lr::accuracy(&central, &spec, &test, &test_labels)})
    );
    Ok(out)
}
