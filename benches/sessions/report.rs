//! What the bench prints. Every figure is either measured or shown as failed with its reason;
//! nothing is filled in.

use std::time::Duration;

use crate::memory::SideMem;
use crate::procs::Mem;

type Measured<T> = Option<Result<T, String>>;

#[derive(Default)]
pub struct Report {
    pub header: Vec<String>,
    pub create_to_qr: Vec<Duration>,
    pub scan_to_connected: Vec<Duration>,
    pub stop: Option<Duration>,
    pub restart: Measured<Vec<Duration>>,
    pub ours_qr: Measured<SideMem>,
    pub ours_connected: Measured<SideMem>,
    pub baseline_qr: Measured<SideMem>,
    pub baseline_connected: Measured<SideMem>,
    pub notes: Vec<String>,
    /// The launch-flag variants table (`--variant`, `--variants`), printed as is.
    pub variants: Vec<String>,
    /// Set when the run stopped early.
    pub aborted: Option<String>,
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn ms(d: &[Duration]) -> Vec<f64> {
    d.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
}

fn latency_row(name: &str, values: &[f64], expected: usize, why_missing: &str) -> String {
    if values.len() < expected || values.is_empty() {
        return format!(
            "{name:<38} not measured for every session ({} of {expected}): {why_missing}",
            values.len()
        );
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let median = median(values).unwrap_or(f64::NAN);
    format!("{name:<38} {median:>9.0} {min:>9.0} {max:>9.0}")
}

fn side_cell(side: &Measured<SideMem>, pick: fn(&Mem) -> u64) -> Result<f64, String> {
    match side {
        None => Err("not measured".into()),
        Some(Err(e)) => Err(format!("FAILED: {e}")),
        Some(Ok(s)) => median(&s.per_browser(pick)).ok_or_else(|| "no browser".into()),
    }
}

fn memory_row(
    name: &str,
    ours: &Measured<SideMem>,
    base: &Measured<SideMem>,
    pick: fn(&Mem) -> u64,
) -> String {
    let (o, b) = (side_cell(ours, pick), side_cell(base, pick));
    let cell =
        |v: &Result<f64, String>| v.as_ref().map_or_else(|_| "—".to_owned(), |v| format!("{v:.1}"));
    let ratio = match (&o, &b) {
        (Ok(o), Ok(b)) if *b > 0.0 => format!("{:.2}", o / b),
        _ => "—".to_owned(),
    };
    let mut row = format!("{name:<26} {:>10} {:>12} {:>14}", cell(&o), cell(&b), ratio);
    for (who, v) in [("ours", &o), ("baseline", &b)] {
        if let Err(e) = v {
            row.push_str(&format!("   [{who}: {e}]"));
        }
    }
    row
}

fn totals_row(name: &str, ours: &Measured<SideMem>, base: &Measured<SideMem>) -> String {
    let t = |s: &Measured<SideMem>| match s {
        Some(Ok(s)) => format!("{:.0}", s.total(|m| m.pss_kib)),
        _ => "—".to_owned(),
    };
    // The ratio of totals is the mean per session: unlike the median it counts a session that
    // sits alone in a shared browser (5 sessions at 4 per browser) at its full cost.
    let ratio = match (ours, base) {
        (Some(Ok(o)), Some(Ok(b))) if b.total(|m| m.pss_kib) > 0.0 => {
            format!("{:.2}", o.total(|m| m.pss_kib) / b.total(|m| m.pss_kib))
        }
        _ => "—".to_owned(),
    };
    format!("{name:<26} {:>10} {:>12} {:>14}", t(ours), t(base), ratio)
}

fn procs_row(ours: &Measured<SideMem>, base: &Measured<SideMem>) -> String {
    let p = |s: &Measured<SideMem>| match s {
        Some(Ok(s)) => {
            median(&s.procs_per_browser()).map_or("—".to_owned(), |v| format!("{v:.0}"))
        }
        _ => "—".to_owned(),
    };
    format!("{:<26} {:>10} {:>12}", "processes per browser", p(ours), p(base))
}

impl Report {
    /// PSS per browser by process kind, connected, both sides: where the difference is.
    fn print_kinds(&self) {
        let (Some(Ok(ours)), Some(Ok(base))) = (&self.ours_connected, &self.baseline_connected)
        else {
            return;
        };
        println!("PSS connected by process kind, MiB per browser (processes per browser), ours | baseline:");
        let kinds: std::collections::BTreeSet<&String> =
            ours.by_kind.keys().chain(base.by_kind.keys()).collect();
        for kind in kinds {
            let cell = |s: &SideMem| {
                let n = s.browsers.len().max(1) as f64;
                s.by_kind.get(kind).map_or("—".to_owned(), |m| {
                    format!("{:.1} ({:.1})", crate::procs::mib(m.pss_kib) / n, m.procs as f64 / n)
                })
            };
            println!("  {kind:<24} {:>14} | {:<14}", cell(ours), cell(base));
        }
        println!(
            "  Chromium processes on the whole machine at that reading: {} (PSS splits shared pages among all of them)",
            ours.chromium_on_machine
        );
    }

    pub fn print(&self, count: usize) {
        for line in &self.header {
            println!("{line}");
        }
        println!();
        println!(
            "{:<38} {:>9} {:>9} {:>9}",
            format!("latency (ms), {count} sessions"),
            "median",
            "min",
            "max"
        );
        let why = self.aborted.as_deref().unwrap_or("see above");
        println!("{}", latency_row("create -> first QR", &ms(&self.create_to_qr), count, why));
        println!("{}", latency_row("scan -> connected", &ms(&self.scan_to_connected), count, why));
        match &self.restart {
            Some(Ok(r)) => {
                println!(
                    "{}",
                    latency_row("restart -> connected again, per session", &ms(r), count, why)
                );
                let all = r.iter().max().copied().unwrap_or_default();
                println!(
                    "{:<38} {:>9.0}",
                    format!("restart -> all {count} connected again"),
                    all.as_secs_f64() * 1000.0
                );
            }
            Some(Err(e)) => println!("{:<38} FAILED: {e}", "restart -> connected again"),
            None => println!("{:<38} not measured: {why}", "restart -> connected again"),
        }
        if let Some(stop) = self.stop {
            println!(
                "{:<38} {:>9.0}",
                format!("(graceful stop of {count} sessions)"),
                stop.as_secs_f64() * 1000.0
            );
        }
        println!();
        println!(
            "{:<26} {:>10} {:>12} {:>14}",
            "memory per session (MiB)", "ours", "baseline", "ours/baseline"
        );
        println!(
            "{}",
            memory_row("PSS at the QR screen", &self.ours_qr, &self.baseline_qr, |m| m.pss_kib)
        );
        println!(
            "{}",
            memory_row("PSS connected", &self.ours_connected, &self.baseline_connected, |m| m
                .pss_kib)
        );
        println!(
            "{}",
            memory_row("USS at the QR screen", &self.ours_qr, &self.baseline_qr, |m| m.uss_kib)
        );
        println!(
            "{}",
            memory_row("USS connected", &self.ours_connected, &self.baseline_connected, |m| m
                .uss_kib)
        );
        println!(
            "{}",
            totals_row("PSS total connected (MiB)", &self.ours_connected, &self.baseline_connected)
        );
        println!("{}", procs_row(&self.ours_connected, &self.baseline_connected));
        for (who, side) in [("ours", &self.ours_connected), ("baseline", &self.baseline_connected)]
        {
            if let Some(Ok(s)) = side {
                println!("  {who}: {}; {}", s.groupings(), s.crashpad_note());
                let each: Vec<String> = s
                    .browsers
                    .iter()
                    .zip(s.per_browser(|m| m.pss_kib))
                    .map(|(b, v)| format!("{} {v:.0}", b.label))
                    .collect();
                println!("  {who}: PSS connected per browser (MiB): {}", each.join(", "));
            }
        }
        self.print_kinds();
        if !self.variants.is_empty() {
            println!();
            println!("launch-flag variants of ours, {count} sessions each, one snapshot with the rows above them:");
            for line in &self.variants {
                println!("{line}");
            }
        }
        for note in &self.notes {
            println!("note: {note}");
        }
        if let Some(why) = &self.aborted {
            println!("BENCH STOPPED EARLY: {why}");
        }
    }
}
