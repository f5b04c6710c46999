//! A tar entry walker for untrusted input.
//!
//! tar-rs's `Archive` reads GNU long names and PAX headers of any size into memory and
//! resolves ambiguous headers its own way; this walker uses tar-rs only to decode header
//! fields, and adds the rules of `docs/format.md` §7: metadata bodies are capped, a PAX size
//! that contradicts the header is refused, entries that carry no data must declare none, the
//! archive must end with an end-of-archive marker followed by nothing but zero padding.
//! It never writes anything: what to do with each entry is the caller's policy.

use std::io::{self, Read};

use modeloci_digest::{ChunkError, read_chunks, read_full};

use crate::entry_policy::{MAX_METADATA_SIZE, Refusal};
use crate::tarfile::header::padding;

/// The reason given when non-zero data follows the end-of-archive marker.
pub(crate) const TRAILING_DATA: &str = "data after the end-of-archive marker";

/// The zero padding accepted after the end-of-archive marker. Tar writers pad archives to
/// their record size (10 KiB for GNU tar and Python).
pub(crate) const MAX_TRAILING_ZEROS: u64 = 1 << 20;

/// The type of an entry, as its header declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink(String),
    Hardlink(String),
    CharDevice,
    BlockDevice,
    Fifo,
    Sparse,
    Other(u8),
}

impl EntryKind {
    /// The refusal for an entry of this kind where only regular files (and directories, when
    /// `allow_dirs`) are accepted.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        Some(match self {
            Self::File | Self::Dir => return None,
            Self::Symlink(target) => Refusal::Symlink {
                target: target.clone(),
            },
            Self::Hardlink(target) => Refusal::Hardlink {
                target: target.clone(),
            },
            Self::CharDevice => Refusal::CharDevice,
            Self::BlockDevice => Refusal::BlockDevice,
            Self::Fifo => Refusal::Fifo,
            Self::Sparse => Refusal::Sparse,
            Self::Other(t) => Refusal::UnknownType(*t),
        })
    }
}

/// One entry's header, with its extensions applied.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The entry name; a directory's trailing `/` is removed.
    pub(crate) name: String,
    pub(crate) kind: EntryKind,
    /// The size of the entry's data.
    pub(crate) size: u64,
    /// The permission bits.
    pub(crate) mode: u32,
    /// Offset of the entry's data from the start of the stream.
    pub(crate) data_offset: u64,
    /// The modification time of its ustar header (0 when unreadable; PAX times ignored).
    pub(crate) mtime: u64,
}

/// Why a tar stream cannot be read.
#[derive(Debug)]
pub(crate) enum TarError {
    /// The stream could not be read.
    Io(io::Error),
    /// The structure is broken at this offset.
    Malformed { offset: u64, reason: String },
    /// The stream ends early at this offset: an entry's data or header is cut off, or the
    /// end-of-archive marker is missing.
    Truncated {
        offset: u64,
        /// The entry cut off, when it is known here.
        entry: Option<String>,
        reason: String,
    },
    /// An entry breaks a rule of the safety policy.
    Refused { entry: String, refusal: Refusal },
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// A stream that can skip bytes: by seeking for files, by reading for pipes and decoders.
pub(crate) trait Source: Read + Sized {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut self.by_ref().take(n), &mut io::sink())?;
        if copied < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// A non-seekable [`Source`].
pub(crate) struct Stream<R>(pub(crate) R);

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Stream<R> {}

/// Walks the entries of a tar stream.
pub(crate) struct TarReader<S> {
    src: S,
    /// Bytes consumed from `src`.
    pos: u64,
    /// Data bytes of the current entry not yet read by the caller.
    data_left: u64,
    /// Padding after the current entry's data.
    pad_left: u64,
    ended: bool,
}

#[derive(Default)]
struct Extensions {
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
    sparse: bool,
    seen_pax: bool,
    seen_long_name: bool,
    seen_long_link: bool,
}

impl<S: Source> TarReader<S> {
    pub(crate) fn new(src: S) -> Self {
        Self {
            src,
            pos: 0,
            data_left: 0,
            pad_left: 0,
            ended: false,
        }
    }

    fn malformed(&self, offset: u64, reason: impl Into<String>) -> TarError {
        TarError::Malformed {
            offset,
            reason: reason.into(),
        }
    }

    fn truncated(offset: u64, reason: impl Into<String>) -> TarError {
        TarError::Truncated {
            offset,
            entry: None,
            reason: reason.into(),
        }
    }

    /// Moves the position on by `n` bytes consumed from the source.
    fn advance(&mut self, n: u64) -> Result<(), TarError> {
        self.pos = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.malformed(self.pos, "stream position beyond 2^64 bytes"))?;
        Ok(())
    }

    fn read_exact_at_pos(&mut self, buf: &mut [u8]) -> Result<(), TarError> {
        let offset = self.pos;
        self.src.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Self::truncated(offset, "unexpected end of data")
            } else {
                TarError::Io(e)
            }
        })?;
        self.advance(buf.len() as u64)
    }

    fn skip(&mut self, n: u64) -> Result<(), TarError> {
        if n == 0 {
            return Ok(());
        }
        let offset = self.pos;
        self.src.skip(n).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Self::truncated(offset, "unexpected end of data")
            } else {
                TarError::Io(e)
            }
        })?;
        self.advance(n)
    }

    /// The next entry, or `None` at the end-of-archive marker. The previous entry's unread
    /// data is skipped.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        if self.ended {
            return Ok(None);
        }
        self.skip_rest_of_entry()?;
        let mut ext = Extensions::default();
        loop {
            let header_offset = self.pos;
            let Some(block) = self.read_header_block()? else {
                self.ended = true;
                return Ok(None);
            };
            let header = tar::Header::from_byte_slice(&block);
            check_checksum(header).map_err(|reason| self.malformed(header_offset, reason))?;
            let size = header
                .entry_size()
                .map_err(|_| self.malformed(header_offset, "invalid size field"))?;
            let typeflag = block[156];
            match metadata_kind(typeflag) {
                Some(kind) => self.read_metadata(header, kind, size, header_offset, &mut ext)?,
                None => return self.finish_entry(header, typeflag, size, ext).map(Some),
            }
        }
    }

    /// Skips the current entry's unread data and its padding.
    fn skip_rest_of_entry(&mut self) -> Result<(), TarError> {
        // Both were bounded when the entry was read (`start_data`), so this cannot wrap.
        let rest = self
            .data_left
            .checked_add(self.pad_left)
            .ok_or_else(|| self.malformed(self.pos, "entry size beyond 2^64 bytes"))?;
        self.skip(rest)?;
        self.data_left = 0;
        self.pad_left = 0;
        Ok(())
    }

    /// The next header block, or `None` for the all-zero block of the end-of-archive marker.
    fn read_header_block(&mut self) -> Result<Option<[u8; 512]>, TarError> {
        let header_offset = self.pos;
        let mut block = [0u8; 512];
        let read = read_full(&mut self.src, &mut block)?;
        self.advance(read as u64)?;
        if read == 0 {
            return Err(Self::truncated(
                header_offset,
                "the archive ends without an end-of-archive marker",
            ));
        }
        if read < block.len() {
            return Err(Self::truncated(header_offset, "truncated header block"));
        }
        Ok((!block.iter().all(|&b| b == 0)).then_some(block))
    }

    /// Reads the body of a metadata header (PAX, GNU long name or long link) and records
    /// what it says for the entry that follows.
    fn read_metadata(
        &mut self,
        header: &tar::Header,
        kind: Metadata,
        size: u64,
        header_offset: u64,
        ext: &mut Extensions,
    ) -> Result<(), TarError> {
        let name = raw_name(header);
        if size > MAX_METADATA_SIZE {
            return Err(TarError::Refused {
                entry: name,
                refusal: Refusal::OversizedMetadata {
                    kind: kind.label(),
                    size,
                },
            });
        }
        let mut body = vec![0u8; size as usize];
        self.read_exact_at_pos(&mut body)?;
        self.skip(padding(size) as u64)?;
        let repeated = match kind {
            Metadata::Pax => std::mem::replace(&mut ext.seen_pax, true),
            Metadata::LongName => std::mem::replace(&mut ext.seen_long_name, true),
            Metadata::LongLink => std::mem::replace(&mut ext.seen_long_link, true),
            Metadata::GlobalPax => false,
        };
        if repeated {
            let reason = format!("two {}s for one entry", kind.label());
            return Err(self.malformed(header_offset, reason));
        }
        match kind {
            Metadata::Pax => apply_pax(&body, ext).map_err(|refusal| TarError::Refused {
                entry: name,
                refusal,
            })?,
            Metadata::LongName => ext.path = Some(c_string(&body, &name)?),
            Metadata::LongLink => ext.link = Some(c_string(&body, &name)?),
            Metadata::GlobalPax => {} // A global header sets defaults we never use.
        }
        Ok(())
    }

    /// The entry a non-metadata header describes, with its extensions applied; the stream is
    /// left at the start of its data.
    fn finish_entry(
        &mut self,
        header: &tar::Header,
        typeflag: u8,
        header_size: u64,
        mut ext: Extensions,
    ) -> Result<Entry, TarError> {
        let name = match ext.path.take() {
            Some(path) => path,
            None => header_name(header).map_err(|raw| TarError::Refused {
                entry: raw,
                refusal: Refusal::NotUtf8,
            })?,
        };
        let size = entry_size(&name, header_size, ext.size)?;
        let kind = entry_kind(header, typeflag, &ext);
        // Entries that hold no data must say so: readers disagree on whether to skip a
        // declared size after a link or a directory, which is how archives smuggle entries.
        let carries_data = matches!(
            kind,
            EntryKind::File | EntryKind::Sparse | EntryKind::Other(_)
        );
        if !carries_data && size != 0 {
            return Err(TarError::Refused {
                entry: name,
                refusal: Refusal::DataOnNonFile { size },
            });
        }
        let name = if kind == EntryKind::Dir && name.len() > 1 {
            name.trim_end_matches('/').to_owned()
        } else {
            name
        };
        self.start_data(&name, size)?;
        Ok(Entry {
            name,
            kind,
            size,
            mode: header.mode().unwrap_or(0o644),
            data_offset: self.pos,
            mtime: header.mtime().unwrap_or(0),
        })
    }

    /// Makes `size` bytes of data (and their padding) the current entry's.
    fn start_data(&mut self, name: &str, size: u64) -> Result<(), TarError> {
        // A size from the input: the entry's data and padding must fit in a stream, or
        // skipping them would wrap around and read the data as headers.
        let pad = padding(size) as u64;
        if self
            .pos
            .checked_add(size)
            .and_then(|end| end.checked_add(pad))
            .is_none()
        {
            return Err(TarError::Truncated {
                offset: self.pos,
                reason: format!("entry {name:?} declares {size} bytes, more than any stream holds"),
                entry: Some(name.to_owned()),
            });
        }
        self.data_left = size;
        self.pad_left = pad;
        Ok(())
    }

    /// Reads data of the current entry; `Ok(0)` at its end.
    pub(crate) fn read_data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.src.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry data ends early (truncated archive?)",
            ));
        }
        self.data_left -= n as u64;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }

    /// After the end-of-archive marker: checks that only zero padding (at most `max` bytes)
    /// follows, and gives the source back.
    pub(crate) fn finish(mut self, max: u64) -> Result<S, TarError> {
        debug_assert!(self.ended);
        let mut seen = 0u64;
        let only_zeros = read_chunks(&mut self.src, &mut [0u8; 8192], |chunk| {
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > max || chunk.iter().any(|&b| b != 0) {
                Err(())
            } else {
                Ok(())
            }
        });
        match only_zeros {
            Ok(_) => Ok(self.src),
            Err(ChunkError::Read(e)) => Err(TarError::Io(e)),
            Err(ChunkError::Sink(())) => Err(self.malformed(self.pos, TRAILING_DATA)),
        }
    }
}

/// A reader over the current entry's data.
pub(crate) struct EntryData<'a, S>(pub(crate) &'a mut TarReader<S>);

impl<S: Source> Read for EntryData<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_data(buf)
    }
}

/// The metadata headers: they describe the entry that follows rather than being one.
#[derive(Clone, Copy)]
enum Metadata {
    Pax,
    GlobalPax,
    LongName,
    LongLink,
}

impl Metadata {
    /// The name refusals and errors give it.
    fn label(self) -> &'static str {
        match self {
            Self::Pax => "PAX header",
            Self::GlobalPax => "PAX global header",
            Self::LongName => "GNU long name",
            Self::LongLink => "GNU long link name",
        }
    }
}

/// The metadata header a type flag declares, if it declares one.
fn metadata_kind(typeflag: u8) -> Option<Metadata> {
    Some(match typeflag {
        b'x' => Metadata::Pax,
        b'g' => Metadata::GlobalPax,
        b'L' => Metadata::LongName,
        b'K' => Metadata::LongLink,
        _ => return None,
    })
}

/// The entry's size: the header's, unless a PAX record gives one. A PAX size that
/// contradicts a non-zero header size is refused, as readers disagree on which one wins.
fn entry_size(name: &str, header_size: u64, pax: Option<u64>) -> Result<u64, TarError> {
    match pax {
        Some(pax) if header_size != 0 && header_size != pax => Err(TarError::Refused {
            entry: name.to_owned(),
            refusal: Refusal::BadPaxRecord {
                key: format!("size={pax} (the header says {header_size})"),
            },
        }),
        Some(pax) => Ok(pax),
        None => Ok(header_size),
    }
}

/// The entry's type; a link's target comes from the extensions or the header.
fn entry_kind(header: &tar::Header, typeflag: u8, ext: &Extensions) -> EntryKind {
    let link = || match &ext.link {
        Some(l) => l.clone(),
        None => String::from_utf8_lossy(&header.as_old().linkname)
            .trim_end_matches('\0')
            .to_owned(),
    };
    match typeflag {
        _ if ext.sparse => EntryKind::Sparse,
        b'0' | b'\0' | b'7' => EntryKind::File,
        b'1' => EntryKind::Hardlink(link()),
        b'2' => EntryKind::Symlink(link()),
        b'3' => EntryKind::CharDevice,
        b'4' => EntryKind::BlockDevice,
        b'5' => EntryKind::Dir,
        b'6' => EntryKind::Fifo,
        b'S' => EntryKind::Sparse,
        other => EntryKind::Other(other),
    }
}

fn check_checksum(header: &tar::Header) -> Result<(), String> {
    let stored = header
        .cksum()
        .map_err(|_| "invalid header checksum field".to_owned())?;
    let bytes = header.as_bytes();
    let field = 148..156;
    let unsigned: u32 = bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| if field.contains(&i) { 32 } else { u32::from(b) })
        .sum();
    let signed: i64 = bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if field.contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored == unsigned || i64::from(stored) == signed {
        Ok(())
    } else {
        Err(format!(
            "bad header checksum (stored {stored}, computed {unsigned})"
        ))
    }
}

fn raw_name(header: &tar::Header) -> String {
    String::from_utf8_lossy(&header.as_old().name)
        .trim_end_matches('\0')
        .to_owned()
}

/// The ustar prefix and name joined, or the lossy name when it is not UTF-8.
fn header_name(header: &tar::Header) -> Result<String, String> {
    let bytes = header.path_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| String::from_utf8_lossy(&bytes).into_owned())
}

fn c_string(body: &[u8], entry: &str) -> Result<String, TarError> {
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    String::from_utf8(body[..end].to_vec()).map_err(|_| TarError::Refused {
        entry: entry.to_owned(),
        refusal: Refusal::NotUtf8,
    })
}

fn apply_pax(body: &[u8], ext: &mut Extensions) -> Result<(), Refusal> {
    let bad = |key: &str| Refusal::BadPaxRecord {
        key: key.to_owned(),
    };
    let mut rest = body;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("a record without a length"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&len| len > space + 1 && len <= rest.len())
            .ok_or_else(|| bad("a record with a bad length"))?;
        let record = &rest[space + 1..len];
        rest = &rest[len..];
        let record = record
            .strip_suffix(b"\n")
            .ok_or_else(|| bad("a record without a newline"))?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("a record without '='"))?;
        let key = std::str::from_utf8(&record[..eq]).map_err(|_| bad("a key that is not UTF-8"))?;
        let value = &record[eq + 1..];
        let text = || {
            std::str::from_utf8(value)
                .map(str::to_owned)
                .map_err(|_| Refusal::NotUtf8)
        };
        match key {
            "path" => ext.path = Some(text()?),
            "linkpath" => ext.link = Some(text()?),
            "size" => {
                ext.size = Some(
                    text()?
                        .parse()
                        .ok()
                        .filter(|_| value.iter().all(u8::is_ascii_digit))
                        .ok_or_else(|| bad("size"))?,
                );
            }
            k if k.starts_with("GNU.sparse.") => ext.sparse = true,
            // Times, owners, character sets, comments, vendor records: not applied.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tarfile::header::{END_OF_ARCHIVE, Kind, entry_headers};

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in entries {
            out.extend(entry_headers(
                name,
                Kind::File { executable: false },
                data.len() as u64,
                0,
            ));
            out.extend_from_slice(data);
            out.resize(out.len() + padding(data.len() as u64), 0);
        }
        out.extend_from_slice(&END_OF_ARCHIVE);
        out
    }

    fn names(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TarError> {
        let mut reader = TarReader::new(Stream(bytes));
        let mut out = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            let mut data = Vec::new();
            EntryData(&mut reader).read_to_end(&mut data)?;
            out.push((entry.name, data));
        }
        reader.finish(MAX_TRAILING_ZEROS)?;
        Ok(out)
    }

    #[test]
    fn reads_what_we_write_including_pax_paths() {
        let long = format!("{}/{}", "d".repeat(150), "f".repeat(120));
        let bytes = archive(&[("a.txt", b"hello"), (&long, b"x")]);
        let got = names(&bytes).unwrap();
        assert_eq!(
            got,
            [
                ("a.txt".to_owned(), b"hello".to_vec()),
                (long, b"x".to_vec())
            ]
        );
    }

    #[test]
    fn refuses_truncation_and_trailing_garbage() {
        let bytes = archive(&[("a.txt", b"hello")]);
        let cut = &bytes[..bytes.len() - 1024];
        assert!(matches!(
            names(cut),
            Err(TarError::Truncated { offset: 1024, .. })
        ));
        let mut garbage = bytes.clone();
        garbage.extend_from_slice(b"surprise");
        assert!(matches!(names(&garbage), Err(TarError::Malformed { .. })));
        let mut zeros = bytes;
        zeros.extend_from_slice(&[0; 9216]);
        assert_eq!(names(&zeros).unwrap().len(), 1);
    }

    #[test]
    fn a_size_near_2_pow_64_does_not_wrap() {
        // A header declaring 2^64 - 1 bytes: data plus padding would wrap to 0, and the
        // data that follows would be read as headers.
        let mut header = tar::Header::new_gnu();
        header.set_path("huge").unwrap();
        header.set_size(u64::MAX);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend(archive(&[("smuggled", b"x")]));
        match names(&bytes) {
            Err(TarError::Truncated {
                offset: 512,
                reason,
                ..
            }) => assert_eq!(
                reason,
                format!(
                    "entry \"huge\" declares {} bytes, more than any stream holds",
                    u64::MAX
                )
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_bad_checksums() {
        let mut bytes = archive(&[("a.txt", b"hello")]);
        bytes[0] = b'b';
        match names(&bytes) {
            Err(TarError::Malformed { offset: 0, reason }) => {
                assert!(reason.starts_with("bad header checksum"));
            }
            other => panic!("{other:?}"),
        }
    }
}
