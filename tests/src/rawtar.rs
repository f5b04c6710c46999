//! A tar writer that writes exactly what it is told, valid or not: for hostile archives.

/// One raw entry.
#[derive(Clone, Debug)]
pub struct Raw {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub mode: u32,
    /// The size written in the header (the data written is `data`, whatever this says).
    pub size: u64,
    pub data: Vec<u8>,
    pub link: Vec<u8>,
    pub gnu: bool,
}

impl Raw {
    /// A regular file.
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            typeflag: b'0',
            mode: 0o644,
            size: data.len() as u64,
            data: data.to_vec(),
            link: Vec::new(),
            gnu: false,
        }
    }

    /// An entry of another type, with no data.
    pub fn special(name: &str, typeflag: u8, link: &str) -> Self {
        Self {
            typeflag,
            link: link.as_bytes().to_vec(),
            ..Self::file(name, b"")
        }
    }

    /// A directory.
    pub fn dir(name: &str) -> Self {
        Self {
            mode: 0o755,
            ..Self::special(name, b'5', "")
        }
    }

    /// A PAX extended header with these records.
    pub fn pax(records: &[(&str, &str)]) -> Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let core = format!(" {k}={v}\n");
            let mut len = core.len() + 1;
            while core.len() + len.to_string().len() != len {
                len = core.len() + len.to_string().len();
            }
            body.extend(format!("{len}{core}").bytes());
        }
        Self {
            typeflag: b'x',
            ..Self::file("././@PaxHeader", &body)
        }
    }

    pub fn with_size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Writes the header and data (padded) onto `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut h = if self.gnu {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        };
        let old = h.as_old_mut();
        let n = self.name.len().min(100);
        old.name[..n].copy_from_slice(&self.name[..n]);
        let l = self.link.len().min(100);
        old.linkname[..l].copy_from_slice(&self.link[..l]);
        h.set_entry_type(tar::EntryType::new(self.typeflag));
        h.set_mode(self.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(self.size);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&self.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
}

/// A tar of these entries, with the end-of-archive marker.
pub fn tar(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        entry.write(&mut out);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// gzip of `data` at the default level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("writes to memory");
    encoder.finish().expect("writes to memory")
}

/// (name, data offset, size) of every entry of a well-formed tar, in order.
pub fn entries(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("a tar")
        .map(|e| {
            let e = e.expect("a well-formed entry");
            (
                e.path().expect("a path").to_string_lossy().into_owned(),
                e.raw_file_position(),
                e.size(),
            )
        })
        .collect()
}
