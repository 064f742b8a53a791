//! `wa-sim serve --port N`: the binary for demos and host CI.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps the child even if the test panics.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binds_the_given_port_and_answers_the_control_api() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_wa-sim"))
        .args(["serve", "--port", &port.to_string(), "--fast", "--config", r#"{"qr_count": 2}"#])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wa-sim starts");
    let _child = Child(child);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = loop {
        if let Ok(r) = reqwest::get(format!("{url}/_sim/state")).await {
            break r.json::<serde_json::Value>().await.unwrap();
        }
        assert!(Instant::now() < deadline, "wa-sim did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state["pages"], serde_json::json!([]));
    let page = reqwest::Client::new()
        .get(format!("{url}/"))
        .header("user-agent", "Mozilla/5.0 Chrome/156.0.0.0")
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    assert!(page.text().await.unwrap().contains("/app/wpp.js"));
}
