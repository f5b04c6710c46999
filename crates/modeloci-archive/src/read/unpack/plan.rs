//! The manifest's layers, checked and chosen before anything is read.

use std::collections::HashMap;

use modeloci_spec::{Algorithm, Descriptor, Digest, MediaType, OciManifest, annotations};

use crate::entry_policy::{PathSet, check_relative_path};
use crate::error::{Error, Result};
use crate::glob::glob_match;
use crate::profile::read::{Form, is_group, layer_form};
use crate::read::archive::Archive;
use crate::tarfile::reader::{Entry, EntryKind};

/// A layer to extract, checked.
pub(super) struct Planned<'a> {
    pub(super) descriptor: &'a Descriptor,
    pub(super) form: Form,
    /// The file's path, for [`Form::Raw`] and [`Form::OneFile`].
    pub(super) path: Option<String>,
    /// What to call the layer in messages.
    pub(super) label: String,
    /// Mode 0755 for a raw file whose metadata says it is executable.
    pub(super) executable: bool,
    /// For a group layer, what its annotations promise, checked.
    pub(super) group: Option<Group>,
}

/// What a group layer's annotations promise: every entry a regular file whose path is in
/// `first..=last` (byte order), `files` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Group {
    pub(super) first: String,
    pub(super) last: String,
    pub(super) files: u64,
}

impl Group {
    /// Whether `path` lies in the group's range.
    pub(super) fn holds(&self, path: &str) -> bool {
        self.first.as_str() <= path && path <= self.last.as_str()
    }

    /// Whether some path in the range can match `pattern`: a literal pattern (no `*` or
    /// `?`) by containment, a glob when the range meets the paths starting with its literal
    /// prefix (those form one interval in byte order, from the prefix on).
    fn may_match(&self, pattern: &str) -> bool {
        match pattern.find(['*', '?']) {
            None => self.holds(pattern),
            Some(at) => {
                let prefix = &pattern[..at];
                self.last.as_str() >= prefix
                    && (self.first.as_str() <= prefix || self.first.starts_with(prefix))
            }
        }
    }
}

impl Group {
    /// Refuses an entry of a group layer other than a regular file (`name` is its
    /// normalised path, once checked) or outside the range.
    pub(super) fn check_entry(&self, entry: &Entry, name: Option<&str>, label: &str) -> Result<()> {
        let bad = |reason: String| Error::BadLayer {
            title: label.to_owned(),
            reason,
        };
        if entry.kind != EntryKind::File {
            return Err(bad(format!(
                "its entry {:?} is not a regular file, as group layers hold only files",
                entry.name
            )));
        }
        match name {
            Some(name) if self.holds(name) => Ok(()),
            _ => Err(bad(format!(
                "its entry {:?} lies outside the group's range {:?} .. {:?}",
                entry.name, self.first, self.last
            ))),
        }
    }

    /// Refuses a group layer that held another number of files than it claims.
    pub(super) fn check_count(&self, count: u64, label: &str) -> Result<()> {
        if count == self.files {
            return Ok(());
        }
        Err(Error::BadLayer {
            title: label.to_owned(),
            reason: format!(
                "it holds {count} files where its {} annotation says {}",
                annotations::GROUP_FILES,
                self.files
            ),
        })
    }
}

/// Most files a group layer may claim to hold (the writer puts at most 4,096 in one).
pub(super) const MAX_GROUP_FILES: u64 = 1 << 20;

/// A group layer's annotations, checked: both paths pass the policy, first <= last, the
/// count a decimal from 1 to [`MAX_GROUP_FILES`]; and the layer a tar read as a tree.
fn checked_group(descriptor: &Descriptor, form: Form, label: &str) -> Result<Group> {
    let bad = |reason: String| Error::BadLayer {
        title: label.to_owned(),
        reason,
    };
    if !matches!(form, Form::Tree(_)) {
        return Err(bad("a group layer must be a tar".into()));
    }
    let get = |key: &str| {
        descriptor
            .annotations
            .get(key)
            .ok_or_else(|| bad(format!("a group layer without {key}")))
    };
    let (first, last) = (
        get(annotations::GROUP_FIRST)?,
        get(annotations::GROUP_LAST)?,
    );
    for path in [first, last] {
        check_relative_path(path).map_err(|refusal| Error::UnsafeEntry {
            entry: path.clone(),
            refusal,
        })?;
    }
    if first.as_bytes() > last.as_bytes() {
        return Err(bad(format!(
            "its group range {first:?} .. {last:?} is empty"
        )));
    }
    let text = get(annotations::GROUP_FILES)?;
    let files = text
        .parse::<u64>()
        .ok()
        .filter(|n| text.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_GROUP_FILES).contains(n))
        .ok_or_else(|| {
            bad(format!(
                "its {} {text:?} is not a count from 1 to {MAX_GROUP_FILES}",
                annotations::GROUP_FILES
            ))
        })?;
    Ok(Group {
        first: first.clone(),
        last: last.clone(),
        files,
    })
}

/// The path a layer's annotations give it: ModelPack's file path, else the title.
fn layer_path(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations
        .get(modeloci_spec::annotations::MODELPACK_FILEPATH)
        .map(String::as_str)
        .or_else(|| descriptor.title())
}

/// Whether ModelPack file metadata marks the file executable.
fn metadata_executable(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations
        .get(modeloci_spec::annotations::MODELPACK_FILE_METADATA)
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|m| m.get("mode").and_then(serde_json::Value::as_u64))
        .is_some_and(|mode| mode & 0o111 != 0)
}

/// Every layer of `manifest` checked as unpack checks it before writing anything, and the
/// path set of the files they name. Paths inside tree layers are checked as they are
/// extracted.
///
/// Refused: a layer type this tool cannot unpack, a one-file or raw layer without a path, a
/// path the policy refuses ([`check_relative_path`], duplicates, case and file/directory
/// collisions), a blob shared by two layers unless both are raw (two identical files, as
/// modctl stores them), and a layer blob that is also the config blob (except for the empty
/// config ORAS writes, `{}`).
fn plan_manifest(manifest: &OciManifest) -> Result<(Vec<Planned<'_>>, PathSet)> {
    let mut set = PathSet::new();
    let mut plan: Vec<Planned<'_>> = Vec::with_capacity(manifest.layers.len());
    let mut by_digest: HashMap<&Digest, usize> = HashMap::new();
    for (i, descriptor) in manifest.layers.iter().enumerate() {
        let path = layer_path(descriptor);
        let label = path.map_or_else(|| format!("#{i}"), str::to_owned);
        let unsupported = || Error::UnsupportedLayer {
            title: label.clone(),
            media_type: descriptor.media_type.clone(),
        };
        let form = layer_form(&manifest.config.media_type, descriptor, path.is_some())
            .ok_or_else(unsupported)?;
        let group = if is_group(descriptor) {
            Some(checked_group(descriptor, form, &label)?)
        } else {
            None
        };
        let label = match &group {
            Some(g) => format!("{label} (group {} .. {})", g.first, g.last),
            None => label,
        };
        let path = if let Form::Tree(_) = form {
            None
        } else {
            Some(checked_path(descriptor, path, &label, &mut set)?)
        };
        if descriptor.digest == manifest.config.digest
            && manifest.config.media_type != MediaType::Empty
        {
            return Err(Error::BadLayer {
                title: label,
                reason: format!("its blob {} is the config blob", descriptor.digest),
            });
        }
        if let Some(&first) = by_digest.get(&descriptor.digest) {
            // A raw layer is its file: two identical files may share a blob. A layer tar
            // holds its own paths, so a second copy could only collide with the first.
            if form != Form::Raw || plan[first].form != Form::Raw {
                return Err(Error::BadLayer {
                    title: label,
                    reason: format!(
                        "its blob {} is also layer {:?}'s; only raw layers may share a blob",
                        descriptor.digest, plan[first].label
                    ),
                });
            }
        } else {
            by_digest.insert(&descriptor.digest, i);
        }
        let executable = form == Form::Raw && metadata_executable(descriptor);
        plan.push(Planned {
            descriptor,
            form,
            path,
            label,
            executable,
            group,
        });
    }
    Ok((plan, set))
}

/// The path of a raw or one-file layer, checked against the policy and the other layers'
/// paths (and added to `set`).
fn checked_path(
    descriptor: &Descriptor,
    path: Option<&str>,
    label: &str,
    set: &mut PathSet,
) -> Result<String> {
    let path = path.ok_or_else(|| Error::BadLayer {
        title: label.to_owned(),
        reason: format!(
            "layer {} has no {} annotation",
            descriptor.digest,
            modeloci_spec::annotations::TITLE
        ),
    })?;
    let refused = |refusal| Error::UnsafeEntry {
        entry: path.to_owned(),
        refusal,
    };
    check_relative_path(path).map_err(refused)?;
    set.insert(path).map_err(refused)?;
    Ok(path.to_owned())
}

/// Whether unpack with these `--include` patterns needs the layer: one-file and raw layers
/// by the path unpack writes, group layers when a pattern can match a path in their range,
/// other tree layers always (their paths are known only once read).
fn selected(planned: &Planned<'_>, include: &[String]) -> bool {
    if include.is_empty() {
        return true;
    }
    match (&planned.path, &planned.group) {
        (Some(path), _) => include.iter().any(|p| glob_match(p, path)),
        (None, Some(group)) => include.iter().any(|p| group.may_match(p)),
        (None, None) => true,
    }
}

/// The layers of `manifest` that unpacking with the `--include` patterns `include` reads, in
/// manifest order: a one-file or raw layer when a pattern matches the path unpack writes it
/// at (ModelPack's `org.cncf.model.filepath`, else the title), a tree layer (KitOps, ModelPack
/// and ORAS directory tars) always, since its paths are known only once it is read, except a
/// group layer, which is read only when a pattern can match a path between its
/// `org.modeloci.group.first` and `.last` (a literal pattern by containment, a glob by its
/// literal prefix before the first `*` or `?`). With no
/// pattern, every layer. Unpack selects its layers with the same code, so a pull that fetches
/// only these blobs (and the config) has all that unpack needs.
///
/// # Errors
///
/// What unpack refuses in a manifest before reading any blob: [`Error::UnsupportedLayer`],
/// [`Error::BadLayer`] (no path, a blob shared by layers or with the config),
/// [`Error::UnsafeEntry`] (a path the policy refuses, naming it).
pub fn layers_for(manifest: &OciManifest, include: &[String]) -> Result<Vec<Descriptor>> {
    let (plan, _) = plan_for(manifest, include)?;
    Ok(plan.into_iter().map(|p| p.descriptor.clone()).collect())
}

/// The checked plan of every layer, kept to those `include` selects, and the path set of all
/// of them: what unpack extracts, and what [`layers_for`] lists.
pub(super) fn plan_for<'a>(
    manifest: &'a OciManifest,
    include: &[String],
) -> Result<(Vec<Planned<'a>>, PathSet)> {
    let (mut plan, set) = plan_manifest(manifest)?;
    plan.retain(|p| selected(p, include));
    Ok((plan, set))
}

/// What unpack checks in an opened archive before writing anything, beyond its outer
/// entries: the layers ([`plan_manifest`]), and that no index entry names a layer or config
/// blob as if it were a manifest.
pub(crate) fn check_manifest(archive: &Archive) -> Result<()> {
    let manifest = archive.manifest();
    let (plan, _) = plan_manifest(manifest)?;
    let bad = |reason: String| Error::BadManifest {
        digest: archive.manifest_digest().clone(),
        reason,
    };
    // (A descriptor cannot name the manifest's own blob: its digest would be a fixed point
    // of SHA-256.)
    for entry in archive.index().map_or(&[][..], |i| i.manifests.as_slice()) {
        if let Some(layer) = plan.iter().find(|p| p.descriptor.digest == entry.digest) {
            return Err(bad(format!(
                "index.json entry {} names the blob of layer {:?}",
                entry.digest, layer.label
            )));
        }
        if entry.digest == manifest.config.digest {
            return Err(bad(format!(
                "index.json entry {} names the config blob",
                entry.digest
            )));
        }
    }
    Ok(())
}

/// One file of a model and the SHA-256 of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// Its path, as unpack writes it (`/`-separated, relative).
    pub path: String,
    /// The SHA-256 of its content.
    pub digest: Digest,
}

/// Each file's content digest as the manifest alone tells it, in manifest order: a raw
/// layer's blob digest (the blob is the file), else the `org.modeloci.file.digest`
/// annotation (a SHA-256 digest) of a layer holding one file: a one-file layer, or a tar
/// layer read as a tree (ModelPack's) that names its one file. Paths are those unpack
/// writes, checked by the same rules. `None` when some layer holding files tells neither (a
/// tree without the annotation, another tool's tar, a raw blob hashed otherwise than with
/// SHA-256). Nothing is read or verified: a reader hashing what it reads must still
/// compare.
///
/// # Errors
///
/// What unpack refuses in the manifest ([`layers_for`]), [`Error::BadLayer`] for an
/// annotation that is not a SHA-256 digest, and [`Error::UnsafeEntry`] for a path the
/// policy refuses.
pub fn recorded_file_digests(manifest: &OciManifest) -> Result<Option<Vec<FileDigest>>> {
    let (plan, mut set) = plan_manifest(manifest)?;
    let mut files = Vec::with_capacity(plan.len());
    for planned in plan {
        let annotation = planned.descriptor.annotations.get(annotations::FILE_DIGEST);
        let digest = match (planned.form, annotation) {
            (Form::Raw, _) if planned.descriptor.digest.algorithm() == Algorithm::Sha256 => {
                planned.descriptor.digest.clone()
            }
            (Form::Raw, _) | (_, None) => return Ok(None),
            (_, Some(text)) => recorded_digest(&planned, text)?,
        };
        let path = match planned.path {
            Some(path) => path,
            None => {
                let Some(path) = layer_path(planned.descriptor) else {
                    return Ok(None);
                };
                let refused = |refusal| Error::UnsafeEntry {
                    entry: path.to_owned(),
                    refusal,
                };
                check_relative_path(path).map_err(refused)?;
                set.insert(path).map_err(refused)?;
                path.to_owned()
            }
        };
        files.push(FileDigest { path, digest });
    }
    Ok(Some(files))
}

/// The file digest an annotation records, which must be SHA-256.
fn recorded_digest(planned: &Planned<'_>, text: &str) -> Result<Digest> {
    let bad = |reason: String| Error::BadLayer {
        title: planned.label.clone(),
        reason: format!(
            "its {} annotation {text:?}: {reason}",
            annotations::FILE_DIGEST
        ),
    };
    let digest = text.parse::<Digest>().map_err(|e| bad(e.to_string()))?;
    if digest.algorithm() != Algorithm::Sha256 {
        return Err(bad("not a SHA-256 digest".into()));
    }
    Ok(digest)
}
