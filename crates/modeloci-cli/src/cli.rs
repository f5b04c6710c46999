//! The command line: clap types only. Each command turns its arguments into library options
//! before any work starts.
//!
//! xtask includes this file by path to render the man pages and completions, so it uses
//! nothing of this crate but clap, clap_complete and std.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  verification failed: a blob does not match its digest or size, or is missing
  2  usage or input error: bad arguments, unreadable or hostile archive, I/O error";

/// Package machine-learning models as OCI artifacts, and back.
///
/// A model directory becomes a content-addressed OCI image layout in a tar file that OCI
/// tools (skopeo, oras, registries) read as it is; each file is one layer.
#[derive(Debug, Parser)]
#[command(name = "modeloci", version, after_help = EXIT_CODES, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Package a model directory into an OCI archive.
    Pack(PackArgs),
    /// Show an archive's model, layers and verification verdict without extracting it.
    ///
    /// Given a registry reference (host[:port]/repository[:tag|@digest]) instead of an archive,
    /// it shows the manifest's model and layers, reading the manifest and config only; for an
    /// image index, the manifests it lists.
    Inspect(InspectArgs),
    /// Check every blob of an archive against its digest and size.
    ///
    /// Given a registry reference (host[:port]/repository[:tag|@digest]) instead, it downloads
    /// each blob of the manifest and checks it as it streams, keeping nothing.
    Verify(VerifyArgs),
    /// Restore the model's files from an archive (or its OCI layout with --layout).
    Unpack(UnpackArgs),
    /// Add a file to an archive's model as a new layer.
    Add(AddArgs),
    /// Sign the model in an archive or a registry with an OpenSSF model signature.
    ///
    /// The signature (a Sigstore bundle, as `model_signing sign key` writes it) covers every
    /// file's name and SHA-256; it is stored beside the model as an OCI referrer (a manifest
    /// whose subject is the model's), in the archive or in the registry (by the referrers API,
    /// else the `sha256-<hex>` tag). A registry model is signed from its manifest's recorded
    /// file digests, without downloading its weights. With --signature, a bundle made
    /// elsewhere is attached once its files are checked to be exactly the model's.
    Sign(SignArgs),
    /// Upload an archive to an OCI registry.
    Push(PushArgs),
    /// Download a model from an OCI registry, as an archive or as files.
    Pull(PullArgs),
    /// List a repository's tags.
    Tags(TagsArgs),
    /// Copy a model between repositories or registries, blob by blob, with its referrers.
    ///
    /// Blobs the target lacks are mounted (on one registry) or streamed from the source into the
    /// upload, checked on the way; no local copy is made. Referrers (signatures, SBOMs) come
    /// along, listed at the target by the referrers API or its tag schema (`sha256-<hex>`).
    ///
    /// Credentials from --username/--password-stdin or MODELOCI_USERNAME/MODELOCI_PASSWORD are
    /// the destination's (and the source's only when it is the same registry); each registry
    /// otherwise gets its own from Docker's config.json.
    Copy(CopyArgs),
    /// Give a manifest in a registry another tag (no blob is sent).
    Tag(TagArgs),
    /// Store credentials for a registry (in Docker's config.json).
    Login(LoginArgs),
    /// Remove the stored credentials for a registry.
    Logout(LogoutArgs),
    /// Print the shell completion script for bash, zsh, fish, PowerShell or elvish.
    ///
    /// For example: `modeloci completions bash >
    /// ~/.local/share/bash-completion/completions/modeloci`, or `modeloci completions zsh >
    /// "${fpath[1]}/_modeloci"`.
    Completions(CompletionsArgs),
}

/// Layer compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressionArg {
    /// gzip, as the reference writes (default level 1)
    Gzip,
    /// zstd: several times faster (default level 1)
    Zstd,
    /// no compression: the fastest; weights barely compress
    None,
    /// per file: gzip what compresses, store the rest
    Auto,
}

/// What packing does with symbolic links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SymlinksArg {
    /// pack the target's content as a file at the link's path
    Follow,
    /// leave links out
    Skip,
    /// refuse to pack links
    Error,
}

/// Artifact profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// application/vnd.modeloci.model.v1, the reference's config
    Modeloci,
    /// application/vnd.cncf.model.manifest.v1+json
    Modelpack,
}

#[derive(Debug, Args)]
pub(crate) struct PackArgs {
    /// Directory containing the model files.
    #[arg(long, value_name = "DIR")]
    pub(crate) model_dir: PathBuf,
    /// With a Hugging Face cache's repository folder as --model-dir: the branch, tag or
    /// commit whose snapshot is packed [default: main].
    #[arg(long, value_name = "REV")]
    pub(crate) revision: Option<String>,
    /// Model name.
    #[arg(long)]
    pub(crate) name: String,
    /// Model version (also the archive's reference name unless --tag names it; it must then
    /// be a valid tag: letters, digits, _ . and -).
    #[arg(long = "version", value_name = "VERSION")]
    pub(crate) model_version: String,
    /// The archive's reference name (the index's `org.opencontainers.image.ref.name`)
    /// [default: the version].
    #[arg(long, value_name = "NAME")]
    pub(crate) tag: Option<String>,
    /// ML framework [default: from the weights, else pytorch].
    #[arg(long)]
    pub(crate) framework: Option<String>,
    /// Model architecture (in ModelPack, the weights' own, when they name one, comes first)
    /// [default: from the weights, else transformer].
    #[arg(long)]
    pub(crate) architecture: Option<String>,
    /// The kind of artifact: modeloci's own, or CNCF ModelPack (read by modctl, KitOps,
    /// Harbor, Docker Model Runner).
    #[arg(long, value_enum, default_value_t = FormatArg::Modeloci)]
    pub(crate) format: FormatArg,
    /// Leave out paths matching this gitignore-style pattern, like a line of
    /// `.modelociignore` (e.g. `*.onnx`, `runs/`, `!keep.onnx`); repeatable. `.git/` and
    /// `.modelociignore` itself are never packed.
    #[arg(long, value_name = "PATTERN")]
    pub(crate) exclude: Vec<String>,
    /// Symbolic links: `follow` packs the target's content at the link's path (a Hugging Face
    /// cache snapshot packs as files); `skip` leaves links out; `error` refuses them.
    #[arg(long, value_enum, default_value_t = SymlinksArg::Follow)]
    pub(crate) symlinks: SymlinksArg,
    /// ModelPack: paths (globs) that hold data sets; repeatable.
    #[arg(long = "dataset", value_name = "GLOB")]
    pub(crate) datasets: Vec<String>,
    /// Extra metadata as a JSON object; its key order is kept.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub(crate) metadata: String,
    /// Where to write the archive [default: NAME-VERSION.tar beside DIR; in the current
    /// directory when DIR is in a Hugging Face cache].
    #[arg(long, short, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Layer compression [default: gzip; in ModelPack, weights are raw blobs unless this is
    /// given].
    #[arg(long, value_enum)]
    pub(crate) compression: Option<CompressionArg>,
    /// Compression level: 0-9 for gzip, 1-19 for zstd.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) level: Option<i32>,
    /// Record a creation time (RFC 3339, e.g. 2024-06-01T12:00:00Z) in the manifest.
    /// SOURCE_DATE_EPOCH, when set, gives it otherwise and also sets the tar times.
    #[arg(long, value_name = "TIME")]
    pub(crate) created: Option<String>,
    /// Pack straight into a registry: host[:port]/repository[:tag] (the tag defaults to
    /// latest, as for push). Each layer is uploaded as it is compressed; no archive is
    /// written. The artifact is the one pack then push gives.
    #[arg(long, value_name = "REF", conflicts_with = "output")]
    pub(crate) push: Option<String>,
    /// With --push: blobs are held in memory up to this many MiB and sent in chunks of
    /// this size when larger.
    #[arg(long, default_value_t = 16, value_name = "MIB", requires = "push")]
    pub(crate) chunk_size: u64,
    /// Neither use nor update the digest cache (layers remembered for unchanged files,
    /// in MODELOCI_CACHE_DIR, else $XDG_CACHE_HOME/modeloci, else ~/.cache/modeloci).
    #[arg(long)]
    pub(crate) no_cache: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ArchiveArg {
    /// The archive: a tar file, or an OCI layout directory (for inspect and verify, also a
    /// registry reference: host[:port]/repository[:tag|@digest]).
    #[arg(value_name = "ARCHIVE", required_unless_present = "archive")]
    pub(crate) operand: Option<String>,
    /// The archive, as a flag: a tar file, or an OCI layout directory.
    #[arg(long, value_name = "PATH", conflicts_with = "operand")]
    pub(crate) archive: Option<PathBuf>,
    /// The manifest to use when the archive's index holds several (its ref name).
    #[arg(long = "ref", value_name = "NAME")]
    pub(crate) reference: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Check each signature against this public key (PEM); repeatable.
    #[arg(long = "key", value_name = "PUB.pem")]
    pub(crate) keys: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) archive: VerifyOperand,
    /// Also require a signature by this public key (PEM) that covers exactly the model's
    /// files; repeatable: any one of the keys must have signed.
    #[arg(long = "key", value_name = "PUB.pem")]
    pub(crate) keys: Vec<PathBuf>,
    /// With --dir: the signature (Sigstore bundle) to check the directory against.
    #[arg(long, value_name = "FILE", requires = "dir")]
    pub(crate) signature: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

/// What verify checks: an archive, a registry model, or (with --signature) a directory.
#[derive(Debug, Args)]
pub(crate) struct VerifyOperand {
    /// The archive: a tar file, an OCI layout directory, or a registry reference
    /// (host[:port]/repository[:tag|@digest]).
    #[arg(value_name = "ARCHIVE", required_unless_present_any = ["archive", "dir"])]
    pub(crate) operand: Option<String>,
    /// The archive, as a flag: a tar file, or an OCI layout directory.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["operand", "dir"])]
    pub(crate) archive: Option<PathBuf>,
    /// The manifest to use when the archive's index holds several (its ref name).
    #[arg(long = "ref", value_name = "NAME")]
    pub(crate) reference: Option<String>,
    /// A model directory (unpacked, or as it was signed) to check against --signature and
    /// --key, its files hashed in parallel.
    #[arg(long, value_name = "DIR", conflicts_with = "operand", requires_all = ["signature", "keys"])]
    pub(crate) dir: Option<PathBuf>,
}

impl VerifyOperand {
    /// The archive operand, as the commands that read only archives take it.
    pub(crate) fn archive_arg(&self) -> ArchiveArg {
        ArchiveArg {
            operand: self.operand.clone(),
            archive: self.archive.clone(),
            reference: self.reference.clone(),
        }
    }
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("how").required(true).args(["key", "signature"]))]
pub(crate) struct SignArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// The private key (PEM: `openssl ecparam -name prime256v1 -genkey -noout` or PKCS#8;
    /// P-256 or P-384). An encrypted key needs --key-password-stdin.
    #[arg(long, value_name = "KEY.pem")]
    pub(crate) key: Option<PathBuf>,
    /// Read the private key's password from standard input.
    #[arg(long, requires = "key")]
    pub(crate) key_password_stdin: bool,
    /// Attach this signature (made by `model_signing sign key` on the model's directory)
    /// instead of signing; its files must be exactly the model's.
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub(crate) signature: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UnpackArgs {
    #[command(flatten)]
    pub(crate) archive: ArchiveArg,
    /// Directory to restore the model into (created if absent).
    #[arg(long, short, value_name = "DIR")]
    pub(crate) output: PathBuf,
    /// Extract the archive's OCI image layout as it is, instead of the model's files.
    #[arg(long)]
    pub(crate) layout: bool,
    /// Write into a non-empty directory, replacing the files the archive holds.
    #[arg(long)]
    pub(crate) force: bool,
    /// Restore only files whose paths match (`*` also crosses `/`); repeatable.
    #[arg(long, value_name = "GLOB", conflicts_with = "layout")]
    pub(crate) include: Vec<String>,
    #[command(flatten)]
    pub(crate) signed: SignedArgs,
}

/// Requiring a signature before files land, and keeping it.
#[derive(Debug, Args)]
pub(crate) struct SignedArgs {
    /// Require a signature by this public key (PEM) covering exactly the model's files;
    /// nothing lands otherwise. Repeatable: any one of the keys must have signed.
    #[arg(long = "key", value_name = "PUB.pem")]
    pub(crate) keys: Vec<PathBuf>,
    /// Write the verified signature here, for `modeloci verify --dir` or
    /// `model_signing verify key` on the files later.
    #[arg(long, value_name = "FILE", requires = "keys")]
    pub(crate) signature_out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The archive to extend; it is rewritten in place, atomically.
    #[arg(long, value_name = "PATH")]
    pub(crate) archive: PathBuf,
    /// The file to add.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Its path in the model [default: its file name].
    #[arg(long, value_name = "IN_MODEL_PATH")]
    pub(crate) path: Option<String>,
    /// Replace the file if the model already has one at that path; on a signed archive,
    /// drop the signatures, which no longer cover the files.
    #[arg(long)]
    pub(crate) force: bool,
    /// Compression of the new layer [default: that of the existing layers].
    #[arg(long, value_enum)]
    pub(crate) compression: Option<CompressionArg>,
}

/// How to speak TLS to a registry: on every registry command and login.
#[derive(Debug, Args)]
pub(crate) struct TlsArgs {
    /// Trust the certificate authorities of this PEM file besides the system's (as do
    /// Docker's certs.d/HOST/*.crt files).
    #[arg(long, value_name = "PEM", env = "MODELOCI_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Do not verify the registry's TLS certificate at all (insecure: warns every time).
    #[arg(long, conflicts_with = "plain_http")]
    pub(crate) insecure: bool,
    /// Speak HTTPS even to a loopback address (as an https:// reference does).
    #[arg(long, conflicts_with = "plain_http")]
    pub(crate) tls: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// Use plain HTTP even though the registry is not on this machine.
    #[arg(long)]
    pub(crate) plain_http: bool,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Connections at once: blobs transferred at the same time, and, on pull, parts of
    /// blobs over 64 MiB (fetched in ranges of 16 MiB). With pack --push: layer uploads
    /// still going on while the next layers are packed.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) concurrency: usize,
    /// Give a request up when the registry sends nothing for this long (connecting,
    /// awaiting its answer, or within a body).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: u64,
    /// The user name for this registry (else MODELOCI_USERNAME, else Docker's config.json).
    #[arg(long, short, value_name = "USER")]
    pub(crate) username: Option<String>,
    /// Read the password (or token) for this registry from standard input; the user name
    /// comes from --username or MODELOCI_USERNAME.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The archive to push.
    #[arg(long, value_name = "PATH")]
    pub(crate) archive: PathBuf,
    /// Where: host[:port]/repository[:tag] (the tag defaults to latest, as for pull).
    #[arg(value_name = "REF")]
    pub(crate) reference: String,
    /// More tags for the same manifest.
    #[arg(long = "tag", value_name = "TAG")]
    pub(crate) tags: Vec<String>,
    /// Blobs above this many MiB are sent in chunks of this size.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub(crate) chunk_size: u64,
    /// A repository of the same registry to mount blobs from instead of uploading them.
    #[arg(long, value_name = "REPOSITORY")]
    pub(crate) mount_from: Vec<String>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["output", "unpack"]))]
pub(crate) struct PullArgs {
    /// What: host[:port]/repository[:tag|@digest].
    #[arg(value_name = "REF")]
    pub(crate) reference: String,
    /// Write the archive here (byte-identical to the one pushed).
    #[arg(long, short, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Restore the model's files into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub(crate) unpack: Option<PathBuf>,
    /// With --unpack: only files whose paths match (`*` also crosses `/`); repeatable.
    #[arg(
        long,
        value_name = "GLOB",
        requires = "unpack",
        conflicts_with = "output"
    )]
    pub(crate) include: Vec<String>,
    /// With --unpack: write into a non-empty directory, replacing the files the model has.
    #[arg(long, requires = "unpack", conflicts_with = "output")]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) signed: SignedArgs,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TagsArgs {
    /// The repository: host[:port]/repository.
    #[arg(value_name = "REPO")]
    pub(crate) repository: String,
    /// Ask the registry for this many tags a page (it names the next page).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..10_001))]
    pub(crate) page_size: Option<u64>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// From: host[:port]/repository[:tag|@digest].
    #[arg(value_name = "SRC")]
    pub(crate) source: String,
    /// To: host[:port]/repository[:tag] (the tag defaults to the source's).
    #[arg(value_name = "DST")]
    pub(crate) target: String,
    /// More tags for the copied manifest.
    #[arg(long = "tag", value_name = "TAG")]
    pub(crate) tags: Vec<String>,
    /// Leave the manifests that refer to it (signatures, SBOMs) behind.
    #[arg(long)]
    pub(crate) no_referrers: bool,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// The manifest: host[:port]/repository[:tag|@digest].
    #[arg(value_name = "REF")]
    pub(crate) reference: String,
    /// The new tag, in the same repository.
    #[arg(value_name = "NEWTAG")]
    pub(crate) new_tag: String,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The registry: host[:port], with or without `https://`.
    #[arg(value_name = "HOST")]
    pub(crate) host: String,
    /// The user name (else MODELOCI_USERNAME, else asked for on a terminal).
    #[arg(long, short, value_name = "USER")]
    pub(crate) username: Option<String>,
    /// Read the password (or token) from standard input (else MODELOCI_PASSWORD, else asked
    /// for on a terminal, without echo).
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// Use plain HTTP even though the registry is not on this machine.
    #[arg(long)]
    pub(crate) plain_http: bool,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Give up when the registry sends nothing for this long.
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The registry: host[:port].
    #[arg(value_name = "HOST")]
    pub(crate) host: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
