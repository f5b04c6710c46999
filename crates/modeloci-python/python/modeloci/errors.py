"""The exceptions modeloci raises: one class per kind of error, each a ``ModelociError`` and,
where the reference raises a built-in exception for the case, that built-in too.

Every exception carries the facts of its error as attributes, named as the library names
them (the paths, digests, sizes and limits its message names), and its message is the
library's own. Errors of a file the operating system refused are ``OSError`` with
``errno``, ``strerror`` and ``filename`` set: :class:`FileMissing` (a ``FileNotFoundError``)
when it does not exist, :class:`AccessDenied` (a ``PermissionError``) when it may not be
read or written, else :class:`FileAccess`.

The groups: :class:`ArchiveError` (packing, reading and unpacking archives, with
:class:`InvalidArchive` for a damaged one), :class:`RegistryError`, :class:`SignatureError`
(with :class:`InvalidKey` and :class:`VerificationFailed`) and :class:`IntegrityError`
(content that does not match its digest or size).
"""

import errno as _errno
import os
from typing import Any, Dict, Optional

__all__ = [
    "AccessDenied",
    "AlreadyALayout",
    "AlreadyInModel",
    "AmbiguousIndex",
    "AmbiguousRevision",
    "ArchiveError",
    "BadLayer",
    "BadManifest",
    "BadRef",
    "BadReferrer",
    "BadSignature",
    "BadTlsFile",
    "BlobMismatch",
    "BundleTooLarge",
    "CheckFailed",
    "ContentMismatch",
    "CredentialsError",
    "DigestMismatch",
    "DocumentTooLarge",
    "DuplicateName",
    "EmptyModel",
    "FileAccess",
    "FileChanged",
    "FileMissing",
    "FilesDiffer",
    "HasReferrers",
    "HuggingFaceCacheError",
    "IntegrityError",
    "InvalidArchive",
    "InvalidBundle",
    "InvalidDescriptorValue",
    "InvalidDocument",
    "InvalidEnvironment",
    "InvalidExcludePattern",
    "InvalidKey",
    "InvalidName",
    "InvalidOption",
    "InvalidReference",
    "InvalidRevision",
    "InvalidStatement",
    "InvalidTag",
    "KeyNotPem",
    "LegacyEncryptedKey",
    "LegacyStatement",
    "MalformedTar",
    "ManifestTooLarge",
    "MissingBlob",
    "ModelociError",
    "NoDefaultOutput",
    "NoDefaultTag",
    "NoKeys",
    "NoMainRef",
    "NoRecordedDigests",
    "NoSignatureVerifies",
    "NoSpace",
    "NonUtf8Name",
    "NotADescriptorField",
    "NotADirectory",
    "NotAModel",
    "NotAnArchive",
    "NotFound",
    "NothingIncluded",
    "OutputDirMissing",
    "PasswordNeeded",
    "PlainHttpRefused",
    "PrivateKeyNotPublic",
    "ProtocolViolation",
    "RegistryError",
    "ResponseTooLarge",
    "RevisionWithoutCache",
    "RootMismatch",
    "SignatureError",
    "SignatureNotDer",
    "SignedByAnotherKey",
    "SizeMismatch",
    "SnapshotMissing",
    "SpecialFile",
    "Stalled",
    "SymlinkInModel",
    "SymlinkRefused",
    "TargetConflict",
    "TargetNotEmpty",
    "TlsError",
    "TooManyReferrers",
    "Truncated",
    "Unauthorized",
    "UnexpectedStatus",
    "UnknownRevision",
    "UnpackableFile",
    "Unreachable",
    "UnsafeEntry",
    "Unsigned",
    "UnsupportedConfig",
    "UnsupportedKey",
    "UnsupportedLayer",
    "VerificationFailed",
    "VersionNotATag",
    "WrongPassword",
    "WrongPemLabel",
]


class ModelociError(Exception):
    """The base of every error modeloci raises."""

    #: The ``errno`` an ``OSError`` subclass has when the error gives none.
    _default_errno: Optional[int] = None

    def __str__(self) -> str:
        # The library's message, also for the OSError subclasses (whose own __str__ would
        # make "[Errno 2] ..." of errno and strerror).
        if len(self.args) == 1:
            return str(self.args[0])
        return super().__str__()


# Shared by several crates: files, options, tags, checks.


class FileAccess(ModelociError, OSError):
    """A file or directory could not be read or written (``errno``, ``strerror``, ``filename``)."""


class FileMissing(FileAccess, FileNotFoundError):
    """A file or directory does not exist (or a file to add is not a file)."""

    _default_errno = _errno.ENOENT


class AccessDenied(FileAccess, PermissionError):
    """The operating system refused to read or write a file or directory."""


class NoSpace(FileAccess):
    """The target's filesystem has less space available than the output needs; nothing was written."""

    _default_errno = _errno.ENOSPC


class NotADirectory(ModelociError, NotADirectoryError):
    """The model directory does not exist or is not a directory."""


class InvalidOption(ModelociError, ValueError):
    """The options given do not make sense together, or one is out of range."""


class InvalidTag(ModelociError, ValueError):
    """A tag to name the archive or push under is not a valid tag (``tag``, ``suggestion``)."""


class InvalidEnvironment(ModelociError, ValueError):
    """An environment variable a default is read from is unusable (``variable``, ``reason``)."""


class CheckFailed(ModelociError):
    """A check of the files unpacked or pulled refused them; nothing reached the target."""


class IntegrityError(ModelociError):
    """Content does not match its digest or size."""


class SizeMismatch(IntegrityError):
    """Content is longer or shorter than expected (``expected``, ``actual``, ``at_least``)."""


class DigestMismatch(IntegrityError):
    """Content has the expected size but another digest (``expected``, ``actual``)."""


# modeloci_archive


class ArchiveError(ModelociError):
    """An archive could not be packed, read, extended or unpacked."""


class EmptyModel(ArchiveError, ValueError):
    """The model directory holds no regular file to pack."""


class UnpackableFile(ArchiveError, ValueError):
    """A file of the model cannot be packed as it is (a FIFO, a dangling link, ...)."""


class FileChanged(ArchiveError, RuntimeError):
    """A file changed size while it was being packed."""


class ManifestTooLarge(ArchiveError, ValueError):
    """The manifest to write would be larger than readers and registries accept."""


class InvalidExcludePattern(ArchiveError, ValueError):
    """An exclude pattern does not parse."""


class HuggingFaceCacheError(ArchiveError, ValueError):
    """A Hugging Face cache's repository folder, or the revision to pack from it, is wrong."""


class NoMainRef(HuggingFaceCacheError):
    """The cache folder has no refs/main and no revision was given."""


class UnknownRevision(HuggingFaceCacheError):
    """The revision is neither a ref nor the start of a snapshot's commit."""


class AmbiguousRevision(HuggingFaceCacheError):
    """The revision is the start of several snapshots' commits."""


class SnapshotMissing(HuggingFaceCacheError, FileNotFoundError):
    """A ref names a commit whose snapshot is not in the cache."""


class BadRef(HuggingFaceCacheError):
    """A ref file does not hold a commit hash."""


class InvalidRevision(HuggingFaceCacheError):
    """The revision cannot name a ref or a snapshot (empty, absolute, with `..`)."""


class RevisionWithoutCache(HuggingFaceCacheError):
    """A revision was given for a directory that is no Hugging Face cache folder."""


class SymlinkRefused(ArchiveError, ValueError):
    """The model holds a symbolic link and the symlink policy refuses links."""


class NoDefaultOutput(ArchiveError, ValueError):
    """No output path was given and the model directory has no parent to put the archive in."""


class OutputDirMissing(ArchiveError, FileNotFoundError):
    """The directory the archive is to be written in does not exist."""


class InvalidDescriptorValue(ArchiveError, ValueError):
    """A metadata value has the wrong type for the ModelPack descriptor field its key names."""


class NotADescriptorField(ArchiveError, ValueError):
    """A metadata key is not a ModelPack descriptor field (``fields`` lists those allowed)."""


class VersionNotATag(ArchiveError, ValueError):
    """The model's version cannot be a tag and no reference name was given."""


class AlreadyInModel(ArchiveError, FileExistsError):
    """The model already has the path a file was to be added at."""


class HasReferrers(ArchiveError, ValueError):
    """The archive holds signatures of its model, which adding a file would leave stale."""


class NotAnArchive(ArchiveError, FileNotFoundError):
    """The path is not a tar archive or OCI layout directory holding a model (no manifest)."""


class MissingBlob(ArchiveError, FileNotFoundError):
    """A blob the manifest names (the config, a layer) is missing from the archive."""


class BlobMismatch(ArchiveError, IntegrityError):
    """A blob of the archive does not match its descriptor's digest or size."""


class UnsafeEntry(ArchiveError, ValueError):
    """An archive entry or manifest path is refused by the safety policy (``refusal`` names the rule)."""


class InvalidArchive(ArchiveError, RuntimeError):
    """The archive is damaged, or its documents cannot be read."""


class MalformedTar(InvalidArchive):
    """The tar structure is broken (a bad header checksum, ...) at ``offset``."""


class Truncated(InvalidArchive):
    """The archive ends early, at ``offset``: an interrupted download or copy."""


class InvalidDocument(InvalidArchive):
    """A JSON document of the archive (its manifest, config or index) is not valid."""


class DocumentTooLarge(InvalidArchive):
    """A document or blob that must be small declares a size beyond the cap."""


class AmbiguousIndex(InvalidArchive):
    """The archive's index does not lead to exactly one manifest."""


class BadManifest(InvalidArchive):
    """The manifest, its config descriptor or the index name blobs inconsistently."""


class BadLayer(InvalidArchive):
    """A layer's content is not what its descriptor says it is."""


class BadReferrer(InvalidArchive):
    """A referrer (a signature of the model) is malformed or cannot be stored with it."""


class TooManyReferrers(InvalidArchive):
    """The index lists more referrers than are read."""


class UnsupportedLayer(ArchiveError, ValueError):
    """A layer has a media type this tool cannot unpack."""


class UnsupportedConfig(ArchiveError, ValueError):
    """The config blob is not a model config this tool understands."""


class TargetNotEmpty(ArchiveError, FileExistsError):
    """The output directory already holds files."""


class TargetConflict(ArchiveError, FileExistsError):
    """Unpacking with overwrite would replace something that is not a plain file."""


class NothingIncluded(ArchiveError, ValueError):
    """No file of the model matches the include patterns."""


class AlreadyALayout(ArchiveError, ValueError):
    """The OCI layout of an archive that is already a layout directory cannot be extracted."""


# modeloci_registry


class RegistryError(ModelociError):
    """A registry refused or failed a request."""


class InvalidReference(RegistryError, ValueError):
    """The reference is not of the form ``host[:port]/repository[:tag][@digest]``."""


class Unreachable(RegistryError, ConnectionError):
    """The registry could not be reached, or the connection broke (after retries)."""


class Unauthorized(RegistryError, PermissionError):
    """The registry refused the credentials sent, or wants some (``status`` 401 or 403)."""


class NotFound(RegistryError, LookupError):
    """The repository, tag, manifest or blob does not exist in the registry."""


class NoDefaultTag(RegistryError, LookupError):
    """A reference without a tag, in a repository that has no ``latest`` (``tags`` it has)."""


class UnexpectedStatus(RegistryError):
    """The registry answered with an unexpected HTTP status."""


class Stalled(RegistryError, TimeoutError):
    """The registry sent no data for ``timeout`` seconds, on every attempt."""


class ProtocolViolation(RegistryError):
    """The registry broke the protocol: a missing header, a malformed answer."""


class ContentMismatch(RegistryError, IntegrityError):
    """Content from the registry does not match its digest or size."""


class ResponseTooLarge(RegistryError):
    """A manifest or document from the registry is over the size limit."""


class PlainHttpRefused(RegistryError, ValueError):
    """Plain HTTP to a registry that is not a local address was refused."""


class TlsError(RegistryError, ConnectionError):
    """The TLS handshake failed (``failure`` names the kind: ``unknown-issuer``, ``expired``, ...)."""


class BadTlsFile(RegistryError, ValueError):
    """A CA bundle, client certificate or key could not be used."""


class CredentialsError(RegistryError):
    """Credentials could not be read or stored (a Docker config file, a credential helper)."""


# modeloci_sign


class SignatureError(ModelociError):
    """A model signature could not be made, read or verified."""


class InvalidKey(SignatureError, ValueError):
    """A key file cannot be used."""


class KeyNotPem(InvalidKey):
    """A key file is not PEM, or its PEM armor is damaged."""


class LegacyEncryptedKey(InvalidKey):
    """A private key in OpenSSL's legacy encrypted PEM format, which is not supported."""


class PasswordNeeded(InvalidKey):
    """The private key is encrypted and no password was given."""


class WrongPassword(InvalidKey):
    """The password did not decrypt the private key."""


class UnsupportedKey(InvalidKey):
    """A key of a kind model signatures do not use (they use ECDSA on P-256 or P-384)."""


class PrivateKeyNotPublic(InvalidKey):
    """A private key was given where a public key is expected."""


class WrongPemLabel(InvalidKey):
    """The PEM file holds no key of the kind expected (``label`` found, ``expected``)."""


class NoKeys(SignatureError, ValueError):
    """No public key to verify the signature with."""


class NotAModel(SignatureError, ValueError):
    """What was named is not a model manifest."""


class VerificationFailed(SignatureError):
    """The signature, or the files it covers, did not check out."""


class Unsigned(VerificationFailed):
    """No signature is stored beside the model."""


class InvalidName(VerificationFailed):
    """A file name that a signature may not list."""


class DuplicateName(VerificationFailed):
    """A file is listed twice in a signature."""


class BundleTooLarge(VerificationFailed):
    """The signature bundle is over the size limit."""


class InvalidBundle(VerificationFailed):
    """The signature bundle is not a well-formed Sigstore bundle of a model signature."""


class InvalidStatement(VerificationFailed):
    """The signed statement is not a well-formed OpenSSF model signature statement."""


class LegacyStatement(VerificationFailed):
    """The signature uses the legacy statement format, which is not supported."""


class RootMismatch(VerificationFailed):
    """The signed root digest is not that of the signed file list."""


class SignedByAnotherKey(VerificationFailed):
    """The signature's key hint matches none of the keys given."""


class SignatureNotDer(VerificationFailed):
    """The signature is not a DER-encoded ECDSA signature for the key's curve."""


class BadSignature(VerificationFailed):
    """The signature does not verify with the keys given."""


class NoSignatureVerifies(VerificationFailed):
    """Several signatures, none of which verifies (``reasons``)."""


class FilesDiffer(VerificationFailed):
    """The model's files are not the signed ones (``missing``, ``extra``, ``changed``)."""


class NoRecordedDigests(VerificationFailed):
    """The model's manifest does not record every file's digest."""


class SymlinkInModel(VerificationFailed):
    """A symbolic link in a model directory; signatures cover regular files only."""


class SpecialFile(VerificationFailed):
    """A device, socket or pipe in a model directory."""


class NonUtf8Name(VerificationFailed):
    """A path in a model directory whose name is not UTF-8."""


def _from_native(name: str, message: str, facts: Dict[str, Any]) -> ModelociError:
    """The exception the native module raises: class ``name`` with ``message`` and ``facts``.

    An ``OSError`` whose error gives no ``errno`` gets its class's (``ENOENT`` for
    :class:`FileMissing`, ``ENOSPC`` for :class:`NoSpace`), with its ``strerror``.
    """
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, ModelociError)):
        cls = ModelociError
    error = cls(message)
    for key, value in facts.items():
        setattr(error, key, value)
    if isinstance(error, OSError) and error.errno is None and cls._default_errno is not None:
        error.errno = cls._default_errno
        if error.strerror is None:
            error.strerror = os.strerror(cls._default_errno)
    return error
