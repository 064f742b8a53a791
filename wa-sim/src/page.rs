//! The pages a browser loads: the app (behind a strict nonce CSP, refusing `HeadlessChrome`),
//! its script (`WPP` and the client), the service worker, and small media/avatar endpoints.

use crate::world::Shared;
use actix_web::{http::header, web, HttpRequest, HttpResponse};

const INDEX: &str = include_str!("assets/index.html");
const UNSUPPORTED: &str = include_str!("assets/unsupported.html");
const WPP_JS: &str = concat!(
    include_str!("assets/wpp-core.js"),
    include_str!("assets/wpp-api.js"),
    include_str!("assets/weight.js")
);
const SW_JS: &str = include_str!("assets/sw.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/app/wpp.js", web::get().to(wpp_js))
        .route("/sw.js", web::get().to(sw_js))
        .route("/favicon.ico", web::get().to(|| async { HttpResponse::NoContent().finish() }));
}

/// WhatsApp Web's policy in spirit: scripts only with this response's nonce, so an inline
/// `<script>` added by anyone else is refused.
fn csp(nonce: &str, host: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; \
         connect-src 'self' ws://{host}; img-src 'self' data: blob:; media-src 'self' data: blob:; \
         worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

async fn index(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let ua =
        req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let nonce = crate::world::random_b64(16);
    let host = req.connection_info().host().to_string();
    let body = if ua.contains("HeadlessChrome") {
        UNSUPPORTED.to_string()
    } else {
        let timings = shared.lock().cfg.page_timings().to_string();
        INDEX.replace("{{NONCE}}", &nonce).replace("{{CONFIG}}", &html_attr(&timings))
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_SECURITY_POLICY, csp(&nonce, &host)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn wpp_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/javascript; charset=utf-8")
        .body(WPP_JS)
}

async fn sw_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/javascript; charset=utf-8")
        .body(SW_JS)
}
