//! Pages connecting and leaving, QR rotation, scanning, link codes, unlinking, and the
//! connection faults (offline, conflict, crash).

use super::*;
use crate::error::SimError;
use std::time::Duration;

/// What a page says when its connection opens.
#[derive(Debug, serde::Deserialize)]
pub struct Hello {
    pub page: String,
    #[serde(default)]
    pub creds: Option<Creds>,
    #[serde(default)]
    pub ua: String,
    #[serde(default)]
    pub device_name: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct Creds {
    pub device_id: String,
    pub token: String,
}

const LINK_ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";

impl Shared {
    /// A page connected (first time or again). Answers with what it should show.
    pub fn hello(&self, hello: Hello, tx: PageTx) {
        let mut w = self.lock();
        let device = hello.creds.as_ref().map(|c| c.device_id.clone());
        if w.offline.covers(&hello.page, device.as_deref()) {
            let _ = tx.send(Outbound::Text(json!({"t": "offline"}).to_string()));
            let _ = tx.send(Outbound::Close);
            return;
        }
        let page = w.pages.entry(hello.page.clone()).or_insert_with(|| Page {
            id: hello.page.clone(),
            tx: None,
            user_agent: String::new(),
            state: PageState::Disconnected,
            qr: None,
            qr_index: 0,
            qr_gen: 0,
            link: None,
            device: None,
            device_name: None,
            connected_at: 0,
        });
        page.tx = Some(tx);
        page.user_agent = hello.ua.clone();
        page.device_name = hello.device_name.clone();
        page.connected_at = now_ms();
        let base = json!({
            "t": "hello", "never_ready": w.faults.never_ready, "timings": w.cfg.page_timings(),
        });
        match hello.creds {
            Some(creds) => {
                w.hello_with_creds(&hello.page, creds, base);
                drop(w);
            }
            None => {
                drop(w);
                self.hello_unpaired(&hello.page, base);
            }
        }
        self.prune_pages();
    }

    fn hello_unpaired(&self, page_id: &str, mut base: Value) {
        base["mode"] = json!("unpaired");
        {
            let mut w = self.lock();
            let link = w.pages.get(page_id).and_then(|p| p.link.clone());
            if let (Some(link), Some(page)) = (link, w.pages.get_mut(page_id)) {
                // The link-code screen survives a dropped connection.
                page.state = PageState::Linking;
                base["link_code"] = json!(link.code);
                w.send_page(page_id, &base);
                return;
            }
        }
        base["qr"] = json!(self.start_qr_cycle(page_id));
        self.lock().send_page(page_id, &base);
    }

    /// Start (or restart) the QR rotation of a page; returns the first code.
    pub fn start_qr_cycle(&self, page_id: &str) -> Option<QrCode> {
        let (gen, first, count, first_ttl, every) = {
            let mut w = self.lock();
            let cfg = (w.cfg.qr_count, w.cfg.qr_first_ttl_ms, w.cfg.qr_interval_ms);
            let page = w.pages.get_mut(page_id)?;
            page.qr_gen += 1;
            page.state = PageState::Qr;
            page.link = None;
            let code = new_qr();
            page.qr = Some(code.clone());
            page.qr_index = 1;
            (page.qr_gen, code, cfg.0, cfg.1, cfg.2)
        };
        let shared = self.clone();
        let page_id = page_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(first_ttl)).await;
            for _ in 1..count {
                if !shared.rotate_qr(&page_id, gen) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(every)).await;
            }
            shared.idle_qr(&page_id, gen);
        });
        Some(first)
    }

    /// Show the next code; false when the cycle was cancelled.
    fn rotate_qr(&self, page_id: &str, gen: u64) -> bool {
        let mut w = self.lock();
        let Some(page) = w.pages.get_mut(page_id) else {
            return false;
        };
        if page.qr_gen != gen || page.state != PageState::Qr {
            return false;
        }
        let code = new_qr();
        page.qr = Some(code.clone());
        page.qr_index += 1;
        w.send_page(page_id, &json!({"t": "qr", "qr": code}));
        true
    }

    fn idle_qr(&self, page_id: &str, gen: u64) {
        let mut w = self.lock();
        let Some(page) = w.pages.get_mut(page_id) else {
            return;
        };
        if page.qr_gen != gen || page.state != PageState::Qr {
            return;
        }
        page.state = PageState::Idle;
        page.qr = None;
        w.send_page(page_id, &json!({"t": "qr_idle"}));
    }

    /// The page's connection closed.
    pub fn goodbye(&self, page_id: &str, tx: &PageTx) {
        let mut w = self.lock();
        let Some(page) = w.pages.get_mut(page_id) else {
            return;
        };
        // A newer connection of the same page may already have replaced this one.
        if page.tx.as_ref().is_some_and(|t| !t.same_channel(tx)) {
            return;
        }
        page.tx = None;
        page.qr_gen += 1;
        if matches!(
            page.state,
            PageState::Qr | PageState::Idle | PageState::Linking | PageState::Connected
        ) {
            page.state = PageState::Disconnected;
        }
    }

    /// Keep at most 200 pages that are gone, oldest out first.
    fn prune_pages(&self) {
        let mut w = self.lock();
        let mut gone: Vec<(u64, String)> = w
            .pages
            .values()
            .filter(|p| p.tx.is_none())
            .map(|p| (p.connected_at, p.id.clone()))
            .collect();
        if gone.len() > 200 {
            gone.sort();
            for (_, id) in gone.iter().take(gone.len() - 200) {
                w.pages.remove(id);
            }
        }
    }

    /// The phone scans a QR code (its text, as a camera reads it).
    pub fn scan(&self, code: &str, phone: &str, pushname: Option<&str>) -> Result<Value, SimError> {
        let code = code.trim();
        let page_id = {
            let w = self.lock();
            w.pages
                .values()
                .find(|p| {
                    p.state == PageState::Qr
                        && p.qr.as_ref().is_some_and(|q| q.full == code || q.reference == code)
                })
                .map(|p| p.id.clone())
                .ok_or(SimError::NotFound(
                    "QR_NOT_FOUND",
                    "no page shows this QR code (expired or rotated?)",
                ))?
        };
        self.link_page(&page_id, phone, pushname)
    }

    /// The phone enters a link code that a page showed for `phone`.
    pub fn accept_link_code(&self, phone: &str, code: &str) -> Result<Value, SimError> {
        let code: String =
            code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_uppercase();
        let page_id = {
            let w = self.lock();
            w.pages
                .values()
                .find(|p| p.link.as_ref().is_some_and(|l| l.phone == phone && l.code == code))
                .map(|p| p.id.clone())
                .ok_or(SimError::NotFound(
                    "LINK_CODE_NOT_FOUND",
                    "no page shows this link code for this phone",
                ))?
        };
        self.link_page(&page_id, phone, None)
    }

    fn link_page(
        &self,
        page_id: &str,
        phone: &str,
        pushname: Option<&str>,
    ) -> Result<Value, SimError> {
        let mut w = self.lock();
        if w.pages.get(page_id).is_none_or(|p| p.tx.is_none()) {
            return Err(SimError::Conflict("PAGE_GONE", "the page is not connected"));
        }
        let account = w.account(phone);
        if let Some(name) = pushname {
            account.pushname = name.to_string();
        }
        let n = account.next_device;
        account.next_device += 1;
        let pushname = account.pushname.clone();
        let id = format!("{phone}:{n}");
        let device_name = w.pages.get(page_id).and_then(|p| p.device_name.clone());
        let device = Device {
            id: id.clone(),
            phone: phone.to_string(),
            token: random_hex_upper(40),
            marker: format!("WASIM-LOGIN-{}", random_hex_upper(24)),
            name: device_name,
            page: Some(page_id.to_string()),
            pending: Vec::new(),
            linked_at: now_ms(),
        };
        if let Some(page) = w.pages.get_mut(page_id) {
            page.qr_gen += 1;
            page.qr = None;
            page.link = None;
            page.state = PageState::Connected;
            page.device = Some(id.clone());
        }
        let frame = json!({
            "t": "paired",
            "creds": {"device_id": id, "phone": phone, "token": device.token, "marker": device.marker},
            "me": w.me_json(phone, &id, &pushname),
            "history": w.history(phone),
        });
        w.devices.insert(id.clone(), device);
        w.send_page(page_id, &frame);
        tracing::info!(device = %id, page = %page_id, "wa-sim: device linked");
        Ok(w.device_json(&w.devices[&id]))
    }

    /// The page asks for a phone-number link code. Pauses its QR rotation.
    pub fn new_link_code(&self, page_id: &str, phone: &str) -> Result<String, (String, String)> {
        let mut w = self.lock();
        let page = w
            .pages
            .get_mut(page_id)
            .ok_or_else(|| ("page_gone".to_string(), "page not connected".to_string()))?;
        if page.device.is_some() {
            return Err((
                "cannot_get_code_for_already_authenticated".into(),
                "the page is already authenticated".into(),
            ));
        }
        let code = random_from(LINK_ALPHABET, 8);
        page.qr_gen += 1;
        page.qr = None;
        page.state = PageState::Linking;
        page.link = Some(LinkCode { phone: phone.to_string(), code: code.clone() });
        Ok(code)
    }

    pub fn cancel_link_code(&self, page_id: &str) {
        let linking = self.lock().pages.get(page_id).is_some_and(|p| p.state == PageState::Linking);
        if linking {
            if let Some(code) = self.start_qr_cycle(page_id) {
                self.lock().send_page(page_id, &json!({"t": "qr", "qr": code}));
            }
        }
    }
}

impl World {
    /// Credentials came back: restore the device, or tell the page it was unlinked.
    fn hello_with_creds(&mut self, page_id: &str, creds: Creds, mut base: Value) {
        let valid = self.devices.get(&creds.device_id).is_some_and(|d| d.token == creds.token);
        if !valid {
            let reason = self
                .unlinked
                .get(&creds.device_id)
                .cloned()
                .unwrap_or_else(|| "unknown_companion".into());
            if let Some(p) = self.pages.get_mut(page_id) {
                p.state = PageState::LoggedOut;
            }
            base["mode"] = json!("revoked");
            base["reason"] = json!(reason);
            self.send_page(page_id, &base);
            return;
        }
        // Another page holding the same device loses it (a copied profile opened twice).
        let old_page = self.devices.get(&creds.device_id).and_then(|d| d.page.clone());
        if let Some(old) = old_page.filter(|o| o != page_id) {
            if self.pages.get(&old).is_some_and(|p| p.tx.is_some()) {
                self.send_page(&old, &json!({"t": "conflict"}));
                self.close_page(&old);
                if let Some(p) = self.pages.get_mut(&old) {
                    p.state = PageState::Conflict;
                }
            }
        }
        let Some(device) = self.devices.get_mut(&creds.device_id) else {
            return;
        };
        // The same page load reconnecting (after `/offline` or a network drop) gets the state
        // changes it missed as events; a new page load (reload, browser restart) starts from the
        // server's current state and gets none of them. Messages are never replayed as events in
        // either case: they come in the history, as WhatsApp Web's offline delivery does (wa-js
        // issue 730), and the page adds them to its chats without `chat.new_message`.
        let same_load = device.page.as_deref() == Some(page_id);
        device.page = Some(page_id.to_string());
        let pending = std::mem::take(&mut device.pending);
        let phone = device.phone.clone();
        let id = device.id.clone();
        if let Some(p) = self.pages.get_mut(page_id) {
            p.state = PageState::Connected;
            p.device = Some(id.clone());
            p.qr = None;
        }
        let mut replay: Vec<Value> = if same_load {
            pending.into_iter().filter(catch_up_replays).collect()
        } else {
            Vec::new()
        };
        // Sends whose answer was lost (`send_unacked`): WhatsApp Web sends its pending messages
        // again when it reconnects and the server acks them, so the page learns their ack now.
        for id in self.unacked.remove(page_id).unwrap_or_default() {
            if let Some(m) = self.find_msg(&id) {
                replay.push(json!({"t": "ev", "kind": "ack", "ack": m.ack.max(1), "msg": m}));
            }
        }
        let pushname = self.account(&phone).pushname.clone();
        base["mode"] = json!("linked");
        base["me"] = self.me_json(&phone, &id, &pushname);
        base["history"] = self.history(&phone);
        self.send_page(page_id, &base);
        for ev in replay {
            self.send_page(page_id, &ev);
        }
        self.deliver_pending_to(&phone);
    }

    pub(crate) fn me_json(&mut self, phone: &str, device_id: &str, pushname: &str) -> Value {
        let lid = self.lid_of(phone);
        json!({"phone": phone, "device_id": device_id, "pushname": pushname, "lid": lid})
    }

    /// The phone removes linked devices. Returns the ids it removed.
    pub fn unlink(&mut self, t: &Target, reason: &str) -> Vec<String> {
        let ids: Vec<String> = self
            .devices
            .values()
            .filter(|d| match (&t.device, &t.phone) {
                (Some(id), _) => &d.id == id,
                (None, Some(ph)) => &d.phone == ph,
                (None, None) => false,
            })
            .map(|d| d.id.clone())
            .collect();
        for id in &ids {
            self.drop_device(id, reason);
        }
        ids
    }

    pub(crate) fn drop_device(&mut self, id: &str, reason: &str) {
        let Some(device) = self.devices.remove(id) else {
            return;
        };
        tracing::info!(device = %id, reason, "wa-sim: device unlinked");
        self.unlinked.insert(id.to_string(), reason.to_string());
        if let Some(page_id) = device.page {
            if self.send_page(&page_id, &json!({"t": "logout", "reason": reason})) {
                if let Some(p) = self.pages.get_mut(&page_id) {
                    p.state = PageState::LoggedOut;
                    p.device = None;
                }
            }
        }
    }
}

/// Which events a reconnecting page still gets after its catch-up history: state changes of
/// messages it may already hold (acks, edits, revokes, votes, group changes, decryptions). New
/// messages come in the history instead; presence, typing and calls are moments that passed;
/// reactions are not re-emitted either (wa-js emits `chat.new_reaction` only for reactions
/// processed one by one as they happen, and skips batches of earlier ones).
fn catch_up_replays(ev: &Value) -> bool {
    matches!(ev["kind"].as_str(), Some("ack" | "revoke" | "edit" | "vote" | "group" | "decrypt"))
}

fn new_qr() -> QrCode {
    let reference = format!("2@{}", random_b64(48));
    let static_key = random_b64(32);
    let identity_key = random_b64(32);
    let secret = random_b64(32);
    let full = format!("{reference},{static_key},{identity_key},{secret}");
    QrCode { reference, static_key, identity_key, secret, full }
}
