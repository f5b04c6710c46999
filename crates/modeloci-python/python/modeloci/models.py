"""The reference's Pydantic v2 models: ``OCIConfig``, ``ModelLayer`` and ``OCIManifest``.

Field names, types and defaults are those of ``aumai_modeloci.models``; ``model_dump_json()``,
``model_validate()``, ``model_copy()`` and the rest of the Pydantic v2 API work as there.
"""

from typing import Any, Dict, List

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelLayer", "OCIConfig", "OCIManifest"]

#: The media type of a gzip-compressed tar layer: the reference's default.
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
#: The media type of an OCI image manifest.
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


class ModelLayer(BaseModel):
    """A single layer in an OCI image, representing a compressed blob for one file.

    ``size`` is the exact length of the blob (the compressed bytes, when it is compressed), as
    an OCI descriptor's ``size`` must be; the reference's documentation calls it the
    uncompressed size (a difference: ``docs/python.md``).
    ``annotations["org.opencontainers.image.title"]`` holds the file's path in the model.
    """

    model_config = ConfigDict(protected_namespaces=())

    digest: str
    size: int
    media_type: str = LAYER_MEDIA_TYPE
    annotations: Dict[str, str] = Field(default_factory=dict)


class OCIConfig(BaseModel):
    """Configuration metadata for a packaged ML model, stored as the artifact's config blob.

    ``metadata`` keeps the key order it was given in.
    """

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    version: str
    framework: str
    architecture: str
    metadata: Dict[str, Any] = Field(default_factory=dict)


class OCIManifest(BaseModel):
    """An OCI image manifest, schema version 2.

    ``config`` and each of ``layers`` are OCI descriptors as the manifest JSON holds them
    (``mediaType``, ``digest``, ``size``, ``annotations``).
    """

    model_config = ConfigDict(protected_namespaces=())

    schema_version: int = 2
    media_type: str = MANIFEST_MEDIA_TYPE
    config: Dict[str, Any]
    layers: List[Dict[str, Any]] = Field(default_factory=list)
