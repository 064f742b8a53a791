//! Page weight: a weighted page really carries the heap and DOM it was configured with, so a
//! memory figure taken on it cannot silently be a light page's.

use crate::harness::*;
use chromiumoxide::cdp::browser_protocol::memory::GetDomCountersParams;
use chromiumoxide::cdp::js_protocol::heap_profiler::CollectGarbageParams;
use chromiumoxide::cdp::js_protocol::runtime::GetHeapUsageParams;
use std::time::Duration;
use wa_sim::{PageWeight, SimConfig};

const MIB: f64 = 1024.0 * 1024.0;

/// (JS heap in use after a full GC, in MiB; DOM nodes of the renderer) of a page at its QR screen.
async fn measure(weight: PageWeight) -> (f64, i64, serde_json::Value) {
    let sim =
        start_sim(SimConfig { qr_first_ttl_ms: 60_000, page_weight: weight, ..SimConfig::fast() });
    let dir = profile();
    let chrome = Chrome::launch(dir.path()).await;
    let page = chrome.open(&sim.base_url(), Some(CHROME_UA)).await;
    page.wait_event("conn.require_auth").await;
    let summary = page.ok("window.__waSimWeight ? window.__waSimWeight.summary : null").await;
    page.page.execute(CollectGarbageParams::default()).await.expect("gc");
    let heap = page.page.execute(GetHeapUsageParams::default()).await.expect("heap usage");
    let dom = page.page.execute(GetDomCountersParams::default()).await.expect("dom counters");
    // The page still works on top of its weight.
    assert_eq!(page.ok("WPP.isReady").await, true);
    chrome.close().await;
    (heap.result.used_size / MIB, dom.result.nodes, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_page_carries_the_configured_heap_and_dom_and_an_unweighted_one_nothing() {
    let (light_heap, light_nodes, light) = measure(PageWeight::OFF).await;
    assert!(light.is_null(), "no weight is built when it is off: {light}");
    let weight = PageWeight { heap_mib: 48, dom_nodes: 3_000 };
    let (heavy_heap, heavy_nodes, summary) = measure(weight).await;
    let grown = heavy_heap - light_heap;
    eprintln!(
        "heap {light_heap:.1} -> {heavy_heap:.1} MiB (+{grown:.1}), DOM nodes {light_nodes} -> {heavy_nodes}; {summary}"
    );
    let target = f64::from(weight.heap_mib);
    assert!(
        grown > 0.8 * target && grown < 1.3 * target,
        "the JS heap grew by {grown:.1} MiB for a weight of {target} MiB"
    );
    let nodes = i64::from(weight.dom_nodes);
    assert!(
        heavy_nodes - light_nodes >= nodes && heavy_nodes - light_nodes < nodes + 500,
        "DOM nodes {light_nodes} -> {heavy_nodes} for a weight of {nodes}"
    );
    assert!(
        summary["messages"].as_u64().unwrap_or(0) > 10_000,
        "a real account's messages: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weight_reaches_the_page_config_and_is_off_by_default() {
    assert!(SimConfig::default().page_weight.is_off());
    assert!(SimConfig::fast().page_weight.is_off());
    let sim = start_sim(SimConfig { page_weight: PageWeight::ACCOUNT, ..SimConfig::fast() });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let html = reqwest::Client::new()
        .get(sim.base_url())
        .header("user-agent", CHROME_UA)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(
        html.contains(
            "&quot;page_weight&quot;:{&quot;dom_nodes&quot;:4000,&quot;heap_mib&quot;:64}"
        ),
        "the page's config carries the weight: {html}"
    );
}
