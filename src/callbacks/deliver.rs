//! One delivery attempt: sign the stored body, POST it, report what happened. No redirects are
//! followed (a 3xx is a failed attempt, per Standard Webhooks); the whole attempt has a timeout.
//! The target passes the outbound policy ([`crate::net`]) when the socket is opened: an IP
//! literal before the request, a name through the client's guarded resolver.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::policy::parse_retry_after;
use super::sign::Signer;
use crate::net::{GuardedResolver, NetPolicy};

pub const USER_AGENT_VALUE: &str = concat!("wa-sidecar/", env!("CARGO_PKG_VERSION"));

/// Keep this much of a failing response body for the attempt log.
const ERROR_BODY_LIMIT: usize = 512;

/// Read at most this much of a 2xx body (ignored) so keep-alive connections are reused.
const DRAIN_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// What one attempt produced.
#[derive(Debug, Clone, Default)]
pub struct AttemptOutcome {
    pub status: Option<u16>,
    /// Transport error, or the start of a non-2xx body.
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    pub duration: Duration,
}

pub struct Deliverer {
    client: reqwest::Client,
    signer: Signer,
    net: Arc<NetPolicy>,
}

impl Deliverer {
    pub fn new(
        signer: Signer,
        timeout: Duration,
        net: Arc<NetPolicy>,
    ) -> Result<Self, ClientError> {
        // Tolerates a provider installed earlier by another part of the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve and connect for us, past the guard.
            .no_proxy()
            .dns_resolver(GuardedResolver::new(net.clone()))
            .build()?;
        Ok(Self { client, signer, net })
    }

    pub async fn attempt(&self, url: &str, id: &str, body: &str) -> AttemptOutcome {
        let started = Instant::now();
        // reqwest dials IP literals without asking the resolver: check them here.
        if let Some(refused) =
            url::Url::parse(url).ok().and_then(|u| self.net.check_literal(&u).err())
        {
            return AttemptOutcome {
                status: None,
                error: Some(format!("refused: {refused}")),
                retry_after: None,
                duration: started.elapsed(),
            };
        }
        let timestamp =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string());
        let owner = self.owner(body).await;
        let owner = owner.as_ref().map(|o| (o.workspace.as_str(), o.session.as_str()));
        let signature = self.signer.webhook_signature_for(owner, id, timestamp, body.as_bytes());
        if !signature.is_empty() {
            request = request.header("webhook-signature", signature);
        }
        if let Some(spatie) = self.signer.spatie_signature_for(owner, body.as_bytes()) {
            request = request.header("Signature", spatie);
        }
        let (status, error, retry_after) = match request.body(body.to_owned()).send().await {
            Ok(response) => read_response(response).await,
            Err(e) => (None, Some(describe(&e.without_url())), None),
        };
        AttemptOutcome { status, error, retry_after, duration: started.elapsed() }
    }
}

/// Whose event a body is: the outbox wrote it, with `workspace` and `session` at the top.
#[derive(serde::Deserialize)]
struct Owner {
    workspace: String,
    session: String,
}

impl Deliverer {
    /// The session an event belongs to, when some session has its own secret (read again from the
    /// database, off the async threads, when the copy in memory is older than a second).
    async fn owner(&self, body: &str) -> Option<Owner> {
        if self.signer.sessions_stale() {
            let signer = self.signer.clone();
            let reloaded = tokio::task::spawn_blocking(move || {
                signer.reload_sessions(super::session_secrets::read)
            })
            .await;
            if let Ok(Err(e)) = reloaded {
                tracing::warn!(error = %e, "cannot read the sessions' callback secrets; the last copy signs");
            }
        }
        if !self.signer.has_session_secrets() {
            return None;
        }
        serde_json::from_str(body).ok()
    }
}

async fn read_response(
    mut response: reqwest::Response,
) -> (Option<u16>, Option<String>, Option<Duration>) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    if status.is_success() {
        // Read a typical acknowledgement (`{"message":"ok"}`) to its end so the connection goes
        // back to the pool; a huge body is not worth it and only costs a reconnect.
        let mut read = 0;
        while read < DRAIN_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        return (Some(status.as_u16()), None, None);
    }
    let mut kept = Vec::new();
    while kept.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(ERROR_BODY_LIMIT);
    let text = String::from_utf8_lossy(&kept).trim().to_owned();
    let error = format!(
        "HTTP {}{}",
        status.as_u16(),
        if text.is_empty() { String::new() } else { format!(": {text}") }
    );
    (Some(status.as_u16()), Some(error), retry_after)
}

/// The error and its causes on one line ("error sending request: connection refused").
/// The error and its causes, without the URL (it may carry a token; the attempt names it, redacted).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() { "timed out: " } else { "" };
    let mut out = format!("{kind}{e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::net::TcpListener;

    use super::*;

    /// A loopback listener that only counts connections.
    async fn listener() -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        (port, hits)
    }

    #[tokio::test]
    async fn delivery_to_an_internal_address_is_refused_before_connecting() {
        let (port, hits) = listener().await;
        let strict = Arc::new(NetPolicy::strict());
        let deliverer =
            Deliverer::new(Signer::new(Vec::new(), false), Duration::from_secs(5), strict).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://0x7f000001:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
            // A name is refused by the resolver, when the connection would be made.
            format!("http://localhost:{port}/hook"),
        ] {
            let outcome = deliverer.attempt(&url, "msg_1", "{}").await;
            assert_eq!(outcome.status, None, "{url}");
            let error = outcome.error.unwrap_or_default();
            assert!(error.contains("loopback") && error.contains("refused"), "{url}: {error}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");
        // The same receiver is reached when private targets are allowed.
        let open = Arc::new(NetPolicy::permissive());
        let deliverer =
            Deliverer::new(Signer::new(Vec::new(), false), Duration::from_secs(5), open).unwrap();
        let _ = deliverer.attempt(&format!("http://localhost:{port}/hook"), "msg_2", "{}").await;
        assert!(hits.load(Ordering::SeqCst) >= 1);
    }
}
