//! Credentials for CI and people: `--username` with `--password-stdin`, `MODELOCI_USERNAME`
//! and `MODELOCI_PASSWORD`, `login` on a terminal or not, the modes of what `login` writes,
//! and that no secret is ever printed or sent to another origin.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use modeloci_tests::fake_registry::{Auth, FakeRegistry, Script};
use modeloci_tests::registry::Registry;
use modeloci_tests::token_server::TokenRegistry;

use crate::{fixtures, modeloci};

const USER: &str = "ci-robot";
/// Distinctive, so that any output holding it is found.
const SECRET: &str = "Zq7-hunter2-S3cr3t-Xv9";
const WRONG: &str = "Wr0ng-hunter3-S3cr3t-Kp4";

/// What a run gave: exit code, stdout and stderr; never holding either secret.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(
    tmp: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
    registry: &str,
) -> Run {
    let mut cmd = modeloci(tmp);
    cmd.env("DOCKER_CONFIG", tmp.join("docker"))
        .env("XDG_CACHE_HOME", tmp.join("cache"))
        .envs(env.iter().copied())
        .args(args)
        .write_stdin(stdin.unwrap_or(""));
    let out = cmd.output().unwrap();
    let clean = |b: &[u8]| {
        let text = String::from_utf8_lossy(b).replace(registry, "[REGISTRY]");
        text.replace(&tmp.display().to_string(), "[TMP]")
    };
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
    };
    for secret in [SECRET, WRONG] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{args:?} printed a secret: {}{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

fn golden() -> String {
    fixtures()
        .join("golden/tiny-1.0.0.tar")
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn ci_pushes_and_pulls_with_credentials_from_the_environment_or_standard_input() {
    let registry = Registry::start(Some((USER, SECRET)));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let reg = registry.addr.as_str();
    let repo = format!("{reg}/ci/tiny");
    let target = format!("{repo}:1.0.0");
    let golden = golden();
    let env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", SECRET)];

    let push = run(
        tmp,
        &["push", "--archive", &golden, &target],
        &env,
        None,
        reg,
    );
    assert_eq!(push.code, 0, "{}", push.stderr);
    assert!(
        !tmp.join("docker").exists(),
        "credentials from the environment are never stored"
    );
    let args = [
        "--json",
        "pull",
        &target,
        "-o",
        "a.tar",
        "-u",
        USER,
        "--password-stdin",
    ];
    let pull = run(tmp, &args, &[], Some(&format!("{SECRET}\n")), reg);
    assert_eq!(pull.code, 0, "{}", pull.stderr);
    assert_eq!(
        std::fs::read(tmp.join("a.tar")).unwrap(),
        std::fs::read(&golden).unwrap()
    );
    // --password-stdin with the user name from the environment; --username with the
    // password from it.
    let user_env = [("MODELOCI_USERNAME", USER)];
    let args = ["pull", &target, "-o", "b.tar", "--password-stdin"];
    assert_eq!(run(tmp, &args, &user_env, Some(SECRET), reg).code, 0);
    let args = ["pull", &target, "-o", "c.tar", "--username", USER];
    assert_eq!(
        run(tmp, &args, &[("MODELOCI_PASSWORD", SECRET)], None, reg).code,
        0
    );
    // Flags win over the environment, and both over config.json.
    std::fs::create_dir_all(tmp.join("docker")).unwrap();
    let stale = base64_of(&format!("{USER}:{WRONG}"));
    std::fs::write(
        tmp.join("docker/config.json"),
        format!(r#"{{"auths":{{"{reg}":{{"auth":"{stale}"}}}}}}"#),
    )
    .unwrap();
    let wrong_env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", WRONG)];
    let args = [
        "pull",
        &target,
        "-o",
        "d.tar",
        "-u",
        USER,
        "--password-stdin",
    ];
    assert_eq!(run(tmp, &args, &wrong_env, Some(SECRET), reg).code, 0);
    let args = ["pull", &target, "-o", "e.tar"];
    assert_eq!(run(tmp, &args, &env, None, reg).code, 0);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn wrong_or_half_given_credentials_fail_with_exact_messages() {
    let registry = Registry::start(Some((USER, SECRET)));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let reg = registry.addr.as_str();
    let target = format!("{reg}/ci/tiny");
    let golden = golden();
    let push = ["push", "--archive", golden.as_str(), target.as_str()];
    let fails = |args: &[&str], env: &[(&str, &str)], stdin: Option<&str>| {
        let r = run(tmp, args, env, stdin, reg);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
        r.stderr
    };
    let refused = "error: [REGISTRY] refused access (401, with credentials)\nhint: the \
                   credentials were refused, or do not grant this access; check the user name \
                   and password (--username, --password-stdin, MODELOCI_USERNAME, \
                   MODELOCI_PASSWORD) or log in again with `modeloci login [REGISTRY]`\n";
    let wrong_env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", WRONG)];
    assert_eq!(fails(&push, &wrong_env, None), refused);
    let mut with_flags = push.to_vec();
    with_flags.extend(["--username", USER, "--password-stdin"]);
    assert_eq!(
        fails(&with_flags, &[], Some(&format!("{WRONG}\n"))),
        refused
    );
    assert_eq!(
        fails(&push, &[("MODELOCI_USERNAME", USER)], None),
        "error: MODELOCI_USERNAME is set but MODELOCI_PASSWORD is not (or is empty): set both, \
         or neither\n"
    );
    assert_eq!(
        fails(
            &push,
            &[("MODELOCI_USERNAME", ""), ("MODELOCI_PASSWORD", SECRET)],
            None
        ),
        "error: MODELOCI_PASSWORD is set but MODELOCI_USERNAME is not (or is empty): set both, \
         or neither\n"
    );
    let mut stdin_only = push.to_vec();
    stdin_only.push("--password-stdin");
    assert_eq!(
        fails(&stdin_only, &[], Some(SECRET)),
        "error: --password-stdin needs a user name: pass --username USER or set \
         MODELOCI_USERNAME\n"
    );
    let mut user_only = push.to_vec();
    user_only.extend(["--username", USER]);
    assert_eq!(
        fails(&user_only, &[], None),
        "error: --username needs a password: pass --password-stdin and write it on standard \
         input, or set MODELOCI_PASSWORD\n"
    );
    assert_eq!(
        fails(&with_flags, &[], Some("\n")),
        "error: no password on standard input\n"
    );
    let mut empty_user = push.to_vec();
    empty_user.extend(["--username", "", "--password-stdin"]);
    assert_eq!(
        fails(&empty_user, &[], Some(SECRET)),
        "error: --username is empty\n"
    );
    assert_eq!(
        fails(&push, &[], None),
        "error: [REGISTRY] refused access (401, without credentials)\nhint: log in with \
         `modeloci login [REGISTRY]`, or pass --username USER --password-stdin; in CI, set \
         MODELOCI_USERNAME and MODELOCI_PASSWORD\n"
    );
    let login = ["login", reg, "--username", USER, "--password-stdin"];
    assert_eq!(fails(&login, &[], Some(WRONG)), refused);
    assert!(
        !tmp.join("docker").exists(),
        "a failed login stores nothing"
    );
}

#[test]
fn login_without_a_terminal_names_the_ways_to_give_a_password() {
    let registry = Registry::start(Some((USER, SECRET)));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let reg = registry.addr.as_str();
    let r = run(tmp, &["login", reg, "--username", USER], &[], None, reg);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            2,
            "error: no password: standard input is not a terminal to ask on; pass \
             --password-stdin and write the password on standard input, or set \
             MODELOCI_PASSWORD\n"
        )
    );
    let r = run(
        tmp,
        &["login", reg, "--password-stdin"],
        &[],
        Some(SECRET),
        reg,
    );
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            2,
            "error: no user name: pass --username USER or set MODELOCI_USERNAME\n"
        )
    );
    assert!(!tmp.join("docker").exists());

    // From the environment, into a fresh $DOCKER_CONFIG: 0700, config.json 0600. The host may
    // carry a scheme.
    let env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", SECRET)];
    let host = format!("http://{reg}/");
    let r = run(tmp, &["login", &host], &env, None, reg);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            0,
            "Login Succeeded: credentials for [REGISTRY] stored in [TMP]/docker/config.json\n",
            ""
        )
    );
    assert_eq!(mode(&tmp.join("docker")), 0o700);
    assert_eq!(mode(&tmp.join("docker/config.json")), 0o600);
    let config = std::fs::read_to_string(tmp.join("docker/config.json")).unwrap();
    assert!(
        config.contains(&base64_of(&format!("{USER}:{SECRET}"))),
        "{config}"
    );
    let push = ["push", "--archive", &golden(), &format!("{reg}/ci/tiny")];
    assert_eq!(run(tmp, &push, &[], None, reg).code, 0);

    // A directory the user made is left as it is, and named when others may write to it.
    use std::os::unix::fs::PermissionsExt;
    let open = tmp.join("docker");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = run(tmp, &["login", reg], &env, None, reg);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            0,
            "warning: [TMP]/docker is writable by other users (mode 0777), who could replace \
             config.json: chmod 700 it, as docker makes it\n"
        )
    );
    assert_eq!(mode(&open), 0o777);
    assert_eq!(mode(&open.join("config.json")), 0o600);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Reads `from` until `text` has arrived; everything read so far.
fn read_until(from: &mut impl Read, seen: &mut String, text: &str) {
    let mut buf = [0u8; 256];
    while !seen.contains(text) {
        let n = from.read(&mut buf).unwrap();
        assert!(n > 0, "ended before {text:?}: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn login_on_a_terminal_asks_and_never_echoes_the_password() {
    let registry = Registry::start(Some((USER, SECRET)));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let reg = registry.addr.as_str();
    let bin = assert_cmd::cargo::cargo_bin!("modeloci");
    // util-linux `script` runs the command on a pseudo-terminal fed from its stdin.
    let mut child = Process::new("script")
        .args([
            "-qec",
            &format!("{} login {reg}", bin.display()),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DOCKER_CONFIG", tmp.join("docker"))
        .current_dir(tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    read_until(&mut stdout, &mut seen, "Username: ");
    stdin.write_all(format!("{USER}\n").as_bytes()).unwrap();
    // Echo is off before this prompt shows.
    read_until(&mut stdout, &mut seen, "Password: ");
    stdin.write_all(format!("{SECRET}\n").as_bytes()).unwrap();
    read_until(&mut stdout, &mut seen, "Login Succeeded");
    drop(stdin);
    stdout.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    let seen = seen.replace('\r', "").replace(reg, "[REGISTRY]");
    assert!(status.success(), "{seen}");
    assert!(!seen.contains(SECRET), "the password was echoed: {seen:?}");
    assert_eq!(
        seen.replace(&tmp.display().to_string(), "[TMP]"),
        format!(
            "Username: {USER}\nPassword: \nLogin Succeeded: credentials for [REGISTRY] stored \
             in [TMP]/docker/config.json\n"
        )
    );
    let config = std::fs::read_to_string(tmp.join("docker/config.json")).unwrap();
    assert!(config.contains(&base64_of(&format!("{USER}:{SECRET}"))));
}

/// Pushes (upload sessions on the storage listener) and pulls (blobs redirected there) the
/// golden archive through the CLI with the credentials `how` gives: the storage listener on
/// 127.0.0.2, another origin, never receives an `Authorization`.
fn credentials_stay_with_the_registry(auth: Auth, how: &[&str], env: &[(&str, &str)]) {
    let fake = FakeRegistry::start(Script {
        auth,
        ..Script::default()
    });
    let storage = format!("http://{}", fake.storage);
    fake.script(|s| {
        s.upload_origin = Some(storage.clone());
        s.redirect_blobs = Some(storage.clone());
    });
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let target = format!("{}/ci/tiny:1", fake.addr);
    let stdin = how.contains(&"--password-stdin").then_some(SECRET);
    let mut push = vec!["push", "--archive", "G", &target];
    let golden = golden();
    push[2] = &golden;
    push.extend(how);
    let r = run(tmp, &push, env, stdin, &fake.addr);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut pull = vec!["pull", &target, "-o", "p.tar"];
    pull.extend(how);
    let r = run(tmp, &pull, env, stdin, &fake.addr);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(tmp.join("p.tar")).unwrap(),
        std::fs::read(&golden).unwrap()
    );
    let at_storage = fake.requests_to(&fake.storage);
    let methods = |m: &str| at_storage.iter().filter(|s| s.method == m).count();
    assert!(methods("PUT") >= 3 && methods("GET") >= 3, "{at_storage:?}");
    assert!(
        at_storage.iter().all(|s| s.authorization.is_none()),
        "credentials reached another origin: {at_storage:?}"
    );
    assert!(
        fake.requests_to(&fake.addr)
            .iter()
            .any(|s| s.authorization.is_some()),
        "the registry itself got them"
    );
}

#[test]
fn credentials_from_the_environment_never_follow_a_location_to_another_origin() {
    let env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", SECRET)];
    credentials_stay_with_the_registry(Auth::Basic(USER.into(), SECRET.into()), &[], &env);
    credentials_stay_with_the_registry(Auth::Bearer(USER.into(), SECRET.into()), &[], &env);
}

#[test]
fn credentials_from_standard_input_never_follow_a_location_to_another_origin() {
    let how = ["--username", USER, "--password-stdin"];
    credentials_stay_with_the_registry(Auth::Basic(USER.into(), SECRET.into()), &how, &[]);
    credentials_stay_with_the_registry(Auth::Bearer(USER.into(), SECRET.into()), &how, &[]);
}

#[test]
fn a_refused_token_request_prints_no_secret() {
    let fake = FakeRegistry::start(Script {
        auth: Auth::Bearer(USER.into(), SECRET.into()),
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let target = format!("{}/ci/tiny:1", fake.addr);
    let env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", WRONG)];
    for json in [false, true] {
        let mut args = vec!["pull", target.as_str(), "-o", "p.tar"];
        if json {
            args.insert(0, "--json");
        }
        let r = run(tmp, &args, &env, None, &fake.addr);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr
                .starts_with("error: [REGISTRY] refused access (401, with credentials)\n"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn bearer_tokens_from_a_token_server_for_ci_credentials_with_the_real_registry() {
    let registry = TokenRegistry::start(USER, SECRET);
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let reg = registry.addr.as_str();
    let golden = golden();
    let env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", SECRET)];
    let push = [
        "push",
        "--archive",
        golden.as_str(),
        &format!("{reg}/ci/tiny:1.0.0"),
    ];
    let r = run(tmp, &push, &env, None, reg);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, registry.log());
    let target = format!("{reg}/ci/tiny:1.0.0");
    let pull = [
        "pull",
        &target,
        "-o",
        "p.tar",
        "-u",
        USER,
        "--password-stdin",
    ];
    let r = run(tmp, &pull, &[], Some(SECRET), reg);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, registry.log());
    assert_eq!(
        std::fs::read(tmp.join("p.tar")).unwrap(),
        std::fs::read(&golden).unwrap()
    );
    let basic = format!("Basic {}", base64_of(&format!("{USER}:{SECRET}")));
    let asked = registry.token_requests();
    assert!(
        asked
            .iter()
            .all(|t| t.authorization.as_deref() == Some(basic.as_str())),
        "{asked:?}"
    );
    let scopes: Vec<&str> = asked
        .iter()
        .flat_map(|t| &t.scopes)
        .map(String::as_str)
        .collect();
    assert!(
        scopes.contains(&"repository:ci/tiny:pull,push"),
        "{scopes:?}"
    );
    assert!(scopes.contains(&"repository:ci/tiny:pull"), "{scopes:?}");

    let r = run(tmp, &["login", reg], &env, None, reg);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !std::fs::read_to_string(tmp.join("docker/config.json"))
            .unwrap()
            .contains("eyJ"),
        "a token is never stored, only the credentials"
    );

    let wrong = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", WRONG)];
    let pull = ["pull", &target, "-o", "q.tar"];
    let r = run(tmp, &pull, &wrong, None, reg);
    assert_eq!(
        (r.code, r.stderr.lines().next()),
        (
            2,
            Some("error: [REGISTRY] refused access (401, with credentials)")
        )
    );
    // A token server that fails and echoes what it got: nothing of it is printed.
    registry.fail_tokens();
    for args in [&pull[..], &["--json", "pull", &target, "-o", "q.tar"][..]] {
        let r = run(tmp, args, &env, None, reg);
        assert_eq!(
            (r.code, r.stderr.lines().next()),
            (
                2,
                Some("error: [REGISTRY] refused access (500, with credentials)")
            )
        );
        for text in [&r.stdout, &r.stderr] {
            assert!(
                !text.contains("Basic") && !text.contains(&basic[6..]),
                "{text}"
            );
        }
    }
}

/// `copy` with CI credentials: they are the destination's, and a source on another registry
/// (here anonymous) never receives them.
#[test]
fn copy_gives_ci_credentials_to_the_destination_and_never_to_another_source() {
    let source = FakeRegistry::start(Script::default());
    let target = Registry::start(Some((USER, SECRET)));
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let from = format!("{}/models/tiny:1.0.0", source.addr);
    let to = format!("{}/copied/tiny:1.0.0", target.addr);
    let push = run(
        tmp,
        &["push", "--archive", &golden(), &from],
        &[],
        None,
        "-",
    );
    assert_eq!(push.code, 0, "{}", push.stderr);

    let env = [("MODELOCI_USERNAME", USER), ("MODELOCI_PASSWORD", SECRET)];
    let copy = run(tmp, &["copy", &from, &to], &env, None, "-");
    assert_eq!(copy.code, 0, "{}", copy.stderr);
    let seen = source.requests();
    assert!(
        seen.iter()
            .any(|r| r.method == "GET" && r.path.contains("/blobs/"))
    );
    assert!(
        seen.iter().all(|r| r.authorization.is_none()),
        "the source registry received an Authorization: {seen:?}"
    );
    let pull = [
        "pull",
        to.as_str(),
        "-o",
        "back.tar",
        "-u",
        USER,
        "--password-stdin",
    ];
    let back = run(tmp, &pull, &[], Some(SECRET), "-");
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        std::fs::read(tmp.join("back.tar")).unwrap(),
        std::fs::read(golden()).unwrap()
    );
}
