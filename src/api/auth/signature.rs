//! The v1 request signature (DESIGN.md, "Inbound authentication"): the canonical string and the
//! HMAC-SHA256 over it. Pure functions, shared by the guard and by `wa-sidecar sign`.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// RFC 3986 unreserved characters stay, everything else is %XX (PHP's `rawurlencode`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// The parts of a request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub timestamp: i64,
    pub nonce: &'a str,
    pub method: &'a str,
    /// As sent, not decoded.
    pub path: &'a str,
    /// The raw query string (without `?`); canonicalised here.
    pub query: &'a str,
    pub body: &'a [u8],
}

/// Decodes the pairs (`+` and `%20` both mean space), re-encodes them per RFC 3986, sorts by key
/// then value and joins with `&`. So `b=2&a=x+y` and `a=x%20y&b=2` sign the same.
pub fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, RFC3986).to_string(),
                utf8_percent_encode(&v, RFC3986).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

pub fn canonical_string(parts: &Signed<'_>) -> String {
    [
        "v1".to_owned(),
        parts.timestamp.to_string(),
        parts.nonce.to_owned(),
        parts.method.to_ascii_uppercase(),
        parts.path.to_owned(),
        canonical_query(parts.query),
        body_sha256_hex(parts.body),
    ]
    .join("\n")
}

fn mac(secret: &[u8], parts: &Signed<'_>) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(canonical_string(parts).as_bytes());
    mac
}

/// Lowercase hex signature, without the `v1=` prefix.
pub fn sign(secret: &[u8], parts: &Signed<'_>) -> String {
    hex::encode(mac(secret, parts).finalize().into_bytes())
}

/// True when any `v1=<hex>` entry of the comma-separated header matches. Each comparison is
/// constant-time (`Mac::verify_slice`).
pub fn verify(secret: &[u8], parts: &Signed<'_>, header: &str) -> bool {
    let expected = mac(secret, parts);
    header
        .split(',')
        .filter_map(|entry| entry.trim().strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .fold(false, |ok, candidate| expected.clone().verify_slice(&candidate).is_ok() | ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const BODY: &[u8] = br#"{"to":"15551234567","type":"text","text":{"body":"hi"}}"#;

    fn vector() -> (Vec<u8>, Signed<'static>) {
        let key = base64::engine::general_purpose::STANDARD
            .decode("c2lkZWNhci10ZXN0LXNlY3JldC0zMi1ieXRlcy0hISE=")
            .unwrap();
        let parts = Signed {
            timestamp: 1767225600,
            nonce: "3f1c2a9e8b7d4c6a9e0f1b2c3d4e5f60",
            method: "POST",
            path: "/v1/workspaces/acme/sessions/main/messages",
            query: "",
            body: BODY,
        };
        (key, parts)
    }

    #[test]
    fn design_test_vector() {
        let (key, parts) = vector();
        assert_eq!(
            sign(&key, &parts),
            "055a757e7961bf94582517f1172a1abed4a2c57a1e7e7b7cc3b625c23ca81bf6"
        );
        assert!(verify(
            &key,
            &parts,
            "v1=055a757e7961bf94582517f1172a1abed4a2c57a1e7e7b7cc3b625c23ca81bf6"
        ));
    }

    #[test]
    fn any_listed_signature_may_match_and_others_are_ignored() {
        let (key, parts) = vector();
        let good = sign(&key, &parts);
        assert!(verify(&key, &parts, &format!("v1=00ff, v2=abc, v1={good}")));
        assert!(!verify(&key, &parts, "v1=00ff, v1=zz"));
        assert!(!verify(&key, &parts, &good), "the v1= prefix is required");
        let other = Signed { path: "/v1/workspaces/acme", ..parts };
        assert!(!verify(&key, &other, &format!("v1={good}")));
    }

    #[test]
    fn query_is_sorted_and_rfc3986_encoded() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=x+y&a=%2F"), "a=%2F&a=x%20y&b=2");
        assert_eq!(canonical_query("a=x%20y&b=2"), canonical_query("b=2&a=x+y"));
        assert_eq!(canonical_query("k=%C3%A4~*"), "k=%C3%A4~%2A");
        // Pairs sort by key then value, not as "k=v" strings.
        assert_eq!(canonical_query("a%20b=1&a=2"), "a=2&a%20b=1");
    }
}
