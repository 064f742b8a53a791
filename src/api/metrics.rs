//! Prometheus metrics of the HTTP layer (requests by route/status, latency, auth failures) and
//! `GET /metrics`. The [`Registry`] is built in `startup` and other modules register their own
//! metrics into it there, before the server starts.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::ApiError;
use crate::startup::AppState;

// Every label comes from a closed set: a known method or `other`, a route pattern of our own
// table or `unmatched`, and a status code. Nothing a client sends becomes a label as it is, so
// no request can add label sets without bound (each one is kept forever and sent on every scrape).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        // 1 ms .. ~16 s
        Histogram::new(exponential_buckets(0.001, 2.0, 15))
    }
}

pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, LatencyBuckets>,
    auth_failures: Family<ReasonLabels, Counter>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(LatencyBuckets),
            auth_failures: Family::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route pattern and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route pattern",
            metrics.latency.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused signed requests by reason",
            metrics.auth_failures.clone(),
        );
        metrics
    }

    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    fn observe(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        self.latency.get_or_create(&RouteLabels { method, route: route.clone() }).observe(seconds);
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }
}

/// The method as a label: one of the standard methods, else `other`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

/// Counts every request under its route pattern (`/v1/workspaces/{workspace}`) or `unmatched`,
/// never the raw path, and its method or `other`, so label cardinality stays bounded. Runs inside
/// the IP allow-list: refused addresses only count in `auth_failures{reason="ip_not_allowed"}`.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    let started = Instant::now();
    let result = next.call(req).await;
    if let Some(state) = state {
        let (status, route) = match &result {
            Ok(res) => (res.status().as_u16(), res.request().match_pattern()),
            Err(e) => (e.as_response_error().status_code().as_u16(), None),
        };
        let route = route.unwrap_or_else(|| "unmatched".into());
        state.metrics.observe(method, route, status, started.elapsed().as_secs_f64());
    }
    result
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.registry)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
