//! A JSON body extractor whose errors are the envelope and name the field: 413 past
//! `server.max_body_bytes`, 400 `INVALID_JSON` for malformed JSON, 400 `INVALID_FIELD` with the
//! field's path (`text.body: invalid type: …`) when the shape is wrong. Use it instead of
//! `web::Json` in handlers.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::codes;
use crate::api::ApiError;
use crate::startup::AppState;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The whole body, refusing past `limit` with 413 and a broken upload with 400. Shared by this
/// extractor and the signature guard (which hashes the body before any handler sees it).
pub(crate) async fn collect_body(payload: &mut Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(codes::BODY_READ_FAILED, format!("could not read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.server.max_body_bytes)
            .unwrap_or(1 << 20);
        let content_type =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut payload = payload.take();
        Box::pin(async move {
            if let Some(ct) = content_type.filter(|ct| !is_json(ct)) {
                return Err(ApiError::new(
                    codes::UNSUPPORTED_MEDIA_TYPE,
                    format!("send the body as application/json, not {ct}"),
                ));
            }
            let body = collect_body(&mut payload, limit).await?;
            parse(&body).map(Json)
        })
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Parses `body`, naming the failing field.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            codes::INVALID_JSON,
            "the request body is empty; send a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            invalid_json(&inner)
        } else if path == "." {
            ApiError::new(codes::INVALID_FIELD, inner.to_string())
        } else {
            ApiError::new(codes::INVALID_FIELD, format!("{path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| invalid_json(&e))?;
    Ok(value)
}

fn invalid_json(e: &serde_json::Error) -> ApiError {
    ApiError::new(codes::INVALID_JSON, format!("the body is not valid JSON: {e}"))
}

/// A whole number for an unsigned field, also when written as a float (`3.0`): JSON Schema's
/// `integer` includes those, and the OpenAPI document promises no more than JSON Schema says.
/// Use as `#[serde(deserialize_with = "crate::api::json::whole")]`.
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    let value = match (n.as_u64(), n.as_f64()) {
        (Some(v), _) => Some(v),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    };
    value
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

/// [`whole`] for an optional field (`null` or absent is `None`).
pub fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(serde::Deserialize)]
    struct Whole<T: TryFrom<u64>>(#[serde(deserialize_with = "whole")] T);
    let v: Option<Whole<T>> = serde::Deserialize::deserialize(d)?;
    Ok(v.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Msg {
        to: String,
        text: Text,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Text {
        body: String,
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        #[derive(Debug, serde::Deserialize)]
        struct B {
            #[serde(default, deserialize_with = "whole_opt")]
            ms: Option<u64>,
            #[serde(default, deserialize_with = "whole")]
            n: u32,
        }
        let parse = |s: &str| serde_json::from_str::<B>(s);
        assert_eq!(parse(r#"{"ms": 201671.0, "n": 3.0}"#).unwrap().ms, Some(201671));
        assert_eq!(parse(r#"{"ms": null}"#).unwrap().ms, None);
        assert_eq!(parse(r#"{}"#).unwrap().n, 0);
        for bad in [
            r#"{"ms": 1.5}"#,
            r#"{"ms": -1}"#,
            r#"{"n": 4294967296}"#,
            r#"{"ms": "1"}"#,
            r#"{"ms": 1e30}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<Msg>(br#"{"to":"1","text":{"body":5}}"#).unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD");
        assert!(e.message.starts_with("text.body: invalid type"), "{}", e.message);
        let e = parse::<Msg>(br#"{"to":"1"}"#).unwrap_err();
        assert!(e.message.contains("missing field `text`"), "{}", e.message);
        let e = parse::<Msg>(br#"{"to":"1","text":{"body":"x"},"x":1}"#).unwrap_err();
        assert!(e.message.contains("unknown field `x`"), "{}", e.message);
        assert_eq!(parse::<Msg>(b"{\"to\":").unwrap_err().code, "INVALID_JSON");
        assert_eq!(
            parse::<Msg>(br#"{"to":"1","text":{"body":"x"}} trailing"#).unwrap_err().code,
            "INVALID_JSON"
        );
    }
}
