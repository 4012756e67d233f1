//! Fuzz target: the `Authorization` header. `raw_token` is checked against a model of
//! simplejwt's `get_raw_token` (Python's `bytes.split()`), and the same headers go through a
//! protected route: 200, or a 401/403 in DRF's shape, never anything else.

use axum::http::{HeaderValue, Request, header};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::json;
use tessera_axum::routes::api_routes;
use tessera_axum::testing::TestApp;
use tessera_axum::{authenticate_token, raw_token};

use crate::common::{check_refusal, fuzz, runtime};

const PASSWORD: &str = "correct horse battery staple";

/// One word of a header.
#[derive(Debug, Clone)]
enum Word {
    Scheme(&'static str),
    Access,
    Refresh,
    /// The access token with one byte changed.
    Tampered(usize, u8),
    Bytes(Vec<u8>),
}

fn word() -> impl Strategy<Value = Word> {
    prop_oneof![
        3 => prop::sample::select(vec!["Bearer", "JWT", "bearer", "BEARER", "Basic", "Token", "Bearer:", "JWT\u{0}"])
            .prop_map(Word::Scheme),
        3 => Just(Word::Access),
        1 => Just(Word::Refresh),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Word::Tampered(i, b)),
        2 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Word::Bytes),
    ]
}

fn separator() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(b" ".to_vec()),
        1 => Just(b"  ".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b" \t ".to_vec()),
        1 => Just(b"".to_vec()),
        1 => Just(b",".to_vec()),
    ]
}

/// A header value: words and separators, sometimes padded.
fn header_value() -> impl Strategy<Value = Vec<(Vec<u8>, Word)>> {
    prop::collection::vec((separator(), word()), 0..5)
}

fn render(parts: &[(Vec<u8>, Word)], access: &str, refresh: &str, leading: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (sep, word)) in parts.iter().enumerate() {
        if i > 0 || leading {
            out.extend_from_slice(sep);
        }
        match word {
            Word::Scheme(s) => out.extend_from_slice(s.as_bytes()),
            Word::Access => out.extend_from_slice(access.as_bytes()),
            Word::Refresh => out.extend_from_slice(refresh.as_bytes()),
            Word::Tampered(at, byte) => {
                let mut token = access.as_bytes().to_vec();
                let at = at % token.len();
                token[at] = *byte;
                out.extend_from_slice(&token);
            }
            Word::Bytes(bytes) => out.extend_from_slice(bytes),
        }
    }
    out
}

/// simplejwt's `get_raw_token` on a header value: `None` for no header of ours, `Some(Err)`
/// for a malformed one, else the token bytes.
fn model(value: &[u8], types: &[&str]) -> Option<Result<Vec<u8>, ()>> {
    let words: Vec<&[u8]> = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let scheme = words.first()?;
    if !types.iter().any(|t| t.as_bytes() == *scheme) {
        return None;
    }
    match words.as_slice() {
        [_, token] => Some(Ok(token.to_vec())),
        _ => Some(Err(())),
    }
}

#[test]
fn authorization_headers_parse_as_simplejwt_and_never_fail_the_server() {
    let rt = runtime();
    let (app, access, refresh) = rt.block_on(async {
        let app = TestApp::builder()
            .settings(|s| s.auth_header_types = vec!["Bearer".into(), "JWT".into()])
            .nest("/api", api_routes())
            .build()
            .await;
        app.create_user("ada@example.com", PASSWORD).await;
        let login = app
            .client()
            .post("/api/token/")
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await;
        login.assert_status(200);
        (app, login.field("access"), login.field("refresh"))
    });
    let tessera = &app.tessera;
    let strategy = (
        header_value(),
        any::<bool>(),
        prop::option::of(header_value()),
    );
    fuzz("auth_header", 300, strategy, |(parts, leading, second)| {
        let value = render(&parts, &access, &refresh, leading);
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            // Not something HTTP can carry (control characters).
            return Ok(());
        };
        let mut request = Request::builder().uri("/api/auth/profile/");
        request = request.header(header::AUTHORIZATION, value.clone());
        if let Some(second) = &second
            && let Ok(second) = HeaderValue::from_bytes(&render(second, &access, &refresh, false))
        {
            request = request.header(header::AUTHORIZATION, second);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        let (parts_of_request, _) = request.into_parts();

        // The parser, against the model (the first header line is the one read).
        let parsed = raw_token(tessera, &parts_of_request);
        match (model(value.as_bytes(), &["Bearer", "JWT"]), &parsed) {
            (None, Ok(None)) => {}
            (Some(Err(())), Err(_)) => {}
            (Some(Ok(token)), Ok(Some(raw))) => prop_assert_eq!(token.as_slice(), raw.as_bytes()),
            (Some(Ok(token)), Err(_)) => prop_assert!(
                std::str::from_utf8(&token).is_err(),
                "a readable token was refused: {:?}",
                value
            ),
            (expected, got) => {
                return Err(TestCaseError::fail(format!(
                    "{value:?}: the model says {expected:?}, raw_token says {got:?}"
                )));
            }
        }
        let validated = authenticate_token(tessera, &parts_of_request);
        if let Ok(Some(_)) = &validated {
            prop_assert_eq!(parsed.ok().flatten(), Some(access.as_str()));
        }

        // The same request through the application.
        rt.block_on(async {
            let mut request = app
                .client()
                .get("/api/auth/profile/")
                .header(header::AUTHORIZATION, value.clone());
            if let Some(second) = &second
                && let Ok(second) =
                    HeaderValue::from_bytes(&render(second, &access, &refresh, false))
            {
                request = request.header(header::AUTHORIZATION, second);
            }
            let response = request.send().await;
            let status = response.status().as_u16();
            if status == 200 {
                prop_assert!(matches!(validated, Ok(Some(_))), "200 for {:?}", value);
                return Ok(());
            }
            check_refusal(
                status,
                response.bytes(),
                &format!("Authorization {value:?}"),
            )?;
            prop_assert!(status == 401 || status == 403, "{} for {:?}", status, value);
            Ok(())
        })
    });
}
