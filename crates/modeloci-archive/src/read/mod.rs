//! Reading archives: the archive index (`archive`), verification (`verify`) and restoring
//! the model (`unpack`). Nothing here writes an archive.

pub(crate) mod archive;
pub(crate) mod check;
pub(crate) mod unpack;
pub(crate) mod verify;
