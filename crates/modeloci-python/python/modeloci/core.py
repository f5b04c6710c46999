"""The reference's packaging classes, ``ModelPackager`` and ``ModelUnpackager``, on modeloci.

Names, signatures, defaults and exceptions are those of ``aumai_modeloci.core``. Where this
package deliberately differs, the method's docstring says so; ``docs/python.md`` lists every
difference. The work runs in modeloci's Rust core with the interpreter released, so other
Python threads keep running.
"""

import json
import os
from typing import Any, Callable, Iterable, List, Optional, Tuple, Union

from . import _native
from ._convert import layer_from_native, progress_adapter
from .errors import _from_native
from .models import ModelLayer, OCIConfig, OCIManifest

__all__ = ["ModelPackager", "ModelUnpackager"]

PathLike = Union[str, "os.PathLike[str]"]

_MANIFEST_FILENAME = "manifest.json"
_CONFIG_FILENAME = "config.json"
_LAYERS_DIR = "blobs/sha256"


def _sha256_file(path: PathLike) -> str:
    """Return ``sha256:<hex>`` for a file on disk, streamed (never read whole)."""
    return _native.sha256_file(os.fspath(path))


def _sha256_bytes(data: bytes) -> str:
    """Return ``sha256:<hex>`` for an in-memory byte string."""
    return _native.sha256_bytes(bytes(data))


class ModelPackager:
    """Packages an ML model directory into an OCI-compliant tar archive.

    Difference: the archive is an OCI image layout in a tar file (``oci-layout``,
    ``index.json``, ``blobs/sha256/<hex>``, with ``manifest.json`` and ``config.json`` at the
    root as the reference has them), so every OCI tool and registry reads it; it is
    reproducible (same directory, same bytes) and no file is held in memory.

    The keyword arguments (none in the reference) are ``modeloci pack``'s options:
    ``compression`` (``"gzip"``, the default, ``"zstd"``, ``"none"`` or ``"auto"``), ``level``,
    ``format`` (``"modeloci"`` or ``"modelpack"``), ``exclude`` (gitignore patterns),
    ``symlinks`` (``"follow"``, ``"skip"`` or ``"error"``), ``cache`` (remember the layers of
    unchanged files, as the CLI does) and ``progress``, a callable given a
    :class:`modeloci.ProgressEvent` as the work goes on.
    """

    def __init__(
        self,
        *,
        compression: Optional[str] = None,
        level: Optional[int] = None,
        format: Optional[str] = None,
        exclude: Iterable[str] = (),
        symlinks: Optional[str] = None,
        cache: bool = True,
        progress: Optional[Callable[[Any], None]] = None,
    ) -> None:
        self._options = {
            "compression": compression,
            "level": level,
            "format": format,
            "exclude": list(exclude),
            "symlinks": symlinks,
            "cache": cache,
        }
        self._progress = progress

    def package(
        self,
        model_dir: PathLike,
        config: OCIConfig,
        *,
        output: Optional[PathLike] = None,
        tag: Optional[str] = None,
        revision: Optional[str] = None,
    ) -> str:
        """Create an OCI-compliant tar archive from ``model_dir``; return its absolute path.

        The archive is ``<config.model_name>-<config.version>.tar`` in the parent directory
        of ``model_dir`` unless ``output`` names another path. It appears complete or not at
        all. When ``model_dir`` is a Hugging Face cache's repository folder
        (``models--org--name``), the snapshot ``refs/main`` names is packed, or the one
        ``revision`` (a branch, tag, commit or its first 7 or more hex digits) names; the
        archive of a directory in a cache goes to the current directory by default.

        Raises ``NotADirectoryError`` (:class:`modeloci.errors.NotADirectory`) when
        ``model_dir`` does not exist or is not a directory. Difference: a directory with no
        file to pack raises :class:`modeloci.errors.EmptyModel` (a ``ValueError``) rather
        than writing an empty archive.
        """
        report = json.loads(
            _native.package(
                os.fspath(model_dir),
                config.model_dump_json(),
                dict(
                    self._options,
                    output=None if output is None else os.fspath(output),
                    tag=tag,
                    revision=revision,
                ),
                progress=progress_adapter(self._progress),
            )
        )
        return os.path.abspath(report["path"])

    def create_manifest(self, config: OCIConfig, layers: List[ModelLayer]) -> OCIManifest:
        """Build an ``OCIManifest`` from a config and a list of layer descriptors.

        The config descriptor names the config's JSON as the archive stores it (its digest
        and size). Difference: the manifest modeloci writes also has an ``artifactType``
        (``application/vnd.modeloci.model.v1``) and title and version annotations, which
        ``OCIManifest`` (the reference's fields only) does not hold.
        """
        descriptor = json.loads(_native.config_descriptor(config.model_dump_json()))
        return OCIManifest(
            config=descriptor,
            layers=[
                {
                    "mediaType": layer.media_type,
                    "digest": layer.digest,
                    "size": layer.size,
                    "annotations": dict(layer.annotations),
                }
                for layer in layers
            ],
        )

    def add_layer(self, archive_path: PathLike, file_path: PathLike) -> ModelLayer:
        """Add a single file as a new layer to an existing archive; return its descriptor.

        Raises ``FileNotFoundError`` (:class:`modeloci.errors.FileMissing`) when
        ``file_path`` does not exist or is not a file. Difference: the archive's manifest is
        updated too (the reference leaves it naming the old layers), so the new file is part
        of the model; a file already in the model is refused
        (:class:`modeloci.errors.AlreadyInModel`).
        """
        file_path = os.fspath(file_path)
        if not os.path.isfile(file_path):
            raise _from_native(
                "FileMissing",
                f"{file_path} does not exist or is not a file",
                {"filename": file_path, "path": file_path},
            )
        report = json.loads(_native.add_layer(os.fspath(archive_path), file_path))
        return layer_from_native(report["layer"])


class ModelUnpackager:
    """Unpacks OCI-compliant model archives and verifies layer integrity."""

    def __init__(self, *, progress: Optional[Callable[[Any], None]] = None) -> None:
        self._progress = progress

    def unpack(self, archive_path: PathLike, output_dir: PathLike) -> OCIConfig:
        """Restore the model in ``archive_path`` into ``output_dir``; return its config.

        ``output_dir`` is created (with its parents) when absent. Every path is checked
        before anything is written: an absolute path, ``..``, a link or a device in the
        archive raises :class:`modeloci.errors.UnsafeEntry` (a ``ValueError``), on every
        Python version. Differences: the model's files are restored (the reference extracts
        the archive's blobs and documents, not the model); every blob is verified against
        its digest as it is read; the files land together or not at all; and a non-empty
        ``output_dir`` raises :class:`modeloci.errors.TargetNotEmpty` (a
        ``FileExistsError``).

        Raises ``FileNotFoundError`` when the archive has no model config
        (:class:`modeloci.errors.MissingBlob`).
        """
        report = json.loads(
            _native.unpack(
                os.fspath(archive_path),
                os.fspath(output_dir),
                model_config=True,
                progress=progress_adapter(self._progress),
            )
        )
        return OCIConfig.model_validate(report["config"])

    def verify_layers(self, archive_path: PathLike) -> List[Tuple[str, bool]]:
        """Verify the SHA-256 digest of every layer blob; ``(digest, is_valid)`` for each.

        Each blob is streamed through the hash (never read whole) and checked against its
        descriptor's digest and size. Raises ``FileNotFoundError`` when the archive does not
        exist or holds no manifest (:class:`modeloci.errors.NotAnArchive`), and
        ``RuntimeError`` when its manifest cannot be read
        (:class:`modeloci.errors.InvalidDocument`).
        """
        return [tuple(check) for check in _native.verify_layers(os.fspath(archive_path))]
