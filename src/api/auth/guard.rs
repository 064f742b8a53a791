//! The middleware on the `/v1` scope: signature, then workspace scope.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, Error, HttpMessage};
use futures::StreamExt;

use super::budget::Reservation;
use super::{
    unix_now, AuthFailure, Caller, SignedHeaders, KEY_ID_HEADER, NONCE_HEADER, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use crate::api::codes;
use crate::api::ApiError;
use crate::config::KeyScope;
use crate::ids::WorkspaceId;
use crate::startup::AppState;

pub async fn require_signature<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    match authenticate(&mut req).await {
        Ok(caller) => {
            tracing::debug!(key_id = %caller.key_id, "signature accepted");
            req.extensions_mut().insert(caller);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(refusal) => Ok(refusal.respond(req)),
    }
}

async fn authenticate(req: &mut ServiceRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
    let now = unix_now();
    let header =
        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (key_id, ts, nonce, sig) = (
        header(KEY_ID_HEADER),
        header(TIMESTAMP_HEADER),
        header(NONCE_HEADER),
        header(SIGNATURE_HEADER),
    );
    let headers = SignedHeaders {
        key_id: key_id.as_deref(),
        timestamp: ts.as_deref(),
        nonce: nonce.as_deref(),
        signature: sig.as_deref(),
    };
    let pre =
        state.auth.precheck(&headers, now).map_err(|f| refuse(&state, f, key_id.as_deref()))?;

    // Held until the MAC is checked: unauthenticated bytes count against the budget.
    let mut reservation = state.body_budget.reservation(req.peer_addr().map(|a| a.ip()));
    let body = read_body(
        req,
        &mut reservation,
        state.settings.server.max_body_bytes,
        state.body_timeout(),
    )
    .await
    .inspect_err(|e| {
        if e.code == "SERVER_BUSY" {
            state.metrics.auth_failure("body_budget_exhausted");
        }
    })?;
    let (method, path, query) =
        (req.method().as_str().to_owned(), req.path().to_owned(), req.query_string().to_owned());
    let caller = state
        .auth
        .verify(&pre, &method, &path, &query, &body, now)
        .map_err(|f| refuse(&state, f, key_id.as_deref()))?;
    drop(reservation);
    req.set_payload(Payload::from(body));

    if !in_scope(&caller.scope, &path) {
        state.metrics.auth_failure("workspace_forbidden");
        tracing::warn!(key_id = %caller.key_id, path = %path, "key used outside its workspaces");
        return Err(ApiError::new(
            codes::WORKSPACE_FORBIDDEN,
            format!("key {:?} may not access {path}", caller.key_id),
        ));
    }
    Ok(caller)
}

fn refuse(state: &AppState, failure: AuthFailure, key_id: Option<&str>) -> ApiError {
    state.metrics.auth_failure(failure.reason());
    tracing::warn!(
        reason = failure.reason(),
        key_id = key_id.unwrap_or("-"),
        "request refused: {failure}"
    );
    ApiError::unauthorized()
}

/// `/v1/workspaces/{ws}/...` needs `ws` in the key's scope; any other `/v1` path needs `["*"]`.
/// The raw segment is used: anything percent-encoded is not a valid id and so only `*` passes.
fn in_scope(scope: &KeyScope, path: &str) -> bool {
    if *scope == KeyScope::All {
        return true;
    }
    let workspace = path.strip_prefix("/v1/workspaces/").and_then(|rest| rest.split('/').next());
    match workspace.map(WorkspaceId::parse) {
        Some(Ok(ws)) => scope.allows(&ws),
        _ => false,
    }
}

/// Reads the whole body (it is part of the signature), refusing past `limit` with 413, a stalled
/// upload with 408, and a read past the unauthenticated-bytes budget with 503.
async fn read_body(
    req: &mut ServiceRequest,
    reservation: &mut Reservation,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut payload = req.take_payload();
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    codes::BODY_READ_FAILED,
                    format!("could not read the request body: {e}"),
                )
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            reservation.grow(chunk.len()).map_err(|e| {
                tracing::warn!(reason = %e, "request refused before its signature was checked");
                ApiError::server_busy(e.to_string())
            })?;
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => {
            Err(ApiError::new(codes::REQUEST_TIMEOUT, "the request body did not arrive in time"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_the_workspace_segment() {
        let only_a = KeyScope::Only([WorkspaceId::parse("a").unwrap()].into_iter().collect());
        assert!(in_scope(&only_a, "/v1/workspaces/a"));
        assert!(in_scope(&only_a, "/v1/workspaces/a/sessions/main"));
        assert!(!in_scope(&only_a, "/v1/workspaces/b"));
        assert!(!in_scope(&only_a, "/v1/workspaces/%61"));
        assert!(!in_scope(&only_a, "/v1/callbacks/dead"));
        assert!(in_scope(&KeyScope::All, "/v1/callbacks/dead"));
    }
}
