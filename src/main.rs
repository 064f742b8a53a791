use clap::Parser;

fn main() -> anyhow::Result<()> {
    wa_sidecar::cli::run(wa_sidecar::cli::Cli::parse())
}
