//! `GET /health/live` (the process answers) and `GET /health/ready` (every registered
//! [`ReadinessCheck`] passes). Modules add checks in `startup` with [`Readiness::register`].
//!
//! Both are public (exempt from the allow-list, unsigned), so a check's detail never names a path
//! and no check writes anything; failures are logged with their paths.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use futures::future::BoxFuture;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::{Envelope, EnvelopeBody, EnvelopeRendered};
use crate::startup::AppState;

/// Default Chromium path (Debian's package) until the engine's config names one.
pub const DEFAULT_CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// One named condition the sidecar needs to serve traffic. `Ok` carries a short detail.
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &str;
    fn check(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// The registered checks, run concurrently, each under a timeout.
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
    timeout: Duration,
}

impl Readiness {
    pub fn new(timeout: Duration) -> Self {
        Self { checks: Vec::new(), timeout }
    }

    pub fn register(&mut self, check: impl ReadinessCheck + 'static) {
        self.checks.push(Arc::new(check));
    }

    pub async fn run(&self) -> Vec<CheckResult> {
        let runs = self.checks.iter().map(|c| async move {
            let outcome =
                tokio::time::timeout(self.timeout, c.check()).await.unwrap_or_else(|_| {
                    Err(format!("no answer within {} ms", self.timeout.as_millis()))
                });
            let (ok, detail) = match outcome {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            CheckResult { name: c.name().to_owned(), ok, detail }
        });
        futures::future::join_all(runs).await
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct Live {
    /// Always "live".
    status: &'static str,
    version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// "ready" or "not_ready".
    status: &'static str,
    checks: Vec<CheckResult>,
}

#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, body = Live)))]
pub async fn live() -> web::Json<Live> {
    web::Json(Live { status: "live", version: env!("CARGO_PKG_VERSION") })
}

#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, body = Ready),
    (status = 503, description = "NOT_READY: a check failed; the same body plus the error envelope's error")))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let checks = state.readiness.run().await;
    let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
    if failed.is_empty() {
        return HttpResponse::Ok().json(Ready { status: "ready", checks });
    }
    let message = format!("not ready: {}", failed.join(", "));
    let request_id = super::context::current_request_id();
    let error = Envelope {
        error: EnvelopeBody {
            code: super::codes::NOT_READY.name,
            message: &message,
            request_id: request_id.as_deref(),
        },
    };
    let body = serde_json::json!({ "status": "not_ready", "checks": checks, "error": error.error });
    let mut response = HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body);
    response.extensions_mut().insert(EnvelopeRendered);
    response
}

/// Configuration was validated before the server started, so reaching here means it is valid.
pub struct ConfigLoaded;

impl ReadinessCheck for ConfigLoaded {
    fn name(&self) -> &str {
        "config"
    }
    fn check(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Ok("validated at start".to_owned()) })
    }
}

/// A directory the sidecar writes to: is a directory the process may write in. Checked with
/// `access(2)`, so a probe writes nothing. Details name no path (the endpoint is public); the log
/// has it.
pub struct DirWritable {
    pub name: &'static str,
    pub path: PathBuf,
}

impl ReadinessCheck for DirWritable {
    fn name(&self) -> &str {
        self.name
    }
    fn check(&self) -> BoxFuture<'_, Result<String, String>> {
        let dir = self.path.clone();
        let name = self.name;
        Box::pin(async move {
            let checked =
                tokio::task::spawn_blocking(move || writable_dir(&dir).map_err(|e| (dir, e)))
                    .await
                    .map_err(|e| format!("check failed: {e}"))?;
            checked.map(|()| "writable".to_owned()).map_err(|(dir, e)| {
                tracing::warn!(check = name, path = %dir.display(), error = %e, "readiness check failed");
                format!("not a writable directory ({})", e.kind())
            })
        })
    }
}

fn writable_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(std::io::Error::from(std::io::ErrorKind::NotADirectory));
    }
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// An executable the sidecar launches (Chromium). Details name no path.
pub struct BinaryPresent {
    pub name: &'static str,
    pub path: PathBuf,
}

impl ReadinessCheck for BinaryPresent {
    fn name(&self) -> &str {
        self.name
    }
    fn check(&self) -> BoxFuture<'_, Result<String, String>> {
        let path = self.path.clone();
        let name = self.name;
        Box::pin(async move {
            let problem = match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
                    return Ok("executable".to_owned())
                }
                Ok(_) => "not an executable file".to_owned(),
                Err(e) => format!("missing ({})", e.kind()),
            };
            tracing::warn!(check = name, path = %path.display(), problem = %problem, "readiness check failed");
            Err(problem)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Stuck;

    impl ReadinessCheck for Stuck {
        fn name(&self) -> &str {
            "stuck"
        }
        fn check(&self) -> BoxFuture<'_, Result<String, String>> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test]
    async fn a_check_that_hangs_fails_after_the_timeout_and_others_still_report() {
        let mut readiness = Readiness::new(Duration::from_millis(50));
        readiness.register(Stuck);
        readiness.register(ConfigLoaded);
        readiness.register(BinaryPresent { name: "missing", path: "/nonexistent/bin".into() });
        let results = readiness.run().await;
        let by_name = |n: &str| results.iter().find(|r| r.name == n).unwrap();
        assert!(!by_name("stuck").ok && by_name("stuck").detail.contains("50 ms"));
        assert!(by_name("config").ok);
        assert!(!by_name("missing").ok && by_name("missing").detail.contains("missing"));
        assert!(!by_name("missing").detail.contains("/nonexistent"), "no path is shown");
    }
}
