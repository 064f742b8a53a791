//! `/v1/workspaces/{workspace}/sessions/…`: thin handlers over [`SessionManager`]. They parse
//! input into typed values, call the registry, and render; nothing else.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::registry::{NewSession, SessionManager};
use super::{qr, SessionError};
use crate::api::{ApiError, Json};
use crate::ids::{PhoneNumber, SessionId, SessionKey, WorkspaceId};

/// Mounted inside the authenticated `/v1` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/workspaces/{workspace}/sessions")
            .route("", web::post().to(create))
            .route("", web::get().to(list))
            .route("/{session}", web::get().to(get))
            .route("/{session}", web::delete().to(delete))
            .route("/{session}/start", web::post().to(start))
            .route("/{session}/stop", web::post().to(stop))
            .route("/{session}/restart", web::post().to(restart))
            .route("/{session}/logout", web::post().to(logout))
            .route("/{session}/qr", web::get().to(qr_code))
            .route("/{session}/pairing-code", web::post().to(pairing_code))
            .route("/{session}/screenshot", web::get().to(screenshot)),
    );
}

type Sessions = web::Data<SessionManager>;

const MAX_METADATA_KEYS: usize = 20;
const MAX_METADATA_KEY_LEN: usize = 40;
const MAX_METADATA_VALUE_LEN: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub id: String,
    #[serde(default = "yes")]
    pub start: bool,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingRequest {
    pub phone: String,
}

#[derive(Debug, Deserialize)]
pub struct QrQuery {
    pub format: Option<String>,
}

fn key(path: &(String, String)) -> Result<SessionKey, ApiError> {
    Ok(SessionKey::new(WorkspaceId::parse(&path.0)?, SessionId::parse(&path.1)?))
}

/// An http(s) URL without credentials: the host's webhook endpoint for this session.
pub fn validate_callback_url(raw: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::bad_request("INVALID_CALLBACK_URL", format!("callback_url {why}"));
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials; callbacks are signed instead"));
    }
    if url.host_str().is_none() {
        return Err(bad("needs a host"));
    }
    Ok(url.to_string())
}

fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::bad_request("INVALID_METADATA", why);
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(bad(format!("metadata has {} keys; at most {MAX_METADATA_KEYS} are allowed", metadata.len())));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.chars().count() > MAX_METADATA_KEY_LEN {
            return Err(bad(format!("metadata key {k:?} must have 1-{MAX_METADATA_KEY_LEN} characters")));
        }
        if v.chars().count() > MAX_METADATA_VALUE_LEN {
            return Err(bad(format!("metadata value of {k:?} is longer than {MAX_METADATA_VALUE_LEN} characters")));
        }
    }
    Ok(())
}

async fn create(sessions: Sessions, path: web::Path<String>, body: Json<CreateSession>) -> Result<HttpResponse, ApiError> {
    let workspace = WorkspaceId::parse(&path)?;
    let body = body.into_inner();
    let id = SessionId::parse(&body.id)?;
    let callback_url = body.callback_url.as_deref().map(validate_callback_url).transpose()?;
    validate_metadata(&body.metadata)?;
    let new = NewSession { id, start: body.start, callback_url, metadata: body.metadata };
    let snapshot = sessions.create(workspace.clone(), new).await?;
    let location = format!("/v1/workspaces/{workspace}/sessions/{}", snapshot.id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(snapshot))
}

async fn list(sessions: Sessions, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let workspace = WorkspaceId::parse(&path)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sessions": sessions.list(&workspace) })))
}

async fn get(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.get(&key(&path)?)?))
}

async fn delete(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    sessions.delete(&key(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn start(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.start(&key(&path)?).await?))
}

async fn stop(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.stop(&key(&path)?).await?))
}

async fn restart(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.restart(&key(&path)?).await?))
}

async fn logout(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sessions.logout(&key(&path)?).await?))
}

/// PNG by default; `?format=raw` (the text), `?format=data-url`, or JSON on `Accept: application/json`.
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
        "png" => Ok(HttpResponse::Ok().content_type("image/png").body(qr::png(&code).map_err(render)?)),
        "raw" => Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(code)),
        "data-url" => Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(qr::data_url(&code).map_err(render)?)),
        other => Err(ApiError::bad_request("INVALID_FORMAT", format!("format {other:?} is not one of png, raw, data-url"))),
    }
}

async fn pairing_code(
    sessions: Sessions,
    path: web::Path<(String, String)>,
    body: Json<PairingRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = key(&path)?;
    let phone = PhoneNumber::parse(&body.0.phone).map_err(|e| ApiError::bad_request("INVALID_PHONE", e.to_string()))?;
    let code = sessions.pairing_code(&key, phone.clone()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "code": code, "phone": phone.digits() })))
}

async fn screenshot(sessions: Sessions, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let png = sessions.screenshot(&key(&path)?).await?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_must_be_http_without_credentials() {
        assert!(validate_callback_url("https://host.test/hooks/wa").is_ok());
        assert!(validate_callback_url("http://127.0.0.1:8000/x").is_ok());
        for bad in ["ftp://host.test/x", "https://user:pw@host.test/x", "not a url", "file:///etc/passwd"] {
            assert_eq!(validate_callback_url(bad).unwrap_err().code, "INVALID_CALLBACK_URL", "{bad}");
        }
    }

    #[test]
    fn metadata_is_bounded() {
        let many: BTreeMap<String, String> = (0..21).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(validate_metadata(&many).unwrap_err().code, "INVALID_METADATA");
        let long = BTreeMap::from([("k".to_string(), "v".repeat(501))]);
        assert!(validate_metadata(&long).is_err());
        assert!(validate_metadata(&BTreeMap::from([("team".into(), "sales".into())])).is_ok());
    }
}
