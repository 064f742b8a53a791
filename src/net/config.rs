//! The `[net]` section: the outbound SSRF policy. Owned by this module; `crate::config` nests it.

use serde::{Deserialize, Serialize};

use super::guard::NetPolicy;

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Let callbacks and fetches reach loopback, private (RFC 1918), link-local, CGNAT,
    /// unique-local and other non-public addresses. Unset: allowed in development (local
    /// receivers, wa-sim), refused in production. Cloud metadata addresses are refused either way
    /// unless listed in `allow_cidrs`.
    pub allow_private_targets: Option<bool>,
    /// CIDRs (or single addresses) always allowed, e.g. the host app's own network
    /// (`["10.0.5.0/24"]`) when it receives callbacks on a private address in production.
    pub allow_cidrs: Vec<String>,
}

impl NetConfig {
    /// Problems as (key under `net.`, what is wrong). Empty means valid.
    pub fn validate(&self, _production: bool) -> Vec<(String, String)> {
        self.allow_cidrs
            .iter()
            .enumerate()
            .filter(|(_, net)| parse_net(net).is_none())
            .map(|(i, net)| {
                (
                    format!("allow_cidrs[{i}]"),
                    format!("{net:?} is not a CIDR or IP address, e.g. \"10.0.5.0/24\""),
                )
            })
            .collect()
    }

    /// The policy for this run mode. Entries that do not parse were reported by `validate`.
    pub fn policy(&self, production: bool) -> NetPolicy {
        NetPolicy {
            allow_private: self.allow_private_targets.unwrap_or(!production),
            allow: self.allow_cidrs.iter().filter_map(|n| parse_net(n)).collect(),
        }
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_targets_are_refused_in_production_unless_enabled() {
        let cfg = NetConfig::default();
        assert!(!cfg.policy(true).allow_private);
        assert!(cfg.policy(false).allow_private);
        let off = NetConfig { allow_private_targets: Some(false), ..Default::default() };
        assert!(!off.policy(false).allow_private);
        let bad = NetConfig { allow_cidrs: vec!["10.0.0.0/8".into(), "nope".into()], ..off };
        assert_eq!(bad.validate(true)[0].0, "allow_cidrs[1]");
        assert_eq!(bad.policy(true).allow.len(), 1);
    }
}
