//! Answering a registry's challenge: basic auth, or a bearer token from its realm.

use ureq::http::{self, Response, Uri};

use super::{Client, Origin, drain, is_local, read_limited};
use crate::auth::{Challenge, Credentials, parse_challenge};
use crate::{Error, Result};

impl Client {
    pub(super) fn authorization(&self, scopes: &[String]) -> Option<String> {
        let state = self.auth.lock().expect("no panics holding the lock");
        if let Some(token) = state.tokens.get(&scopes.join(" ")) {
            return Some(format!("Bearer {token}"));
        }
        if state.basic {
            return self.credentials.as_ref().map(Credentials::basic_header);
        }
        None
    }

    /// Answers a 401's `WWW-Authenticate` challenge for `scopes`: basic auth from now on, or
    /// a bearer token from the realm.
    ///
    /// # Errors
    ///
    /// [`Error::Unauthorized`] for a challenge we cannot answer, and those of
    /// [`Client::fetch_token`].
    pub(super) fn answer_challenge(
        &self,
        resp: Response<ureq::Body>,
        scopes: &[String],
    ) -> Result<()> {
        let header = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        drain(resp);
        match header.as_deref().and_then(parse_challenge) {
            Some(Challenge::Basic) if self.credentials.is_some() => {
                self.auth.lock().expect("no panics holding the lock").basic = true;
                Ok(())
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => self.fetch_token(&realm, service.as_deref(), scopes, scope.as_deref()),
            _ => Err(self.unauthorized(401)),
        }
    }

    /// Gets a bearer token for `scopes` (or the challenge's own scope) from `realm`, and
    /// keeps it for later requests in the same scopes.
    pub(super) fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        challenge_scope: Option<&str>,
    ) -> Result<()> {
        self.check_realm(realm)?;
        let url = token_url(realm, service, scopes, challenge_scope);
        let mut builder = http::Request::builder().method("GET").uri(&url);
        if let Some(creds) = &self.credentials {
            builder = builder.header("authorization", creds.basic_header());
        }
        let request = builder.body(()).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            reason: e.to_string(),
        })?;
        let resp = self
            .agent
            .run(request)
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            drain(resp);
            return Err(self.unauthorized(status));
        }
        let body = read_limited(resp, 1 << 20).map_err(|e| self.transport_error(&e))?;
        let token = self.token_from(&body)?;
        self.auth
            .lock()
            .expect("no panics holding the lock")
            .tokens
            .insert(scopes.join(" "), token);
        Ok(())
    }

    /// Refuses a realm our credentials must not go to: not an http(s) URL without a user
    /// name, or plain HTTP to another machine (unless plain HTTP was asked for).
    fn check_realm(&self, realm: &str) -> Result<()> {
        // Parsed, not matched by prefix: `HTTP://`, `http://localhost:80@elsewhere/` and the
        // like name the host they really reach.
        let origin = realm
            .parse::<Uri>()
            .ok()
            .as_ref()
            .and_then(Origin::of)
            .ok_or_else(|| {
                self.protocol(format!(
                    "its token realm {realm:?} is not an http(s) URL without a user name"
                ))
            })?;
        if !origin.https
            && self.credentials.is_some()
            && !self.plain_http
            && !is_local(&origin.host)
        {
            return Err(Error::Insecure {
                registry: origin.host,
            });
        }
        Ok(())
    }

    /// The token in a token server's answer (`token`, or OAuth's `access_token`).
    fn token_from(&self, body: &[u8]) -> Result<String> {
        let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            reason: format!("token answer is not JSON: {e}"),
        })?;
        doc.get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::Protocol {
                registry: self.registry.clone(),
                reason: "token answer holds no token".into(),
            })
    }
}

/// The token request: the realm with the service and the scopes wanted (ours, else the
/// challenge's) as query parameters.
fn token_url(
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    challenge_scope: Option<&str>,
) -> String {
    let mut url = realm.to_owned();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    if let Some(service) = service {
        url.push_str(&format!("{sep}service={}", encode_query(service)));
        sep = '&';
    }
    let wanted: Vec<&str> = if scopes.is_empty() {
        challenge_scope.into_iter().collect()
    } else {
        scopes.iter().map(String::as_str).collect()
    };
    for scope in wanted {
        url.push_str(&format!("{sep}scope={}", encode_query(scope)));
        sep = '&';
    }
    url
}

/// Percent-encodes a query value.
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query("repository:a/b:pull,push"),
            "repository:a/b:pull%2Cpush"
        );
    }
}
