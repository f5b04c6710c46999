//! The Python rows: `ModelPackager().package` of the `modeloci` wheel against the CLI's `pack`
//! and against the reference's `package` (its documented algorithm, `REFERENCE_PY`: Python
//! `tarfile` layers at gzip level 9, one thread, each blob in memory), the three interleaved
//! in each run, all packing the bench model with gzip.

use std::path::Path;

use anyhow::Result;

use super::{REFERENCE_PY, Row, Samples};

/// Packs the model with the Python package: `python - MODEL OUT`.
const PACKAGE_PY: &str = r#"
import sys
from modeloci.core import ModelPackager
from modeloci.models import OCIConfig
config = OCIConfig(model_name="bench", version="1", framework="pytorch", architecture="transformer")
ModelPackager(cache=False).package(sys.argv[1], config, output=sys.argv[2])
"#;

pub(super) fn rows(bin: &str, model: &Path, scratch: &Path, runs: usize) -> Result<Vec<Row>> {
    let venv = crate::python::installed_venv()?;
    let python = venv.join("bin/python");
    std::fs::write(scratch.join("package.py"), PACKAGE_PY)?;
    std::fs::write(scratch.join("reference.py"), REFERENCE_PY)?;
    let (m, py) = (model.display(), python.display());
    let ours = format!("{py} package.py {m} py.tar");
    let cli = format!(
        "{bin} pack -q --no-cache --model-dir {m} --name bench --version 1 --output cli.tar"
    );
    let reference = format!("{py} reference.py {m} ref.tar");
    let (mut a, mut b, mut c) = (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..runs {
        for (script, samples) in [(&ours, &mut a), (&cli, &mut b), (&reference, &mut c)] {
            super::measure("rm -f py.tar cli.tar ref.tar && sync", scratch)?;
            samples.run(script, scratch)?;
        }
    }
    super::measure(
        "rm -f py.tar cli.tar ref.tar package.py reference.py",
        scratch,
    )?;
    let again = Samples {
        walls: a.walls.clone(),
        rss_kib: a.rss_kib,
    };
    Ok(vec![
        Row::new(
            "ModelPackager().package (Python)",
            "modeloci pack",
            a,
            b,
            None,
        ),
        Row::new(
            "ModelPackager().package (Python)",
            "the reference's package",
            again,
            c,
            None,
        ),
    ])
}
