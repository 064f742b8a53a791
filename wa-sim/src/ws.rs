//! The page's "connection to WhatsApp": one WebSocket per page load, JSON text frames.
//! Page → server: `hello`, `rpc`. Server → page: `hello`, `qr`, `qr_idle`, `paired`, `logout`,
//! `conflict`, `offline`, `crash`, `ev` (messages, acks, …), `res` (rpc answers).

use crate::world::{linking::Hello, Outbound, Shared};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::AggregatedMessage;
use serde_json::Value;
use tokio::sync::mpsc::unbounded_channel;

/// Media travels base64 in one frame: allow large ones.
const MAX_FRAME: usize = 64 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(upgrade));
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, actix_web::Error> {
    let (resp, session, stream) = actix_ws::handle(&req, body)?;
    let stream =
        stream.max_frame_size(MAX_FRAME).aggregate_continuations().max_continuation_size(MAX_FRAME);
    actix_web::rt::spawn(connection(shared.get_ref().clone(), session, stream));
    Ok(resp)
}

async fn connection(
    shared: Shared,
    mut session: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let (tx, mut rx) = unbounded_channel::<Outbound>();
    let mut page: Option<String> = None;
    loop {
        tokio::select! {
            incoming = stream.recv() => match incoming {
                Some(Ok(AggregatedMessage::Text(text))) => on_text(&shared, &mut page, &tx, &text),
                Some(Ok(AggregatedMessage::Ping(b))) => { let _ = session.pong(&b).await; }
                Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            out = rx.recv() => match out {
                Some(Outbound::Text(s)) => if session.text(s).await.is_err() { break },
                Some(Outbound::Close) | None => break,
            },
        }
    }
    if let Some(p) = page {
        shared.goodbye(&p, &tx);
    }
    let _ = session.close(None).await;
}

fn on_text(
    shared: &Shared,
    page: &mut Option<String>,
    tx: &tokio::sync::mpsc::UnboundedSender<Outbound>,
    text: &str,
) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        tracing::warn!("wa-sim: page sent a frame that is not JSON");
        return;
    };
    match (frame["t"].as_str(), page.as_deref()) {
        (Some("hello"), None) => match serde_json::from_value::<Hello>(frame) {
            Ok(hello) => {
                *page = Some(hello.page.clone());
                shared.hello(hello, tx.clone());
            }
            Err(e) => tracing::warn!(error = %e, "wa-sim: bad hello"),
        },
        (Some("rpc"), Some(p)) => {
            let id = frame["id"].as_u64().unwrap_or(0);
            let method = frame["m"].as_str().unwrap_or_default().to_string();
            shared.rpc(p, id, &method, frame["a"].clone());
        }
        _ => tracing::warn!("wa-sim: unexpected frame from page"),
    }
}
