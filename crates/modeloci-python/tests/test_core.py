"""``modeloci.core`` beyond the reference's examples: where archives go, options, helpers,
progress callbacks and their exceptions."""

import hashlib
import json
import os
import tarfile

import pytest

from conftest import TINY, files_of
from modeloci import ProgressEvent, core, errors
from modeloci.core import ModelPackager, ModelUnpackager
from modeloci.models import OCIConfig

CONFIG = OCIConfig(model_name="tiny", version="1.0.0", framework="pytorch", architecture="transformer",
                   metadata={"base_model": "none", "eval": 0.5})


def test_package_writes_name_version_tar_beside_the_model_and_returns_an_absolute_path(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = ModelPackager().package("tiny", CONFIG)
    assert path == str(tmp_path / "tiny-1.0.0.tar")
    with tarfile.open(path) as tar:
        assert json.load(tar.extractfile("config.json")) == json.loads(CONFIG.model_dump_json())


def test_package_options(tiny, tmp_path):
    path = ModelPackager(compression="zstd", exclude=["*.md"]).package(
        tiny, CONFIG, output=tmp_path / "out.tar", tag="v1")
    assert path == str(tmp_path / "out.tar")
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
        manifest = json.load(tar.extractfile("manifest.json"))
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    assert {l["mediaType"] for l in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    titles = [l["annotations"]["org.opencontainers.image.title"] for l in manifest["layers"]]
    assert "README.md" not in titles and len(titles) == 6


def test_bad_options_are_value_errors(tiny, tmp_path):
    with pytest.raises(ValueError, match='unknown compression "brotli"'):
        ModelPackager(compression="brotli").package(tiny, CONFIG, output=tmp_path / "x.tar")
    assert not (tmp_path / "x.tar").exists()


def test_package_of_a_missing_directory_is_not_a_directory_error(tmp_path):
    with pytest.raises(NotADirectoryError) as raised:
        ModelPackager().package(str(tmp_path / "missing"), CONFIG)
    assert isinstance(raised.value, errors.NotADirectory)
    assert str(raised.value) == f"model directory {tmp_path / 'missing'} does not exist or is not a directory"


def test_add_layer_of_a_missing_file_is_file_not_found(tiny, tmp_path):
    archive = ModelPackager().package(tiny, CONFIG)
    with pytest.raises(FileNotFoundError):
        ModelPackager().add_layer(archive, tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError):
        ModelPackager().add_layer(archive, tmp_path)


def test_verify_layers_of_no_archive_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        ModelUnpackager().verify_layers(tmp_path / "missing.tar")


def test_private_helpers_and_constants(tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    expected = "sha256:" + hashlib.sha256(data).hexdigest()
    assert core._sha256_file(tmp_path / "f") == expected
    assert core._sha256_file(str(tmp_path / "f")) == expected
    assert core._sha256_bytes(data) == expected
    assert core._sha256_bytes(b"") == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert (core._MANIFEST_FILENAME, core._CONFIG_FILENAME, core._LAYERS_DIR) == (
        "manifest.json", "config.json", "blobs/sha256")
    with pytest.raises(FileNotFoundError):
        core._sha256_file(tmp_path / "missing")


def test_progress_reports_each_stage(tiny, tmp_path):
    events = []
    archive = ModelPackager(progress=events.append).package(tiny, CONFIG)
    assert all(isinstance(e, ProgressEvent) for e in events)
    total = sum(p.stat().st_size for p in TINY.rglob("*") if p.is_file())
    assert events[0] == ProgressEvent("packing", 0, total, None)
    assert (events[-1].stage, events[-1].done, events[-1].total) == ("packing", total, total)
    events.clear()
    ModelUnpackager(progress=events.append).unpack(archive, tmp_path / "out")
    assert {e.stage for e in events} == {"unpacking"}
    assert events[-1].done == events[-1].total > 0


def test_an_exception_in_the_progress_callback_is_raised_after_the_work(tiny, tmp_path):
    calls = []

    def fail(event):
        calls.append(event)
        raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        ModelPackager(progress=fail).package(tiny, CONFIG, output=tmp_path / "x.tar")
    assert len(calls) == 1
    with pytest.raises(TypeError, match="progress must be callable"):
        ModelPackager(progress=42).package(tiny, CONFIG, output=tmp_path / "y.tar")


def test_unpack_returns_the_config_with_its_metadata_in_order(tiny, tmp_path):
    archive = ModelPackager().package(tiny, CONFIG)
    config = ModelUnpackager().unpack(archive, tmp_path / "out")
    assert config == CONFIG and list(config.metadata) == ["base_model", "eval"]
    assert files_of(tmp_path / "out") == files_of(TINY)


def test_a_missing_archive_is_not_taken_for_a_reference(tmp_path, monkeypatch):
    import modeloci

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError):
        modeloci.verify("missing.tar")
    with pytest.raises(FileNotFoundError):
        modeloci.inspect(tmp_path / "missing.tar")


def _hf_cache(root):
    """A Hugging Face cache's repository folder as ``huggingface_hub`` lays it out: blobs by
    SHA-256, each snapshot's files links into ``../../blobs``, ``refs/main`` and a tag."""
    repo = root / "models--org--tiny"
    snapshots = {
        "2439f60ef33a0d46d85da5001d52aeda5b00ce9f": {"config.json": (TINY / "config.json").read_bytes()},
        "bbc77c8132af1cc5cf678da3f1ddf2de43606d48": {"config.json": b'{"hidden_size": 4}'},
    }
    (repo / "blobs").mkdir(parents=True)
    for commit, files in snapshots.items():
        for name, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            (repo / "blobs" / sha).write_bytes(data)
            (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
            os.symlink(f"../../blobs/{sha}", repo / "snapshots" / commit / name)
    (repo / "refs").mkdir()
    main, v1 = snapshots
    (repo / "refs" / "main").write_text(main)
    (repo / "refs" / "v1").write_text(v1)
    return repo, snapshots


def test_package_of_a_hugging_face_cache_packs_the_snapshot_a_revision_names(tmp_path, monkeypatch):
    repo, snapshots = _hf_cache(tmp_path / "hub")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    # refs/main's snapshot, the archive in the current directory rather than in the cache.
    path = ModelPackager().package(repo, CONFIG)
    assert path == str(tmp_path / "work" / "tiny-1.0.0.tar")
    ModelUnpackager().unpack(path, tmp_path / "main")
    assert files_of(tmp_path / "main") == snapshots["2439f60ef33a0d46d85da5001d52aeda5b00ce9f"]
    path = ModelPackager().package(repo, CONFIG, output=tmp_path / "v1.tar", revision="v1")
    ModelUnpackager().unpack(path, tmp_path / "v1")
    assert files_of(tmp_path / "v1") == snapshots["bbc77c8132af1cc5cf678da3f1ddf2de43606d48"]
    with pytest.raises(errors.ArchiveError, match='has no ref or snapshot "v2"'):
        ModelPackager().package(repo, CONFIG, output=tmp_path / "v2.tar", revision="v2")
