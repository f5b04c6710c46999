//! Answering a registry's challenge: basic auth, or a bearer token from its realm.

use ureq::http::{self, Uri};

use super::{Client, Origin, drain, is_local, read_limited};
use crate::auth::Credentials;
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

    pub(super) fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        challenge_scope: Option<&str>,
    ) -> Result<()> {
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
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                registry: self.registry.clone(),
                reason: format!("token answer is not JSON: {e}"),
            })?;
        let token = doc
            .get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Error::Protocol {
                registry: self.registry.clone(),
                reason: "token answer holds no token".into(),
            })?;
        self.auth
            .lock()
            .expect("no panics holding the lock")
            .tokens
            .insert(scopes.join(" "), token.to_owned());
        Ok(())
    }
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
