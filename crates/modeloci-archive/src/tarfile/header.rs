//! Deterministic tar headers.
//!
//! Every header this crate writes is built here: ustar, mtime 0 (or `SOURCE_DATE_EPOCH`),
//! uid/gid 0, empty owner names, mode 0644/0755. A PAX header is added only when the path does
//! not fit ustar's name and prefix fields or the size is 8 GiB or more; a GNU header (base-256
//! size) is used only for archive entries of 8 GiB or more whose size was unknown when their
//! header slot was reserved.

pub(crate) const BLOCK: u64 = 512;

/// The end-of-archive marker: two zero blocks.
pub(crate) const END_OF_ARCHIVE: [u8; 1024] = [0; 1024];

/// The largest size an octal ustar size field holds: 8 GiB - 1.
const MAX_OCTAL_SIZE: u64 = (1 << 33) - 1;

/// Bytes of zero padding after `size` bytes of entry data.
pub(crate) fn padding(size: u64) -> usize {
    ((BLOCK - size % BLOCK) % BLOCK) as usize
}

/// What kind of entry a header describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File { executable: bool },
    Dir,
}

/// The header block(s) for one entry: a PAX extended header when needed, then the ustar header.
pub(crate) fn entry_headers(path: &str, kind: Kind, size: u64, mtime: u64) -> Vec<u8> {
    let split = split_ustar_path(path);
    let needs_pax_size = size > MAX_OCTAL_SIZE;
    let mut out = Vec::with_capacity(512 * 3);
    if split.is_none() || needs_pax_size {
        let mut records = Vec::new();
        if split.is_none() {
            records.extend(pax_record("path", path));
        }
        if needs_pax_size {
            records.extend(pax_record("size", &size.to_string()));
        }
        let name = pax_header_name(path);
        let mut header = base_header(b'x', 0o644, records.len() as u64, mtime);
        set_name(&mut header, "", &name);
        finish(&mut header);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&records);
        out.resize(out.len() + padding(records.len() as u64), 0);
    }
    let (typeflag, mode) = match kind {
        Kind::File { executable: true } => (b'0', 0o755),
        Kind::File { executable: false } => (b'0', 0o644),
        Kind::Dir => (b'5', 0o755),
    };
    let mut header = base_header(typeflag, mode, if needs_pax_size { 0 } else { size }, mtime);
    let (prefix, name) = split.unwrap_or(("", truncate_utf8(path, 100)));
    set_name(&mut header, prefix, name);
    finish(&mut header);
    out.extend_from_slice(header.as_bytes());
    out
}

/// The header of an archive blob entry whose size became known only after its data was
/// written: ustar below 8 GiB, else GNU with a base-256 size (GNU tar, Go, libarchive and
/// Python read it). `name` must fit in 100 bytes (blob names are 77).
pub(crate) fn blob_header(name: &str, size: u64, mtime: u64) -> [u8; 512] {
    debug_assert!(name.len() <= 100);
    let mut header = if size > MAX_OCTAL_SIZE {
        let mut h = tar::Header::new_gnu();
        fill_common(&mut h, b'0', 0o644, size, mtime);
        h
    } else {
        base_header(b'0', 0o644, size, mtime)
    };
    set_name(&mut header, "", name);
    finish(&mut header);
    *header.as_bytes()
}

fn base_header(typeflag: u8, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    fill_common(&mut h, typeflag, mode, size, mtime);
    let ustar = h.as_ustar_mut().expect("a ustar header");
    ustar.dev_major = *b"0000000\0";
    ustar.dev_minor = *b"0000000\0";
    h
}

fn fill_common(h: &mut tar::Header, typeflag: u8, mode: u32, size: u64, mtime: u64) {
    h.set_entry_type(tar::EntryType::new(typeflag));
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
}

fn set_name(h: &mut tar::Header, prefix: &str, name: &str) {
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(ustar) = h.as_ustar_mut() {
        ustar.prefix = [0; 155];
        ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
    }
}

fn finish(h: &mut tar::Header) {
    h.set_cksum();
}

/// Splits a path into ustar's prefix (155 bytes) and name (100 bytes) at a `/`, or `None`
/// when it cannot be split so.
fn split_ustar_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The longest prefix that fits, so the name part is as short as possible.
    let limit = path.len().min(156);
    let cut = path[..limit].rfind('/')?;
    let (prefix, name) = (&path[..cut], &path[cut + 1..]);
    (prefix.len() <= 155 && !name.is_empty() && name.len() <= 100).then_some((prefix, name))
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

fn pax_header_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    format!(
        "PaxHeaders/{}",
        truncate_utf8(base, 100 - "PaxHeaders/".len())
    )
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        assert_eq!(pax_record("path", "a"), b"9 path=a\n");
        // 9 bytes + 1 digit would be 10, which has 2 digits: the length settles at 11.
        assert_eq!(pax_record("path", "ab"), b"11 path=ab\n");
        let long = "x".repeat(200);
        let rec = pax_record("path", &long);
        let (len, _) = std::str::from_utf8(&rec).unwrap().split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rec.len());
    }

    #[test]
    fn paths_split_into_prefix_and_name() {
        let dir = "d".repeat(120);
        let path = format!("{dir}/file.bin");
        assert_eq!(split_ustar_path(&path), Some((dir.as_str(), "file.bin")));
        assert_eq!(split_ustar_path(&"x".repeat(101)), None);
        let name_too_long = format!("dir/{}", "n".repeat(101));
        assert_eq!(split_ustar_path(&name_too_long), None);
    }

    #[test]
    fn headers_are_deterministic_ustar() {
        let h = entry_headers("model.bin", Kind::File { executable: false }, 1234, 0);
        assert_eq!(h.len(), 512);
        assert_eq!(&h[..9], b"model.bin");
        assert_eq!(&h[100..108], b"0000644\0");
        assert_eq!(&h[124..136], b"00000002322\0");
        assert_eq!(&h[136..148], b"00000000000\0");
        assert_eq!(h[156], b'0');
        assert_eq!(&h[257..265], b"ustar\x0000");
        let exec = entry_headers("run.sh", Kind::File { executable: true }, 0, 0);
        assert_eq!(&exec[100..108], b"0000755\0");
        let pax = entry_headers(&"x".repeat(150), Kind::File { executable: false }, 1, 0);
        assert_eq!(pax.len(), 512 * 3);
        assert_eq!(pax[156], b'x');
        assert_eq!(&pax[512..516], b"160 ");
        let big = entry_headers("big.bin", Kind::File { executable: false }, 9 << 30, 0);
        assert_eq!(&big[512..531], b"19 size=9663676416\n");
        assert_eq!(&big[512 + 512 + 124..512 + 512 + 136], b"00000000000\0");
    }

    #[test]
    fn large_blob_headers_switch_to_gnu() {
        let small = blob_header("blobs/sha256/x", MAX_OCTAL_SIZE, 0);
        assert_eq!(&small[257..265], b"ustar\x0000");
        let large = blob_header("blobs/sha256/x", MAX_OCTAL_SIZE + 1, 0);
        assert_eq!(&large[257..265], b"ustar  \0");
        let parsed = tar::Header::from_byte_slice(&large);
        assert_eq!(parsed.entry_size().unwrap(), MAX_OCTAL_SIZE + 1);
    }
}
