//! Startup in one place: [`Application::build`] validates the settings, prepares the directories
//! and keys, builds the shared [`AppState`] and binds the server. `main` and the tests go through
//! exactly this path; only the settings differ.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use prometheus_client::registry::Registry;

use crate::api::auth::Authenticator;
use crate::api::health::{self, Readiness};
use crate::api::metrics::HttpMetrics;
use crate::api::{self, context, ip_allow};
use crate::config::{load_keys, InvalidConfig, LoadedKeys, Settings, DEV_KEY_ID};

/// Everything handlers share, behind one `web::Data<AppState>`.
pub struct AppState {
    pub settings: Settings,
    pub auth: Authenticator,
    pub allow_ips: Vec<ipnet::IpNet>,
    pub metrics: HttpMetrics,
    /// Frozen once the server starts; register metrics in [`build_state`].
    pub registry: Registry,
    pub readiness: Readiness,
    // The session registry and the callbacks outbox join here (built in `build_state`).
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
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    // Modules built in `build_state` add their error here, e.g. `Sessions(#[from] SessionsError)`.
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

    /// Serves until SIGINT/SIGTERM or [`Application::handle`]`.stop()`. Once the server has
    /// drained, the stateful modules (sessions, outbox) are stopped here, after it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
        path: health::DEFAULT_CHROMIUM.into(),
    });
    let auth = Authenticator::new(
        keys.keys,
        settings.auth.max_skew_secs,
        settings.auth.nonce_cache_entries,
    );
    let allow_ips = settings.auth.allow_nets();
    Ok(AppState { settings, auth, allow_ips, metrics, registry, readiness })
}

fn serve(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let server_cfg = state.settings.server.clone();
    let openapi = web::Data::new(api::openapi::document());
    let mut http = HttpServer::new(move || {
        let max_body = state.settings.server.max_body_bytes;
        // Handlers that take a module's own `web::Data<T>` (e.g. `web::Data<SessionManager>`) need
        // it registered here, cloned from a `web::Data` field of `AppState`.
        App::new()
            .app_data(state.clone())
            .app_data(openapi.clone())
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
