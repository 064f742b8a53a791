//! The optional IP allow-list (`auth.allow_ips`), in front of everything but `/health/*` so
//! supervisors and load balancers can always probe. Uses the TCP peer address: put the sidecar
//! where the host reaches it directly, not behind a proxy that rewrites addresses.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::codes;
use crate::api::ApiError;
use crate::startup::AppState;

pub async fn ip_allow<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(ApiError::internal("AppState is not registered").respond(req));
    };
    if state.allow_ips.is_empty() || req.path().starts_with("/health/") {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let peer = req.peer_addr().map(|a| canonical(a.ip()));
    if peer.is_some_and(|ip| state.allow_ips.iter().any(|net| net.contains(&ip))) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let shown = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    state.metrics.auth_failure("ip_not_allowed");
    tracing::warn!(peer = %shown, "request refused: address not in auth.allow_ips");
    Ok(ApiError::new(codes::IP_NOT_ALLOWED, format!("address {shown} is not in auth.allow_ips"))
        .respond(req))
}

/// `::ffff:10.0.0.1` is `10.0.0.1` (dual-stack listeners report IPv4 peers that way).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
