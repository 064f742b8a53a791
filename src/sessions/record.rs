//! `sessions/{workspace}/{session}/session.toml`: the non-secret, durable description of a session
//! (what the host asked for and whether it should be running), written atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, SessionKey, WorkspaceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Running,
    Stopped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub workspace: WorkspaceId,
    pub id: SessionId,
    pub desired: Desired,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// The terminal state the session settled in (`failed`, `conflict`, `logged_out`), if any, so
    /// a restart shows it instead of `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<Halted>,
    /// The account's phone number once known (not secret: the host knows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Halted {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SessionRecord {
    pub fn key(&self) -> SessionKey {
        SessionKey::new(self.workspace.clone(), self.id.clone())
    }
}

pub fn session_dir(root: &Path, key: &SessionKey) -> PathBuf {
    root.join(key.workspace.as_str()).join(key.session.as_str())
}

fn record_path(root: &Path, key: &SessionKey) -> PathBuf {
    session_dir(root, key).join("session.toml")
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("session record I/O at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("session record {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Write, fsync, rename, fsync the directory: a crash leaves the old record or the new one.
pub fn save(root: &Path, record: &SessionRecord) -> Result<(), RecordError> {
    let path = record_path(root, &record.key());
    let io = |source| RecordError::Io { path: path.clone(), source };
    let text = toml::to_string(record)
        .map_err(|e| RecordError::Invalid { path: path.clone(), message: e.to_string() })?;
    let dir = path.parent().unwrap_or(root);
    let tmp = dir.join(".session.toml.tmp");
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

pub fn load(path: &Path) -> Result<SessionRecord, RecordError> {
    let text =
        fs::read_to_string(path).map_err(|source| RecordError::Io { path: path.into(), source })?;
    toml::from_str(&text)
        .map_err(|e| RecordError::Invalid { path: path.into(), message: e.to_string() })
}

/// Every record under the sessions root whose folder names are valid ids (anything else is not ours).
pub fn load_all(root: &Path) -> Vec<Result<SessionRecord, RecordError>> {
    let mut out = Vec::new();
    for ws in read_dir_names(root) {
        let Ok(workspace) = WorkspaceId::parse(&ws) else { continue };
        for s in read_dir_names(&root.join(&ws)) {
            let Ok(session) = SessionId::parse(&s) else { continue };
            let path = record_path(root, &SessionKey::new(workspace.clone(), session));
            if path.exists() {
                out.push(load(&path));
            }
        }
    }
    out
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_is_found_by_load_all() {
        let root = tempfile::tempdir().unwrap();
        let key =
            SessionKey::new(WorkspaceId::parse("acme").unwrap(), SessionId::parse("main").unwrap());
        fs::create_dir_all(session_dir(root.path(), &key)).unwrap();
        let rec = SessionRecord {
            workspace: key.workspace.clone(),
            id: key.session.clone(),
            desired: Desired::Running,
            callback_url: Some("https://host.test/hook".into()),
            metadata: [("team".to_string(), "sales".to_string())].into(),
            created_at_ms: 1,
            halted: None,
            phone: None,
        };
        save(root.path(), &rec).unwrap();
        fs::create_dir_all(root.path().join("Not-Valid").join("x")).unwrap();
        let all = load_all(root.path());
        assert_eq!(all.len(), 1);
        let back = all.into_iter().next().unwrap().unwrap();
        assert_eq!(back.desired, Desired::Running);
        assert_eq!(back.metadata["team"], "sales");
        assert!(!session_dir(root.path(), &key).join(".session.toml.tmp").exists());
    }
}
