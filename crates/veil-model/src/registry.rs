//! Models addressed by their weights root: the file lives in a Veil store (so every
//! read is verified against the root), and a small index maps names to roots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use veil_content::Root;
use veil_store::Store;

use crate::{ModelError, OnnxModel};

/// The largest ONNX file the registry accepts.
pub const MAX_MODEL_BYTES: u64 = 256 << 20;
/// The largest GGUF language model the registry accepts (it is held in memory while
/// its root is checked).
pub const MAX_LLM_BYTES: u64 = 16 << 30;

/// What sealing adds to a model file at most (header, recipients, a tag per 64 KiB
/// segment), so a sealed blob of the largest model still fits its bound.
pub const SEALING_OVERHEAD: u64 = (MAX_LLM_BYTES >> 16) * 16 + 64 * 1024;

/// A model file's format, which decides the engine that runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// ONNX, run by tract over a token's records.
    #[default]
    Onnx,
    /// GGUF (llama or qwen2 family): a language model answering from a token's documents.
    Gguf,
    /// An int8 network (`veil.int8/1`, [`crate::QuantizedNet`]'s file): evaluated on
    /// inputs encrypted under the client's FHE key.
    Int8,
}

impl ModelFormat {
    /// Whether this is the default (serialisers leave the default out, so indexes and
    /// worker configurations written before language models keep their bytes).
    pub fn is_onnx(&self) -> bool {
        *self == Self::Onnx
    }

    /// The largest file of this format.
    pub fn max_bytes(self) -> u64 {
        match self {
            Self::Onnx => MAX_MODEL_BYTES,
            Self::Gguf => MAX_LLM_BYTES,
            Self::Int8 => MAX_MODEL_BYTES,
        }
    }
}

/// What a model is for and how to call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    /// A stable name (`digits-mlp`).
    pub name: String,
    /// What it does, for people.
    pub task: String,
    /// Class labels, in output order.
    pub classes: Vec<String>,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisteredModel {
    /// The 0G root of the model file (its weights hash).
    pub root: Root,
    /// Features per input row (0 for a language model).
    pub features: usize,
    /// Its description.
    pub meta: ModelMeta,
    /// Its format (absent: ONNX).
    #[serde(default, skip_serializing_if = "ModelFormat::is_onnx")]
    pub format: ModelFormat,
    /// When the model is sealed at rest: the root of the sealed blob the store holds
    /// (`root` stays the weights root, which only the holder of the model's key can
    /// check, and which receipts name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Root>,
}

/// Seals a model file named by its weights root for storage at rest.
pub type Seal<'a> = dyn Fn(&Root, &[u8]) -> Result<Vec<u8>, String> + 'a;

/// The registry: a store for the files and an index file for the names.
#[derive(Debug)]
pub struct ModelRegistry {
    store: Store,
    index_path: PathBuf,
    index: BTreeMap<String, RegisteredModel>,
}

fn reg_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Registry(e.to_string())
}

impl ModelRegistry {
    /// Open the registry whose index is `index_path` (created on first register).
    pub fn open(store: Store, index_path: &Path) -> Result<Self, ModelError> {
        let index = match std::fs::read(index_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::Registry(format!("{}: {e}", index_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ModelError::Registry(format!("{}: {e}", index_path.display()))),
        };
        Ok(Self { store, index_path: index_path.to_path_buf(), index })
    }

    /// Register an ONNX file under `meta.name`: it must load, and a name stays bound
    /// to one root (registering the same file again is a no-op).
    pub async fn register(&mut self, onnx: Vec<u8>, meta: ModelMeta) -> Result<RegisteredModel, ModelError> {
        if onnx.len() as u64 > MAX_MODEL_BYTES {
            return Err(ModelError::Registry(format!(
                "model of {} bytes exceeds {MAX_MODEL_BYTES}",
                onnx.len()
            )));
        }
        let root = veil_content::root_of(&onnx).map_err(reg_err)?;
        let model = OnnxModel::load(&onnx, &root)?;
        let entry = RegisteredModel {
            root,
            features: model.features(),
            meta,
            format: ModelFormat::Onnx,
            sealed: None,
        };
        self.insert(onnx, entry).await
    }

    /// Register a GGUF language model under `meta.name`. Only its header is checked
    /// here (this crate does not link the LLM engine): the caller loads it first, and
    /// every worker loads it again, against its root, before serving it.
    pub async fn register_gguf(
        &mut self,
        gguf: Vec<u8>,
        meta: ModelMeta,
    ) -> Result<RegisteredModel, ModelError> {
        if gguf.len() as u64 > MAX_LLM_BYTES {
            return Err(ModelError::Registry(format!(
                "model of {} bytes exceeds {MAX_LLM_BYTES}",
                gguf.len()
            )));
        }
        if !gguf.starts_with(b"GGUF") {
            return Err(ModelError::Registry(format!("{} is not a GGUF file", meta.name)));
        }
        let root = veil_content::root_of(&gguf).map_err(reg_err)?;
        self.insert(
            gguf,
            RegisteredModel { root, features: 0, meta, format: ModelFormat::Gguf, sealed: None },
        )
        .await
    }

    /// Register an int8 network (FHE evaluates it on encrypted rows) under `meta.name`;
    /// with `seal`, sealed at rest: the store holds only what `seal` makes of the file
    /// (sealed to the key broker's key for the model), the index its weights root, its
    /// public shape and the sealed blob's root.
    pub async fn register_int8(
        &mut self,
        net: &crate::QuantizedNet,
        meta: ModelMeta,
        seal: Option<&Seal<'_>>,
    ) -> Result<RegisteredModel, ModelError> {
        let bytes = net.to_file();
        let net = crate::QuantizedNet::from_file(&bytes)?;
        let root = veil_content::root_of(&bytes).map_err(reg_err)?;
        let (stored, sealed) = match seal {
            Some(seal) => {
                let sealed = seal(&root, &bytes).map_err(ModelError::Registry)?;
                let blob = veil_content::root_of(&sealed).map_err(reg_err)?;
                (sealed, Some(blob))
            }
            None => (bytes, None),
        };
        let features = net.input_scales.len();
        let entry = RegisteredModel { root, features, meta, format: ModelFormat::Int8, sealed };
        self.insert(stored, entry).await
    }

    /// Store `bytes` and bind `entry`'s name to its root, once.
    async fn insert(
        &mut self,
        bytes: Vec<u8>,
        entry: RegisteredModel,
    ) -> Result<RegisteredModel, ModelError> {
        let (root, meta) = (entry.root, &entry.meta);
        if let Some(existing) = self.index.get(&meta.name) {
            if existing == &entry {
                return Ok(existing.clone());
            }
            return Err(ModelError::Registry(format!(
                "{} is already registered as {}",
                meta.name, existing.root
            )));
        }
        let put = self.store.put_bytes(bytes).await.map_err(reg_err)?;
        debug_assert_eq!(put.root, entry.sealed.unwrap_or(root));
        let mut index = self.index.clone();
        index.insert(entry.meta.name.clone(), entry.clone());
        let json = serde_json::to_vec_pretty(&index).expect("index serialises");
        veil_fs::write_atomic(&self.index_path, &json).map_err(reg_err)?;
        self.index = index;
        Ok(entry)
    }

    /// Every registered model, by name.
    pub fn list(&self) -> impl Iterator<Item = &RegisteredModel> {
        self.index.values()
    }

    /// A model by name or by root (`0x…`).
    pub fn find(&self, name_or_root: &str) -> Result<&RegisteredModel, ModelError> {
        self.index
            .get(name_or_root)
            .or_else(|| {
                let root: Root = name_or_root.parse().ok()?;
                self.index.values().find(|m| m.root == root)
            })
            .ok_or_else(|| ModelError::Unknown(name_or_root.to_owned()))
    }

    /// A model's file, verified against its root by the store (for a sealed model,
    /// the sealed blob, verified against the blob's root).
    pub async fn fetch(&self, name_or_root: &str) -> Result<(RegisteredModel, Vec<u8>), ModelError> {
        let entry = self.find(name_or_root)?.clone();
        let limit = entry.format.max_bytes() + SEALING_OVERHEAD;
        let bytes =
            self.store.get_bytes(&entry.sealed.unwrap_or(entry.root), limit).await.map_err(reg_err)?;
        Ok((entry, bytes))
    }

    /// Fetch a model's file and load it (checked against its root once more).
    pub async fn load(&self, name_or_root: &str) -> Result<(RegisteredModel, OnnxModel), ModelError> {
        let (entry, bytes) = self.fetch(name_or_root).await?;
        let model = OnnxModel::load(&bytes, &entry.root)?;
        Ok((entry, model))
    }
}
