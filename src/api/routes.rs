//! The route table: public operations routes, and the signed `/v1` scope.

use actix_web::middleware::from_fn;
use actix_web::web;

use super::codes;
use super::{auth, health, metrics, openapi, workspaces, ApiError};

/// Everything the app serves. `startup` adds the middlewares around it.
///
/// Use `web::resource(..).route(..)`, not `cfg.route(..)`: the latter puts the method guard on
/// the resource, so a wrong method falls through to 404 instead of 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(web::get().to(health::live)))
        .service(web::resource("/health/ready").route(web::get().to(health::ready)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi::serve)))
        .service(web::scope("/v1").wrap(from_fn(auth::require_signature)).configure(v1));
}

/// Every authenticated route, relative to `/v1`. Add a module's routes here, e.g.
/// `.configure(crate::sessions::api::configure)`.
pub fn v1(cfg: &mut web::ServiceConfig) {
    cfg.configure(workspaces::configure)
        .configure(crate::sessions::api::configure)
        .configure(crate::sessions::handover::configure)
        .configure(crate::callbacks::api::configure)
        .configure(crate::messages::send::api::configure)
        .configure(crate::messages::inbound::api::configure);
}

/// Error handlers for actix's own extractors (`web::Path`, `web::Query`, `web::Json`), so a
/// handler using them still answers with the envelope and a useful message.
pub fn extractor_config(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::new(codes::INVALID_PATH, e.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::new(codes::INVALID_QUERY, e.to_string()).into()),
    )
    .app_data(web::JsonConfig::default().limit(max_body_bytes).error_handler(|e, _| match e {
        actix_web::error::JsonPayloadError::Overflow { limit }
        | actix_web::error::JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::payload_too_large(limit).into()
        }
        other => ApiError::new(codes::INVALID_JSON, other.to_string()).into(),
    }));
}
