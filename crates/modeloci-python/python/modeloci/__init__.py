"""modeloci: machine-learning models as verifiable OCI artifacts, from Python.

``modeloci.core`` and ``modeloci.models`` are the reference's API (``ModelPackager``,
``ModelUnpackager``, ``OCIConfig``, ``ModelLayer``, ``OCIManifest``). For inference stacks, the
functions here resolve a model in any OCI registry to local files and back: :func:`pull`,
:func:`push`, :func:`verify` and :func:`inspect`, each returning a typed result.

Registry keyword arguments (every registry function takes them; by default, what the
``modeloci`` command reads): ``username`` and ``password`` (else ``MODELOCI_USERNAME`` and
``MODELOCI_PASSWORD``, else Docker's ``config.json`` and credential helpers, for that
registry alone), ``ca_file`` (a PEM bundle trusted beside the system's roots and Docker's
``certs.d``), ``insecure`` (do not verify the TLS certificate), ``plain_http`` (HTTP, for
loopback registries), ``tls`` (HTTPS even to a loopback registry), ``timeout`` (seconds
without data before a request gives up; 30) and ``concurrency`` (blobs at once; 4).

The work runs in modeloci's Rust core with the interpreter released: other threads keep
running while a model is pulled. ``progress`` callbacks are called from worker threads.
"""

import json
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from . import _native, errors
from ._convert import layer_from_native, progress_adapter
from .core import ModelPackager, ModelUnpackager
from .errors import ModelociError
from .models import ModelLayer, OCIConfig, OCIManifest
from .results import (
    BlobCheck,
    InspectResult,
    ProgressEvent,
    PullResult,
    PushedBlob,
    PushResult,
    Signature,
    UnpackedFile,
    VerifyResult,
)

__version__: str = _native.__version__

__all__ = [
    "BlobCheck",
    "InspectResult",
    "ModelLayer",
    "ModelPackager",
    "ModelUnpackager",
    "ModelociError",
    "OCIConfig",
    "OCIManifest",
    "ProgressEvent",
    "PullResult",
    "PushResult",
    "PushedBlob",
    "Signature",
    "UnpackedFile",
    "VerifyResult",
    "__version__",
    "errors",
    "inspect",
    "pull",
    "push",
    "verify",
]

PathLike = Union[str, "os.PathLike[str]"]
Keys = Union[PathLike, Iterable[PathLike], None]
Progress = Optional[Callable[[ProgressEvent], None]]

_REGISTRY_DEFAULTS: Dict[str, Any] = {
    "username": None,
    "password": None,
    "ca_file": None,
    "insecure": False,
    "plain_http": False,
    "tls": False,
    "timeout": 30.0,
    "concurrency": 4,
}


def _registry(function: str, given: Dict[str, Any]) -> Dict[str, Any]:
    unknown = sorted(set(given) - set(_REGISTRY_DEFAULTS))
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")
    options = dict(_REGISTRY_DEFAULTS, **given)
    if options["ca_file"] is not None:
        options["ca_file"] = os.fspath(options["ca_file"])
    options["timeout"] = float(options["timeout"])
    options["concurrency"] = int(options["concurrency"])
    return options


def _keys(key: Keys) -> List[str]:
    if key is None:
        return []
    if isinstance(key, (str, os.PathLike)):
        return [os.fspath(key)]
    return [os.fspath(k) for k in key]


def _signature(found: Optional[Dict[str, Any]], keys: List[str]) -> Optional[Signature]:
    if found is None:
        return None
    return Signature(
        key=keys[found["key"]],
        referrer=found["referrer"],
        files=found["files"],
        root=found["root"],
    )


def _files(found: List[Dict[str, Any]]) -> List[UnpackedFile]:
    return [UnpackedFile(**f) for f in found]


def _is_local(path_or_reference: PathLike) -> bool:
    """As the ``modeloci`` command reads its operand: a path object or an existing path is an
    archive; other text is a registry reference when it parses as one, else a path (whose
    absence is then the error)."""
    if isinstance(path_or_reference, os.PathLike) or os.path.exists(path_or_reference):
        return True
    return not _native.is_reference(path_or_reference)


def pull(
    reference: str,
    directory: Optional[PathLike] = None,
    include: Optional[Iterable[str]] = None,
    key: Keys = None,
    *,
    archive: Optional[PathLike] = None,
    force: bool = False,
    progress: Progress = None,
    **registry: Any,
) -> PullResult:
    """Fetch the model ``reference`` names into ``directory`` (its files) or ``archive``.

    Every blob is verified against its digest before it is kept, layers stream straight
    into files, and an interrupted pull resumes what it had. ``include`` (glob patterns)
    fetches only the layers holding matching files. With ``key`` (a public key PEM file, or
    several), the model's OpenSSF signature in the registry must verify and the files must
    be those it signed, before any reaches ``directory``. ``directory`` must be empty or
    absent unless ``force``; the files land together or not at all.
    """
    keys = _keys(key)
    found = json.loads(
        _native.pull(
            reference,
            _registry("pull", registry),
            directory=None if directory is None else os.fspath(directory),
            archive=None if archive is None else os.fspath(archive),
            include=list(include or []),
            keys=keys,
            force=force,
            progress=progress_adapter(progress),
        )
    )
    config = found["config"]
    return PullResult(
        reference=found["reference"],
        manifest_digest=found["manifest_digest"],
        directory=found["directory"],
        archive=found["archive"],
        bytes_downloaded=found["bytes_downloaded"],
        bytes_resumed=found["bytes_resumed"],
        blobs=found["blobs"],
        config=None if config is None else OCIConfig.model_validate(config),
        files=_files(found["files"]),
        signature=_signature(found["signature"], keys),
    )


def push(
    archive: PathLike,
    reference: str,
    *,
    tags: Iterable[str] = (),
    progress: Progress = None,
    **registry: Any,
) -> PushResult:
    """Upload ``archive`` to ``reference`` (and each of ``tags``), with its signatures.

    Blobs the registry has are not sent again; nothing is tagged unless every blob arrived.
    """
    found = json.loads(
        _native.push(
            os.fspath(archive),
            reference,
            _registry("push", registry),
            tags=list(tags),
            progress=progress_adapter(progress),
        )
    )
    return PushResult(
        reference=found["reference"],
        manifest_digest=found["manifest_digest"],
        tags=found["tags"],
        bytes_uploaded=found["bytes_uploaded"],
        blobs=[PushedBlob(**b) for b in found["blobs"]],
        referrers=found["referrers"],
    )


def verify(
    path_or_reference: PathLike,
    key: Keys = None,
    *,
    progress: Progress = None,
    **registry: Any,
) -> VerifyResult:
    """Check every blob of an archive (an existing path) or of a model in a registry against
    its digest and size; a registry's blobs are streamed through the hash, nothing kept.

    A blob that does not match is a failed check in the result (``bool(result)`` is false),
    not an exception. With ``key``, the model's signature must verify too: a missing or bad
    signature raises a :class:`modeloci.errors.SignatureError`.
    """
    keys = _keys(key)
    adapter = progress_adapter(progress)
    if _is_local(path_or_reference):
        if registry:
            raise TypeError(f"verify() of an archive takes no registry argument {sorted(registry)[0]!r}")
        text = _native.verify_archive(os.fspath(path_or_reference), keys=keys, progress=adapter)
    else:
        text = _native.verify_remote(
            path_or_reference, _registry("verify", registry), keys=keys, progress=adapter
        )
    found = json.loads(text)
    return VerifyResult(
        ok=found["ok"],
        source=str(found["source"]),
        manifest_digest=found["manifest_digest"],
        blobs=[BlobCheck(**b) for b in found["blobs"]],
        refused=found["refused"],
        signature=_signature(found["signature"], keys),
    )


def inspect(path_or_reference: PathLike, **registry: Any) -> InspectResult:
    """Read a model's manifest and config, from an archive (an existing path) or a registry,
    without downloading or extracting a layer."""
    if _is_local(path_or_reference):
        if registry:
            raise TypeError(f"inspect() of an archive takes no registry argument {sorted(registry)[0]!r}")
        found = json.loads(_native.inspect_archive(os.fspath(path_or_reference)))
    else:
        found = json.loads(_native.inspect_remote(path_or_reference, _registry("inspect", registry)))
    manifest = found["manifest"] or {}
    config = found["config"]
    if isinstance(config, dict) and {"model_name", "version", "framework", "architecture"} <= set(config):
        config = OCIConfig.model_validate(config)
    return InspectResult(
        source=str(found["source"]),
        manifest_digest=found["manifest_digest"],
        config=config,
        layers=[layer_from_native(layer) for layer in manifest.get("layers", [])],
        annotations=manifest.get("annotations", {}),
        artifact_type=manifest.get("artifactType"),
        reference_name=found["reference_name"],
        index=found["index"],
    )
