//! A small client for the same API, so one piece of calling code drives the embedded
//! proxy and the real Toxiproxy image (compose profile) alike.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::ProxyError;
use super::proxies::ProxyInfo;
use super::toxic::Toxic;

/// How long any one call may take, answer included.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of one Toxiproxy-compatible API, e.g. `http://127.0.0.1:8474`.
#[derive(Clone, Debug)]
pub struct ProxyClient {
    /// Without a trailing slash.
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl ProxyClient {
    pub fn new(base: &str) -> Result<Self, ProxyError> {
        let base = base.trim_end_matches('/');
        let invalid = |reason: &str| ProxyError::Url {
            url: base.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = base.parse().map_err(|_| invalid("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("only http:// is supported"));
        }
        if uri.authority().is_none() {
            return Err(invalid("no host"));
        }
        if uri.query().is_some() {
            return Err(invalid("a base URL has no query"));
        }
        Ok(Self {
            base: base.to_string(),
            http: Client::builder(TokioExecutor::new()).build_http(),
            timeout: CALL_TIMEOUT,
        })
    }

    /// Replaces the per-call timeout (5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The server's version (Toxiproxy answers JSON since 2.1, plain text before).
    pub async fn version(&self) -> Result<String, ProxyError> {
        let body = self.call(Method::GET, "/version", None).await?;
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        Ok(match serde_json::from_slice::<Version>(&body) {
            Ok(parsed) => parsed.version,
            Err(_) => String::from_utf8_lossy(&body).trim().to_string(),
        })
    }

    /// Creates an enabled proxy; the answer has its listen address, a port 0 resolved.
    pub async fn create(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<ProxyInfo, ProxyError> {
        let body = json!({"name": name, "listen": listen, "upstream": upstream, "enabled": true});
        self.call_json(Method::POST, "/proxies", Some(body)).await
    }

    pub async fn get(&self, name: &str) -> Result<ProxyInfo, ProxyError> {
        self.call_json(Method::GET, &proxy_path(name), None).await
    }

    /// Disabling closes the proxy's listener and its connections; enabling listens again
    /// on the same address.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyInfo, ProxyError> {
        // POST, not PATCH: every Toxiproxy 2.x takes it.
        self.call_json(
            Method::POST,
            &proxy_path(name),
            Some(json!({"enabled": enabled})),
        )
        .await
    }

    pub async fn delete(&self, name: &str) -> Result<(), ProxyError> {
        self.call(Method::DELETE, &proxy_path(name), None)
            .await
            .map(drop)
    }

    /// Adds a toxic; the answer is the toxic as stored (its name filled if it had none).
    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<Toxic, ProxyError> {
        let body = serde_json::to_value(toxic).map_err(|e| ProxyError::Protocol {
            addr: self.base.clone(),
            reason: format!("cannot encode the toxic: {e}"),
        })?;
        let path = format!("{}/toxics", proxy_path(proxy));
        self.call_json(Method::POST, &path, Some(body)).await
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ProxyError> {
        let path = format!("{}/toxics/{}", proxy_path(proxy), encode(toxic));
        self.call(Method::DELETE, &path, None).await.map(drop)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ProxyError> {
        self.call(Method::POST, "/reset", None).await.map(drop)
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ProxyError> {
        let request = format!("{method} {path}");
        let body = self.call(method, path, body).await?;
        serde_json::from_slice(&body).map_err(|e| ProxyError::Protocol {
            addr: self.base.clone(),
            reason: format!("{request}: unreadable answer: {e}"),
        })
    }

    /// The body of a 2xx answer; any other status is the API's error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Bytes, ProxyError> {
        let request = format!("{method} {path}");
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let (status, answer) = self.send(method, path, body).await?;
        if status.is_success() {
            return Ok(answer);
        }
        #[derive(Deserialize)]
        struct Error {
            error: String,
        }
        let message = match serde_json::from_slice::<Error>(&answer) {
            Ok(error) => error.error,
            Err(_) => String::from_utf8_lossy(&answer).trim().to_string(),
        };
        Err(ProxyError::Api {
            request,
            status: status.as_u16(),
            message,
        })
    }

    /// One request and its whole answer, within the timeout.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ProxyError> {
        let what = format!("{method} {path}");
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "aura-fault-proxy-client")
            .body(Full::new(body))
            .map_err(|e| ProxyError::Url {
                url: format!("{}{path}", self.base),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ProxyError::Connect {
                    addr: self.base.clone(),
                    reason: causes(&e),
                })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ProxyError::Connect {
                    addr: self.base.clone(),
                    reason: causes(&e),
                })?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ProxyError::Timeout {
                addr: self.base.clone(),
                request: what,
                timeout: self.timeout,
            })?
    }
}

fn proxy_path(name: &str) -> String {
    format!("/proxies/{}", encode(name))
}

/// Percent-encodes a path segment: a name may hold any character.
fn encode(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// An error and its causes, one after another ("client error (Connect): tcp connect
/// error: Connection refused").
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            ProxyClient::new("http://127.0.0.1:8474/").unwrap().base(),
            "http://127.0.0.1:8474"
        );
        for bad in [
            "",
            "127.0.0.1:8474",
            "https://toxiproxy:8474",
            "http://",
            "not a url",
            "http://h:1/?q=1",
        ] {
            assert!(
                matches!(ProxyClient::new(bad), Err(ProxyError::Url { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_are_encoded_as_one_segment() {
        assert_eq!(encode("redis-main_1.x~"), "redis-main_1.x~");
        assert_eq!(encode("a/b c?d"), "a%2Fb%20c%3Fd");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
