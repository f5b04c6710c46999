//! A private certificate authority made with `openssl` for TLS tests: a CA, a server
//! certificate for `localhost`, `127.0.0.1` and `registry.test` (the name the forward proxy
//! resolves), an expired one, one for another name, and a client certificate.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of a test CA, in a temporary directory.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): `apt-get install openssl`"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// Makes the CA and every certificate.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "30",
                "-subj",
                "/CN=modeloci test CA",
            ],
        );
        let ca = Self { dir };
        ca.issue(
            "server",
            "DNS:localhost,IP:127.0.0.1,DNS:registry.test",
            "serverAuth",
            false,
        );
        ca.issue("expired", "DNS:localhost,IP:127.0.0.1", "serverAuth", true);
        ca.issue("wrong-name", "DNS:elsewhere.example", "serverAuth", false);
        ca.issue("client", "DNS:client", "clientAuth", false);
        ca
    }

    /// `<name>.crt` and `<name>.key`, signed by the CA.
    fn issue(&self, name: &str, san: &str, usage: &str, expired: bool) {
        let d = self.dir.path();
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        std::fs::write(
            d.join(&ext),
            format!("subjectAltName={san}\nextendedKeyUsage={usage}\n"),
        )
        .expect("write ext");
        if expired {
            self.sign_expired(&csr, &crt, &ext);
            return;
        }
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-extfile",
                &ext,
                "-days",
                "30",
            ],
        );
    }

    /// Signs with `openssl ca`, the one that takes dates: valid for a day two days ago.
    fn sign_expired(&self, csr: &str, crt: &str, ext: &str) {
        let d = self.dir.path();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n\
             certificate = ca.crt\nprivate_key = ca.key\nserial = serial\n\
             default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
        )
        .expect("ca.cnf");
        std::fs::write(d.join("index.txt"), "").expect("index");
        std::fs::write(d.join("serial"), "1000\n").expect("serial");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let (start, end) = (stamp(now - 2 * 86_400), stamp(now - 86_400));
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-notext",
                "-in",
                csr,
                "-out",
                crt,
                "-extfile",
                ext,
                "-startdate",
                &start,
                "-enddate",
                &end,
            ],
        );
    }

    /// A file of the CA's directory: `ca.crt`, `server.crt`, `client.key`, ...
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A Docker-style `certs.d` root with `<host>/ca.crt` and, with `client`,
    /// `<host>/client.cert` and `<host>/client.key`.
    pub fn certs_d(&self, root: &Path, host: &str, client: bool) -> PathBuf {
        let dir = root.join(host);
        std::fs::create_dir_all(&dir).expect("certs.d");
        std::fs::copy(self.path("ca.crt"), dir.join("ca.crt")).expect("ca.crt");
        if client {
            std::fs::copy(self.path("client.crt"), dir.join("client.cert")).expect("cert");
            std::fs::copy(self.path("client.key"), dir.join("client.key")).expect("key");
        }
        root.to_owned()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// `YYYYMMDDHHMMSSZ` for seconds since the epoch (UTC), as `openssl ca -startdate` takes.
fn stamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
