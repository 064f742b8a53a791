//! The binary under kills: phones send a steady stream of messages to several sessions while the
//! sidecar is `kill -9`ed and restarted and a Chromium is killed; every message arrives as one
//! distinct `message.received`, and every repeated delivery carries the same `webhook-id`.
//!
//! CI size: 2 sessions, 200 messages. The size:
//! `INBOUND_KILL_SESSIONS=5 INBOUND_KILL_MESSAGES=1000 cargo nextest run -p wa-sidecar --test api inbound_kills`

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::recovery::{binary_config, binary_wait, call};
use super::*;
use crate::binary::serve;
use crate::receiver::TestReceiver;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test]
async fn every_message_arrives_once_through_kill_9s_of_the_sidecar_and_chromium() {
    crate::helpers::init();
    let sessions = env("INBOUND_KILL_SESSIONS", 2);
    let total = env("INBOUND_KILL_MESSAGES", 200);
    let sim = sim();
    let mut receiver = TestReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), &sim);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[callbacks]\nurl = \"{}\"\nsecrets = [\"{}\"]\n",
        receiver.url,
        crate::helpers::TEST_CALLBACK_SECRET
    ));
    std::fs::write(&config, text).unwrap();
    let runtime = dir.path().join("data/runtime");

    let mut dead = Vec::new();
    let mut sidecar = serve(dir.path(), &config);
    let ids: Vec<String> = (0..sessions).map(|i| format!("s{i}")).collect();
    let phones: Vec<String> = (0..sessions).map(|i| format!("1555200{i:04}")).collect();
    for id in &ids {
        let (status, body) = call(
            &sidecar,
            "POST",
            &format!("/v1/workspaces/{WS}/sessions"),
            Some(json!({"id": id})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    for id in &ids {
        binary_wait(&sidecar, id, "qr_required", Duration::from_secs(60)).await;
    }
    let pages: Value =
        reqwest::get(format!("{}/pages", sim.control_url())).await.unwrap().json().await.unwrap();
    let qrs: Vec<String> = pages
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["qr"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(qrs.len(), sessions, "{pages}");
    for (code, phone) in qrs.iter().zip(&phones) {
        control(&sim, "/scan", json!({"code": code, "phone": phone})).await;
    }
    for id in &ids {
        binary_wait(&sidecar, id, "connected", Duration::from_secs(60)).await;
    }

    // The phones send steadily, whatever happens to the sidecar.
    let control_url = sim.control_url();
    let phones_for_sender = phones.clone();
    let sender = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for i in 0..total {
            let to = &phones_for_sender[i % phones_for_sender.len()];
            let r = client
                .post(format!("{control_url}/messages"))
                .json(&json!({"from": "15557654321", "to": to, "type": "text", "text": format!("k {i}")}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let mut hooks: HashMap<String, String> = HashMap::new();
    let mut texts: HashSet<String> = HashSet::new();
    let mut repeats = 0;
    let deadline = Instant::now() + Duration::from_secs(60 + total as u64);
    let (kill_sidecar_at, kill_chromium_at) = (total / 4, total / 2);
    let (mut killed_sidecar, mut killed_chromium) = (false, false);
    while texts.len() < total {
        if !killed_sidecar && texts.len() >= kill_sidecar_at {
            killed_sidecar = true;
            sidecar.child.kill().unwrap();
            sidecar.child.wait().unwrap();
            tokio::time::sleep(Duration::from_millis(500 + rand::random::<u64>() % 1500)).await;
            dead.push(std::mem::replace(&mut sidecar, serve(dir.path(), &config)));
        }
        if !killed_chromium && texts.len() >= kill_chromium_at {
            killed_chromium = true;
            let groups = chromium_groups_under(&runtime);
            if let Some(g) = groups.get(rand::random::<u32>() as usize % groups.len().max(1)) {
                // SAFETY: killpg on a browser this test's sidecar started under its folder.
                unsafe { libc::killpg(*g, libc::SIGKILL) };
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {} of {total} messages", texts.len());
        let got = receiver.next(left.min(Duration::from_secs(120))).await;
        let body = got.json();
        if body["type"] != "message.received" {
            continue;
        }
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        let hook = got.header("webhook-id").to_owned();
        match hooks.get(&id) {
            Some(h) => {
                assert_eq!(h, &hook, "a repeat of {id} under another webhook-id");
                repeats += 1;
            }
            None => {
                hooks.insert(id, hook);
                let t = body["data"]["text"].as_str().unwrap().to_owned();
                assert!(texts.insert(t.clone()), "{t} reported under two ids");
            }
        }
    }
    sender.await.unwrap();
    assert!(killed_sidecar && killed_chromium);
    let want: HashSet<String> = (0..total).map(|i| format!("k {i}")).collect();
    assert_eq!(texts, want);
    println!("{total} messages over {sessions} sessions: all once ({repeats} repeated deliveries, same webhook-id)");
    drop(sidecar);
    drop(dead);
}
