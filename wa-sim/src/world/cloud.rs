//! The Cloud API door's side of the world: business numbers (each one an account like any other,
//! so a phone sees its messages the way it sees a linked device's), their templates, the 24-hour
//! customer-service window per (number, phone), what each number sent, and the webhooks the
//! simulated Meta owes each number's app. The HTTP side lives in `crate::cloud`.

use super::messages::digits;
use super::*;
use crate::error::SimError;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use std::sync::Arc;

/// One webhook to deliver: the exact bytes and who they go to.
#[derive(Debug)]
pub struct Hook {
    pub url: String,
    pub secret: String,
    pub body: String,
}

/// A business number registered through the control API.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CloudNumber {
    pub phone_number_id: String,
    /// The number's own phone digits (the sender phones see).
    pub phone: String,
    pub token: String,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub app_secret: String,
    #[serde(default = "default_waba")]
    pub waba_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A `delivered` status follows `sent` by itself (off: only acks from the control API).
    #[serde(default = "yes")]
    pub auto_deliver: bool,
    /// Length of the customer-service window (WhatsApp: 86400).
    #[serde(default = "day")]
    pub window_s: u64,
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Every send fails with this Graph error code until cleared (130429, 131000, …).
    #[serde(default)]
    pub fault: Option<i64>,
}

fn default_waba() -> String {
    "102290129340398".into()
}

fn yes() -> bool {
    true
}

fn day() -> u64 {
    86_400
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    #[serde(default = "en_us")]
    pub language: String,
    /// Body text with `{{1}}`, `{{2}}` … placeholders.
    pub body: String,
    #[serde(default = "utility")]
    pub category: String,
}

fn en_us() -> String {
    "en_US".into()
}

fn utility() -> String {
    "utility".into()
}

/// One uploaded media file.
#[derive(Clone, Debug)]
pub struct Upload {
    pub phone_number_id: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    pub filename: Option<String>,
}

/// What the Cloud door keeps about one message it accepted.
#[derive(Clone, Debug, Serialize)]
pub struct CloudSent {
    pub id: String,
    pub phone_number_id: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub biz_opaque_callback_data: Option<String>,
    /// Every status webhook queued for it, in order.
    pub statuses: Vec<String>,
    #[serde(skip)]
    pub next_error: Option<Value>,
}

#[derive(Default)]
pub struct CloudState {
    pub numbers: BTreeMap<String, CloudNumber>,
    /// (phone_number_id, phone) → when that phone last wrote to the number (ms).
    pub windows: HashMap<(String, String), u64>,
    pub sent: HashMap<String, CloudSent>,
    pub sent_order: Vec<String>,
    /// Send requests per phone_number_id, answered or refused (a host's retry storm shows here).
    pub requests: HashMap<String, u64>,
    /// Media uploaded through `POST /{version}/{pnid}/media`: id → (number, mime type, bytes, filename).
    pub uploads: HashMap<String, Upload>,
    pub hooks: Option<UnboundedSender<Hook>>,
    /// Every delivery attempt's outcome, written by the delivery task.
    pub log: Arc<Mutex<Vec<Value>>>,
}

/// A Graph API error: HTTP status, code, message, details.
#[derive(Debug)]
pub struct GraphError {
    pub http: u16,
    pub code: i64,
    pub message: String,
    pub details: String,
}

impl GraphError {
    pub fn new(code: i64, message: &str, details: &str) -> Self {
        let http = match code {
            190 => 401,
            130429 => 429,
            _ => 400,
        };
        GraphError { http, code, message: message.into(), details: details.into() }
    }

    pub fn title(code: i64) -> &'static str {
        match code {
            190 => "Invalid OAuth access token",
            100 => "Invalid parameter",
            130429 => "Rate limit hit",
            131026 => "Message undeliverable",
            131047 => "Re-engagement message",
            131000 => "Something went wrong",
            132000 => "Number of parameters does not match the expected number of params",
            132001 => "Template name does not exist in the translation",
            _ => "Error",
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"error": {
            "message": format!("(#{}) {}", self.code, self.message),
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": format!("A{}", random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 22)),
        }})
    }
}

fn bad(details: &str) -> GraphError {
    GraphError::new(100, "Invalid parameter", details)
}

/// Meta's webhook bodies escape everything outside ASCII as `\uXXXX`; so do ours, so a host that
/// re-serialises before verifying the signature fails here as it would against Meta.
pub fn meta_json(v: &Value) -> String {
    let raw = v.to_string();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

impl World {
    pub fn cloud_register(&mut self, n: CloudNumber) -> Value {
        let mut n = n;
        if let Some(old) = self.cloud.numbers.get(&n.phone_number_id) {
            if n.templates.is_empty() {
                n.templates = old.templates.clone();
            }
        }
        let name = n.name.clone().unwrap_or_else(|| format!("Business {}", n.phone));
        self.account(&n.phone).pushname = name;
        self.cloud.numbers.insert(n.phone_number_id.clone(), n.clone());
        json!(n)
    }

    pub fn cloud_numbers_json(&self) -> Value {
        let list: Vec<Value> = self
            .cloud
            .numbers
            .values()
            .map(|n| {
                let mut v = json!(n);
                v["requests"] =
                    json!(self.cloud.requests.get(&n.phone_number_id).copied().unwrap_or(0));
                v
            })
            .collect();
        json!(list)
    }

    fn cloud_number_mut(&mut self, pnid: &str) -> Result<&mut CloudNumber, SimError> {
        self.cloud
            .numbers
            .get_mut(pnid)
            .ok_or(SimError::NotFound("NUMBER_NOT_FOUND", "no business number with this id"))
    }

    pub fn cloud_add_template(&mut self, pnid: &str, t: Template) -> Result<Value, SimError> {
        let n = self.cloud_number_mut(pnid)?;
        n.templates.retain(|x| !(x.name == t.name && x.language == t.language));
        n.templates.push(t);
        Ok(json!(n.templates))
    }

    pub fn cloud_set_fault(&mut self, pnid: &str, code: Option<i64>) -> Result<Value, SimError> {
        let n = self.cloud_number_mut(pnid)?;
        n.fault = code;
        Ok(json!({"phone_number_id": pnid, "fault": code}))
    }

    /// Open (as if `phone` wrote just now, or `age_s` ago) or close the window.
    pub fn cloud_set_window(
        &mut self,
        pnid: &str,
        phone: &str,
        open: bool,
        age_s: u64,
    ) -> Result<Value, SimError> {
        self.cloud_number_mut(pnid)?;
        let key = (pnid.to_string(), phone.to_string());
        if open {
            self.cloud.windows.insert(key, now_ms().saturating_sub(age_s * 1000));
        } else {
            self.cloud.windows.remove(&key);
        }
        Ok(json!({"phone_number_id": pnid, "phone": phone, "open": self.window_open(pnid, phone)}))
    }

    fn window_open(&self, pnid: &str, phone: &str) -> bool {
        let Some(n) = self.cloud.numbers.get(pnid) else {
            return false;
        };
        self.cloud
            .windows
            .get(&(pnid.to_string(), phone.to_string()))
            .is_some_and(|at| now_ms().saturating_sub(*at) < n.window_s * 1000)
    }

    pub fn cloud_sent_json(&self) -> Value {
        json!(self
            .cloud
            .sent_order
            .iter()
            .filter_map(|id| self.cloud.sent.get(id))
            .collect::<Vec<_>>())
    }

    /// `POST /{version}/{phone_number_id}/media`: keep the file, answer its id.
    pub fn cloud_upload(
        &mut self,
        pnid: &str,
        bearer: Option<&str>,
        upload: Option<Upload>,
    ) -> Result<Value, GraphError> {
        let n = self.cloud_auth(pnid, bearer)?;
        let mut up = upload
            .ok_or_else(|| bad("a multipart/form-data body with a `file` part is required"))?;
        if up.bytes.is_empty() {
            return Err(bad("the `file` part is empty"));
        }
        if up.bytes.len() > self.cfg.max_media_bytes {
            return Err(GraphError::new(131053, "Media upload error", "the file is too large"));
        }
        up.phone_number_id = n.phone_number_id;
        let id = random_from(b"0123456789", 16);
        self.cloud.uploads.insert(id.clone(), up);
        Ok(json!({"id": id}))
    }

    /// The registered number behind `pnid` when `bearer` is its token (counted as a request).
    fn cloud_auth(&mut self, pnid: &str, bearer: Option<&str>) -> Result<CloudNumber, GraphError> {
        let Some(n) = self.cloud.numbers.get(pnid).cloned() else {
            if bearer.is_none() {
                return Err(GraphError::new(190, "An active access token must be used", ""));
            }
            return Err(GraphError::new(
                100,
                "Unsupported post request",
                &format!("Object with ID '{pnid}' does not exist"),
            ));
        };
        *self.cloud.requests.entry(pnid.to_string()).or_default() += 1;
        if bearer != Some(n.token.as_str()) {
            return Err(GraphError::new(
                190,
                "Invalid OAuth access token - Cannot parse access token",
                "",
            ));
        }
        Ok(n)
    }

    /// `POST /{version}/{phone_number_id}/messages`.
    pub fn cloud_send(
        &mut self,
        pnid: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<Value, GraphError> {
        let n = self.cloud_auth(pnid, bearer)?;
        if body["messaging_product"].as_str() != Some("whatsapp") {
            return Err(bad("messaging_product must be \"whatsapp\""));
        }
        let raw_to = body["to"].as_str().ok_or_else(|| bad("the parameter to is required"))?;
        let to = digits(raw_to).ok_or_else(|| bad("to must be a phone number"))?;
        let kind = body["type"].as_str().unwrap_or("text").to_string();
        if let Some(code) = n.fault {
            return Err(GraphError::new(
                code,
                GraphError::title(code),
                "fault set by the simulator",
            ));
        }
        if to == n.phone {
            return Err(GraphError::new(131021, "Recipient cannot be sender", ""));
        }
        if self.missing.contains(&to) {
            return Err(GraphError::new(
                131026,
                "Message undeliverable",
                "the recipient is not a WhatsApp user",
            ));
        }
        if kind != "template" && !self.window_open(pnid, &to) {
            return Err(GraphError::new(
                131047,
                "Re-engagement message",
                "More than 24 hours have passed since the recipient last replied to the sender number.",
            ));
        }
        let opaque = body["biz_opaque_callback_data"].as_str().map(String::from);
        let id = format!("wamid.{}", random_hex_upper(40));
        if kind == "reaction" {
            let target = body["reaction"]["message_id"]
                .as_str()
                .ok_or_else(|| bad("reaction.message_id is required"))?;
            let emoji = body["reaction"]["emoji"].as_str().unwrap_or_default();
            self.react(&n.phone, target, emoji, None)
                .map_err(|_| bad("reaction.message_id names no message"))?;
            self.cloud_record(&id, &n, &to, &kind, opaque);
            self.cloud_status(&id, "sent");
            return Ok(accepted(raw_to, &to, &id));
        }
        let mut m = Msg {
            id: id.clone(),
            sender: n.phone.clone(),
            chat: format!("{to}@c.us"),
            kind: String::new(),
            body: String::new(),
            t: now_s(),
            ack: 1,
            notify_name: self.account(&n.phone).pushname.clone(),
            at_ms: 0,
            extra: Map::new(),
        };
        self.cloud_fill(&mut m, &n, &kind, body)?;
        self.cloud_record(&id, &n, &to, &kind, opaque);
        self.cloud_status(&id, "sent");
        self.route(m, None);
        let ack = self.find_msg(&id).map(|m| m.ack).unwrap_or(1);
        if n.auto_deliver && ack < 2 {
            self.set_ack(&id, 2);
        }
        Ok(accepted(raw_to, &to, &id))
    }

    fn cloud_fill(
        &mut self,
        m: &mut Msg,
        n: &CloudNumber,
        kind: &str,
        body: &Value,
    ) -> Result<(), GraphError> {
        if let Some(q) = body["context"]["message_id"].as_str() {
            let quoted = self
                .find_msg(q)
                .cloned()
                .ok_or_else(|| bad("context.message_id names no message"))?;
            m.extra.insert("quotedStanzaID".into(), json!(quoted.id));
            m.extra.insert("quotedParticipant".into(), json!(format!("{}@c.us", quoted.sender)));
            m.extra.insert("quotedMsgBody".into(), json!(quoted.body));
            m.extra.insert("quotedMsgType".into(), json!(quoted.kind));
        }
        match kind {
            "text" => {
                let text = body["text"]["body"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| bad("text.body is required"))?;
                m.kind = "chat".into();
                m.body = text.to_string();
            }
            "image" | "document" | "video" | "audio" | "sticker" => {
                let obj = &body[kind];
                m.kind = kind.into();
                let caption = obj["caption"].as_str().map(String::from);
                if let Some(id) = obj["id"].as_str().filter(|_| obj["link"].is_null()) {
                    let up = self
                        .cloud
                        .uploads
                        .get(id)
                        .filter(|u| u.phone_number_id == n.phone_number_id)
                        .cloned()
                        .ok_or_else(|| {
                            bad(&format!("{kind}.id names no media uploaded to this number"))
                        })?;
                    let filename = obj["filename"].as_str().map(String::from).or(up.filename);
                    self.attach_media(m, up.mime_type, up.bytes, filename, caption);
                    m.extra.insert("cloudMediaId".into(), json!(id));
                    return Ok(());
                }
                let link = obj["link"]
                    .as_str()
                    .ok_or_else(|| bad(&format!("{kind}.link or {kind}.id is required")))?
                    .to_string();
                let mime = mime_of(&link, kind);
                let filename = obj["filename"].as_str().map(String::from).or_else(|| {
                    (kind == "document")
                        .then(|| link.rsplit('/').next().unwrap_or("file").to_string())
                });
                self.attach_media(m, mime, Vec::new(), filename, caption);
                m.extra.insert("cloudLink".into(), json!(link));
            }
            "template" => {
                let name = body["template"]["name"]
                    .as_str()
                    .ok_or_else(|| bad("template.name is required"))?;
                let lang = body["template"]["language"]["code"].as_str().unwrap_or("en_US");
                let t =
                    n.templates.iter().find(|t| t.name == name && t.language == lang).ok_or_else(
                        || {
                            GraphError::new(
                                132001,
                                GraphError::title(132001),
                                &format!("template {name} ({lang}) does not exist"),
                            )
                        },
                    )?;
                let params: Vec<String> = body["template"]["components"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["type"].as_str() == Some("body"))
                    .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
                    .map(|p| p["text"].as_str().unwrap_or_default().to_string())
                    .collect();
                let wanted =
                    (1..=20).take_while(|i| t.body.contains(&format!("{{{{{i}}}}}"))).count();
                if params.len() != wanted {
                    return Err(GraphError::new(
                        132000,
                        GraphError::title(132000),
                        &format!(
                            "template {name} takes {wanted} body parameters, got {}",
                            params.len()
                        ),
                    ));
                }
                let mut text = t.body.clone();
                for (i, p) in params.iter().enumerate() {
                    text = text.replace(&format!("{{{{{}}}}}", i + 1), p);
                }
                m.kind = "chat".into();
                m.body = text;
                m.extra.insert("cloudTemplate".into(), json!(name));
            }
            "location" => {
                let l = &body["location"];
                let (Some(lat), Some(lng)) = (l["latitude"].as_f64(), l["longitude"].as_f64())
                else {
                    return Err(bad("location.latitude and location.longitude are required"));
                };
                m.kind = "location".into();
                m.extra.insert("lat".into(), json!(lat));
                m.extra.insert("lng".into(), json!(lng));
                m.extra.insert("name".into(), l["name"].clone());
                m.extra.insert("address".into(), l["address"].clone());
            }
            _ => return Err(bad(&format!("type {kind} is not supported"))),
        }
        Ok(())
    }

    fn cloud_record(
        &mut self,
        id: &str,
        n: &CloudNumber,
        to: &str,
        kind: &str,
        opaque: Option<String>,
    ) {
        self.cloud.sent.insert(
            id.to_string(),
            CloudSent {
                id: id.to_string(),
                phone_number_id: n.phone_number_id.clone(),
                to: to.to_string(),
                kind: kind.to_string(),
                biz_opaque_callback_data: opaque,
                statuses: Vec::new(),
                next_error: None,
            },
        );
        self.cloud.sent_order.push(id.to_string());
    }

    /// The control API's status for a Cloud message: moves the message's ack like a phone would
    /// and, through `set_ack`, sends the status webhook.
    pub fn cloud_push_status(
        &mut self,
        id: &str,
        status: &str,
        error: Option<Value>,
    ) -> Result<Value, SimError> {
        if !self.cloud.sent.contains_key(id) {
            return Err(SimError::NotFound("MESSAGE_NOT_FOUND", "no Cloud message with this id"));
        }
        let ack = match status {
            "sent" => 1,
            "delivered" => 2,
            "read" => 3,
            "played" => 4,
            "failed" => -1,
            _ => {
                return Err(SimError::Bad(
                    "`status` must be sent, delivered, read, played or failed",
                ))
            }
        };
        if status == "failed" {
            let code = error.as_ref().and_then(|e| e["code"].as_i64()).unwrap_or(131000);
            let details = error
                .as_ref()
                .and_then(|e| e["details"].as_str())
                .unwrap_or("failed by the simulator")
                .to_string();
            if let Some(s) = self.cloud.sent.get_mut(id) {
                s.next_error = Some(json!([{
                    "code": code, "title": GraphError::title(code), "message": GraphError::title(code),
                    "error_data": {"details": details},
                }]));
            }
        }
        if self.find_msg(id).is_some() {
            self.set_ack(id, ack);
        } else {
            // A reaction: nothing routed to ack, the status goes out directly.
            self.cloud_status(id, status);
        }
        Ok(json!(self.cloud.sent.get(id)))
    }

    /// A Cloud message's ack changed (`set_ack`): its status webhook.
    pub(crate) fn cloud_ack(&mut self, id: &str, ack: i64) {
        let status = match ack {
            1 => "sent",
            2 => "delivered",
            3 => "read",
            4 => "played",
            a if a < 0 => "failed",
            _ => return,
        };
        if self.cloud.sent.contains_key(id) {
            self.cloud_status(id, status);
        }
    }

    fn cloud_status(&mut self, id: &str, status: &str) {
        let Some(s) = self.cloud.sent.get_mut(id) else {
            return;
        };
        s.statuses.push(status.to_string());
        let mut st = json!({
            "id": id, "status": status, "timestamp": now_s().to_string(), "recipient_id": s.to,
        });
        if let Some(o) = &s.biz_opaque_callback_data {
            st["biz_opaque_callback_data"] = json!(o);
        }
        if status == "failed" {
            st["errors"] = s.next_error.take().unwrap_or_else(|| {
                json!([{"code": 131000, "title": GraphError::title(131000), "message": GraphError::title(131000)}])
            });
        } else {
            st["pricing"] =
                json!({"billable": true, "pricing_model": "PMP", "category": "utility"});
        }
        let pnid = s.phone_number_id.clone();
        self.cloud_hook(&pnid, json!({"statuses": [st]}));
    }

    /// A phone wrote to a business number (`route`): the window opens and the app hears of it.
    pub(crate) fn cloud_inbound(&mut self, m: &Msg) {
        let Some(to) = m.chat_phone() else {
            return;
        };
        let Some(n) = self.cloud.numbers.values().find(|n| n.phone == to).cloned() else {
            return;
        };
        if m.sender == n.phone {
            return;
        }
        self.cloud.windows.insert((n.phone_number_id.clone(), m.sender.clone()), now_ms());
        let mut msg = json!({"from": m.sender, "id": m.id, "timestamp": m.t.to_string()});
        let text = |k: &str| m.extra.get(k).cloned().unwrap_or(Value::Null);
        match m.kind.as_str() {
            "chat" => {
                msg["type"] = json!("text");
                msg["text"] = json!({"body": m.body});
            }
            "image" | "video" | "audio" | "ptt" | "document" | "sticker" => {
                let kind = if m.kind == "ptt" { "audio" } else { m.kind.as_str() };
                msg["type"] = json!(kind);
                msg[kind] = json!({
                    "id": m.id, "mime_type": text("mimetype"), "sha256": text("filehash"),
                    "caption": text("caption"), "filename": text("filename"),
                });
            }
            "location" => {
                msg["type"] = json!("location");
                msg["location"] = json!({"latitude": text("lat"), "longitude": text("lng"),
                    "name": text("name"), "address": text("address")});
            }
            _ => msg["type"] = json!("unsupported"),
        }
        if let Some(q) = m.extra.get("quotedStanzaID").and_then(Value::as_str) {
            let from = self.find_msg(q).map(|x| x.sender.clone()).unwrap_or_default();
            msg["context"] = json!({"from": from, "id": q});
        }
        let name = self.accounts.get(&m.sender).map(|a| a.pushname.clone()).unwrap_or_default();
        self.cloud_hook(
            &n.phone_number_id,
            json!({"contacts": [{"profile": {"name": name}, "wa_id": m.sender}], "messages": [msg]}),
        );
    }

    /// A phone reacted to a business number's message.
    pub(crate) fn cloud_reaction(&mut self, reactor: &str, target: &Msg, emoji: &str) {
        let Some(n) = self.cloud.numbers.values().find(|n| n.phone == target.sender).cloned()
        else {
            return;
        };
        if reactor == n.phone {
            return;
        }
        let msg = json!({
            "from": reactor, "id": format!("wamid.{}", random_hex_upper(40)),
            "timestamp": now_s().to_string(), "type": "reaction",
            "reaction": {"message_id": target.id, "emoji": emoji},
        });
        let name = self.accounts.get(reactor).map(|a| a.pushname.clone()).unwrap_or_default();
        self.cloud_hook(
            &n.phone_number_id,
            json!({"contacts": [{"profile": {"name": name}, "wa_id": reactor}], "messages": [msg]}),
        );
    }

    fn cloud_hook(&mut self, pnid: &str, value: Value) {
        let Some(n) = self.cloud.numbers.get(pnid) else {
            return;
        };
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] =
            json!({"display_phone_number": n.phone, "phone_number_id": n.phone_number_id});
        let body = json!({"object": "whatsapp_business_account", "entry": [{
            "id": n.waba_id, "changes": [{"field": "messages", "value": value}],
        }]});
        let body = meta_json(&body);
        match (&n.webhook_url, &self.cloud.hooks) {
            (Some(url), Some(tx)) => {
                let _ = tx.send(Hook { url: url.clone(), secret: n.app_secret.clone(), body });
            }
            _ => {
                if let Ok(mut log) = self.cloud.log.lock() {
                    log.push(json!({"url": null, "status": null, "body": body, "error": "no webhook URL"}));
                }
            }
        }
    }
}

fn accepted(input: &str, to: &str, id: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": input, "wa_id": to}],
        "messages": [{"id": id, "message_status": "accepted"}],
    })
}

fn mime_of(link: &str, kind: &str) -> String {
    let ext = link.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    let m = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "ogg" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "txt" => "text/plain",
        _ => match kind {
            "image" => "image/jpeg",
            "video" => "video/mp4",
            "audio" => "audio/ogg",
            "sticker" => "image/webp",
            _ => "application/octet-stream",
        },
    };
    m.to_string()
}
