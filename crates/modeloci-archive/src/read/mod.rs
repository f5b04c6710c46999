//! Reading archives: the archive index (`archive`), the layout check all readers share
//! (`check`), verification (`verify`) and restoring
//! the model (`unpack`). Nothing here writes an archive.

pub(crate) mod archive;
pub(crate) mod check;
pub(crate) mod referrers;
pub(crate) mod unpack;
pub(crate) mod verify;
