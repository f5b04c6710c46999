//! One module per command; each takes its clap arguments and a [`Ctx`].

mod add;
mod credentials;
mod facts;
mod inspect;
mod layers;
mod pack;
mod registry;
mod remote;
mod sign;
mod signing;
mod unpack;
mod verify;

use anyhow::{Result, bail};
use modeloci_archive::Compression;

use std::path::PathBuf;

use modeloci_registry::Reference;

use crate::cli::{ArchiveArg, Command, CompletionsArgs, CompressionArg};
use crate::progress::Bars;

/// What every command needs to know about how to talk.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Print one JSON document on stdout.
    pub(crate) json: bool,
    /// Print nothing but errors.
    pub(crate) quiet: bool,
    /// Whether to draw progress bars on stderr.
    pub(crate) progress: Bars,
}

impl Ctx {
    /// Whether human output goes to stdout.
    pub(crate) fn human(&self) -> bool {
        !self.json && !self.quiet
    }
}

/// How a command that ran to its end came out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    VerificationFailed,
}

pub(crate) fn run(command: Command, ctx: &Ctx) -> Result<Outcome> {
    match command {
        Command::Pack(args) => pack::run(args, ctx),
        Command::Inspect(args) => inspect::run(&args, ctx),
        Command::Verify(args) => verify::run(&args, ctx),
        Command::Unpack(args) => unpack::run(&args, ctx),
        Command::Add(args) => add::run(&args, ctx),
        Command::Sign(args) => sign::run(&args, ctx),
        Command::Push(args) => registry::push(&args, ctx),
        Command::Pull(args) => registry::pull(&args, ctx),
        Command::Tags(args) => remote::tags(&args, ctx),
        Command::Copy(args) => remote::copy(&args, ctx),
        Command::Tag(args) => remote::tag(&args, ctx),
        Command::Login(args) => registry::login(&args, ctx),
        Command::Logout(args) => registry::logout(&args, ctx),
        Command::Completions(args) => completions(&args),
    }
}

/// Writes the completion script for a shell on stdout.
fn completions(args: &CompletionsArgs) -> Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut <crate::cli::Cli as clap::CommandFactory>::command(),
        "modeloci",
        &mut script,
    );
    std::io::Write::write_all(&mut std::io::stdout(), &script)?;
    Ok(Outcome::Success)
}

/// What an archive operand names.
pub(crate) enum Operand {
    /// A tar file or an OCI layout directory.
    Archive(PathBuf),
    /// A manifest in a registry: an operand that is no existing path but a reference.
    Remote(Reference),
}

impl Operand {
    fn of(arg: &ArchiveArg) -> Self {
        if let Some(path) = &arg.archive {
            return Self::Archive(path.clone());
        }
        let text = arg.operand.clone().unwrap_or_default();
        let path = PathBuf::from(&text);
        if path.exists() {
            return Self::Archive(path);
        }
        match text.parse::<Reference>() {
            Ok(reference) => Self::Remote(reference),
            Err(_) => Self::Archive(path),
        }
    }
}

/// The archive a command that reads only archives (verify, unpack) was given; a registry
/// reference is refused, naming the pull that fetches it.
fn archive_path(arg: &ArchiveArg, pull: &str) -> Result<PathBuf> {
    match Operand::of(arg) {
        Operand::Archive(path) => Ok(path),
        Operand::Remote(reference) => bail!(
            "{reference} is a registry reference, not an archive here: `modeloci pull {reference} {pull}` fetches it, verifying every blob"
        ),
    }
}

fn compression(arg: CompressionArg) -> Compression {
    match arg {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
        CompressionArg::None => Compression::None,
        CompressionArg::Auto => Compression::Auto,
    }
}

/// `SOURCE_DATE_EPOCH` as tar header times, 0 otherwise.
fn mtime() -> Result<u64> {
    Ok(source_date_epoch()?.unwrap_or(0))
}

/// `SOURCE_DATE_EPOCH`, when set.
fn source_date_epoch() -> Result<Option<u64>> {
    Ok(modeloci_registry::environment::source_date_epoch()?)
}
