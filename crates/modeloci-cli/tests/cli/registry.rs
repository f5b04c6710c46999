//! push, pull, login and logout against a real registry that demands basic auth.

use insta::assert_snapshot;
use modeloci_tests::registry::Registry;

use crate::{fixtures, modeloci, transcript};

#[test]
fn login_push_pull_logout() {
    let registry = Registry::start(Some(("alice", "wonderland")));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    let reg = registry.addr.clone();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = modeloci(tmp);
        cmd.env("DOCKER_CONFIG", tmp.join("docker"))
            .env("XDG_CACHE_HOME", tmp.join("cache"))
            .args(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        transcript(&mut cmd, tmp).replace(&reg, "[REGISTRY]")
    };
    let golden = golden.to_str().unwrap();
    let target = format!("{reg}/private/tiny");

    assert_snapshot!(
        "push-without-login",
        run(&["push", "--archive", golden, &target], None)
    );
    assert_snapshot!(
        "login-wrong-password",
        run(
            &["login", &reg, "--username", "alice", "--password-stdin"],
            Some("mad hatter\n")
        )
    );
    assert!(
        !tmp.join("docker/config.json").exists(),
        "a failed login stores nothing"
    );
    assert_snapshot!(
        "login",
        run(
            &["login", &reg, "--username", "alice", "--password-stdin"],
            Some("wonderland\n")
        )
    );
    let config = std::fs::read_to_string(tmp.join("docker/config.json")).unwrap();
    assert!(
        config.contains("\"auth\": \"YWxpY2U6d29uZGVybGFuZA==\""),
        "{config}"
    );
    assert_snapshot!(
        "push",
        run(
            &[
                "push",
                "--archive",
                golden,
                &format!("{target}:1.0.0"),
                "--tag",
                "latest"
            ],
            None
        )
    );
    assert_snapshot!(
        "push-again-json",
        run(&["--json", "push", "--archive", golden, &target], None)
    );
    assert_snapshot!(
        "pull",
        run(
            &[
                "pull",
                &format!("{target}:latest"),
                "--output",
                "pulled.tar"
            ],
            None
        )
    );
    assert_eq!(
        std::fs::read(tmp.join("pulled.tar")).unwrap(),
        std::fs::read(golden).unwrap()
    );
    assert_snapshot!(
        "pull-unpack-json",
        run(
            &[
                "--json",
                "pull",
                &format!("{target}:1.0.0"),
                "--unpack",
                "model",
                "--include",
                "tokenizer*"
            ],
            None
        )
    );
    assert_snapshot!(
        "pull-missing",
        run(
            &[
                "pull",
                &format!("{target}:2.0.0"),
                "--output",
                "missing.tar"
            ],
            None
        )
    );
    assert_snapshot!(
        "login-json",
        run(
            &[
                "--json",
                "login",
                &reg,
                "--username",
                "alice",
                "--password-stdin"
            ],
            Some("wonderland\n")
        )
        .replace(&tmp.display().to_string(), "[TMP]")
    );
    assert_snapshot!("logout-json", run(&["--json", "logout", &reg], None));
    assert_snapshot!(
        "login-again",
        run(
            &["login", &reg, "--username", "alice", "--password-stdin"],
            Some("wonderland\n")
        )
    );
    assert_snapshot!("logout", run(&["logout", &reg], None));
    assert_snapshot!("logout-again", run(&["logout", &reg], None));
    assert_snapshot!(
        "bad-reference",
        run(&["pull", "tiny:1.0.0", "--output", "x.tar"], None)
    );
}

/// A fake `docker-credential-test` in `bin/` that keeps what `store` gives it in `helper/`
/// and records every call (`helper/calls`) and what each read on stdin.
fn fake_helper(tmp: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let state = tmp.join("helper");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(tmp.join("bin")).unwrap();
    let script = format!(
        r#"#!/bin/sh
d='{}'
echo "$1" >> "$d/calls"
case "$1" in
store) cat > "$d/store.stdin" ;;
get) cat > "$d/get.stdin"
     if [ -f "$d/stored" ]; then cat "$d/stored"; exit 0; fi
     echo "credentials not found in native keychain"; exit 1 ;;
erase) cat > "$d/erase.stdin"
       if [ ! -f "$d/stored" ]; then echo "credentials not found in native keychain"; exit 1; fi
       rm "$d/stored" ;;
*) exit 3 ;;
esac
if [ "$1" = store ]; then cp "$d/store.stdin" "$d/stored"; fi
"#,
        state.display()
    );
    let path = tmp.join("bin/docker-credential-test");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn login_and_logout_use_the_configured_credential_helper() {
    let registry = Registry::start(Some(("alice", "wonderland")));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    fake_helper(tmp);
    let reg = registry.addr.clone();
    let path = format!(
        "{}:{}",
        tmp.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = modeloci(tmp);
        cmd.env("PATH", &path)
            .env("DOCKER_CONFIG", tmp.join("docker"))
            .env("XDG_CACHE_HOME", tmp.join("cache"))
            .args(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        transcript(&mut cmd, tmp).replace(&reg, "[REGISTRY]")
    };
    let config = tmp.join("docker/config.json");
    let read_config = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap()
    };
    let state = tmp.join("helper");
    let calls = || std::fs::read_to_string(state.join("calls")).unwrap_or_default();
    std::fs::create_dir_all(tmp.join("docker")).unwrap();
    std::fs::write(
        &config,
        r#"{"credsStore": "test", "psFormat": "table", "auths": {"other.io": {"auth": "dTpw"}}}"#,
    )
    .unwrap();

    assert_eq!(
        run(
            &["login", &reg, "--username", "alice", "--password-stdin"],
            Some("wonderland\n")
        ),
        "exit: 0\n--- stdout\nLogin Succeeded: credentials for [REGISTRY] stored by \
         docker-credential-test\n--- stderr\n"
    );
    assert_eq!(calls(), "store\n");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("store.stdin")).unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({ "ServerURL": reg, "Username": "alice", "Secret": "wonderland" })
    );
    // The file keeps what it held, and only an empty entry for the registry, as docker writes.
    assert_eq!(
        read_config(),
        serde_json::json!({
            "credsStore": "test",
            "psFormat": "table",
            "auths": { "other.io": { "auth": "dTpw" }, reg.clone(): {} }
        })
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("wonderland") && !text.contains("YWxpY2U6d29uZGVybGFuZA"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The helper's credentials are the ones used.
    let golden = fixtures().join("golden/tiny-1.0.0.tar");
    let out = run(
        &[
            "push",
            "--archive",
            golden.to_str().unwrap(),
            &format!("{reg}/private/tiny"),
        ],
        None,
    );
    assert!(out.starts_with("exit: 0\n"), "{out}");
    assert!(calls().starts_with("store\nget\n"), "{}", calls());
    assert_eq!(
        std::fs::read_to_string(state.join("get.stdin")).unwrap(),
        reg
    );

    std::fs::write(state.join("calls"), "").unwrap();
    assert_eq!(
        run(&["logout", &reg], None),
        "exit: 0\n--- stdout\nRemoved the credentials for [REGISTRY] from docker-credential-test \
         and [TMP]/docker/config.json\n--- stderr\n"
    );
    assert_eq!(calls(), "erase\n");
    assert_eq!(
        std::fs::read_to_string(state.join("erase.stdin")).unwrap(),
        reg
    );
    assert_eq!(
        read_config(),
        serde_json::json!({
            "credsStore": "test",
            "psFormat": "table",
            "auths": { "other.io": { "auth": "dTpw" } }
        })
    );
    assert_eq!(
        run(&["logout", &reg], None),
        "exit: 0\n--- stdout\nNot logged in to [REGISTRY]\n--- stderr\n"
    );

    // A registry's own helper (credHelpers) takes precedence over credsStore.
    std::fs::write(
        &config,
        serde_json::json!({ "credsStore": "absent", "credHelpers": { reg.clone(): "test" } })
            .to_string(),
    )
    .unwrap();
    std::fs::write(state.join("calls"), "").unwrap();
    let out = run(
        &["login", &reg, "--username", "alice", "--password-stdin"],
        Some("wonderland\n"),
    );
    assert!(out.starts_with("exit: 0\n"), "{out}");
    assert_eq!(calls(), "store\n");
    // A helper that cannot be run is an error, and nothing is written in clear.
    std::fs::write(&config, r#"{"credsStore": "absent"}"#).unwrap();
    let out = run(
        &["login", &reg, "--username", "alice", "--password-stdin"],
        Some("wonderland\n"),
    );
    assert!(
        out.starts_with("exit: 2\n--- stdout\n--- stderr\nerror: docker-credential-absent: "),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        r#"{"credsStore": "absent"}"#
    );
}
