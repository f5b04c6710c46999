//! Models of many files: which files share a group layer (a tar of several files, read as a
//! tree), and such a layer's tar as a stream. A model of at most [`GROUP_ABOVE_FILES`] files
//! keeps one layer per file; see `docs/format.md`, "Group layers".

use std::fs::File;
use std::io::{self, Cursor, Read};

use modeloci_digest::{DigestReader, DigestWriter};
use modeloci_spec::{Digest, ModelLayer, ModelPackKind};

use crate::codec::compress::{Codec, compress};
use crate::error::{Error, Result};
use crate::options::{PackOptions, Symlinks};
use crate::profile::Profile;
use crate::progress::{Counting, FileGuard, Progress};
use crate::source::{FileId, SourceFile};
use crate::tarfile::header::{END_OF_ARCHIVE, Kind, entry_headers, padding};
use crate::write::layer_tar::{exact, pipeline_error};
use crate::write::sink::{BlobSink, SinkWriter};
use crate::write::walk::open_planned;

/// Models of more files than this have group layers; those of this many or fewer keep one
/// layer per file.
pub(crate) const GROUP_ABOVE_FILES: usize = 1000;
/// Files of at least this size keep their own layer in a grouped model (one-file dedup for
/// weights).
pub(crate) const OWN_LAYER_MIN_SIZE: u64 = 1 << 20;
/// At most this many files (the largest, ties by path) keep their own layer in a grouped
/// model.
pub(crate) const MAX_OWN_LAYERS: usize = 2000;
/// A group is closed before its content would exceed this many bytes...
pub(crate) const GROUP_MAX_BYTES: u64 = 64 << 20;
/// ... or it would hold more than this many files.
pub(crate) const GROUP_MAX_FILES: usize = 4096;

/// One layer pack writes: indices into the walk's files (sorted by path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A file with its own layer.
    One(usize),
    /// A group layer of these files, in path order, all of one `kind` (ModelPack's; `None`
    /// for the modeloci profile).
    Group {
        files: Vec<usize>,
        kind: Option<ModelPackKind>,
    },
}

impl Unit {
    /// The index of the unit's first file: layers are ordered by it.
    fn first(&self) -> usize {
        match self {
            Self::One(i) => *i,
            Self::Group { files, .. } => files[0],
        }
    }
}

/// The layers of a model whose files (sorted by path) are `files`, each file's group
/// partition given by `kind`: one per file for at most [`GROUP_ABOVE_FILES`] files; else the
/// largest files of at least [`OWN_LAYER_MIN_SIZE`] alone, and the others in runs of
/// consecutive files of one kind. Ordered by each layer's first path.
pub(crate) fn plan_units(
    files: &[SourceFile],
    kind: impl Fn(&SourceFile) -> Option<ModelPackKind>,
) -> Vec<Unit> {
    if files.len() <= GROUP_ABOVE_FILES {
        return (0..files.len()).map(Unit::One).collect();
    }
    let own = own_layers(files);
    let mut units: Vec<Unit> = Vec::new();
    // The open run of each kind: its files and their bytes.
    let mut open: Vec<(Option<ModelPackKind>, Vec<usize>, u64)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if own[i] {
            units.push(Unit::One(i));
            continue;
        }
        let k = kind(file);
        let slot = match open.iter().position(|(ok, _, _)| *ok == k) {
            Some(slot) => slot,
            None => {
                open.push((k, Vec::new(), 0));
                open.len() - 1
            }
        };
        let (_, run, bytes) = &mut open[slot];
        if !run.is_empty()
            && (run.len() >= GROUP_MAX_FILES || bytes.saturating_add(file.size) > GROUP_MAX_BYTES)
        {
            units.push(Unit::Group {
                files: std::mem::take(run),
                kind: k,
            });
            *bytes = 0;
        }
        run.push(i);
        *bytes += file.size;
    }
    for (k, run, _) in open {
        if !run.is_empty() {
            units.push(Unit::Group {
                files: run,
                kind: k,
            });
        }
    }
    units.sort_by_key(Unit::first);
    units
}

/// Which files keep their own layer: the [`MAX_OWN_LAYERS`] largest of at least
/// [`OWN_LAYER_MIN_SIZE`], ties broken by path (the lesser index).
fn own_layers(files: &[SourceFile]) -> Vec<bool> {
    let mut large: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].size >= OWN_LAYER_MIN_SIZE)
        .collect();
    large.sort_by(|&a, &b| files[b].size.cmp(&files[a].size).then(a.cmp(&b)));
    large.truncate(MAX_OWN_LAYERS);
    let mut own = vec![false; files.len()];
    for i in large {
        own[i] = true;
    }
    own
}

/// The codec of group layers: the options' compression, never sampled (literals-only gzip
/// is for weights).
pub(crate) fn group_codec(options: &PackOptions) -> Result<Codec> {
    options.codec(|| true, || false)
}

/// Streams a group layer of `files` (in path order, all of ModelPack `kind`) into `sink`,
/// packed as `options` say; returns it, and its `diffId` when the profile records them.
pub(crate) fn write_group(
    options: &PackOptions,
    sink: &mut dyn BlobSink,
    files: Vec<(&SourceFile, FileId)>,
    kind: Option<ModelPackKind>,
) -> Result<(ModelLayer, Option<Digest>)> {
    let target = sink.target().to_owned();
    let output = target.as_path();
    let codec = group_codec(options)?;
    let want_content = Profile::of_format(options.format).records_diff_ids();
    let range = (files[0].0.rel.clone(), files[files.len() - 1].0.rel.clone());
    let count = files.len();
    let total = files.iter().map(|(f, _)| f.size).sum();
    let progress = options.progress.as_ref().map(|h| &*h.0);
    sink.begin_blob().map_err(Error::io(output))?;
    let mut blob = DigestWriter::new(SinkWriter(&mut *sink));
    let mut tar = GroupTar::new(files, options.mtime, options.symlinks, progress);
    let mut counted = Counting::capped(&mut tar, progress, total);
    let written = if want_content && codec != Codec::Identity {
        let mut hashing = DigestReader::new(&mut counted);
        compress(codec, &mut hashing, &mut blob, options.threads).map(|_| Some(hashing.finish()))
    } else {
        compress(codec, &mut counted, &mut blob, options.threads).map(|_| None)
    };
    let content = match written {
        Ok(content) => content,
        Err(e) => {
            return Err(tar
                .failed
                .take()
                .unwrap_or_else(|| pipeline_error(e, output)));
        }
    };
    let (_, measured) = blob.finish();
    sink.finish_blob(&measured).map_err(Error::io(output))?;
    let diff_id =
        want_content.then(|| content.map_or_else(|| measured.digest.clone(), |c| c.digest));
    let range = (range.0.as_str(), range.1.as_str());
    let layer = Profile::group_layer(kind, range, count, measured, codec.encoding());
    Ok((layer, diff_id))
}

/// A group layer's tar as a stream: each file's header(s), content (read exactly as the
/// walk saw it) and padding, in order, then the end-of-archive marker. Each file is opened
/// by [`open_planned`] when the stream reaches it and reported to the progress receiver.
pub(crate) struct GroupTar<'a> {
    files: Vec<(&'a SourceFile, FileId)>,
    next: usize,
    current: Option<Box<dyn Read + 'a>>,
    mtime: u64,
    symlinks: Symlinks,
    progress: Option<&'a dyn Progress>,
    /// The file being read, reported to `progress`.
    file: Option<FileGuard<'a>>,
    ended: bool,
    /// Why opening a file failed, for the caller once the stream reported an error.
    pub(crate) failed: Option<Error>,
}

impl<'a> GroupTar<'a> {
    pub(crate) fn new(
        files: Vec<(&'a SourceFile, FileId)>,
        mtime: u64,
        symlinks: Symlinks,
        progress: Option<&'a dyn Progress>,
    ) -> Self {
        Self {
            files,
            next: 0,
            current: None,
            mtime,
            symlinks,
            progress,
            file: None,
            ended: false,
            failed: None,
        }
    }

    /// The stream of the next file, or of the end-of-archive marker after the last.
    fn open_next(&mut self) -> io::Result<Option<Box<dyn Read + 'a>>> {
        self.file = None;
        let Some(&(file, id)) = self.files.get(self.next) else {
            if self.ended {
                return Ok(None);
            }
            self.ended = true;
            return Ok(Some(Box::new(Cursor::new(END_OF_ARCHIVE))));
        };
        self.next += 1;
        self.file = Some(FileGuard::start(self.progress, &file.rel, file.size));
        let handle: File = open_planned(file, Some(id), self.symlinks).map_err(|e| {
            let message = e.to_string();
            self.failed = Some(e);
            io::Error::other(message)
        })?;
        let kind = Kind::File {
            executable: file.executable,
        };
        let headers = entry_headers(&file.rel, kind, file.size, self.mtime);
        let tail = vec![0u8; padding(file.size)];
        Ok(Some(Box::new(
            Cursor::new(headers)
                .chain(exact(handle, file))
                .chain(Cursor::new(tail)),
        )))
    }
}

impl Read for GroupTar<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.current.is_none() {
                self.current = self.open_next()?;
                if self.current.is_none() {
                    return Ok(0);
                }
            }
            let n = self.current.as_mut().expect("opened above").read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(sizes: &[u64]) -> Vec<SourceFile> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| SourceFile {
                rel: format!("f{i:06}"),
                path: format!("/nonexistent/f{i:06}").into(),
                size,
                executable: false,
            })
            .collect()
    }

    #[test]
    fn a_thousand_files_keep_one_layer_each() {
        let units = plan_units(&files(&[1; 1000]), |_| None);
        assert_eq!(units, (0..1000).map(Unit::One).collect::<Vec<_>>());
    }

    #[test]
    fn runs_close_at_the_file_count_and_the_byte_budget_large_files_stay_alone() {
        let mut sizes = vec![10; 5000];
        sizes[7] = OWN_LAYER_MIN_SIZE;
        sizes[4500] = GROUP_MAX_BYTES;
        let units = plan_units(&files(&sizes), |_| None);
        let shapes: Vec<(usize, usize)> = units
            .iter()
            .map(|u| match u {
                Unit::One(i) => (*i, 1),
                Unit::Group { files, .. } => (files[0], files.len()),
            })
            .collect();
        assert_eq!(shapes, [(0, 4096), (7, 1), (4097, 902), (4500, 1)]);
    }

    #[test]
    fn at_most_the_largest_files_keep_their_own_layer_ties_by_path() {
        let mut sizes = vec![OWN_LAYER_MIN_SIZE; MAX_OWN_LAYERS + 5];
        sizes[MAX_OWN_LAYERS + 4] = OWN_LAYER_MIN_SIZE + 1;
        let own = own_layers(&files(&sizes));
        let chosen: Vec<usize> = (0..own.len()).filter(|&i| own[i]).collect();
        let expected: Vec<usize> = (0..MAX_OWN_LAYERS - 1)
            .chain([MAX_OWN_LAYERS + 4])
            .collect();
        assert_eq!(chosen, expected);
    }
}
