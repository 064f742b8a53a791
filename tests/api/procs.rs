//! Live processes as the tests see them in `/proc` (zombies left out): the one scan behind every
//! check of browsers and children in this crate.

use std::path::Path;

/// A live process: its pid, its process group and its arguments.
pub struct Proc {
    pub pid: u32,
    pub pgrp: i32,
    pub args: Vec<String>,
}

impl Proc {
    /// Chromium's `--user-data-dir`, when it has one.
    pub fn profile(&self) -> Option<&str> {
        self.args.iter().find_map(|a| a.strip_prefix("--user-data-dir="))
    }
}

/// Every live process of the machine (those that end during the scan are skipped).
pub fn live() -> Vec<Proc> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // After the command name: state ppid pgrp ...
        let fields: Vec<&str> =
            stat.get(stat.rfind(')').unwrap_or(0) + 2..).unwrap_or("").split_whitespace().collect();
        if fields.first().is_none_or(|state| *state == "Z") {
            continue;
        }
        let Some(pgrp) = fields.get(2).and_then(|g| g.parse().ok()) else { continue };
        let args = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        found.push(Proc { pid, pgrp, args });
    }
    found
}

/// The live Chromium processes (browsers and their helpers) whose profile is under `root`.
pub fn chromium_under(root: &Path) -> Vec<Proc> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    live()
        .into_iter()
        .filter(|p| p.profile().is_some_and(|d| Path::new(d).starts_with(&root)))
        .collect()
}
