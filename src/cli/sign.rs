//! `wa-sidecar sign`: the headers a host must send for one request, so a developer can call the
//! API by hand or compare with their own signer.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use clap::Args;

use crate::api::auth::signature::{self, Signed};
use crate::api::auth::unix_now;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Sent as X-Key-Id.
    #[arg(long)]
    pub key_id: String,
    /// A file holding the base64 key.
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
    /// GET, POST, ...
    pub method: String,
    /// The full URL, e.g. http://127.0.0.1:8787/v1/workspaces/acme
    pub url: String,
    /// A file with the exact body to send.
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// Print a ready curl command instead of the headers.
    #[arg(long)]
    pub curl: bool,
    /// Unix seconds to sign with (default: now). For reproducing test vectors.
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Nonce to sign with (default: 32 random hex characters).
    #[arg(long)]
    pub nonce: Option<String>,
}

/// The four headers, in order.
pub fn headers(args: &SignArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    let key_text = std::fs::read_to_string(&args.key_file)
        .with_context(|| format!("reading {}", args.key_file.display()))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_text.trim())
        .context("the key file must hold base64")?;
    let url = url::Url::parse(&args.url).with_context(|| format!("{:?} is not a URL", args.url))?;
    let body = match &args.body {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => Vec::new(),
    };
    let timestamp = args.timestamp.unwrap_or_else(unix_now);
    let nonce = args.nonce.clone().unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let method = args.method.to_ascii_uppercase();
    let parts = Signed {
        timestamp,
        nonce: &nonce,
        method: &method,
        path: url.path(),
        query: url.query().unwrap_or(""),
        body: &body,
    };
    let sig = signature::sign(&key, &parts);
    Ok(vec![
        ("X-Key-Id", args.key_id.clone()),
        ("X-Timestamp", timestamp.to_string()),
        ("X-Nonce", nonce),
        ("X-HMAC-Signature", format!("v1={sig}")),
    ])
}

pub fn run(args: &SignArgs) -> anyhow::Result<()> {
    let headers = headers(args)?;
    if !args.curl {
        for (name, value) in headers {
            println!("{name}: {value}");
        }
        return Ok(());
    }
    let mut cmd = format!("curl -sS -X {}", args.method.to_ascii_uppercase());
    for (name, value) in &headers {
        cmd.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
    }
    if let Some(body) = &args.body {
        cmd.push_str(" -H 'Content-Type: application/json'");
        cmd.push_str(&format!(" --data-binary @{}", quote(&body.display().to_string())));
    }
    cmd.push_str(&format!(" {}", quote(&args.url)));
    println!("{cmd}");
    Ok(())
}

/// Single-quotes for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
