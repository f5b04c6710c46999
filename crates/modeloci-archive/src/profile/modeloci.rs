//! The modeloci profile: facts go into the manifest's annotations, never into the config
//! blob, which stays the user's input.

use modeloci_spec::{OciManifest, annotations};

use crate::facts::metadata::ModelFacts;

/// The facts detected from the weights, as `org.modeloci.model.*` annotations (those the
/// facts no longer give are removed).
pub(crate) fn annotate_facts(manifest: &mut OciManifest, facts: &ModelFacts) {
    let entries = [
        (
            annotations::MODEL_PARAMETERS,
            facts.parameters.map(|p| p.to_string()),
        ),
        (annotations::MODEL_DTYPE, facts.dtype.clone()),
        (annotations::MODEL_FORMAT, facts.format.clone()),
        (annotations::MODEL_QUANTIZATION, facts.quantization.clone()),
        (annotations::MODEL_ARCHITECTURE, facts.architecture.clone()),
    ];
    for (key, value) in entries {
        match value {
            Some(v) => manifest.annotations.insert(key.to_owned(), v),
            None => manifest.annotations.remove(key),
        };
    }
}
