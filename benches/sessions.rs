//! `cargo bench --bench sessions -- --count N [--settle-ms MS] [--sessions-per-browser N]`: N sessions through the real
//! sidecar against an in-process wa-sim, and N baseline browsers launched the way whatsapp-web.js
//! launches them, measured side by side in one run. Prints medians over the N sessions:
//! create → first QR, scan → connected, sidecar restart → connected again, and PSS/USS per
//! session at the QR screen and once connected. `--page-weight` gives wa-sim's page (both sides)
//! a real account's heap and DOM; `--variant`/`--variants` add sidecars whose Chromium gets extra
//! flags, read in one snapshot beside the default and the baseline (`sessions/variants.rs`).
//! Figures and their reading: docs/performance.md.
//!
//! Everything lives in one temp dir; every browser of the run (ours and the baseline's) is
//! closed at the end, and killed if need be, also when a step fails.

#[path = "sessions/baseline.rs"]
mod baseline;
#[path = "sessions/memory.rs"]
mod memory;
#[path = "sessions/procs.rs"]
mod procs;
#[path = "sessions/report.rs"]
mod report;
#[path = "sessions/sidecar.rs"]
mod sidecar;
#[path = "sessions/variants.rs"]
mod variants;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context};
use wa_sim::{PageWeight, SimConfig, SimServer};

use baseline::Baseline;
use memory::SideMem;
use report::Report;
use sidecar::Sidecar;
use variants::Variant;

const CHROMIUM: &str = "/usr/lib/chromium/chromium";
/// Steps of one session (launch, scan, restore) on a busy 2-core machine stay well below this.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

struct Options {
    count: usize,
    settle: Duration,
    page_weight: PageWeight,
    variants: Vec<Variant>,
    /// `engine.sessions_per_browser` for our side; `None`: the configured default.
    per_browser: Option<u32>,
}

const USAGE: &str = "usage: --count N [--settle-ms MS] [--page-weight off|account|MIB[:NODES]] \
                     [--variants flags] [--variant NAME='FLAG FLAG…']… \
                     [--sessions-per-browser N]";

/// `off`, `account` (wa-sim's real-account preset), or `MIB[:NODES]`.
fn parse_weight(s: &str) -> Result<PageWeight, String> {
    let bad = || format!("--page-weight {s:?}: expected off, account or MIB[:NODES]");
    match s {
        "off" => Ok(PageWeight::OFF),
        "account" => Ok(PageWeight::ACCOUNT),
        _ => {
            let (mib, nodes) = s.split_once(':').unwrap_or((s, "0"));
            Ok(PageWeight {
                heap_mib: mib.parse().map_err(|_| bad())?,
                dom_nodes: nodes.parse().map_err(|_| bad())?,
            })
        }
    }
}

/// The value after the flag `name`.
fn value(args: &mut impl Iterator<Item = String>, name: &str) -> Result<String, String> {
    args.next().ok_or(format!("{name} needs a value; {USAGE}"))
}

fn number(args: &mut impl Iterator<Item = String>, name: &str) -> Result<u64, String> {
    value(args, name)?.parse().map_err(|_| format!("{name} needs a number"))
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut o = Options {
            count: 5,
            settle: Duration::from_secs(5),
            page_weight: PageWeight::OFF,
            variants: Vec::new(),
            per_browser: None,
        };
        while let Some(a) = args.next() {
            match a.as_str() {
                "--count" => o.count = number(&mut args, &a)? as usize,
                "--settle-ms" => o.settle = Duration::from_millis(number(&mut args, &a)?),
                "--page-weight" => o.page_weight = parse_weight(&value(&mut args, &a)?)?,
                "--variant" => o.variants.push(Variant::parse(&value(&mut args, &a)?)?),
                "--variants" => o.variants.extend(variants::preset(&value(&mut args, &a)?)?),
                "--sessions-per-browser" => {
                    let n = number(&mut args, &a)?;
                    o.per_browser = Some(u32::try_from(n).map_err(|_| "too many")?.max(1));
                }
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                other => return Err(format!("unknown argument {other:?}; {USAGE}")),
            }
        }
        if o.count == 0 {
            return Err("--count must be at least 1".into());
        }
        Ok(o)
    }
}

/// wa-sim's fast schedule, with a first QR that stays up for the whole run so that sessions can
/// wait at the QR screen while everything is measured, and the page weight asked for.
fn sim_config(o: &Options) -> SimConfig {
    SimConfig { qr_first_ttl_ms: 900_000, page_weight: o.page_weight, ..SimConfig::fast() }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let unix_ms =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mark = format!("{}-{unix_ms}", std::process::id());
    // Before any thread exists: every browser of this run inherits it (see procs::RUN_MARK).
    std::env::set_var(procs::RUN_MARK, &mark);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,chromiumoxide=error".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let root = match tempfile::Builder::new().prefix("wa-sidecar-bench-").tempdir() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot make a temp dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sweeper = Sweeper { root: root.path().to_owned(), mark: mark.clone() };
    let mut report = Report::default();
    let result = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => {
            let r = rt.block_on(async {
                // Ctrl-C or SIGTERM ends the run early; the cleanup below still closes every
                // browser (they sit in process groups of their own and would not get the signal).
                tokio::select! {
                    r = run(&options, root.path(), &mark, &mut report) => r,
                    why = interrupted() => Err(anyhow!("interrupted by {why}")),
                }
            });
            // Ends every task; a Chromium spawned by the sidecar is killed with its handle.
            rt.shutdown_timeout(Duration::from_secs(10));
            r
        }
        Err(e) => Err(anyhow!("cannot start tokio: {e}")),
    };
    if let Err(e) = &result {
        report.aborted = Some(format!("{e:#}"));
    }
    let left = sweeper.sweep();
    if left > 0 {
        report.notes.push(format!(
            "{left} browser process groups of this run were still alive at the end and were killed"
        ));
    }
    report.print(options.count);
    if result.is_err() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Kills whatever browser of this run is still alive: the last line of defence, also on panic.
struct Sweeper {
    root: PathBuf,
    mark: String,
}

impl Sweeper {
    /// Returns how many groups it had to kill (0 when everything closed properly).
    fn sweep(&self) -> usize {
        let killed = wa_sidecar::engine::kill_orphans(
            std::slice::from_ref(&self.root),
            Duration::from_secs(5),
        )
        .len();
        let all = procs::snapshot();
        for side in [self.mark.clone(), format!("{}-baseline", self.mark)] {
            for p in procs::crashpad_handlers(&all, &side) {
                // SAFETY: kill only sends a signal to a pid we just saw carrying our run mark.
                unsafe { libc::kill(p.pid as i32, libc::SIGKILL) };
            }
        }
        killed
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.sweep();
    }
}

async fn run(o: &Options, root: &Path, mark: &str, r: &mut Report) -> anyhow::Result<()> {
    header(o, r).await;
    let installed = baseline::ensure_installed(&baseline::script_dir()).await;
    let sim = SimServer::start(sim_config(o)).map_err(|e| anyhow!("wa-sim does not start: {e}"))?;
    let mut settings = sidecar::settings(root, &sim, o.count);
    if let Some(n) = o.per_browser {
        settings.engine.sessions_per_browser = n;
    }
    let mut app = Some(Sidecar::start(settings.clone()).await?);
    let mut base = None;
    let cx = Ctx {
        o,
        root,
        mark,
        sim: &sim,
        settings: &settings,
        runtime_root: sidecar::runtime_root(&settings),
    };
    let outcome = phases(&cx, r, &mut app, &mut base, installed).await;
    if let Some(b) = base.take() {
        close_baseline(b, r).await;
    }
    if let Some(app) = app.take() {
        app.stop().await;
    }
    check_closed(root, r).await;
    drop(sim);
    outcome
}

async fn close_baseline(b: Baseline, r: &mut Report) {
    let killed = b.close(Duration::from_secs(15)).await;
    if killed > 0 {
        r.notes.push(format!(
            "{killed} baseline browsers did not close on browser.close() and were killed"
        ));
    }
}

/// What every step needs.
struct Ctx<'a> {
    o: &'a Options,
    root: &'a Path,
    mark: &'a str,
    sim: &'a SimServer,
    settings: &'a wa_sidecar::config::Settings,
    runtime_root: PathBuf,
}

async fn phases(
    cx: &Ctx<'_>,
    r: &mut Report,
    app: &mut Option<Sidecar>,
    base: &mut Option<Baseline>,
    installed: anyhow::Result<()>,
) -> anyhow::Result<()> {
    let current = app.as_ref().context("no sidecar")?;
    for i in 0..cx.o.count {
        let took = current.create_until_qr(i, STEP_TIMEOUT).await?;
        eprintln!("create -> first QR, {}: {} ms", sidecar::key(i), took.as_millis());
        r.create_to_qr.push(took);
    }
    *base = start_baseline(cx, r, installed).await;
    let (ours, baseline) = read_memory(cx, Some(current), base.as_ref()).await;
    r.ours_qr = Some(ours);
    r.baseline_qr = baseline.or(r.baseline_qr.take());

    for i in 0..cx.o.count {
        let took = current.scan_until_connected(cx.sim, i, &phone(0, i), STEP_TIMEOUT).await?;
        eprintln!("scan -> connected, {}: {} ms", sidecar::key(i), took.as_millis());
        r.scan_to_connected.push(took);
    }
    let mut linked = true;
    if base.is_some() {
        if let Err(e) = connect_baseline(cx.sim, cx.o.count).await {
            r.baseline_connected =
                Some(Err(format!("the baseline's pages could not all be linked: {e:#}")));
            linked = false;
        }
    }
    let (ours, baseline) = read_memory(cx, Some(current), base.as_ref().filter(|_| linked)).await;
    r.ours_connected = Some(ours);
    r.baseline_connected = baseline.or(r.baseline_connected.take());
    if !cx.o.variants.is_empty() {
        measure_variants(cx, r, base.as_ref().filter(|_| linked)).await;
    }
    // The restart is timed without the baseline's browsers competing for the two cores.
    if let Some(b) = base.take() {
        close_baseline(b, r).await;
    }
    restart(cx, r, app).await
}

/// Launches the baseline if puppeteer-core is installed; records why not otherwise.
async fn start_baseline(
    cx: &Ctx<'_>,
    r: &mut Report,
    installed: anyhow::Result<()>,
) -> Option<Baseline> {
    let why = match installed {
        Ok(()) => match launch_baseline(cx.o, cx.root, cx.mark, cx.sim).await {
            Ok(b) => return Some(b),
            Err(e) => format!("the baseline did not start: {e:#}"),
        },
        Err(e) => format!("puppeteer-core is not installed: {e:#}"),
    };
    r.baseline_qr = Some(Err(why.clone()));
    r.baseline_connected = Some(Err(why));
    None
}

/// After the settle time, both sides from one /proc snapshot (the same instant).
async fn read_memory(
    cx: &Ctx<'_>,
    app: Option<&Sidecar>,
    base: Option<&Baseline>,
) -> (Result<SideMem, String>, Option<Result<SideMem, String>>) {
    tokio::time::sleep(cx.o.settle).await;
    let occupancy = match app.and_then(|a| a.state.pool.clone()) {
        Some(pool) => Some(pool.occupancy().await),
        None => None,
    };
    let all = procs::snapshot();
    let ours = match &occupancy {
        Some(occ) => memory::ours_pooled(&all, occ, cx.o.count, cx.mark),
        None => memory::ours(&all, &cx.runtime_root, cx.o.count, cx.mark),
    }
    .map_err(|e| format!("{e:#}"));
    let baseline =
        base.map(|b| memory::baseline(&all, &b.pids, cx.mark).map_err(|e| format!("{e:#}")));
    (ours, baseline)
}

/// Every variant's sessions linked, then one snapshot of them, our default and the baseline;
/// then each variant's restore, and its browsers closed.
async fn measure_variants(cx: &Ctx<'_>, r: &mut Report, base: Option<&Baseline>) {
    let (o, count) = (cx.o, cx.o.count);
    let mut runs = variants::start_all(&o.variants, cx.root, cx.sim, count, STEP_TIMEOUT).await;
    tokio::time::sleep(o.settle).await;
    let all = procs::snapshot();
    let ours = memory::ours(&all, &cx.runtime_root, count, cx.mark).map_err(|e| format!("{e:#}"));
    let baseline =
        base.map(|b| memory::baseline(&all, &b.pids, cx.mark).map_err(|e| format!("{e:#}")));
    variants::read(&mut runs, &all, count, cx.mark);
    r.variants = variants::lines(&runs, &ours, baseline.as_ref());
    variants::restore_and_stop(&mut runs, count, STEP_TIMEOUT).await;
    r.variants = variants::lines(&runs, &ours, baseline.as_ref());
    r.notes.extend(variants::failures(&runs));
}

/// Graceful stop, then a new sidecar on the same data dir, timed until every session is back.
async fn restart(cx: &Ctx<'_>, r: &mut Report, app: &mut Option<Sidecar>) -> anyhow::Result<()> {
    let old = app.take().context("no sidecar")?;
    r.stop = Some(old.stop().await);
    let left = procs::leaders_under(&procs::snapshot(), &cx.runtime_root);
    if !left.is_empty() {
        bail!("{} Chromium still running after the graceful stop", left.len());
    }
    let t0 = SystemTime::now();
    let restarted = Sidecar::start(cx.settings.clone()).await?;
    let again = restarted.wait_all_connected(cx.o.count, t0, STEP_TIMEOUT).await;
    *app = Some(restarted);
    r.restart = Some(again.map_err(|e| format!("{e:#}")));
    Ok(())
}

/// Distinct phone numbers: side 0 is ours, side 1 the baseline.
fn phone(side: usize, i: usize) -> String {
    format!("1555{side}{:06}", i + 1)
}

/// whatsapp-web.js's user agent, which baseline.mjs sets: how wa-sim's page list tells the
/// baseline's pages from ours.
const BASELINE_UA: &str = "Chrome/101.0.4951.67";

/// wa-sim's pages of the baseline, as (id, state, qr).
fn baseline_pages(sim: &SimServer) -> Vec<(String, String, Option<String>)> {
    let pages = sim.world().lock().pages_json();
    pages
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["connected"] == true
                && p["user_agent"].as_str().is_some_and(|ua| ua.contains(BASELINE_UA))
        })
        .map(|p| {
            let s = |k: &str| p[k].as_str().map(str::to_owned);
            (s("id").unwrap_or_default(), s("state").unwrap_or_default(), s("qr"))
        })
        .collect()
}

async fn launch_baseline(
    o: &Options,
    root: &Path,
    mark: &str,
    sim: &SimServer,
) -> anyhow::Result<Baseline> {
    let b = Baseline::launch(
        Path::new(CHROMIUM),
        &sim.base_url(),
        o.count,
        root.join("baseline"),
        mark,
    )
    .await?;
    eprintln!("baseline: {} browsers up (pids {:?})", b.pids.len(), b.pids);
    wait_baseline_pages(sim, o.count, "qr").await?;
    Ok(b)
}

async fn wait_baseline_pages(sim: &SimServer, count: usize, state: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let pages = baseline_pages(sim);
        if pages.len() == count && pages.iter().all(|(_, s, _)| s == state) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            let states: Vec<&str> = pages.iter().map(|(_, s, _)| s.as_str()).collect();
            bail!("the baseline's pages are not all {state} (wa-sim sees {states:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Links every baseline page with its own phone, like ours, so both sides are measured on the
/// same (connected) screen.
async fn connect_baseline(sim: &SimServer, count: usize) -> anyhow::Result<()> {
    for (i, (id, _, qr)) in baseline_pages(sim).into_iter().enumerate() {
        let qr = qr.ok_or_else(|| anyhow!("baseline page {id} shows no QR"))?;
        sidecar::scan(sim, &qr, &phone(1, i)).await?;
    }
    wait_baseline_pages(sim, count, "connected").await
}

/// After the final stop: no Chromium of the run may be left (checked, not assumed).
async fn check_closed(root: &Path, r: &mut Report) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = procs::leaders_under(&procs::snapshot(), root);
        if left.is_empty() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            r.notes.push(format!(
                "{} browsers were still running after the final graceful stop",
                left.len()
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn header(o: &Options, r: &mut Report) {
    let version = tokio::process::Command::new(CHROMIUM).arg("--version").output().await;
    let version = version.map_or_else(
        |e| format!("unknown ({e})"),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let sim = sim_config(o);
    r.header.push(format!("sessions bench: {} sessions, ours vs baseline side by side", o.count));
    let per_browser = o
        .per_browser
        .unwrap_or_else(|| wa_sidecar::engine::EngineConfig::default().sessions_per_browser);
    r.header.push(if per_browser > 1 {
        format!(
            "ours: up to {per_browser} sessions per browser (engine.sessions_per_browser); a shared \
             browser's group total is divided among the sessions in it"
        )
    } else {
        "ours: one browser per session (engine.sessions_per_browser = 1)".to_owned()
    });
    r.header.push(format!(
        "{version} at {CHROMIUM}; {cores} cores; load average at start {}",
        load.join(" ")
    ));
    r.header.push(format!(
        "wa-sim schedule (fast): boot {} ms, ready {} ms, main {} ms, pair {} ms; first QR up for {} s",
        sim.boot_delay_ms, sim.ready_delay_ms, sim.main_delay_ms, sim.pair_delay_ms, sim.qr_first_ttl_ms / 1000
    ));
    r.header.push(match sim.page_weight {
        w if w.is_off() => "wa-sim page weight: off (wa-sim's own small page)".to_owned(),
        w => format!(
            "wa-sim page weight: {} MiB of JS heap, {} DOM nodes per page (both sides)",
            w.heap_mib, w.dom_nodes
        ),
    });
    r.header.push(format!(
        "memory read {} ms after each step settles; PSS/USS from /proc/PID/smaps_rollup",
        o.settle.as_millis()
    ));
}
