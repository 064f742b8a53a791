//! The control API under `/_sim`: it plays the phone (scan, link code, unlink), everyone else
//! (incoming messages, acks, presence), and the network (offline, conflict, faults).
//! Documented with curl examples in docs/simulator.md.

use crate::error::SimError;
use crate::world::{messages::digits, Faults, Incoming, Shared, Target};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

type Resp = Result<HttpResponse, SimError>;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024 * 1024)
        .error_handler(|e, _| SimError::BadJson(e.to_string()).into())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/state", web::get().to(state))
            .route("/pages", web::get().to(pages))
            .route("/devices", web::get().to(devices))
            .route("/scan", web::post().to(scan))
            .route("/link-code", web::post().to(link_code))
            .route("/unlink", web::post().to(unlink))
            .route("/conflict", web::post().to(conflict))
            .route("/offline", web::post().to(offline))
            .route("/online", web::post().to(online))
            .route("/crash", web::post().to(crash))
            .route("/block", web::post().to(block))
            .route("/faults", web::get().to(get_faults))
            .route("/faults", web::post().to(set_faults))
            .route("/faults", web::delete().to(clear_faults))
            .route("/messages", web::post().to(incoming))
            .route("/messages/{id}", web::get().to(get_message))
            .route("/messages/{id}/ack", web::post().to(ack))
            .route("/messages/{id}/revoke", web::post().to(revoke))
            .route("/messages/{id}/edit", web::post().to(edit))
            .route("/messages/{id}/decrypt", web::post().to(decrypt))
            .route("/groups", web::post().to(group_create))
            .route("/groups/{id}/participants", web::post().to(group_change))
            .route("/calls", web::get().to(calls))
            .route("/calls", web::post().to(call))
            .route("/calls/{id}/end", web::post().to(call_end))
            .route("/ban", web::post().to(ban))
            .route("/accounts/{phone}/presence", web::get().to(account_presence))
            .route("/media/{id}", web::get().to(media))
            .route("/media/{id}/gone", web::post().to(media_gone))
            .route("/presence", web::post().to(presence))
            .route("/accounts/{phone}", web::post().to(set_account))
            .route("/accounts/{phone}/messages", web::get().to(account_messages))
            .route("/numbers/{phone}", web::post().to(set_number))
            .route("/avatar/{file}", web::get().to(avatar)),
    );
}

fn ok(v: Value) -> Resp {
    Ok(HttpResponse::Ok().json(v))
}

async fn state(s: web::Data<Shared>) -> Resp {
    let w = s.lock();
    ok(json!({
        "pages": w.pages_json(), "devices": w.devices_json(),
        "accounts": w.accounts.values().map(|a| json!({"phone": a.phone, "pushname": a.pushname})).collect::<Vec<_>>(),
        "faults": w.faults, "offline": w.offline,
    }))
}

async fn pages(s: web::Data<Shared>) -> Resp {
    ok(s.lock().pages_json())
}

async fn devices(s: web::Data<Shared>) -> Resp {
    ok(s.lock().devices_json())
}

#[derive(Deserialize)]
struct ScanReq {
    code: String,
    phone: String,
    pushname: Option<String>,
}

async fn scan(s: web::Data<Shared>, body: web::Json<ScanReq>) -> Resp {
    let phone = digits(&body.phone).ok_or(SimError::Bad("`phone` must be digits"))?;
    ok(s.scan(&body.code, &phone, body.pushname.as_deref())?)
}

#[derive(Deserialize)]
struct LinkReq {
    phone: String,
    code: String,
}

async fn link_code(s: web::Data<Shared>, body: web::Json<LinkReq>) -> Resp {
    let phone = digits(&body.phone).ok_or(SimError::Bad("`phone` must be digits"))?;
    ok(s.accept_link_code(&phone, &body.code)?)
}

#[derive(Deserialize)]
struct UnlinkReq {
    #[serde(flatten)]
    target: Target,
    reason: Option<String>,
}

async fn unlink(s: web::Data<Shared>, body: web::Json<UnlinkReq>) -> Resp {
    if body.target.device.is_none() && body.target.phone.is_none() {
        return Err(SimError::Bad("name a `device` or a `phone`"));
    }
    let reason = body.reason.clone().unwrap_or_else(|| "user_initiated".into());
    let ids = s.lock().unlink(&body.target, &reason);
    if ids.is_empty() {
        return Err(SimError::NotFound("DEVICE_NOT_FOUND", "no linked device matches"));
    }
    ok(json!({"unlinked": ids, "reason": reason}))
}

fn target(body: Option<web::Json<Target>>) -> Target {
    body.map(|b| b.into_inner()).unwrap_or_default()
}

async fn conflict(s: web::Data<Shared>, body: Option<web::Json<Target>>) -> Resp {
    ok(json!({"pages": s.lock().conflict(&target(body))}))
}

async fn offline(s: web::Data<Shared>, body: Option<web::Json<Target>>) -> Resp {
    ok(json!({"pages": s.lock().set_offline(&target(body))}))
}

async fn online(s: web::Data<Shared>, body: Option<web::Json<Target>>) -> Resp {
    s.lock().set_online(&target(body));
    ok(json!({"offline": s.lock().offline}))
}

async fn crash(s: web::Data<Shared>, body: Option<web::Json<Target>>) -> Resp {
    ok(json!({"pages": s.lock().crash(&target(body))}))
}

#[derive(Deserialize)]
struct BlockReq {
    #[serde(flatten)]
    target: Target,
    mode: String,
}

/// Stream modes WhatsApp uses for hard blocks.
const BLOCKS: [&str; 4] = ["PROXYBLOCK", "TOS_BLOCK", "SMB_TOS_BLOCK", "DEPRECATED_VERSION"];

async fn block(s: web::Data<Shared>, body: web::Json<BlockReq>) -> Resp {
    if !BLOCKS.contains(&body.mode.as_str()) {
        return Err(SimError::Bad(
            "`mode` must be PROXYBLOCK, TOS_BLOCK, SMB_TOS_BLOCK or DEPRECATED_VERSION",
        ));
    }
    ok(json!({"pages": s.lock().block(&body.target, &body.mode)}))
}

async fn get_faults(s: web::Data<Shared>) -> Resp {
    ok(json!(s.lock().faults))
}

/// Merge: only the keys present change; `send_error: null` clears it.
async fn set_faults(s: web::Data<Shared>, body: web::Json<Value>) -> Resp {
    let mut w = s.lock();
    let mut current = serde_json::to_value(&w.faults).unwrap_or(Value::Null);
    if let (Some(cur), Some(new)) = (current.as_object_mut(), body.as_object()) {
        for (k, v) in new {
            if !cur.contains_key(k) {
                return Err(SimError::Bad(
                    "unknown fault (never_ready, send_error, send_hang, send_unacked, send_failure)",
                ));
            }
            cur.insert(k.clone(), v.clone());
        }
    }
    w.faults =
        serde_json::from_value::<Faults>(current).map_err(|e| SimError::BadJson(e.to_string()))?;
    ok(json!(w.faults))
}

async fn clear_faults(s: web::Data<Shared>) -> Resp {
    let mut w = s.lock();
    w.faults = Faults::default();
    ok(json!(w.faults))
}

async fn incoming(s: web::Data<Shared>, body: web::Json<Incoming>) -> Resp {
    let out = s.lock().incoming(body.into_inner())?;
    if let (Some(ms), Some(id)) = (out["decrypt_after_ms"].as_u64(), out["id"].as_str()) {
        let (shared, id) = (s.get_ref().clone(), id.to_string());
        actix_web::rt::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            let _ = shared.lock().decrypt(&id);
        });
    }
    ok(out)
}

async fn decrypt(s: web::Data<Shared>, id: web::Path<String>) -> Resp {
    ok(json!(s.lock().decrypt(&id)?))
}

#[derive(Deserialize)]
struct GroupReq {
    owner: String,
    subject: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn group_create(s: web::Data<Shared>, body: web::Json<GroupReq>) -> Resp {
    let owner = digits(&body.owner).ok_or(SimError::Bad("`owner` must be digits"))?;
    ok(s.lock().phone_group_create(&owner, &body.subject, &body.members)?)
}

#[derive(Deserialize)]
struct GroupChangeReq {
    action: String,
    participants: Vec<String>,
    author: Option<String>,
}

async fn group_change(
    s: web::Data<Shared>,
    id: web::Path<String>,
    body: web::Json<GroupChangeReq>,
) -> Resp {
    ok(s.lock().phone_group_change(
        &id,
        &body.action,
        body.author.as_deref(),
        &body.participants,
    )?)
}

async fn calls(s: web::Data<Shared>) -> Resp {
    ok(s.lock().calls_json())
}

#[derive(Deserialize)]
struct CallReq {
    from: String,
    to: String,
    #[serde(default)]
    video: bool,
}

async fn call(s: web::Data<Shared>, body: web::Json<CallReq>) -> Resp {
    let from = digits(&body.from).ok_or(SimError::Bad("`from` must be digits"))?;
    let to = digits(&body.to).ok_or(SimError::Bad("`to` must be digits"))?;
    ok(s.lock().place_call(&from, &to, body.video))
}

async fn call_end(s: web::Data<Shared>, id: web::Path<String>) -> Resp {
    ok(s.lock().end_call(&id)?)
}

#[derive(Deserialize)]
struct BanReq {
    #[serde(flatten)]
    target: Target,
    expires_in_s: Option<u64>,
}

async fn ban(s: web::Data<Shared>, body: web::Json<BanReq>) -> Resp {
    ok(json!({"pages": s.lock().ban(&body.target, body.expires_in_s)}))
}

async fn account_presence(s: web::Data<Shared>, phone: web::Path<String>) -> Resp {
    let phone = digits(&phone).ok_or(SimError::Bad("phone must be digits"))?;
    ok(s.lock().presence_json(&phone))
}

async fn get_message(s: web::Data<Shared>, id: web::Path<String>) -> Resp {
    let w = s.lock();
    let m = w.find_msg(&id).ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such message"))?;
    let mut out = json!(m);
    if m.is_group() {
        out["receipts"] = json!(w.receipts.get(&m.id).cloned().unwrap_or_default());
    }
    ok(out)
}

#[derive(Deserialize)]
struct AckReq {
    ack: i64,
    /// A group member's receipt (that participant's phone).
    from: Option<String>,
}

async fn ack(s: web::Data<Shared>, id: web::Path<String>, body: web::Json<AckReq>) -> Resp {
    if !(-7..=5).contains(&body.ack) {
        return Err(SimError::Bad("`ack` must be an ACK value from -7 to 5"));
    }
    let mut w = s.lock();
    let m = match &body.from {
        Some(from) => {
            let from = digits(from).ok_or(SimError::Bad("`from` must be digits"))?;
            w.set_receipt(&id, &from, body.ack).ok_or(SimError::NotFound(
                "RECEIPT_NOT_POSSIBLE",
                "no group message with this id that `from` received",
            ))?
        }
        None => w
            .set_ack(&id, body.ack)
            .ok_or(SimError::NotFound("MESSAGE_NOT_FOUND", "no such message"))?,
    };
    let receipts = w.receipts.get(&m.id).cloned().unwrap_or_default();
    let mut out = json!(m);
    out["receipts"] = json!(receipts);
    ok(out)
}

async fn revoke(s: web::Data<Shared>, id: web::Path<String>) -> Resp {
    ok(json!(s.lock().revoke(&id, None)?))
}

#[derive(Deserialize)]
struct EditReq {
    text: String,
}

async fn edit(s: web::Data<Shared>, id: web::Path<String>, body: web::Json<EditReq>) -> Resp {
    ok(json!(s.lock().edit(&id, &body.text, None)?))
}

async fn media(s: web::Data<Shared>, id: web::Path<String>) -> Resp {
    let w = s.lock();
    let raw = crate::world::messages::raw_id(&id);
    let m = w
        .media
        .get(raw)
        .ok_or(SimError::NotFound("MEDIA_NOT_FOUND", "no media for this message"))?;
    Ok(HttpResponse::Ok().content_type(m.mimetype.clone()).body(m.bytes.clone()))
}

#[derive(Deserialize)]
struct GoneReq {
    #[serde(default = "yes")]
    gone: bool,
}

fn yes() -> bool {
    true
}

/// WhatsApp's copy of a message's media is gone (`gone: true`, the default) or back.
async fn media_gone(s: web::Data<Shared>, id: web::Path<String>, body: web::Json<GoneReq>) -> Resp {
    let mut w = s.lock();
    let raw = crate::world::messages::raw_id(&id).to_string();
    if !w.media.contains_key(&raw) {
        return Err(SimError::NotFound("MEDIA_NOT_FOUND", "no media for this message"));
    }
    match body.gone {
        true => w.gone_media.insert(raw.clone()),
        false => w.gone_media.remove(&raw),
    };
    ok(json!({"id": raw, "gone": body.gone}))
}

#[derive(Deserialize)]
struct PresenceReq {
    from: String,
    to: String,
    state: String,
}

async fn presence(s: web::Data<Shared>, body: web::Json<PresenceReq>) -> Resp {
    let from = digits(&body.from).ok_or(SimError::Bad("`from` must be digits"))?;
    let mut w = s.lock();
    if body.to.ends_with("@g.us") {
        w.group_presence(&from, &body.to, &body.state)?;
    } else {
        let to = digits(&body.to).ok_or(SimError::Bad("`to` must be digits or a group id"))?;
        w.presence(&from, &to, &body.state);
    }
    ok(json!({"ok": true}))
}

#[derive(Deserialize)]
struct AccountReq {
    pushname: String,
}

async fn set_account(
    s: web::Data<Shared>,
    phone: web::Path<String>,
    body: web::Json<AccountReq>,
) -> Resp {
    let phone = digits(&phone).ok_or(SimError::Bad("phone must be digits"))?;
    s.lock().account(&phone).pushname = body.pushname.clone();
    ok(json!({"phone": phone, "pushname": body.pushname}))
}

async fn account_messages(s: web::Data<Shared>, phone: web::Path<String>) -> Resp {
    let phone = digits(&phone).ok_or(SimError::Bad("phone must be digits"))?;
    ok(s.lock().account_messages(&phone))
}

#[derive(Deserialize)]
struct NumberReq {
    exists: Option<bool>,
    lid_addressing: Option<bool>,
    pn_visible: Option<bool>,
}

async fn set_number(
    s: web::Data<Shared>,
    phone: web::Path<String>,
    body: web::Json<NumberReq>,
) -> Resp {
    let phone = digits(&phone).ok_or(SimError::Bad("phone must be digits"))?;
    ok(s.lock().set_number(&phone, body.exists, body.lid_addressing, body.pn_visible))
}

async fn avatar(file: web::Path<String>) -> HttpResponse {
    let phone: String = file.chars().filter(|c| c.is_ascii_digit()).collect();
    let hue = phone.bytes().fold(0u32, |a, b| (a * 31 + u32::from(b)) % 360);
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'><rect width='64' height='64' fill='hsl({hue},60%,50%)'/></svg>"
    );
    HttpResponse::Ok().content_type("image/svg+xml").body(svg)
}
