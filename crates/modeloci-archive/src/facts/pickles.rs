//! Whether a `.bin`, `.pt`, `.pth` or `.ckpt` file is what `torch.save` writes, from its
//! first bytes: a zip archive whose entries include `<name>/data.pkl` (the format since
//! PyTorch 1.6), or a pickle (the legacy format, which begins with a pickled magic number).
//!
//! Only [`PREFIX`] bytes are read, whatever the file's size.

use std::io::Read;

/// How many bytes of the file are read.
pub(crate) const PREFIX: u64 = 4 << 10;

/// A zip local file header's signature.
const ZIP_LOCAL: &[u8; 4] = b"PK\x03\x04";
/// A local file header's fixed part.
const ZIP_LOCAL_LEN: usize = 30;

/// Whether the file `r` reads looks like one `torch.save` wrote.
///
/// # Errors
///
/// The message of an I/O error reading it.
pub(crate) fn sniff(r: impl Read) -> Result<bool, String> {
    let mut prefix = Vec::with_capacity(PREFIX as usize);
    r.take(PREFIX)
        .read_to_end(&mut prefix)
        .map_err(|e| e.to_string())?;
    Ok(is_pickle(&prefix) || is_torch_zip(&prefix))
}

/// A pickle: the PROTO opcode (0x80) with a protocol torch writes, 2 to 5.
fn is_pickle(prefix: &[u8]) -> bool {
    matches!(prefix, [0x80, 2..=5, ..])
}

/// A zip whose local file headers, as far as `prefix` holds them, name a `data.pkl` at the
/// top or one directory down.
fn is_torch_zip(prefix: &[u8]) -> bool {
    let mut at = 0usize;
    while let Some(header) = prefix.get(at..at + ZIP_LOCAL_LEN) {
        if &header[..4] != ZIP_LOCAL {
            return false;
        }
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([header[i], header[i + 1]]));
        let u32_at =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (flags, compressed) = (u16_at(6), u32_at(18));
        let (name_len, extra_len) = (u16_at(26), u16_at(28));
        let name_start = at + ZIP_LOCAL_LEN;
        let Some(name) = prefix.get(name_start..name_start + name_len) else {
            return false;
        };
        if is_data_pkl(name) {
            return true;
        }
        // With bit 3 the sizes follow the data: the next header cannot be found from here.
        if flags & 0x8 != 0 {
            return false;
        }
        let Ok(compressed) = usize::try_from(compressed) else {
            return false;
        };
        at = match (name_start + name_len)
            .checked_add(extra_len)
            .and_then(|n| n.checked_add(compressed))
        {
            Some(next) => next,
            None => return false,
        };
    }
    false
}

/// `data.pkl`, or `<dir>/data.pkl` for one directory.
fn is_data_pkl(name: &[u8]) -> bool {
    match name.strip_suffix(b"data.pkl") {
        Some([]) => true,
        Some(dir) => {
            dir.ends_with(b"/")
                && !dir[..dir.len() - 1].is_empty()
                && !dir[..dir.len() - 1].contains(&b'/')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip entry's local header and data.
    fn entry(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = ZIP_LOCAL.to_vec();
        out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method, time, date
        out.extend(0u32.to_le_bytes()); // crc (not checked)
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn torch_zips_and_pickles() {
        let first = entry("archive/data.pkl", b"\x80\x02}q\x00.");
        assert!(sniff(&first[..]).unwrap());
        let mut second = entry("archive/.format_version", b"1");
        second.extend(entry("archive/data.pkl", b"\x80\x02."));
        assert!(sniff(&second[..]).unwrap());
        assert!(sniff(&b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."[..]).unwrap());
        assert!(sniff(&b"\x80\x05\x95"[..]).unwrap());
    }

    #[test]
    fn other_bytes_are_not() {
        for bytes in [
            &b""[..],
            b"\x80",
            b"\x80\x06",
            b"\x00\x01\x02\x03 random",
            b"PK\x03\x04 short",
            &entry("weights/model.npy", b"data")[..],
            &entry("a/b/data.pkl", b"x")[..],
            &entry("mydata.pkl", b"x")[..],
        ] {
            assert!(!sniff(bytes).unwrap(), "{bytes:?}");
        }
        // A data.pkl past the bytes read is not seen.
        let mut far = entry("archive/big", &vec![0; PREFIX as usize]);
        far.extend(entry("archive/data.pkl", b"."));
        assert!(!sniff(&far[..]).unwrap());
    }
}
