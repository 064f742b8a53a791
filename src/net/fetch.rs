//! A bounded GET for media the sidecar fetches on a caller's behalf (`media.url` of a send).
//!
//! http and https only; the target and every redirect target pass the [`NetPolicy`] (literals
//! before the request, names when they resolve); the body is refused as soon as it passes
//! `max_bytes` (declared or streamed); the whole fetch has a timeout. Only a 2xx body is ever
//! returned: a refused or failing target yields an error that carries no part of its body, so
//! nothing an internal service says can be stored or echoed.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use url::Url;

use super::guard::{GuardedResolver, NetPolicy, Refused, ResolveError};

/// Redirects followed at most (each one checked like the first URL).
pub const MAX_REDIRECTS: usize = 5;
/// Timeout of [`fetch_limited`] (the whole fetch, body included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A fetched body and its declared type.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("media URL must use http or https, not {0:?}")]
    Scheme(String),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("fetch failed: {0}")]
    Transport(String),
}

#[derive(Debug, thiserror::Error)]
#[error("redirect to a {0:?} URL")]
struct BadRedirectScheme(String);

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

/// A reusable client with the guard built in. Build one per policy and share it.
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<NetPolicy>,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(policy: Arc<NetPolicy>, timeout: Duration) -> Result<Self, FetchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let check = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(TooManyRedirects);
            }
            let next = attempt.url();
            if !matches!(next.scheme(), "http" | "https") {
                let scheme = next.scheme().to_owned();
                return attempt.error(BadRedirectScheme(scheme));
            }
            match check.check_url(next) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirects)
            // A proxy would resolve and connect for us, past the guard.
            .no_proxy()
            .dns_resolver(GuardedResolver::new(policy.clone()))
            .build()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Ok(Self { client, policy, timeout })
    }

    /// GET `url`, at most `max_bytes` of body.
    pub async fn fetch_limited(&self, url: &Url, max_bytes: u64) -> Result<Fetched, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(url.scheme().to_owned()));
        }
        self.policy.check_url(url)?;
        let request = self
            .client
            .get(url.clone())
            .header(USER_AGENT, crate::callbacks::deliver::USER_AGENT_VALUE);
        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(FetchError::TooLarge { limit: max_bytes });
        }
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if bytes.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(FetchError::TooLarge { limit: max_bytes });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched { bytes, content_type })
    }

    /// A refusal anywhere in the error's causes (resolver or redirect policy) is a refusal.
    fn classify(&self, e: &reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Refused>() {
                return FetchError::Refused(r.clone());
            }
            if let Some(ResolveError::Refused(r)) = s.downcast_ref::<ResolveError>() {
                return FetchError::Refused(r.clone());
            }
            if s.downcast_ref::<TooManyRedirects>().is_some() {
                return FetchError::TooManyRedirects;
            }
            if let Some(BadRedirectScheme(scheme)) = s.downcast_ref::<BadRedirectScheme>() {
                return FetchError::Scheme(scheme.clone());
            }
            source = s.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout(self.timeout);
        }
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        FetchError::Transport(text)
    }
}

/// One bounded fetch with its own client (see [`Fetcher`] to reuse one for many fetches).
pub async fn fetch_limited(
    url: &Url,
    max_bytes: u64,
    policy: &NetPolicy,
) -> Result<Fetched, FetchError> {
    Fetcher::new(Arc::new(policy.clone()), DEFAULT_TIMEOUT)?.fetch_limited(url, max_bytes).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::net::guard::Class;

    /// A loopback HTTP server answering every request with `response`; counts connections.
    async fn server(response: String) -> (u16, Arc<AtomicUsize>) {
        server_on("127.0.0.1", response).await
    }

    async fn server_on(ip: &str, response: String) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (port, hits)
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[tokio::test]
    async fn fetches_a_body_within_the_bound_when_private_targets_are_allowed() {
        let (port, _) = server(ok("PNGDATA")).await;
        let got = fetch_limited(
            &url(&format!("http://127.0.0.1:{port}/a.png")),
            100,
            &NetPolicy::permissive(),
        )
        .await
        .unwrap();
        assert_eq!(got.bytes, b"PNGDATA");
        assert_eq!(got.content_type.as_deref(), Some("image/png"));
    }

    #[tokio::test]
    async fn internal_targets_are_refused_before_any_connection() {
        let (port, hits) = server(ok("{\"internal_admin_token\":\"SECRET\"}")).await;
        let strict = NetPolicy::strict();
        for raw in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://0x7f000001:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            // A name: refused when it resolves, by the client's resolver.
            format!("http://localhost:{port}/"),
        ] {
            let err = fetch_limited(&url(&raw), 1000, &strict).await.unwrap_err();
            assert!(
                matches!(&err, FetchError::Refused(r) if r.class == Class::Loopback),
                "{raw}: {err}"
            );
            assert!(!err.to_string().contains("SECRET"));
        }
        // The name check happens in the resolver, not only on the URL text.
        let fetcher = Fetcher::new(Arc::new(strict), DEFAULT_TIMEOUT).unwrap();
        let name = url(&format!("http://localhost:{port}/"));
        let via_client = fetcher.client.get(name).send().await.unwrap_err();
        assert!(matches!(fetcher.classify(&via_client), FetchError::Refused(_)));
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was ever made");
    }

    #[tokio::test]
    async fn a_body_past_the_bound_is_refused_declared_or_streamed() {
        let (port, _) = server(ok(&"x".repeat(5000))).await;
        let open = NetPolicy::permissive();
        let target = url(&format!("http://127.0.0.1:{port}/big"));
        let err = fetch_limited(&target, 4999, &open).await.unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { limit: 4999 }), "{err}");
        // No Content-Length: counted while streaming.
        let body = "y".repeat(5000);
        let (port, _) = server(format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{body}")).await;
        let target = url(&format!("http://127.0.0.1:{port}/stream"));
        let err = fetch_limited(&target, 1000, &open).await.unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { limit: 1000 }), "{err}");
    }

    #[tokio::test]
    async fn a_redirect_to_an_internal_address_is_not_followed() {
        let (inner_port, inner_hits) = server_on("127.0.0.2", ok("SECRET")).await;
        // The first hop is allowed by CIDR (standing in for a public host); its redirect is not.
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.2:{inner_port}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (port, _) = server(redirect).await;
        let policy =
            NetPolicy { allow_private: false, allow: vec!["127.0.0.1/32".parse().unwrap()] };
        let err = fetch_limited(&url(&format!("http://127.0.0.1:{port}/")), 100, &policy)
            .await
            .unwrap_err();
        assert!(matches!(&err, FetchError::Refused(r) if r.class == Class::Loopback), "{err}");
        assert_eq!(inner_hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn errors_and_other_schemes_carry_no_body() {
        let (port, _) = server(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\nconnection: close\r\n\r\nSECRET".into(),
        )
        .await;
        let err = fetch_limited(
            &url(&format!("http://127.0.0.1:{port}/")),
            100,
            &NetPolicy::permissive(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, FetchError::Status(403)));
        assert!(!err.to_string().contains("SECRET"));
        let err = fetch_limited(&url("file:///etc/passwd"), 100, &NetPolicy::permissive())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Scheme(_)));
    }
}
