//! Writing archives: the model's files (`walk`), one file's layer tar (`layer_tar`), the
//! archive writer with reserved header slots (`archive_write`), assembling an archive from
//! parts (`assemble`), the index naming the manifest (`index`), and the operations built on
//! them, `pack`, `add` and attaching referrers (`referrers`). Pack writes its layer blobs to
//! a `sink` (the archive, or an upload elsewhere) and remembers them in the `digest_cache`.
//! A Hugging Face cache's repository folder packs one of its snapshots (`hf_cache`).

pub(crate) mod add;
pub(crate) mod archive_write;
pub(crate) mod assemble;
pub(crate) mod digest_cache;
pub(crate) mod group;
pub(crate) mod guard;
pub(crate) mod hf_cache;
pub(crate) mod index;
pub(crate) mod layer_tar;
pub(crate) mod pack;
pub(crate) mod referrers;
pub(crate) mod regroup;
pub(crate) mod sink;
pub(crate) mod walk;
