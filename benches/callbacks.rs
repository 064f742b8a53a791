//! `cargo bench --bench callbacks -- [events] [sessions] [workers] [rate]`: the outbox bench
//! (see `wa_sidecar::callbacks::bench`). Positional numbers keep it dependency-free; `rate` 0 = max.

use wa_sidecar::callbacks::bench::{BenchOptions, run};

fn main() -> anyhow::Result<()> {
    let args: Vec<f64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let d = BenchOptions::default();
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |v| *v as usize);
    let options = BenchOptions {
        events: arg(0, d.events),
        sessions: arg(1, d.sessions),
        workers: arg(2, d.workers),
        rate: args.get(3).copied().filter(|r| *r > 0.0),
        ..d
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(run(options))?;
    println!("{report}");
    Ok(())
}
