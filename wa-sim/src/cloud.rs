//! The Cloud API door over HTTP: the Graph-shaped send route, the control routes under
//! `/_sim/cloud` that register business numbers and play Meta's side, and the task that delivers
//! signed webhooks (`X-Hub-Signature-256`) in the order they were queued. The world side is
//! `world::cloud`. Documented in docs/simulator.md ("The Cloud API door").

use crate::error::SimError;
use crate::world::cloud::{CloudNumber, GraphError, Hook, Template, Upload};
use crate::world::{messages::digits, Shared};
use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Resp = Result<HttpResponse, SimError>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim/cloud")
            .route("/numbers", web::get().to(numbers))
            .route("/numbers", web::post().to(register))
            .route("/numbers/{pnid}/templates", web::post().to(template))
            .route("/numbers/{pnid}/window", web::post().to(window))
            .route("/numbers/{pnid}/fault", web::post().to(fault))
            .route("/messages", web::get().to(sent))
            .route("/messages/{id}/status", web::post().to(status))
            .route("/webhooks", web::get().to(webhooks)),
    )
    .route(r"/{version:v[0-9]+\.[0-9]+}/{pnid}/messages", web::post().to(send))
    .route(r"/{version:v[0-9]+\.[0-9]+}/{pnid}/media", web::post().to(upload));
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

fn graph_answer(out: Result<Value, GraphError>) -> HttpResponse {
    match out {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => {
            HttpResponse::build(StatusCode::from_u16(e.http).unwrap_or(StatusCode::BAD_REQUEST))
                .json(e.to_json())
        }
    }
}

/// `POST /{version}/{pnid}/media`: multipart/form-data with `messaging_product`, `type` and `file`.
async fn upload(
    req: HttpRequest,
    s: web::Data<Shared>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, pnid) = path.into_inner();
    let ctype = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let parts = multipart(ctype, &body).unwrap_or_default();
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let file = field("file").map(|f| {
        let declared = field("type").map(|t| String::from_utf8_lossy(&t.data).trim().to_string());
        Upload {
            phone_number_id: String::new(),
            mime_type: f
                .content_type
                .clone()
                .filter(|c| c != "application/octet-stream")
                .or(declared)
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: f.data.clone(),
            filename: f.filename.clone(),
        }
    });
    graph_answer(s.lock().cloud_upload(&pnid, bearer(&req), file))
}

/// One part of a multipart/form-data body.
#[derive(Debug, Default)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// The parts of a multipart/form-data body (binary-safe), or None when it is not one.
fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut at = find(body, &delim, 0)? + delim.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            break;
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let next = find(body, &delim, head_end)?;
        let data_end = next.checked_sub(2).filter(|e| *e >= head_end + 4)?;
        let mut part = Part { data: body[head_end + 4..data_end].to_vec(), ..Part::default() };
        for line in String::from_utf8_lossy(&body[head_start..head_end]).split("\r\n") {
            let (k, v) = line.split_once(':').unwrap_or((line, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for item in v.split(';').map(str::trim) {
                        if let Some(n) = item.strip_prefix("name=") {
                            part.name = n.trim_matches('"').to_string();
                        } else if let Some(f) = item.strip_prefix("filename=") {
                            part.filename = Some(f.trim_matches('"').to_string());
                        }
                    }
                }
                "content-type" => part.content_type = Some(v.trim().to_string()),
                _ => {}
            }
        }
        parts.push(part);
        at = next + delim.len();
    }
    Some(parts)
}

async fn send(
    req: HttpRequest,
    s: web::Data<Shared>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, pnid) = path.into_inner();
    let bearer = bearer(&req);
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Null,
    };
    let out = if parsed.is_null() && bearer.is_some() {
        Err(GraphError::new(100, "Invalid parameter", "the body must be a JSON object"))
    } else {
        s.lock().cloud_send(&pnid, bearer, &parsed)
    };
    graph_answer(out)
}

async fn numbers(s: web::Data<Shared>) -> Resp {
    Ok(HttpResponse::Ok().json(s.lock().cloud_numbers_json()))
}

async fn register(s: web::Data<Shared>, body: web::Json<CloudNumber>) -> Resp {
    let mut n = body.into_inner();
    n.phone = digits(&n.phone).ok_or(SimError::Bad("`phone` must be digits"))?;
    if n.phone_number_id.is_empty() || n.token.is_empty() {
        return Err(SimError::Bad("`phone_number_id` and `token` are required"));
    }
    if n.webhook_url.as_deref().is_some_and(|u| !u.starts_with("http://")) {
        return Err(SimError::Bad("`webhook_url` must be a plain http:// URL (loopback)"));
    }
    Ok(HttpResponse::Ok().json(s.lock().cloud_register(n)))
}

async fn template(
    s: web::Data<Shared>,
    pnid: web::Path<String>,
    body: web::Json<Template>,
) -> Resp {
    Ok(HttpResponse::Ok().json(s.lock().cloud_add_template(&pnid, body.into_inner())?))
}

#[derive(Deserialize)]
struct WindowReq {
    phone: String,
    #[serde(default = "yes")]
    open: bool,
    /// Open as if the phone last wrote this long ago.
    #[serde(default)]
    age_s: u64,
}

fn yes() -> bool {
    true
}

async fn window(s: web::Data<Shared>, pnid: web::Path<String>, body: web::Json<WindowReq>) -> Resp {
    let phone = digits(&body.phone).ok_or(SimError::Bad("`phone` must be digits"))?;
    Ok(HttpResponse::Ok().json(s.lock().cloud_set_window(&pnid, &phone, body.open, body.age_s)?))
}

#[derive(Deserialize)]
struct FaultReq {
    code: Option<i64>,
}

async fn fault(s: web::Data<Shared>, pnid: web::Path<String>, body: web::Json<FaultReq>) -> Resp {
    Ok(HttpResponse::Ok().json(s.lock().cloud_set_fault(&pnid, body.code)?))
}

async fn sent(s: web::Data<Shared>) -> Resp {
    Ok(HttpResponse::Ok().json(s.lock().cloud_sent_json()))
}

#[derive(Deserialize)]
struct StatusReq {
    status: String,
    error: Option<Value>,
}

async fn status(s: web::Data<Shared>, id: web::Path<String>, body: web::Json<StatusReq>) -> Resp {
    let body = body.into_inner();
    Ok(HttpResponse::Ok().json(s.lock().cloud_push_status(&id, &body.status, body.error)?))
}

async fn webhooks(s: web::Data<Shared>) -> Resp {
    let log = s.lock().cloud.log.clone();
    let list = log.lock().map(|l| l.clone()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(list))
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Start the delivery task on the current actix runtime: one hook at a time, in queue order,
/// retried a few times (Meta retries for days; a test wants an answer in seconds).
pub(crate) fn start_delivery(shared: &Shared) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Hook>();
    let log = {
        let mut w = shared.lock();
        w.cloud.hooks = Some(tx);
        w.cloud.log.clone()
    };
    actix_web::rt::spawn(async move {
        while let Some(hook) = rx.recv().await {
            let sig = signature(&hook.secret, hook.body.as_bytes());
            let mut outcome = Err(String::new());
            for attempt in 0..4u64 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                outcome = post(&hook.url, &sig, hook.body.as_bytes()).await;
                if matches!(outcome, Ok(code) if (200..300).contains(&code)) {
                    break;
                }
            }
            let body: Value = serde_json::from_str(&hook.body).unwrap_or(Value::Null);
            let entry = match outcome {
                Ok(code) => json!({"url": hook.url, "status": code, "body": body}),
                Err(e) => json!({"url": hook.url, "status": null, "error": e, "body": body}),
            };
            if let Ok(mut l) = log.lock() {
                l.push(entry);
            }
        }
    });
}

/// A plain HTTP/1.1 POST to an `http://host:port/path` URL; the response's status code.
async fn post(url: &str, signature: &str, body: &[u8]) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr =
        if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: facebookexternalua\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nX-Hub-Signature-256: {signature}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        stream.write_all(body).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
        let line = String::from_utf8_lossy(&buf);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("no HTTP status in {:?}", line.lines().next().unwrap_or("")))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_raw_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn multipart_parts_keep_their_bytes_names_and_types() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--\x00\r\n--XyZ--\r\n";
        let parts = multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data.as_slice()),
            ("messaging_product", b"whatsapp".as_slice())
        );
        assert_eq!(parts[1].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x89PNG\r\n--\x00");
        assert!(multipart("application/json", body).is_none());
    }

    #[test]
    fn webhook_bodies_escape_non_ascii_like_meta() {
        let v = json!({"t": "café 👍"});
        assert_eq!(crate::world::cloud::meta_json(&v), r#"{"t":"caf\u00e9 \ud83d\udc4d"}"#);
    }
}
