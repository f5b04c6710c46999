"""pull, push, verify and inspect against real registries: plain HTTP on loopback, and HTTPS
from a private CA with basic auth, credentials from each place the CLI reads them."""

import base64
import json
import os

import pytest

import modeloci
from conftest import PASSWORD, TINY, USER, files_of, run
from modeloci import errors
from modeloci.core import ModelPackager
from modeloci.models import OCIConfig

CONFIG = OCIConfig(model_name="tiny", version="1.0.0", framework="pytorch", architecture="transformer")


@pytest.fixture
def archive(tiny):
    return ModelPackager(cache=False).package(tiny, CONFIG)


def test_push_inspect_verify_and_pull(registry, archive, tmp_path, clean_env):
    ref = f"{registry.host}/python/tiny:1.0.0"
    pushed = modeloci.push(archive, ref, tags=["latest"], plain_http=True)
    assert pushed.tags == ["1.0.0", "latest"]
    assert pushed.manifest_digest == modeloci.inspect(archive).manifest_digest
    assert {b.outcome for b in pushed.blobs} == {"uploaded"} and len(pushed.blobs) == 8
    assert pushed.bytes_uploaded == sum(b.size for b in pushed.blobs)

    again = modeloci.push(archive, ref, plain_http=True)
    assert {b.outcome for b in again.blobs} == {"existed"} and again.bytes_uploaded == 0

    shown = modeloci.inspect(ref, plain_http=True)
    assert shown.config == CONFIG
    assert shown.files == modeloci.inspect(archive).files
    assert shown.manifest_digest == pushed.manifest_digest

    checked = modeloci.verify(ref, plain_http=True)
    assert checked.ok and len(checked.blobs) == 8

    events = []
    pulled = modeloci.pull(ref, tmp_path / "model", plain_http=True, progress=events.append)
    assert files_of(tmp_path / "model") == files_of(TINY)
    assert pulled.config == CONFIG and pulled.manifest_digest == pushed.manifest_digest
    assert sorted(f.path for f in pulled.files) == sorted(files_of(TINY))
    assert pulled.directory == str(tmp_path / "model") and pulled.archive is None
    assert "downloading" in {e.stage for e in events}


def test_pull_include_fetches_only_matching_files(registry, archive, tmp_path, clean_env):
    ref = f"{registry.host}/python/include:1.0.0"
    modeloci.push(archive, ref, plain_http=True)
    pulled = modeloci.pull(ref, tmp_path / "part", include=["*.json"], plain_http=True)
    assert sorted(files_of(tmp_path / "part")) == [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]
    assert pulled.bytes_downloaded < sum(len(b) for b in files_of(TINY).values())


def test_pull_to_an_archive(registry, archive, tmp_path, clean_env):
    ref = f"{registry.host}/python/archive:1.0.0"
    modeloci.push(archive, ref, plain_http=True)
    pulled = modeloci.pull(ref, archive=tmp_path / "copy.tar", plain_http=True)
    assert pulled.directory is None and pulled.archive == str(tmp_path / "copy.tar")
    assert modeloci.verify(tmp_path / "copy.tar").manifest_digest == pulled.manifest_digest


def test_pull_of_a_missing_tag_names_it(registry, tmp_path, clean_env):
    with pytest.raises(errors.NotFound) as raised:
        modeloci.pull(f"{registry.host}/python/none:nope", tmp_path / "x", plain_http=True)
    assert isinstance(raised.value, LookupError)
    assert not (tmp_path / "x").exists()


def test_signed_pull_verifies_with_the_key_and_refuses_another(cli, registry, archive, keys, tmp_path, clean_env):
    private, public, other = keys
    run(cli, "sign", archive, "--key", private)
    ref = f"{registry.host}/python/signed:1.0.0"
    modeloci.push(archive, ref, plain_http=True)
    pulled = modeloci.pull(ref, tmp_path / "ok", key=public, plain_http=True)
    assert pulled.signature.key == str(public) and pulled.signature.files == 7
    assert files_of(tmp_path / "ok") == files_of(TINY)
    assert modeloci.verify(ref, key=[other, public], plain_http=True).signature.key == str(public)
    assert modeloci.verify(archive, key=public).signature.files == 7
    with pytest.raises(errors.SignatureError):
        modeloci.pull(ref, tmp_path / "refused", key=other, plain_http=True)
    assert not (tmp_path / "refused").exists()


def test_https_with_a_ca_file_and_credentials_as_arguments(secure_registry, archive, tmp_path, clean_env):
    reg, ca = secure_registry
    ref = f"{reg.host}/python/secure:1.0.0"
    with pytest.raises(errors.TlsError) as raised:
        modeloci.push(archive, ref, tls=True, username=USER, password=PASSWORD)
    assert isinstance(raised.value, ConnectionError)
    with pytest.raises(errors.Unauthorized) as raised:
        modeloci.push(archive, ref, tls=True, ca_file=ca)
    assert isinstance(raised.value, PermissionError)
    pushed = modeloci.push(archive, ref, tls=True, ca_file=ca, username=USER, password=PASSWORD)
    pulled = modeloci.pull(ref, tmp_path / "m", tls=True, ca_file=str(ca), username=USER, password=PASSWORD)
    assert pulled.manifest_digest == pushed.manifest_digest
    assert files_of(tmp_path / "m") == files_of(TINY)


def test_credentials_come_from_the_environment_then_docker_config(secure_registry, archive, tmp_path,
                                                                  clean_env, monkeypatch):
    reg, ca = secure_registry
    ref = f"{reg.host}/python/env:1.0.0"
    monkeypatch.setenv("MODELOCI_USERNAME", USER)
    monkeypatch.setenv("MODELOCI_PASSWORD", PASSWORD)
    modeloci.push(archive, ref, tls=True, ca_file=ca)
    monkeypatch.delenv("MODELOCI_PASSWORD")
    with pytest.raises(errors.InvalidEnvironment) as raised:
        modeloci.inspect(ref, tls=True, ca_file=ca)
    assert "MODELOCI_PASSWORD" in str(raised.value)
    monkeypatch.delenv("MODELOCI_USERNAME")
    docker = clean_env / ".docker"
    docker.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
    assert modeloci.inspect(ref, tls=True, ca_file=ca).config == CONFIG
    # Docker's config holds nothing for another registry: none of it is sent there.
    (docker / "config.json").write_text(json.dumps({"auths": {"elsewhere.test": {"auth": auth}}}))
    with pytest.raises(errors.Unauthorized):
        modeloci.inspect(ref, tls=True, ca_file=ca)


def test_the_ca_can_come_from_certs_d(secure_registry, archive, tmp_path, clean_env, monkeypatch):
    reg, ca = secure_registry
    certs = tmp_path / "certs.d" / reg.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(ca.read_bytes())
    monkeypatch.setenv("MODELOCI_CERTS_D", str(tmp_path / "certs.d"))
    ref = f"{reg.host}/python/certsd:1.0.0"
    modeloci.push(archive, ref, tls=True, username=USER, password=PASSWORD)
    assert modeloci.verify(ref, tls=True, username=USER, password=PASSWORD).ok


def test_registry_arguments_are_checked(registry, archive, tmp_path, clean_env):
    with pytest.raises(TypeError, match="unexpected keyword argument 'plain_htp'"):
        modeloci.push(archive, f"{registry.host}/x:1", plain_htp=True)
    with pytest.raises(ValueError, match="username and password"):
        modeloci.push(archive, f"{registry.host}/x:1", plain_http=True, username="u")
    with pytest.raises(errors.InvalidReference):
        modeloci.pull("Not A Reference", tmp_path / "x")
    with pytest.raises(errors.Unreachable) as raised:
        modeloci.inspect("127.0.0.1:1/x:y", plain_http=True, timeout=2)
    assert isinstance(raised.value, ConnectionError)


def test_timeout_and_concurrency_are_bounded(registry, archive, clean_env):
    ref = f"{registry.host}/python/bounds:1"
    for bad in (0, -1, float("nan"), 1e300):
        with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
            modeloci.push(archive, ref, plain_http=True, timeout=bad)
    with pytest.raises(ValueError, match="concurrency must be 1 to 256, not 0"):
        modeloci.push(archive, ref, plain_http=True, concurrency=0)
    with pytest.raises(ValueError, match="concurrency must be 1 to 256, not 100000"):
        modeloci.push(archive, ref, plain_http=True, concurrency=100_000)
