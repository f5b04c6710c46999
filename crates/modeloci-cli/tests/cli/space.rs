//! The free-space preflight as a user meets it: a pack, unpack or pull that certainly does
//! not fit on the 4 MiB tmpfs of `faults.rs` is refused before anything is written, with the
//! figures and a hint; one that fits works.

use modeloci_tests::registry::Registry;

use crate::faults::{incompressible, on_full_disk};
use crate::{client_env, modeloci, pack_and_push, pack_args, workspace};

const HINT: &str = "hint: free some space on that filesystem, or write elsewhere (another --output, or --unpack DIR for a pull); nothing was written\n";

#[test]
fn pack_and_unpack_that_do_not_fit_are_refused_with_both_figures() {
    let dir = workspace();
    let tmp = dir.path();
    incompressible(tmp);

    let pack = pack_args("full/m.tar", &["--compression", "none"]);
    let Some(outcome) = on_full_disk(tmp, &[], &pack) else {
        return;
    };
    assert_eq!(outcome.code, 2);
    assert_eq!(
        outcome.stderr,
        format!(
            "error: not enough space for full/m.tar: it needs at least 6.0 MiB (6301548 bytes), \
             its filesystem has 4.0 MiB (4194304 bytes) available\n{HINT}"
        )
    );
    assert_eq!(outcome.left, Vec::<String>::new(), "pack wrote nothing");

    modeloci(tmp)
        .args(pack_args("m.tar", &["--compression", "none"]))
        .assert()
        .success();
    let unpack = ["unpack", "--archive", "m.tar", "--output", "full/out"];
    let outcome = on_full_disk(tmp, &[], &unpack).unwrap();
    assert_eq!(outcome.code, 2);
    assert_eq!(
        outcome.stderr,
        format!(
            "error: not enough space for full/out: it needs at least 5.9 MiB (6214657 bytes), \
             its filesystem has 4.0 MiB (4194304 bytes) available\n{HINT}"
        )
    );
    assert_eq!(outcome.left, Vec::<String>::new(), "unpack wrote nothing");

    // A model that fits: the tiny one.
    let dir = workspace();
    let pack = pack_args("full/m.tar", &["--compression", "none"]);
    let outcome = on_full_disk(dir.path(), &[], &pack).unwrap();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.left, ["./m.tar"]);
}

#[test]
fn a_pull_that_does_not_fit_is_refused_before_its_first_blob() {
    let registry = Registry::start(None);
    let dir = workspace();
    let tmp = dir.path();
    incompressible(tmp);
    let env = client_env(tmp);
    let target = format!("{}/full/m:1", registry.addr);
    pack_and_push(tmp, &["--compression", "none"], &target);

    let pull = ["pull", &target, "--output", "full/p.tar"];
    let Some(outcome) = on_full_disk(tmp, &env, &pull) else {
        return;
    };
    assert_eq!(outcome.code, 2);
    // The blobs to fetch, and the archive they become (the target's lock file takes a page).
    assert_eq!(
        outcome.stderr,
        format!(
            "error: not enough space for full/p.tar: it needs at least 12.0 MiB (12629750 bytes), \
             its filesystem has 4.0 MiB (4190208 bytes) available\n{HINT}"
        )
    );
    assert_eq!(outcome.left, Vec::<String>::new(), "pull wrote nothing");
}
