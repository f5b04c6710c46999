//! What other tools' artifacts hold, as the read side sees every kind: how each layer holds
//! its files, decided by the config's media type and the layer's. Writing has its own
//! profiles (`modeloci`, `modelpack`); reading meets those and KitOps ModelKits, ORAS
//! artifacts, the legacy CNAI types, ModelPack tars and raw blobs, and the reference's
//! archives, all described here.

use modeloci_spec::{Descriptor, LayerEncoding, MediaType, annotations};

/// How a layer holds its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// The blob is the file (ModelPack `.raw`, ORAS).
    Raw,
    /// A tar holding exactly the one file its title names (modeloci, the reference).
    OneFile(LayerEncoding),
    /// A tar of any number of files and directories, each checked (KitOps, ModelPack tars,
    /// ORAS directories).
    Tree(LayerEncoding),
}

/// How `layer` of an artifact whose config has media type `config` holds its files, or
/// `None` when this tool cannot read it. `named` says whether the layer names a path (a
/// title or a ModelPack file path).
///
/// modeloci's own archives and the reference's (an image config) hold one file per layer
/// tar, named by the title, and anything claiming those configs is held to that rule. Other
/// tools' tars may hold whole trees; their layer types are read by their suffix
/// (`...tar+gzip`, `...v1.tar`, `.raw`), so KitOps, CNAI and Docker layers need no table;
/// and ORAS names a file by its title, whatever its media type. A group layer (one carrying
/// `org.modeloci.group.files`) is a tree under every config: its entries are held to the
/// group's range and count as they are read.
pub(crate) fn layer_form(config: &MediaType, layer: &Descriptor, named: bool) -> Option<Form> {
    let strict = matches!(config, MediaType::ModelociConfig | MediaType::ImageConfig);
    let group = is_group(layer);
    Some(match layer.media_type.layer_encoding() {
        Some(LayerEncoding::Raw) => Form::Raw,
        Some(e) if group => Form::Tree(e),
        Some(e) if strict => Form::OneFile(e),
        Some(e) => Form::Tree(e),
        None if !strict && named => Form::Raw,
        None => return None,
    })
}

/// Whether `layer` is a group layer: it carries `org.modeloci.group.files`.
pub(crate) fn is_group(layer: &Descriptor) -> bool {
    layer.annotations.contains_key(annotations::GROUP_FILES)
}
