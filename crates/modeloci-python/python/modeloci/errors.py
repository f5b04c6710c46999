"""The exceptions modeloci raises: one class per kind of error, each a ``ModelociError`` and,
where the reference raises a built-in exception for the case, that built-in too.

Every exception carries the facts of its error as attributes (the paths, digests, sizes and
limits its message names) and the message is the library's own.
"""

from typing import Any, Dict

__all__ = ["ModelociError"]


class ModelociError(Exception):
    """The base of every error modeloci raises."""


class RegistryError(ModelociError):
    """A registry refused or failed a request."""


class SignatureError(ModelociError):
    """A model signature could not be made, read or verified."""


class FileMissing(ModelociError, FileNotFoundError):
    """A file to add does not exist or is not a file."""


def _from_native(name: str, message: str, facts: Dict[str, Any]) -> ModelociError:
    """The exception the native module raises: class ``name`` with ``message`` and ``facts``."""
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, ModelociError)):
        cls = ModelociError
    error = cls(message)
    for key, value in facts.items():
        setattr(error, key, value)
    return error
