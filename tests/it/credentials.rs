//! Credentials through the library against the real registry demanding bearer tokens from a
//! token server (Distribution's `auth: token:`): refused without them or with wrong ones,
//! push and pull with them, and what `config.json` stores is what the client then sends.

use modeloci_archive::Archive;
use modeloci_registry::{
    Client, ClientOptions, Credentials, DockerConfig, PullOptions, PullTarget, PushOptions,
    Reference, pull, push,
};
use modeloci_tests::token_server::TokenRegistry;

use crate::fixtures;

fn client(addr: &str, credentials: Option<Credentials>) -> Client {
    Client::new(addr, ClientOptions::default().with_credentials(credentials))
}

#[test]
fn a_real_registry_with_token_auth_takes_the_credentials_config_json_holds() {
    let registry = TokenRegistry::start("robot", "t0ken-s3cret");
    let archive = Archive::open(&fixtures().join("golden/tiny-1.0.0.tar")).unwrap();
    let r: Reference = format!("{}/team/tiny", registry.addr).parse().unwrap();
    let err = push(
        &client(&registry.addr, None),
        &archive,
        &r,
        &PushOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} refused access (401, without credentials)",
            registry.addr
        )
    );
    let wrong = Some(Credentials::new("robot", "wrong"));
    let err = push(
        &client(&registry.addr, wrong),
        &archive,
        &r,
        &PushOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} refused access (401, with credentials)", registry.addr)
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker/config.json");
    let mut config = DockerConfig::load(&path).unwrap();
    config
        .store(&r.registry, &Credentials::new("robot", "t0ken-s3cret"))
        .unwrap();
    let stored = DockerConfig::load(&path)
        .unwrap()
        .credentials(&r.registry)
        .unwrap();
    let authed = client(&registry.addr, stored);
    authed.ping().unwrap();
    push(
        &authed,
        &archive,
        &r.with_tag("1.0.0"),
        &PushOptions::default(),
    )
    .unwrap();
    let out = dir.path().join("a.tar");
    pull(
        &authed,
        &r.with_tag("1.0.0"),
        &PullTarget::Archive(out.clone()),
        &PullOptions::default(),
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(archive.path()).unwrap());
    // Anonymous and wrong tries asked too; the stored credentials got the scopes pushing
    // and pulling need.
    let basic = "Basic cm9ib3Q6dDBrZW4tczNjcmV0"; // robot:t0ken-s3cret
    let granted: Vec<_> = registry
        .token_requests()
        .into_iter()
        .filter(|t| t.authorization.as_deref() == Some(basic))
        .flat_map(|t| t.scopes)
        .collect();
    for scope in [
        "repository:team/tiny:pull,push",
        "repository:team/tiny:pull",
    ] {
        assert!(granted.iter().any(|s| s == scope), "{granted:?}");
    }
}
