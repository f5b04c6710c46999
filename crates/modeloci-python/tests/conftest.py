"""Shared fixtures: the tiny model, the ``modeloci`` command, key pairs, and real registries
(Debian's ``docker-registry``: one over plain HTTP, one over HTTPS from a private ``openssl``
CA demanding basic auth), each started on a free loopback port and stopped afterwards."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "fixtures" / "models" / "tiny"
USER, PASSWORD = "modeloci", "s3cret-for-tests"


@pytest.fixture
def tiny(tmp_path):
    """A copy of the bundled tiny model, in ``tmp_path / "tiny"``."""
    model = tmp_path / "tiny"
    shutil.copytree(TINY, model)
    return model


@pytest.fixture(scope="session")
def cli():
    """The ``modeloci`` command the test command built (``MODELOCI_BIN``)."""
    binary = os.environ.get("MODELOCI_BIN") or str(REPO / "target" / "debug" / "modeloci")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no modeloci binary at {binary}: run `cargo xtask python`, which builds it")
    return binary


def run(*args, **kwargs):
    """Runs a command, failing the test with its output when it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def files_of(root):
    """``{relative path: bytes}`` of every file under ``root``."""
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """An ``openssl`` P-256 key pair and a second public key: ``(private, public, other)``."""
    d = tmp_path_factory.mktemp("keys")
    for name in ("signer", "other"):
        run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d / f"{name}.pem")
        run("openssl", "ec", "-in", d / f"{name}.pem", "-pubout", "-out", d / f"{name}.pub")
    return d / "signer.pem", d / "signer.pub", d / "other.pub"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A running ``docker-registry``; ``host`` is ``127.0.0.1:<port>``."""

    def __init__(self, root, tls=None, htpasswd=None):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = [
            "version: 0.1",
            "log:\n  level: error\n  accesslog:\n    disabled: true",
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true",
            f"http:\n  addr: {self.host}\n  secret: modeloci-tests",
        ]
        if tls:
            config.append(f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}")
        if htpasswd:
            config.append(f"auth:\n  htpasswd:\n    realm: modeloci-tests\n    path: {htpasswd}")
        (root / "config.yml").write_text("\n".join(config) + "\n")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(root / "config.yml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    pytest.fail(f"docker-registry did not start on {self.host}")
                time.sleep(0.05)

    def stop(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A registry over plain HTTP on loopback, no auth."""
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry is missing: `cargo xtask python` installs it from Debian")
    running = Registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


def openssl_ca(d):
    """A private CA and a server certificate for 127.0.0.1 it signed: ``(ca.crt, crt, key)``."""
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "ca.key",
        "-out", d / "ca.crt", "-days", "30", "-subj", "/CN=modeloci python test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "server.key",
        "-out", d / "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
        "-CAcreateserial", "-out", d / "server.crt", "-days", "30", "-extfile", d / "server.ext")
    return d / "ca.crt", d / "server.crt", d / "server.key"


@pytest.fixture(scope="session")
def secure_registry(tmp_path_factory):
    """A registry over HTTPS (a private CA's certificate) demanding ``USER``/``PASSWORD``;
    yields ``(registry, ca_file)``."""
    d = tmp_path_factory.mktemp("secure-registry")
    ca, crt, key = openssl_ca(d)
    htpasswd = run("htpasswd", "-Bbn", USER, PASSWORD).stdout
    (d / "htpasswd").write_text(htpasswd)
    running = Registry(d, tls=(crt, key), htpasswd=d / "htpasswd")
    yield running, ca
    running.stop()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No credentials, Docker config, CA roots or cache of the user's: an empty home."""
    home = tmp_path / "home"
    home.mkdir()
    for var in ("MODELOCI_USERNAME", "MODELOCI_PASSWORD", "DOCKER_CONFIG", "MODELOCI_CERTS_D",
                "XDG_CACHE_HOME", "MODELOCI_CACHE_DIR", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MODELOCI_CERTS_D", str(tmp_path / "no-certs.d"))
    return home


def get(url):
    """The body of a GET, for looking at what a registry holds."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()
