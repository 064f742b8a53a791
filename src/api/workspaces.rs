//! `/v1/workspaces/{workspace}`: the first resource, carrying the conventions (typed ids, the
//! envelope, the caller in extensions) that the sessions routes follow.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::{codes, ApiError, Json};
use crate::ids::WorkspaceId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/workspaces/{workspace}").route(web::get().to(get_workspace)))
        .service(web::resource("/workspaces/{workspace}/ping").route(web::post().to(ping)));
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    #[schema(value_type = String, example = "acme")]
    pub id: WorkspaceId,
    /// Sessions configured in this workspace.
    pub sessions: usize,
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}", tag = "workspaces",
    params(("workspace" = String, Path, description = "`[a-z0-9][a-z0-9_-]{0,62}`")),
    responses((status = 200, body = Workspace), (status = 400, description = "INVALID_ID"),
              (status = 401, description = "Missing or invalid signature"), (status = 403, description = "Key not allowed for this workspace")),
    security(("hmac" = [])))]
pub async fn get_workspace(
    workspace: web::Path<String>,
    registry: web::Data<crate::sessions::SessionManager>,
) -> Result<web::Json<Workspace>, ApiError> {
    let id = WorkspaceId::parse(&workspace)?;
    let sessions = registry.count_in(&id);
    Ok(web::Json(Workspace { id, sessions }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PingRequest {
    /// Any text, echoed back; at most 1000 characters.
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PingResponse {
    #[schema(value_type = String)]
    pub workspace: WorkspaceId,
    /// The key the request was signed with.
    pub key_id: String,
    pub message: String,
}

/// Checks a host's signer end to end with a JSON body: a signed POST comes back with the key id
/// the sidecar verified and the message it parsed.
#[utoipa::path(post, path = "/v1/workspaces/{workspace}/ping", tag = "workspaces",
    params(("workspace" = String, Path)), request_body = PingRequest,
    responses((status = 200, body = PingResponse), (status = 400, description = "INVALID_JSON / INVALID_FIELD"),
              (status = 413, description = "Body larger than server.max_body_bytes")),
    security(("hmac" = [])))]
pub async fn ping(
    workspace: web::Path<String>,
    caller: web::ReqData<Caller>,
    body: Json<PingRequest>,
) -> Result<HttpResponse, ApiError> {
    let workspace = WorkspaceId::parse(&workspace)?;
    let PingRequest { message } = body.into_inner();
    if message.chars().count() > 1000 {
        return Err(ApiError::new(codes::INVALID_FIELD, "message: at most 1000 characters"));
    }
    let key_id = caller.into_inner().key_id;
    Ok(HttpResponse::Ok().json(PingResponse { workspace, key_id, message }))
}
