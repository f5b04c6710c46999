//! Signing a model in a registry from its manifest, and checking its signatures there,
//! without downloading its weights.

use modeloci_archive::recorded_file_digests;
use modeloci_registry::{
    Client, FetchedReferrer, PullCheck, PullOptions, PullTarget, Reference, Resolved, attach,
    fetch_listed_referrer, referrers, resolve,
};
use modeloci_spec::{Descriptor, Digest, MediaType, OciManifest};

use crate::archive::{HashOptions, Signed, archive_files, model_name};
use crate::bundle::{Bundle, MAX_BUNDLE_SIZE, sign};
use crate::error::{Error, Result};
use crate::key::{PrivateKey, PublicKey};
use crate::referrer::{bundle_layer, is_signature, referrer_manifest};
use crate::statement::Statement;
use crate::stored::{StoredSignature, Verified, check_files, choose, unpack_check};

/// A model manifest in a registry, resolved and parsed.
#[derive(Debug)]
pub struct RemoteModel {
    /// The manifest as the registry stored it.
    pub resolved: Resolved,
    /// Parsed.
    pub manifest: OciManifest,
}

impl RemoteModel {
    /// Fetches the manifest `reference` names; an index is refused.
    ///
    /// # Errors
    ///
    /// Those of [`resolve`], and [`Error::NotAModel`] for an index or a document that is
    /// not a manifest.
    pub fn resolve(client: &Client, reference: &Reference) -> Result<Self> {
        let resolved = resolve(client, reference)?;
        if resolved.is_index() {
            return Err(Error::NotAModel {
                what: format!(
                    "{} is an image index; name one of its manifests by digest",
                    resolved.reference
                ),
            });
        }
        let manifest = OciManifest::from_slice(&resolved.bytes).map_err(|e| Error::NotAModel {
            what: format!("{} is not an image manifest: {e}", resolved.reference),
        })?;
        Ok(Self { resolved, manifest })
    }

    /// The descriptor a referrer names as its subject.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::ImageManifest,
            self.resolved.digest.clone(),
            self.resolved.bytes.len() as u64,
        )
    }

    /// Each file with its content digest as the manifest records them (raw layers' digests,
    /// `org.modeloci.file.digest` annotations).
    ///
    /// # Errors
    ///
    /// [`Error::NoRecordedDigests`] when a layer records none (its weights would have to be
    /// downloaded), and the manifest's errors as unpack sees them.
    pub fn recorded_files(&self) -> Result<Vec<(String, Digest)>> {
        let files =
            recorded_file_digests(&self.manifest)?.ok_or_else(|| Error::NoRecordedDigests {
                reference: self.resolved.reference.to_string(),
            })?;
        Ok(files.into_iter().map(|f| (f.path, f.digest)).collect())
    }
}

/// Signs the model `reference` names from the file digests its manifest records, without
/// downloading a layer, and attaches the signature in the registry (by the referrers API,
/// else the `sha256-<hex>` tag).
///
/// # Errors
///
/// [`Error::NoRecordedDigests`], and those of the registry.
pub fn sign_remote(client: &Client, reference: &Reference, key: &PrivateKey) -> Result<Signed> {
    let model = RemoteModel::resolve(client, reference)?;
    let files = model.recorded_files()?;
    let repository = reference.repository.rsplit('/').next();
    let name = model_name(None, model.manifest.title().or(repository));
    let statement = Statement::for_files(&name, files)?;
    let bundle = sign(&statement, key);
    push_signature(
        client,
        reference,
        &model,
        bundle,
        statement.resources().len(),
    )
}

/// Attaches a signature made elsewhere to the model `reference` names, once its files are
/// checked to be exactly those the manifest records.
///
/// # Errors
///
/// The bundle's, [`Error::NoRecordedDigests`], [`Error::FilesDiffer`], and those of the
/// registry.
pub fn attach_remote_signature(
    client: &Client,
    reference: &Reference,
    bundle: &[u8],
) -> Result<Signed> {
    let parsed = Bundle::parse(bundle)?;
    let model = RemoteModel::resolve(client, reference)?;
    let files = model.recorded_files()?;
    check_files(parsed.statement(), &files)?;
    push_signature(
        client,
        reference,
        &model,
        bundle.to_vec(),
        parsed.statement().resources().len(),
    )
}

fn push_signature(
    client: &Client,
    reference: &Reference,
    model: &RemoteModel,
    bundle: Vec<u8>,
    files: usize,
) -> Result<Signed> {
    let referrer = referrer_manifest(&model.descriptor(), &bundle);
    let blobs: Vec<(Descriptor, &[u8])> = referrer
        .blobs
        .iter()
        .map(|(d, b)| (d.clone(), b.as_slice()))
        .collect();
    let digest = attach(
        client,
        &reference.repository,
        &referrer.manifest_bytes,
        &blobs,
    )?;
    Ok(Signed {
        manifest_digest: model.resolved.digest.clone(),
        referrer: digest,
        bundle,
        files,
    })
}

/// The signature in a fetched referrer, parsed.
pub fn fetched_signature(fetched: &FetchedReferrer) -> StoredSignature {
    let layer = bundle_layer(&fetched.manifest);
    let bytes = layer.and_then(|l| fetched.blobs.iter().find(|(d, _)| d.digest == l.digest));
    StoredSignature {
        referrer: fetched.descriptor.digest.clone(),
        bundle_digest: layer.map(|l| l.digest.clone()),
        bundle: match bytes {
            Some((_, bytes)) => Bundle::parse(bytes),
            None => Err(Error::InvalidBundle {
                reason: "the signature referrer holds no bundle layer".into(),
            }),
        },
    }
}

/// The signatures of `model` in the registry, each bundle fetched (at most
/// [`MAX_BUNDLE_SIZE`]) and parsed: the referrers listed with the bundle's artifact type,
/// and those listed with none or the empty one (as some writers list them) whose manifest
/// says it holds a bundle, the same referrers a pull brings along. A listed referrer the
/// registry no longer has (deleted, its entry left behind) is none of them.
///
/// # Errors
///
/// Those of the registry's listing; a referrer that cannot be fetched or parsed is
/// reported in its [`StoredSignature`].
pub fn remote_signatures(
    client: &Client,
    repository: &str,
    model: &RemoteModel,
) -> Result<Vec<StoredSignature>> {
    let subject = &model.resolved.digest;
    Ok(referrers(client, repository, subject, None)?
        .iter()
        .filter(|d| is_listed_signature(client, model, d))
        .filter_map(|d| {
            match fetch_listed_referrer(client, repository, subject, d, MAX_BUNDLE_SIZE) {
                // Listed, but deleted since: not a signature of the model.
                Ok(None) => None,
                Ok(Some(fetched)) if is_signature(&fetched.manifest) => {
                    Some(fetched_signature(&fetched))
                }
                Ok(Some(_)) => Some(StoredSignature {
                    referrer: d.digest.clone(),
                    bundle_digest: None,
                    bundle: Err(Error::InvalidBundle {
                        reason: "the referrer is not a signature".into(),
                    }),
                }),
                Err(e) => Some(StoredSignature {
                    referrer: d.digest.clone(),
                    bundle_digest: None,
                    bundle: Err(e.into()),
                }),
            }
        })
        .collect())
}

/// Whether a listed referrer is a signature: by its listed artifact type, else (none, or
/// the empty one) by its manifest, fetched by digest; one that cannot be read is not taken
/// for a signature.
fn is_listed_signature(client: &Client, model: &RemoteModel, listed: &Descriptor) -> bool {
    match &listed.artifact_type {
        Some(MediaType::SigstoreBundle) => true,
        None | Some(MediaType::Empty) => {
            let by_digest = Reference {
                tag: None,
                digest: Some(listed.digest.clone()),
                ..model.resolved.reference.clone()
            };
            resolve(client, &by_digest)
                .is_ok_and(|r| OciManifest::from_slice(&r.bytes).is_ok_and(|m| is_signature(&m)))
        }
        Some(_) => false,
    }
}

/// A registry model's signature that verified.
#[derive(Debug)]
#[non_exhaustive]
pub struct RemoteVerified {
    /// The model.
    pub model: RemoteModel,
    /// The signature, and the key that verified it.
    pub verified: Verified,
    /// Whether the signed files were compared with those the manifest records (`false`
    /// when a layer records none: only reading the layers can tell).
    pub files_checked: bool,
}

/// Checks that one of `keys` signed the model `reference` names, and that the signed files
/// are those its manifest records, when it records them all; no layer is downloaded.
///
/// # Errors
///
/// [`Error::Unsigned`], the signatures' errors, [`Error::FilesDiffer`], and those of the
/// registry.
pub fn verify_remote(
    client: &Client,
    reference: &Reference,
    keys: &[PublicKey],
) -> Result<RemoteVerified> {
    let model = RemoteModel::resolve(client, reference)?;
    let recorded = match model.recorded_files() {
        Ok(files) => Some(files),
        Err(Error::NoRecordedDigests { .. }) => None,
        Err(e) => return Err(e),
    };
    let mut signatures = remote_signatures(client, &reference.repository, &model)?;
    if let Some(files) = &recorded {
        for stored in &mut signatures {
            refuse_other_files(stored, keys, files);
        }
    }
    let verified = choose(signatures, keys)?;
    Ok(RemoteVerified {
        model,
        verified,
        files_checked: recorded.is_some(),
    })
}

/// Marks a signature that one of `keys` made, but over other files than `files`, as
/// failing with what differs: another signature (listed later) may cover these files.
fn refuse_other_files(
    stored: &mut StoredSignature,
    keys: &[PublicKey],
    files: &[(String, Digest)],
) {
    let differs = match &stored.bundle {
        Ok(bundle) if bundle.verify(keys).is_ok() => check_files(bundle.statement(), files).err(),
        _ => None,
    };
    if let Some(e) = differs {
        stored.bundle = Err(e);
    }
}

/// A pull made to check its model's signature: the reference pinned to the manifest whose
/// signature verified, and pull options that refuse files other than the signed ones.
#[derive(Debug)]
pub struct SignedPull {
    /// `reference` with the digest of the manifest the signature covers.
    pub reference: Reference,
    /// The options given, with the check of what the pull brings, run before any of it
    /// reaches the target.
    pub options: PullOptions,
    /// The signature, and the key that verified it.
    pub verified: Verified,
}

/// Before a pull with keys: the signature in the registry, checked against the manifest's
/// recorded file digests when it records them (so that an unsigned model is refused before a
/// layer is fetched); the reference pinned to the manifest verified; and the check of the
/// files the pull brings (`subset`: only some files are asked for), run on them before any
/// reaches the target.
///
/// # Errors
///
/// Those of [`verify_remote`].
pub fn signed_pull(
    client: &Client,
    reference: &Reference,
    keys: &[PublicKey],
    target: &PullTarget,
    options: PullOptions,
    subset: bool,
) -> Result<SignedPull> {
    let found = verify_remote(client, reference, keys)?;
    let statement = found.verified.bundle.statement().clone();
    let pinned = Reference {
        digest: Some(found.model.resolved.digest.clone()),
        ..reference.clone()
    };
    let options = match target {
        PullTarget::Unpack(_) => options.with_unpack_check(Some(unpack_check(statement, subset))),
        _ => options.with_check(Some(PullCheck(std::sync::Arc::new(move |layout, _| {
            let files = archive_files(layout, &HashOptions::default())?;
            check_files(&statement, &files)?;
            Ok(())
        })))),
    };
    Ok(SignedPull {
        reference: pinned,
        options,
        verified: found.verified,
    })
}
