//! Where a registry command's credentials come from, first found wins: `--username` with
//! `--password-stdin`, then `MODELOCI_USERNAME` and `MODELOCI_PASSWORD` (for CI), then
//! Docker's `config.json` and its credential helpers; `login` may also ask on a terminal.
//!
//! Nothing read here is ever printed: messages name where a secret was expected, never it.
//! With `--password-stdin`, standard input belongs to the password: a command that reads
//! anything else from it must refuse the flag.

use std::io::{self, BufRead, IsTerminal, Read, Write};

use anyhow::{Context, Result, bail};
use modeloci_registry::{Credentials, environment};

pub(super) use modeloci_registry::environment::{PASSWORD_VAR, USERNAME_VAR};

/// The most a password (or token) on standard input may be: tokens are a few KiB.
const MAX_PASSWORD: u64 = 64 << 10;

/// The user name from `MODELOCI_USERNAME`, if set.
pub(super) fn env_username() -> Result<Option<String>> {
    Ok(environment::var(USERNAME_VAR)?)
}

/// The password from `MODELOCI_PASSWORD`, if set.
pub(super) fn env_password() -> Result<Option<String>> {
    Ok(environment::var(PASSWORD_VAR)?)
}

/// The credentials `--username` and `--password-stdin` give, completed from the
/// environment; else those of the environment; `None` when neither names any.
pub(super) fn from_flags_or_env(
    username: Option<&str>,
    password_stdin: bool,
) -> Result<Option<Credentials>> {
    if username == Some("") {
        bail!("--username is empty");
    }
    if password_stdin {
        let Some(user) = username.map(str::to_owned).or(env_username()?) else {
            bail!("--password-stdin needs a user name: pass --username USER or set {USERNAME_VAR}");
        };
        return Ok(Some(Credentials::new(user, stdin_password()?)));
    }
    if let Some(user) = username {
        let Some(password) = env_password()? else {
            bail!(
                "--username needs a password: pass --password-stdin and write it on standard \
                 input, or set {PASSWORD_VAR}"
            );
        };
        return Ok(Some(Credentials::new(user, password)));
    }
    Ok(environment::env_credentials()?)
}

/// The password (or token) on standard input: everything up to its end, without the
/// trailing line break.
pub(super) fn stdin_password() -> Result<String> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_PASSWORD + 1)
        .read_to_end(&mut bytes)
        .context("reading the password from standard input")?;
    if bytes.len() as u64 > MAX_PASSWORD {
        bail!("the password on standard input is longer than 64 KiB");
    }
    let Ok(text) = String::from_utf8(bytes) else {
        bail!("the password on standard input is not valid UTF-8");
    };
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password.to_owned())
}

/// The registry a `login` or `logout` names: `host[:port]`, given with or without a scheme
/// (`https://index.docker.io/v1/` as docker writes Docker Hub's, too).
pub(super) fn login_host(arg: &str) -> Result<String> {
    let lower = arg.to_ascii_lowercase();
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| lower.starts_with(scheme).then(|| &arg[scheme.len()..]))
        .unwrap_or(arg)
        .trim_end_matches('/');
    let host = rest
        .strip_suffix("/v1")
        .or_else(|| rest.strip_suffix("/v2"))
        .unwrap_or(rest);
    if host.is_empty()
        || host.contains(['/', '@', '?', '#'])
        || host.chars().any(char::is_whitespace)
    {
        bail!("{arg:?} is not a registry host[:port]");
    }
    Ok(host.to_owned())
}

/// The warning for a directory holding `config.json` that other users may write to: they
/// could replace the file. A directory modeloci makes is 0700; one the user made is not
/// changed, only named.
pub(super) fn config_dir_warning(config: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = config.parent()?;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o022 != 0).then(|| {
        format!(
            "{} is writable by other users (mode {mode:04o}), who could replace config.json: \
             chmod 700 it, as docker makes it",
            dir.display()
        )
    })
}

/// What `login` stores: the user name from `--username`, `MODELOCI_USERNAME` or a prompt,
/// the password from standard input (`--password-stdin`), `MODELOCI_PASSWORD` or a prompt
/// without echo. Prompts need standard input to be a terminal.
pub(super) fn for_login(username: Option<&str>, password_stdin: bool) -> Result<Credentials> {
    let terminal = io::stdin().is_terminal();
    let user = match username.map(str::to_owned).or(env_username()?) {
        Some(user) => user,
        // Standard input holds the password: it cannot also answer a prompt.
        None if terminal && !password_stdin => prompt("Username: ", true)?,
        None => bail!("no user name: pass --username USER or set {USERNAME_VAR}"),
    };
    if user.is_empty() {
        bail!("no user name given");
    }
    let password = if password_stdin {
        stdin_password()?
    } else if let Some(password) = env_password()? {
        password
    } else if terminal {
        prompt("Password: ", false)?
    } else {
        bail!(
            "no password: standard input is not a terminal to ask on; pass --password-stdin \
             and write the password on standard input, or set {PASSWORD_VAR}"
        );
    };
    if password.is_empty() {
        bail!("no password given");
    }
    Ok(Credentials::new(user, password))
}

/// Asks on the terminal (the prompt on stderr, the answer from stdin, echoed or not) and
/// returns the line without its line break.
fn prompt(text: &str, echo: bool) -> Result<String> {
    let stdin = io::stdin();
    // Echo goes off before the prompt shows: nothing typed after it is ever echoed.
    let saved = if echo { None } else { Some(echo_off(&stdin)?) };
    let mut stderr = io::stderr();
    let _ = write!(stderr, "{text}");
    let _ = stderr.flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        // The terminal's own settings come back whatever the read gave.
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &saved);
        let _ = writeln!(stderr);
    }
    read.context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Turns the terminal's echo off; returns the settings to restore.
fn echo_off(stdin: &io::Stdin) -> Result<rustix::termios::Termios> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let saved = tcgetattr(stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    // Line editing stays; the line break is written after the read.
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(stdin, OptionalActions::Now, &quiet).context("turning the terminal's echo off")?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::login_host;

    #[test]
    fn login_hosts_may_carry_a_scheme_and_docker_hubs_v1_path() {
        for (given, host) in [
            ("localhost:5000", "localhost:5000"),
            ("https://ghcr.io", "ghcr.io"),
            ("HTTP://127.0.0.1:5000/", "127.0.0.1:5000"),
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("registry.example.com/v2", "registry.example.com"),
        ] {
            assert_eq!(login_host(given).unwrap(), host, "{given}");
        }
        for bad in ["", "https://", "ghcr.io/owner/repo", "user@host", "a b"] {
            assert_eq!(
                login_host(bad).unwrap_err().to_string(),
                format!("{bad:?} is not a registry host[:port]")
            );
        }
    }
}
