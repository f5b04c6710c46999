//! Credentials in Docker's `config.json`, and `WWW-Authenticate` challenges.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// A user name and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl Credentials {
    /// A user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The value of a `Basic` Authorization header.
    pub(crate) fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Docker's client configuration file, where `docker login` and `modeloci login` keep
/// credentials: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
///
/// Keys this crate does not know are kept as they are when it writes the file.
#[derive(Debug)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

/// Docker Hub's key in `auths` and the server URL its credential helpers get, as docker
/// writes them: `docker login` and `modeloci login` share Hub logins.
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// Whether `registry` names Docker Hub.
fn is_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The key a registry's credentials are stored under, and the server URL a credential
/// helper is given: the registry as given, Docker Hub's as docker spells it.
fn store_key(registry: &str) -> &str {
    if is_hub(registry) { HUB_KEY } else { registry }
}

/// The keys a registry may be stored under in `auths` (and `credHelpers`), the one
/// [`store_key`] writes first.
fn auth_keys(registry: &str) -> Vec<String> {
    let spellings = |host: &str| {
        [
            host.to_owned(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    };
    if is_hub(registry) {
        let mut keys = vec![HUB_KEY.to_owned()];
        for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            keys.extend(spellings(host));
        }
        keys
    } else {
        spellings(registry).into()
    }
}

/// Creates the directory `config.json` lives in, 0700 as docker makes it (parents it has to
/// create too); a directory that already exists is left as its owner made it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// What a credential helper said, bounded, without the secret it was given.
fn helper_said(output: &Output, secret: Option<&str>) -> String {
    let said = String::from_utf8_lossy(if output.stderr.trim_ascii().is_empty() {
        &output.stdout
    } else {
        &output.stderr
    });
    let mut said = said.trim().to_owned();
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        said = said.replace(secret, "<redacted>");
    }
    if said.len() > 300 {
        let mut end = 300;
        while !said.is_char_boundary(end) {
            end -= 1;
        }
        said.truncate(end);
        said.push('…');
    }
    said
}

impl DockerConfig {
    /// Where the file is: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.json"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".docker/config.json"))
    }

    /// Reads the file; a missing file is an empty configuration.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the file is not a JSON object.
    pub fn load(path: &Path) -> Result<Self> {
        let doc = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(Error::Credentials {
                        path: path.to_owned(),
                        reason: "not a JSON object".into(),
                    });
                }
                Err(e) => {
                    return Err(Error::Credentials {
                        path: path.to_owned(),
                        reason: format!("invalid JSON: {e}"),
                    });
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source: e,
                });
            }
        };
        Ok(Self {
            path: path.to_owned(),
            doc,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials stored for `registry`: from a credential helper when the file names
    /// one (`credHelpers`, `credsStore`), else from `auths`.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] for an entry that cannot be decoded or a helper that fails.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        if let Some(helper) = self.helper(registry)
            && let Some(creds) = self.ask_helper(helper, registry)?
        {
            return Ok(Some(creds));
        }
        let Some(auths) = self.doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        for key in auth_keys(registry) {
            let Some(entry) = auths.get(&key) else {
                continue;
            };
            let bad = |reason: &str| Error::Credentials {
                path: self.path.clone(),
                reason: format!("auths.{key}: {reason}"),
            };
            if let Some(auth) = entry
                .get("auth")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                let decoded = BASE64.decode(auth).map_err(|_| bad("auth is not base64"))?;
                let text = String::from_utf8(decoded).map_err(|_| bad("auth is not UTF-8"))?;
                let (user, pass) = text
                    .split_once(':')
                    .ok_or_else(|| bad("auth is not user:password"))?;
                return Ok(Some(Credentials::new(user, pass)));
            }
            if let (Some(user), Some(pass)) = (
                entry.get("username").and_then(Value::as_str),
                entry.get("password").and_then(Value::as_str),
            ) {
                return Ok(Some(Credentials::new(user, pass)));
            }
            if let Some(token) = entry.get("identitytoken").and_then(Value::as_str) {
                return Ok(Some(Credentials::new("<token>", token)));
            }
        }
        Ok(None)
    }

    /// The credential helper that keeps the registry's credentials, as docker chooses it: the
    /// registry's own in `credHelpers`, else `credsStore`; `None` when credentials live in
    /// `auths`. The program is `docker-credential-<helper>`.
    pub fn helper(&self, registry: &str) -> Option<&str> {
        fn named(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str).filter(|h| !h.is_empty())
        }
        let helpers = self.doc.get("credHelpers");
        auth_keys(registry)
            .iter()
            .find_map(|key| named(helpers.and_then(|h| h.get(key))))
            .or_else(|| named(self.doc.get("credsStore")))
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin; `None` when the
    /// program is not found.
    fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Option<Output>> {
        let program = format!("docker-credential-{helper}");
        let failed = |e: std::io::Error| Error::Credentials {
            path: PathBuf::from(&program),
            reason: e.to_string(),
        };
        let mut child = match Command::new(&program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        child.wait_with_output().map(Some).map_err(failed)
    }

    /// The error for a helper that failed or could not be run; what it said is bounded and
    /// never holds the `secret` it was given.
    fn helper_failed(
        helper: &str,
        action: &str,
        output: Option<&Output>,
        secret: Option<&str>,
    ) -> Error {
        let reason = match output {
            None => format!(
                "not found on PATH (config.json names it as the credential helper): cannot \
                 {action} credentials"
            ),
            Some(output) => format!(
                "{action} failed ({}): {}",
                output.status,
                helper_said(output, secret)
            ),
        };
        Error::Credentials {
            path: PathBuf::from(format!("docker-credential-{helper}")),
            reason,
        }
    }

    /// Asks `docker-credential-<helper> get` for the registry's credentials.
    fn ask_helper(&self, helper: &str, registry: &str) -> Result<Option<Credentials>> {
        let Some(output) = Self::run_helper(helper, "get", store_key(registry).as_bytes())? else {
            return Ok(None);
        };
        let failed = |reason: String| Error::Credentials {
            path: PathBuf::from(format!("docker-credential-{helper}")),
            reason,
        };
        if !output.status.success() {
            // Helpers answer "credentials not found" with a failure status.
            return Ok(None);
        }
        let value: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| failed(format!("invalid answer: {e}")))?;
        let user = value
            .get("Username")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let secret = value
            .get("Secret")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok((!secret.is_empty()).then(|| Credentials::new(user, secret)))
    }

    /// Stores credentials for `registry`, and writes the file (mode 0600, atomically, in a
    /// directory made 0700 if it has to be made). With a
    /// credential [`helper`](Self::helper), as docker does: the helper's `store` keeps them
    /// and `auths` gets an empty entry for the registry; otherwise `auths` holds them.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the helper fails or cannot be run (nothing is written
    /// then); I/O errors naming the file.
    pub fn store(&mut self, registry: &str, credentials: &Credentials) -> Result<()> {
        let entry = match self.helper(registry) {
            Some(helper) => {
                let input = serde_json::json!({
                    "ServerURL": store_key(registry),
                    "Username": credentials.username,
                    "Secret": credentials.password,
                });
                let output = Self::run_helper(helper, "store", input.to_string().as_bytes())?;
                if !output.as_ref().is_some_and(|o| o.status.success()) {
                    return Err(Self::helper_failed(
                        helper,
                        "store",
                        output.as_ref(),
                        Some(&credentials.password),
                    ));
                }
                Value::Object(Map::new())
            }
            None => {
                serde_json::json!({ "auth": BASE64.encode(format!("{}:{}", credentials.username, credentials.password)) })
            }
        };
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        auths
            .as_object_mut()
            .expect("made an object above")
            .insert(store_key(registry).to_owned(), entry);
        self.save()
    }

    /// Removes the credentials stored for `registry`; says whether there were any.
    ///
    /// # Errors
    ///
    /// As [`Self::erase`].
    pub fn remove(&mut self, registry: &str) -> Result<bool> {
        self.erase(registry).map(|e| e.helper.is_some() || e.file)
    }

    /// Removes the credentials stored for `registry`: from its credential
    /// [`helper`](Self::helper) (`erase`), and every entry for it in `auths`.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the helper fails (other than for credentials it does not
    /// hold) or cannot be run; I/O errors naming the file.
    pub fn erase(&mut self, registry: &str) -> Result<Erased> {
        let mut erased = Erased::default();
        if let Some(helper) = self.helper(registry) {
            let output = Self::run_helper(helper, "erase", store_key(registry).as_bytes())?;
            match &output {
                Some(o) if o.status.success() => erased.helper = Some(helper.to_owned()),
                // Helpers answer "credentials not found in native keychain" and fail.
                Some(o)
                    if String::from_utf8_lossy(&o.stdout).contains("not found")
                        || String::from_utf8_lossy(&o.stderr).contains("not found") => {}
                _ => return Err(Self::helper_failed(helper, "erase", output.as_ref(), None)),
            }
        }
        if let Some(auths) = self.doc.get_mut("auths").and_then(Value::as_object_mut) {
            // Every spelling of the registry goes, not just the first found.
            for key in auth_keys(registry) {
                erased.file |= auths.remove(&key).is_some();
            }
        }
        if erased.file {
            self.save()?;
        }
        Ok(erased)
    }

    fn save(&self) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(Error::io(dir))?;
        let temp = dir.join(format!(".config.json.modeloci-tmp-{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(&Value::Object(self.doc.clone()))
            .expect("JSON values serialize");
        let write = || -> std::io::Result<()> {
            // A new file, never one planted under the predictable name (a link would take
            // the credentials wherever it points): whatever has the name goes first.
            remove_if_there(&temp)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Error::Io {
                path: self.path.clone(),
                source: e,
            }
        })
    }
}

/// What [`DockerConfig::erase`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Erased {
    /// The credential helper that erased the registry's credentials.
    pub helper: Option<String>,
    /// Whether `config.json` had entries for the registry.
    pub file: bool,
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                value.push(c);
                chars.next();
            }
            value = value.trim().to_owned();
        }
        out.push((key, value));
    }
}

/// Removes what has the name `path` (a link itself, never its target), if anything.
pub(crate) fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="http://127.0.0.1:1/token", scope="a:b:pull,push""#),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: None,
                scope: Some("a:b:pull,push".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn docker_config_round_trip_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://other.io":{"auth":"dTpw"}},"psFormat":"table"}"#,
        )
        .unwrap();
        let mut config = DockerConfig::load(&path).unwrap();
        assert_eq!(
            config.credentials("other.io").unwrap(),
            Some(Credentials::new("u", "p"))
        );
        assert_eq!(config.credentials("localhost:5000").unwrap(), None);
        config
            .store("localhost:5000", &Credentials::new("alice", "s3:cret"))
            .unwrap();
        let reloaded = DockerConfig::load(&path).unwrap();
        assert_eq!(
            reloaded.credentials("localhost:5000").unwrap(),
            Some(Credentials::new("alice", "s3:cret"))
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"psFormat\": \"table\""), "{text}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut config = reloaded;
        assert!(config.remove("localhost:5000").unwrap());
        assert!(!config.remove("localhost:5000").unwrap());
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("localhost:5000")
                .unwrap(),
            None
        );
        assert_eq!(
            format!("{:?}", Credentials::new("a", "b")),
            "Credentials { username: \"a\", password: \"<redacted>\" }"
        );
    }

    #[test]
    fn a_link_planted_at_the_temporary_name_never_receives_the_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let temp = dir
            .path()
            .join(format!(".config.json.modeloci-tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &temp).unwrap();
        let mut config = DockerConfig::load(&path).unwrap();
        config
            .store("localhost:5000", &Credentials::new("alice", "s3:cret"))
            .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("localhost:5000")
                .unwrap(),
            Some(Credentials::new("alice", "s3:cret"))
        );
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_config_directory_is_0700_and_config_json_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home/.docker/config.json");
        let mut config = DockerConfig::load(&path).unwrap();
        config
            .store("localhost:5000", &Credentials::new("alice", "s3:cret"))
            .unwrap();
        assert_eq!(mode(&dir.path().join("home/.docker")), 0o700);
        assert_eq!(mode(&dir.path().join("home")), 0o700, "parents made too");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn an_existing_directory_keeps_its_mode_and_config_json_is_never_widened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("docker");
        std::fs::create_dir(&docker).unwrap();
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o750)).unwrap();
        let path = docker.join("config.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut config = DockerConfig::load(&path).unwrap();
        config
            .store("localhost:5000", &Credentials::new("alice", "s3:cret"))
            .unwrap();
        assert_eq!(mode(&docker), 0o750, "the user's directory is left alone");
        assert_eq!(
            mode(&path),
            0o600,
            "the file holding credentials is private"
        );
    }

    #[test]
    fn docker_hub_logins_live_under_dockers_own_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let mut config = DockerConfig::load(&path).unwrap();
            config
                .store(host, &Credentials::new("alice", host))
                .unwrap();
            let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let auths = doc["auths"].as_object().unwrap();
            assert_eq!(auths.keys().collect::<Vec<_>>(), [HUB_KEY], "{doc}");
            for other in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
                assert_eq!(
                    DockerConfig::load(&path)
                        .unwrap()
                        .credentials(other)
                        .unwrap(),
                    Some(Credentials::new("alice", host))
                );
            }
        }
        // What docker wrote, and an older plain key, are read.
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"ZG9ja2VyOnB3"}}}"#,
        )
        .unwrap();
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("docker.io")
                .unwrap(),
            Some(Credentials::new("docker", "pw"))
        );
        std::fs::write(&path, r#"{"auths":{"docker.io":{"auth":"b2xkOnB3"}}}"#).unwrap();
        let mut config = DockerConfig::load(&path).unwrap();
        assert_eq!(
            config.credentials("index.docker.io").unwrap(),
            Some(Credentials::new("old", "pw"))
        );
        assert!(config.remove("registry-1.docker.io").unwrap());
        assert_eq!(config.credentials("docker.io").unwrap(), None);
    }

    #[test]
    fn what_a_helper_says_is_bounded_and_never_holds_the_secret() {
        use std::os::unix::process::ExitStatusExt;
        let output = Output {
            status: std::process::ExitStatus::from_raw(1 << 8),
            stdout: Vec::new(),
            stderr: format!("cannot store hunter2-secret: {}", "x".repeat(1000)).into_bytes(),
        };
        let said = helper_said(&output, Some("hunter2-secret"));
        assert!(said.starts_with("cannot store <redacted>: xxx"), "{said}");
        assert!(said.chars().count() <= 301, "{}", said.len());
        let err = DockerConfig::helper_failed("x", "store", Some(&output), Some("hunter2-secret"));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
