//! A signed HTTP client for commands that talk to a running sidecar (`qr`, `demo`): the same
//! signature a host sends, with a key from the configuration.

use std::time::Duration;

use anyhow::Context;

use crate::api::auth::signature::{self, Signed};
use crate::api::auth::unix_now;

pub struct Client {
    base: String,
    key_id: String,
    secret: Vec<u8>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: String, key_id: String, secret: Vec<u8>) -> anyhow::Result<Self> {
        Self::with_timeout(base, key_id, secret, Duration::from_secs(10))
    }

    /// Each request bounded by `timeout` (a bench on a loaded machine needs more than 10 s).
    pub fn with_timeout(
        base: String,
        key_id: String,
        secret: Vec<u8>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self { base, key_id, secret, http })
    }

    #[cfg_attr(not(feature = "demo"), allow(dead_code))]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A signed GET; the status and the body as text.
    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<(u16, String)> {
        self.send("GET", path_and_query, b"").await
    }

    /// A signed POST of a JSON body.
    #[cfg_attr(not(feature = "demo"), allow(dead_code))]
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(u16, String)> {
        self.send("POST", path, body.to_string().as_bytes()).await
    }

    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, String)> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let parts = Signed { timestamp: unix_now(), nonce: &nonce, method, path, query, body };
        let sig = signature::sign(&self.secret, &parts);
        let url = format!("{}{path_and_query}", self.base);
        let request = match method {
            "POST" => self.http.post(url).header("Content-Type", "application/json"),
            _ => self.http.get(url),
        };
        let response = request
            .header("X-Key-Id", &self.key_id)
            .header("X-Timestamp", parts.timestamp.to_string())
            .header("X-Nonce", &nonce)
            .header("X-HMAC-Signature", format!("v1={sig}"))
            .body(body.to_vec())
            .send()
            .await
            .with_context(|| format!("is the sidecar running at {}?", self.base))?;
        Ok((response.status().as_u16(), response.text().await?))
    }
}
