//! Fuzz target: DRF's body parsers. Random bodies of every media type — JSON values and
//! broken JSON, deep nesting, huge strings, invalid UTF-8 and NUL, forms with bad
//! percent-encoding, multipart bodies with odd boundaries and parts — through `Payload`
//! directly and through routes that parse bodies. A body is read, or refused with a 4xx in
//! DRF's shape; a JSON object is read as exactly that object.

use axum::Json;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{HeaderValue, Request, header};
use axum::routing::post;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use tessera_axum::Payload;
use tessera_axum::routes::token_routes;
use tessera_axum::testing::TestApp;

use crate::common::{check_refusal, fuzz, read, runtime};

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        4 => Just(Some(b"application/json".to_vec())),
        1 => Just(Some(b"application/json; charset=utf-8".to_vec())),
        1 => Just(Some(b"APPLICATION/JSON ;".to_vec())),
        3 => Just(Some(b"application/x-www-form-urlencoded".to_vec())),
        3 => Just(Some(b"multipart/form-data; boundary=XyZ".to_vec())),
        1 => Just(Some(b"multipart/form-data".to_vec())),
        1 => Just(Some(b"multipart/form-data; boundary=".to_vec())),
        1 => Just(Some(b"multipart/form-data; boundary=\"a b\"".to_vec())),
        1 => Just(Some(b"text/plain".to_vec())),
        1 => Just(Some(Vec::new())),
        1 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ]
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<String>().prop_map(Value::from),
        Just(Value::from("\u{0}")),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(any::<String>(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        2 => prop::collection::btree_map("[a-z_]{1,12}", json_value(), 0..6)
            .prop_map(|m| serde_json::to_vec(&Value::Object(m.into_iter().collect())).unwrap()),
        // Truncated JSON.
        1 => (json_value(), any::<usize>()).prop_map(|(v, cut)| {
            let bytes = serde_json::to_vec(&v).unwrap();
            bytes[..cut % (bytes.len() + 1)].to_vec()
        }),
        // Deep nesting.
        1 => (1usize..20_000, prop::sample::select(vec!["[", "{\"a\":"])).prop_map(|(depth, open)| open.repeat(depth).into_bytes()),
        // Huge strings, around the body limit.
        1 => (60_000usize..70_000).prop_map(|n| format!("{{\"email\":\"{}\"}}", "a".repeat(n)).into_bytes()),
        // Numbers where strings go, and numbers JSON cannot hold.
        1 => prop::sample::select(vec![
            "{\"email\":1e999999,\"password\":-0}", "{\"refresh\":12345678901234567890123}",
            "{\"token\":[\"a\"]}", "{\"a\":\"\\ud800\"}", "\u{feff}{}", "{\"a\":1,\"a\":2}",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn form_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(("[a-z%+=&]{0,10}", "[ -~]{0,20}"), 0..6).prop_map(|pairs| {
            pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&").into_bytes()
        }),
        1 => prop::sample::select(vec!["%", "%zz=1", "a=%ff%fe", "=&=&", "a=1&a=2", "a=%00"]).prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn multipart_body() -> impl Strategy<Value = Vec<u8>> {
    let part = (
        prop::sample::select(vec!["XyZ", "xyz", "", "XyZ--", "other"]),
        prop::sample::select(vec![
            "form-data; name=\"email\"",
            "form-data; name=\"password\"",
            "form-data; name=\"file\"; filename=\"a.txt\"",
            "form-data",
            "attachment; name=\"x\"",
            "form-data; name=",
            "form-data; name=\"\u{e9}\"",
        ]),
        prop::collection::vec(any::<u8>(), 0..60),
        any::<bool>(),
    );
    (prop::collection::vec(part, 0..6), any::<bool>(), 0usize..3).prop_map(
        |(parts, close, many)| {
            let mut out = Vec::new();
            let repeat = [1, 1, 500][many];
            for _ in 0..repeat {
                for (boundary, disposition, content, crlf) in &parts {
                    out.extend_from_slice(
                        format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n")
                            .as_bytes(),
                    );
                    if *crlf {
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(content);
                    out.extend_from_slice(b"\r\n");
                }
            }
            if close {
                out.extend_from_slice(b"--XyZ--\r\n");
            }
            out
        },
    )
}

/// A request body with its content type (and sometimes a `Content-Length`, true or not).
#[derive(Debug, Clone)]
struct Case {
    content_type: Option<Vec<u8>>,
    body: Vec<u8>,
    length: Option<u64>,
}

fn body() -> impl Strategy<Value = Case> {
    (
        content_type(),
        prop_oneof![json_body(), form_body(), multipart_body()],
        prop::option::weighted(0.2, prop_oneof![Just(0u64), 0u64..100_000, Just(u64::MAX)]),
    )
        .prop_map(|(content_type, body, length)| Case {
            content_type,
            body,
            length,
        })
}

fn build(path: &str, case: &Case) -> Option<Request<Body>> {
    let mut builder = Request::builder().method("POST").uri(path);
    if let Some(content_type) = &case.content_type {
        builder = builder.header(
            header::CONTENT_TYPE,
            HeaderValue::from_bytes(content_type).ok()?,
        );
    }
    if let Some(length) = case.length {
        builder = builder.header(header::CONTENT_LENGTH, length);
    }
    builder.body(Body::from(case.body.clone())).ok()
}

#[test]
fn bodies_are_read_or_refused_in_drfs_shape() {
    let rt = runtime();
    let app = rt.block_on(async {
        TestApp::builder()
            .nest("/api", token_routes())
            .route(
                "/echo/",
                post(|Payload(map): Payload| async move { Json(map) }),
            )
            .build()
            .await
    });
    let paths = prop::sample::select(vec![
        "/echo/",
        "/api/token/verify/",
        "/api/token/refresh/",
        "/api/token/blacklist/",
    ]);
    fuzz("payload", 300, (body(), paths), |(case, path)| {
        rt.block_on(async {
            // The parser itself.
            let Some(request) = build("/", &case) else {
                return Ok(());
            };
            match Payload::from_request(request, &()).await {
                Ok(Payload(map)) => {
                    let media = case
                        .content_type
                        .as_deref()
                        .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase());
                    if media
                        .as_deref()
                        .is_some_and(|m| m.starts_with("application/json"))
                        && !case.body.is_empty()
                    {
                        let parsed: Value = serde_json::from_slice(&case.body).map_err(|e| {
                            TestCaseError::fail(format!("read JSON serde_json refuses: {e}"))
                        })?;
                        prop_assert_eq!(parsed, Value::Object(map));
                    }
                }
                Err(error) => {
                    let (status, bytes) =
                        read(axum::response::IntoResponse::into_response(error)).await;
                    check_refusal(status, &bytes, &format!("Payload of {case:?}"))?;
                    prop_assert!(matches!(status, 400 | 413 | 415), "{}", status);
                }
            }
            // Through the application (conventions, CSRF and throttle layers included).
            let Some(request) = build(path, &case) else {
                return Ok(());
            };
            let response = tower::ServiceExt::oneshot(app.router(), request)
                .await
                .unwrap();
            let (status, bytes) = read(response).await;
            if status == 200 {
                let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                prop_assert!(
                    json.is_object(),
                    "200 {} without an object: {:?}",
                    path,
                    String::from_utf8_lossy(&bytes)
                );
                return Ok(());
            }
            check_refusal(status, &bytes, &format!("POST {path} {case:?}"))?;
            Ok(())
        })
    });
}
