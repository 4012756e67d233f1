//! The request body as DRF's parsers read it: JSON, form or multipart, always an object.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::error::ApiError;
use tessera_auth::form::FieldErrors;

/// The largest body a Tessera route reads; a larger one is refused with 413 unread.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request's data as one JSON object.
///
/// `application/json`, `application/x-www-form-urlencoded` and `multipart/form-data` are
/// read (files in a multipart body are ignored); no `Content-Type` or an empty body gives
/// `{}`; any other media type is 415; a JSON value that is not an object is 400
/// `non_field_errors`, as DRF answers.
#[derive(Debug, Clone, Default)]
pub struct Payload(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Some(content_type) = request.headers().get(header::CONTENT_TYPE).cloned() else {
            return Ok(Self::default());
        };
        let content_type = String::from_utf8_lossy(content_type.as_bytes()).into_owned();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if let Some(length) = request.headers().get(header::CONTENT_LENGTH)
            && length
                .to_str()
                .ok()
                .and_then(|l| l.parse::<usize>().ok())
                .is_some_and(|l| l > MAX_BODY_BYTES)
        {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        match media.as_str() {
            "application/json" => {
                let bytes = read_body(request).await?;
                if bytes.is_empty() {
                    return Ok(Self::default());
                }
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::Parse(format!("JSON parse error - {e}")))?;
                object(value).map(Self)
            }
            "application/x-www-form-urlencoded" => {
                let bytes = read_body(request).await?;
                let mut map = Map::new();
                for (key, value) in form_urlencoded(&bytes)? {
                    map.insert(key, Value::String(value));
                }
                Ok(Self(map))
            }
            "multipart/form-data" => {
                let (parts, body) = request.into_parts();
                let bytes = read_body(Request::from_parts(parts.clone(), body)).await?;
                let request = Request::from_parts(parts, axum::body::Body::from(bytes));
                let mut multipart = Multipart::from_request(request, state).await.map_err(|e| {
                    ApiError::Parse(format!("Multipart form parse error - {}", e.body_text()))
                })?;
                let mut map = Map::new();
                while let Some(field) = multipart
                    .next_field()
                    .await
                    .map_err(|e| multipart_error(&e))?
                {
                    let Some(name) = field.name().map(str::to_owned) else {
                        continue;
                    };
                    if field.file_name().is_some() {
                        continue;
                    }
                    let text = field.text().await.map_err(|e| multipart_error(&e))?;
                    map.insert(name, Value::String(text));
                }
                Ok(Self(map))
            }
            _ => Err(ApiError::UnsupportedMediaType(content_type)),
        }
    }
}

fn multipart_error(error: &axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::Parse(format!(
        "Multipart form parse error - {}",
        error.body_text()
    ))
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
async fn read_body(request: Request) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let too_large =
                std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                    .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::Parse(format!("Body read error - {e}"))
            }
        })
}

/// Form pairs; a repeated key keeps its last value, as Django's `QueryDict` does.
fn form_urlencoded(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::Parse(format!("Form parse error - {e}")))
}

/// DRF's answer for a body that is valid JSON but not an object.
fn object(value: Value) -> Result<Map<String, Value>, ApiError> {
    let kind = match value {
        Value::Object(map) => return Ok(map),
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
    };
    let mut errors = FieldErrors::default();
    errors.add(
        "non_field_errors",
        format!("Invalid data. Expected a dictionary, but got {kind}."),
    );
    Err(ApiError::Validation(errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn parse(
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Result<Value, (u16, String)> {
        let mut builder = Request::builder().method("POST").uri("/");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        match Payload::from_request(builder.body(body.into()).unwrap(), &()).await {
            Ok(Payload(map)) => Ok(Value::Object(map)),
            Err(e) => {
                let response = axum::response::IntoResponse::into_response(e);
                let status = response.status().as_u16();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
                    .await
                    .unwrap();
                Err((status, String::from_utf8_lossy(&bytes).into_owned()))
            }
        }
    }

    #[tokio::test]
    async fn json_form_and_multipart_give_the_same_object() {
        let expected = serde_json::json!({"email": "a@x.com", "password": "p w"});
        assert_eq!(
            parse(
                Some("application/json"),
                r#"{"email":"a@x.com","password":"p w"}"#
            )
            .await,
            Ok(expected.clone())
        );
        assert_eq!(
            parse(
                Some("application/x-www-form-urlencoded"),
                "email=a%40x.com&password=p+w"
            )
            .await,
            Ok(expected.clone())
        );
        let multipart = "--XX\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@x.com\r\n\
            --XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\np w\r\n\
            --XX\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\r\nPNG\r\n--XX--\r\n";
        assert_eq!(
            parse(Some("multipart/form-data; boundary=XX"), multipart).await,
            Ok(expected)
        );
    }

    #[tokio::test]
    async fn empty_bodies_and_missing_content_type_are_empty_objects() {
        assert_eq!(parse(None, "{\"a\":1}").await, Ok(serde_json::json!({})));
        assert_eq!(
            parse(Some("application/json"), "").await,
            Ok(serde_json::json!({}))
        );
    }

    #[tokio::test]
    async fn bad_input_gets_drf_errors() {
        let (status, body) = parse(Some("application/json"), "{oops").await.unwrap_err();
        assert_eq!(status, 400);
        assert!(
            body.starts_with(r#"{"detail":"JSON parse error - key must be a string"#),
            "{body}"
        );
        assert_eq!(
            parse(Some("application/json"), "[1]").await.unwrap_err(),
            (
                400,
                r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}"#
                    .into()
            )
        );
        assert_eq!(
            parse(Some("application/json"), "\"x\"")
                .await
                .unwrap_err()
                .1,
            r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}"#
        );
        assert_eq!(
            parse(Some("text/plain"), "hi").await.unwrap_err(),
            (
                415,
                r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#.into()
            )
        );
        let (status, _) = parse(Some("multipart/form-data"), "x").await.unwrap_err();
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse(Some("application/json"), big.clone())
                .await
                .unwrap_err()
                .0,
            413
        );
        // Without Content-Length the stream itself is cut off at the limit.
        let chunk = axum::body::Bytes::from(big);
        let stream =
            Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)]));
        assert_eq!(
            parse(Some("application/json"), stream).await.unwrap_err().0,
            413
        );
    }
}
