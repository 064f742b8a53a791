//! Simulator configuration: where it listens and every duration of WhatsApp's schedule, in
//! milliseconds, so tests can run WhatsApp's minutes in a second.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Everything a [`crate::SimServer`] needs. `Default` is WhatsApp's own schedule;
/// [`SimConfig::fast`] is a schedule for tests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Address to bind. Keep it loopback.
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one (stable for the server's life).
    pub port: u16,
    /// How long the first QR code is shown before it rotates (WhatsApp: 60 s).
    pub qr_first_ttl_ms: u64,
    /// How long each later QR code is shown (WhatsApp: 20 s).
    pub qr_interval_ms: u64,
    /// How many codes are shown before the page goes idle (WhatsApp: 6).
    pub qr_count: u32,
    /// Page connected → `loader.injected`.
    pub boot_delay_ms: u64,
    /// `loader.injected` → `conn.main_init` / `loader.ready`.
    pub ready_delay_ms: u64,
    /// Ready → main (`SYNCING` → `MAIN` on a restored login).
    pub main_delay_ms: u64,
    /// Scan accepted → `conn.authenticated`.
    pub pair_delay_ms: u64,
    /// How often a page whose connection dropped tries again.
    pub reconnect_ms: u64,
    /// Lifetime of a managed link code before it is refreshed (WhatsApp: 3.25 min).
    pub link_code_ttl_ms: u64,
    /// Automatic link-code refreshes before `conn.link_code_expired` (WhatsApp: 5).
    pub link_code_refreshes: u32,
    /// `conn.logout` → the page reloads itself (as WhatsApp Web does).
    pub logout_reload_ms: u64,
    /// The page registers a service worker and waits for it before it boots.
    pub require_service_worker: bool,
    /// A message to an account with a connected linked device gets ack 2 (RECEIVED) by itself.
    pub auto_delivery_ack: bool,
    /// Upload limit for `sendFileMessage`; larger files fail with `file_too_large`.
    pub max_media_bytes: usize,
    /// Extra JS heap and DOM the page carries, like a real account's (off by default).
    pub page_weight: PageWeight,
}

/// What the page builds when it loads, beside its own small state: contacts, chats and messages
/// (base64 thumbnails on some) kept reachable until the page goes, and a chat list and an open
/// chat in the DOM. Zero means none of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageWeight {
    /// Model data the page keeps on its JS heap, in MiB (as measured by `Runtime.getHeapUsage`).
    pub heap_mib: u32,
    /// DOM nodes (elements and text) of the rendered chat list and conversation.
    pub dom_nodes: u32,
}

impl PageWeight {
    /// A page as light as wa-sim's own (nothing added).
    pub const OFF: PageWeight = PageWeight { heap_mib: 0, dom_nodes: 0 };
    /// A busy real account's logged-in WhatsApp Web: 64 MiB of model data on the JS heap and a
    /// chat list plus an open conversation of 4,000 nodes. See docs/simulator.md for the reasoning.
    pub const ACCOUNT: PageWeight = PageWeight { heap_mib: 64, dom_nodes: 4_000 };

    pub fn is_off(&self) -> bool {
        *self == Self::OFF
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            qr_first_ttl_ms: 60_000,
            qr_interval_ms: 20_000,
            qr_count: 6,
            boot_delay_ms: 300,
            ready_delay_ms: 200,
            main_delay_ms: 300,
            pair_delay_ms: 500,
            reconnect_ms: 2_000,
            link_code_ttl_ms: 195_000,
            link_code_refreshes: 5,
            logout_reload_ms: 1_000,
            require_service_worker: true,
            auto_delivery_ack: true,
            max_media_bytes: 16 * 1024 * 1024,
            page_weight: PageWeight::OFF,
        }
    }
}

impl SimConfig {
    /// WhatsApp's schedule compressed for tests: QR codes rotate in well under a second.
    pub fn fast() -> Self {
        SimConfig {
            qr_first_ttl_ms: 1_500,
            qr_interval_ms: 500,
            qr_count: 6,
            // Long enough for a glue that polls for `window.WPP` every 50 ms to attach first.
            boot_delay_ms: 200,
            ready_delay_ms: 50,
            main_delay_ms: 100,
            pair_delay_ms: 100,
            reconnect_ms: 200,
            link_code_ttl_ms: 2_000,
            logout_reload_ms: 200,
            ..SimConfig::default()
        }
    }

    /// The part of the schedule the page itself runs (sent to it on connect).
    pub(crate) fn page_timings(&self) -> serde_json::Value {
        serde_json::json!({
            "boot_delay_ms": self.boot_delay_ms,
            "ready_delay_ms": self.ready_delay_ms,
            "main_delay_ms": self.main_delay_ms,
            "pair_delay_ms": self.pair_delay_ms,
            "reconnect_ms": self.reconnect_ms,
            "link_code_ttl_ms": self.link_code_ttl_ms,
            "link_code_refreshes": self.link_code_refreshes,
            "logout_reload_ms": self.logout_reload_ms,
            "require_service_worker": self.require_service_worker,
            "max_media_bytes": self.max_media_bytes,
            "page_weight": self.page_weight,
        })
    }
}
