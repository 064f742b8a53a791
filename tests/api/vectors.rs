//! tests/vectors/signing.json, the vectors the Laravel package's PHPUnit tests check too: the
//! sidecar's request signature reproduces every request vector, and its callback signer
//! reproduces every genuine webhook signature; a verifier written from the Standard Webhooks spec
//! (here, with the vector's clock) gives every webhook vector its verdict.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use wa_sidecar::api::auth::signature::{self, Signed};
use wa_sidecar::callbacks::sign::{Secret, Signer};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/signing.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[test]
fn request_vectors_match_the_sidecars_signature() {
    let all = vectors();
    let requests = all["requests"].as_array().unwrap();
    assert!(requests.len() >= 6);
    for v in requests {
        let name = text(v, "name");
        let body = match v.get("body_base64") {
            Some(b) => STANDARD.decode(b.as_str().unwrap()).unwrap(),
            None => text(v, "body").as_bytes().to_vec(),
        };
        let parts = Signed {
            timestamp: v["timestamp"].as_i64().unwrap(),
            nonce: text(v, "nonce"),
            method: text(v, "method"),
            path: text(v, "path"),
            query: text(v, "query"),
            body: &body,
        };
        let key = STANDARD.decode(text(v, "key")).unwrap();
        assert_eq!(signature::canonical_string(&parts), text(v, "canonical"), "{name}");
        assert_eq!(format!("v1={}", signature::sign(&key, &parts)), text(v, "signature"), "{name}");
        assert!(signature::verify(&key, &parts, text(v, "signature")), "{name}");
    }
}

/// Standard Webhooks, from the spec: any `v1,<base64>` entry over `id.ts.body` with any secret,
/// the timestamp within the tolerance of `now`.
fn verdict(
    secrets: &[String],
    headers: &Value,
    body: &str,
    now: i64,
    tolerance: i64,
) -> Result<(), &'static str> {
    let ts: i64 = text(headers, "webhook-timestamp").parse().map_err(|_| "timestamp")?;
    if (now - ts).abs() > tolerance {
        return Err("timestamp");
    }
    let signed = format!("{}.{}.{}", text(headers, "webhook-id"), ts, body);
    for secret in secrets {
        let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(signed.as_bytes());
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        let matched = text(headers, "webhook-signature")
            .split(' ')
            .filter_map(|e| e.split_once(','))
            .any(|(version, sig)| version == "v1" && sig == expected);
        if matched {
            return Ok(());
        }
    }
    Err("signature")
}

#[test]
fn webhook_vectors_match_the_callback_signer_and_the_spec() {
    let all = vectors();
    let tolerance = all["tolerance_secs"].as_i64().unwrap();
    let hooks = all["webhooks"].as_array().unwrap();
    assert!(hooks.len() >= 10);
    let list = |v: &Value, key: &str| -> Vec<String> {
        v[key].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
    };
    let (mut reproduced, mut refused) = (0, 0);
    for v in hooks {
        let name = text(v, "name");
        let headers = &v["headers"];
        if v["reproduce"].as_bool().unwrap() {
            let secrets =
                list(v, "signed_with").iter().map(|s| Secret::parse(s).unwrap()).collect();
            let ts: i64 = text(headers, "webhook-timestamp").parse().unwrap();
            let made = Signer::new(secrets, false).webhook_signature(
                text(headers, "webhook-id"),
                ts,
                text(v, "body").as_bytes(),
            );
            assert_eq!(made, text(headers, "webhook-signature"), "{name}");
            reproduced += 1;
        }
        let got = verdict(
            &list(v, "secrets"),
            headers,
            text(v, "body"),
            v["now"].as_i64().unwrap(),
            tolerance,
        );
        if v["valid"].as_bool().unwrap() {
            assert_eq!(got, Ok(()), "{name}");
        } else {
            assert_eq!(got, Err(text(v, "reason")), "{name}");
            refused += 1;
        }
    }
    assert!(reproduced >= 5 && refused >= 5, "{reproduced} reproduced, {refused} refused");
}
