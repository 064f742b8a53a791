//! `/v1/admin/sessions…`: what a blue-green deploy drives (`wa-sidecar handover`). Moving a
//! session is release on the old sidecar, then adopt on the new one, both over
//! [`SessionManager`] and the session's ownership ([`super::ownership`]). Signed like every `/v1`
//! route; outside any workspace, so only a key with `workspaces = ["*"]` may call them.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::registry::SessionManager;
use crate::api::ApiError;
use crate::ids::{SessionId, SessionKey, WorkspaceId};

/// Mounted inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/sessions").route(web::get().to(list_all)))
        .service(
            web::resource("/admin/sessions/{workspace}/{session}/release")
                .route(web::post().to(release)),
        )
        .service(
            web::resource("/admin/sessions/{workspace}/{session}/adopt")
                .route(web::post().to(adopt)),
        );
}

type Sessions = web::Data<SessionManager>;

#[derive(OpenApi)]
#[openapi(
    paths(list_all, release, adopt),
    components(schemas(Listed)),
    tags((name = "admin", description = "Blue-green handover between two sidecars (keys with workspaces = [\"*\"] only)"))
)]
pub struct ApiDoc;

#[derive(Serialize, ToSchema)]
struct Listed {
    sessions: Vec<super::Snapshot>,
}

/// Every session this sidecar runs, in every workspace.
#[utoipa::path(get, path = "/v1/admin/sessions", tag = "admin",
    responses((status = 200, body = Listed)), security(("hmac" = [])))]
async fn list_all(sessions: Sessions) -> HttpResponse {
    HttpResponse::Ok().json(Listed { sessions: sessions.list_all() })
}

/// Closes the session's browser, seals its login and gives up ownership: `204`; afterwards this
/// sidecar no longer knows the session (`404`) until it adopts it again.
#[utoipa::path(post, path = "/v1/admin/sessions/{workspace}/{session}/release", tag = "admin",
    params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 204, description = "Released: browser closed, login sealed, ownership given up"),
        (status = 404, description = "SESSION_NOT_FOUND"), (status = 504, description = "SESSION_TIMEOUT")),
    security(("hmac" = [])))]
async fn release(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    sessions.release(&key(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Claims a released session (waiting for its previous owner to let go) and starts it if it was
/// running: `200` and the session.
#[utoipa::path(post, path = "/v1/admin/sessions/{workspace}/{session}/adopt", tag = "admin",
    params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = super::Snapshot),
        (status = 404, description = "SESSION_NOT_FOUND"), (status = 409, description = "SESSION_LOCKED")),
    security(("hmac" = [])))]
async fn adopt(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let snapshot = sessions.adopt(&key(&path)?).await?;
    Ok(HttpResponse::Ok().json(snapshot))
}

fn key(path: &(String, String)) -> Result<SessionKey, ApiError> {
    Ok(SessionKey::new(WorkspaceId::parse(&path.0)?, SessionId::parse(&path.1)?))
}
