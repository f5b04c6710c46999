//! `cargo xtask bench`: modeloci against the tools a user would otherwise script together,
//! measured in the same run, interleaved, medians reported.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use modeloci_tests::fixtures::Normal;

use crate::util::{ensure_debian_tools, root, sh, timed};

mod many_files;
mod push;
mod python;
mod signing;
mod single;
mod transfer;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Size of the synthetic model: 512M, 1G, 4G...
    #[arg(long, default_value = "1G")]
    size: String,
    /// Runs of each command; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also run the single-file rows, each against its baseline with peak RSS, on a model of
    /// one file of this size (e.g. 20G; the disk must hold it and two copies).
    #[arg(long)]
    single_file: Option<String>,
    /// Also time the reference implementation's algorithm (Python, gzip level 9, one thread,
    /// each blob in memory) once; it takes minutes.
    #[arg(long)]
    reference: bool,
    /// Skip the signing rows (sign, verify --key, verify --dir against `model_signing` 1.1.1,
    /// the OpenSSF tool, which they install into a venv under target/ on first use, from PyPI).
    #[arg(long)]
    no_signing: bool,
    /// Skip the transfer rows (push and pull through a proxy adding 40 ms each way and
    /// capping each connection at 50 MiB/s, against `skopeo copy`).
    #[arg(long)]
    no_transfer: bool,
    /// Also the Python rows: `ModelPackager().package` of the wheel (built first) against the
    /// CLI's `pack` and the reference's algorithm (minutes at 1 GiB).
    #[arg(long)]
    python: bool,
    /// Only the Python rows (implies --python).
    #[arg(long)]
    python_only: bool,
    /// Skip the many-files rows (pack, verify and unpack of 100,000 small files).
    #[arg(long)]
    no_many_files: bool,
    /// Only the in-process hashing figure.
    #[arg(long)]
    hash_only: bool,
}

fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('G' | 'g') => (&s[..s.len() - 1], 1u64 << 30),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('K' | 'k') => (&s[..s.len() - 1], 1 << 10),
        _ => (s, 1),
    };
    let value: f64 = num.parse().with_context(|| format!("size {s:?}"))?;
    Ok((value * mult as f64) as u64)
}

/// One measured run: wall seconds and peak RSS in KiB, from GNU time.
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    rss_kib: u64,
}

fn measure(script: &str, dir: &Path) -> Result<Sample> {
    let stats = dir.join("time.out");
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&stats)
        .args(["sh", "-c", script])
        .current_dir(dir)
        .status()
        .context("running /usr/bin/time")?;
    if !status.success() {
        bail!("benchmark command failed: {script}");
    }
    let text = fs::read_to_string(&stats)?;
    let mut parts = text.split_whitespace();
    let wall: f64 = parts.next().context("time output")?.parse()?;
    let rss_kib: u64 = parts.next().context("time output")?.parse()?;
    Ok(Sample { wall, rss_kib })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A comparison: our command against a baseline, each preceded by its clean-up.
struct Case {
    name: &'static str,
    ours: String,
    baseline: String,
    baseline_name: &'static str,
    cleanup: String,
    /// The ratio to stay under; `None` for a row that only informs.
    target: Option<f64>,
}

struct Row {
    name: &'static str,
    baseline_name: &'static str,
    ours: f64,
    theirs: f64,
    ratio: f64,
    rss_ours: u64,
    rss_theirs: u64,
    target: Option<f64>,
}

impl Row {
    /// The medians of both tools' runs and the median of the per-run ratios.
    fn new(
        name: &'static str,
        baseline_name: &'static str,
        ours: Samples,
        theirs: Samples,
        target: Option<f64>,
    ) -> Self {
        let ratios = ours
            .walls
            .iter()
            .zip(&theirs.walls)
            .map(|(a, b)| a / b)
            .collect();
        Row {
            name,
            baseline_name,
            ours: median(ours.walls),
            theirs: median(theirs.walls),
            ratio: median(ratios),
            rss_ours: ours.rss_kib,
            rss_theirs: theirs.rss_kib,
            target,
        }
    }
}

/// Writes the synthetic model once: bf16 weights from N(0, 0.02) in two shards, a multi-MB
/// tokenizer JSON, small configs, a nested folder.
fn synthetic_model(dir: &Path, size: u64, shards: u64) -> Result<()> {
    let marker = dir.with_extension("complete");
    if marker.exists() {
        return Ok(());
    }
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir.join("nested/docs"))?;
    eprintln!(
        "generating a {} MiB synthetic model in {}",
        size >> 20,
        dir.display()
    );
    let mut tokenizer =
        String::from("{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{");
    let mut i = 0u64;
    while tokenizer.len() < 6 << 20 {
        let _ = write!(
            tokenizer,
            "{}\"tok_{i:x}_{}\":{i}",
            if i == 0 { "" } else { "," },
            i * 7919 % 1009
        );
        i += 1;
    }
    tokenizer.push_str("}}}");
    fs::write(dir.join("tokenizer.json"), &tokenizer)?;
    fs::write(
        dir.join("config.json"),
        "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"torch_dtype\":\"bfloat16\"}\n",
    )?;
    fs::write(
        dir.join("generation_config.json"),
        "{\"max_new_tokens\":256}\n",
    )?;
    fs::write(
        dir.join("nested/docs/README.md"),
        "# synthetic\n\nbf16 weights drawn from N(0, 0.02).\n",
    )?;
    let weights = size.saturating_sub(tokenizer.len() as u64);
    let per_shard = weights / shards;
    for shard in 0..shards {
        let name = if shards == 1 {
            "model.safetensors".to_owned()
        } else {
            format!("model-{:05}-of-{shards:05}.safetensors", shard + 1)
        };
        write_bf16(&dir.join(name), per_shard, 2024 + shard)?;
    }
    fs::write(marker, "")?;
    Ok(())
}

fn hash_figure() -> String {
    let data = vec![0x5au8; 1 << 30];
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let measured = modeloci_digest::Hasher::digest_bytes(&data);
        std::hint::black_box(measured);
        best = best.min(start.elapsed().as_secs_f64());
    }
    let ours = (1u64 << 30) as f64 / best / 1e6;
    // OpenSSL's SHA-NI code, as the machine's reference speed.
    let openssl = Command::new("openssl")
        .args([
            "speed", "-evp", "sha256", "-seconds", "2", "-bytes", "1048576",
        ])
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().find(|l| l.starts_with("sha256"))?.to_owned();
            let k: f64 = line
                .split_whitespace()
                .nth(1)?
                .trim_end_matches('k')
                .parse()
                .ok()?;
            Some(k * 1000.0 / 1e6)
        });
    let openssl = openssl.map_or_else(
        || "openssl not found".to_owned(),
        |mbs| format!("openssl speed -evp sha256: {mbs:.0} MB/s"),
    );
    format!("SHA-256, one core, 1 GiB in memory: modeloci-digest {ours:.0} MB/s; {openssl}\n")
}

pub(crate) fn run(args: &Args) -> Result<()> {
    println!("{}", hash_figure());
    if args.hash_only {
        return Ok(());
    }
    ensure_debian_tools(&[
        ("pigz", "pigz"),
        ("zstd", "zstd"),
        ("/usr/bin/time", "time"),
    ])?;
    sh(crate::util::cargo().args(["build", "--release", "--quiet", "-p", "modeloci-cli"]))?;
    let bin = root().join("target/release/modeloci");
    let size = parse_size(&args.size)?;
    let work = root().join("target/bench");
    let model = work.join(format!("model-{}", args.size));
    synthetic_model(&model, size, 2)?;
    let scratch = work.join("scratch");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    let model_bytes = dir_size(&model)?;
    // Warm the page cache so every command reads from memory, as the baselines do.
    sh(Command::new("cat")
        .arg("--")
        .args(files(&model)?)
        .stdout(std::process::Stdio::null()))?;

    let m = model.display();
    let b = bin.display();
    let pack = |c: &str| {
        format!(
            "{b} pack -q --model-dir {m} --name bench --version 1 --compression {c} --output ours.tar"
        )
    };
    // Archives for verify and unpack, made once.
    measure(
        &format!(
            "{b} pack -q --model-dir {m} --name bench --version 1 --compression none --output fixed.tar"
        ),
        &scratch,
    )?;
    let cases = vec![
        Case {
            name: "pack (gzip, the default)",
            ours: pack("gzip"),
            baseline: format!("tar -cf - -C {m} . | pigz -1 -p 2 > theirs.tar.gz"),
            baseline_name: "tar | pigz -1 -p 2",
            cleanup: "rm -f ours.tar theirs.tar.gz".into(),
            target: Some(1.0),
        },
        Case {
            name: "pack --compression none",
            ours: pack("none"),
            baseline: format!("tar -cf theirs.tar -C {m} . && sha256sum theirs.tar > /dev/null"),
            baseline_name: "tar -cf && sha256sum",
            cleanup: "rm -f ours.tar theirs.tar".into(),
            target: Some(1.0),
        },
        Case {
            name: "pack --compression zstd",
            ours: pack("zstd"),
            baseline: format!("tar -cf - -C {m} . | zstd -q -3 -T2 > theirs.tar.zst"),
            baseline_name: "tar | zstd -3 -T2",
            cleanup: "rm -f ours.tar theirs.tar.zst".into(),
            target: Some(1.0),
        },
        Case {
            name: "verify",
            ours: format!("{b} verify -q --archive fixed.tar"),
            baseline: "sha256sum fixed.tar > /dev/null".into(),
            baseline_name: "sha256sum",
            cleanup: String::new(),
            target: Some(0.8),
        },
        Case {
            name: "unpack (a none archive)",
            ours: format!("{b} unpack -q --archive fixed.tar --output ours-out"),
            baseline: "mkdir theirs-out && tar -xf fixed.tar -C theirs-out".into(),
            baseline_name: "tar -xf",
            cleanup: "rm -rf ours-out theirs-out".into(),
            target: Some(1.5),
        },
    ];
    if args.python_only {
        let rows = python::rows(&b.to_string(), &model, &scratch, args.runs)?;
        println!("{}", table(&rows, model_bytes, args.runs));
        return Ok(());
    }
    let mut rows = run_cases(&cases, &scratch, args.runs)?;
    if !args.no_signing {
        rows.extend(timed("signing rows", || {
            signing::rows(&b.to_string(), &model, &scratch, args.runs)
        })?);
    }
    if !args.no_many_files {
        rows.extend(many_files::rows(&b.to_string(), &scratch, args.runs)?);
    }
    if args.python {
        rows.extend(timed("python rows", || {
            python::rows(&b.to_string(), &model, &scratch, args.runs)
        })?);
    }
    rows.extend(registry_rows(&b.to_string(), &scratch, args.runs)?);
    if !args.no_transfer {
        rows.extend(transfer::rows(&b.to_string(), &scratch, args.runs)?);
    }
    rows.extend(timed("pack --push rows", || {
        push::rows(&b.to_string(), &model, &scratch, args.runs)
    })?);

    let mut report = table(&rows, model_bytes, args.runs);
    if args.reference {
        let _ = writeln!(
            report,
            "\n{}",
            reference_ratio(&model, &scratch, &b.to_string(), model_bytes)?
        );
    }
    if let Some(single) = &args.single_file {
        let _ = writeln!(
            report,
            "\n{}",
            single::report(parse_size(single)?, &work, &b.to_string(), args.runs)?
        );
    }
    println!("{report}");
    fs::remove_dir_all(&scratch)?;
    Ok(())
}

/// The rows as a Markdown table, after a line naming the model.
fn table(rows: &[Row], model_bytes: u64, runs: usize) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "model: {} MiB of bf16 weights in two shards, a {} MiB tokenizer, configs; {} run(s) each, medians; page cache warm\n",
        model_bytes >> 20,
        6,
        runs
    );
    let _ = writeln!(
        report,
        "| operation | ours | MB/s | peak RSS | baseline | baseline time | baseline RSS | ratio | target |"
    );
    let _ = writeln!(
        report,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        let target = match r.target {
            Some(t) if r.ratio <= t => format!("<= {t:.1}x met"),
            Some(t) => format!("<= {t:.1}x MISSED"),
            None => "informative".to_owned(),
        };
        let _ = writeln!(
            report,
            "| `{}` | {:.2} s | {:.0} | {} MiB | `{}` | {:.2} s | {} MiB | {:.2}x | {target} |",
            r.name,
            r.ours,
            model_bytes as f64 / r.ours / 1e6,
            r.rss_ours / 1024,
            r.baseline_name,
            r.theirs,
            r.rss_theirs / 1024,
            r.ratio,
        );
    }
    report
}

/// Runs each case `runs` times, ours and the baseline interleaved, each run after its case's
/// untimed clean-up and a `sync`; the medians and the median of the per-run ratios.
fn run_cases(cases: &[Case], scratch: &Path, runs: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for case in cases {
        let (mut ours, mut theirs) = (Samples::default(), Samples::default());
        for _ in 0..runs {
            for (script, samples) in [(&case.ours, &mut ours), (&case.baseline, &mut theirs)] {
                // Untimed: remove the last output and let the kernel write back dirty pages,
                // so no run pays for the one before.
                let cleanup = if case.cleanup.is_empty() {
                    "true"
                } else {
                    &case.cleanup
                };
                measure(&format!("{cleanup} ; sync"), scratch)?;
                samples.run(script, scratch)?;
            }
        }
        let row = Row::new(case.name, case.baseline_name, ours, theirs, case.target);
        eprintln!(
            "{}: {:.2} s vs {:.2} s ({:.2}x)",
            row.name, row.ours, row.theirs, row.ratio
        );
        rows.push(row);
        if !case.cleanup.is_empty() {
            measure(&case.cleanup, scratch)?;
        }
    }
    Ok(rows)
}

/// Wall times and the peak RSS of one tool's runs of one operation.
#[derive(Default)]
struct Samples {
    walls: Vec<f64>,
    rss_kib: u64,
}

impl Samples {
    fn run(&mut self, script: &str, dir: &Path) -> Result<()> {
        let s = measure(script, dir)?;
        self.walls.push(s.wall);
        self.rss_kib = self.rss_kib.max(s.rss_kib);
        Ok(())
    }
}

/// The commands of one registry round, ours or skopeo's: push `fixed.tar` to `r`, pull it
/// back to `pulled.tar`, copy it from `r` to `to`.
fn registry_commands(bin: &str, ours: bool, r: &str, to: &str) -> [String; 3] {
    let env = "XDG_CACHE_HOME=/nonexistent DOCKER_CONFIG=/nonexistent";
    let skopeo = "skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false";
    if ours {
        [
            format!("{env} {bin} push -q --archive fixed.tar {r}"),
            format!("{env} {bin} pull -q {r} --output pulled.tar"),
            format!("{env} {bin} copy -q {r} {to}"),
        ]
    } else {
        [
            format!("{skopeo} oci-archive:fixed.tar:1 docker://{r}"),
            format!("{skopeo} docker://{r} oci-archive:pulled.tar:1"),
            format!("{skopeo} docker://{r} docker://{to}"),
        ]
    }
}

/// push, pull and copy against skopeo copy, each run against registries of its own, so that
/// no tool mounts or skips blobs an earlier run uploaded.
fn registry_rows(bin: &str, scratch: &Path, runs: usize) -> Result<Vec<Row>> {
    use modeloci_tests::registry::Registry;
    ensure_debian_tools(&[("docker-registry", "docker-registry"), ("skopeo", "skopeo")])?;
    // [push, pull, copy] x [ours, skopeo's]
    let mut samples: [[Samples; 2]; 3] = Default::default();
    for _ in 0..runs {
        for (tool, ours) in [(0, true), (1, false)] {
            let (registry, second) = (Registry::start(None), Registry::start(None));
            let r = format!("{}/bench/model:1", registry.addr);
            let to = format!("{}/bench/copied:1", second.addr);
            let [push, pull, copy] = registry_commands(bin, ours, &r, &to);
            measure("sync", scratch)?;
            samples[0][tool].run(&push, scratch)?;
            measure("rm -f pulled.tar; sync", scratch)?;
            samples[1][tool].run(&pull, scratch)?;
            measure("rm -f pulled.tar", scratch)?;
            samples[2][tool].run(&copy, scratch)?;
        }
    }
    let names = [
        (
            "push (a none archive, local registry)",
            "skopeo copy oci-archive: docker://",
        ),
        (
            "pull --output (local registry)",
            "skopeo copy docker:// oci-archive:",
        ),
        (
            "copy (registry to registry)",
            "skopeo copy docker:// docker://",
        ),
    ];
    Ok(names
        .into_iter()
        .zip(samples)
        .map(|((name, baseline_name), [ours, theirs])| {
            Row::new(name, baseline_name, ours, theirs, Some(1.0))
        })
        .collect())
}

/// The reference implementation's algorithm, in Python as it is written: one gzip level-9 tar
/// per file, each blob held in memory and hashed, then everything tarred.
const REFERENCE_PY: &str = r#"
import gzip, hashlib, io, json, os, sys, tarfile, tempfile
model, out = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    blobs = os.path.join(tmp, "blobs", "sha256"); os.makedirs(blobs)
    layers = []
    for root, _, files in os.walk(model):
        for name in sorted(files):
            path = os.path.join(root, name)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as t:
                t.add(path, arcname=os.path.relpath(path, model))
            data = buf.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            with open(os.path.join(blobs, digest), "wb") as f:
                f.write(data)
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": len(data)})
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump({"schema_version": 2, "layers": layers}, f)
    with tarfile.open(out, "w") as t:
        t.add(tmp, arcname="/")
"#;

fn reference_ratio(model: &Path, scratch: &Path, bin: &str, bytes: u64) -> Result<String> {
    fs::write(scratch.join("reference.py"), REFERENCE_PY)?;
    eprintln!("timing the reference algorithm once (gzip -9, one thread): this takes minutes");
    let theirs = measure(
        &format!("python3 reference.py {} ref.tar", model.display()),
        scratch,
    )?;
    let ours = measure(
        &format!(
            "{bin} pack -q --model-dir {} --name bench --version 1 --output ours.tar",
            model.display()
        ),
        scratch,
    )?;
    measure("rm -f ref.tar ours.tar", scratch)?;
    Ok(format!(
        "reference algorithm (Python tarfile, gzip level 9, one thread, blobs in memory): {:.1} s ({:.0} MB/s, peak RSS {} MiB); \
         modeloci pack (gzip default): {:.1} s; modeloci is {:.0}x faster",
        theirs.wall,
        bytes as f64 / theirs.wall / 1e6,
        theirs.rss_kib / 1024,
        ours.wall,
        theirs.wall / ours.wall
    ))
}

/// Writes `size` bytes of bf16 values drawn from N(0, 0.02).
fn write_bf16(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut normal = Normal::new(seed);
    let mut buf = vec![0u8; 8 << 20];
    let mut file = std::io::BufWriter::new(fs::File::create(path)?);
    let mut left = size & !1;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        normal.fill_bf16(0.02, &mut buf[..n]);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

fn dir_size(dir: &Path) -> Result<u64> {
    files(dir)?
        .iter()
        .try_fold(0, |acc, f| Ok(acc + fs::metadata(f)?.len()))
}
