//! The command line. Each subcommand is a variant of [`Command`] and a module of its own; add new
//! ones as variants here and dispatch them in [`run`].

mod bench;
#[cfg(feature = "demo")]
mod bench_messages;
mod client;
mod config_check;
#[cfg(feature = "demo")]
mod demo;
mod handover;
mod keygen;
mod qr;
mod reap;
mod serve;
pub mod sign;
mod vault;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wa-sidecar",
    version,
    about = "WhatsApp Web for a Laravel or Node host, over HMAC-signed REST"
)]
pub struct Cli {
    /// A TOML file applied last, over config/default.toml, config/{SIDECAR_ENV}.toml and SIDECAR__* variables.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve,
    /// Print a fresh HMAC key and a vault master key (base64, 32 random bytes each).
    Keygen,
    /// Print the signature headers for a request (and with --curl, a curl command).
    Sign(sign::SignArgs),
    /// Draw a session's current QR in the terminal (asks the running sidecar).
    Qr(qr::QrArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sealed logins: verify that every one opens, rotate them to the newest master key.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// The whole flow without a WhatsApp account: an embedded simulator, a session, its QR here,
    /// the simulated phone scanning it on Enter, `connected`.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Move sessions from a running sidecar to another on the same sessions folder (blue-green).
    Handover(handover::HandoverArgs),
    /// Kill the Chromium browsers a dead sidecar on this configuration left behind (never a live one's).
    Reap,
    /// Measurements (build with --release).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Open every sealed file and report those that do not open (exit 1 if any).
    Verify,
    /// Reseal every file not yet under `vault.seal_key_id` (exit 1 if any could not be).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Seal, unseal and reseal figures for a generated profile of tens of MB.
    Vault(bench::VaultBenchArgs),
    /// Events/s delivered to a local receiver with durable commits, and enqueue → delivery latency.
    Callbacks(crate::callbacks::bench::BenchArgs),
    /// Messages/s from the API to WhatsApp's server ack and its latency: N sessions on an
    /// embedded wa-sim, real headless Chromium, pacing off.
    #[cfg(feature = "demo")]
    Messages(bench_messages::MessagesBenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the merged configuration and print it with secrets redacted.
    Check,
}

/// Runs the chosen command; the process exit code follows the result.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve::run(cli.config),
        Command::Keygen => keygen::run(),
        Command::Sign(args) => sign::run(&args),
        Command::Config(ConfigCommand::Check) => config_check::run(cli.config),
        Command::Qr(args) => qr::run(cli.config, &args),
        Command::Reap => reap::run(cli.config),
        Command::Handover(args) => handover::run(cli.config, &args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(cli.config, &args),
        Command::Vault(VaultCommand::Verify) => vault::verify(cli.config),
        Command::Vault(VaultCommand::Rotate) => vault::rotate(cli.config),
        Command::Bench(BenchCommand::Vault(args)) => bench::vault(&args),
        #[cfg(feature = "demo")]
        Command::Bench(BenchCommand::Messages(args)) => bench_messages::run(cli.config, &args),
        Command::Bench(BenchCommand::Callbacks(args)) => {
            crate::callbacks::bench::run_cli(args).map(drop).map_err(Into::into)
        }
    }
}
