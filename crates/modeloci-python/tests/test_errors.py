"""The exceptions of ``modeloci.errors``: each library error is raised as its own class, with
the built-in exception the reference raises for the case as a base, the library's message
and its facts as attributes.

Run against the installed wheel: ``pytest crates/modeloci-python/tests/test_errors.py``.
The registry cases run a real ``docker-registry`` on 127.0.0.1, or a scripted HTTP server
for answers a real registry does not give.
"""

import builtins
import errno
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Type

import pytest

import modeloci
from modeloci import errors
from modeloci.core import ModelPackager, ModelUnpackager
from modeloci.models import OCIConfig

ERRORS_RS = Path(__file__).parents[1] / "src/errors.rs"

CONFIG = OCIConfig(model_name="tiny", version="1.0", framework="pytorch", architecture="mlp")


def raised(cls: Type[BaseException], call: Callable[[], Any]) -> Any:
    """The exception ``call`` raises, which must be exactly of class ``cls``."""
    with pytest.raises(BaseException) as info:
        call()
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    return info.value


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths land in the test's directory; no credentials or caches of the user."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("MODELOCI_CACHE_DIR", str(tmp_path / "cache"))
    for variable in ("MODELOCI_USERNAME", "MODELOCI_PASSWORD", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "weights.bin").write_bytes(b"w" * 1000)
    (directory / "config.json").write_text('{"hidden": 4}')
    return directory


def pack(model: Path, output: str, tag: Optional[str] = None, **options: Any) -> Path:
    packager = ModelPackager(cache=False, **options)
    return Path(packager.package(model, CONFIG, output=output, tag=tag))


def rewrite(archive: Path, out: Path, change: Callable[[tarfile.TarInfo, bytes], Any]) -> Path:
    """A copy of the tar ``archive`` in which ``change(member, data)`` gives each member's
    data (``None`` drops it)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b""
            data = change(member, data)
            if data is not None:
                member.size = len(data) if member.isfile() else 0
                dst.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return out


def pulling(reference: str, directory: str = "out", **options: Any) -> Callable[[], Any]:
    """A pull of ``reference`` into ``directory`` over plain HTTP (the registries here are
    loopback ones), as a call for :func:`raised`."""
    options.setdefault("plain_http", "tls" not in options)
    return lambda: modeloci.pull(reference, directory, **options)


def manifest_of(archive: Path) -> Dict[str, Any]:
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile("manifest.json"))


def blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


# Packing


def test_packing_a_missing_directory_is_not_a_directory(tmp_path: Path) -> None:
    e = raised(errors.NotADirectory, lambda: ModelPackager(cache=False).package("missing", CONFIG))
    assert isinstance(e, NotADirectoryError)
    assert isinstance(e, errors.ModelociError)
    assert str(e) == "model directory missing does not exist or is not a directory"
    assert e.path == "missing"
    assert e.filename == "missing"
    assert e.errno is None
    assert not list(tmp_path.glob("*.tar"))


def test_packing_a_file_is_not_a_directory(model: Path) -> None:
    file = model / "weights.bin"
    e = raised(errors.NotADirectory, lambda: ModelPackager(cache=False).package(file, CONFIG))
    assert isinstance(e, NotADirectoryError)
    assert str(e) == f"model directory {file} does not exist or is not a directory"
    assert e.path == str(file)


def test_packing_an_empty_directory_is_an_empty_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    e = raised(errors.EmptyModel, lambda: ModelPackager(cache=False).package("empty", CONFIG))
    assert isinstance(e, ValueError)
    assert isinstance(e, errors.ArchiveError)
    assert str(e) == "model directory empty holds no files to pack"
    assert e.path == "empty"


def test_an_invalid_tag_and_an_unknown_compression_are_value_errors(model: Path) -> None:
    e = raised(errors.InvalidTag, lambda: pack(model, "a.tar", tag="-bad"))
    assert isinstance(e, ValueError)
    assert str(e) == (
        '"-bad" is not a valid tag (a tag is up to 128 letters, digits, _ . and -, '
        "not starting with . or -), e.g. _-bad"
    )
    assert (e.tag, e.suggestion) == ("-bad", "_-bad")
    e = raised(errors.InvalidOption, lambda: pack(model, "a.tar", compression="bogus"))
    assert isinstance(e, ValueError)
    assert str(e) == 'unknown compression "bogus" (expected gzip, zstd, none or auto)'


def test_a_symbolic_link_the_policy_refuses_is_symlink_refused(model: Path) -> None:
    (model / "link").symlink_to("weights.bin")
    e = raised(errors.SymlinkRefused, lambda: pack(model, "a.tar", symlinks="error"))
    assert isinstance(e, ValueError)
    link = model / "link"
    assert str(e) == f"cannot pack {link}: it is a symbolic link, and the symlink policy refuses links"
    assert e.path == str(link)
    assert not Path("a.tar").exists()


def test_an_unusable_source_date_epoch_is_an_invalid_environment(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "abc")
    e = raised(errors.InvalidEnvironment, lambda: pack(model, "a.tar"))
    assert isinstance(e, ValueError)
    message = 'SOURCE_DATE_EPOCH is "abc", not a number of seconds since 1970'
    assert str(e) == message
    assert (e.variable, e.reason) == ("SOURCE_DATE_EPOCH", message)


def test_adding_a_file_the_model_has_is_already_in_model(model: Path) -> None:
    archive = pack(model, "a.tar")
    e = raised(errors.AlreadyInModel, lambda: ModelPackager().add_layer(archive, model / "weights.bin"))
    assert isinstance(e, FileExistsError)
    assert str(e) == 'the model already has "weights.bin"'
    assert e.path == "weights.bin"
    # A path inside the model, not a file on disk: no filename.
    assert e.filename is None


def test_adding_a_missing_file_is_file_missing(model: Path) -> None:
    archive = pack(model, "a.tar")
    e = raised(errors.FileMissing, lambda: ModelPackager().add_layer(archive, "nope.bin"))
    assert isinstance(e, FileNotFoundError)
    assert str(e) == "nope.bin does not exist or is not a file"
    assert (e.filename, e.errno, e.strerror) == ("nope.bin", errno.ENOENT, os.strerror(errno.ENOENT))


# Reading and unpacking


def test_an_archive_that_does_not_exist_is_file_missing_with_errno() -> None:
    e = raised(errors.FileMissing, lambda: ModelUnpackager().verify_layers("absent.tar"))
    assert isinstance(e, FileNotFoundError)
    assert isinstance(e, errors.FileAccess)
    assert e.errno == errno.ENOENT
    assert e.strerror == os.strerror(errno.ENOENT)
    assert e.filename == "absent.tar"
    assert e.path == "absent.tar"
    # The library's message, not OSError's "[Errno 2] ...".
    assert str(e) == f"absent.tar: {os.strerror(errno.ENOENT)} (os error 2)"


ACCESS_DENIED = """
import errno, os, sys
from modeloci import errors
from modeloci.core import ModelUnpackager
archive = sys.argv[1]
try:
    ModelUnpackager().verify_layers(archive)
except errors.AccessDenied as e:
    assert isinstance(e, PermissionError)
    assert (e.errno, e.strerror, e.filename) == (errno.EACCES, os.strerror(errno.EACCES), archive)
    assert str(e) == f"{archive}: {os.strerror(errno.EACCES)} (os error {errno.EACCES})"
    print("denied")
"""


def test_an_unreadable_archive_is_access_denied(model: Path) -> None:
    archive = pack(model, "a.tar")
    archive.chmod(0)
    # Root reads any file: as root, the check runs without the capabilities that let it.
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
    try:
        done = subprocess.run([*drop, sys.executable, "-c", ACCESS_DENIED, str(archive)],
                              capture_output=True, text=True)
    finally:
        archive.chmod(0o644)
    assert (done.returncode, done.stdout, done.stderr) == (0, "denied\n", "")


def test_a_file_that_is_no_archive_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "notar").write_bytes(b"hello" * 300)
    e = raised(errors.NotAnArchive, lambda: ModelUnpackager().verify_layers("notar"))
    assert isinstance(e, FileNotFoundError)
    reason = "it is neither a tar file nor an OCI layout directory (invalid header checksum field)"
    assert str(e) == f"notar: not a model archive: {reason}"
    assert (e.path, e.filename, e.reason) == ("notar", "notar", reason)


def test_a_tar_without_a_manifest_is_not_an_archive(tmp_path: Path) -> None:
    with tarfile.open("hello.tar", "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    e = raised(errors.NotAnArchive, lambda: ModelUnpackager().unpack("hello.tar", "out"))
    assert isinstance(e, FileNotFoundError)
    assert e.reason == "no index.json or manifest.json at its root"
    assert not (tmp_path / "out").exists()


def test_a_truncated_archive_is_a_runtime_error(model: Path) -> None:
    archive = pack(model, "a.tar")
    with tarfile.open(archive) as tar:
        last = tar.getmembers()[-1]
    cut = last.offset_data + 1
    Path("cut.tar").write_bytes(archive.read_bytes()[:cut])
    e = raised(errors.Truncated, lambda: ModelUnpackager().verify_layers("cut.tar"))
    assert isinstance(e, RuntimeError)
    assert isinstance(e, errors.InvalidArchive)
    reason = f'entry "{last.name}" of {last.size} bytes runs past the end of the file ({cut} bytes)'
    assert str(e) == f"cut.tar: the archive is truncated at byte {cut}: {reason}"
    assert (e.archive, e.entry, e.offset, e.reason) == ("cut.tar", last.name, cut, reason)


def test_an_empty_file_is_truncated_before_its_first_entry(tmp_path: Path) -> None:
    (tmp_path / "empty.tar").write_bytes(b"")
    e = raised(errors.Truncated, lambda: ModelUnpackager().verify_layers("empty.tar"))
    assert str(e) == "empty.tar: the archive is truncated at byte 0: the file is empty"
    assert (e.entry, e.offset, e.reason) == (None, 0, "the file is empty")


def test_an_invalid_manifest_is_an_invalid_document(model: Path) -> None:
    archive = pack(model, "a.tar")

    def break_manifest(member: tarfile.TarInfo, data: bytes) -> Any:
        if member.name == "index.json":
            return None
        if member.name == "manifest.json":
            return b'{"schemaVersion": 2, "config": 7}'
        return data

    # With no index.json, the manifest.json at the root is the archive's manifest.
    rewrite(archive, Path("broken.tar"), break_manifest)
    e = raised(errors.InvalidDocument, lambda: ModelUnpackager().verify_layers("broken.tar"))
    assert isinstance(e, RuntimeError)
    reason = (
        "invalid manifest JSON: invalid type: integer `7`, expected struct Descriptor "
        "at line 1 column 32"
    )
    assert (e.entry, e.reason) == ("manifest.json", reason)
    assert str(e) == f"manifest.json: {reason}"


def test_a_bad_header_checksum_is_a_malformed_tar(model: Path) -> None:
    archive = pack(model, "a.tar")
    with tarfile.open(archive) as tar:
        fourth = tar.getmembers()[3]
    data = bytearray(archive.read_bytes())
    data[fourth.offset + 150] ^= 1  # a digit of the header's checksum field
    Path("mal.tar").write_bytes(bytes(data))
    e = raised(errors.MalformedTar, lambda: ModelUnpackager().verify_layers("mal.tar"))
    assert isinstance(e, RuntimeError) and isinstance(e, errors.InvalidArchive)
    assert (e.archive, e.offset) == ("mal.tar", fourth.offset)
    assert re.fullmatch(r"bad header checksum \(stored \d+, computed \d+\)", e.reason)
    assert str(e) == f"mal.tar: malformed tar at byte {fourth.offset}: {e.reason}"


def with_manifest(archive: Path, out: str, change: Callable[[Dict[str, Any]], Any]) -> Path:
    """A copy of ``archive`` whose root manifest.json (with no index.json, the archive's
    manifest) is changed by ``change``."""

    def edit(member: tarfile.TarInfo, data: bytes) -> Any:
        if member.name == "index.json":
            return None
        if member.name == "manifest.json":
            manifest = json.loads(data)
            change(manifest)
            return json.dumps(manifest).encode()
        return data

    return rewrite(archive, Path(out), edit)


def test_media_types_this_tool_cannot_unpack_are_value_errors(model: Path, tmp_path: Path) -> None:
    archive = pack(model, "a.tar")
    config = with_manifest(archive, "c.tar", lambda m: m["config"].update(mediaType="application/x-other"))
    e = raised(errors.UnsupportedConfig, lambda: ModelUnpackager().unpack(config, "out"))
    assert isinstance(e, ValueError)
    assert str(e) == "config blob has media type application/x-other, not a modeloci model config"
    assert e.media_type == "application/x-other"

    def layer_type(manifest: Dict[str, Any]) -> None:
        manifest["layers"][0]["mediaType"] = "application/x-other"

    layer = with_manifest(archive, "l.tar", layer_type)
    title = manifest_of(layer)["layers"][0]["annotations"]["org.opencontainers.image.title"]
    e = raised(errors.UnsupportedLayer, lambda: ModelUnpackager().unpack(layer, "out"))
    assert isinstance(e, ValueError)
    assert str(e) == f'layer "{title}" has media type application/x-other, which this tool cannot unpack'
    assert (e.title, e.media_type) == (title, "application/x-other")
    assert not (tmp_path / "out").exists()


def test_a_manifest_over_the_cap_is_a_document_too_large(model: Path) -> None:
    archive = pack(model, "a.tar")
    limit = 4 * 1024 * 1024
    rewrite(
        archive,
        Path("big.tar"),
        lambda m, d: None if m.name == "index.json" else b" " * (limit + 1) if m.name == "manifest.json" else d,
    )
    e = raised(errors.DocumentTooLarge, lambda: ModelUnpackager().verify_layers("big.tar"))
    assert isinstance(e, errors.InvalidArchive)
    assert str(e) == f"manifest.json is {limit + 1} bytes, more than the {limit}-byte limit for such documents"
    assert (e.entry, e.size, e.limit) == ("manifest.json", limit + 1, limit)


def test_an_archive_entry_leaving_the_target_is_unsafe(model: Path, tmp_path: Path) -> None:
    archive = pack(model, "a.tar")
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    e = raised(errors.UnsafeEntry, lambda: ModelUnpackager().unpack(archive, "work/out"))
    assert isinstance(e, ValueError)
    assert str(e) == "refusing entry \"../escaped.txt\": path has a '..' component"
    assert e.entry == "../escaped.txt"
    assert e.refusal == "parent-directory"
    assert e.reason == "path has a '..' component"
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_unpacking_into_a_non_empty_directory_is_target_not_empty(model: Path, tmp_path: Path) -> None:
    archive = pack(model, "a.tar")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    e = raised(errors.TargetNotEmpty, lambda: ModelUnpackager().unpack(archive, "full"))
    assert isinstance(e, FileExistsError)
    assert str(e) == "output directory full is not empty"
    assert (e.path, e.filename) == ("full", "full")
    assert sorted(os.listdir("full")) == ["keep"]


def test_an_archive_without_its_config_blob_is_missing_blob(model: Path, tmp_path: Path) -> None:
    archive = pack(model, "a.tar")
    config = manifest_of(archive)["config"]["digest"]
    rewrite(archive, Path("nocfg.tar"), lambda m, d: None if m.name == blob_name(config) else d)
    e = raised(errors.MissingBlob, lambda: ModelUnpackager().unpack("nocfg.tar", "out"))
    assert isinstance(e, FileNotFoundError)
    assert str(e) == f"config blob {config} is missing from the archive"
    assert (e.what, e.digest) == ("config", config)
    assert not (tmp_path / "out").exists()


def test_a_changed_layer_is_a_blob_mismatch(model: Path, tmp_path: Path) -> None:
    archive = pack(model, "a.tar", compression="none")
    layer = next(
        x for x in manifest_of(archive)["layers"]
        if x["annotations"]["org.opencontainers.image.title"] == "weights.bin"
    )["digest"]
    rewrite(archive, Path("bad.tar"), lambda m, d: b"x" + d[1:] if m.name == blob_name(layer) else d)
    e = raised(errors.BlobMismatch, lambda: ModelUnpackager().unpack("bad.tar", "out"))
    assert isinstance(e, errors.IntegrityError)
    assert (e.what, e.digest) == ("layer weights.bin", layer)
    assert re.fullmatch(rf"digest mismatch: expected {layer}, got sha256:[0-9a-f]{{64}}", e.reason)
    assert str(e) == f"layer weights.bin blob {layer}: {e.reason}"
    assert not (tmp_path / "out").exists()
    # verify_layers reports it rather than raising, as the reference does.
    assert (layer, False) in ModelUnpackager().verify_layers("bad.tar")


def test_hashing_a_missing_file_is_file_missing() -> None:
    e = raised(errors.FileMissing, lambda: modeloci._native.sha256_file("absent"))
    assert str(e) == f"cannot read absent: {os.strerror(errno.ENOENT)} (os error 2)"
    assert (e.path, e.errno) == ("absent", errno.ENOENT)


# Signatures


@pytest.fixture
def keys(tmp_path: Path) -> Dict[str, Path]:
    private, public = tmp_path / "k.pem", tmp_path / "pub.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private)],
        check=True, capture_output=True,
    )
    subprocess.run(
        ["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)],
        check=True, capture_output=True,
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    return {"private": private, "public": public, "garbage": garbage}


def test_verifying_an_unsigned_archive_with_a_key_is_unsigned(model: Path, keys: Dict[str, Path]) -> None:
    archive = pack(model, "a.tar")
    e = raised(errors.Unsigned, lambda: modeloci.verify(archive, key=keys["public"]))
    assert isinstance(e, errors.VerificationFailed)
    assert isinstance(e, errors.SignatureError)
    assert str(e) == "the model is not signed: no signature is stored beside it"


def test_keys_that_cannot_be_used_are_invalid_keys(model: Path, keys: Dict[str, Path]) -> None:
    archive = pack(model, "a.tar")
    e = raised(errors.KeyNotPem, lambda: modeloci.verify(archive, key=keys["garbage"]))
    assert isinstance(e, errors.InvalidKey) and isinstance(e, ValueError)
    assert str(e) == "the key is not a PEM file: no PEM BEGIN line"
    assert e.reason == "no PEM BEGIN line"
    e = raised(errors.PrivateKeyNotPublic, lambda: modeloci.verify(archive, key=keys["private"]))
    assert isinstance(e, ValueError)
    assert str(e).startswith("a private key was given where a public key is expected")
    e = raised(errors.FileMissing, lambda: modeloci.verify(archive, key="absent.pem"))
    assert str(e) == f"cannot read absent.pem: {os.strerror(errno.ENOENT)} (os error 2)"
    assert (e.filename, e.errno) == ("absent.pem", errno.ENOENT)


# Registries


def test_an_invalid_reference_is_a_value_error() -> None:
    e = raised(errors.InvalidReference, lambda: modeloci.pull("not a ref", "out"))
    assert isinstance(e, ValueError) and isinstance(e, errors.RegistryError)
    assert str(e) == 'invalid reference "not a ref": expected host[:port]/repository[:tag]'
    assert (e.reference, e.reason) == ("not a ref", "expected host[:port]/repository[:tag]")


def test_a_closed_port_is_unreachable() -> None:
    e = raised(errors.Unreachable, pulling("127.0.0.1:1/x:y", timeout=1))
    assert isinstance(e, ConnectionError)
    assert e.registry == "127.0.0.1:1"
    assert str(e) == f"cannot reach 127.0.0.1:1: {e.reason}"
    assert "Connection refused" in e.reason
    assert not os.path.exists("out")


class Scripted(BaseHTTPRequestHandler):
    """A registry that answers ``/v2/`` and nothing else (404), or 401 to everything."""

    unauthorized = False
    hostile = False

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.hostile and self.path != "/v2/":
            body = json.dumps({"errors": [{"code": "DENIED", "message": "\x1b[2Jgone\u202e"}]}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.unauthorized:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
        else:
            self.send_response(200 if self.path == "/v2/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET


@pytest.fixture
def scripted() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    Scripted.unauthorized = False
    Scripted.hostile = False


def test_control_characters_from_a_registry_are_escaped_in_messages(scripted: str) -> None:
    Scripted.hostile = True
    with pytest.raises(errors.RegistryError) as raised_error:
        pulling(f"{scripted}/x:y", timeout=2)()
    message = str(raised_error.value)
    assert "\x1b" not in message and "\u202e" not in message
    assert "\\u{1b}[2Jgone\\u{202e}" in message, message


def test_a_missing_manifest_is_not_found(scripted: str) -> None:
    e = raised(errors.NotFound, pulling(f"{scripted}/x:y", timeout=2))
    assert isinstance(e, LookupError)
    assert str(e) == f"manifest x:y not found in {scripted}"
    assert (e.registry, e.what) == (scripted, "manifest x:y")


def test_a_refused_login_is_unauthorized(scripted: str) -> None:
    Scripted.unauthorized = True
    e = raised(errors.Unauthorized, pulling(f"{scripted}/x:y", timeout=2))
    assert isinstance(e, PermissionError)
    assert str(e) == f"{scripted} refused access (401, without credentials)"
    assert (e.registry, e.status, e.with_credentials) == (scripted, 401, False)
    e = raised(errors.Unauthorized, pulling(f"{scripted}/x:y", timeout=2, username="u", password="p"))
    assert e.with_credentials is True
    assert str(e) == f"{scripted} refused access (401, with credentials)"


def test_plain_http_to_a_tls_expecting_client_is_a_tls_error(scripted: str) -> None:
    e = raised(errors.TlsError, pulling(f"{scripted}/x:y", tls=True, timeout=2))
    assert isinstance(e, ConnectionError)
    assert str(e) == f"{scripted}: it does not speak TLS (a plain HTTP server?)"
    assert (e.registry, e.failure) == (scripted, "not-tls")


def test_a_registry_that_never_answers_is_stalled() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: List[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    host = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        e = raised(errors.Stalled, pulling(f"{host}/x:y", timeout=0.2))
    finally:
        listener.close()
        for c in held:
            c.close()
    assert isinstance(e, TimeoutError)
    assert (e.registry, e.timeout, e.doing) == (host, 0.2, "answering GET /v2/x/manifests/y")
    assert isinstance(e.attempts, int) and e.attempts >= 1
    assert str(e) == (
        f"{host} sent no data for 200 ms while answering GET /v2/x/manifests/y; "
        f"gave up after {e.attempts} attempts"
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry: Debian's ``docker-registry``."""
    directory = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n"
        f"http:\n  addr: {address}\n  secret: modeloci-tests\n"
    )
    child = subprocess.Popen(["docker-registry", "serve", str(config)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("docker-registry did not listen")
        yield address
    finally:
        child.terminate()
        child.wait()


def test_pull_errors_of_a_real_registry_are_the_archives_and_signatures(
    registry: str, model: Path, keys: Dict[str, Path], tmp_path: Path
) -> None:
    archive = pack(model, "a.tar")
    modeloci.push(archive, f"{registry}/errors/tiny:1.0", plain_http=True)
    reference = f"{registry}/errors/tiny:1.0"
    # An archive error inside a registry error is raised as the archive's.
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    e = raised(errors.TargetNotEmpty, pulling(reference, "full"))
    assert isinstance(e, FileExistsError)
    assert str(e) == "output directory full is not empty"
    assert e.path == "full"
    # A signature error of a signed pull is raised as the signature's.
    e = raised(errors.Unsigned, pulling(reference, key=keys["public"]))
    assert str(e) == "the model is not signed: no signature is stored beside it"
    assert not (tmp_path / "out").exists()
    e = raised(errors.NothingIncluded, pulling(reference, include=["*.onnx"]))
    assert isinstance(e, ValueError)
    assert str(e) == "no file of the model matches the include patterns *.onnx"
    assert e.patterns == ["*.onnx"]
    e = raised(errors.NotFound, pulling(f"{registry}/errors/tiny:2.0"))
    assert (e.registry, e.what) == (registry, "manifest errors/tiny:2.0")
    e = raised(errors.InvalidTag, lambda: modeloci.push(archive, reference, tags=["-x"], plain_http=True))
    assert (e.tag, e.suggestion) == ("-x", "_-x")


# The classes


#: Each class and the built-in it must also be: the reference's exceptions, and what
#: Python code expects of a missing file, a refused login or a timeout.
BUILTINS = {
    "NotADirectory": NotADirectoryError,
    "FileMissing": FileNotFoundError,
    "AccessDenied": PermissionError,
    "FileAccess": OSError,
    "NoSpace": OSError,
    "UnsafeEntry": ValueError,
    "MissingBlob": FileNotFoundError,
    "NotAnArchive": FileNotFoundError,
    "InvalidDocument": RuntimeError,
    "MalformedTar": RuntimeError,
    "Truncated": RuntimeError,
    "EmptyModel": ValueError,
    "InvalidOption": ValueError,
    "InvalidTag": ValueError,
    "InvalidReference": ValueError,
    "TargetNotEmpty": FileExistsError,
    "AlreadyInModel": FileExistsError,
    "Unauthorized": PermissionError,
    "Unreachable": ConnectionError,
    "TlsError": ConnectionError,
    "Stalled": TimeoutError,
    "NotFound": LookupError,
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_each_class_is_the_builtin_the_reference_raises(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.ModelociError)
    assert issubclass(cls, BUILTINS[name])


def test_no_space_has_enospc() -> None:
    facts = {"path": "out", "filename": "out", "needed": 2, "available": 1}
    e = errors._from_native("NoSpace", "not enough space", facts)
    assert (e.errno, e.strerror, e.filename) == (errno.ENOSPC, os.strerror(errno.ENOSPC), "out")
    assert str(e) == "not enough space"
    assert (e.needed, e.available) == (2, 1)


def test_an_unknown_class_name_falls_back_to_the_base() -> None:
    e = errors._from_native("NoSuchClass", "m", {"a": 1})
    assert type(e) is errors.ModelociError and str(e) == "m" and e.a == 1


def classes_named_in_rust() -> List[str]:
    literals = re.findall(r'"((?:[^"\\]|\\.)*)"', ERRORS_RS.read_text())
    return sorted({s for s in literals if re.fullmatch(r"[A-Z][A-Za-z0-9]*", s)})


def test_every_class_the_native_module_names_is_defined() -> None:
    named = classes_named_in_rust()
    assert len(named) > 60
    for name in named:
        cls = getattr(errors, name, None)
        assert isinstance(cls, type) and issubclass(cls, errors.ModelociError), name
        assert name in errors.__all__, name


def test_every_class_is_raised_or_groups_classes_that_are() -> None:
    named = set(classes_named_in_rust()) | {"FileMissing"}
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert isinstance(cls, type) and issubclass(cls, errors.ModelociError), name
        assert cls.__doc__ and "\n" not in cls.__doc__.strip(), f"{name}: one-line docstring"
        assert not hasattr(builtins, name), f"{name} shadows a builtin"
        raised_below = any(issubclass(getattr(errors, n), cls) for n in named)
        assert name in named or raised_below, f"{name} is never raised"
