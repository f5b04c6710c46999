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
            &["push", "--archive", golden, &target, "--tag", "latest"],
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
