//! push, pull and login over HTTPS with a private CA, as a user runs them: `--ca-file`,
//! `MODELOCI_CA_FILE`, a certs.d directory (`MODELOCI_CERTS_D`), mutual TLS, `--insecure`
//! and its warning, `--tls`, every handshake failure's message and hint, and proxies.

use std::path::Path;

use assert_cmd::Command;
use modeloci_tests::forward_proxy::ForwardProxy;
use modeloci_tests::registry::{Registry, free_port};
use modeloci_tests::tls::TestCa;

use crate::{client_env, fixtures, modeloci, transcript};

const UNKNOWN_ISSUER_HINT: &str = "hint: trust the registry's certificate authority: pass --ca-file PEM (or set MODELOCI_CA_FILE), or put it in certs.d/HOST:PORT/ under ~/.docker or /etc/docker as ca.crt";

const INSECURE_WARNING: &str = "warning: --insecure: the registry's TLS certificate is not verified; anyone on the way can read and change what is sent, credentials included";

fn golden() -> String {
    fixtures()
        .join("golden/tiny-1.0.0.tar")
        .display()
        .to_string()
}

/// The command with the client's environment in `tmp` and an empty certs.d root.
fn cmd(tmp: &Path) -> Command {
    let mut cmd = modeloci(tmp);
    cmd.envs(client_env(tmp))
        .env("MODELOCI_CERTS_D", tmp.join("no-certs.d"));
    cmd
}

fn run(cmd: &mut Command, tmp: &Path, registry: &str) -> String {
    transcript(cmd, tmp).replace(registry, "[REGISTRY]")
}

fn failed(message: &str, hint: &str) -> String {
    format!("exit: 2\n--- stdout\n--- stderr\nerror: [REGISTRY]: {message}\nhint: {hint}\n")
}

fn tls_registry(ca: &TestCa, cert: &str) -> Registry {
    Registry::builder()
        .tls(
            &ca.path(&format!("{cert}.crt")),
            &ca.path(&format!("{cert}.key")),
        )
        .start()
}

#[test]
fn a_private_ca_is_trusted_by_flag_env_or_certs_d_and_the_push_reads_back_in_skopeo() {
    let ca = TestCa::new();
    let registry = tls_registry(&ca, "server");
    let reg = &registry.addr;
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let target = format!("https://{reg}/tls/tiny:1");

    let out = run(
        cmd(tmp).args(["push", "--archive", &golden(), &target]),
        tmp,
        reg,
    );
    assert_eq!(
        out,
        format!(
            "exit: 2\n--- stdout\n--- stderr\nerror: [REGISTRY]: its TLS certificate is signed by an unknown authority\n{UNKNOWN_ISSUER_HINT}\n"
        )
    );
    assert!(!out.contains("--plain-http"));
    let ca_file = ca.path("ca.crt");
    let out = cmd(tmp)
        .args(["push", "--archive", &golden(), &target, "--ca-file"])
        .arg(&ca_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pulled = |c: &mut Command, name: &str| {
        let out = c.args(["pull", &target, "-o", name]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(tmp.join(name)).unwrap(),
            std::fs::read(golden()).unwrap()
        );
    };
    pulled(cmd(tmp).env("MODELOCI_CA_FILE", &ca_file), "env.tar");
    let certs_d = ca.certs_d(&tmp.join("certs.d"), reg, false);
    pulled(cmd(tmp).env("MODELOCI_CERTS_D", &certs_d), "certs-d.tar");
    // `--tls` instead of the scheme: HTTPS to a loopback address.
    let plain_ref = format!("{reg}/tls/tiny:1");
    let out = cmd(tmp)
        .args(["pull", &plain_ref, "-o", "tls.tar", "--tls", "--ca-file"])
        .arg(&ca_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(certs_d.join(reg))
        .arg(format!("docker://{reg}/tls/tiny:1"))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let manifest = String::from_utf8(inspect.stdout).unwrap();
    assert!(
        manifest.contains("application/vnd.oci.image.manifest.v1+json"),
        "{manifest}"
    );
}

#[test]
fn insecure_skips_verification_and_warns_every_time() {
    let ca = TestCa::new();
    let registry = tls_registry(&ca, "server");
    let reg = &registry.addr;
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let target = format!("https://{reg}/insecure/tiny:1");
    for extra in [&[][..], &["--json"][..]] {
        let out = cmd(tmp)
            .args(extra)
            .args(["push", "--insecure", "--archive", &golden(), &target])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("{INSECURE_WARNING}\n")
        );
    }
    let out = run(
        cmd(tmp).args(["pull", "--insecure", "--plain-http", &target, "-o", "x.tar"]),
        tmp,
        reg,
    );
    assert!(out.starts_with("exit: 2\n"), "{out}");
    assert!(
        out.contains("the argument '--insecure' cannot be used with '--plain-http'"),
        "{out}"
    );
}

#[test]
fn expired_and_wrong_name_certificates_are_told_apart() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let ca_file = ca.path("ca.crt");
    let expired = tls_registry(&ca, "expired");
    let out = run(
        cmd(tmp)
            .args([
                "pull",
                &format!("https://{}/a:1", expired.addr),
                "-o",
                "x.tar",
                "--ca-file",
            ])
            .arg(&ca_file),
        tmp,
        &expired.addr,
    );
    assert_eq!(
        out,
        failed(
            "its TLS certificate has expired",
            "the registry's certificate has expired: its operator must renew it"
        )
    );
    let wrong = tls_registry(&ca, "wrong-name");
    let host = wrong.addr.replace("127.0.0.1", "localhost");
    let out = run(
        cmd(tmp)
            .args([
                "pull",
                &format!("https://{host}/a:1"),
                "-o",
                "x.tar",
                "--ca-file",
            ])
            .arg(&ca_file),
        tmp,
        &host,
    );
    assert_eq!(
        out,
        failed(
            "its TLS certificate is not valid for this name (it is for elsewhere.example)",
            "use a name the certificate is for: elsewhere.example"
        )
    );
}

#[test]
fn tls_and_plain_http_mismatches_hint_at_the_other_scheme() {
    let ca = TestCa::new();
    let tls = tls_registry(&ca, "server");
    let plain = Registry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let out = run(
        cmd(tmp).args(["pull", &format!("{}/a:1", tls.addr), "-o", "x.tar"]),
        tmp,
        &tls.addr,
    );
    assert_eq!(
        out,
        failed(
            "it speaks HTTPS and refused a plain HTTP request",
            "the registry serves HTTPS: pass --tls, or use an https:// reference"
        )
    );
    let out = run(
        cmd(tmp).args([
            "pull",
            "--tls",
            &format!("{}/a:1", plain.addr),
            "-o",
            "x.tar",
        ]),
        tmp,
        &plain.addr,
    );
    assert_eq!(
        out,
        failed(
            "it does not speak TLS (a plain HTTP server?)",
            "the registry serves plain HTTP: pass --plain-http, or use an http:// reference"
        )
    );
    let closed = format!("localhost:{}", free_port());
    let out = run(
        cmd(tmp).args([
            "pull",
            &format!("{closed}/a:1"),
            "-o",
            "x.tar",
            "--timeout",
            "2",
        ]),
        tmp,
        &closed,
    );
    assert!(
        out.ends_with("hint: is a registry listening on [REGISTRY]? check the port (one serving HTTPS needs --tls or an https:// reference)\n"),
        "{out}"
    );
}

#[test]
fn mutual_tls_takes_the_client_pair_from_certs_d() {
    let ca = TestCa::new();
    let registry = Registry::builder()
        .tls(&ca.path("server.crt"), &ca.path("server.key"))
        .client_ca(&ca.path("ca.crt"))
        .start();
    let reg = &registry.addr;
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let target = format!("https://{reg}/mtls/tiny:1");
    let out = run(
        cmd(tmp)
            .args(["push", "--archive", &golden(), &target, "--ca-file"])
            .arg(ca.path("ca.crt")),
        tmp,
        reg,
    );
    assert_eq!(
        out,
        failed(
            "it requires a client certificate, or refused the one sent",
            "the registry wants a client certificate: put client.cert and client.key in certs.d/HOST:PORT/ under ~/.docker or /etc/docker"
        )
    );
    let certs_d = ca.certs_d(&tmp.join("certs.d"), reg, true);
    let out = cmd(tmp)
        .env("MODELOCI_CERTS_D", &certs_d)
        .args(["push", "--archive", &golden(), &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn https_proxy_carries_other_hosts_but_not_no_proxy_ones_nor_loopback_and_sees_no_credentials() {
    let ca = TestCa::new();
    let registry = Registry::builder()
        .tls(&ca.path("server.crt"), &ca.path("server.key"))
        .htpasswd("alice", "wonderland")
        .start();
    let port = registry.addr.rsplit_once(':').unwrap().1.to_owned();
    // A name only the proxy resolves (to 127.0.0.1): not a loopback host to the client.
    let host = format!("registry.test:{port}");
    let proxy = ForwardProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let proxied = |c: &mut Command| {
        c.env("HTTPS_PROXY", format!("http://puser:ppass@{}", proxy.addr))
            .env("MODELOCI_CA_FILE", ca.path("ca.crt"));
    };
    let mut login = cmd(tmp);
    proxied(&mut login);
    let out = login
        .args(["login", &host, "--username", "alice", "--password-stdin"])
        .write_stdin("wonderland\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut push = cmd(tmp);
    proxied(&mut push);
    let out = push
        .args(["push", "--archive", &golden(), &format!("{host}/p/tiny:1")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let heads = proxy.heads();
    assert!(!heads.is_empty());
    for head in &heads {
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(lines[0], format!("CONNECT {host} HTTP/1.1"), "{head}");
        assert!(
            head.contains("Proxy-Authorization: Basic cHVzZXI6cHBhc3M=\r\n")
                || head.contains("proxy-authorization: Basic cHVzZXI6cHBhc3M=\r\n"),
            "{head}"
        );
        assert!(
            !head.contains("YWxpY2U6d29uZGVybGFuZA"),
            "registry credentials reached the proxy: {head}"
        );
    }
    let seen = heads.len();

    // NO_PROXY covers it: the client goes direct, and cannot resolve the name.
    let mut direct = cmd(tmp);
    proxied(&mut direct);
    let out = direct
        .env("NO_PROXY", "other.example,.test")
        .args([
            "pull",
            &format!("{host}/p/tiny:1"),
            "-o",
            "x.tar",
            "--timeout",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(proxy.heads().len(), seen, "NO_PROXY was ignored");
    // Loopback is never proxied.
    let mut local = cmd(tmp);
    proxied(&mut local);
    let out = local
        .args([
            "pull",
            &format!("https://{}/p/tiny:1", registry.addr),
            "-o",
            "l.tar",
        ])
        .env("DOCKER_CONFIG", tmp.join("docker-empty"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused access (401, without credentials)")
    );
    assert_eq!(
        proxy.heads().len(),
        seen,
        "a loopback host went through the proxy"
    );
}

#[test]
fn http_and_https_references_choose_the_scheme() {
    let plain = Registry::start(None);
    let reg = &plain.addr;
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let target = format!("http://{reg}/scheme/tiny:1");
    let out = cmd(tmp)
        .args(["push", "--archive", &golden(), &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cmd(tmp)
        .args(["pull", &target, "-o", "x.tar"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(tmp.join("x.tar")).unwrap(),
        std::fs::read(golden()).unwrap()
    );
    let out = run(
        cmd(tmp).args(["pull", "--tls", &target, "-o", "y.tar"]),
        tmp,
        reg,
    );
    assert_eq!(
        out,
        "exit: 2\n--- stdout\n--- stderr\nerror: an http:// reference cannot be combined with --tls or --insecure\n"
    );
    let out = run(
        cmd(tmp).args([
            "pull",
            &format!("https://{reg}/scheme/tiny:1"),
            "-o",
            "y.tar",
        ]),
        tmp,
        reg,
    );
    assert_eq!(
        out,
        failed(
            "it does not speak TLS (a plain HTTP server?)",
            "the registry serves plain HTTP: pass --plain-http, or use an http:// reference"
        )
    );
}
