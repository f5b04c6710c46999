"""The Pydantic models: the reference's fields, defaults and Pydantic v2 API."""

import json

import pydantic
import pytest

from modeloci.models import ModelLayer, OCIConfig, OCIManifest


def test_config_fields_and_defaults():
    config = OCIConfig(model_name="m", version="1", framework="onnx", architecture="cnn")
    assert config.metadata == {}
    assert list(OCIConfig.model_fields) == ["model_name", "version", "framework", "architecture", "metadata"]
    with pytest.raises(pydantic.ValidationError):
        OCIConfig(model_name="m", version="1", framework="onnx")


def test_layer_defaults():
    layer = ModelLayer(digest="sha256:abc", size=3)
    assert layer.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert layer.annotations == {}
    assert ModelLayer(digest="d", size=1).annotations is not ModelLayer(digest="d", size=1).annotations


def test_manifest_defaults():
    manifest = OCIManifest(config={"digest": "sha256:x"})
    assert manifest.schema_version == 2
    assert manifest.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert manifest.layers == []
    with pytest.raises(pydantic.ValidationError):
        OCIManifest()


def test_dump_validate_and_copy_round_trip():
    config = OCIConfig(
        model_name="bot", version="3.1.0", framework="pytorch", architecture="transformer",
        metadata={"z": 1, "a": [1.5, None], "m": {"k": "v"}},
    )
    text = config.model_dump_json()
    assert json.loads(text) == {
        "model_name": "bot", "version": "3.1.0", "framework": "pytorch",
        "architecture": "transformer", "metadata": {"z": 1, "a": [1.5, None], "m": {"k": "v"}},
    }
    assert list(json.loads(text)["metadata"]) == ["z", "a", "m"]
    assert OCIConfig.model_validate(json.loads(text)) == config
    assert OCIConfig.model_validate_json(text) == config
    changed = config.model_copy(update={"version": "4"})
    assert (changed.version, config.version) == ("4", "3.1.0")
