//! Options that would do nothing where they are given are refused, not ignored: a user who
//! types `--level 3` with `--compression none`, or `--plain-http` to a `pack` that writes a
//! file, believes something happened that did not.
//!
//! A path given as `-` is refused too: modeloci writes archives and directories atomically
//! (a temporary renamed into place), never to a standard stream, and would otherwise make a
//! file named `-`.
//!
//! Checked on clap's matches, where an option given on the command line is told from a
//! default or an environment variable.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use crate::cli::CompressionArg;

/// The registry options every registry command takes; `pack` uses them only with `--push`.
const REGISTRY_OPTIONS: &[(&str, &str)] = &[
    ("plain_http", "--plain-http"),
    ("tls", "--tls"),
    ("insecure", "--insecure"),
    ("ca_file", "--ca-file"),
    ("username", "--username"),
    ("password_stdin", "--password-stdin"),
    ("concurrency", "--concurrency"),
    ("timeout", "--timeout"),
];

/// Whether `id` was typed on the command line (not a default, not from the environment).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.try_get_raw(id).is_ok_and(|v| v.is_some())
        && matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The first option given that would do nothing (or write a file named `-`), as the
/// sentence that says why.
pub(crate) fn check(cli: &Command, matches: &ArgMatches) -> Result<(), String> {
    let Some((command, sub)) = matches.subcommand() else {
        return Ok(());
    };
    if let Some(definition) = cli.find_subcommand(command) {
        dash_paths(definition, sub)?;
    }
    let global = |id| given(matches, id) || given(sub, id);
    if global("json") && global("quiet") {
        return Err(
            "--json and --quiet together: --json prints one document, --quiet nothing; pick one"
                .into(),
        );
    }
    match command {
        "completions" => {
            for (id, flag) in [("json", "--json"), ("quiet", "--quiet")] {
                if global(id) {
                    return Err(format!(
                        "{flag} does nothing for completions: the script is the output"
                    ));
                }
            }
            Ok(())
        }
        "pack" => pack(sub),
        _ => Ok(()),
    }
}

fn pack(matches: &ArgMatches) -> Result<(), String> {
    if given(matches, "level")
        && matches.get_one::<CompressionArg>("compression") == Some(&CompressionArg::None)
    {
        return Err("--level does nothing with --compression none: nothing is compressed".into());
    }
    if !given(matches, "push")
        && let Some((_, flag)) = REGISTRY_OPTIONS.iter().find(|(id, _)| given(matches, id))
    {
        return Err(format!(
            "{flag} does nothing without --push: pack writes an archive file; give --push HOST/REPO:TAG to pack into a registry, or `modeloci push` the archive"
        ));
    }
    Ok(())
}

/// Refuses `-` as a path: there is no reading from stdin or writing to stdout.
fn dash_paths(command: &Command, matches: &ArgMatches) -> Result<(), String> {
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.get_value_parser().type_id() != std::any::TypeId::of::<PathBuf>() {
            continue;
        }
        let dash = matches
            .get_raw(id)
            .is_some_and(|mut values| values.any(|v| v == "-"));
        if dash {
            let name = arg
                .get_long()
                .map_or_else(|| id.to_uppercase(), |l| format!("--{l}"));
            return Err(format!(
                "{name} -: modeloci neither reads standard input nor writes standard output (archives are written whole, then renamed into place); name a file, or ./- for one named -"
            ));
        }
    }
    for sub in command.get_subcommands() {
        if let Some(m) = matches.subcommand_matches(sub.get_name()) {
            dash_paths(sub, m)?;
        }
    }
    Ok(())
}
