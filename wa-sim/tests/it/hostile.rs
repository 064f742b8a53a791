//! The site is hostile like the real one: strict nonce CSP, HeadlessChrome refused, a service
//! worker; and the faults that break the bridge itself (never ready, crash).

use crate::harness::*;
use serde_json::json;
use std::time::Duration;
use wa_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csp_refuses_inline_scripts_while_init_scripts_run_and_a_service_worker_is_registered() {
    let sim = start_sim(SimConfig::fast());
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("loader.ready").await;

    let verdict = page.ok("new Promise(res => { \
        let violated = null; \
        document.addEventListener('securitypolicyviolation', e => { violated = e.violatedDirective; }); \
        const s = document.createElement('script'); s.textContent = 'window.__inlineRan = true;'; document.head.appendChild(s); \
        setTimeout(() => res({ran: window.__inlineRan === true, violated}), 200); })").await;
    assert_eq!(verdict["ran"], false, "inline script must not run");
    assert!(verdict["violated"].as_str().unwrap().starts_with("script-src"), "{verdict}");
    // The init script (Page.addScriptToEvaluateOnNewDocument) did run, before the page's WPP.
    assert_eq!(page.ok("WPP.config.deviceName").await, "wa-sim-it");
    assert_eq!(page.ok("WPP.config.disableGoogleAnalytics").await, true);

    let sw = page.ok("navigator.serviceWorker.getRegistrations().then(r => r.map(x => x.active && x.active.scriptURL))").await;
    assert_eq!(sw, json!([format!("{}sw.js", sim.base_url())]));

    // The server going away is a network loss for the page, and stopping does not wait on it.
    let mark = page.mark();
    let started = std::time::Instant::now();
    sim.stop();
    assert!(started.elapsed() < Duration::from_secs(3), "stop took {:?}", started.elapsed());
    let (_, online) = page.wait_event_from("conn.online", mark, T).await;
    assert_eq!(online, json!([false]));
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_user_agent_gets_the_unsupported_browser_page_and_no_wpp() {
    let sim = start_sim(SimConfig::fast());
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = page
        .ok("({ua: navigator.userAgent, wpp: typeof window.WPP, text: document.body.innerText})")
        .await;
    assert!(seen["ua"].as_str().unwrap().contains("HeadlessChrome"));
    assert_eq!(seen["wpp"], "undefined");
    assert!(seen["text"].as_str().unwrap().contains("WhatsApp works with Google Chrome"), "{seen}");
    assert!(page.names().is_empty(), "nothing boots: {:?}", page.names());
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_ready_fault_stops_before_ready_and_crash_hangs_the_renderer() {
    let sim = start_sim(SimConfig::fast());
    let ctl = Ctl::new(&sim);
    ctl.post("/faults", json!({"never_ready": true})).await;
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("loader.injected").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        page.ok("[WPP.isInjected, WPP.isReady, typeof window.Debug]").await,
        json!([true, false, "undefined"])
    );
    assert!(!page.names().contains(&"conn.main_init".to_string()), "{:?}", page.names());

    // Cleared faults apply to the next page load.
    ctl.post("/faults", json!({"never_ready": false})).await;
    let mark = page.mark();
    page.page.reload().await.expect("reload");
    page.wait_event_from("loader.ready", mark, T).await;

    // Crash: the renderer spins, evaluations stop answering.
    let pages = ctl.post("/crash", json!({})).await;
    assert_eq!(pages["pages"].as_array().unwrap().len(), 1);
    // Once the crash frame lands, evaluations stop answering.
    let deadline = std::time::Instant::now() + T;
    loop {
        let params = chromiumoxide::cdp::js_protocol::runtime::EvaluateParams::builder()
            .expression("1 + 1")
            .build()
            .unwrap();
        let answered = tokio::time::timeout(
            Duration::from_millis(1500),
            page.page.evaluate_expression(params),
        )
        .await;
        if answered.is_err() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the crashed page still evaluates");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(page);
    drop(chrome); // killed and reaped by the guard; a spinning renderer cannot close gracefully
}
