//! `/v1/workspaces/{workspace}/sessions/…`: thin handlers over [`SessionManager`]. They parse
//! input into typed values, call the registry, and render; nothing else.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::registry::{NewSession, SessionManager};
use super::{qr, SessionError};
use crate::api::{codes, ApiError, Json};
use crate::ids::{PhoneNumber, SessionId, SessionKey, WorkspaceId};
use crate::net::NetPolicy;

/// Mounted inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // `web::resource(..).route(..)`: a wrong method on a known path is 405, not 404.
    let session =
        |tail: &str| web::resource(format!("/workspaces/{{workspace}}/sessions/{{session}}{tail}"));
    cfg.service(
        web::resource("/workspaces/{workspace}/sessions")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(session("").route(web::get().to(get)).route(web::delete().to(delete)))
    .service(session("/start").route(web::post().to(start)))
    .service(session("/stop").route(web::post().to(stop)))
    .service(session("/restart").route(web::post().to(restart)))
    .service(session("/logout").route(web::post().to(logout)))
    .service(session("/qr").route(web::get().to(qr_code)))
    .service(session("/pairing-code").route(web::post().to(pairing_code)))
    .service(session("/screenshot").route(web::get().to(screenshot)));
}

type Sessions = web::Data<SessionManager>;

#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, delete, start, stop, restart, logout, qr_code, pairing_code, screenshot),
    components(schemas(CreateSession, PairingRequest, PairingCode, SessionList, super::Snapshot, super::snapshot::QrView, super::State)),
    tags((name = "sessions", description = "WhatsApp accounts: one headless Chromium each"))
)]
pub struct ApiDoc;

/// `GET …/sessions`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionList {
    sessions: Vec<super::Snapshot>,
}

/// `POST …/pairing-code`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PairingCode {
    /// The 8-character code to type on the phone.
    code: String,
    /// The phone number, digits only.
    phone: String,
}

const MAX_METADATA_KEYS: usize = 20;
const MAX_METADATA_KEY_LEN: usize = 40;
const MAX_METADATA_VALUE_LEN: usize = 500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// `[a-z0-9][a-z0-9_-]{0,62}`, unique in the workspace.
    #[schema(example = "main")]
    pub id: String,
    /// Start the browser at once (default true).
    #[serde(default = "yes")]
    pub start: bool,
    /// This session's callbacks go here instead of `callbacks.url` (http/https, no credentials).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// `whsec_…` (24-64 bytes, base64): signs this session's callbacks instead of the global
    /// secret, so the endpoint at `callback_url` can verify them without holding the host's
    /// secret. Only with `callback_url`. Write-only: never returned.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub callback_secret: Option<crate::callbacks::sign::Secret>,
    /// Up to 20 string keys (40 chars) and values (500 chars), echoed back.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairingRequest {
    /// International format, e.g. "+15551234567".
    pub phone: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct QrQuery {
    /// `png` (default), `raw` or `data-url`; `Accept: application/json` gives JSON.
    pub format: Option<String>,
}

fn key(path: &(String, String)) -> Result<SessionKey, ApiError> {
    Ok(SessionKey::new(WorkspaceId::parse(&path.0)?, SessionId::parse(&path.1)?))
}

/// An http(s) URL without credentials: the host's webhook endpoint for this session. The check
/// is the callbacks module's own, so what is accepted here is what it will deliver to. An IP
/// literal (any spelling) or `localhost` that the outbound policy refuses is refused here with
/// `CALLBACK_URL_NOT_PUBLIC`; other names are checked again at every delivery.
pub fn validate_callback_url(raw: &str, net: &NetPolicy) -> Result<String, ApiError> {
    let url = crate::callbacks::endpoint::parse(raw)
        .map_err(|e| ApiError::new(codes::INVALID_CALLBACK_URL, e.to_string()))?;
    net.check_url(&url)
        .map_err(|e| ApiError::new(codes::CALLBACK_URL_NOT_PUBLIC, e.to_string()))?;
    Ok(url.to_string())
}

fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::new(codes::INVALID_METADATA, why);
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(bad(format!(
            "metadata has {} keys; at most {MAX_METADATA_KEYS} are allowed",
            metadata.len()
        )));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.chars().count() > MAX_METADATA_KEY_LEN {
            return Err(bad(format!(
                "metadata key {k:?} must have 1-{MAX_METADATA_KEY_LEN} characters"
            )));
        }
        if v.chars().count() > MAX_METADATA_VALUE_LEN {
            return Err(bad(format!(
                "metadata value of {k:?} is longer than {MAX_METADATA_VALUE_LEN} characters"
            )));
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions", tag = "sessions", params(("workspace" = String, Path)), request_body = CreateSession,
    responses((status = 201, body = super::Snapshot), (status = 400, description = "INVALID_ID, INVALID_CALLBACK_URL, CALLBACK_URL_NOT_PUBLIC, INVALID_METADATA, INVALID_FIELD"), (status = 409, description = "SESSION_EXISTS, SESSION_LIMIT_REACHED, WORKSPACE_SESSION_LIMIT_REACHED, SESSION_LOCKED")), security(("hmac" = [])))]
async fn create(
    sessions: Sessions,
    net: web::Data<NetPolicy>,
    path: web::Path<String>,
    body: Json<CreateSession>,
) -> Result<HttpResponse, ApiError> {
    let workspace = WorkspaceId::parse(&path)?;
    let body = body.into_inner();
    let id = SessionId::parse(&body.id)?;
    let callback_url =
        body.callback_url.as_deref().map(|raw| validate_callback_url(raw, &net)).transpose()?;
    validate_metadata(&body.metadata)?;
    if body.callback_secret.is_some() && callback_url.is_none() {
        return Err(ApiError::new(
            codes::INVALID_FIELD,
            "callback_secret: only with callback_url (the host's own endpoint verifies with callbacks.secrets)",
        ));
    }
    // The callbacks endpoint is set by the registry's observer, under its create lock, before the
    // session can publish anything.
    let new = NewSession {
        id,
        start: body.start,
        callback_url,
        callback_secret: body.callback_secret,
        metadata: body.metadata,
    };
    let snapshot = sessions.create(workspace.clone(), new).await?;
    let location = format!("/v1/workspaces/{workspace}/sessions/{}", snapshot.id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(snapshot))
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions", tag = "sessions", params(("workspace" = String, Path)),
    responses((status = 200, body = SessionList)), security(("hmac" = [])))]
async fn list(sessions: Sessions, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let workspace = WorkspaceId::parse(&path)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions": sessions.list(&workspace) })))
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = super::Snapshot), (status = 404, description = "SESSION_NOT_FOUND")), security(("hmac" = [])))]
async fn get(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.get(&key(&path)?)?))
}

#[utoipa::path(delete, path = "/v1/workspaces/{workspace}/sessions/{session}", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 204, description = "Stopped, unlinked and removed (also when it did not exist)")), security(("hmac" = [])))]
async fn delete(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    sessions.delete(&key(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/start", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = super::Snapshot), (status = 404, description = "SESSION_NOT_FOUND")), security(("hmac" = [])))]
async fn start(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.start(&key(&path)?).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/stop", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = super::Snapshot), (status = 404, description = "SESSION_NOT_FOUND")), security(("hmac" = [])))]
async fn stop(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.stop(&key(&path)?).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/restart", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = super::Snapshot), (status = 404, description = "SESSION_NOT_FOUND")), security(("hmac" = [])))]
async fn restart(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.restart(&key(&path)?).await?))
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/logout", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, body = super::Snapshot), (status = 404, description = "SESSION_NOT_FOUND")), security(("hmac" = [])))]
async fn logout(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.logout(&key(&path)?).await?))
}

/// PNG by default; `?format=raw` (the text), `?format=data-url`, or JSON on `Accept: application/json`.
#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/qr", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path), QrQuery),
    responses((status = 200, description = "image/png; text/plain for raw and data-url; JSON (raw, data_url, attempt, max_attempts, issued_at, expires_at) with Accept: application/json"), (status = 400, description = "INVALID_FORMAT"), (status = 404, description = "SESSION_NOT_FOUND, QR_NOT_AVAILABLE")), security(("hmac" = [])))]
async fn qr_code(
    sessions: Sessions,
    path: web::Path<(String, String)>,
    query: web::Query<QrQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let snapshot = sessions.get(&key(&path)?)?;
    let (Some(code), Some(view)) = (snapshot.qr_code.clone(), snapshot.qr.clone()) else {
        return Err(SessionError::NoQr(snapshot.state.as_str()).into());
    };
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let render = |e: qr::QrError| ApiError::internal(e);
    if wants_json {
        return Ok(HttpResponse::Ok().json(serde_json::json!({
            "raw": code, "data_url": qr::data_url(&code).map_err(render)?,
            "attempt": view.attempt, "max_attempts": view.max_attempts,
            "issued_at": view.issued_at, "expires_at": view.expires_at,
        })));
    }
    match query.format.as_deref().unwrap_or("png") {
        "png" => {
            Ok(HttpResponse::Ok().content_type("image/png").body(qr::png(&code).map_err(render)?))
        }
        "raw" => Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(code)),
        "data-url" => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(qr::data_url(&code).map_err(render)?)),
        other => Err(ApiError::new(
            codes::INVALID_FORMAT,
            format!("format {other:?} is not one of png, raw, data-url"),
        )),
    }
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/sessions/{session}/pairing-code", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)), request_body = PairingRequest,
    responses((status = 200, body = PairingCode), (status = 400, description = "INVALID_PHONE"), (status = 409, description = "SESSION_NOT_AWAITING_LOGIN")), security(("hmac" = [])))]
async fn pairing_code(
    sessions: Sessions,
    path: web::Path<(String, String)>,
    body: Json<PairingRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let phone = PhoneNumber::parse(&body.0.phone)
        .map_err(|e| ApiError::new(codes::INVALID_PHONE, e.to_string()))?;
    let code = sessions.pairing_code(&key, phone.clone()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "code": code, "phone": phone.digits() })))
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/sessions/{session}/screenshot", tag = "sessions", params(("workspace" = String, Path), ("session" = String, Path)),
    responses((status = 200, description = "image/png"), (status = 409, description = "SESSION_NOT_RUNNING")), security(("hmac" = [])))]
async fn screenshot(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let png = sessions.screenshot(&key(&path)?).await?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_must_be_http_without_credentials() {
        let open = NetPolicy::permissive();
        assert!(validate_callback_url("https://host.test/hooks/wa", &open).is_ok());
        assert!(validate_callback_url("http://127.0.0.1:8000/x", &open).is_ok());
        for bad in
            ["ftp://host.test/x", "https://user:pw@host.test/x", "not a url", "file:///etc/passwd"]
        {
            assert_eq!(
                validate_callback_url(bad, &open).unwrap_err().code,
                "INVALID_CALLBACK_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn internal_callback_targets_are_refused_when_private_targets_are_not_allowed() {
        let strict = NetPolicy::strict();
        assert!(validate_callback_url("https://host.test/hooks/wa", &strict).is_ok());
        for bad in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://127.0.0.1:18999/admin/users/delete",
            "http://0x7f000001:18999/x",
            "http://[::ffff:127.0.0.1]:18999/y",
            "http://localhost:8000/x",
        ] {
            let err = validate_callback_url(bad, &strict).unwrap_err();
            assert_eq!((err.status.as_u16(), err.code), (400, "CALLBACK_URL_NOT_PUBLIC"), "{bad}");
        }
    }

    #[test]
    fn metadata_is_bounded() {
        let many: BTreeMap<String, String> =
            (0..21).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(validate_metadata(&many).unwrap_err().code, "INVALID_METADATA");
        let long = BTreeMap::from([("k".to_string(), "v".repeat(501))]);
        assert!(validate_metadata(&long).is_err());
        assert!(validate_metadata(&BTreeMap::from([("team".into(), "sales".into())])).is_ok());
    }
}
