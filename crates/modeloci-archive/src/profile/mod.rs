//! Artifact profiles: what each kind of artifact (modeloci, CNCF ModelPack, and the kinds
//! other tools write) puts in its layers, config and annotations.

pub(crate) mod modelpack;
