//! The publishing task: follows the bus's live channel, turns each configured event into one
//! Pusher trigger (flat JSON `data`, as a Laravel `broadcastWith` would give), and sends them one
//! at a time with bounded retries. Refusals and drops are logged and counted, never fatal.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::config::{BroadcastConfig, MAX_DATA_BYTES};
use super::pusher;
use crate::events::{kind, Event, EventBus};

/// `broadcast_…` counters, at /metrics.
#[derive(Clone, Default)]
pub struct Metrics {
    pub published: Counter,
    /// A 4xx from the server (wrong key or secret, unknown app, too large): not retried.
    pub refused: Counter,
    /// No 2xx after every retry (unreachable, timeouts, 5xx, 429).
    pub failed: Counter,
    /// Events whose `data` is over Pusher's 10 KB, not sent.
    pub too_large: Counter,
    /// Events this task missed because it fell behind the bus.
    pub lagged: Counter,
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("broadcast");
        r.register(
            "published",
            "Events accepted by the Pusher-protocol server",
            self.published.clone(),
        );
        r.register(
            "refused",
            "Events the server refused with a 4xx (not retried)",
            self.refused.clone(),
        );
        r.register("failed", "Events with no 2xx after every retry", self.failed.clone());
        r.register(
            "too_large",
            "Events over the 10 KB data limit, not sent",
            self.too_large.clone(),
        );
        r.register(
            "lagged",
            "Events missed because the publisher fell behind",
            self.lagged.clone(),
        );
    }
}

/// Starts the publisher when `[broadcast]` is enabled, registering its metrics; needs a Tokio
/// runtime. The task ends when the bus closes.
pub fn spawn(
    cfg: &BroadcastConfig,
    bus: &EventBus,
    registry: &mut Registry,
) -> Option<JoinHandle<()>> {
    if !cfg.enabled {
        return None;
    }
    let metrics = Metrics::default();
    metrics.register(registry);
    // Tolerates a provider installed earlier by another part of the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "broadcast: cannot build the HTTP client; publishing is off");
            return None;
        }
    };
    let publisher = Publisher { cfg: cfg.clone(), client, metrics };
    let rx = bus.subscribe();
    tracing::info!(url = %cfg.url, app_id = %cfg.app_id, channel = %cfg.channel, "broadcast publisher started");
    Some(tokio::spawn(publisher.run(rx)))
}

struct Publisher {
    cfg: BroadcastConfig,
    client: reqwest::Client,
    metrics: Metrics,
}

/// What happened to one trigger request.
enum Outcome {
    Published,
    Refused(u16, String),
    Retryable(String),
}

impl Publisher {
    async fn run(self, mut rx: tokio::sync::broadcast::Receiver<Event>) {
        loop {
            match rx.recv().await {
                Ok(event) => self.handle(&event).await,
                Err(RecvError::Lagged(missed)) => {
                    self.metrics.lagged.inc_by(missed);
                    tracing::warn!(missed, "broadcast: publisher fell behind; events skipped");
                }
                Err(RecvError::Closed) => break,
            }
        }
    }

    async fn handle(&self, event: &Event) {
        if !self.cfg.events.iter().any(|k| k == event.kind) {
            return;
        }
        let workspace = event.key.workspace.as_str();
        let session = event.key.session.as_str();
        let data = payload(event).to_string();
        if data.len() > MAX_DATA_BYTES {
            self.metrics.too_large.inc();
            tracing::warn!(kind = event.kind, key = %event.key, bytes = data.len(), "broadcast: event over 10 KB, not sent");
            return;
        }
        let channel = self.cfg.channel_for(workspace, session);
        let body = pusher::event_body(event.kind, &channel, &data);
        let mut wait = self.cfg.retry_backoff;
        for attempt in 0..=self.cfg.retries {
            match self.send(&body).await {
                Outcome::Published => {
                    self.metrics.published.inc();
                    return;
                }
                Outcome::Refused(status, text) => {
                    self.metrics.refused.inc();
                    tracing::error!(status, answer = %text, kind = event.kind, key = %event.key, "broadcast: the server refused the event");
                    return;
                }
                Outcome::Retryable(why) if attempt < self.cfg.retries => {
                    tracing::warn!(attempt, error = %why, kind = event.kind, "broadcast: attempt failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                Outcome::Retryable(why) => {
                    self.metrics.failed.inc();
                    tracing::error!(error = %why, kind = event.kind, key = %event.key, "broadcast: event not published after retries");
                }
            }
        }
    }

    async fn send(&self, body: &str) -> Outcome {
        let path = format!("/apps/{}/events", self.cfg.app_id);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let query =
            pusher::signed_query(&self.cfg.key, &self.cfg.secret, &path, body.as_bytes(), now);
        let url = format!("{}{path}?{query}", self.cfg.url.trim_end_matches('/'));
        let answer = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await;
        match answer {
            Err(e) => Outcome::Retryable(e.to_string()),
            Ok(r) if r.status().is_success() => Outcome::Published,
            Ok(r) => {
                let status = r.status().as_u16();
                let text: String = r.text().await.unwrap_or_default().chars().take(200).collect();
                if status == 429 || status >= 500 {
                    Outcome::Retryable(format!("{status} {text}"))
                } else {
                    Outcome::Refused(status, text)
                }
            }
        }
    }
}

/// The flat `data` object: workspace and session, then the fields a browser needs. The QR goes
/// as `raw` only (an image would exceed 10 KB); other types carry their whole `data`.
pub(crate) fn payload(event: &Event) -> Value {
    let mut out = Map::new();
    out.insert("workspace".into(), json!(event.key.workspace.as_str()));
    out.insert("session".into(), json!(event.key.session.as_str()));
    let fields: Option<&[&str]> = match event.kind {
        kind::SESSION_QR => Some(&["raw", "attempt", "max_attempts", "expires_at"]),
        kind::SESSION_STATUS => Some(&["state", "previous", "reason", "phone"]),
        _ => None,
    };
    match (fields, event.data.as_object()) {
        (Some(names), Some(data)) => {
            for name in names {
                out.insert((*name).into(), data.get(*name).cloned().unwrap_or(Value::Null));
            }
        }
        (None, Some(data)) => out.extend(data.clone()),
        (_, None) => {}
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, SessionKey, WorkspaceId};

    fn event(kind: &'static str, data: Value) -> Event {
        let key =
            SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse("main").unwrap());
        Event::new(kind, key, data)
    }

    #[tokio::test]
    async fn data_over_10_kb_is_counted_and_not_sent() {
        let cfg = BroadcastConfig {
            enabled: true,
            // Nothing listens on port 9 of loopback: a request would count as failed.
            url: "http://127.0.0.1:9".into(),
            app_id: "1".into(),
            key: "k".into(),
            secret: "s".into(),
            events: vec!["callback.test".into()],
            retries: 0,
            ..BroadcastConfig::default()
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let publisher =
            Publisher { cfg, client: reqwest::Client::new(), metrics: Metrics::default() };
        publisher.handle(&event("callback.test", json!({"pad": "x".repeat(MAX_DATA_BYTES)}))).await;
        assert_eq!(publisher.metrics.too_large.get(), 1);
        assert_eq!(publisher.metrics.failed.get(), 0, "nothing was sent");
        publisher.handle(&event("callback.test", json!({"pad": "small"}))).await;
        assert_eq!(publisher.metrics.failed.get(), 1, "a small one is sent (and fails here)");
        publisher.handle(&event(kind::SESSION_STATUS, json!({"state": "connected"}))).await;
        assert_eq!(publisher.metrics.failed.get(), 1, "types not configured are skipped");
    }

    #[test]
    fn qr_goes_without_its_image_and_status_flat() {
        let qr = payload(&event(
            kind::SESSION_QR,
            json!({"raw": "2@x", "data_url": "data:image/png;base64,AAAA", "attempt": 1, "max_attempts": 6, "expires_at": "t"}),
        ));
        assert_eq!(
            qr,
            json!({"workspace": "acme", "session": "main", "raw": "2@x", "attempt": 1, "max_attempts": 6, "expires_at": "t"})
        );
        let status = payload(&event(
            kind::SESSION_STATUS,
            json!({"state": "connected", "previous": "authenticating", "recoveries": 0}),
        ));
        assert_eq!(
            status,
            json!({"workspace": "acme", "session": "main", "state": "connected", "previous": "authenticating", "reason": null, "phone": null})
        );
    }
}
