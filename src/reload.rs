//! SIGHUP: re-read the configuration and apply what can change without dropping a session —
//! `log.level`, the callback secrets (`callbacks.secrets`, `callbacks.secrets_file`) and the
//! sending pace (`[sending.pacing]`).
//! Everything else (bind address, folders, keys, engine and session settings) needs a restart;
//! a change there is logged as ignored. A configuration that does not load or validate changes
//! nothing. Owns only this reaction; each part applies its own change (telemetry, the outbox,
//! sending).

use crate::config::{LoadOptions, Settings};
use crate::startup::AppState;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Takes over SIGHUP (whose default action ends the process) as early as possible; the signals
/// that arrive before [`on_sighup`] runs are kept and handled then.
pub fn listen() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Handles SIGHUP until the process ends (spawn it on the runtime that serves).
pub async fn on_sighup(
    mut hangups: Signal,
    options: LoadOptions,
    state: actix_web::web::Data<AppState>,
) {
    while hangups.recv().await.is_some() {
        let options = options.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            Settings::load(&options).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        apply(loaded, &state);
    }
}

fn apply(loaded: Result<Settings, String>, state: &AppState) {
    let fresh = match loaded.and_then(|s| s.check().map(|()| s).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: the configuration does not load; nothing changed");
            return;
        }
    };
    match crate::telemetry::set_level(&fresh.log.level) {
        Ok(filter) => tracing::info!(filter = %filter, "SIGHUP: log level applied"),
        Err(e) => tracing::error!(error = %e, "SIGHUP: log level unchanged"),
    }
    match state.outbox.reload_secrets(&fresh.callbacks) {
        Ok(count) => tracing::info!(secrets = count, "SIGHUP: callback secrets reloaded"),
        Err(e) => tracing::error!(error = %e, "SIGHUP: callback secrets unchanged"),
    }
    if state.messages.send.reload_pacing(fresh.sending.pacing.clone()) {
        tracing::info!(
            enabled = fresh.sending.pacing.enabled,
            daily_cap = fresh.sending.pacing.daily_cap,
            "SIGHUP: sending pacing applied"
        );
    }
    let ignored = needs_restart(&state.settings, &fresh);
    if !ignored.is_empty() {
        tracing::warn!(sections = ?ignored, "SIGHUP: these changed and need a restart to apply");
    }
}

/// Sections other than the reloadable keys that differ between two configurations (compared in
/// memory only; never logged, since some hold secrets).
fn needs_restart(old: &Settings, new: &Settings) -> Vec<&'static str> {
    fn differs<T: serde::Serialize>(a: &T, b: &T) -> bool {
        serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
    }
    let checks = [
        ("server", differs(&old.server, &new.server)),
        ("auth", differs(&old.auth, &new.auth)),
        ("engine", differs(&old.engine, &new.engine)),
        ("sessions", differs(&old.sessions, &new.sessions)),
        ("vault", differs(&old.vault, &new.vault)),
        ("sending", {
            // Its pacing is applied; the rest of it is read at start.
            let pace = |s: &Settings| {
                let mut sending = s.sending.clone();
                sending.pacing = Default::default();
                sending
            };
            differs(&pace(old), &pace(new))
        }),
    ];
    checks.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
}
