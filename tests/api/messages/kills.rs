//! The binary under `kill -9`: the sidecar, and its Chromium, killed at random moments while
//! about 100 messages are queued across 3 sessions. Every accepted message is on the phone exactly
//! once, in order per chat, and ends `sent` (or later).

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use super::*;
use crate::binary::serve;
use crate::sessions::recovery::{binary_config, call, create_and_scan};
use crate::sessions::{chromium_groups_under, sim, WS};

const OTHER: &str = "15557650000";

fn cycles() -> usize {
    std::env::var("SEND_KILL_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

#[tokio::test]
async fn kill_9_of_the_sidecar_or_chromium_while_messages_are_queued_sends_each_exactly_once_in_order(
) {
    kill_loop(None).await;
}

/// The same with a browser of each session's own (`engine.sessions_per_browser = 1`): a Chromium
/// kill then takes one session down, not all three.
#[tokio::test]
async fn with_one_browser_per_session_kill_9s_still_send_each_exactly_once_in_order() {
    kill_loop(Some(1)).await;
}

/// `per_browser`: `engine.sessions_per_browser`, or `None` for the default (pooled).
async fn kill_loop(per_browser: Option<u32>) {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), &sim);
    if let Some(n) = per_browser {
        crate::sessions::recovery::set_engine(&config, &format!("sessions_per_browser = {n}"));
    }
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[sending]\nunconfirmed_after_ms = 15000\n\n[sending.pacing]\nenabled = false\n",
    );
    std::fs::write(&config, text).unwrap();
    let runtime = dir.path().join("data/runtime");

    let mut sidecar = serve(dir.path(), &config);
    // Three sessions, each its own account (phone), linked one after the other.
    let sessions = [("k1", "15550001111"), ("k2", "15550002221"), ("k3", "15550003331")];
    for (id, phone) in sessions {
        let within = (Duration::from_secs(60), Duration::from_secs(60));
        create_and_scan(&sidecar, &sim, id, phone, within).await;
    }

    // (session, id, chat, body) of every accepted message, in acceptance order.
    let mut accepted: Vec<(&str, String, &str, String)> = Vec::new();
    let mut n = 0;
    let per_cycle = 34;
    for cycle in 0..cycles() {
        let kill_at = rand::rng().random_range(3..per_cycle - 3);
        for i in 0..per_cycle {
            if i == kill_at {
                if cycle % 2 == 0 {
                    // kill -9 of the sidecar, then a new one on the same data.
                    sidecar.child.kill().unwrap();
                    sidecar.child.wait().unwrap();
                    sidecar = serve(dir.path(), &config);
                } else {
                    // kill -9 of every Chromium of the test.
                    for g in chromium_groups_under(&runtime) {
                        // SAFETY: a Chromium group of this test's own folder.
                        unsafe { libc::killpg(g, libc::SIGKILL) };
                    }
                }
            }
            let (session, _) = sessions[n % 3];
            let chat = if n % 2 == 0 { OTHER } else { FRIEND };
            let body = format!("kill test message {n:03}");
            n += 1;
            let msg = json!({"to": chat, "type": "text", "text": {"body": body}});
            let path = format!("/v1/workspaces/{WS}/sessions/{session}/messages");
            let (status, answer) = call(&sidecar, "POST", &path, Some(msg)).await;
            match status {
                202 => {
                    accepted.push((session, answer["id"].as_str().unwrap().to_owned(), chat, body))
                }
                // While the new sidecar restores the session it may not be ready yet.
                409 => {}
                other => panic!("send: {other} {answer}"),
            }
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(0..40))).await;
        }
    }
    assert!(
        accepted.len() >= per_cycle * cycles() / 2,
        "most sends were accepted: {}",
        accepted.len()
    );

    // Every accepted message ends sent (or further), none failed.
    let deadline = Instant::now() + Duration::from_secs(240);
    for (session, id, _, _) in &accepted {
        loop {
            let path = format!("/v1/workspaces/{WS}/sessions/{session}/messages/{id}");
            let (status, m) = call(&sidecar, "GET", &path, None).await;
            assert_eq!(status, 200, "{m}");
            let s = m["status"].as_str().unwrap();
            assert_ne!(s, "failed", "{m}");
            if ["sent", "delivered", "read", "played"].contains(&s) {
                break;
            }
            assert!(Instant::now() < deadline, "not sent in time: {m}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // On the phones: each exactly once, in the order accepted per (sender, chat).
    for chat in [FRIEND, OTHER] {
        let got = received(&sim, chat).await;
        for (session, phone) in sessions {
            let bodies: Vec<String> = got
                .iter()
                .filter(|m| m["sender"] == phone)
                .filter_map(|m| m["body"].as_str().map(str::to_owned))
                .filter(|b| b.starts_with("kill test message"))
                .collect();
            let mut seen = std::collections::HashSet::new();
            for b in &bodies {
                assert!(seen.insert(b), "{b:?} arrived twice on {chat}: {bodies:?}");
            }
            let expected: Vec<&String> = accepted
                .iter()
                .filter(|(s, _, c, _)| *s == session && *c == chat)
                .map(|(_, _, _, b)| b)
                .collect();
            let in_order: Vec<&String> = bodies.iter().filter(|b| expected.contains(b)).collect();
            assert_eq!(
                in_order, expected,
                "every accepted message of {session} once, in order, on {chat}"
            );
        }
    }
    println!(
        "kill test: {} cycles, {} messages accepted, all on the phones once, in order",
        cycles(),
        accepted.len()
    );
}
