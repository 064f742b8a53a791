//! What the outside world sees of a session: a snapshot the actor republishes on every change.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use utoipa::ToSchema;

use super::state::State;
use crate::ids::{SessionId, WorkspaceId};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Snapshot {
    #[schema(value_type = String, example = "main")]
    pub id: SessionId,
    #[schema(value_type = String, example = "acme")]
    pub workspace: WorkspaceId,
    pub state: State,
    pub reason: Option<String>,
    pub phone: Option<String>,
    pub qr: Option<QrView>,
    /// Automatic restarts since the session was last connected.
    pub recoveries: u32,
    pub created_at: String,
    pub state_since: String,
    /// Without its query string or credentials (`https://host/hook?redacted`).
    pub callback_url: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The QR text itself; served by the QR endpoint only.
    #[serde(skip)]
    pub qr_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QrView {
    pub attempt: u32,
    pub max_attempts: u32,
    pub issued_at: String,
    pub expires_at: String,
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
