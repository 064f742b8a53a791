//! Launch-flag variants of our engine (issue 15, "per process kind"): for each variant, a
//! sidecar of its own with `engine.extra_args` set, N sessions created and linked on the same
//! wa-sim, read in one `/proc` snapshot together with our default sessions and the baseline,
//! then stopped and restored (a login that does not survive the variant's flags fails it).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wa_sim::SimServer;

use crate::memory::{self, SideMem};
use crate::procs;
use crate::report::median;
use crate::sidecar::{self, Sidecar};

/// One set of extra Chromium flags.
#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub args: Vec<String>,
}

impl Variant {
    /// `NAME=FLAG FLAG…` (flags separated by spaces, as a shell would keep them in one quoted word).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, flags) =
            s.split_once('=').ok_or(format!("--variant {s:?}: expected NAME=FLAGS"))?;
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if name.is_empty() || !name.chars().all(valid) {
            return Err(format!("--variant {s:?}: the name must be [A-Za-z0-9_-]+"));
        }
        let args: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
        Ok(Self { name: name.to_owned(), args })
    }
}

/// `--variants flags`: each change of issue 15's list alone (the sandbox is off on this machine,
/// so `--no-zygote` is allowed here; with the sandbox on Chromium refuses it).
pub fn preset(name: &str) -> Result<Vec<Variant>, String> {
    let list: &[(&str, &str)] = match name {
        "flags" => &[
            ("in-process-gpu", "--in-process-gpu"),
            ("no-software-raster", "--disable-software-rasterizer"),
            ("no-spare-renderer", "--disable-features=SpareRendererForSitePerProcess"),
            ("no-zygote", "--no-zygote"),
            ("renderer-limit-1", "--renderer-process-limit=1"),
            ("no-crashpad", "--disable-breakpad --disable-crashpad-for-testing"),
            ("low-end-device", "--enable-low-end-device-mode"),
            (
                "features-off",
                "--disable-features=Translate,MediaRouter,DialMediaRouteProvider,OptimizationHints,\
                 AutofillServerCommunication,CertificateTransparencyComponentUpdater,\
                 InterestFeedContentSuggestions,BackForwardCache,HeavyAdIntervention,\
                 LensOverlay,PrivacySandboxSettings4 --disable-client-side-phishing-detection \
                 --disable-default-apps --disable-domain-reliability --no-pings",
            ),
            ("v8-size", "--js-flags=--optimize-for-size --max-semi-space-size=1"),
            ("v8-lite", "--js-flags=--lite-mode"),
        ],
        other => return Err(format!("--variants {other:?}: the only preset is `flags`")),
    };
    list.iter().map(|(n, a)| Variant::parse(&format!("{n}={a}"))).collect()
}

/// A variant's sidecar and its sessions.
pub struct Running {
    pub variant: Variant,
    sidecar: Option<Sidecar>,
    settings: wa_sidecar::config::Settings,
    runtime_root: PathBuf,
    /// Why it could not be measured, if so.
    pub failed: Option<String>,
    pub connected: Option<Result<SideMem, String>>,
    pub restored: Option<Result<Duration, String>>,
}

/// Starts every variant's sidecar and links its `count` sessions (phones of side `2 + v`).
pub async fn start_all(
    variants: &[Variant],
    root: &Path,
    sim: &SimServer,
    count: usize,
    step: Duration,
) -> Vec<Running> {
    let mut out = Vec::new();
    for (v, variant) in variants.iter().enumerate() {
        let mut settings = sidecar::settings(&root.join(format!("variant-{v}")), sim, count);
        settings.engine.extra_args = variant.args.clone();
        let runtime_root = sidecar::runtime_root(&settings);
        let mut run = Running {
            variant: variant.clone(),
            sidecar: None,
            settings: settings.clone(),
            runtime_root,
            failed: None,
            connected: None,
            restored: None,
        };
        match link(settings, sim, count, v, step).await {
            Ok(s) => run.sidecar = Some(s),
            Err((s, e)) => {
                run.sidecar = s;
                run.failed = Some(format!("{e:#}"));
            }
        }
        eprintln!("variant {}: {}", variant.name, run.failed.as_deref().unwrap_or("connected"));
        out.push(run);
    }
    out
}

async fn link(
    settings: wa_sidecar::config::Settings,
    sim: &SimServer,
    count: usize,
    v: usize,
    step: Duration,
) -> Result<Sidecar, (Option<Sidecar>, anyhow::Error)> {
    let app = Sidecar::start(settings).await.map_err(|e| (None, e))?;
    for i in 0..count {
        let phone = crate::phone(2 + v, i);
        let linked = match app.create_until_qr(i, step).await {
            Ok(_) => app.scan_until_connected(sim, i, &phone, step).await,
            Err(e) => Err(e),
        };
        if let Err(e) = linked {
            return Err((Some(app), e));
        }
    }
    Ok(app)
}

/// Why each failed variant failed, for the report's notes.
pub fn failures(runs: &[Running]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            let why = r.failed.clone().or_else(|| match &r.restored {
                Some(Err(e)) => Some(e.clone()),
                _ => None,
            })?;
            Some(format!("variant {} failed: {why}", r.variant.name))
        })
        .collect()
}

/// Reads every variant from the snapshot `all` (taken with the other sides').
pub fn read(runs: &mut [Running], all: &[procs::Proc], count: usize, mark: &str) {
    for run in runs.iter_mut().filter(|r| r.failed.is_none()) {
        run.connected =
            Some(memory::ours(all, &run.runtime_root, count, mark).map_err(|e| format!("{e:#}")));
    }
}

/// Graceful stop (logins sealed), a new sidecar on the same data, until every session is
/// connected again without a QR; then the final stop. Leaves nothing running.
pub async fn restore_and_stop(runs: &mut [Running], count: usize, step: Duration) {
    for run in runs.iter_mut() {
        let Some(app) = run.sidecar.take() else { continue };
        app.stop().await;
        if run.failed.is_some() {
            continue;
        }
        let t0 = SystemTime::now();
        let again = match Sidecar::start(run.settings.clone()).await {
            Ok(app) => {
                let r = app.wait_all_connected(count, t0, step).await;
                app.stop().await;
                r.map(|each| each.into_iter().max().unwrap_or_default())
            }
            Err(e) => Err(e),
        };
        run.restored = Some(again.map_err(|e| format!("{e:#}")));
        let left = procs::leaders_under(&procs::snapshot(), &run.runtime_root);
        if !left.is_empty() {
            run.restored = Some(Err(format!("{} Chromium left after its stop", left.len())));
        }
    }
}

fn pss(side: &SideMem) -> f64 {
    median(&side.per_browser(|m| m.pss_kib)).unwrap_or(f64::NAN)
}

fn uss(side: &SideMem) -> f64 {
    median(&side.per_browser(|m| m.uss_kib)).unwrap_or(f64::NAN)
}

fn procs_of(side: &SideMem) -> f64 {
    median(&side.procs_per_browser()).unwrap_or(f64::NAN)
}

/// Per kind, MiB per browser: `renderer 29.3 (2)`.
fn kinds(side: &SideMem) -> String {
    let n = side.browsers.len().max(1) as f64;
    side.by_kind
        .iter()
        .map(|(k, m)| {
            format!("{k} {:.1} ({:.0})", procs::mib(m.pss_kib) / n, f64::from(m.procs) / n)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The variants table: each variant beside our default and the baseline, all from one snapshot.
pub fn lines(
    runs: &[Running],
    ours: &Result<SideMem, String>,
    base: Option<&Result<SideMem, String>>,
) -> Vec<String> {
    let mut out = vec![format!(
        "{:<22} {:>9} {:>9} {:>7} {:>11} {:>9}  {}",
        "PSS connected, MiB", "PSS", "USS", "procs", "/baseline", "/default", "restore"
    )];
    let base_pss = base.and_then(|b| b.as_ref().ok()).map(pss);
    let ours_pss = ours.as_ref().ok().map(pss);
    let ratio = |v: f64, of: Option<f64>| of.map_or("—".to_owned(), |o| format!("{:.3}", v / o));
    let row = |name: &str, s: &SideMem, restore: String| {
        format!(
            "{name:<22} {:>9.1} {:>9.1} {:>7.0} {:>11} {:>9}  {restore}",
            pss(s),
            uss(s),
            procs_of(s),
            ratio(pss(s), base_pss),
            ratio(pss(s), ours_pss),
        )
    };
    let mut kinds_out = Vec::new();
    for (name, side) in [("baseline", base), ("ours (default)", Some(ours))] {
        match side {
            Some(Ok(s)) => {
                out.push(row(name, s, String::new()));
                kinds_out.push(format!("  {name}: {}", kinds(s)));
            }
            Some(Err(e)) => out.push(format!("{name:<22} FAILED: {e}")),
            None => out.push(format!("{name:<22} not measured")),
        }
    }
    for run in runs {
        let name = &run.variant.name;
        let restore = match &run.restored {
            Some(Ok(d)) => format!("ok, all in {} ms", d.as_millis()),
            Some(Err(e)) => format!("FAILED: {e}"),
            None => "not tried".to_owned(),
        };
        match (&run.failed, &run.connected) {
            (Some(e), _) => out.push(format!("{name:<22} FAILED before measuring: {e}")),
            (None, Some(Ok(s))) => {
                out.push(row(name, s, restore));
                kinds_out.push(format!("  {name}: {}", kinds(s)));
            }
            (None, Some(Err(e))) => out.push(format!("{name:<22} FAILED: {e}")),
            (None, None) => out.push(format!("{name:<22} not measured")),
        }
    }
    for run in runs {
        out.push(format!("  {}: {}", run.variant.name, run.variant.args.join(" ")));
    }
    out.push("by process kind, MiB per browser (processes):".to_owned());
    out.extend(kinds_out);
    out
}
