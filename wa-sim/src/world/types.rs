//! The records the simulated WhatsApp keeps: pages, devices, accounts, messages, groups, faults.

use super::PageTx;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What a page is showing, as the control API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageState {
    /// Connected, not linked, showing a rotating QR code.
    Qr,
    /// Not linked and the QR stopped rotating (`conn.qrcode_idle`).
    Idle,
    /// Showing a phone-number link code.
    Linking,
    /// Linked to a device.
    Connected,
    /// Its connection dropped (network loss, offline fault, page closed or reloaded).
    Disconnected,
    /// Another client took the account over.
    Conflict,
    /// Logged out (phone unlinked it or `WPP.conn.logout()`).
    LoggedOut,
    /// Told to crash.
    Crashed,
}

/// One QR code: the `AuthCode` of wa-js.
#[derive(Clone, Debug, Serialize)]
pub struct QrCode {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(rename = "staticKeyPair")]
    pub static_key: String,
    #[serde(rename = "identityKeyPair")]
    pub identity_key: String,
    #[serde(rename = "secretKey")]
    pub secret: String,
    #[serde(rename = "fullCode")]
    pub full: String,
}

#[derive(Clone, Debug)]
pub struct LinkCode {
    pub phone: String,
    pub code: String,
}

pub struct Page {
    pub id: String,
    pub tx: Option<PageTx>,
    pub user_agent: String,
    pub state: PageState,
    pub qr: Option<QrCode>,
    /// How many codes this QR cycle has shown.
    pub qr_index: u32,
    /// Bumped to cancel a running QR cycle.
    pub qr_gen: u64,
    pub link: Option<LinkCode>,
    pub device: Option<String>,
    pub device_name: Option<String>,
    pub connected_at: u64,
}

impl Page {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "state": self.state,
            "connected": self.tx.is_some(),
            "qr": self.qr.as_ref().map(|q| q.full.clone()),
            "qr_index": self.qr_index,
            "link_code": self.link.as_ref().map(|l| json!({"phone": l.phone, "code": l.code})),
            "device": self.device,
            "device_name": self.device_name,
            "user_agent": self.user_agent,
            "connected_at": self.connected_at,
        })
    }
}

pub struct Device {
    /// `<phone>:<n>`; its wid is `<phone>:<n>@c.us`.
    pub id: String,
    pub phone: String,
    pub token: String,
    /// Written into the page's IndexedDB login record (`wa_sim_login_marker`).
    pub marker: String,
    pub name: Option<String>,
    pub page: Option<String>,
    /// Events that arrived while its page was away.
    pub pending: Vec<Value>,
    pub linked_at: u64,
}

pub struct Account {
    pub phone: String,
    pub pushname: String,
    pub next_device: u32,
    /// Others see this account by its LID (`<lid>@lid`): chats, senders, participants.
    pub lid_addressed: bool,
    /// Others can map its LID to its phone number (`getPnLidEntry` on the LID gives both).
    pub pn_visible: bool,
}

impl Account {
    pub fn new(phone: &str) -> Self {
        Account {
            phone: phone.to_string(),
            pushname: format!("Sim {phone}"),
            next_device: 2,
            lid_addressed: false,
            pn_visible: true,
        }
    }
}

/// A message as the server routes it. The page turns it into a `MsgModel` relative to its own
/// account (fromMe, remote, participant).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Msg {
    pub id: String,
    /// Phone number of the author.
    pub sender: String,
    /// Where it was sent: `<phone>@c.us` or `<id>@g.us`.
    pub chat: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: String,
    pub t: u64,
    pub ack: i64,
    #[serde(rename = "notifyName")]
    pub notify_name: String,
    /// When the server took it (ms), for ordering against presence and typing.
    #[serde(default)]
    pub at_ms: u64,
    /// Type-specific fields (caption, mimetype, lat, vcardList, quotedMsgId, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Msg {
    /// The phone number of a one-to-one chat, None for a group.
    pub fn chat_phone(&self) -> Option<&str> {
        self.chat.strip_suffix("@c.us")
    }

    pub fn is_group(&self) -> bool {
        self.chat.ends_with("@g.us")
    }

    /// The message key as the sender sees it.
    pub fn sender_key(&self) -> String {
        if self.is_group() {
            format!("true_{}_{}_{}@c.us", self.chat, self.id, self.sender)
        } else {
            format!("true_{}_{}", self.chat, self.id)
        }
    }

    /// The message key as a recipient sees it.
    pub fn recipient_key(&self) -> String {
        if self.is_group() {
            format!("false_{}_{}_{}@c.us", self.chat, self.id, self.sender)
        } else {
            format!("false_{}@c.us_{}", self.sender, self.id)
        }
    }
}

pub struct Media {
    pub mimetype: String,
    pub bytes: Vec<u8>,
}

pub struct Group {
    pub id: String,
    pub subject: String,
    pub owner: String,
    pub admins: Vec<String>,
    pub members: Vec<String>,
    pub invite_code: String,
}

/// Faults set through the control API. They apply to every page of this server.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Pages that load while this is set never reach `WPP.isReady`.
    pub never_ready: bool,
    /// Every send rejects with a `WPPError` of this code.
    pub send_error: Option<String>,
    /// Every send stays pending forever.
    pub send_hang: bool,
    /// Every send reaches the recipient but the sending page never hears back: no answer, no
    /// `chat.msg_ack_change`, ack 0 on the page until it reloads (the server has ack 1).
    pub send_unacked: bool,
    /// Every send is answered with this failed `messageSendResult` (e.g. `ERROR_UNKNOWN`): the
    /// message gets ack -1, no event, and is not delivered.
    pub send_failure: Option<String>,
}

/// A voice or video call offered to an account.
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    pub id: String,
    pub from: String,
    pub to: String,
    pub is_video: bool,
    pub is_group: bool,
    /// Unix seconds.
    pub offer_time: u64,
    /// `ringing`, `rejected` (by a page), `ended` (by the caller).
    pub state: String,
}

/// Which connections are cut.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Offline {
    pub all: bool,
    pub pages: Vec<String>,
    pub devices: Vec<String>,
}

impl Offline {
    pub fn covers(&self, page: &str, device: Option<&str>) -> bool {
        self.all
            || self.pages.iter().any(|p| p == page)
            || device.is_some_and(|d| self.devices.iter().any(|x| x == d))
    }
}
