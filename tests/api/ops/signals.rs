//! SIGHUP on the real binary: the log level and the callback secrets change in the running
//! process; a configuration that does not load changes nothing; the process and its sessions go on.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use super::*;
use crate::binary::serve;
use crate::helpers::TEST_CALLBACK_SECRET;
use crate::receiver::TestReceiver;
use crate::sessions::sim;
use crate::verify::standard_webhooks;

fn hup(pid: u32) {
    // SAFETY: signalling the sidecar this test started.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
}

/// Sends a test callback and returns it as received.
async fn test_callback(address: &str, receiver: &mut TestReceiver) -> Received {
    let (status, body) = call(
        address,
        "POST",
        "/v1/callbacks/test",
        Some(json!({"workspace": "acme", "session": "main"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    receiver.next(Duration::from_secs(15)).await
}

fn rewrite(config: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(from), "{from} in {text}");
    std::fs::write(config, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn sighup_reloads_log_level_callback_secrets_and_pacing_and_keeps_the_process() {
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = TestReceiver::start().await;
    let config = config(dir.path(), &sim, &format!("url = \"{}\"", receiver.url));
    let sidecar = serve(dir.path(), &config);
    let pid = sidecar.child.id();

    let first = test_callback(&sidecar.address, &mut receiver).await;
    standard_webhooks(TEST_CALLBACK_SECRET, &first).expect("signed with the configured secret");

    // A new secret and a quieter log level, then SIGHUP.
    let rotated = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    rewrite(&config, TEST_CALLBACK_SECRET, &rotated);
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "\n[log]\nlevel = \"warn\"\n",
    )
    .unwrap();
    hup(pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let received = test_callback(&sidecar.address, &mut receiver).await;
        if standard_webhooks(&rotated, &received).is_ok() {
            break received;
        }
        assert!(Instant::now() < deadline, "callbacks are not signed with the new secret");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        standard_webhooks(TEST_CALLBACK_SECRET, &second).is_err(),
        "the old secret no longer signs"
    );

    // A broken configuration: nothing changes, the process goes on.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, "[server\nbroken").unwrap();
    hup(pid);
    sidecar.wait_for_log("SIGHUP: the configuration does not load; nothing changed");
    let third = test_callback(&sidecar.address, &mut receiver).await;
    standard_webhooks(&rotated, &third).expect("the secret in use stays");

    // Back to info: the level change itself is logged again.
    std::fs::write(&config, good.replace("level = \"warn\"", "level = \"info\"")).unwrap();
    hup(pid);
    let line = sidecar.wait_for_log("SIGHUP: log level applied");
    assert!(line.contains("info"), "{line}");
    assert_eq!(call(&sidecar.address, "GET", "/v1/workspaces/acme", None).await.0, 200);

    // Pacing: a new daily cap is what sending-limits shows (and what the next send meets).
    let session = serde_json::json!({"id": "paced", "start": false});
    let created =
        call(&sidecar.address, "POST", "/v1/workspaces/acme/sessions", Some(session)).await;
    assert_eq!(created.0, 201, "{}", created.1);
    let limits = "/v1/workspaces/acme/sessions/paced/sending-limits";
    let (status, before) = call(&sidecar.address, "GET", limits, None).await;
    assert_eq!(status, 200, "{before}");
    assert_ne!(before["daily_cap"], 7, "{before}");
    let paced = std::fs::read_to_string(&config).unwrap() + "\n[sending.pacing]\ndaily_cap = 7\n";
    std::fs::write(&config, paced).unwrap();
    hup(pid);
    sidecar.wait_for_log("SIGHUP: sending pacing applied");
    let (_, after) = call(&sidecar.address, "GET", limits, None).await;
    assert_eq!(after["daily_cap"], 7, "{after}");
    assert_eq!(after["remaining_today"], 7, "{after}");
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_ok(), "SIGHUP does not end the sidecar");
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_refuses_new_ones_and_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::helpers::init();
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &sim, "");
    let mut sidecar = serve(dir.path(), &config);
    let host = sidecar.address.trim_start_matches("http://").to_owned();

    // A signed request whose body is still on its way when SIGTERM arrives.
    let path = "/v1/workspaces/acme/ping";
    let body = br#"{"message":"in flight"}"#;
    let secret =
        base64::engine::general_purpose::STANDARD.decode(crate::helpers::TEST_KEY_B64).unwrap();
    let (ts, nonce) = (crate::helpers::unix_now(), format!("{:032x}", rand::random::<u128>()));
    let sig = crate::helpers::sign(&secret, ts, &nonce, "POST", path, &[], body);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Key-Id: host\r\nX-Timestamp: {ts}\r\nX-Nonce: {nonce}\r\n\
         X-HMAC-Signature: v1={sig}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // SAFETY: signalling the sidecar this test started.
    unsafe { libc::kill(sidecar.child.id() as i32, libc::SIGTERM) };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = tokio::time::timeout(Duration::from_secs(2), async {
        match tokio::net::TcpStream::connect(&host).await {
            Err(_) => true,
            // Accepted by the kernel's backlog at most; the server answers nothing.
            Ok(mut s) => {
                let _ = s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
                let mut buf = [0u8; 64];
                !matches!(s.read(&mut buf).await, Ok(n) if n > 0)
            }
        }
    })
    .await
    .unwrap_or(true);
    assert!(refused, "a new request is served after SIGTERM");

    stream.write_all(&body[5..]).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response))
        .await
        .expect("the request in flight is answered")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("in flight"), "{response}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = sidecar.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the sidecar did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
