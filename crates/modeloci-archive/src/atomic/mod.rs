//! How output reaches its final path: temporaries renamed into place when complete, and
//! the lock that keeps a target to one writer.

pub(crate) mod lock;
pub(crate) mod space;
pub(crate) mod temp;
