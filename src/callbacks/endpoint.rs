//! Webhook endpoint URLs: the only shape we will POST to. Checked at config load and at session
//! create, so a bad URL is a 400 or a start-up error, never a delivery failure days later.

use url::Url;

/// Longest callback URL accepted (it is stored per session and sent with every event).
pub const MAX_URL_LEN: usize = 2048;

/// Why a callback URL was refused; the API maps it to `INVALID_CALLBACK_URL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEndpoint {
    #[error("callback URL {0:?} is not a valid absolute URL")]
    Unparsable(String),
    #[error("callback URL must use http or https, not {0:?}")]
    Scheme(String),
    #[error("callback URL must not carry a user name or password; callbacks are authenticated by their signature")]
    Credentials,
    #[error("callback URL must name a host")]
    NoHost,
    #[error("callback URL must not carry a #fragment")]
    Fragment,
    #[error("callback URL is longer than {MAX_URL_LEN} bytes")]
    TooLong,
}

/// Parse and check a callback URL: http or https, a host, no credentials, no fragment.
pub fn parse(raw: &str) -> Result<Url, InvalidEndpoint> {
    if raw.len() > MAX_URL_LEN {
        return Err(InvalidEndpoint::TooLong);
    }
    let url = Url::parse(raw.trim())
        .map_err(|_| InvalidEndpoint::Unparsable(raw.chars().take(200).collect()))?;
    check(&url)?;
    Ok(url)
}

/// The same checks for a URL parsed elsewhere.
pub fn check(url: &Url) -> Result<(), InvalidEndpoint> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidEndpoint::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidEndpoint::Credentials);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InvalidEndpoint::NoHost);
    }
    if url.fragment().is_some() {
        return Err(InvalidEndpoint::Fragment);
    }
    // `parse` bounds the URL as sent; normalising may add the `/` of an empty path, which must
    // not turn a URL of exactly the limit into a refusal.
    if url.as_str().len() > MAX_URL_LEN + 1 {
        return Err(InvalidEndpoint::TooLong);
    }
    Ok(())
}

/// A URL as logs may show it: no query string (webhook URLs often carry `?token=…`), no
/// credentials. Text that is not a URL is shown only by its length.
pub fn redacted(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.query().is_some() {
                url.set_query(Some("redacted"));
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => format!("<{} bytes, not a URL>", raw.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_carry_no_token() {
        assert_eq!(
            redacted("https://h.test/hook?token=s3cret&x=1"),
            "https://h.test/hook?redacted"
        );
        assert_eq!(redacted("https://h.test/hook"), "https://h.test/hook");
        assert!(!redacted("https://u:pw@h.test/x").contains("pw"));
    }

    #[test]
    fn accepts_http_and_https() {
        for ok in ["https://host.test/hooks/wa", "http://127.0.0.1:8080/cb?x=1"] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_other_schemes_credentials_and_fragments() {
        assert_eq!(parse("ftp://h/x"), Err(InvalidEndpoint::Scheme("ftp".into())));
        assert_eq!(parse("https://u:p@h/x"), Err(InvalidEndpoint::Credentials));
        assert_eq!(parse("https://u@h/x"), Err(InvalidEndpoint::Credentials));
        assert_eq!(parse("https://h/x#y"), Err(InvalidEndpoint::Fragment));
        assert!(matches!(parse("/relative"), Err(InvalidEndpoint::Unparsable(_))));
        assert!(matches!(parse("file:///etc/passwd"), Err(InvalidEndpoint::Scheme(_))));
        let long = format!("https://h/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(parse(&long), Err(InvalidEndpoint::TooLong));
        let bare = format!("https://{}", "h".repeat(MAX_URL_LEN - "https://".len()));
        assert_eq!(bare.len(), MAX_URL_LEN);
        assert!(parse(&bare).is_ok(), "a bare origin of exactly the limit is accepted");
    }
}
