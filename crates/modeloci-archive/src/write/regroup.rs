//! `add` replacing a file held in a group layer: which group holds it, and that group's tar
//! written anew without it (the other entries' headers normalised again, their data copied).

use std::io::{self, Cursor, Read};

use modeloci_spec::{Descriptor, Digest, LayerEncoding, ModelLayer, ModelPackKind, annotations};

use crate::codec::compress::{Codec, compress, decoder};
use crate::entry_policy::check_relative_path;
use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::read::archive::{Archive, normalize_name};
use crate::tarfile::header::{END_OF_ARCHIVE, Kind, entry_headers, padding};
use crate::tarfile::reader::{EntryKind, Stream, TarReader};
use crate::write::archive_write::ArchiveWriter;
use crate::write::group::group_codec;
use crate::write::pack::ModelPackager;

/// A group layer's decoded tar, read from the archive through a verifying reader.
type GroupReader<'a> = TarReader<Stream<Box<dyn Read + 'a>>>;

/// The group layer of `archive`, by its index among `layers`, that holds `rel`, and how
/// many files it holds, if one does: only groups whose range holds it are read.
///
/// # Errors
///
/// [`Error::BadLayer`] for a group that is not a readable tar of regular files,
/// [`Error::BlobMismatch`] for a corrupt one.
pub(crate) fn group_holding(
    archive: &Archive,
    layers: &[Descriptor],
    rel: &str,
) -> Result<Option<(usize, usize)>> {
    for (i, layer) in layers.iter().enumerate() {
        let Some((first, last)) = range(layer) else {
            continue;
        };
        if !(first <= rel && rel <= last) {
            continue;
        }
        let mut tar = open_group(archive, layer)?;
        let (mut count, mut holds) = (0, false);
        while let Some((name, _, _)) = next_file(&mut tar, layer)? {
            count += 1;
            holds |= name == rel;
        }
        if holds {
            return Ok(Some((i, count)));
        }
    }
    Ok(None)
}

/// A group layer's range, if it is one.
pub(crate) fn range(layer: &Descriptor) -> Option<(&str, &str)> {
    layer.annotations.get(annotations::GROUP_FILES)?;
    let first = layer.annotations.get(annotations::GROUP_FIRST)?;
    let last = layer.annotations.get(annotations::GROUP_LAST)?;
    Some((first, last))
}

fn label(layer: &Descriptor) -> String {
    format!("group {}", layer.digest)
}

fn open_group<'a>(archive: &'a Archive, layer: &'a Descriptor) -> Result<GroupReader<'a>> {
    let what = format!("layer {}", label(layer));
    let blob = archive.verified_blob(layer, &what)?;
    let encoding = layer
        .media_type
        .layer_encoding()
        .unwrap_or(LayerEncoding::Tar);
    let decoded = decoder(encoding, blob).map_err(|e| Error::BadLayer {
        title: label(layer),
        reason: format!("cannot decode: {e}"),
    })?;
    Ok(TarReader::new(Stream(Box::new(decoded))))
}

/// The next regular file of a group's tar: its checked name, size and mode.
fn next_file(tar: &mut GroupReader<'_>, layer: &Descriptor) -> Result<Option<(String, u64, u32)>> {
    let bad = |reason: String| Error::BadLayer {
        title: label(layer),
        reason,
    };
    let Some(entry) = tar.next_entry().map_err(|e| bad(format!("{e:?}")))? else {
        return Ok(None);
    };
    if entry.kind != EntryKind::File {
        return Err(bad(format!(
            "its entry {:?} is not a regular file",
            entry.name
        )));
    }
    let name = normalize_name(&entry.name).to_owned();
    check_relative_path(&name).map_err(|refusal| Error::UnsafeEntry {
        entry: entry.name.clone(),
        refusal,
    })?;
    Ok(Some((name, entry.size, entry.mode)))
}

/// A group's tar without the file `without`, as a stream.
struct Regroup<'a> {
    tar: GroupReader<'a>,
    layer: &'a Descriptor,
    without: &'a str,
    mtime: u64,
    pending: Cursor<Vec<u8>>,
    data_left: u64,
    pad: usize,
    ended: bool,
    /// The files kept, in order.
    kept: Vec<String>,
    failed: Option<Error>,
}

impl Regroup<'_> {
    /// Queues the next kept entry's header (or the end-of-archive marker).
    fn advance(&mut self) -> io::Result<()> {
        loop {
            let name = match next_file(&mut self.tar, self.layer) {
                Ok(name) => name,
                Err(e) => {
                    let message = e.to_string();
                    self.failed = Some(e);
                    return Err(io::Error::other(message));
                }
            };
            let Some((name, size, mode)) = name else {
                self.pending = Cursor::new(END_OF_ARCHIVE.to_vec());
                self.ended = true;
                return Ok(());
            };
            if name == self.without {
                continue;
            }
            let kind = Kind::File {
                executable: mode & 0o111 != 0,
            };
            self.pending = Cursor::new(entry_headers(&name, kind, size, self.mtime));
            self.data_left = size;
            self.pad = padding(size);
            self.kept.push(name);
            return Ok(());
        }
    }
}

impl Read for Regroup<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.pending.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if self.data_left > 0 {
                let want = buf
                    .len()
                    .min(usize::try_from(self.data_left).unwrap_or(usize::MAX));
                let n = self.tar.read_data(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.data_left -= n as u64;
                if self.data_left == 0 {
                    self.pending = Cursor::new(vec![0; self.pad]);
                }
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            self.advance()?;
        }
    }
}

impl ModelPackager {
    /// Writes the group `layer` of `archive` again without `without`, which it holds
    /// among other files; returns the new group layer and its `diffId` (when the profile
    /// records them).
    pub(crate) fn regroup(
        &self,
        writer: &mut ArchiveWriter,
        archive: &Archive,
        layer: &Descriptor,
        without: &str,
    ) -> Result<(ModelLayer, Option<Digest>)> {
        let output = archive.path();
        let codec = group_codec(self.options())?;
        let want_content = Profile::of_format(self.options().format).records_diff_ids();
        let slot = writer.begin_blob().map_err(Error::io(output))?;
        let mut blob = modeloci_digest::DigestWriter::new(writer.blob_data());
        let mut stream = Regroup {
            tar: open_group(archive, layer)?,
            layer,
            without,
            mtime: self.options().mtime,
            pending: Cursor::new(Vec::new()),
            data_left: 0,
            pad: 0,
            ended: false,
            kept: Vec::new(),
            failed: None,
        };
        let mut hashing = modeloci_digest::DigestReader::new(&mut stream);
        let written = compress(codec, &mut hashing, &mut blob, self.options().threads);
        let content = hashing.finish();
        if let Err(e) = written {
            return Err(stream.failed.take().unwrap_or_else(|| Error::io(output)(e)));
        }
        let (_, measured) = blob.finish();
        if stream.kept.is_empty() {
            return Err(Error::BadLayer {
                title: label(layer),
                reason: format!("it holds nothing but {without:?}"),
            });
        }
        writer
            .finish_blob(slot, &measured)
            .map_err(Error::io(output))?;
        let diff_id = want_content.then(|| {
            if codec == Codec::Identity {
                measured.digest.clone()
            } else {
                content.digest
            }
        });
        let kind = match layer.media_type {
            modeloci_spec::MediaType::ModelPackLayer { kind, .. } => Some(kind),
            _ => None::<ModelPackKind>,
        };
        let range = (
            stream.kept[0].as_str(),
            stream.kept[stream.kept.len() - 1].as_str(),
        );
        let layer =
            Profile::group_layer(kind, range, stream.kept.len(), measured, codec.encoding());
        Ok((layer, diff_id))
    }
}
