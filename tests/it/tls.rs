//! HTTPS as deployed, against the real registry serving TLS with a private CA made by
//! openssl: trust (CA file, certs.d), mutual TLS, each handshake failure told apart, the
//! scheme mismatches both ways, and proxies from the environment.

use std::path::PathBuf;

use modeloci_archive::Archive;
use modeloci_registry::{
    Client, ClientOptions, Credentials, Error, PullOptions, PullTarget, PushOptions, Reference,
    Scheme, TlsFailure, TlsOptions, pull, push,
};
use modeloci_tests::registry::Registry;
use modeloci_tests::tls::TestCa;

use crate::fixtures;

fn tls_registry(ca: &TestCa, cert: &str) -> Registry {
    Registry::builder()
        .tls(
            &ca.path(&format!("{cert}.crt")),
            &ca.path(&format!("{cert}.key")),
        )
        .start()
}

fn https(tls: TlsOptions) -> ClientOptions {
    ClientOptions::default()
        .with_scheme(Some(Scheme::Https))
        .with_tls(tls)
        .with_retries(0)
}

fn ping(addr: &str, options: ClientOptions) -> Result<(), Error> {
    Client::try_new(addr, options)?.ping()
}

#[track_caller]
fn assert_tls(result: Result<(), Error>, addr: &str, expected: TlsFailure, message: &str) {
    match result {
        Err(Error::Tls { registry, failure }) => {
            assert_eq!((registry.as_str(), &failure), (addr, &expected));
            assert_eq!(Error::Tls { registry, failure }.to_string(), message);
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn a_private_ca_is_refused_until_trusted_by_file_or_certs_d() {
    let ca = TestCa::new();
    let registry = tls_registry(&ca, "server");
    let addr = &registry.addr;
    assert_tls(
        ping(addr, https(TlsOptions::default())),
        addr,
        TlsFailure::UnknownIssuer,
        &format!("{addr}: its TLS certificate is signed by an unknown authority"),
    );
    let with_file = TlsOptions::default().with_ca_file(Some(ca.path("ca.crt")));
    ping(addr, https(with_file)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = ca.certs_d(dir.path(), addr, false);
    ping(
        addr,
        https(TlsOptions::default().with_certs_dirs(vec![root])),
    )
    .unwrap();
    ping(addr, https(TlsOptions::default().with_insecure(true))).unwrap();
}

#[test]
fn expired_and_wrong_name_certificates_say_so() {
    let ca = TestCa::new();
    let trusted = || https(TlsOptions::default().with_ca_file(Some(ca.path("ca.crt"))));
    let expired = tls_registry(&ca, "expired");
    assert_tls(
        ping(&expired.addr, trusted()),
        &expired.addr,
        TlsFailure::Expired,
        &format!("{}: its TLS certificate has expired", expired.addr),
    );
    let wrong = tls_registry(&ca, "wrong-name");
    let localhost = wrong.addr.replace("127.0.0.1", "localhost");
    assert_tls(
        ping(&localhost, trusted()),
        &localhost,
        TlsFailure::WrongName {
            names: vec!["elsewhere.example".into()],
        },
        &format!(
            "{localhost}: its TLS certificate is not valid for this name (it is for elsewhere.example)"
        ),
    );
}

#[test]
fn tls_and_plain_http_mismatches_are_named_both_ways() {
    let ca = TestCa::new();
    let tls = tls_registry(&ca, "server");
    let plain = Registry::start(None);
    let options = ClientOptions::default().with_retries(0);
    assert_tls(
        ping(&tls.addr, options.clone()),
        &tls.addr,
        TlsFailure::PlainToTls,
        &format!(
            "{}: it speaks HTTPS and refused a plain HTTP request",
            tls.addr
        ),
    );
    assert_tls(
        ping(&plain.addr, https(TlsOptions::default())),
        &plain.addr,
        TlsFailure::NotTls,
        &format!(
            "{}: it does not speak TLS (a plain HTTP server?)",
            plain.addr
        ),
    );
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let ca = TestCa::new();
    let registry = Registry::builder()
        .tls(&ca.path("server.crt"), &ca.path("server.key"))
        .client_ca(&ca.path("ca.crt"))
        .start();
    let addr = &registry.addr;
    let trust = || TlsOptions::default().with_ca_file(Some(ca.path("ca.crt")));
    assert_tls(
        ping(addr, https(trust())),
        addr,
        TlsFailure::ClientCertificate,
        &format!("{addr}: it requires a client certificate, or refused the one sent"),
    );
    // A client certificate from another authority is refused the same way.
    let other = TestCa::new();
    let stranger = trust().with_client_cert(other.path("client.crt"), other.path("client.key"));
    assert_tls(
        ping(addr, https(stranger)),
        addr,
        TlsFailure::ClientCertificate,
        &format!("{addr}: it requires a client certificate, or refused the one sent"),
    );
    let explicit = trust().with_client_cert(ca.path("client.crt"), ca.path("client.key"));
    ping(addr, https(explicit)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = ca.certs_d(dir.path(), addr, true);
    ping(
        addr,
        https(TlsOptions::default().with_certs_dirs(vec![root])),
    )
    .unwrap();
}

#[test]
fn tls_files_are_bounded_and_must_hold_pem() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.crt");
    std::fs::write(&big, vec![b'x'; (1 << 20) + 1]).unwrap();
    let empty = dir.path().join("empty.crt");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = |path: &PathBuf| {
        Client::try_new(
            "localhost:1",
            https(TlsOptions::default().with_ca_file(Some(path.clone()))),
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        err(&big),
        format!(
            "{}: it is over the 1048576-byte limit for a certificate file",
            big.display()
        )
    );
    assert_eq!(
        err(&empty),
        format!("{}: it holds no PEM certificate", empty.display())
    );
}

#[test]
fn push_and_pull_over_tls_with_a_reference_scheme_read_back_by_skopeo() {
    let ca = TestCa::new();
    let registry = Registry::builder()
        .tls(&ca.path("server.crt"), &ca.path("server.key"))
        .htpasswd("alice", "wonderland")
        .start();
    let r: Reference = format!("https://{}/tls/tiny:1", registry.addr)
        .parse()
        .unwrap();
    let options = ClientOptions::default()
        .with_scheme(r.scheme)
        .with_credentials(Some(Credentials::new("alice", "wonderland")))
        .with_tls(TlsOptions::default().with_ca_file(Some(ca.path("ca.crt"))));
    let client = Client::try_new(r.api_host(), options).unwrap();
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    let report = push(
        &client,
        &Archive::open(&golden).unwrap(),
        &r,
        &PushOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pulled.tar");
    let target = PullTarget::Archive(out.clone());
    pull(&client, &r, &target, &PullOptions::default()).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&golden).unwrap()
    );

    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(ca.path("ca.crt"), certs.path().join("ca.crt")).unwrap();
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(certs.path())
        .args(["--creds", "alice:wonderland"])
        .arg(format!("docker://{}/tls/tiny:1", registry.addr))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let digest = modeloci_digest::Hasher::digest_bytes(&inspect.stdout).digest;
    assert_eq!(digest, report.manifest_digest);
}
