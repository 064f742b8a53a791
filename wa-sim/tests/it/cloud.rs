//! The Cloud API door: a business number registered through the control API, the Graph-shaped
//! send route with Meta's errors, the 24-hour window, templates, and signed webhooks (statuses in
//! the order the control API plays them, the phones' messages) delivered to a real listener.

use crate::harness::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wa_sim::SimConfig;

const PNID: &str = "106540352242922";
const BIZ: &str = "15550300000";
const TOKEN: &str = "EAAG-test-token";
const SECRET: &str = "app-secret-1";

/// Each request's head and raw body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on loopback: every POST's headers and raw body, answered 200.
struct Hooks {
    url: String,
    got: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hooks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hooks {
    async fn start() -> Hooks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/whatsapp", listener.local_addr().unwrap());
        let got: Received = Arc::default();
        let sink = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break (String::new(), Vec::new());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < i + 4 + len {
                            let n = s.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, buf[i + 4..].to_vec());
                    }
                };
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                if !head.is_empty() {
                    sink.lock().unwrap().push((head, body));
                }
            }
        });
        Hooks { url, got, task }
    }

    /// The verified bodies so far (a bad signature fails the test).
    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(head, body)| {
                let sig = head
                    .lines()
                    .find_map(|l| l.strip_prefix("X-Hub-Signature-256: "))
                    .expect("signed");
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(body);
                let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                assert_eq!(sig, want, "X-Hub-Signature-256 matches the raw body");
                serde_json::from_slice(body).expect("json body")
            })
            .collect()
    }

    /// Every status and message value, in arrival order.
    fn values(&self, field: &str) -> Vec<Value> {
        self.bodies()
            .iter()
            .flat_map(|b| {
                b["entry"][0]["changes"][0]["value"][field].as_array().cloned().unwrap_or_default()
            })
            .collect()
    }

    async fn wait(&self, field: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + T;
        loop {
            let v = self.values(field);
            if v.len() >= n {
                return v;
            }
            assert!(Instant::now() < deadline, "{n} {field} webhooks expected, got {v:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn statuses_of(&self, id: &str) -> Vec<String> {
        self.values("statuses")
            .iter()
            .filter(|s| s["id"] == id)
            .map(|s| s["status"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn register(ctl: &Ctl, hooks: &Hooks, auto_deliver: bool) {
    ctl.post(
        "/cloud/numbers",
        json!({
            "phone_number_id": PNID, "phone": BIZ, "token": TOKEN, "webhook_url": hooks.url,
            "app_secret": SECRET, "name": "Acme Support", "auto_deliver": auto_deliver,
        }),
    )
    .await;
}

/// `POST /v21.0/{pnid}/messages` with a token; (status, body).
async fn graph(sim: &wa_sim::SimServer, token: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("http://{}/v21.0/{PNID}/messages", sim.addr()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("graph POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_opens_when_the_phone_writes_and_only_templates_pass_outside_it() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let hooks = Hooks::start().await;
    register(&ctl, &hooks, true).await;
    let alice = "15550300001";

    // Nobody wrote yet: free-form is refused with 131047, nothing reaches the phone.
    let (status, err) = graph(&sim, TOKEN, text(&format!("+{alice}"), "hello")).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], 131047);
    assert_eq!(err["error"]["type"], "OAuthException");
    assert!(err["error"]["error_data"]["details"].as_str().unwrap().contains("24 hours"));
    let phone = ctl.get(&format!("/accounts/{alice}/messages")).await;
    assert_eq!(phone["received"], json!([]));

    // A template passes outside the window, with its parameters filled in.
    ctl.post(
        &format!("/cloud/numbers/{PNID}/templates"),
        json!({"name": "order_update", "language": "en_US", "body": "Hi {{1}}, order {{2}} shipped"}),
    )
    .await;
    let tpl = |params: Vec<&str>| {
        json!({"messaging_product": "whatsapp", "to": alice, "type": "template", "template": {
            "name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": params.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>()}],
        }})
    };
    let (status, err) = graph(&sim, TOKEN, tpl(vec!["Alice"])).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!(132000)), "{err}");
    let (status, ok) = graph(&sim, TOKEN, tpl(vec!["Alice", "#42"])).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["messaging_product"], "whatsapp");
    assert_eq!(ok["contacts"][0]["wa_id"], alice);
    let id = ok["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("wamid."), "{id}");
    let phone = ctl.get(&format!("/accounts/{alice}/messages")).await;
    assert_eq!(phone["received"].as_array().unwrap().len(), 1);
    assert_eq!(phone["received"][0]["body"], "Hi Alice, order #42 shipped");
    assert_eq!(phone["received"][0]["sender"], BIZ);
    assert_eq!(phone["received"][0]["notifyName"], "Acme Support");

    // The phone writes: the app hears it (signed), and the window is open for free-form.
    let inbound = ctl.send_text_json(alice, BIZ, "where is my order? ☕").await;
    let msgs = hooks.wait("messages", 1).await;
    assert_eq!(msgs[0]["from"], alice);
    assert_eq!(msgs[0]["id"], inbound["id"]);
    assert_eq!(msgs[0]["type"], "text");
    assert_eq!(msgs[0]["text"]["body"], "where is my order? ☕");
    let raw = hooks.got.lock().unwrap().last().unwrap().1.clone();
    assert!(String::from_utf8(raw).unwrap().contains("\\u2615"), "non-ASCII escaped as Meta does");
    let reply = json!({"messaging_product": "whatsapp", "to": alice, "type": "text",
        "text": {"body": "on its way"}, "context": {"message_id": inbound["id"]}});
    let (status, ok) = graph(&sim, TOKEN, reply).await;
    assert_eq!(status, 200, "{ok}");
    let phone = ctl.get(&format!("/accounts/{alice}/messages")).await;
    let last = phone["received"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["body"], "on its way");
    assert_eq!(last["quotedStanzaID"], inbound["id"]);

    // The control API can close it again (or age it past 24 h).
    ctl.post(
        &format!("/cloud/numbers/{PNID}/window"),
        json!({"phone": alice, "open": true, "age_s": 90_000}),
    )
    .await;
    let (status, err) = graph(&sim, TOKEN, text(alice, "late")).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!(131047)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_errors_for_tokens_parameters_recipients_and_rate_limits() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let hooks = Hooks::start().await;
    register(&ctl, &hooks, true).await;
    let bob = "15550300002";
    ctl.post(&format!("/cloud/numbers/{PNID}/window"), json!({"phone": bob})).await;

    let (status, err) = graph(&sim, "wrong", text(bob, "x")).await;
    assert_eq!((status, err["error"]["code"].clone()), (401, json!(190)), "{err}");
    assert!(err["error"]["fbtrace_id"].is_string());

    let (status, err) =
        graph(&sim, TOKEN, json!({"to": bob, "type": "text", "text": {"body": "x"}})).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!(100)), "{err}");
    let (status, err) =
        graph(&sim, TOKEN, json!({"messaging_product": "whatsapp", "to": bob, "type": "text"}))
            .await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!(100)), "{err}");

    ctl.post(&format!("/numbers/{bob}"), json!({"exists": false})).await;
    let (status, err) = graph(&sim, TOKEN, text(bob, "x")).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!(131026)), "{err}");
    ctl.post(&format!("/numbers/{bob}"), json!({"exists": true})).await;

    ctl.post(&format!("/cloud/numbers/{PNID}/fault"), json!({"code": 130429})).await;
    let (status, err) = graph(&sim, TOKEN, text(bob, "x")).await;
    assert_eq!((status, err["error"]["code"].clone()), (429, json!(130429)), "{err}");
    ctl.post(&format!("/cloud/numbers/{PNID}/fault"), json!({"code": null})).await;

    // None of the refused sends reached the phone; the next one does, exactly once.
    let (status, _) = graph(&sim, TOKEN, text(bob, "finally")).await;
    assert_eq!(status, 200);
    let phone = ctl.get(&format!("/accounts/{bob}/messages")).await;
    let bodies: Vec<&str> =
        phone["received"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, vec!["finally"]);

    // A new token (rotated through the control API) makes the old one a 190.
    ctl.post(
        "/cloud/numbers",
        json!({"phone_number_id": PNID, "phone": BIZ, "token": "rotated", "webhook_url": hooks.url, "app_secret": SECRET}),
    )
    .await;
    let (status, err) = graph(&sim, TOKEN, text(bob, "x")).await;
    assert_eq!((status, err["error"]["code"].clone()), (401, json!(190)));
    let (status, _) = graph(&sim, "rotated", text(bob, "with the new token")).await;
    assert_eq!(status, 200);
    let numbers = ctl.get("/cloud/numbers").await;
    assert_eq!(numbers[0]["requests"], 8, "every send request counted, refused or not: {numbers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_arrive_signed_in_the_order_played_with_the_opaque_data() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let hooks = Hooks::start().await;
    register(&ctl, &hooks, false).await;
    let carol = "15550300003";
    ctl.post(&format!("/cloud/numbers/{PNID}/window"), json!({"phone": carol})).await;

    let mut body = text(carol, "your code is ready");
    body["biz_opaque_callback_data"] = json!("host-msg-7");
    let (_, ok) = graph(&sim, TOKEN, body).await;
    let id = ok["messages"][0]["id"].as_str().unwrap().to_string();
    hooks.wait("statuses", 1).await;
    assert_eq!(hooks.statuses_of(&id), vec!["sent"]);

    // Read before delivered, as WhatsApp sometimes reports it; the phone shows it read.
    ctl.post(&format!("/messages/{id}/ack"), json!({"ack": 3})).await;
    ctl.post(&format!("/cloud/messages/{id}/status"), json!({"status": "delivered"})).await;
    let all = hooks.wait("statuses", 3).await;
    assert_eq!(hooks.statuses_of(&id), vec!["sent", "read", "delivered"]);
    for s in &all {
        assert_eq!(s["biz_opaque_callback_data"], "host-msg-7");
        assert_eq!(s["recipient_id"], carol);
    }
    let meta = &hooks.bodies()[0];
    assert_eq!(meta["object"], "whatsapp_business_account");
    assert_eq!(meta["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"], PNID);

    // A failed status carries Meta's errors[].
    let (_, ok) = graph(&sim, TOKEN, text(carol, "second")).await;
    let second = ok["messages"][0]["id"].as_str().unwrap().to_string();
    ctl.post(
        &format!("/cloud/messages/{second}/status"),
        json!({"status": "failed", "error": {"code": 131026, "details": "gone"}}),
    )
    .await;
    let all = hooks.wait("statuses", 5).await;
    let failed =
        all.iter().find(|s| s["id"] == second.as_str() && s["status"] == "failed").unwrap();
    assert_eq!(failed["errors"][0]["code"], 131026);
    assert_eq!(failed["errors"][0]["error_data"]["details"], "gone");

    // With auto delivery on, `delivered` follows `sent` by itself.
    register(&ctl, &hooks, true).await;
    let (_, ok) = graph(&sim, TOKEN, text(carol, "third")).await;
    let third = ok["messages"][0]["id"].as_str().unwrap().to_string();
    hooks.wait("statuses", 7).await;
    assert_eq!(hooks.statuses_of(&third), vec!["sent", "delivered"]);
    let sent = ctl.get("/cloud/messages").await;
    assert_eq!(sent.as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_gets_messages_and_media_from_either_door_and_reactions_cross_back() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    let hooks = Hooks::start().await;
    register(&ctl, &hooks, true).await;
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let web = "15550300010";
    let dave = "15550300004";
    let page = linked_page(&chrome, &sim, &ctl, web).await;
    page.ok(&format!("WPP.chat.sendTextMessage('{dave}@c.us', 'by web', {{}})")).await;
    ctl.post(&format!("/cloud/numbers/{PNID}/window"), json!({"phone": dave})).await;
    let (_, ok) = graph(&sim, TOKEN, text(dave, "by cloud")).await;
    let cloud_id = ok["messages"][0]["id"].as_str().unwrap().to_string();
    let img = json!({"messaging_product": "whatsapp", "to": dave, "type": "image",
        "image": {"link": "http://127.0.0.1:9/pic.png", "caption": "a picture"}});
    let (status, _) = graph(&sim, TOKEN, img).await;
    assert_eq!(status, 200);

    let phone = ctl.get(&format!("/accounts/{dave}/messages")).await;
    let got = phone["received"].as_array().unwrap();
    assert_eq!(got.len(), 3, "{phone}");
    let (a, b) = (&got[0], &got[1]);
    assert_eq!((a["sender"].as_str(), a["body"].as_str()), (Some(web), Some("by web")));
    assert_eq!((b["sender"].as_str(), b["body"].as_str()), (Some(BIZ), Some("by cloud")));
    for k in ["type", "chat", "key"] {
        assert_eq!(a[k].is_string(), b[k].is_string(), "{k} present on both");
    }
    assert_eq!(a["type"], b["type"]);
    assert_eq!(got[2]["type"], "image");
    assert_eq!(got[2]["caption"], "a picture");
    assert_eq!(got[2]["mimetype"], "image/png");

    // Media uploaded first (multipart), then sent by its id: the phone gets the very bytes.
    let png: Vec<u8> = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 300]].concat();
    let mut form = Vec::new();
    form.extend_from_slice(b"--b0und\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n");
    form.extend_from_slice(b"--b0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.png\"\r\nContent-Type: image/png\r\n\r\n");
    form.extend_from_slice(&png);
    form.extend_from_slice(b"\r\n--b0und--\r\n");
    let up: Value = reqwest::Client::new()
        .post(format!("http://{}/v21.0/{PNID}/media", sim.addr()))
        .bearer_auth(TOKEN)
        .header("content-type", "multipart/form-data; boundary=b0und")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let media_id = up["id"].as_str().expect("an uploaded media id").to_string();
    let (status, ok) = graph(&sim, TOKEN, json!({"messaging_product": "whatsapp", "to": dave, "type": "image", "image": {"id": media_id, "caption": "uploaded"}})).await;
    assert_eq!(status, 200, "{ok}");
    let (status, err) = graph(&sim, TOKEN, json!({"messaging_product": "whatsapp", "to": dave, "type": "image", "image": {"id": "999"}})).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!(100)));
    let phone = ctl.get(&format!("/accounts/{dave}/messages")).await;
    let last = phone["received"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["caption"].as_str(), last["mimetype"].as_str(), last["size"].as_u64()),
        (Some("uploaded"), Some("image/png"), Some(png.len() as u64))
    );
    let bytes =
        reqwest::get(format!("{}/media/{}", sim.control_url(), last["id"].as_str().unwrap()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(bytes.as_ref(), png.as_slice());

    // The phone reacts to the Cloud message: the app hears a reaction.
    ctl.post(
        "/messages",
        json!({"from": dave, "to": BIZ, "type": "reaction", "reaction": {"message_id": cloud_id, "text": "👍"}}),
    )
    .await;
    let msgs = hooks.wait("messages", 1).await;
    assert_eq!(msgs[0]["type"], "reaction");
    assert_eq!(msgs[0]["reaction"]["message_id"], cloud_id.as_str());
    assert_eq!(msgs[0]["reaction"]["emoji"], "👍");
    drop(page);
    chrome.close().await;
}
