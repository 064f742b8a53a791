//! `GET /openapi.json`, generated from the handlers' `#[utoipa::path]` annotations.
//! Other modules merge their own `OpenApi` document in [`document`]; [`contract`] then writes in
//! what every route shares (error statuses, constraints, media types).

pub mod contract;

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{health, metrics, workspaces};

#[derive(OpenApi)]
#[openapi(
    info(title = "wa-sidecar", description = "WhatsApp Web for a Laravel or Node host. Every /v1 request is HMAC-signed: see README.md, \"Signing requests\"."),
    paths(health::live, health::ready, metrics::metrics, serve, workspaces::get_workspace, workspaces::ping),
    components(schemas(health::Live, health::Ready, health::CheckResult, workspaces::Workspace, workspaces::PingRequest, workspaces::PingResponse, ErrorEnvelope, ErrorBody)),
    modifiers(&HmacScheme),
    tags((name = "operations", description = "Health, metrics"), (name = "workspaces", description = "Workspaces of the host"))
)]
pub struct ApiDoc;

/// The error envelope, for documentation.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable SCREAMING_SNAKE code, e.g. SESSION_NOT_FOUND.
    code: String,
    message: String,
    request_id: String,
}

struct HmacScheme;

impl Modify for HmacScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let description = "HMAC-SHA256: send X-Key-Id, X-Timestamp, X-Nonce and X-HMAC-Signature: v1=<hex> \
            over the canonical string v1\\n{timestamp}\\n{nonce}\\n{METHOD}\\n{path}\\n{sorted query}\\n{sha256(body) hex}";
        components.add_security_scheme(
            "hmac",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-HMAC-Signature",
                description,
            ))),
        );
    }
}

/// The whole document. Add other modules' docs here, e.g.
/// `doc.merge(crate::sessions::api::ApiDoc::openapi())`.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::sessions::api::ApiDoc::openapi());
    doc.merge(crate::callbacks::api::ApiDoc::openapi());
    doc.merge(crate::messages::send::api::ApiDoc::openapi());
    doc.merge(crate::messages::inbound::api::ApiDoc::openapi());
    doc.merge(crate::sessions::handover::ApiDoc::openapi());
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    contract::complete(&mut doc);
    doc
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn serve(doc: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok().json(&doc.get_ref().0)
}

/// The served document, built once at start.
pub struct OpenApiDocument(pub serde_json::Value);
