//! The transfer rows of `cargo xtask bench`: push and pull of the bench model's `none`
//! archive through a shaping proxy (40 ms each way, 50 MiB/s per connection and direction:
//! a registry across a continent, not on the same machine) in front of the real registry,
//! ours against `skopeo copy`. The goal is 3x skopeo's throughput (a ratio of 0.33); it is
//! reported, not asserted.

use anyhow::Result;
use modeloci_tests::registry::Registry;
use modeloci_tests::shaping_proxy::{Shape, ShapingProxy};

use super::{Row, Samples, measure, registry_commands};

/// Our time over skopeo's for 3x its throughput.
const GOAL: f64 = 1.0 / 3.0;

/// push then pull, ours and skopeo's interleaved, each run against a registry of its own
/// behind a proxy of its own, so that no tool skips blobs an earlier run uploaded.
pub(super) fn rows(bin: &str, scratch: &std::path::Path, runs: usize) -> Result<Vec<Row>> {
    let shape = Shape::default();
    // [push, pull] x [ours, skopeo's]
    let mut samples: [[Samples; 2]; 2] = Default::default();
    for _ in 0..runs {
        for (tool, ours) in [(0, true), (1, false)] {
            let registry = Registry::start(None);
            let proxy = ShapingProxy::start(&registry.addr, shape);
            let r = format!("{}/bench/model:1", proxy.addr);
            let [push, pull, _] = registry_commands(bin, ours, &r, &r);
            measure("sync", scratch)?;
            samples[0][tool].run(&push, scratch)?;
            measure("rm -f pulled.tar; sync", scratch)?;
            samples[1][tool].run(&pull, scratch)?;
            measure("rm -f pulled.tar", scratch)?;
        }
    }
    let names = [
        (
            "push (a none archive, 40 ms + 50 MiB/s a connection)",
            "skopeo copy oci-archive: docker://",
        ),
        (
            "pull --output (40 ms + 50 MiB/s a connection)",
            "skopeo copy docker:// oci-archive:",
        ),
    ];
    let rows: Vec<Row> = names
        .into_iter()
        .zip(samples)
        .map(|((name, baseline_name), [ours, theirs])| {
            Row::new(name, baseline_name, ours, theirs, Some(GOAL))
        })
        .collect();
    for row in &rows {
        eprintln!(
            "{}: {:.2} s vs {:.2} s: {:.1}x skopeo's throughput (goal 3x)",
            row.name,
            row.ours,
            row.theirs,
            1.0 / row.ratio
        );
    }
    Ok(rows)
}
