//! FHE inference on the bundled models (`veil fhe`, `veil bench fhe`): a model's
//! public quantisation turned into an evaluator, the client's key files, queries from
//! feature rows, answers decrypted to accumulators and classes, and the benchmark
//! that puts FHE beside the plaintext model on the whole held-out split.

use std::path::Path;
use std::time::{Duration, Instant};

use veil_content::Root;
use veil_fhe::{Answer, ClientKey, EncryptionKey, FheLinear, ParamSet, Query};
use veil_model::{Dataset, OnnxModel, QuantizedNet, class_of, dense_layers};
use zeroize::Zeroizing;

use crate::{Result, StackError};

/// Key, query and answer files stay far below this (a query holds at most 64
/// ciphertexts of ~110 KB).
pub const MAX_FHE_FILE_BYTES: u64 = 64 << 20;

/// The file names `veil fhe keygen` writes in its directory.
pub const SECRET_KEY_FILE: &str = "fhe.key";
/// The public key's file name.
pub const PUBLIC_KEY_FILE: &str = "fhe.pub";

/// A bundled model as FHE evaluates it: its int8 quantisation (public, so that
/// clients quantise their rows the same way) and the evaluator built from it.
pub struct FheModel {
    /// The bundled model's name.
    pub name: String,
    /// 0G root of its ONNX file.
    pub root: Root,
    /// The quantised network (one dense layer).
    pub net: QuantizedNet,
    /// Its dataset (training split for calibration, held-out split for accuracy).
    pub data: Dataset,
    /// The evaluator.
    pub linear: FheLinear,
    onnx: &'static [u8],
}

impl FheModel {
    /// The bundled model `name` under `set`; refused when it is not linear.
    pub fn bundled(name: &str, set: &ParamSet) -> Result<Self> {
        let (onnx, csv) = crate::stack::bundled(name).ok_or_else(|| {
            StackError::Config(format!(
                "unknown model {name:?}: the bundled models are breast-cancer-logreg and digits-mlp"
            ))
        })?;
        let data = Dataset::parse(csv)?;
        let net = QuantizedNet::quantize(&dense_layers(onnx)?, &data.train)?;
        let linear = veil_worker::fhe::evaluator(&net, set)
            .map_err(|e| StackError::Config(format!("{name}: {e} (breast-cancer-logreg is linear)")))?;
        let root = veil_content::root_of(onnx).map_err(|e| StackError::Config(e.to_string()))?;
        Ok(Self { name: name.to_owned(), root, net, data, linear, onnx })
    }

    /// Rows of raw features quantised as the model's first layer expects.
    pub fn quantize(&self, rows: &[Vec<f32>]) -> Result<Vec<Vec<i8>>> {
        Ok(rows.iter().map(|r| self.net.quantize_input(r)).collect::<Result<_, _>>()?)
    }

    /// The held-out rows' features.
    pub fn test_rows(&self) -> Vec<Vec<f32>> {
        self.data.test.iter().map(|(x, _)| x.clone()).collect()
    }
}

/// Write a new client key pair in `dir`: `fhe.key` (0600, never overwritten) and
/// `fhe.pub`; their sizes in bytes.
pub fn keygen(dir: &Path, set: &ParamSet) -> Result<(usize, usize)> {
    let mut rng = rand_09::rng();
    let key = ClientKey::generate(set, &mut rng);
    let (secret, public) = (key.to_bytes(), key.encryption_key(&mut rng).to_bytes());
    veil_fs::create_private_dir(dir).map_err(StackError::io(format!("creating {}", dir.display())))?;
    crate::keys::write_new_secret(&dir.join(SECRET_KEY_FILE), &secret)?;
    let pub_path = dir.join(PUBLIC_KEY_FILE);
    veil_fs::write_atomic(&pub_path, &public)
        .map_err(StackError::io(format!("writing {}", pub_path.display())))?;
    Ok((secret.len(), public.len()))
}

/// The client key in `path` (it must be private).
pub fn read_client_key(path: &Path, set: &ParamSet) -> Result<ClientKey> {
    veil_fs::check_private(path)?;
    let bytes = Zeroizing::new(veil_fs::read_limited(path, MAX_FHE_FILE_BYTES)?);
    ClientKey::from_bytes(set, &bytes).map_err(|e| StackError::Config(format!("{}: {e}", path.display())))
}

/// Read an FHE object file and decode it with `decode`, naming the file in errors.
pub fn read<T>(path: &Path, decode: impl FnOnce(&[u8]) -> veil_fhe::Result<T>) -> Result<T> {
    let bytes = veil_fs::read_limited(path, MAX_FHE_FILE_BYTES)?;
    decode(&bytes).map_err(|e| StackError::Config(format!("{}: {e}", path.display())))
}

/// Encrypt `rows` (raw features) for `model` under the key in `key_path`: the secret
/// key itself (fhe.key: smaller queries) or the public key (fhe.pub).
pub fn encrypt(model: &FheModel, key_path: &Path, set: &ParamSet, rows: &[Vec<f32>]) -> Result<Query> {
    let rows = model.quantize(rows)?;
    let mut rng = rand_09::rng();
    let bytes = Zeroizing::new(veil_fs::read_limited(key_path, MAX_FHE_FILE_BYTES)?);
    let named = |e: veil_fhe::FheError| StackError::Config(format!("{}: {e}", key_path.display()));
    match ClientKey::from_bytes(set, &bytes) {
        Ok(key) => {
            veil_fs::check_private(key_path)?;
            Ok(key.encrypt_rows(&rows, &mut rng)?)
        }
        Err(veil_fhe::FheError::Kind { .. }) => {
            Ok(EncryptionKey::from_bytes(set, &bytes).map_err(named)?.encrypt_rows(&rows, &mut rng)?)
        }
        Err(e) => Err(named(e)),
    }
}

/// Raw feature rows from a CSV file: one row per line, comma-separated numbers; a
/// first line that is not numbers (a header) is skipped, and so are columns past the
/// model's `features` (a dataset's target and split columns).
pub fn read_rows(path: &Path, features: usize) -> Result<Vec<Vec<f32>>> {
    let bytes = veil_fs::read_limited(path, MAX_FHE_FILE_BYTES)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| StackError::Config(format!("{} is not UTF-8 text", path.display())))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let parsed: Result<Vec<f32>, _> = cells.iter().take(features).map(|c| c.parse::<f32>()).collect();
        match parsed {
            Ok(row) if row.len() == features => rows.push(row),
            Err(_) if n == 0 => {}
            _ => {
                return Err(StackError::Config(format!(
                    "{} line {}: expected {features} numbers",
                    path.display(),
                    n + 1
                )));
            }
        }
    }
    if rows.is_empty() {
        return Err(StackError::Config(format!("{} holds no rows", path.display())));
    }
    Ok(rows)
}

/// A decrypted row: the model's accumulators and the class they select.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decrypted {
    /// The last layer's accumulators (int, exact).
    pub accumulators: Vec<i64>,
    /// The class index (the same rule as the plaintext model's).
    pub class: usize,
}

/// Decrypt `answer` with `key`.
pub fn decrypt(key: &ClientKey, answer: &Answer) -> Result<Vec<Decrypted>> {
    Ok(key
        .decrypt_answer(answer)?
        .into_iter()
        .map(|accumulators| Decrypted { class: class_of(&accumulators), accumulators })
        .collect())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// What `veil bench fhe` runs (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct FheBenchOptions {
    /// The bundled linear model.
    #[arg(long, default_value = "breast-cancer-logreg")]
    pub model: String,
    /// Runs; medians are reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Instead, one-row requests through a stack of its own: `tee` beside `hybrid`,
    /// HTTP, jobs, attested workers and receipts included.
    #[arg(long)]
    pub through_stack: bool,
}

/// `veil bench fhe`: for the model's whole held-out split, in one process, the float
/// model (tract), the int8 model in the clear, and FHE (client encrypt, server
/// evaluate, client decrypt): times (median of `runs`), sizes and accuracy, as
/// markdown.
pub fn bench(opts: &FheBenchOptions) -> Result<String> {
    let (name, runs) = (opts.model.as_str(), opts.runs);
    let set = ParamSet::standard()?;
    let model = FheModel::bundled(name, &set)?;
    let rows = model.test_rows();
    let labels: Vec<usize> = model.data.test.iter().map(|(_, y)| *y).collect();
    let runs = runs.max(1);
    let accuracy = |classes: &[usize]| {
        classes.iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / labels.len() as f64 * 100.0
    };

    let onnx = OnnxModel::load(model.onnx, &model.root)?;
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let mut float_times = Vec::new();
    let mut float_classes = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = onnx.run(rows.len(), &flat)?;
        float_times.push(t.elapsed());
        float_classes = (0..rows.len())
            .map(|i| {
                let logits = out.row("logits", i).unwrap_or_default();
                let scaled: Vec<i64> = logits.iter().map(|v| (f64::from(*v) * 1e6) as i64).collect();
                class_of(&scaled)
            })
            .collect();
    }
    let quantized = model.quantize(&rows)?;
    let mut int_times = Vec::new();
    let mut int_classes = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        int_classes = quantized
            .iter()
            .map(|x| Ok(class_of(&model.net.forward(x)?.iter().map(|a| i64::from(*a)).collect::<Vec<_>>())))
            .collect::<Result<Vec<_>>>()?;
        int_times.push(t.elapsed());
    }

    let mut rng = rand_09::rng();
    let t = Instant::now();
    let key = ClientKey::generate(&set, &mut rng);
    let keygen = t.elapsed();
    let public_query = key.encryption_key(&mut rng).encrypt_rows(&quantized, &mut rng)?.to_bytes().len();
    let (mut enc_t, mut eval_t, mut dec_t) = (Vec::new(), Vec::new(), Vec::new());
    let (mut query_bytes, mut answer_bytes, mut fhe_classes) = (0, 0, Vec::new());
    let mut ciphertexts = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let query = key.encrypt_rows(&quantized, &mut rng)?;
        let bytes = query.to_bytes();
        enc_t.push(t.elapsed());
        query_bytes = bytes.len();
        ciphertexts = query.ciphertexts();
        let t = Instant::now();
        let query = Query::from_bytes(&set, &bytes)?;
        let answer = model.linear.evaluate(&query)?.to_bytes();
        eval_t.push(t.elapsed());
        answer_bytes = answer.len();
        let t = Instant::now();
        let decrypted = decrypt(&key, &Answer::from_bytes(&set, &answer)?)?;
        dec_t.push(t.elapsed());
        fhe_classes = decrypted.iter().map(|d| d.class).collect();
    }
    // One row per request: the latency a single client sees on the server.
    let single = key.encrypt_rows(&quantized[..1], &mut rng)?.to_bytes();
    let mut one_t = Vec::new();
    for _ in 0..runs * 20 {
        let t = Instant::now();
        let answer = model.linear.evaluate(&Query::from_bytes(&set, &single)?)?.to_bytes();
        one_t.push(t.elapsed());
        std::hint::black_box(answer);
    }
    // A full query (the most ciphertexts one request carries, every one full): the
    // batched throughput of the server.
    let per_ct = set.degree() / model.linear.features();
    let batch: Vec<Vec<i8>> =
        quantized.iter().cycle().take(per_ct * veil_fhe::wire::MAX_QUERY_CIPHERTEXTS).cloned().collect();
    let full = key.encrypt_rows(&batch, &mut rng)?.to_bytes();
    let mut batch_t = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let answer = model.linear.evaluate(&Query::from_bytes(&set, &full)?)?.to_bytes();
        batch_t.push(t.elapsed());
        std::hint::black_box(answer);
    }
    let batch_t = median(batch_t);
    let exact = fhe_classes == int_classes;
    let (eval, int) = (median(eval_t), median(int_times));
    let n = rows.len();
    let per_row = |d: Duration| format!("{:.2} µs", d.as_secs_f64() * 1e6 / n as f64);
    Ok(format!(
        "FHE inference, {name}: the whole held-out split ({n} rows, {} features), \
         parameter set {} ({}), median of {runs} runs\n\n\
         | | total | per row |\n|---|---|---|\n\
         | float model (tract, plaintext) | {} | {} |\n\
         | int8 model (plaintext) | {} | {} |\n\
         | FHE client: encrypt (secret key) + encode | {} | {} |\n\
         | FHE server: decode + evaluate + encode | {} | {} |\n\
         | FHE client: decode + decrypt | {} | {} |\n\
         | FHE server, a one-row request: decode + evaluate + encode | {} | |\n\n\
         server time vs the int8 model in the clear: {:.0}×; rows per second (server): {:.0}\n\n\
         batched: a full query of {} rows ({} ciphertexts, {} B): server {} → {:.0} rows per second\n\n\
         sizes: secret key {} B, query {} B ({ciphertexts} ciphertexts; {} B under the public key), \
         answer {} B; keygen {}\n\n\
         accuracy: float {:.2}%, int8 {:.2}%, FHE {:.2}% (FHE classes equal the int8 model's on every \
         row: {exact}); worst-case noise 2^{:.1}\n",
        model.linear.features(),
        set.name(),
        set.hash_hex(),
        ms(median(float_times.clone())),
        per_row(median(float_times)),
        ms(int),
        per_row(int),
        ms(median(enc_t.clone())),
        per_row(median(enc_t)),
        ms(eval),
        per_row(eval),
        ms(median(dec_t.clone())),
        per_row(median(dec_t)),
        ms(median(one_t)),
        eval.as_secs_f64() / int.as_secs_f64().max(1e-9),
        n as f64 / eval.as_secs_f64(),
        batch.len(),
        veil_fhe::wire::MAX_QUERY_CIPHERTEXTS,
        full.len(),
        ms(batch_t),
        batch.len() as f64 / batch_t.as_secs_f64(),
        key.to_bytes().len(),
        query_bytes,
        public_query,
        answer_bytes,
        ms(keygen),
        accuracy(&float_classes),
        accuracy(&int_classes),
        accuracy(&fhe_classes),
        model.linear.noise_bits(),
    ))
}

/// What `veil fhe eval` evaluates (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct EvalOptions {
    /// The bundled linear model.
    #[arg(long, default_value = "breast-cancer-logreg")]
    pub model: String,
    /// The query (`veil fhe encrypt`).
    #[arg(long)]
    pub query: std::path::PathBuf,
    /// Where to write the answer.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// `veil fhe eval`: the model on the query, as a server evaluates it (with no key);
/// the answer written atomically; one line for people.
pub fn eval(opts: &EvalOptions, set: &ParamSet) -> Result<String> {
    let model = FheModel::bundled(&opts.model, set)?;
    let query = read(&opts.query, |b| Query::from_bytes(set, b))?;
    let bytes = model.linear.evaluate(&query)?.to_bytes();
    veil_fs::write_atomic(&opts.out, &bytes)?;
    Ok(format!(
        "{} rows evaluated by {}: {} ({} bytes)",
        query.rows(),
        model.name,
        opts.out.display(),
        bytes.len()
    ))
}

/// Which rows to encrypt, for which bundled linear model (flags of `veil fhe
/// encrypt` and `veil fhe infer`).
#[derive(Debug, Clone, clap::Args)]
pub struct RowSource {
    /// The bundled linear model the rows are for (the gateway evaluates its int8
    /// form, `<model>-int8`).
    #[arg(long, default_value = "breast-cancer-logreg")]
    pub model: String,
    /// Rows of raw features (CSV; a header line and extra columns are skipped).
    #[arg(long, required_unless_present = "test_split", conflicts_with = "test_split")]
    pub csv: Option<std::path::PathBuf>,
    /// Or the model's whole held-out split.
    #[arg(long)]
    pub test_split: bool,
}

impl RowSource {
    /// The model and the rows.
    pub fn load(&self, set: &ParamSet) -> Result<(FheModel, Vec<Vec<f32>>)> {
        let model = FheModel::bundled(&self.model, set)?;
        let rows = match &self.csv {
            Some(path) => read_rows(path, model.linear.features())?,
            None => model.test_rows(),
        };
        Ok((model, rows))
    }
}

/// What `veil fhe infer` does (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct FheInferOptions {
    /// The gateway's URL (`veil up` prints it).
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    pub gateway: String,
    /// Your FHE secret key (fhe.key, `veil fhe keygen`).
    #[arg(long)]
    pub key: std::path::PathBuf,
    /// The rows and their model.
    #[command(flatten)]
    pub rows: RowSource,
    /// `fhe` or `hybrid` (evaluated in an attested worker; today every worker is).
    #[arg(long, default_value = "hybrid", value_parser = parse_privacy)]
    pub privacy: veil_protocol::Privacy,
    /// Write the receipt here.
    #[arg(long)]
    pub receipt: Option<std::path::PathBuf>,
    /// How long to wait for the answer, seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Whose evidence the receipt must carry.
    #[command(flatten)]
    pub trust: crate::trust::TrustFiles,
}

fn parse_privacy(s: &str) -> std::result::Result<veil_protocol::Privacy, String> {
    match s {
        "fhe" => Ok(veil_protocol::Privacy::Fhe),
        "hybrid" => Ok(veil_protocol::Privacy::Hybrid),
        other => Err(format!("{other:?}: FHE inference is `fhe` or `hybrid`")),
    }
}

/// What `veil fhe infer` found.
#[derive(Debug)]
pub struct InferReport {
    /// The job's id.
    pub job: String,
    /// Each row, decrypted.
    pub rows: Vec<Decrypted>,
    /// The verified receipt's one-line summary.
    pub summary: String,
    /// The receipt's id.
    pub receipt_id: String,
    /// Query and answer sizes, bytes.
    pub sizes: (usize, usize),
}

impl InferReport {
    /// One line for people.
    pub fn line(&self) -> String {
        let (q, a) = self.sizes;
        format!(
            "job {}: query {q} B, answer {a} B; receipt {} verified: {}",
            self.job, self.receipt_id, self.summary
        )
    }
}

/// A client of the gateway's private-ML API for one bundled model's int8 form: its
/// key, the model it quantises rows for, and whose receipts it accepts.
pub struct FheClient {
    gateway: veil_gateway::GatewayClient,
    set: ParamSet,
    key: ClientKey,
    model: FheModel,
    /// The int8 network's root this client quantises rows for.
    expected: Root,
    trust: veil_verify::Trust,
    privacy: veil_protocol::Privacy,
    timeout: Duration,
}

/// One request's outcome, checked.
pub struct Exchanged {
    /// The report.
    pub report: InferReport,
    /// The receipt (JSON).
    pub receipt: String,
    /// Client time: quantise, encrypt and encode.
    pub encrypt: Duration,
    /// From sending the query to holding the settled job.
    pub round_trip: Duration,
    /// Client time: verify the receipt, check the exchange, decrypt.
    pub verify_decrypt: Duration,
}

impl FheClient {
    /// A client for `model` under `key`.
    pub fn new(
        gateway: &str,
        set: ParamSet,
        key: ClientKey,
        model: FheModel,
        trust: veil_verify::Trust,
        privacy: veil_protocol::Privacy,
        timeout: Duration,
    ) -> Result<Self> {
        let expected =
            veil_content::root_of(&model.net.to_file()).map_err(|e| StackError::Config(e.to_string()))?;
        let gateway = veil_gateway::GatewayClient::new(gateway.to_owned());
        Ok(Self { gateway, set, key, model, expected, trust, privacy, timeout })
    }

    /// The model rows are quantised for.
    pub fn model(&self) -> &FheModel {
        &self.model
    }

    /// Encrypt `rows`, submit them, wait for the job, verify its receipt (under the
    /// client's trust; about the very query sent and answer received; naming the int8
    /// network rows were quantised for) and decrypt.
    pub async fn infer(&self, rows: &[Vec<f32>]) -> Result<Exchanged> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let t = Instant::now();
        let query = self.key.encrypt_rows(&self.model.quantize(rows)?, &mut rand_09::rng())?.to_bytes();
        let body = veil_protocol::MlInferenceRequest {
            privacy: self.privacy,
            rows: None,
            query: Some(b64.encode(&query)),
        };
        let encrypt = t.elapsed();
        let t = Instant::now();
        let name = format!("{}{}", self.model.name, crate::stack::INT8_SUFFIX);
        let mut job = self.gateway.ml_inference(&name, &body).await?;
        if job.model_root != self.expected {
            return Err(StackError::Config(format!(
                "the gateway's {name} is {}, not the int8 model this client quantises rows for ({})",
                job.model_root, self.expected
            )));
        }
        let deadline = t + self.timeout;
        while job.state == veil_protocol::MlJobState::Running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StackError::Config(format!(
                    "job {} did not finish within {} s",
                    job.id,
                    self.timeout.as_secs()
                )));
            }
            // A long poll: the gateway answers as soon as the job settles.
            job = self.gateway.ml_job(&job.id, left.as_millis().min(30_000) as u64).await?;
        }
        let round_trip = t.elapsed();
        let t = Instant::now();
        let answer = match (job.result, job.error) {
            (Some(answer), _) => answer,
            (None, Some(problem)) => return Err(veil_gateway::ClientError::Refused(problem).into()),
            (None, None) => {
                return Err(StackError::Config(format!("job {} failed without a reason", job.id)));
            }
        };
        let output = answer
            .output
            .fhe()
            .ok_or_else(|| StackError::Config("the job answered no ciphertexts".into()))?;
        let answer_bytes = b64
            .decode(&output.answer)
            .map_err(|_| StackError::Config("the answer is not standard base64".into()))?;
        let receipt = answer.receipt.to_json_pretty();
        let verified = veil_verify::verify(receipt.as_bytes(), &self.trust)?;
        veil_verify::check_fhe_exchange(&verified.verified.receipt, &query, &answer_bytes)?;
        if verified.verified.receipt.model_hash != Some(self.expected) {
            return Err(StackError::Config(format!(
                "the receipt names another model than {}",
                self.expected
            )));
        }
        let decrypted = decrypt(&self.key, &Answer::from_bytes(&self.set, &answer_bytes)?)?;
        if decrypted.len() != rows.len() {
            return Err(StackError::Config(format!(
                "{} rows sent, {} answered",
                rows.len(),
                decrypted.len()
            )));
        }
        let report = InferReport {
            job: job.id,
            rows: decrypted,
            summary: verified.summary(),
            receipt_id: answer.receipt.id.to_string(),
            sizes: (query.len(), answer_bytes.len()),
        };
        Ok(Exchanged { report, receipt, encrypt, round_trip, verify_decrypt: t.elapsed() })
    }
}

/// `veil fhe infer`: [`FheClient::infer`] on the rows the options name, the receipt
/// written where asked.
pub async fn infer(opts: &FheInferOptions) -> Result<InferReport> {
    let set = ParamSet::standard()?;
    let (model, rows) = opts.rows.load(&set)?;
    let key = read_client_key(&opts.key, &set)?;
    let timeout = Duration::from_secs(opts.timeout);
    let client = FheClient::new(&opts.gateway, set, key, model, opts.trust.load()?, opts.privacy, timeout)?;
    let done = client.infer(&rows).await?;
    if let Some(path) = &opts.receipt {
        veil_fs::write_atomic(path, done.receipt.as_bytes())?;
    }
    Ok(done.report)
}

/// `veil bench fhe --through-stack`: one-row requests through a running stack's
/// private-ML API — plaintext rows to an attested worker (`tee`) beside encrypted rows
/// to an attested worker (`hybrid`), each from submission to a verified, decrypted
/// answer — as markdown, medians of `runs`.
pub async fn bench_api(stack: &crate::stack::Stack, runs: usize, work: &Path) -> Result<String> {
    let set = ParamSet::standard()?;
    let model = FheModel::bundled("breast-cancer-logreg", &set)?;
    let row = model.test_rows().swap_remove(0);
    keygen(&work.join("fhe-keys"), &set)?;
    let key = read_client_key(&work.join("fhe-keys").join(SECRET_KEY_FILE), &set)?;
    let trust = crate::trust::of_stack(&stack.dev_root, &stack.measurement)?;
    let timeout = Duration::from_secs(120);
    let privacy = veil_protocol::Privacy::Hybrid;
    let client = FheClient::new(&stack.gateway, set.clone(), key, model, trust.clone(), privacy, timeout)?;

    // The first request opens the sealed model in the worker.
    let first = client.infer(std::slice::from_ref(&row)).await?;
    let gateway = veil_gateway::GatewayClient::new(stack.gateway.clone());
    let plain = veil_protocol::MlInferenceRequest {
        privacy: veil_protocol::Privacy::Tee,
        rows: Some(vec![row.clone()]),
        query: None,
    };
    let (mut tee, mut tee_verify) = (Vec::new(), Vec::new());
    let (mut enc, mut trip, mut dec, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let mut job = gateway.ml_inference("breast-cancer-logreg", &plain).await?;
        while job.state == veil_protocol::MlJobState::Running {
            job = gateway.ml_job(&job.id, 30_000).await?;
        }
        let answer = job.result.ok_or_else(|| StackError::Config(format!("tee job: {:?}", job.error)))?;
        tee.push(t.elapsed());
        let t = Instant::now();
        veil_verify::verify(answer.receipt.to_json_pretty().as_bytes(), &trust)?;
        tee_verify.push(t.elapsed());

        let done = client.infer(std::slice::from_ref(&row)).await?;
        enc.push(done.encrypt);
        trip.push(done.round_trip);
        dec.push(done.verify_decrypt);
        total.push(done.encrypt + done.round_trip + done.verify_decrypt);
    }
    let (q, a) = first.report.sizes;
    Ok(format!(
        "One-row requests through the private-ML API of a one-worker stack (simulated TDX), median of \
         {runs} runs\n\n\
         | | tee (plaintext row) | hybrid (encrypted row) |\n|---|---|---|\n\
         | client: quantise, encrypt, encode | | {} |\n\
         | submit → settled job (HTTP, queue, worker, receipt) | {} | {} |\n\
         | client: verify receipt (+ check exchange, decrypt) | {} | {} |\n\
         | total | {} | {} |\n\n\
         the first hybrid request, which opens the sealed model in the worker: {}; query {q} B, answer {a} B\n",
        ms(median(enc)),
        ms(median(tee.clone())),
        ms(median(trip)),
        ms(median(tee_verify.clone())),
        ms(median(dec)),
        ms(median(tee) + median(tee_verify)),
        ms(median(total)),
        ms(first.encrypt + first.round_trip + first.verify_decrypt),
    ))
}
