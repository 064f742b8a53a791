//! Outbound network policy: where the sidecar may send a request on behalf of a caller.
//!
//! Owns the SSRF guard. Every outbound HTTP client that takes a URL from a tenant or from
//! configuration (callback delivery, media fetches) is built here or with [`guard::GuardedResolver`],
//! so an address is checked when the socket is about to be opened, not only when a URL is stored.
//!
//! - [`guard`]: which IP addresses are refused, in every spelling, and the reqwest resolver that
//!   drops them after DNS (so a name that resolves to `127.0.0.1` is refused too).
//! - [`fetch`]: a bounded GET for media (size, time, redirects), refusing the same addresses.
//! - [`config`]: the `[net]` section (`allow_private_targets`, `allow_cidrs`).
//!
//! It never touches sessions, callbacks storage or the API; those call it.

pub mod config;
pub mod fetch;
pub mod guard;

pub use config::NetConfig;
pub use fetch::{fetch_limited, FetchError, Fetched, Fetcher};
pub use guard::{GuardedResolver, NetPolicy, Refused};
