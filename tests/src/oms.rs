//! The real OpenSSF model signing tool, `model_signing` 1.1.1 from PyPI, in a virtual
//! environment under the workspace's `target/oms-venv` (made on first use), and ECDSA keys
//! made with `openssl`, for interoperability tests in both directions.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `model_signing` release the tests speak to. Its CLI flags use underscores
/// (`--private_key`); later releases use hyphens.
pub const MODEL_SIGNING_VERSION: &str = "1.1.1";
/// `model_signing` 1.1.1 imports `OpenSSL` without declaring it: this release works.
pub const PYOPENSSL_VERSION: &str = "26.4.0";

/// Written into the environment once everything is installed: a directory without it is a
/// partial install, made again.
const DONE: &str = ".modeloci-installed";

/// The `model_signing` executable, installing it on first use: `python3 -m venv`, then
/// `pip install model-signing==1.1.1 pyopenssl==26.4.0`, under an exclusive lock so that
/// concurrent test processes install it once.
///
/// # Panics
///
/// When it cannot be installed (no `python3`, no network to PyPI): the tests need it and are
/// never skipped.
pub fn model_signing() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(install).clone()
}

fn install() -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .join("target");
    let venv = target.join("oms-venv");
    let exe = venv.join("bin/model_signing");
    std::fs::create_dir_all(&target).expect("create target/");
    let lock = File::create(target.join("oms-venv.lock")).expect("create the venv lock");
    lock.lock().expect("lock the venv");
    if !venv.join(DONE).exists() {
        if venv.exists() {
            std::fs::remove_dir_all(&venv).expect("remove a partial venv");
        }
        run_setup(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run_setup(
            Command::new(venv.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(format!("model-signing=={MODEL_SIGNING_VERSION}"))
                .arg(format!("pyopenssl=={PYOPENSSL_VERSION}")),
        );
        let version = run_setup(Command::new(&exe).arg("--version"));
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("model_signing, version {MODEL_SIGNING_VERSION}")
        );
        std::fs::write(venv.join(DONE), "").expect("mark the venv installed");
    }
    exe
}

fn run_setup(command: &mut Command) -> Output {
    let out = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot install model_signing {MODEL_SIGNING_VERSION} for the OMS interop tests \
             ({command:?}: {e}); they need python3 with venv and pip, and PyPI"
        )
    });
    assert!(
        out.status.success(),
        "cannot install model_signing {MODEL_SIGNING_VERSION} for the OMS interop tests: \
         {command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `model_signing sign key --private_key KEY --signature SIG MODEL`.
pub fn sign(model: &Path, key: &Path, signature: &Path) -> Output {
    sign_ignoring(model, key, signature, &[])
}

/// [`sign`] with `--ignore-paths PATH` for each of `ignore`.
pub fn sign_ignoring(model: &Path, key: &Path, signature: &Path, ignore: &[&Path]) -> Output {
    let mut command = Command::new(model_signing());
    command
        .args(["sign", "key", "--private_key"])
        .arg(key)
        .arg("--signature")
        .arg(signature);
    for path in ignore {
        command.arg("--ignore-paths").arg(path);
    }
    run(command.arg(model))
}

/// `model_signing verify key --signature SIG --public_key PUB MODEL`.
pub fn verify(model: &Path, public_key: &Path, signature: &Path) -> Output {
    run(Command::new(model_signing())
        .args(["verify", "key", "--signature"])
        .arg(signature)
        .arg("--public_key")
        .arg(public_key)
        .arg(model))
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// What an output printed, stdout then stderr, for messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The curves both tools sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// `prime256v1`
    P256,
    /// `secp384r1`
    P384,
}

/// How a private key is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    /// `BEGIN EC PRIVATE KEY`
    Sec1,
    /// `BEGIN PRIVATE KEY`
    Pkcs8,
}

/// Makes a key pair with `openssl` in `dir`: `<name>.pem` (private) and `<name>.pub`.
/// Returns both paths.
pub fn key_pair(dir: &Path, name: &str, curve: Curve, format: KeyFormat) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let curve = match curve {
        Curve::P256 => "prime256v1",
        Curve::P384 => "secp384r1",
    };
    let p = private.to_str().expect("UTF-8 temp path");
    match format {
        KeyFormat::Sec1 => openssl(&["ecparam", "-name", curve, "-genkey", "-noout", "-out", p]),
        KeyFormat::Pkcs8 => openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            p,
        ]),
    }
    let q = public.to_str().expect("UTF-8 temp path");
    openssl(&["pkey", "-in", p, "-pubout", "-out", q]);
    (private, public)
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): `apt-get install openssl`"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a small model into `dir`: files at the top and in subdirectories, an empty file,
/// a dotfile, and git clutter (`.git/`, `.gitignore`, `.gitattributes`) that neither tool
/// signs.
pub fn write_model(dir: &Path) {
    let files: [(&str, &[u8]); 9] = [
        ("README.md", b"# a model\n"),
        ("config.json", b"{\"layers\": 2}\n"),
        ("weights.bin", &[7u8; 3000]),
        ("sub/tok.txt", b"tokens"),
        ("sub/deeper/empty", b""),
        (".hidden", b"dot"),
        (".git/HEAD", b"ref: refs/heads/main\n"),
        (".gitignore", b"*.tmp\n"),
        (".gitattributes", b"*.bin filter=lfs\n"),
    ];
    for (rel, content) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, content).expect("write a model file");
    }
}
