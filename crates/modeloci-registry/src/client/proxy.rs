//! Which proxy a registry is reached through, decided once per client from the environment
//! as curl reads it: `https_proxy` / `HTTPS_PROXY` for HTTPS, `http_proxy` / `HTTP_PROXY`
//! for plain HTTP, `all_proxy` / `ALL_PROXY` for either, and `no_proxy` / `NO_PROXY` to
//! bypass them (a comma list of host names, domain suffixes, IP addresses, each with an
//! optional `:port`, or `*` for every host). Like Docker, a loopback host is never proxied.
//! The proxy is spoken to with `CONNECT`; the only credentials it sees are those of its own
//! URL's user information, as `Proxy-Authorization`.

use ureq::Proxy;

/// The proxy URL for `registry` (`host[:port]`) under `env`.
pub(crate) fn proxy_url(
    https: bool,
    registry: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let url = if https {
        get(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
    } else {
        get(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"])
    }?;
    let (host, port) = split(registry, if https { 443 } else { 80 });
    if super::is_local(registry) {
        return None;
    }
    let bypass = get(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
    if bypass
        .split(',')
        .any(|e| no_proxy_matches(e.trim(), &host, port))
    {
        return None;
    }
    Some(url.trim().to_owned())
}

/// The proxy for `registry` from the process's environment.
pub(crate) fn from_env(https: bool, registry: &str) -> Option<Proxy> {
    proxy_url(https, registry, |n| std::env::var(n).ok()).and_then(|u| Proxy::new(&u).ok())
}

/// Lower-case host (brackets of IPv6 removed) and port.
fn split(hostport: &str, default: u16) -> (String, u16) {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').unwrap_or((rest, ""));
        (h, tail.strip_prefix(':'))
    } else if hostport.matches(':').count() == 1 {
        let (h, p) = hostport.split_once(':').unwrap_or((hostport, ""));
        (h, Some(p))
    } else {
        (hostport, None)
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default);
    (host.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// Whether one `NO_PROXY` entry covers `host:port`: `*`; a name that is the host or a
/// domain it is in (a leading `.` or `*.` is the same); an exact IP address.
fn no_proxy_matches(entry: &str, host: &str, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if entry.is_empty() {
        return false;
    }
    let (name, entry_port) = split(entry, 0);
    if entry_port != 0 && entry_port != port {
        return false;
    }
    let name = name.trim_start_matches('*').trim_start_matches('.');
    !name.is_empty()
        && (host == name
            || (host.parse::<std::net::IpAddr>().is_err()
                && host.ends_with(name)
                && host[..host.len() - name.len()].ends_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_scheme_chooses_the_variable() {
        let env = [
            ("HTTPS_PROXY", "http://tls-proxy:3128"),
            ("http_proxy", "http://plain-proxy:3128"),
        ];
        let got = |https, reg| proxy_url(https, reg, with(&env));
        assert_eq!(
            got(true, "ghcr.io").as_deref(),
            Some("http://tls-proxy:3128")
        );
        assert_eq!(
            got(false, "ghcr.io").as_deref(),
            Some("http://plain-proxy:3128")
        );
        assert_eq!(
            got(true, "localhost:5000"),
            None,
            "loopback is never proxied"
        );
        assert_eq!(got(true, "127.0.0.1:5000"), None);
        assert_eq!(got(true, "[::1]:5000"), None);
        let all = [("ALL_PROXY", "http://all:1")];
        assert_eq!(
            proxy_url(false, "ghcr.io", with(&all)).as_deref(),
            Some("http://all:1")
        );
        assert_eq!(proxy_url(true, "ghcr.io", with(&[])), None);
    }

    #[test]
    fn no_proxy_lists_hosts_domains_ports_and_everything() {
        let cases = [
            ("ghcr.io", "ghcr.io", true),
            ("ghcr.io", "GHCR.IO:443", true),
            ("example.com", "registry.example.com", true),
            (".example.com", "registry.example.com", true),
            ("*.example.com", "registry.example.com", true),
            ("example.com", "badexample.com", false),
            ("example.com:5000", "example.com:5000", true),
            ("example.com:5000", "example.com", false),
            ("10.0.0.1", "10.0.0.1:5000", true),
            ("0.0.1", "10.0.0.1", false),
            ("*", "anything.at.all", true),
            ("", "ghcr.io", false),
            ("other.org, ghcr.io", "ghcr.io", true),
        ];
        for (no_proxy, registry, bypassed) in cases {
            let env = [("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no_proxy)];
            assert_eq!(
                proxy_url(true, registry, with(&env)).is_none(),
                bypassed,
                "NO_PROXY={no_proxy:?} for {registry}"
            );
        }
    }
}
