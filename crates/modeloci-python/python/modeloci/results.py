"""The typed results of ``pull``, ``push``, ``verify`` and ``inspect``, and progress events."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from .models import ModelLayer, OCIConfig

__all__ = [
    "BlobCheck",
    "InspectResult",
    "ProgressEvent",
    "PullResult",
    "PushedBlob",
    "PushResult",
    "Signature",
    "UnpackedFile",
    "VerifyResult",
]


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of long work: ``stage`` (``packing``, ``unpacking``, ``verifying``,
    ``uploading``, ``downloading``), bytes ``done`` of ``total``, and the file being worked
    on when known. Reported at each start and finish and at most every 100 ms between."""

    stage: str
    done: int
    total: int
    file: Optional[str] = None


@dataclass(frozen=True)
class UnpackedFile:
    """A file written: its path in the model, size, mode and the SHA-256 of its bytes."""

    path: str
    size: int
    executable: bool
    digest: str


@dataclass(frozen=True)
class Signature:
    """The OpenSSF model signature that verified: the public key file that verified it, the
    referrer manifest holding it (``None`` when none does), and the files it covers."""

    key: str
    referrer: Optional[str]
    files: int
    root: str


@dataclass(frozen=True)
class PullResult:
    """What ``pull`` fetched: the reference and manifest digest, where it went (``directory``
    or ``archive``), the bytes downloaded (and resumed from an earlier pull), the model's
    config, the files written and, with ``key``, the signature that verified."""

    reference: str
    manifest_digest: str
    directory: Optional[str]
    archive: Optional[str]
    bytes_downloaded: int
    bytes_resumed: int
    blobs: int
    config: Optional[OCIConfig]
    files: List[UnpackedFile] = field(default_factory=list)
    signature: Optional[Signature] = None


@dataclass(frozen=True)
class PushedBlob:
    """One blob of a push: ``outcome`` is ``uploaded``, ``uploaded-in-chunks``, ``existed``
    (the registry had it) or ``mounted`` (from another repository)."""

    digest: str
    size: int
    outcome: str


@dataclass(frozen=True)
class PushResult:
    """What ``push`` did: the manifest digest, the tags set, the bytes uploaded, each blob,
    and the signatures attached (their referrer manifest digests)."""

    reference: str
    manifest_digest: str
    tags: List[str]
    bytes_uploaded: int
    blobs: List[PushedBlob]
    referrers: List[str]


@dataclass(frozen=True)
class BlobCheck:
    """The check of one blob: ``what`` (``config``, a layer's path, a referrer), its digest
    and size as the descriptor gives them, and ``problem`` when ``ok`` is false."""

    what: str
    digest: str
    size: int
    ok: bool
    problem: Optional[str] = None


@dataclass(frozen=True)
class VerifyResult:
    """Every blob against its digest and size (and, with ``key``, the signature). True when
    everything verified; ``failures`` lists what did not."""

    ok: bool
    source: str
    manifest_digest: str
    blobs: List[BlobCheck]
    refused: Optional[str] = None
    signature: Optional[Signature] = None

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> List[BlobCheck]:
        """The blobs that failed their check."""
        return [b for b in self.blobs if not b.ok]


@dataclass(frozen=True)
class InspectResult:
    """A model as its manifest describes it, read without downloading or extracting a
    layer: the manifest digest, the config (an ``OCIConfig`` for a modeloci model, else the
    config document as a dict), the layers, and the manifest's annotations. For an image
    index, ``index`` holds it and the rest is empty."""

    source: str
    manifest_digest: str
    config: Union[OCIConfig, Dict[str, Any], None]
    layers: List[ModelLayer]
    annotations: Dict[str, str]
    artifact_type: Optional[str] = None
    reference_name: Optional[str] = None
    index: Optional[Dict[str, Any]] = None

    @property
    def files(self) -> List[str]:
        """The paths the layers name (their titles), in manifest order."""
        title = "org.opencontainers.image.title"
        return [layer.annotations[title] for layer in self.layers if title in layer.annotations]
