"""Each deliberate difference from the reference (``docs/python.md``), pinned."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest

import modeloci
from conftest import REPO, TINY, files_of
from modeloci import errors
from modeloci.core import ModelPackager, ModelUnpackager
from modeloci.models import OCIConfig

CONFIG = OCIConfig(model_name="tiny", version="1.0.0", framework="pytorch", architecture="transformer")


def test_the_archive_is_an_oci_image_layout_other_tools_read(tiny):
    archive = ModelPackager().package(str(tiny), CONFIG)
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        layout = json.load(tar.extractfile("oci-layout"))
    assert {"oci-layout", "index.json", "manifest.json", "config.json"} <= names
    assert layout == {"imageLayoutVersion": "1.0.0"}
    if shutil.which("skopeo"):
        shown = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{archive}"],
                               capture_output=True, text=True, check=True)
        assert len(json.loads(shown.stdout)["layers"]) == 7


def test_packing_is_reproducible(tiny, tmp_path):
    first = ModelPackager().package(str(tiny), CONFIG, output=tmp_path / "a.tar")
    for f in tiny.rglob("*"):
        os.utime(f, (1, 1))
    second = ModelPackager().package(str(tiny), CONFIG, output=tmp_path / "b.tar")
    assert open(first, "rb").read() == open(second, "rb").read()


def test_unpack_restores_the_model_files(tiny, tmp_path):
    archive = ModelPackager().package(str(tiny), CONFIG)
    ModelUnpackager().unpack(archive, tmp_path / "out")
    assert files_of(tmp_path / "out") == files_of(TINY)
    assert os.access(tmp_path / "out" / "scripts" / "serve.sh", os.X_OK)


def test_unpack_refuses_a_directory_that_is_not_empty(tiny, tmp_path):
    archive = ModelPackager().package(str(tiny), CONFIG)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError) as raised:
        ModelUnpackager().unpack(archive, tmp_path / "out")
    assert isinstance(raised.value, errors.TargetNotEmpty)
    assert files_of(tmp_path / "out") == {"keep.txt": b"mine"}


def test_unpack_creates_missing_parents(tiny, tmp_path):
    archive = ModelPackager().package(str(tiny), CONFIG)
    config = ModelUnpackager().unpack(archive, tmp_path / "a" / "b" / "c")
    assert config == CONFIG
    assert (tmp_path / "a" / "b" / "c" / "config.json").is_file()


def test_add_layer_updates_the_manifest(tiny, tmp_path):
    archive = ModelPackager().package(str(tiny), CONFIG)
    extra = tmp_path / "extra.json"
    extra.write_text('{"extra": 1}\n')
    layer = ModelPackager().add_layer(archive, extra)
    assert layer.annotations["org.opencontainers.image.title"] == "extra.json"
    assert "extra.json" in modeloci.inspect(archive).files
    ModelUnpackager().unpack(archive, tmp_path / "out")
    assert (tmp_path / "out" / "extra.json").read_text() == '{"extra": 1}\n'
    assert all(ok for _, ok in ModelUnpackager().verify_layers(archive))


def test_add_layer_refuses_a_file_the_model_has(tiny, tmp_path):
    archive = ModelPackager().package(str(tiny), CONFIG)
    before = open(archive, "rb").read()
    other = tmp_path / "config.json"
    other.write_text("{}")
    with pytest.raises(errors.AlreadyInModel):
        ModelPackager().add_layer(archive, other)
    assert open(archive, "rb").read() == before


def test_an_empty_directory_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError) as raised:
        ModelPackager().package(str(tmp_path / "empty"), CONFIG)
    assert isinstance(raised.value, errors.EmptyModel)
    assert not (tmp_path / "tiny-1.0.0.tar").exists()


def test_a_failed_pack_leaves_no_archive(tiny, tmp_path):
    os.symlink(tmp_path / "nowhere", tiny / "dangling.bin")
    with pytest.raises(modeloci.ModelociError):
        ModelPackager().package(str(tiny), CONFIG)
    assert sorted(os.listdir(tmp_path)) == ["tiny"]


def test_layer_size_is_the_blob_length(tiny):
    archive = ModelPackager().package(str(tiny), CONFIG)
    with tarfile.open(archive) as tar:
        for layer in modeloci.inspect(archive).layers:
            blob = tar.extractfile("blobs/sha256/" + layer.digest.split(":")[1]).read()
            assert layer.size == len(blob)
            assert layer.digest == "sha256:" + hashlib.sha256(blob).hexdigest()


def test_create_manifest_names_the_config_as_the_archive_stores_it(tiny):
    archive = ModelPackager().package(str(tiny), CONFIG)
    layers = modeloci.inspect(archive).layers
    manifest = ModelPackager().create_manifest(CONFIG, layers)
    with tarfile.open(archive) as tar:
        stored = json.load(tar.extractfile("manifest.json"))
        config_blob = tar.extractfile("config.json").read()
    assert manifest.config == stored["config"]
    assert manifest.config["digest"] == "sha256:" + hashlib.sha256(config_blob).hexdigest()
    assert manifest.layers == stored["layers"]
    assert stored["artifactType"] == "application/vnd.modeloci.model.v1"


def test_archives_the_reference_wrote_are_read(tmp_path):
    archive = REPO / "fixtures" / "golden" / "tiny-1.0.0-reference.tar"
    assert all(ok for _, ok in ModelUnpackager().verify_layers(archive))
    config = ModelUnpackager().unpack(archive, tmp_path / "out")
    assert config.model_name == "tiny"
    assert files_of(tmp_path / "out") == files_of(TINY)


def test_verify_layers_finds_a_changed_blob(tiny, tmp_path):
    archive = ModelPackager().package(str(tiny), CONFIG)
    data = bytearray(open(archive, "rb").read())
    layer = modeloci.inspect(archive).layers[3]
    with tarfile.open(archive) as tar:
        offset = tar.getmember("blobs/sha256/" + layer.digest.split(":")[1]).offset_data
    data[offset + layer.size // 2] ^= 0xFF
    broken = tmp_path / "broken.tar"
    broken.write_bytes(bytes(data))
    results = ModelUnpackager().verify_layers(broken)
    assert [ok for _, ok in results] == [i != 3 for i in range(7)]
    assert results[3][0] == layer.digest
    assert not modeloci.verify(broken)
    assert [c.what for c in modeloci.verify(broken).failures] == ["model.safetensors"]
