//! `wa-sidecar keygen`: fresh random keys, base64, one per line.

use base64::Engine as _;
use zeroize::Zeroizing;

fn fresh_key() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::fill(&mut bytes[..]);
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]))
}

pub fn run() -> anyhow::Result<()> {
    println!("# HMAC key for [[auth.keys]] (store it in a 0600 file and point secret_file at it); the host signs with the same bytes");
    println!("hmac_key={}", fresh_key().as_str());
    println!("# vault master key (seals session logins); keep it apart from backups of sessions/");
    println!("vault_master_key={}", fresh_key().as_str());
    Ok(())
}
