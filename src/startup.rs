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

use crate::api::auth::budget::BodyBudget;
use crate::api::auth::Authenticator;
use crate::api::health::{self, Readiness};
use crate::api::metrics::HttpMetrics;
use crate::api::{self, context, ip_allow};
use crate::callbacks::{Outbox, OutboxError};
use crate::config::{load_keys, InvalidConfig, LoadedKeys, Settings, DEV_KEY_ID};
use crate::db;
use crate::engine::{BrowserPool, ChromiumEngine, Engine, EngineConfig};
use crate::events::EventBus;
use crate::ids::SessionKey;
use crate::messages::{MessageStore, Messages};
use crate::net::NetPolicy;
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
    /// Pooled mode (`engine.sessions_per_browser` > 1): the shared browsers, killed and reaped
    /// after the sessions stopped.
    pub pool: Option<Arc<BrowserPool>>,
    /// The sealed-profile store, also used at boot to sweep plaintext left by a crash.
    pub vault: Arc<VaultStore>,
    /// The durable callbacks outbox; also served to its routes as `web::Data<Outbox>`.
    pub outbox: Outbox,
    /// Sending and receiving; also served to its routes as `web::Data<Messages>`.
    pub messages: Messages,
    /// Bytes of request bodies read before their signature is known (`server.max_pending_*`).
    pub body_budget: BodyBudget,
    /// Where outbound requests may go (`[net]`); also served as `web::Data<NetPolicy>`.
    pub net: Arc<NetPolicy>,
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
    #[error("{path}: {problem}")]
    UnsafeDir { path: PathBuf, problem: String },
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
        private_umask();
        let production = settings.mode.is_production();
        private_dir(&settings.server.data_dir, production)?;
        private_dir(&settings.server.sessions_dir, production)?;
        let keys = load_keys(&settings, true).map_err(InvalidConfig)?;
        announce_keys(&keys);
        let state = web::Data::new(build_state(settings, keys).await?);
        state.outbox.start();
        let _pruning = crate::callbacks::retention::spawn(
            state.outbox.clone(),
            (&state.settings.callbacks).into(),
        );
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
        if let Some(pool) = &self.state.pool {
            pool.shutdown().await;
        }
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
    vault_cfg.runtime_dir = crate::vault::runtime_dir::resolve(
        &settings.vault,
        &settings.server.data_dir,
        &settings.server.bind,
        settings.mode.is_production(),
    );
    if settings.vault.runtime_dir.as_os_str().is_empty() {
        tracing::info!(path = %vault_cfg.runtime_dir.display(), "live profiles go to this directory (vault.runtime_dir not set)");
    }
    if let Some((key, problem)) = vault_cfg.runtime_dir_problem(&settings.server.sessions_dir) {
        // Plaintext profiles must never sit where sealed files live.
        let problem = crate::config::Problem { key: format!("vault.{key}"), problem };
        return Err(InvalidConfig(vec![problem]).into());
    }
    let vault_keys = Arc::new(vault_keys);
    // Plaintext logins live here: nobody else may own it, list it or swap what is in it.
    private_dir(&vault_cfg.runtime_dir, settings.mode.is_production())?;
    // ... and only in memory, unless the operator accepts a disk.
    runtime_in_memory(&vault_cfg, settings.mode.is_production())?;
    let vault = Arc::new(VaultStore::new(
        &vault_cfg,
        settings.server.sessions_dir.clone(),
        vault_keys.clone(),
    ));
    let net = Arc::new(settings.net.policy(settings.mode.is_production()));
    if net.allow_private && settings.mode.is_production() {
        tracing::warn!("net.allow_private_targets: callbacks and fetches may reach loopback and private addresses");
    }
    let outbox = Outbox::open(
        &settings.callbacks,
        &db::path_in(&settings.server.data_dir),
        net.clone(),
        vault_keys.clone(),
    )?;
    outbox.register_metrics(&mut registry);
    private_files(&db::path_in(&settings.server.data_dir));
    // Every session event is committed to the outbox before anything else sees it.
    let bus = EventBus::new(vec![Arc::new(outbox.clone())]);
    // Optional: QR and status to a Pusher-protocol server; follows the bus, never blocks it.
    crate::broadcast::spawn(&settings.broadcast, &bus, &mut registry);
    let pool = settings.engine.pooled().then(|| {
        BrowserPool::new(
            Arc::new(settings.engine.clone()),
            vault_cfg.runtime_dir.join(crate::engine::POOL_DIR),
        )
    });
    let sessions = build_sessions(&settings, vault.clone(), bus.clone(), &outbox, pool.clone());
    let store = MessageStore::open(&db::path_in(&settings.server.data_dir))?;
    let messages = Messages::start(store, sessions.clone(), bus, settings.sending.clone());
    crate::messages::inbound::metrics::register(&mut registry);
    crate::engine::inbound::register(&mut registry);
    messages.set_up_receiving(crate::messages::inbound::Setup {
        media: Arc::new(crate::messages::inbound::media::MediaStore::new(
            &settings.server.data_dir,
            vault_keys,
            settings.callbacks.media_retention,
            settings.callbacks.inline_media_max_bytes,
        )),
        media_sweep_every: settings.callbacks.media_sweep_interval,
        reject_calls: settings.calls.reject,
        restrictions: Default::default(),
    });
    let auth = Authenticator::new(
        keys.keys,
        settings.auth.max_skew_secs,
        settings.auth.nonce_cache_entries,
    );
    let allow_ips = settings.auth.allow_nets();
    let body_budget = BodyBudget::new(
        settings.server.max_pending_body_bytes,
        settings.server.max_pending_body_bytes_per_ip,
    );
    Ok(AppState {
        pool,
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
        body_budget,
        net,
    })
}

/// The session registry: one Chromium engine per session (its own browser, or a place in `pool`),
/// logins in the vault, reseals while a
/// browser runs, events on `bus`.
fn build_sessions(
    settings: &Settings,
    vault: Arc<VaultStore>,
    bus: EventBus,
    outbox: &Outbox,
    pool: Option<Arc<BrowserPool>>,
) -> SessionManager {
    let engine_cfg = Arc::new(settings.engine.clone());
    let engines = Arc::new(move |_: &SessionKey| {
        let engine = match &pool {
            Some(pool) => ChromiumEngine::pooled(engine_cfg.clone(), pool.clone()),
            None => ChromiumEngine::new(engine_cfg.clone()),
        };
        Box::new(engine) as Box<dyn Engine>
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

    fn callback_secret(
        &self,
        key: &SessionKey,
        secret: Option<&crate::callbacks::sign::Secret>,
    ) -> anyhow::Result<()> {
        self.0.set_session_secret(key, secret)?;
        Ok(())
    }
}

/// The longest a graceful stop can take with `settings`: the HTTP drain, then every session
/// (browsers closed, logins sealed), then the callbacks in flight. A supervisor's stop grace
/// (Docker `--stop-timeout`, systemd `TimeoutStopSec`) must be longer, or a SIGKILL lands mid-seal.
pub fn shutdown_budget(settings: &Settings) -> Duration {
    Duration::from_secs(settings.server.shutdown_timeout_secs)
        + Duration::from_millis(settings.sessions.shutdown_timeout_ms)
        + settings.callbacks.shutdown_timeout
        + Duration::from_secs(2)
}

/// Boot: kill browsers a crashed run left behind, reseal and wipe the plaintext profiles it left,
/// then take over the sessions on disk and start those that were running.
async fn recover_sessions(state: &AppState) {
    let roots = [state.vault.runtime_root().to_owned(), state.settings.server.sessions_dir.clone()];
    let killed = tokio::task::spawn_blocking(move || {
        let killed = crate::engine::kill_orphans(&roots, Duration::from_secs(5));
        crate::engine::sweep_pool_dirs(&roots[0]);
        killed
    })
    .await
    .unwrap_or_default();
    if !killed.is_empty() {
        tracing::warn!(groups = killed.len(), "killed Chromium left by a previous run");
    }
    let sweep = crate::vault::sweep_runtime(&state.vault);
    tracing::info!(report = ?sweep, "runtime directory swept");
    // Before any session connects: a queue paused by a ban signal stays paused.
    state.messages.send.load_pauses().await;
    state.sessions.restore().await;
    state.messages.send.resume().await;
}

/// `/health/ready`: the wa-js bundle the engine injects is present (and which version).
struct BridgeFile(EngineConfig);

impl health::ReadinessCheck for BridgeFile {
    fn name(&self) -> &str {
        "bridge"
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            // No path in the detail: /health/ready is public. The log names it.
            match crate::engine::bridge_info(&self.0) {
                Some(info) => {
                    Ok(format!("wa-js {}", info.version.as_deref().unwrap_or("unknown version")))
                }
                None => {
                    let path = self.0.bridge_path.display();
                    tracing::warn!(%path, "readiness: the wa-js bundle is missing");
                    Err("the wa-js bundle is missing: run ops/fetch-bridge.sh".to_owned())
                }
            }
        })
    }
}

fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let server_cfg = state.settings.server.clone();
    let openapi = web::Data::new(api::openapi::OpenApiDocument(api::openapi::document()));
    let outbox = web::Data::new(state.outbox.clone());
    let net = web::Data::from(state.net.clone());
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
            .app_data(net.clone())
            .configure(|cfg| api::routes::extractor_config(cfg, max_body))
            .configure(api::routes::configure)
            // Inside the allow-list, so refused requests cost no per-route metrics.
            .wrap(from_fn(api::metrics::track))
            .wrap(from_fn(ip_allow::ip_allow))
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

/// Files and directories the sidecar creates are its own only (0600 / 0700), whatever umask the
/// service manager gave it: session records, the database and its WAL, keys, profiles.
fn private_umask() {
    // SAFETY: umask(2) cannot fail; it only swaps the process's file mode mask.
    unsafe { libc::umask(0o077) };
}

/// Creates a private (0700) directory, or checks an existing one. It must belong to this
/// process's user: otherwise production refuses to start (another user could read it or swap what
/// is inside) and development warns. A directory of ours that others may enter is set to 0700.
fn private_dir(path: &std::path::Path, production: bool) -> Result<(), StartupError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let fail = |source| StartupError::CreateDir { path: path.to_owned(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(fail)?;
    let meta = std::fs::metadata(path).map_err(fail)?;
    // SAFETY: geteuid(2) cannot fail and has no side effects.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        let problem = format!("belongs to uid {}, not to this process (uid {me})", meta.uid());
        if production {
            return Err(StartupError::UnsafeDir { path: path.to_owned(), problem });
        }
        tracing::warn!(path = %path.display(), "{problem} (refused in production)");
        return Ok(());
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        tracing::warn!(path = %path.display(), "directory was mode {mode:o}; set to 0700");
    }
    Ok(())
}

/// Live profiles are plaintext logins: production wants them on a tmpfs (so they never reach a
/// disk, and a reboot erases them), unless `vault.allow_disk_runtime` says the operator accepts
/// a disk. Development warns.
fn runtime_in_memory(
    vault: &crate::vault::VaultConfig,
    production: bool,
) -> Result<(), StartupError> {
    let path = &vault.runtime_dir;
    let in_memory = crate::vault::runtime_dir::in_memory(path)
        .map_err(|source| StartupError::CreateDir { path: path.clone(), source })?;
    if in_memory {
        return Ok(());
    }
    let problem = "vault.runtime_dir is not a tmpfs: live (plaintext) logins would be written to a \
                   persistent disk. Mount a tmpfs there (systemd's RuntimeDirectory, docker --tmpfs), \
                   point vault.runtime_dir at one, leave it unset so that /run/wa-sidecar or \
                   /dev/shm is picked, or set vault.allow_disk_runtime = true to accept the disk";
    if production && !vault.allow_disk_runtime {
        return Err(StartupError::UnsafeDir { path: path.clone(), problem: problem.to_owned() });
    }
    if !vault.allow_disk_runtime {
        tracing::warn!(path = %path.display(), "{problem} (refused in production)");
    }
    Ok(())
}

/// The database and its WAL files: 0600 (they hold QR codes, phone numbers and callback bodies).
fn private_files(db: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut paths = vec![db.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        paths.push(name.into());
    }
    for path in paths.iter().filter(|p| p.exists()) {
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the file private");
        }
    }
}

fn announce_keys(keys: &LoadedKeys) {
    for warning in &keys.warnings {
        tracing::warn!("{warning} (refused in production)");
    }
    for notice in &keys.notices {
        tracing::warn!("{notice}");
    }
    if let Some(path) = &keys.generated {
        tracing::warn!(key_id = DEV_KEY_ID, path = %path.display(), "development mode: HMAC key {DEV_KEY_ID:?} is in {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number before `unit` on the line starting with `key` in `text`.
    fn seconds(text: &str, key: &str, unit: &str) -> u64 {
        let line = text.lines().find(|l| l.trim_start().starts_with(key)).expect(key);
        let value = line.split_once(key).unwrap().1.trim().trim_start_matches(['=', ':']).trim();
        value.trim_end_matches(unit).trim().parse().expect("seconds")
    }

    #[test]
    fn supervisors_wait_longer_than_the_default_shutdown_takes() {
        let budget = shutdown_budget(&Settings::default()).as_secs();
        let systemd = include_str!("../ops/systemd/wa-sidecar.service");
        assert!(seconds(systemd, "TimeoutStopSec", "") > budget, "systemd: {budget} s needed");
        let compose = include_str!("../ops/compose.example.yml");
        assert!(seconds(compose, "stop_grace_period", "s") > budget, "compose: {budget} s needed");
    }
}
