//! Unpacking a model whose layer blobs are read from anywhere (a registry's answers) rather
//! than from an archive: the same plan, the same policy and checks, each blob verified
//! against its descriptor as it streams through the layer's decoder and tar walker, and the
//! same publish. No copy of a blob is kept.
//!
//! The files go into a directory the caller keeps across runs (`keep`, private to this
//! user), one subdirectory per layer (`<hex>/`). Once a layer's blob verified, its files
//! are recorded in `<hex>.done` (path, size, mode and SHA-256 of each file as it was
//! written, and the `include` patterns), written to a temporary and renamed: a run that is
//! killed leaves whole layers recorded and at most partial ones unrecorded. The next run
//! keeps a recorded layer only if its directory holds exactly the recorded files, regular
//! files (opened without following links), each hashing again to its recorded SHA-256 (and,
//! for a raw layer, whose blob is the file, to the layer's own digest; for a one-file layer
//! that annotates its file's digest, to that); anything else there (a partial layer, a layer
//! of another model, a corrupt record, a changed file, a link) is removed and fetched again.
//! What the record says of a tree layer is trusted once its files hash to it: the record
//! was written from the verified stream into a directory only this user can write (the
//! caller refuses one that is a link or another user's), so a record and files planted to
//! agree with each other could only come from this user. The check then runs on all the files, and they are moved into
//! the target as from a fresh unpack.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use modeloci_digest::{Hasher, read_chunks};
use modeloci_spec::{Descriptor, Digest, OciManifest};

use super::layer::{Out, extract_layer_from};
use super::plan::{Planned, plan_for};
use super::target::{Target, as_written_to, create_dirs};
use super::{ModelUnpackager, UnpackedFile};
use crate::entry_policy::{PathSet, check_relative_path};
use crate::error::{Error, Result};
use crate::profile::read::Form;

/// Opens the blob a layer descriptor names, from its first byte; the unpacker verifies what
/// it reads against the descriptor. An error opening it ends the unpack, as does one
/// reading it.
pub type BlobOpener<'a> = dyn Fn(&Descriptor) -> std::io::Result<Box<dyn Read + 'a>> + Sync + 'a;

/// The flags for opening anything in the kept directory: never through a link.
const NO_FOLLOW: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC;

impl ModelUnpackager {
    /// Restores the model `manifest` describes into `output_dir`, reading each selected
    /// layer's blob once from `open`: the files are written into `keep` as the blob streams
    /// (every blob checked against its digest and size on the way), layer by layer, each
    /// recorded there once its blob verified; layers recorded by an earlier run are checked
    /// again (every file re-hashed) and not read again. The options' check runs on all the
    /// files, and they are published only once every blob verified. `keep` must be a
    /// directory only this user can write (the caller checks it); what is in it is not
    /// trusted. Errors reading a blob that are no mismatch are I/O errors naming `source`
    /// (what the blobs come from, for messages).
    ///
    /// # Errors
    ///
    /// As [`Self::extract_from`]: nothing reaches the target on any error. The layers that
    /// verified stay in `keep` for the next run; the caller removes `keep` once done.
    pub fn extract_streamed(
        &self,
        manifest: &OciManifest,
        open: &BlobOpener<'_>,
        source: &Path,
        output_dir: &Path,
        keep: &Path,
    ) -> Result<Vec<UnpackedFile>> {
        let (plan, set) = plan_for(manifest, &self.options.include)?;
        let target = Target::prepare(output_dir, self.options.force)?;
        target.check_conflicts(plan.iter().filter_map(|p| p.path.as_deref()))?;
        let include = &self.options.include;
        let kept = Kept::open(keep, &plan, include).map_err(Error::io(keep))?;
        let files = self.extract_layers(&plan, set, |planned, set, include, progress| {
            if let Some(files) = kept.done(planned, set)? {
                if let Some(p) = progress {
                    p.advance(files.iter().map(|f| f.size).sum());
                }
                return Ok(files);
            }
            let dir = kept.fresh(planned).map_err(Error::io(keep))?;
            let reader = open(planned.descriptor).map_err(Error::io(source))?;
            let files = extract_layer_from(
                reader,
                source,
                planned,
                Out::Stage(&dir),
                set,
                include,
                progress,
            )
            .map_err(|e| as_written_to(e, &dir, output_dir))?;
            kept.record(planned, &files).map_err(Error::io(keep))?;
            Ok(files)
        })?;
        self.check(&files)?;
        let staging = target.staging()?;
        for planned in &plan {
            let dir = kept.layer_dir(planned.descriptor);
            move_tree(&dir, staging.path())
                .map_err(|e| as_written_to(e, staging.path(), output_dir))?;
        }
        target.publish(staging, &files)?;
        Ok(files)
    }
}

/// The directory a streamed unpack keeps its layers in, and the layers recorded in it that
/// checked out.
struct Kept {
    root: PathBuf,
    include: Vec<String>,
    /// The layers recorded and re-verified, with their files.
    done: Mutex<Vec<(Digest, Vec<UnpackedFile>)>>,
}

impl Kept {
    /// Checks what `root` holds against `plan`: recorded layers whose files hash as recorded
    /// are kept, everything else is removed.
    fn open(root: &Path, plan: &[Planned<'_>], include: &[String]) -> io::Result<Self> {
        let kept = Self {
            root: root.to_owned(),
            include: include.to_vec(),
            done: Mutex::new(Vec::new()),
        };
        let mut done = Vec::new();
        for planned in plan {
            if let Some(files) = kept.verified(planned) {
                done.push((planned.descriptor.digest.clone(), files));
            }
        }
        let keep: BTreeSet<String> = done
            .iter()
            .flat_map(|(d, _)| [d.hex().to_owned(), format!("{}.done", d.hex())])
            .collect();
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            if !keep.contains(&*entry.file_name().to_string_lossy()) {
                remove(&entry.path())?;
            }
        }
        *kept.done.lock().expect("not poisoned") = done;
        Ok(kept)
    }

    fn layer_dir(&self, layer: &Descriptor) -> PathBuf {
        self.root.join(layer.digest.hex())
    }

    fn record_path(&self, layer: &Descriptor) -> PathBuf {
        self.root.join(format!("{}.done", layer.digest.hex()))
    }

    /// The files of `planned` an earlier run recorded, when the record parses, is of this
    /// layer and these patterns, and the layer's directory holds exactly those files, each
    /// hashing as recorded.
    fn verified(&self, planned: &Planned<'_>) -> Option<Vec<UnpackedFile>> {
        let descriptor = planned.descriptor;
        let record = read_small(&self.record_path(descriptor)).ok()?;
        let files = parse_record(&record, descriptor, &self.include)?;
        let dir = self.layer_dir(descriptor);
        let mut found = BTreeSet::new();
        list_files(&dir, "", &mut found).ok()?;
        let recorded: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
        if found != recorded {
            return None;
        }
        if let Some(path) = &planned.path
            && (files.len() != 1 || &files[0].path != path)
        {
            return None;
        }
        for file in &files {
            let actual = hash_file(&dir.join(&file.path)).ok()?;
            if actual.digest != file.digest || actual.size != file.size {
                return None;
            }
            if !matches_manifest(planned, &actual.digest) {
                return None;
            }
        }
        Some(files)
    }

    /// The files of a layer kept from an earlier run (its tree paths added to `set`), if
    /// it was.
    fn done(
        &self,
        planned: &Planned<'_>,
        set: &Mutex<PathSet>,
    ) -> Result<Option<Vec<UnpackedFile>>> {
        let digest = &planned.descriptor.digest;
        let done = self.done.lock().expect("not poisoned");
        let Some((_, files)) = done.iter().find(|(d, _)| d == digest) else {
            return Ok(None);
        };
        if planned.path.is_none() {
            let mut set = set.lock().expect("not poisoned");
            for file in files {
                set.insert(&file.path)
                    .map_err(|refusal| Error::UnsafeEntry {
                        entry: file.path.clone(),
                        refusal,
                    })?;
            }
        }
        Ok(Some(files.clone()))
    }

    /// A new, empty directory for the layer `planned`, whatever was there removed.
    fn fresh(&self, planned: &Planned<'_>) -> io::Result<PathBuf> {
        let dir = self.layer_dir(planned.descriptor);
        remove(&self.record_path(planned.descriptor))?;
        remove(&dir)?;
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(dir)
    }

    /// Records the layer `planned` as done, with the files it wrote: to a temporary renamed
    /// into place.
    fn record(&self, planned: &Planned<'_>, files: &[UnpackedFile]) -> io::Result<()> {
        let path = self.record_path(planned.descriptor);
        let temp = self.root.join(format!(
            "{}.done.{}.tmp",
            planned.descriptor.digest.hex(),
            std::process::id()
        ));
        let bytes = record_bytes(&planned.descriptor.digest, &self.include, files);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(NO_FOLLOW)
                .open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

/// Whether a kept file's SHA-256 agrees with what the (verified) manifest says of it, where
/// it says anything: a raw layer's blob is the file; a one-file layer may carry the file's
/// digest as an annotation.
fn matches_manifest(planned: &Planned<'_>, actual: &Digest) -> bool {
    let descriptor = planned.descriptor;
    if matches!(planned.form, Form::Raw) {
        return *actual == descriptor.digest;
    }
    match descriptor
        .annotations
        .get(modeloci_spec::annotations::FILE_DIGEST)
    {
        Some(recorded) if planned.path.is_some() => recorded.as_str() == actual.to_string(),
        _ => true,
    }
}

/// The largest record read back: a tree layer of 100,000 files is about 20 MB of record.
const MAX_RECORD: u64 = 64 << 20;

/// Reads a small regular file, never through a link.
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(NO_FOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn record_bytes(layer: &Digest, include: &[String], files: &[UnpackedFile]) -> Vec<u8> {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path,
                "size": f.size,
                "executable": f.executable,
                "digest": f.digest.to_string(),
            })
        })
        .collect();
    let record = serde_json::json!({
        "layer": layer.to_string(),
        "include": include,
        "files": files,
    });
    serde_json::to_vec(&record).expect("a JSON value serializes")
}

/// The files of a record, when it is a well-formed one of `layer` and `include`.
fn parse_record(bytes: &[u8], layer: &Descriptor, include: &[String]) -> Option<Vec<UnpackedFile>> {
    let record: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if record.get("layer")?.as_str()? != layer.digest.to_string() {
        return None;
    }
    let patterns: Vec<&str> = record
        .get("include")?
        .as_array()?
        .iter()
        .map(serde_json::Value::as_str)
        .collect::<Option<_>>()?;
    if patterns != include.iter().map(String::as_str).collect::<Vec<_>>() {
        return None;
    }
    record
        .get("files")?
        .as_array()?
        .iter()
        .map(|f| {
            let path = f.get("path")?.as_str()?;
            check_relative_path(path).ok()?;
            Some(UnpackedFile {
                path: path.to_owned(),
                size: f.get("size")?.as_u64()?,
                executable: f.get("executable")?.as_bool()?,
                digest: f.get("digest")?.as_str()?.parse().ok()?,
            })
        })
        .collect()
}

/// Adds the regular files below `dir` to `found` as paths relative to the layer directory
/// (`prefix/name`); a link or anything else but a directory or regular file is an error.
fn list_files(dir: &Path, prefix: &str, found: &mut BTreeSet<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a name not UTF-8"))?;
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), &rel, found)?;
        } else if kind.is_file() {
            found.insert(rel);
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
    }
    Ok(())
}

/// The SHA-256 and size of a regular file, opened without following a link.
fn hash_file(path: &Path) -> io::Result<modeloci_digest::Measured> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(NO_FOLLOW)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    read_chunks(&mut file, &mut buf, |chunk| {
        hasher.update(chunk);
        Ok::<(), io::Error>(())
    })
    .map_err(|e| match e {
        modeloci_digest::ChunkError::Read(e) | modeloci_digest::ChunkError::Sink(e) => e,
    })?;
    Ok(hasher.finish())
}

/// Moves what is below the layer directory `from` into `to`: directories created (0755),
/// files renamed. Links and other kinds are refused.
fn move_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).map_err(Error::io(from))? {
        let entry = entry.map_err(Error::io(from))?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(Error::io(&src))?;
        if kind.is_dir() {
            create_dirs(&dest).map_err(Error::io(&dest))?;
            move_tree(&src, &dest)?;
        } else if kind.is_file() {
            fs::rename(&src, &dest).map_err(Error::io(&dest))?;
        } else {
            return Err(Error::io(&src)(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            )));
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (a link itself, never what it points to).
fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> Descriptor {
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        Descriptor::new(modeloci_spec::MediaType::ImageLayer, digest, 10)
    }

    #[test]
    fn a_record_is_read_back_only_for_its_layer_and_patterns_and_safe_paths() {
        let file = UnpackedFile {
            path: "dir/weights.bin".into(),
            size: 10,
            executable: false,
            digest: format!("sha256:{}", "cd".repeat(32)).parse().unwrap(),
        };
        let layer = layer();
        let include = vec!["*.bin".to_owned()];
        let bytes = record_bytes(&layer.digest, &include, std::slice::from_ref(&file));
        let files = parse_record(&bytes, &layer, &include).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, file.path);
        assert_eq!(files[0].digest, file.digest);
        assert!(
            parse_record(&bytes, &layer, &[]).is_none(),
            "other patterns"
        );
        let other = Descriptor::new(
            modeloci_spec::MediaType::ImageLayer,
            format!("sha256:{}", "ef".repeat(32)).parse().unwrap(),
            10,
        );
        assert!(
            parse_record(&bytes, &other, &include).is_none(),
            "another layer"
        );
        assert!(parse_record(b"{not json", &layer, &include).is_none());
        let unsafe_path = UnpackedFile {
            path: "../escape".into(),
            ..file
        };
        let bytes = record_bytes(&layer.digest, &include, &[unsafe_path]);
        assert!(
            parse_record(&bytes, &layer, &include).is_none(),
            "a path out"
        );
    }

    #[test]
    fn a_link_in_a_kept_layer_is_never_listed_as_a_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("b")).unwrap();
        let mut found = BTreeSet::new();
        assert!(list_files(dir.path(), "", &mut found).is_err());
        assert!(hash_file(&dir.path().join("b")).is_err());
    }
}
