//! A real OCI registry for tests: Debian's `docker-registry` (CNCF Distribution 2.8) on a
//! free 127.0.0.1 port, with filesystem storage in a temporary directory, stopped on drop;
//! plain HTTP, or HTTPS (and mutual TLS) through [`Registry::builder`].

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:port`
    pub addr: String,
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// How to start a registry: auth, TLS and mutual TLS.
#[derive(Debug, Default)]
pub struct Builder<'a> {
    htpasswd: Option<(&'a str, &'a str)>,
    tls: Option<(PathBuf, PathBuf)>,
    client_ca: Option<PathBuf>,
}

impl<'a> Builder<'a> {
    /// Demands basic auth for this user.
    pub fn htpasswd(mut self, user: &'a str, password: &'a str) -> Self {
        self.htpasswd = Some((user, password));
        self
    }

    /// Serves HTTPS with this certificate and key (`http.tls`).
    pub fn tls(mut self, certificate: &Path, key: &Path) -> Self {
        self.tls = Some((certificate.to_owned(), key.to_owned()));
        self
    }

    /// Demands a client certificate signed by this CA (`http.tls.clientcas`).
    pub fn client_ca(mut self, ca: &Path) -> Self {
        self.client_ca = Some(ca.to_owned());
        self
    }

    /// Starts it.
    pub fn start(self) -> Registry {
        Registry::start_with(self)
    }
}

impl Registry {
    /// Starts a registry; with `htpasswd`, one that demands basic auth for that user.
    ///
    /// # Panics
    ///
    /// When `docker-registry` (or `htpasswd`) is missing, with how to get it.
    pub fn start(htpasswd: Option<(&str, &str)>) -> Self {
        Self::start_with(Builder {
            htpasswd,
            ..Builder::default()
        })
    }

    /// A registry to configure before starting it.
    pub fn builder<'a>() -> Builder<'a> {
        Builder::default()
    }

    fn start_with(builder: Builder<'_>) -> Self {
        let htpasswd = builder.htpasswd;
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: modeloci-tests\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &builder.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            if let Some(ca) = &builder.client_ca {
                config.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
        }
        if let Some((user, password)) = htpasswd {
            let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().unwrap_or_else(|e| {
                panic!("cannot run htpasswd ({e}): run `cargo xtask ci`, which installs apache2-utils")
            });
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: modeloci-tests\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("registry.log")).expect("log file")))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run docker-registry ({e}): run `cargo xtask ci`, which installs it, or `apt-get install docker-registry`")
            });
        let registry = Self { child, dir, addr };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {} (log: {})",
            self.addr,
            self.log()
        );
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The storage directory.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo inspect --tls-verify=false --raw docker://<reference>`: the document as the
/// registry stores it (without `--raw`, skopeo refuses artifacts that are not images).
///
/// # Panics
///
/// When skopeo is missing (`cargo xtask ci` installs it) or fails.
pub fn skopeo_raw(reference: &str) -> Vec<u8> {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed by `cargo xtask ci`");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
