//! What we write validates against the OCI image-spec JSON schemas (fixtures/spec).

use std::error::Error;
use std::path::PathBuf;

use boon::{Compiler, SchemaIndex, Schemas, UrlLoader};
use serde_json::Value;

/// Resolves every schema URL to the file of the same name in fixtures/spec, as the
/// image-spec's own validator does: the schemas name each other by file name.
struct SpecLoader(PathBuf);

impl UrlLoader for SpecLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn Error>> {
        let name = url.rsplit('/').next().unwrap_or(url);
        let text = std::fs::read_to_string(self.0.join(name)).map_err(|e| format!("{url}: {e}"))?;
        Ok(serde_json::from_str(&text)?)
    }
}

pub(crate) struct Validator {
    schemas: Schemas,
    index: SchemaIndex,
}

impl Validator {
    /// A validator for one schema file of `fixtures/spec/<dir>/`.
    pub(crate) fn new(dir: &str, file: &str) -> Self {
        let mut schemas = Schemas::new();
        let mut compiler = Compiler::new();
        compiler.use_loader(Box::new(SpecLoader(
            crate::fixtures().join("spec").join(dir),
        )));
        let index = compiler
            .compile(&format!("https://schemas.test/{file}"), &mut schemas)
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        Self { schemas, index }
    }

    pub(crate) fn oci(file: &str) -> Self {
        Self::new("oci-image-spec", file)
    }

    pub(crate) fn validate(&self, json: &[u8]) -> Result<(), String> {
        let value: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        self.schemas
            .validate(&value, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

fn read_entry(archive: &std::path::Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).unwrap();
            return out;
        }
    }
    panic!("{} has no {name}", archive.display());
}

#[test]
fn written_manifests_indexes_and_layouts_validate() {
    let manifest = Validator::oci("image-manifest-schema.json");
    let index = Validator::oci("image-index-schema.json");
    let layout = Validator::oci("image-layout-schema.json");
    let dir = tempfile::tempdir().unwrap();
    let created = dir.path().join("created.tar");
    let options = modeloci_archive::PackOptions::default()
        .with_created("2024-06-01T12:00:00Z")
        .with_output(&created);
    modeloci_archive::ModelPackager::with_options(options)
        .pack(
            &crate::tiny_model(),
            &modeloci_tests::fixtures::tiny_config(),
        )
        .unwrap();
    let mut archives: Vec<PathBuf> = modeloci_tests::fixtures::GOLDEN
        .iter()
        .filter(|g| g.is_ours())
        .map(|g| crate::fixtures().join("golden").join(g.file_name))
        .collect();
    archives.push(created);
    for archive in &archives {
        let at = |what: &str, result: Result<(), String>| {
            assert_eq!(result, Ok(()), "{what} of {}", archive.display());
        };
        at(
            "manifest.json",
            manifest.validate(&read_entry(archive, "manifest.json")),
        );
        at(
            "index.json",
            index.validate(&read_entry(archive, "index.json")),
        );
        at(
            "oci-layout",
            layout.validate(&read_entry(archive, "oci-layout")),
        );
    }
}

#[test]
fn the_validator_rejects_what_breaks_the_schema() {
    let manifest = Validator::oci("image-manifest-schema.json");
    let bad = br#"{"schemaVersion":3,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;
    assert!(manifest.validate(bad).is_err());
    let bad_digest = br#"{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:XYZ","size":1},"layers":[]}"#;
    assert!(manifest.validate(bad_digest).is_err());
}
