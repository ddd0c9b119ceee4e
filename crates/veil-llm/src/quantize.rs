//! Requantizing a GGUF file to Q8_0 with candle's own quantizer.
//!
//! candle has SIMD kernels for Q8_0 but not for Q4_1 (the format the bundled SmolLM2
//! ships in), where it runs 1.7–4× slower; converting once at install time costs a
//! second. The output is deterministic (metadata and tensors in name order), so every
//! install of the same input yields the same weights root.

use std::io::{Cursor, Read, Seek, Write};

use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};

use crate::LlmError;

/// llama.cpp's `general.file_type` for "mostly Q8_0".
const FILE_TYPE_Q8_0: u32 = 7;

/// What a requantization did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantized {
    /// Tensors converted to Q8_0.
    pub converted: usize,
    /// Tensors copied as they were (norms, vectors, tensors already Q8_0).
    pub kept: usize,
}

fn fmt_err(e: impl std::fmt::Display) -> LlmError {
    LlmError::Format(e.to_string())
}

/// The GGUF in `input` with every quantized matrix in Q8_0, as the new file's bytes.
/// `progress(done, total)` is called after each tensor.
pub fn requantize_q8_0<R: Read + Seek>(
    input: &mut R,
    mut progress: impl FnMut(usize, usize),
) -> Result<(Vec<u8>, Quantized), LlmError> {
    let ct = Content::read(input).map_err(fmt_err)?;
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    let mut report = Quantized { converted: 0, kept: 0 };
    for (i, name) in names.iter().enumerate() {
        let t = ct.tensor(input, name, &Device::Cpu).map_err(fmt_err)?;
        let convert = t.rank() == 2
            && !matches!(t.dtype(), GgmlDType::Q8_0 | GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
            && t.shape().elem_count() % GgmlDType::Q8_0.block_size() == 0;
        let t = if convert {
            report.converted += 1;
            QTensor::quantize(&t.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        } else {
            report.kept += 1;
            t
        };
        tensors.push((name.as_str(), t));
        progress(i + 1, names.len());
    }
    let file_type = Value::U32(FILE_TYPE_Q8_0);
    let mut metadata: Vec<(&str, &Value)> = ct
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), if k == "general.file_type" { &file_type } else { v }))
        .collect();
    metadata.sort_by_key(|(k, _)| *k);
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &refs).map_err(fmt_err)?;
    out.flush().map_err(fmt_err)?;
    Ok((out.into_inner(), report))
}
