//! The SSRF guard: which addresses an outbound request may reach.
//!
//! An address is judged after unwrapping every IPv6 form that carries an IPv4 address
//! (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, IPv4-translated, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`), so `[::ffff:127.0.0.1]` is loopback. Decimal, hex and octal
//! IPv4 spellings (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) are normalised by the URL
//! parser before they get here. Names are judged by what they resolve to, at connect time, by
//! [`GuardedResolver`]; IP literals skip DNS in reqwest, so callers check them with
//! [`NetPolicy::check_literal`] before each request (and on each redirect).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why an address is not a public internet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Unspecified,
    Loopback,
    /// RFC 1918.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 100.64/10 (carrier-grade NAT).
    SharedCgnat,
    /// fc00::/7.
    UniqueLocal,
    Multicast,
    /// Documentation, benchmarking, reserved, broadcast, Teredo and other special-purpose ranges.
    Reserved,
    /// A cloud metadata service (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16):
    /// refused even when private targets are allowed, unless listed in `net.allow_cidrs`.
    Metadata,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::SharedCgnat => "shared (CGNAT)",
            Self::UniqueLocal => "unique-local",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
            Self::Metadata => "cloud metadata",
        }
    }
}

/// An outbound target the policy refuses. `target` is the address (and the name, if any).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target} is a {} address; outbound requests to it are refused (net.allow_private_targets, net.allow_cidrs)", .class.as_str())]
pub struct Refused {
    pub target: String,
    pub class: Class,
}

/// The outbound policy. Built from `[net]` by [`super::NetConfig::policy`].
#[derive(Debug, Clone, Default)]
pub struct NetPolicy {
    /// Loopback, private, link-local and other non-public addresses are allowed (tests and
    /// development with local receivers). Metadata addresses stay refused.
    pub allow_private: bool,
    /// Allowed whatever their class (an operator's own receiver, e.g. `10.0.5.0/24`).
    pub allow: Vec<IpNet>,
}

impl NetPolicy {
    /// Refuses every non-public address.
    pub fn strict() -> Self {
        Self { allow_private: false, allow: Vec::new() }
    }

    /// Allows everything but metadata services (tests, development).
    pub fn permissive() -> Self {
        Self { allow_private: true, allow: Vec::new() }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        let inner = embedded_v4(ip).map_or(ip, IpAddr::V4);
        if self.allow.iter().any(|net| net.contains(&ip) || net.contains(&inner)) {
            return Ok(());
        }
        let Some(class) = classify(ip) else { return Ok(()) };
        if self.allow_private && class != Class::Metadata {
            return Ok(());
        }
        Err(Refused { target: ip.to_string(), class })
    }

    /// The check that can be made on a URL before connecting: an IP-literal host (in any
    /// spelling the URL parser accepts) and the `localhost` names. Other names are checked when
    /// they resolve ([`GuardedResolver`]).
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Domain(name)) if !self.allow_private && is_localhost(name) => {
                Err(Refused { target: name.to_owned(), class: Class::Loopback })
            }
            _ => self.check_literal(url),
        }
    }

    /// Only the IP-literal host of `url` (reqwest connects to literals without resolving them).
    pub fn check_literal(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Ipv4(v4)) => self.check_ip(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => self.check_ip(IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }
}

/// `localhost`, `localhost.` and `*.localhost` always mean loopback (RFC 6761).
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one.
pub fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated)
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // ::a.b.c.d (IPv4-compatible, deprecated); :: and ::1 are themselves
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(low),
        // NAT64 well-known prefix 64:ff9b::/96
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 6to4 2002:a.b.c.d::/48
        [0x2002, hi, lo, ..] => {
            Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8))
        }
        _ => None,
    }
}

/// `None` for a public address; otherwise why it is not one. IPv6 forms carrying an IPv4 address
/// are judged by that address.
pub fn classify(ip: IpAddr) -> Option<Class> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, d] = ip.octets();
    let class = match (a, b, c, d) {
        (169, 254, 169, 254) | (169, 254, 170, 2) | (100, 100, 100, 200) | (168, 63, 129, 16) => {
            Class::Metadata
        }
        (0, 0, 0, 0) => Class::Unspecified,
        (0, ..) => Class::Reserved,
        (127, ..) => Class::Loopback,
        (10, ..) | (192, 168, ..) => Class::Private,
        (172, b, ..) if (16..32).contains(&b) => Class::Private,
        (169, 254, ..) => Class::LinkLocal,
        (100, b, ..) if (64..128).contains(&b) => Class::SharedCgnat,
        (192, 0, 0 | 2, _) | (192, 88, 99, _) | (198, 51, 100, _) | (203, 0, 113, _) => {
            Class::Reserved
        }
        (198, 18 | 19, ..) => Class::Reserved,
        (224..=239, ..) => Class::Multicast,
        (240..=255, ..) => Class::Reserved,
        _ => return None,
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let s = ip.segments();
    let class = match s {
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254] => Class::Metadata,
        _ if ip.is_unspecified() => Class::Unspecified,
        _ if ip.is_loopback() => Class::Loopback,
        [0xfe80..=0xfebf, ..] => Class::LinkLocal,
        // site-local (deprecated, still routed privately by some networks)
        [0xfec0..=0xfeff, ..] => Class::Private,
        [0xfc00..=0xfdff, ..] => Class::UniqueLocal,
        [0xff00..=0xffff, ..] => Class::Multicast,
        // ::/96 left over, discard-only 100::/64, local-use NAT64 64:ff9b:1::/48,
        // 2001::/23 (Teredo, benchmarking, ORCHID…), documentation 2001:db8::/32 and 3fff::/20
        [0, 0, 0, 0, 0, 0, _, _]
        | [0x100, 0, 0, 0, ..]
        | [0x64, 0xff9b, 1, ..]
        | [0x2001, 0..=0x1ff, ..]
        | [0x2001, 0xdb8, ..]
        | [0x3fff, 0..=0x0fff, ..] => Class::Reserved,
        _ => return None,
    };
    Some(class)
}

/// A reqwest DNS resolver that drops every resolved address the policy refuses, so the client
/// only ever connects to allowed addresses (and DNS rebinding between a check and the connect
/// cannot happen: what is checked is what is dialled). A name left with no address fails with
/// the [`Refused`] reason.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<NetPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<NetPolicy>) -> Self {
        Self { policy }
    }

    /// Resolves `host` with the system resolver and keeps the allowed addresses.
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| ResolveError::Lookup(format!("{host}: {e}")))?
            .collect();
        let mut refused = None;
        let allowed: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match self.policy.check_ip(a.ip()) {
                Ok(()) => true,
                Err(r) => {
                    refused.get_or_insert(r);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (true, Some(r)) => Err(ResolveError::Refused(Refused {
                target: format!("{host} ({})", r.target),
                ..r
            })),
            (true, None) => Err(ResolveError::Lookup(format!("{host}: no address"))),
            (false, _) => Ok(allowed),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(Refused),
    #[error("cannot resolve {0}")]
    Lookup(String),
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = this.resolve_host(&host).await?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver").field("policy", &self.policy).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        let strict = NetPolicy::strict();
        for (raw, class) in [
            ("http://127.0.0.1:18999/admin", Class::Loopback),
            ("http://0x7f000001:18999/x", Class::Loopback),
            ("http://2130706433/x", Class::Loopback),
            ("http://0177.0.0.1/x", Class::Loopback),
            ("http://127.1/x", Class::Loopback),
            ("http://127.0.0.1./x", Class::Loopback),
            ("http://0x7f.1/x", Class::Loopback),
            ("http://%31%32%37.0.0.1/x", Class::Loopback),
            ("http://[::1]/x", Class::Loopback),
            ("http://[::ffff:127.0.0.1]:18999/y", Class::Loopback),
            ("http://[::ffff:7f00:1]/y", Class::Loopback),
            ("http://[::127.0.0.1]/y", Class::Loopback),
            ("http://[64:ff9b::127.0.0.1]/y", Class::Loopback),
            ("http://[2002:7f00:1::]/y", Class::Loopback),
            ("http://169.254.169.254/latest/meta-data/", Class::Metadata),
            ("http://[::ffff:169.254.169.254]/", Class::Metadata),
            ("http://0xa9fea9fe/", Class::Metadata),
            ("http://[fd00:ec2::254]/", Class::Metadata),
            ("http://100.100.100.200/", Class::Metadata),
            ("http://169.254.1.1/", Class::LinkLocal),
            ("http://[fe80::1]/", Class::LinkLocal),
            ("http://10.1.2.3/", Class::Private),
            ("http://172.16.0.1/", Class::Private),
            ("http://172.31.255.255/", Class::Private),
            ("http://192.168.1.1/", Class::Private),
            ("http://0xc0a80101/", Class::Private),
            ("http://100.64.0.1/", Class::SharedCgnat),
            ("http://[fc00::1]/", Class::UniqueLocal),
            ("http://[fd12:3456::1]/", Class::UniqueLocal),
            ("http://224.0.0.1/", Class::Multicast),
            ("http://[ff02::1]/", Class::Multicast),
            ("http://0.0.0.0/", Class::Unspecified),
            ("http://0/", Class::Unspecified),
            ("http://[::]/", Class::Unspecified),
            ("http://255.255.255.255/", Class::Reserved),
            ("http://192.0.2.1/", Class::Reserved),
            ("http://[2001:db8::1]/", Class::Reserved),
            ("http://[2001::1]/", Class::Reserved),
            ("http://[64:ff9b:1::1]/", Class::Reserved),
        ] {
            let refused = strict.check_url(&url(raw)).expect_err(raw);
            assert_eq!(refused.class, class, "{raw}");
        }
    }

    #[test]
    fn public_addresses_and_names_pass_the_literal_check() {
        let strict = NetPolicy::strict();
        for raw in [
            "https://93.184.215.14/hook",
            "https://[2606:4700::1111]/hook",
            "http://[::ffff:8.8.8.8]/",
            "http://[64:ff9b::8.8.8.8]/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "https://hooks.example.com/wa",
        ] {
            assert_eq!(strict.check_url(&url(raw)), Ok(()), "{raw}");
        }
    }

    #[test]
    fn localhost_names_are_refused_before_any_lookup() {
        let strict = NetPolicy::strict();
        for raw in ["http://localhost:8080/", "http://LOCALHOST./", "http://api.localhost/"] {
            assert_eq!(strict.check_url(&url(raw)).unwrap_err().class, Class::Loopback, "{raw}");
        }
        assert!(NetPolicy::permissive().check_url(&url("http://localhost:8080/")).is_ok());
    }

    #[test]
    fn allowing_private_targets_never_allows_metadata_unless_listed() {
        let open = NetPolicy::permissive();
        assert!(open.check_url(&url("http://127.0.0.1:9/")).is_ok());
        assert!(open.check_url(&url("http://10.0.0.1/")).is_ok());
        let metadata = url("http://169.254.169.254/");
        assert_eq!(open.check_url(&metadata).unwrap_err().class, Class::Metadata);
        let listed =
            NetPolicy { allow_private: false, allow: vec!["169.254.169.254/32".parse().unwrap()] };
        assert!(listed.check_url(&metadata).is_ok());
    }

    #[test]
    fn an_allowed_cidr_opens_only_that_range() {
        let policy =
            NetPolicy { allow_private: false, allow: vec!["10.0.5.0/24".parse().unwrap()] };
        assert!(policy.check_url(&url("http://10.0.5.7/")).is_ok());
        assert!(policy.check_url(&url("http://[::ffff:10.0.5.7]/")).is_ok());
        assert!(policy.check_url(&url("http://10.0.6.7/")).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_by_the_resolver() {
        let strict = GuardedResolver::new(Arc::new(NetPolicy::strict()));
        match strict.resolve_host("localhost").await {
            Err(ResolveError::Refused(r)) => {
                assert_eq!(r.class, Class::Loopback);
                assert!(r.target.starts_with("localhost ("), "{}", r.target);
            }
            other => panic!("localhost must be refused, got {other:?}"),
        }
        // Through the reqwest trait too.
        let name: Name = "localhost".parse().unwrap();
        assert!(Resolve::resolve(&strict, name).await.is_err());
        let open = GuardedResolver::new(Arc::new(NetPolicy::permissive()));
        let addrs = open.resolve_host("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
