//! `Control`: a typed async client for the control API (feature `client`), so other crates'
//! tests drive the phone without hand-writing URLs. Answers are `serde_json::Value` shaped as
//! docs/simulator.md documents; errors keep the API's stable code.

use crate::world::Target;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("control API unreachable: {0}")]
    Http(#[from] reqwest::Error),
    /// The API answered with an error envelope.
    #[error("{status} {code}: {message}")]
    Api { status: u16, code: String, message: String },
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
}

pub type Result<T> = std::result::Result<T, ControlError>;

/// Client for one simulator's `/_sim` API.
#[derive(Clone)]
pub struct Control {
    base: String,
    http: reqwest::Client,
}

impl Control {
    /// `control_url` is [`crate::SimServer::control_url`], e.g. `http://127.0.0.1:7777/_sim`.
    pub fn new(control_url: impl Into<String>) -> Result<Control> {
        // reqwest is built without a TLS provider of its own; plain HTTP still needs one chosen.
        // Installing fails only when one is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Control { base: control_url.into().trim_end_matches('/').to_string(), http })
    }

    pub fn for_server(sim: &crate::SimServer) -> Result<Control> {
        Control::new(sim.control_url())
    }

    async fn answer(resp: reqwest::Response) -> Result<Value> {
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            let code = body["error"]["code"].as_str().unwrap_or("UNKNOWN").to_string();
            let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
            return Err(ControlError::Api { status, code, message });
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        Self::answer(self.http.get(format!("{}{path}", self.base)).send().await?).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        Self::answer(self.http.post(format!("{}{path}", self.base)).json(&body).send().await?).await
    }

    pub async fn state(&self) -> Result<Value> {
        self.get("/state").await
    }

    pub async fn pages(&self) -> Result<Value> {
        self.get("/pages").await
    }

    pub async fn devices(&self) -> Result<Value> {
        self.get("/devices").await
    }

    /// The QR text of the first page showing one, if any.
    pub async fn current_qr(&self) -> Result<Option<String>> {
        let pages = self.pages().await?;
        Ok(pages
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["state"] == "qr")
            .and_then(|p| p["qr"].as_str())
            .map(String::from))
    }

    /// Poll until some page shows a QR code.
    pub async fn wait_qr(&self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(qr) = self.current_qr().await? {
                return Ok(qr);
            }
            if Instant::now() >= deadline {
                return Err(ControlError::Timeout(timeout, "a page showing a QR code"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The phone scans `code`. Returns the linked device (`id`, `login_marker`, …).
    pub async fn scan(&self, code: &str, phone: &str) -> Result<Value> {
        self.post("/scan", json!({"code": code, "phone": phone})).await
    }

    pub async fn accept_link_code(&self, phone: &str, code: &str) -> Result<Value> {
        self.post("/link-code", json!({"phone": phone, "code": code})).await
    }

    /// The phone removes its linked devices (`reason` defaults to `user_initiated`).
    pub async fn unlink_phone(&self, phone: &str, reason: Option<&str>) -> Result<Value> {
        self.post("/unlink", json!({"phone": phone, "reason": reason})).await
    }

    pub async fn unlink_device(&self, device: &str, reason: Option<&str>) -> Result<Value> {
        self.post("/unlink", json!({"device": device, "reason": reason})).await
    }

    pub async fn conflict(&self, target: &Target) -> Result<Value> {
        self.post("/conflict", json!(target)).await
    }

    pub async fn offline(&self, target: &Target) -> Result<Value> {
        self.post("/offline", json!(target)).await
    }

    pub async fn online(&self, target: &Target) -> Result<Value> {
        self.post("/online", json!(target)).await
    }

    pub async fn crash(&self, target: &Target) -> Result<Value> {
        self.post("/crash", json!(target)).await
    }

    /// A hard block: `PROXYBLOCK`, `TOS_BLOCK`, `SMB_TOS_BLOCK` or `DEPRECATED_VERSION`.
    pub async fn block(&self, target: &Target, mode: &str) -> Result<Value> {
        let mut body = json!(target);
        body["mode"] = json!(mode);
        self.post("/block", body).await
    }

    /// Merge faults, e.g. `json!({"never_ready": true})` or `json!({"send_error": "ERROR_NETWORK"})`.
    pub async fn set_faults(&self, faults: Value) -> Result<Value> {
        self.post("/faults", faults).await
    }

    pub async fn clear_faults(&self) -> Result<Value> {
        Self::answer(self.http.delete(format!("{}/faults", self.base)).send().await?).await
    }

    /// Any message from a phone (`POST /messages` body as documented).
    pub async fn incoming(&self, message: Value) -> Result<Value> {
        self.post("/messages", message).await
    }

    pub async fn send_text(&self, from: &str, to: &str, text: &str) -> Result<Value> {
        self.incoming(json!({"from": from, "to": to, "type": "text", "text": text})).await
    }

    pub async fn ack(&self, message_id: &str, ack: i64) -> Result<Value> {
        self.post(&format!("/messages/{message_id}/ack"), json!({"ack": ack})).await
    }

    pub async fn revoke(&self, message_id: &str) -> Result<Value> {
        self.post(&format!("/messages/{message_id}/revoke"), json!({})).await
    }

    pub async fn edit(&self, message_id: &str, text: &str) -> Result<Value> {
        self.post(&format!("/messages/{message_id}/edit"), json!({"text": text})).await
    }

    pub async fn presence(&self, from: &str, to: &str, state: &str) -> Result<Value> {
        self.post("/presence", json!({"from": from, "to": to, "state": state})).await
    }

    /// `{sent, received}` of a phone number.
    pub async fn messages(&self, phone: &str) -> Result<Value> {
        self.get(&format!("/accounts/{phone}/messages")).await
    }

    pub async fn set_number_exists(&self, phone: &str, exists: bool) -> Result<Value> {
        self.post(&format!("/numbers/{phone}"), json!({"exists": exists})).await
    }

    /// How others see a number: `{exists?, lid_addressing?, pn_visible?}` (only keys given
    /// change). Returns `{phone, exists, lid, lid_addressed, pn_visible}`.
    pub async fn set_number(&self, phone: &str, settings: Value) -> Result<Value> {
        self.post(&format!("/numbers/{phone}"), settings).await
    }

    /// A "waiting for this message" placeholder (sent with `placeholder: true`) decrypts.
    pub async fn decrypt(&self, message_id: &str) -> Result<Value> {
        self.post(&format!("/messages/{message_id}/decrypt"), json!({})).await
    }

    /// A phone creates a group. Returns `{id, subject, members, admins}`.
    pub async fn group_create(
        &self,
        owner: &str,
        subject: &str,
        members: &[&str],
    ) -> Result<Value> {
        self.post("/groups", json!({"owner": owner, "subject": subject, "members": members})).await
    }

    /// `action`: `add remove promote demote join leave`; `author` defaults to the owner.
    pub async fn group_change(
        &self,
        group_id: &str,
        action: &str,
        participants: &[&str],
        author: Option<&str>,
    ) -> Result<Value> {
        let body = json!({"action": action, "participants": participants, "author": author});
        self.post(&format!("/groups/{group_id}/participants"), body).await
    }

    /// `from` calls `to`. Returns the call `{id, from, to, is_video, is_group, offer_time, state}`.
    pub async fn call(&self, from: &str, to: &str, video: bool) -> Result<Value> {
        self.post("/calls", json!({"from": from, "to": to, "video": video})).await
    }

    pub async fn end_call(&self, call_id: &str) -> Result<Value> {
        self.post(&format!("/calls/{call_id}/end"), json!({})).await
    }

    pub async fn calls(&self) -> Result<Value> {
        self.get("/calls").await
    }

    /// WhatsApp's temporary-ban signal on the selected pages (`conn.backend_event`).
    pub async fn ban(&self, target: &Target, expires_in_s: Option<u64>) -> Result<Value> {
        let mut body = json!(target);
        body["expires_in_s"] = json!(expires_in_s);
        self.post("/ban", body).await
    }

    /// WhatsApp's copy of a message's media is gone (`true`: `downloadMedia` fails with
    /// `media_not_found`) or back (`false`).
    pub async fn media_gone(&self, message_id: &str, gone: bool) -> Result<Value> {
        self.post(&format!("/media/{message_id}/gone"), json!({"gone": gone})).await
    }

    /// `{sent, received}` chat states (`composing`, `recording`, `paused`) with `at_ms`.
    pub async fn presence_log(&self, phone: &str) -> Result<Value> {
        self.get(&format!("/accounts/{phone}/presence")).await
    }
}
