//! Startup in one place: [`Application::build`] validates the settings, prepares the directories
//! and keys, builds the shared [`AppState`] and binds the server. `main` and the tests go through
//! exactly this path; only the settings differ.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use prometheus_client::registry::Registry;

use crate::api::auth::Authenticator;
use crate::api::health::{self, Readiness};
use crate::api::metrics::HttpMetrics;
use crate::api::{self, context, ip_allow};
use crate::callbacks::{Outbox, OutboxError};
use crate::config::{load_keys, InvalidConfig, LoadedKeys, Settings, DEV_KEY_ID};
use crate::db;
use crate::engine::{ChromiumEngine, Engine, EngineConfig};
use crate::events::EventBus;
use crate::ids::SessionKey;
use crate::messages::{MessageStore, Messages};
use crate::sessions::profile::{ProfileStore, ProfileWatch};
use crate::sessions::SessionManager;
use crate::vault::{ResealWatcher, VaultError, VaultKeys, VaultStore, WatcherConfig};

/// Everything handlers share, behind one `web::Data<AppState>`.
pub struct AppState {
    pub settings: Settings,
    pub auth: Authenticator,
    pub allow_ips: Vec<ipnet::IpNet>,
    pub metrics: HttpMetrics,
    /// Frozen once the server starts; register metrics in [`build_state`].
    pub registry: Registry,
    pub readiness: Readiness,
    pub sessions: SessionManager,
    /// The sealed-profile store, also used at boot to sweep plaintext left by a crash.
    pub vault: Arc<VaultStore>,
    /// The durable callbacks outbox; also served to its routes as `web::Data<Outbox>`.
    pub outbox: Outbox,
    /// Sending and receiving; also served to its routes as `web::Data<Messages>`.
    pub messages: Messages,
}

impl AppState {
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.server.body_timeout_ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] InvalidConfig),
    #[error("cannot create {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("callbacks: {0}")]
    Callbacks(#[from] OutboxError),
    #[error("messages: {0}")]
    Messages(#[from] crate::messages::StoreError),
}

pub struct Application {
    address: SocketAddr,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.check()?;
        create_dir(&settings.server.data_dir)?;
        create_dir(&settings.server.sessions_dir)?;
        let keys = load_keys(&settings, true).map_err(InvalidConfig)?;
        announce_keys(&keys);
        let state = web::Data::new(build_state(settings, keys).await?);
        state.outbox.start();
        recover_sessions(&state).await;
        let listener = bind(&state.settings)?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: state.settings.server.bind.clone(),
            source,
        })?;
        let server = serve(listener, state.clone())
            .map_err(|source| StartupError::Bind { addr: address.to_string(), source })?;
        tracing::info!(%address, mode = state.settings.mode.name(), "listening on http://{address}");
        Ok(Self { address, server, state })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Stops the server gracefully (used by tests and signal handling).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM or [`Application::handle`]`.stop()`, then closes every
    /// browser (persisting logins) before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // Sessions first: their last status events go into the outbox, which then stops.
        let deadline = Duration::from_millis(self.state.settings.sessions.shutdown_timeout_ms);
        self.state.sessions.shutdown(deadline).await;
        self.state.outbox.stop().await;
        served
    }
}

/// The shared state. Modules that need state or metrics are built here, in this order, and
/// register their metrics and readiness checks before the registry is frozen.
async fn build_state(settings: Settings, keys: LoadedKeys) -> Result<AppState, StartupError> {
    let mut registry = Registry::with_prefix("wa_sidecar");
    let metrics = HttpMetrics::register(&mut registry);
    let mut readiness =
        Readiness::new(Duration::from_millis(settings.server.health_check_timeout_ms));
    readiness.register(health::ConfigLoaded);
    readiness
        .register(health::DirWritable { name: "data_dir", path: settings.server.data_dir.clone() });
    readiness.register(health::DirWritable {
        name: "sessions_dir",
        path: settings.server.sessions_dir.clone(),
    });
    readiness.register(health::BinaryPresent {
        name: "chromium",
        path: settings.engine.chromium_path.clone(),
    });
    if settings.engine.inject_bridge {
        readiness.register(BridgeFile(settings.engine.clone()));
    }
    let vault_keys = VaultKeys::load_or_generate(
        &settings.vault,
        &settings.server.data_dir,
        settings.mode.is_production(),
    )?;
    let mut vault_cfg = settings.vault.clone();
    vault_cfg.runtime_dir = settings.server.data_dir.join(&vault_cfg.runtime_dir);
    if let Some((key, problem)) = vault_cfg.runtime_dir_problem(&settings.server.sessions_dir) {
        // Plaintext profiles must never sit where sealed files live.
        let problem = crate::config::Problem { key: format!("vault.{key}"), problem };
        return Err(InvalidConfig(vec![problem]).into());
    }
    let vault_keys = Arc::new(vault_keys);
    let vault = Arc::new(VaultStore::new(
        &vault_cfg,
        settings.server.sessions_dir.clone(),
        vault_keys.clone(),
    ));
    let outbox = Outbox::open(&settings.callbacks, &db::path_in(&settings.server.data_dir))?;
    outbox.register_metrics(&mut registry);
    // Every session event is committed to the outbox before anything else sees it.
    let bus = EventBus::new(vec![Arc::new(outbox.clone())]);
    let sessions = build_sessions(&settings, vault.clone(), bus.clone(), &outbox);
    let store = MessageStore::open(&db::path_in(&settings.server.data_dir))?;
    let messages = Messages::start(store, sessions.clone(), bus);
    crate::messages::inbound::metrics::register(&mut registry);
    messages.set_up_receiving(crate::messages::inbound::Setup {
        media: Arc::new(crate::messages::inbound::media::MediaStore::new(
            &settings.server.data_dir,
            vault_keys,
            settings.callbacks.media_retention,
            settings.callbacks.inline_media_max_bytes,
        )),
        reject_calls: settings.calls.reject,
    });
    let auth = Authenticator::new(
        keys.keys,
        settings.auth.max_skew_secs,
        settings.auth.nonce_cache_entries,
    );
    let allow_ips = settings.auth.allow_nets();
    Ok(AppState {
        settings,
        auth,
        allow_ips,
        metrics,
        registry,
        readiness,
        sessions,
        vault,
        outbox,
        messages,
    })
}

/// The session registry: one Chromium engine per session, logins in the vault, reseals while a
/// browser runs, events on `bus`.
fn build_sessions(
    settings: &Settings,
    vault: Arc<VaultStore>,
    bus: EventBus,
    outbox: &Outbox,
) -> SessionManager {
    let engine_cfg = Arc::new(settings.engine.clone());
    let engines = Arc::new(move |_: &SessionKey| {
        Box::new(ChromiumEngine::new(engine_cfg.clone())) as Box<dyn Engine>
    });
    let profiles: Arc<dyn ProfileStore> = vault;
    let watch_cfg = WatcherConfig::from(&settings.vault);
    let watched = profiles.clone();
    let watch: ProfileWatch = Arc::new(move |key: &SessionKey, dir: &std::path::Path| {
        match ResealWatcher::spawn(watched.clone(), key.clone(), dir.to_owned(), watch_cfg.clone())
        {
            Ok(w) => Some(Box::new(w) as Box<dyn Send>),
            Err(e) => {
                tracing::error!(session = %key, error = %e, "cannot watch the live profile; it is sealed on stop only");
                None
            }
        }
    });
    SessionManager::new(
        settings.sessions.clone(),
        settings.server.sessions_dir.clone(),
        engines,
        profiles,
        Some(watch),
        Some(Arc::new(CallbackRouting(outbox.clone()))),
        bus,
    )
}

/// A session's own `callback_url` becomes its endpoint in the outbox before its first event.
struct CallbackRouting(Outbox);

impl crate::sessions::SessionObserver for CallbackRouting {
    fn created(&self, key: &SessionKey, callback_url: Option<&str>) -> anyhow::Result<()> {
        let url = callback_url.map(crate::callbacks::endpoint::parse).transpose()?;
        self.0.set_session_endpoint(key, url.as_ref())?;
        Ok(())
    }
}

/// Boot: kill browsers a crashed run left behind, reseal and wipe the plaintext profiles it left,
/// then take over the sessions on disk and start those that were running.
async fn recover_sessions(state: &AppState) {
    let roots = [state.vault.runtime_root().to_owned(), state.settings.server.sessions_dir.clone()];
    let killed = tokio::task::spawn_blocking(move || {
        crate::engine::kill_orphans(&roots, Duration::from_secs(5))
    })
    .await
    .unwrap_or_default();
    if !killed.is_empty() {
        tracing::warn!(groups = killed.len(), "killed Chromium left by a previous run");
    }
    let sweep = crate::vault::sweep_runtime(&state.vault);
    tracing::info!(report = ?sweep, "runtime directory swept");
    state.sessions.restore().await;
}

/// `/health/ready`: the wa-js bundle the engine injects is present (and which version).
struct BridgeFile(EngineConfig);

impl health::ReadinessCheck for BridgeFile {
    fn name(&self) -> &str {
        "bridge"
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            match crate::engine::bridge_info(&self.0) {
                Some(info) => Ok(format!(
                    "{} (wa-js {})",
                    info.path.display(),
                    info.version.as_deref().unwrap_or("unknown version")
                )),
                None => Err(format!(
                    "{} is missing: run ops/fetch-bridge.sh",
                    self.0.bridge_path.display()
                )),
            }
        })
    }
}

fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let server_cfg = state.settings.server.clone();
    let openapi = web::Data::new(api::openapi::document());
    let outbox = web::Data::new(state.outbox.clone());
    let mut http = HttpServer::new(move || {
        let max_body = state.settings.server.max_body_bytes;
        // Handlers that take a module's own `web::Data<T>` (e.g. `web::Data<SessionManager>`) need
        // it registered here, cloned from a `web::Data` field of `AppState`.
        App::new()
            .app_data(state.clone())
            .app_data(web::Data::new(state.sessions.clone()))
            .app_data(openapi.clone())
            .app_data(outbox.clone())
            .app_data(web::Data::new(state.messages.clone()))
            .configure(|cfg| api::routes::extractor_config(cfg, max_body))
            .configure(api::routes::configure)
            .wrap(from_fn(ip_allow::ip_allow))
            .wrap(from_fn(api::metrics::track))
            .wrap(from_fn(context::request_context))
    })
    .shutdown_timeout(server_cfg.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_millis(server_cfg.client_request_timeout_ms));
    if server_cfg.workers > 0 {
        http = http.workers(server_cfg.workers);
    }
    Ok(http.listen(listener)?.run())
}

fn bind(settings: &Settings) -> Result<TcpListener, StartupError> {
    let addr = settings.server.bind.clone();
    TcpListener::bind(&addr).map_err(|source| StartupError::Bind { addr, source })
}

/// Creates a private (0700) directory; an existing one is left as the operator made it.
fn create_dir(path: &std::path::Path) -> Result<(), StartupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| StartupError::CreateDir { path: path.to_owned(), source })
}

fn announce_keys(keys: &LoadedKeys) {
    for warning in &keys.warnings {
        tracing::warn!("{warning} (refused in production)");
    }
    if let Some(path) = &keys.generated {
        tracing::warn!(key_id = DEV_KEY_ID, path = %path.display(), "development mode: HMAC key {DEV_KEY_ID:?} is in {}", path.display());
    }
}
