//! What /proc says about the browsers of one bench run: which processes belong to which browser
//! and how much memory they use (`/proc/PID/smaps_rollup`).
//!
//! PSS (proportional set size) charges each shared page to the processes that map it, split
//! evenly, so PSS sums add up across browsers; USS (private pages only) is what closing the
//! browser would give back.

use std::collections::BTreeMap;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};

/// The environment variable every browser of this run inherits, so that its crashpad handlers
/// (which leave the browser's process group, see [`crashpad_handlers`]) can be told apart from
/// everybody else's. Ours carry the run id, the baseline's the run id plus `-baseline`.
pub const RUN_MARK: &str = "WA_SIDECAR_BENCH_RUN";

/// One live (not zombie) process.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: i32,
    pub args: Vec<String>,
}

impl Proc {
    pub fn user_data_dir(&self) -> Option<PathBuf> {
        let dir = self.args.iter().find_map(|a| a.strip_prefix("--user-data-dir="))?;
        let dir = PathBuf::from(dir);
        Some(dir.canonicalize().unwrap_or(dir))
    }

    /// What the process is for: `browser`, `renderer`, `gpu-process`, `zygote`, `network`, ...
    pub fn kind(&self) -> String {
        if self.is_crashpad() {
            return "crashpad".into();
        }
        // Zygote-forked helpers rewrite their title, so their cmdline is one string with spaces.
        let line = self.args.join(" ");
        let flag = |name: &str| {
            line.split_whitespace().find_map(|a| a.strip_prefix(name)).map(str::to_owned)
        };
        match flag("--type=").as_deref() {
            None => "browser".into(),
            Some("utility") => flag("--utility-sub-type=")
                .map(|s| s.split('.').next().unwrap_or_default().to_owned())
                .unwrap_or_else(|| "utility".into()),
            Some(t) => t.to_owned(),
        }
    }

    /// Any Chromium process, of whoever started it.
    pub fn is_chromium(&self) -> bool {
        self.args.first().is_some_and(|exe| exe.starts_with("/usr/lib/chromium/"))
    }

    fn is_crashpad(&self) -> bool {
        self.args.first().is_some_and(|exe| exe.ends_with("chrome_crashpad_handler"))
    }
}

/// Every live process right now.
pub fn snapshot() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_proc)
        .collect()
}

fn read_proc(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and ')': the fields start after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(Proc { pid, ppid, pgid, args })
}

/// Memory of a set of processes, in KiB as the kernel reports it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub pss_kib: u64,
    pub uss_kib: u64,
    pub rss_kib: u64,
    pub procs: u32,
}

impl AddAssign for Mem {
    fn add_assign(&mut self, o: Mem) {
        self.pss_kib += o.pss_kib;
        self.uss_kib += o.uss_kib;
        self.rss_kib += o.rss_kib;
        self.procs += o.procs;
    }
}

/// `smaps_rollup` of one process; `None` when it exited meanwhile.
pub fn mem_of(pid: u32) -> Option<Mem> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        rollup
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Mem {
        pss_kib: field("Pss"),
        uss_kib: field("Private_Clean") + field("Private_Dirty"),
        rss_kib: field("Rss"),
        procs: 1,
    })
}

pub fn sum(pids: &[u32]) -> Mem {
    let mut total = Mem::default();
    for &pid in pids {
        if let Some(m) = mem_of(pid) {
            total += m;
        }
    }
    total
}

/// Browser leaders (processes with a `--user-data-dir`) whose profile lies under `root`, by profile.
pub fn leaders_under(procs: &[Proc], root: &Path) -> BTreeMap<PathBuf, Proc> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut out = BTreeMap::new();
    for p in procs {
        let Some(dir) = p.user_data_dir() else { continue };
        // Only the browser process itself has no `--type=`; its helpers may repeat the flag.
        if dir.starts_with(&root) && p.kind() == "browser" {
            out.insert(dir, p.clone());
        }
    }
    out
}

/// How a browser's processes were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Every live member of the process group the browser leads.
    ProcessGroup,
    /// The leader and its descendants by parent pid (the leader does not lead its own group).
    ParentTree,
}

/// The processes of the browser led by `leader`: its process group when it leads one, else its
/// descendants by PPID.
pub fn browser_processes(procs: &[Proc], leader: u32) -> (Grouping, Vec<u32>) {
    let leads_group = procs.iter().any(|p| p.pid == leader && p.pgid == leader as i32);
    if leads_group {
        let members = procs.iter().filter(|p| p.pgid == leader as i32).map(|p| p.pid).collect();
        return (Grouping::ProcessGroup, members);
    }
    let mut tree = vec![leader];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    (Grouping::ParentTree, tree)
}

/// Crashpad handlers whose environment carries `RUN_MARK=value`. Chromium starts two per
/// browser by a double fork plus `setsid`, so they have parent 1 and a session and group of
/// their own: they are never in the browser's group or tree and must be found another way.
pub fn crashpad_handlers(procs: &[Proc], value: &str) -> Vec<Proc> {
    let wanted = format!("{RUN_MARK}={value}");
    procs
        .iter()
        .filter(|p| p.is_crashpad())
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes()))
        })
        .cloned()
        .collect()
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
