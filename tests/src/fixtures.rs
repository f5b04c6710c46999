//! The bundled tiny model and the golden archives built from it (`cargo xtask fixtures`).

use std::fmt::Write as _;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use modeloci_archive::{Compression, Format, ModelPackager, PackOptions};
use modeloci_digest::Hasher;
use modeloci_spec::OciConfig;

/// The tiny model's directory below `fixtures/`.
pub const TINY_MODEL: &str = "models/tiny";

/// How a golden archive is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Maker {
    /// `modeloci pack` with this format and compression.
    Pack(Format, Compression),
    /// The reference implementation's layout.
    Reference,
}

/// A golden archive: its file name below `fixtures/golden/` and how it is made.
#[derive(Clone, Copy, Debug)]
pub struct Golden {
    pub file_name: &'static str,
    pub maker: Maker,
}

impl Golden {
    /// Whether modeloci wrote it (as opposed to the reference's layout).
    pub fn is_ours(&self) -> bool {
        self.maker != Maker::Reference
    }
}

/// The golden archives.
pub const GOLDEN: [Golden; 5] = [
    Golden {
        file_name: "tiny-1.0.0.tar",
        maker: Maker::Pack(Format::Modeloci, Compression::Gzip),
    },
    Golden {
        file_name: "tiny-1.0.0-zstd.tar",
        maker: Maker::Pack(Format::Modeloci, Compression::Zstd),
    },
    Golden {
        file_name: "tiny-1.0.0-none.tar",
        maker: Maker::Pack(Format::Modeloci, Compression::None),
    },
    Golden {
        file_name: "tiny-1.0.0-modelpack.tar",
        maker: Maker::Pack(Format::ModelPack, Compression::Gzip),
    },
    Golden {
        file_name: "tiny-1.0.0-reference.tar",
        maker: Maker::Reference,
    },
];

/// The tiny model's config for the ModelPack profile: metadata limited to descriptor fields.
pub fn modelpack_config() -> OciConfig {
    let serde_json::Value::Object(metadata) =
        serde_json::json!({"licenses": ["apache-2.0"], "authors": ["modeloci"]})
    else {
        unreachable!()
    };
    OciConfig::new("tiny", "1.0.0", "pytorch", "transformer").with_metadata(metadata)
}

/// The tiny model's config, with metadata in a key order that is not sorted.
pub fn tiny_config() -> OciConfig {
    let metadata = serde_json::json!({
        "license": "apache-2.0",
        "base_model": "none",
        "eval_accuracy": 0.5,
        "datasets": ["synthetic"]
    });
    let serde_json::Value::Object(metadata) = metadata else {
        unreachable!()
    };
    OciConfig::new("tiny", "1.0.0", "pytorch", "transformer").with_metadata(metadata)
}

/// A deterministic stream of standard normal numbers (splitmix64 + Box-Muller).
#[derive(Debug)]
pub struct Normal {
    state: u64,
    spare: Option<f64>,
}

impl Normal {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn sample(&mut self) -> f64 {
        if let Some(x) = self.spare.take() {
            return x;
        }
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }

    /// bf16 values of N(0, sigma), little-endian, filling `out` (even length).
    pub fn fill_bf16(&mut self, sigma: f64, out: &mut [u8]) {
        for pair in out.chunks_exact_mut(2) {
            let bits = ((self.sample() * sigma) as f32).to_bits();
            pair.copy_from_slice(&((bits >> 16) as u16).to_le_bytes());
        }
    }
}

/// A safetensors file of bf16 tensors drawn from N(0, 0.02).
pub fn safetensors(tensors: &[(&str, &[u64])], seed: u64) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0u64;
    for (name, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * 2;
        header.insert((*name).into(), serde_json::json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]}));
        offset += bytes;
    }
    let mut json = serde_json::Value::Object(header).to_string();
    while !json.len().is_multiple_of(8) {
        json.push(' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    let start = out.len();
    out.resize(start + usize::try_from(offset).expect("small"), 0);
    Normal::new(seed).fill_bf16(0.02, &mut out[start..]);
    out
}

/// Writes the tiny model: a Hugging Face style directory of about 20 KiB.
pub fn write_tiny_model(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("scripts"))?;
    std::fs::write(
        dir.join("README.md"),
        "# tiny\n\nA two-tensor model for modeloci's tests and first steps. Its weights are random.\n",
    )?;
    std::fs::write(
        dir.join("config.json"),
        "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n  \"hidden_size\": 16,\n  \
         \"num_attention_heads\": 2,\n  \"num_hidden_layers\": 1,\n  \"vocab_size\": 64,\n  \"torch_dtype\": \"bfloat16\"\n}\n",
    )?;
    std::fs::write(
        dir.join("generation_config.json"),
        "{\n  \"max_new_tokens\": 32,\n  \"temperature\": 0.7\n}\n",
    )?;
    let vocab: serde_json::Map<String, serde_json::Value> = (0..64)
        .map(|i| (format!("tok{i:02}"), serde_json::Value::from(i)))
        .collect();
    let tokenizer = serde_json::json!({"version": "1.0", "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "tok00"}});
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string_pretty(&tokenizer).expect("json"),
    )?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        "{\n  \"model_max_length\": 128\n}\n",
    )?;
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors(
            &[("embed.weight", &[64, 16]), ("lm_head.weight", &[64, 16])],
            42,
        ),
    )?;
    let script = dir.join("scripts/serve.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"serving tiny\"\n")?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Builds every golden archive of the model in `model_dir` into `out_dir`.
pub fn build_golden(model_dir: &Path, out_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out_dir)?;
    for golden in GOLDEN {
        let out = out_dir.join(golden.file_name);
        match golden.maker {
            Maker::Pack(format, compression) => {
                let options = PackOptions::default()
                    .with_format(format)
                    .with_compression(compression)
                    .with_output(&out);
                let config = if format == Format::ModelPack {
                    modelpack_config()
                } else {
                    tiny_config()
                };
                ModelPackager::with_options(options).pack(model_dir, &config)?;
            }
            Maker::Reference => crate::reference::write_archive(model_dir, &tiny_config(), &out)?,
        }
    }
    Ok(())
}

/// A readable listing of an archive: each entry (type, mode, size, sha256 of its data), then
/// the manifest (from `index.json` or the root `manifest.json`) pretty-printed.
pub fn listing(archive: &Path) -> io::Result<String> {
    let mut out = String::new();
    let mut tar = tar::Archive::new(std::fs::File::open(archive)?);
    let mut manifest = None;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Regular => '-',
            _ => '?',
        };
        let (mode, size) = (header.mode()?, header.size()?);
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let digest = Hasher::digest_bytes(&data).digest;
        let _ = writeln!(
            out,
            "{kind} {mode:04o} {size:>7} {} {path}",
            digest.short_hex(16)
        );
        if path == "manifest.json" {
            manifest = Some(data);
        }
    }
    if let Some(bytes) = manifest {
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        let _ = write!(
            out,
            "\nmanifest.json:\n{}\n",
            serde_json::to_string_pretty(&value).map_err(io::Error::other)?
        );
    }
    Ok(out)
}
