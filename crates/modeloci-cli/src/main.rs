//! `modeloci`: package machine-learning models as OCI artifacts, and back.
//!
//! This crate is the binary: argument parsing, output for people and scripts, progress bars,
//! and the mapping of errors to exit codes. The work is done by `modeloci-archive` and
//! `modeloci-registry`. `cli.rs` holds the clap types alone, so that xtask can include it to
//! render the man pages and completions from the same definition.
#![allow(clippy::print_stdout, clippy::print_stderr)]
// Doc comments here are `--help` text, where `host[:port]` means an optional part, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod commands;
mod hints;
mod noop;
mod output;
mod progress;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::commands::{Ctx, Outcome};
use crate::output::printable;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let ctx = Ctx {
        json: cli.json,
        quiet: cli.quiet,
        progress: progress::Bars::wanted(cli.json || cli.quiet),
    };
    match commands::run(cli.command, &ctx) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::VerificationFailed) => ExitCode::from(1),
        Err(err) => report_error(&err, &ctx),
    }
}

/// The command line, with options that would do nothing refused as clap refuses a conflict.
fn parse() -> Result<Cli, clap::Error> {
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(std::env::args_os())?;
    if let Err(why) = noop::check(&command, &matches) {
        let kind = clap::error::ErrorKind::ArgumentConflict;
        let name = matches.subcommand_name().unwrap_or_default();
        return Err(match command.find_subcommand_mut(name) {
            Some(sub) => sub.error(kind, why),
            None => command.error(kind, why),
        });
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// A command line clap refused (or `--help`, `--version`): clap prints it and picks the exit
/// code, as always; under `--json` a usage error is also a JSON document on stdout, as every
/// other error is. clap parses before `--json` is known, so the raw arguments tell.
fn usage_error(err: &clap::Error) -> ExitCode {
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if !json || !err.use_stderr() {
        err.exit();
    }
    let text = err.render().to_string();
    // clap's message without its `error: ` and the paragraphs after it (tips, usage).
    let first = text.split("\n\n").next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first).trim_end();
    let hint = text
        .lines()
        .find(|l| l.starts_with("Usage: "))
        .map(str::trim_end);
    let code = 2;
    let doc = serde_json::json!({ "error": message, "hint": hint, "exitCode": code });
    let _ = writeln!(io::stdout(), "{doc:#}");
    let _ = err.print();
    ExitCode::from(code)
}

/// Prints the error once (library errors carry their causes in their message; the command
/// words those about its flags, see [`hints`]), a hint where one helps, and picks the exit
/// code: 1 when content failed verification, else 2.
fn report_error(err: &anyhow::Error, ctx: &Ctx) -> ExitCode {
    let broken_pipe = err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let archive = err.downcast_ref::<modeloci_archive::Error>();
    let registry = err.downcast_ref::<modeloci_registry::Error>();
    let signing = err.downcast_ref::<modeloci_sign::Error>();
    let verification = archive.is_some_and(modeloci_archive::Error::is_verification_failure)
        || registry.is_some_and(modeloci_registry::Error::is_verification_failure)
        || signing.is_some_and(modeloci_sign::Error::is_verification_failure);
    let code = if verification { 1 } else { 2 };
    let message = hints::message(err);
    let hint = hints::hint(err);
    if ctx.json {
        let doc = serde_json::json!({ "error": message, "hint": hint, "exitCode": code });
        let _ = writeln!(io::stdout(), "{doc:#}");
    }
    let mut stderr = io::stderr().lock();
    // Errors embed what archives and registries said: escaped for the terminal.
    let _ = writeln!(stderr, "error: {}", printable(message));
    if let Some(hint) = hint {
        let _ = writeln!(stderr, "hint: {}", printable(hint));
    }
    ExitCode::from(code)
}
