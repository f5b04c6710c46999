//! Writing archives: the model's files (`walk`), one file's layer tar (`layer_tar`), the
//! archive writer with reserved header slots (`archive_write`), assembling an archive from
//! parts (`assemble`), the index naming the manifest (`index`), and the operations built on
//! them, `pack`, `add` and attaching referrers (`referrers`).

pub(crate) mod add;
pub(crate) mod archive_write;
pub(crate) mod assemble;
pub(crate) mod group;
pub(crate) mod guard;
pub(crate) mod index;
pub(crate) mod layer_tar;
pub(crate) mod pack;
pub(crate) mod referrers;
pub(crate) mod regroup;
pub(crate) mod walk;
