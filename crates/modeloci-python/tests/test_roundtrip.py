"""Between languages: what Python packs, the ``modeloci`` command reads, byte for byte, and
the other way round."""

import json

from conftest import TINY, files_of, run
import modeloci
from modeloci.core import ModelPackager, ModelUnpackager
from modeloci.models import OCIConfig

CONFIG = OCIConfig(model_name="tiny", version="1.0.0", framework="pytorch", architecture="transformer",
                   metadata={"base_model": "none"})
FLAGS = ["--name", "tiny", "--version", "1.0.0", "--framework", "pytorch", "--architecture",
         "transformer", "--metadata", '{"base_model": "none"}', "--no-cache"]


def test_python_archives_unpack_with_the_cli_to_the_same_bytes(cli, tiny, tmp_path):
    archive = ModelPackager(cache=False).package(tiny, CONFIG)
    run(cli, "verify", archive)
    run(cli, "unpack", archive, "-o", tmp_path / "out")
    assert files_of(tmp_path / "out") == files_of(TINY)


def test_cli_archives_verify_and_unpack_from_python(cli, tiny, tmp_path):
    archive = tmp_path / "cli.tar"
    run(cli, "pack", "--model-dir", tiny, *FLAGS, "--output", archive)
    assert all(ok for _, ok in ModelUnpackager().verify_layers(archive))
    assert modeloci.verify(archive).ok
    config = ModelUnpackager().unpack(archive, tmp_path / "out")
    assert config == CONFIG
    assert files_of(tmp_path / "out") == files_of(TINY)


def test_python_and_the_cli_write_the_same_archive(cli, tiny, tmp_path):
    for compression in ("gzip", "zstd"):
        ours = ModelPackager(compression=compression, cache=False).package(
            tiny, CONFIG, output=tmp_path / f"py-{compression}.tar")
        theirs = tmp_path / f"cli-{compression}.tar"
        run(cli, "pack", "--model-dir", tiny, *FLAGS, "--compression", compression, "--output", theirs)
        assert open(ours, "rb").read() == theirs.read_bytes(), compression
    shown = json.loads(run(cli, "--json", "inspect", tmp_path / "py-gzip.tar").stdout)
    assert shown["manifestDigest"] == modeloci.inspect(tmp_path / "py-gzip.tar").manifest_digest
