//! The simulated WhatsApp: every page that is connected, every account (by phone number), every
//! linked device and its credentials, every message, and the faults the control API has set.
//!
//! It lives in memory for the server's whole life, so a page that reloads or a browser that
//! restarts on the same profile finds its device again. One `Mutex` guards it; it is never held
//! across an `.await`.

pub mod cloud;
pub mod linking;
pub mod messages;
mod network;
mod others;
mod rpc;
mod types;

pub use linking::Hello;
pub use messages::Incoming;
pub use network::Target;
pub use types::*;

use crate::config::SimConfig;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::UnboundedSender;

/// What the server sends down one page's WebSocket.
#[derive(Debug)]
pub enum Outbound {
    Text(String),
    /// Close the connection (the network "drops").
    Close,
}

pub type PageTx = UnboundedSender<Outbound>;

/// The world shared by HTTP handlers, WebSocket connections and timers.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<World>>);

impl Shared {
    pub fn new(cfg: SimConfig, base_url: String) -> Self {
        Shared(Arc::new(Mutex::new(World::new(cfg, base_url))))
    }

    /// Lock the world. A poisoned lock means a handler panicked mid-update; the simulator keeps
    /// serving with whatever state it left, which is what a test wants to see.
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct World {
    pub cfg: SimConfig,
    pub base_url: String,
    pub(crate) pages: BTreeMap<String, Page>,
    pub(crate) devices: BTreeMap<String, Device>,
    /// Device id → logout reason, for credentials that were unlinked while their page was away.
    pub(crate) unlinked: HashMap<String, String>,
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) msgs: Vec<Msg>,
    pub(crate) media: HashMap<String, Media>,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) faults: Faults,
    pub(crate) offline: Offline,
    pub(crate) missing: BTreeSet<String>,
    pub(crate) lids: HashMap<String, String>,
    /// Chat states the accounts' pages sent (`markIsComposing` …), oldest first.
    pub(crate) presence_log: Vec<Value>,
    pub(crate) calls: BTreeMap<String, Call>,
    /// (phone, raw id) an account starred / deleted for itself.
    pub(crate) stars: BTreeSet<(String, String)>,
    pub(crate) hidden: BTreeSet<(String, String)>,
    /// Placeholders (`ciphertext`) and the message they become when they decrypt.
    pub(crate) undecrypted: HashMap<String, Msg>,
    /// Raw message id → its index in `msgs` (which only grows).
    pub(crate) msg_index: HashMap<String, usize>,
    /// Media whose copy on WhatsApp's servers is gone (downloads fail).
    pub(crate) gone_media: BTreeSet<String>,
    /// Group message raw id → participant phone → its receipt (2 delivered, 3 read, 4 played).
    pub(crate) receipts: HashMap<String, BTreeMap<String, i64>>,
    /// Page id → raw ids it sent under `send_unacked` and never heard back about.
    pub(crate) unacked: HashMap<String, Vec<String>>,
    /// Message raw id → reactor phone → its current reaction `{id, text, timestamp}` (a reaction
    /// taken back is gone), what `WPP.chat.getReactions` reads.
    pub(crate) reactions: HashMap<String, BTreeMap<String, Value>>,
    /// Poll raw id → voter phone → its current vote `{options, timestamp, voter_lid}`, what
    /// `WPP.chat.getVotes` reads.
    pub(crate) votes: HashMap<String, BTreeMap<String, Value>>,
    /// The Cloud API door: business numbers, windows, what they sent, webhooks owed.
    pub(crate) cloud: cloud::CloudState,
}

impl World {
    fn new(cfg: SimConfig, base_url: String) -> Self {
        World {
            cfg,
            base_url,
            pages: BTreeMap::new(),
            devices: BTreeMap::new(),
            unlinked: HashMap::new(),
            accounts: BTreeMap::new(),
            msgs: Vec::new(),
            media: HashMap::new(),
            groups: BTreeMap::new(),
            faults: Faults::default(),
            offline: Offline::default(),
            missing: BTreeSet::new(),
            lids: HashMap::new(),
            presence_log: Vec::new(),
            calls: BTreeMap::new(),
            stars: BTreeSet::new(),
            hidden: BTreeSet::new(),
            undecrypted: HashMap::new(),
            msg_index: HashMap::new(),
            gone_media: BTreeSet::new(),
            receipts: HashMap::new(),
            unacked: HashMap::new(),
            reactions: HashMap::new(),
            votes: HashMap::new(),
            cloud: cloud::CloudState::default(),
        }
    }

    /// Send one JSON frame to a page if it is connected; false when it is not.
    pub(crate) fn send_page(&self, page_id: &str, frame: &Value) -> bool {
        match self.pages.get(page_id).and_then(|p| p.tx.as_ref()) {
            Some(tx) => tx.send(Outbound::Text(frame.to_string())).is_ok(),
            None => false,
        }
    }

    pub(crate) fn close_page(&mut self, page_id: &str) {
        if let Some(page) = self.pages.get_mut(page_id) {
            if let Some(tx) = page.tx.take() {
                let _ = tx.send(Outbound::Close);
            }
        }
    }

    /// Deliver an event to every linked device of `phone` except the page `except`; devices whose
    /// page is away keep it until they reconnect.
    pub(crate) fn push_account(&mut self, phone: &str, ev: Value, except: Option<&str>) {
        let ids: Vec<String> =
            self.devices.values().filter(|d| d.phone == phone).map(|d| d.id.clone()).collect();
        for id in ids {
            let page = self.devices.get(&id).and_then(|d| d.page.clone());
            if page.is_some() && page.as_deref() == except {
                continue;
            }
            let sent = page.as_deref().is_some_and(|p| self.send_page(p, &ev));
            if !sent {
                if let Some(d) = self.devices.get_mut(&id) {
                    d.pending.push(ev.clone());
                }
            }
        }
    }

    /// True when `phone` has a linked device whose page is connected right now.
    pub(crate) fn has_live_device(&self, phone: &str) -> bool {
        self.devices.values().any(|d| {
            d.phone == phone
                && d.page.as_deref().and_then(|p| self.pages.get(p)).is_some_and(|p| p.tx.is_some())
        })
    }

    pub(crate) fn account(&mut self, phone: &str) -> &mut Account {
        self.accounts.entry(phone.to_string()).or_insert_with(|| Account::new(phone))
    }

    /// A stable privacy id (`…@lid`) for a phone number, remembered both ways.
    pub(crate) fn lid_of(&mut self, phone: &str) -> String {
        let lid = messages::lid_for(phone);
        self.lids.insert(lid.clone(), phone.to_string());
        lid
    }

    /// How others name `phone`: `<lid>@lid` when it is lid-addressed, else `<phone>@c.us`.
    pub(crate) fn wid_of(&self, phone: &str) -> String {
        match self.accounts.get(phone).filter(|a| a.lid_addressed) {
            Some(_) => format!("{}@lid", messages::lid_for(phone)),
            None => format!("{phone}@c.us"),
        }
    }

    /// `{phone: wid}` for a list of phones (members of a group, say).
    pub(crate) fn wids_of<'a>(&self, phones: impl IntoIterator<Item = &'a String>) -> Value {
        let mut out = serde_json::Map::new();
        for p in phones {
            out.insert(p.clone(), json!(self.wid_of(p)));
        }
        Value::Object(out)
    }

    /// The JSON the control API lists for every page.
    pub fn pages_json(&self) -> Value {
        Value::Array(self.pages.values().map(Page::to_json).collect())
    }

    pub fn devices_json(&self) -> Value {
        Value::Array(self.devices.values().map(|d| self.device_json(d)).collect())
    }

    pub(crate) fn device_json(&self, d: &Device) -> Value {
        let connected =
            d.page.as_deref().and_then(|p| self.pages.get(p)).is_some_and(|p| p.tx.is_some());
        json!({
            "id": d.id, "phone": d.phone, "wid": format!("{}@c.us", d.id),
            "page": d.page, "connected": connected, "name": d.name,
            "login_marker": d.marker, "pending_events": d.pending.len(),
            "linked_at": d.linked_at,
        })
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn now_s() -> u64 {
    now_ms() / 1000
}

/// `n` random characters from `alphabet`.
pub(crate) fn random_from(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

pub(crate) fn random_hex_upper(n: usize) -> String {
    random_from(b"0123456789ABCDEF", n)
}

pub(crate) fn random_b64(bytes: usize) -> String {
    use base64::Engine;
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random::<u8>()).collect();
    base64::engine::general_purpose::STANDARD.encode(raw)
}
