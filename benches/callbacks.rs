//! `cargo bench --bench callbacks -- [--events N] [--sessions N] [--workers N] [--rate R] [--backlog]`:
//! the outbox bench (see `wa_sidecar::callbacks::bench`). Without `--rate`, events are offered
//! as fast as durable commits allow; `--backlog` commits them all before delivery starts.

use wa_sidecar::callbacks::bench::{run, BenchOptions};

fn main() -> anyhow::Result<()> {
    let mut o = BenchOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> anyhow::Result<f64> {
            let v = args.next().ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))?;
            Ok(v.parse()?)
        };
        match arg.as_str() {
            "--events" => o.events = number()? as usize,
            "--sessions" => o.sessions = number()? as usize,
            "--workers" => o.workers = number()? as usize,
            "--rate" => o.rate = Some(number()?),
            "--backlog" => o.backlog = true,
            "--bench" => {} // added by `cargo bench`
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(run(o))?;
    println!("{report}");
    Ok(())
}
