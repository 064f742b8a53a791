//! One memory reading of one side (our sessions, or the baseline's browsers): PSS/USS per
//! browser, summed over the browser's process group, plus its share of the crashpad handlers
//! that live outside the group.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{anyhow, bail};

use crate::procs::{self, Grouping, Mem, Proc};

pub struct Browser {
    pub label: String,
    pub grouping: Grouping,
    pub mem: Mem,
}

pub struct SideMem {
    pub browsers: Vec<Browser>,
    /// Crashpad handlers of this side found by the run mark.
    pub crashpad_found: usize,
    /// Of those, how many were already inside a measured group or tree.
    pub crashpad_inside: usize,
    /// Memory of the handlers outside every group, shared evenly among the browsers.
    pub crashpad_outside: Mem,
    /// Memory by process kind (`renderer`, `gpu-process`, ...) over all browsers of the side.
    pub by_kind: BTreeMap<String, Mem>,
    /// Chromium processes on the whole machine at the reading (other users' too): PSS splits
    /// shared pages among all of them.
    pub chromium_on_machine: usize,
}

impl SideMem {
    fn crashpad_share(&self, pick: fn(&Mem) -> u64) -> f64 {
        procs::mib(pick(&self.crashpad_outside)) / self.browsers.len().max(1) as f64
    }

    /// Per browser, in MiB: its group plus its share of the outside crashpad handlers.
    pub fn per_browser(&self, pick: fn(&Mem) -> u64) -> Vec<f64> {
        let share = self.crashpad_share(pick);
        self.browsers.iter().map(|b| procs::mib(pick(&b.mem)) + share).collect()
    }

    pub fn total(&self, pick: fn(&Mem) -> u64) -> f64 {
        self.per_browser(pick).iter().sum()
    }

    pub fn procs_per_browser(&self) -> Vec<f64> {
        self.browsers.iter().map(|b| b.mem.procs as f64).collect()
    }

    pub fn groupings(&self) -> String {
        let groups = self.browsers.iter().filter(|b| b.grouping == Grouping::ProcessGroup).count();
        if groups == self.browsers.len() {
            "each browser leads its own process group".to_owned()
        } else {
            format!(
                "{groups} of {} browsers lead their own group; the rest were summed by PPID tree",
                self.browsers.len()
            )
        }
    }

    pub fn crashpad_note(&self) -> String {
        format!(
            "{} crashpad handlers found, {} inside the groups, {} outside ({:.1} MiB PSS each browser's share, included)",
            self.crashpad_found,
            self.crashpad_inside,
            self.crashpad_found - self.crashpad_inside,
            self.crashpad_share(|m| m.pss_kib),
        )
    }
}

/// Our sessions `0..count`: each one's Chromium is the leader whose `--user-data-dir` is the
/// session's runtime profile `{runtime_root}/{workspace}/{session}`.
pub fn ours(
    all: &[Proc],
    runtime_root: &Path,
    count: usize,
    mark: &str,
) -> anyhow::Result<SideMem> {
    let leaders = procs::leaders_under(all, runtime_root);
    let root = runtime_root.canonicalize().unwrap_or_else(|_| runtime_root.to_owned());
    let mut found = Vec::new();
    for i in 0..count {
        let key = crate::sidecar::key(i);
        let dir = root.join(key.workspace.as_str()).join(key.session.as_str());
        let leader = leaders
            .get(&dir)
            .ok_or_else(|| anyhow!("no running Chromium has the profile of {key}"))?;
        found.push((key.to_string(), leader.pid));
    }
    Ok(side(all, found, mark))
}

/// Our sessions in pooled mode: each shared browser (a group leader, from the pool's
/// `occupancy`) counts once, and each of its sessions is charged the group's total divided by the
/// number of sessions in it; the crashpad share is split per session the same way.
pub fn ours_pooled(
    all: &[Proc],
    occupancy: &[(i32, usize)],
    count: usize,
    mark: &str,
) -> anyhow::Result<SideMem> {
    let placed: usize = occupancy.iter().map(|(_, n)| n).sum();
    if placed != count {
        bail!("the pool holds {placed} sessions, expected {count}");
    }
    let leaders: Vec<(String, u32)> = occupancy
        .iter()
        .map(|&(pgid, _)| (format!("pool-{pgid}"), u32::try_from(pgid).unwrap_or(0)))
        .collect();
    let mut groups = side(all, leaders, mark);
    let mut per_session = Vec::new();
    for (browser, &(_, n)) in groups.browsers.iter().zip(occupancy) {
        let share = |v: u64| v / n.max(1) as u64;
        for k in 0..n {
            per_session.push(Browser {
                label: format!("{}/{k}", browser.label),
                grouping: browser.grouping,
                mem: Mem {
                    pss_kib: share(browser.mem.pss_kib),
                    uss_kib: share(browser.mem.uss_kib),
                    rss_kib: share(browser.mem.rss_kib),
                    procs: browser.mem.procs,
                },
            });
        }
    }
    // From here on an entry is a session: the crashpad share and the by-kind figures divide by it.
    groups.browsers = per_session;
    Ok(groups)
}

/// The baseline's browsers, by the pids puppeteer reported.
pub fn baseline(all: &[Proc], pids: &[u32], mark: &str) -> anyhow::Result<SideMem> {
    for pid in pids {
        if !all.iter().any(|p| p.pid == *pid) {
            bail!("baseline browser {pid} is not running");
        }
    }
    let found = pids.iter().enumerate().map(|(i, pid)| (format!("baseline-{i}"), *pid)).collect();
    Ok(side(all, found, &format!("{mark}-baseline")))
}

fn side(all: &[Proc], leaders: Vec<(String, u32)>, mark: &str) -> SideMem {
    let mut counted = BTreeSet::new();
    let mut browsers = Vec::new();
    let mut by_kind: BTreeMap<String, Mem> = BTreeMap::new();
    let kind_of =
        |pid: u32| all.iter().find(|p| p.pid == pid).map_or_else(|| "gone".to_owned(), Proc::kind);
    for (label, leader) in leaders {
        let (grouping, pids) = procs::browser_processes(all, leader);
        counted.extend(pids.iter().copied());
        for &pid in &pids {
            *by_kind.entry(kind_of(pid)).or_default() += procs::sum(&[pid]);
        }
        browsers.push(Browser { label, grouping, mem: procs::sum(&pids) });
    }
    let handlers = procs::crashpad_handlers(all, mark);
    let outside: Vec<u32> =
        handlers.iter().map(|p| p.pid).filter(|pid| !counted.contains(pid)).collect();
    *by_kind.entry("crashpad".into()).or_default() += procs::sum(&outside);
    SideMem {
        by_kind,
        chromium_on_machine: all.iter().filter(|p| p.is_chromium()).count(),
        browsers,
        crashpad_found: handlers.len(),
        crashpad_inside: handlers.len() - outside.len(),
        crashpad_outside: procs::sum(&outside),
    }
}
