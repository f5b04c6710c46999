"""The reference's documented examples (its API reference pages), run as they are written:
only the module name (``aumai_modeloci`` -> ``modeloci``) and the absolute example paths
(rooted in a temporary directory) change. What each prints is checked against the comments
the documentation gives."""

import json
import re
import shutil
import textwrap

import pytest

from conftest import TINY


def run_example(code, tmp_path, monkeypatch, capsys):
    code = textwrap.dedent(code).replace("aumai_modeloci", "modeloci")
    code = re.sub(r'"/(models|tmp)/', lambda m: f'"{tmp_path}/{m.group(1)}/', code)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<reference example>", "exec"), {})
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def bert(tmp_path):
    """``models/bert-base``: the tiny model under the example's name."""
    shutil.copytree(TINY, tmp_path / "models" / "bert-base")
    return tmp_path / "models" / "bert-base"


def test_model_packager_package(tmp_path, monkeypatch, capsys, bert):
    out = run_example('''
        from aumai_modeloci.core import ModelPackager
        from aumai_modeloci.models import OCIConfig

        config = OCIConfig(
            model_name="bert-base",
            version="1.0.0",
            framework="pytorch",
            architecture="transformer",
        )
        packager = ModelPackager()
        path = packager.package("/models/bert-base", config)
        print(path)  # /models/bert-base-1.0.0.tar
    ''', tmp_path, monkeypatch, capsys)
    assert out == [f"{tmp_path}/models/bert-base-1.0.0.tar"]


def test_model_packager_create_manifest(tmp_path, monkeypatch, capsys):
    out = run_example('''
        from aumai_modeloci.core import ModelPackager
        from aumai_modeloci.models import ModelLayer, OCIConfig

        config = OCIConfig(model_name="resnet", version="1.0.0", framework="onnx", architecture="cnn")
        layers = [
            ModelLayer(digest="sha256:abc123", size=52_428_800,
                       annotations={"org.opencontainers.image.title": "resnet50.onnx"})
        ]
        packager = ModelPackager()
        manifest = packager.create_manifest(config, layers)
        print(manifest.schema_version)   # 2
        print(len(manifest.layers))      # 1
    ''', tmp_path, monkeypatch, capsys)
    assert out == ["2", "1"]


def test_model_packager_add_layer(tmp_path, monkeypatch, capsys):
    from modeloci.core import ModelPackager
    from modeloci.models import OCIConfig

    shutil.copytree(TINY, tmp_path / "my-model")
    ModelPackager().package(str(tmp_path / "my-model"), OCIConfig(
        model_name="my-model", version="1.0.0", framework="pytorch", architecture="transformer"))
    (tmp_path / "extra-config.json").write_text('{"extra": true}\n')
    out = run_example('''
        from aumai_modeloci.core import ModelPackager

        packager = ModelPackager()
        layer = packager.add_layer("my-model-1.0.0.tar", "./extra-config.json")
        print(layer.digest)   # sha256:...
        print(layer.size)     # integer byte count
    ''', tmp_path, monkeypatch, capsys)
    assert out[0].startswith("sha256:") and len(out[0]) == 71
    assert int(out[1]) > 0


def test_model_unpackager_unpack_and_verify_layers(tmp_path, monkeypatch, capsys, bert):
    from modeloci.core import ModelPackager
    from modeloci.models import OCIConfig

    archive = ModelPackager().package(str(bert), OCIConfig(
        model_name="bert-base", version="1.0.0", framework="pytorch", architecture="transformer"))
    shutil.move(archive, tmp_path / "bert-base-1.0.0.tar")
    out = run_example('''
        from aumai_modeloci.core import ModelUnpackager

        unpacker = ModelUnpackager()
        config = unpacker.unpack("bert-base-1.0.0.tar", "/tmp/bert-out")
        print(config.model_name)   # bert-base
        print(config.version)      # 1.0.0
    ''', tmp_path, monkeypatch, capsys)
    assert out == ["bert-base", "1.0.0"]
    assert (tmp_path / "tmp" / "bert-out" / "model.safetensors").read_bytes() == (TINY / "model.safetensors").read_bytes()

    out = run_example('''
        from aumai_modeloci.core import ModelUnpackager

        unpacker = ModelUnpackager()
        results = unpacker.verify_layers("bert-base-1.0.0.tar")
        for digest, is_valid in results:
            print("OK" if is_valid else "FAIL", digest)
        all_ok = all(v for _, v in results)
        print(all_ok)
    ''', tmp_path, monkeypatch, capsys)
    assert len(out) == 8 and out[-1] == "True"
    assert all(line.startswith("OK sha256:") for line in out[:-1])


def test_model_layer_example(tmp_path, monkeypatch, capsys):
    out = run_example('''
        from aumai_modeloci.models import ModelLayer

        layer = ModelLayer(
            digest="sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
            size=1_048_576,
            annotations={"org.opencontainers.image.title": "pytorch_model.bin"},
        )
        print(layer.media_type)
        # application/vnd.oci.image.layer.v1.tar+gzip
    ''', tmp_path, monkeypatch, capsys)
    assert out == ["application/vnd.oci.image.layer.v1.tar+gzip"]


def test_oci_config_example(tmp_path, monkeypatch, capsys):
    out = run_example('''
        from aumai_modeloci.models import OCIConfig

        config = OCIConfig(
            model_name="llm-support-bot",
            version="3.1.0",
            framework="pytorch",
            architecture="transformer",
            metadata={
                "base_model": "llama-3-8b",
                "fine_tune_dataset": "support-v4",
                "eval_accuracy": 0.913,
            },
        )
        print(config.model_dump_json(indent=2))
    ''', tmp_path, monkeypatch, capsys)
    assert json.loads("\n".join(out)) == {
        "model_name": "llm-support-bot", "version": "3.1.0", "framework": "pytorch",
        "architecture": "transformer",
        "metadata": {"base_model": "llama-3-8b", "fine_tune_dataset": "support-v4", "eval_accuracy": 0.913},
    }
    assert out[1] == '  "model_name": "llm-support-bot",'


def test_version_example():
    import modeloci

    assert modeloci.__version__ == "0.1.0"
