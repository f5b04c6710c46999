"""What crosses between the native module and the Python types."""

from typing import Any, Callable, Dict, Optional

from .models import ModelLayer
from .results import ProgressEvent


def layer_from_native(layer: Dict[str, Any]) -> ModelLayer:
    """A ``ModelLayer`` of a layer descriptor as the manifest JSON holds it."""
    return ModelLayer(
        digest=layer["digest"],
        size=layer["size"],
        media_type=layer["mediaType"],
        annotations=layer.get("annotations", {}),
    )


def progress_adapter(
    callback: Optional[Callable[[ProgressEvent], None]],
) -> Optional[Callable[[str, int, int, Optional[str]], None]]:
    """The native callback for a user's: each report as a ``ProgressEvent``."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"progress must be callable, not {type(callback).__name__}")

    def report(stage: str, done: int, total: int, file: Optional[str]) -> None:
        callback(ProgressEvent(stage=stage, done=done, total=total, file=file))

    return report
