//! docs/API.md §1: conventions every route follows.

use axum::http::HeaderValue;
use axum::http::Method;
use serde_json::json;

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT, NOW, PASSWORD, Records, WWW_AUTHENTICATE, token_app, token_error,
};

const REQUIRED_BOTH: &str =
    r#"{"email":["This field is required."],"password":["This field is required."]}"#;

#[tokio::test]
async fn unknown_route_is_404_not_found() {
    let app = token_app().build().await;

    app.get_auth("/api/nope/", None)
        .await
        .assert(404, r#"{"detail":"Not found."}"#);
    app.post_json("/api/token/nope/", &json!({}))
        .await
        .assert(404, r#"{"detail":"Not found."}"#);
}

#[tokio::test]
async fn get_on_a_post_route_is_405_with_allow_listing_post() {
    let app = token_app().build().await;

    for path in [
        "/api/token/",
        "/api/token/refresh/",
        "/api/token/verify/",
        "/api/token/blacklist/",
    ] {
        let reply = app.get_auth(path, None).await;

        reply.assert(405, r#"{"detail":"Method \"GET\" not allowed."}"#);
        let allow = reply.header("allow").unwrap_or_default();
        let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert!(
            methods.contains(&"POST") && methods.contains(&"OPTIONS"),
            "Allow: {allow:?}"
        );
    }
}

#[tokio::test]
async fn other_wrong_methods_name_themselves_in_the_405() {
    let app = token_app().build().await;

    let reply = app.send(app.request(Method::DELETE, "/api/token/")).await;

    reply.assert(405, r#"{"detail":"Method \"DELETE\" not allowed."}"#);
    assert!(reply.header("allow").is_some_and(|a| a.contains("POST")));
}

#[tokio::test]
async fn options_answers_200_with_allow() {
    let app = token_app().build().await;

    let reply = app.send(app.request(Method::OPTIONS, "/api/token/")).await;

    assert_eq!(reply.status(), 200, "{}", reply.text());
    let allow = reply.header("allow").unwrap_or_default();
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    assert!(
        methods.contains(&"POST") && methods.contains(&"OPTIONS"),
        "Allow: {allow:?}"
    );
}

#[tokio::test]
async fn text_plain_body_is_415_with_the_media_type_named() {
    let app = token_app().build().await;

    let reply = app
        .post_body("/api/token/", "text/plain", "email=a@x.com")
        .await;

    reply.assert(
        415,
        r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
    );
}

#[tokio::test]
async fn malformed_json_is_400_json_parse_error() {
    let app = token_app().build().await;

    let reply = app
        .post_body("/api/token/", "application/json", r#"{"email": "a@x.com","#)
        .await;

    assert_eq!(reply.status(), 400, "{}", reply.text());
    assert_eq!(reply.keys(), ["detail"]);
    let detail = reply.field("detail");
    assert!(
        detail.starts_with("JSON parse error - ") && detail.len() > "JSON parse error - ".len(),
        "{detail}"
    );
}

#[tokio::test]
async fn json_that_is_not_an_object_is_400_non_field_errors_naming_its_type() {
    let app = token_app().build().await;

    for (body, kind) in [
        ("[1, 2]", "list"),
        (r#""text""#, "str"),
        ("12", "int"),
        ("true", "bool"),
    ] {
        let reply = app.post_body("/api/token/", "application/json", body).await;

        let expected = format!(
            r#"{{"non_field_errors":["Invalid data. Expected a dictionary, but got {kind}."]}}"#
        );
        reply.assert(400, &expected);
    }
}

#[tokio::test]
async fn form_urlencoded_body_obtains_a_pair() {
    let app = token_app().build().await;
    app.create_user("a@x.com", "p w+&=").await;

    let reply = app
        .send(
            app.request(Method::POST, "/api/token/")
                .form(&[("email", "a@x.com"), ("password", "p w+&=")]),
        )
        .await;

    assert_eq!(reply.ok().as_object().map(|o| o.len()), Some(2));
    assert_eq!(reply.keys(), ["refresh", "access"]);
}

#[tokio::test]
async fn multipart_body_obtains_a_pair() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@x.com\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{PASSWORD}\r\n--XyZ--\r\n"
    );

    let reply = app
        .post_body("/api/token/", "multipart/form-data; boundary=XyZ", body)
        .await;

    reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access"]);
}

#[tokio::test]
async fn empty_body_gives_required_errors_in_field_order() {
    let app = token_app().build().await;

    app.send(app.request(Method::POST, "/api/token/"))
        .await
        .assert(400, REQUIRED_BOTH);
    app.post_body("/api/token/", "application/json", "")
        .await
        .assert(400, REQUIRED_BOTH);
    app.post_json("/api/token/", &json!({}))
        .await
        .assert(400, REQUIRED_BOTH);
    app.post_body("/api/token/", "application/x-www-form-urlencoded", "")
        .await
        .assert(400, REQUIRED_BOTH);
}

#[tokio::test]
async fn only_the_missing_field_is_reported() {
    let app = token_app().build().await;

    app.post_json("/api/token/", &json!({"email": "a@x.com"}))
        .await
        .assert(400, r#"{"password":["This field is required."]}"#);
    app.post_json("/api/token/", &json!({"password": "pw"}))
        .await
        .assert(400, r#"{"email":["This field is required."]}"#);
}

#[tokio::test]
async fn null_fields_may_not_be_null() {
    let app = token_app().build().await;

    let reply = app
        .post_json("/api/token/", &json!({"email": null, "password": null}))
        .await;

    reply.assert(
        400,
        r#"{"email":["This field may not be null."],"password":["This field may not be null."]}"#,
    );
}

#[tokio::test]
async fn blank_fields_may_not_be_blank_and_white_space_is_blank_for_email() {
    let app = token_app().build().await;

    let reply = app
        .post_json("/api/token/", &json!({"email": "  ", "password": ""}))
        .await;

    reply.assert(
        400,
        r#"{"email":["This field may not be blank."],"password":["This field may not be blank."]}"#,
    );
}

#[tokio::test]
async fn a_number_given_for_email_is_taken_as_text() {
    let app = token_app().build().await;

    // No such account: the number was accepted as text, then the credentials failed.
    app.post_json("/api/token/", &json!({"email": 12, "password": PASSWORD}))
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);

    app.create_user("12", PASSWORD).await;
    app.post_json("/api/token/", &json!({"email": 12, "password": PASSWORD}))
        .await
        .ok();
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    let reply = app
        .post_json(
            "/api/token/",
            &json!({"email": "a@x.com", "password": PASSWORD, "is_staff": true, "x": [1]}),
        )
        .await;

    reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access"]);
}

const TOO_LARGE: &str = r#"{"detail":"Request body is too large (the limit is 65536 bytes)."}"#;

#[tokio::test]
async fn body_over_64_kib_is_413_and_not_processed() {
    let app = token_app()
        .settings(|s| s.update_last_login = true)
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let body = json!({"email": "a@x.com", "password": PASSWORD, "padding": "x".repeat(70 * 1024)});

    app.post_json("/api/token/", &body)
        .await
        .assert(413, TOO_LARGE);

    assert_eq!(app.user(user.id).await.last_login, None);
    assert!(
        app.tessera
            .auth()
            .store()
            .live_sessions(user.id, NOW)
            .await
            .expect("sessions")
            .is_empty()
    );
    app.post_json(
        "/api/token/refresh/",
        &json!({"refresh": "y".repeat(65 * 1024)}),
    )
    .await
    .assert(413, TOO_LARGE);
    let form = format!("email=a%40x.com&password={}", "p".repeat(65 * 1024));
    app.post_body("/api/token/", "application/x-www-form-urlencoded", form)
        .await
        .assert(413, TOO_LARGE);
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_read() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let empty = json!({"email": "a@x.com", "password": PASSWORD, "padding": ""}).to_string();
    let padding = 64 * 1024 - empty.len();
    let body = json!({"email": "a@x.com", "password": PASSWORD, "padding": "x".repeat(padding)})
        .to_string();
    assert_eq!(body.len(), 64 * 1024);

    app.post_body("/api/token/", "application/json", body)
        .await
        .ok();
}

#[tokio::test]
async fn every_401_carries_www_authenticate_bearer_realm_api() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    let replies = [
        app.obtain("a@x.com", "wrong").await,
        app.refresh("garbage").await,
        app.verify("garbage").await,
        app.blacklist("garbage").await,
        app.refresh_sliding("garbage").await,
        app.get_auth("/api/protected/", None).await,
        app.get_auth("/api/protected/", Some("Bearer")).await,
        app.get_bearer("/api/protected/", "garbage").await,
        app.get_auth("/api/admin/", None).await,
        app.get_auth("/api/stateless/", None).await,
    ];

    for reply in replies {
        assert_eq!(reply.status(), 401, "{}", reply.text());
        assert_eq!(
            reply.header("www-authenticate"),
            Some(WWW_AUTHENTICATE),
            "{}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn non_401_errors_carry_no_www_authenticate() {
    let app = token_app().build().await;

    let reply = app.post_json("/api/token/", &json!({})).await;

    assert_eq!(reply.status(), 400);
    assert_eq!(reply.header("www-authenticate"), None);
}

#[tokio::test]
async fn the_password_is_not_trimmed() {
    let app = token_app().build().await;
    app.create_user("a@x.com", " pw with spaces ").await;

    app.obtain("a@x.com", "pw with spaces")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.obtain("a@x.com", " pw with spaces")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.obtain("a@x.com", " pw with spaces ").await.ok();
}

#[tokio::test]
async fn a_password_of_only_white_space_is_kept() {
    let app = token_app().build().await;
    app.create_user("a@x.com", "   ").await;

    app.obtain("a@x.com", "  ")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.obtain("a@x.com", "   ").await.ok();
}

#[tokio::test]
async fn the_email_is_trimmed() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    app.obtain("  a@x.com\t", PASSWORD).await.ok();
}

#[tokio::test]
async fn responses_are_compact_json() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    let reply = app.obtain("a@x.com", PASSWORD).await;

    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text(), reply.json().to_string());
}

#[tokio::test]
async fn no_odd_input_produces_a_server_error() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let huge = "A".repeat(60 * 1024);
    let token_routes = [
        "/api/token/",
        "/api/token/refresh/",
        "/api/token/verify/",
        "/api/token/blacklist/",
    ];
    let more_token_routes = ["/api/token/sliding/", "/api/token/sliding/refresh/"];
    let bodies = [
        json!({"refresh": 12}),
        json!({"refresh": 1.5e300}),
        json!({"refresh": ["a"]}),
        json!({"refresh": {"a": 1}}),
        json!({"refresh": true}),
        json!({"token": {"a": 1}}),
        json!({"token": 12}),
        json!({"token": [null]}),
        json!({"token": huge}),
        json!({"refresh": huge}),
        json!({"refresh": "a.b.c"}),
        json!({"refresh": "..."}),
        json!({"refresh": "\u{0}\u{ffff}"}),
        json!({"token": "eyJhbGciOiJub25lIn0.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0."}),
        json!({"email": {"a": 1}, "password": ["x"]}),
        json!({"email": "a@x.com", "password": 12}),
        json!({"email": "\u{0}@\u{0}", "password": "\u{0}"}),
        json!({"email": "a@x.com", "password": "p".repeat(60 * 1024)}),
        json!({"email": huge, "password": PASSWORD}),
    ];
    for path in token_routes.iter().chain(&more_token_routes) {
        for body in &bodies {
            let reply = app.post_json(path, body).await;
            assert!(
                reply.status().as_u16() < 500,
                "{path} {body}: {} {}",
                reply.status(),
                reply.text()
            );
        }
        let raw_bodies: [(&[u8], &[u8]); 7] = [
            (b"application/json", b"\xff\xfe\x00"),
            (b"application/json", b"{\"refresh\": \"\xff\"}"),
            (
                b"application/x-www-form-urlencoded",
                b"refresh=%ff%fe&token=%00",
            ),
            (
                b"application/x-www-form-urlencoded",
                b"refresh=\xff&&=&token",
            ),
            (b"multipart/form-data", b"no boundary"),
            (b"multipart/form-data; boundary=b", b"--b\r\nbroken"),
            (b"application/json; charset=\xff", b"{}"),
        ];
        for (content_type, body) in raw_bodies {
            let content_type = HeaderValue::from_bytes(content_type).expect("header value");
            let request = app
                .request(Method::POST, path)
                .header("content-type", content_type)
                .body(body.to_vec());
            let reply = app.send(request).await;
            assert!(
                reply.status().as_u16() < 500,
                "{path} {body:?}: {} {}",
                reply.status(),
                reply.text()
            );
        }
    }

    let big_token = "x".repeat(16 * 1024);
    let headers: [&[u8]; 9] = [
        b"Bearer \xff\xfe",
        b"Bearer \x80abc",
        b"\xff\xfe \xfd",
        b"Bearer  ",
        b"Bearer a.b.c",
        b"Bearer ..",
        b"JWT x",
        b"Bearer\tabc",
        big_token.as_bytes(),
    ];
    for path in [
        "/api/protected/",
        "/api/stateless/",
        "/api/admin/",
        "/api/token/",
    ] {
        for value in headers {
            let value = HeaderValue::from_bytes(value).expect("header value");
            let reply = app
                .get_with_header(path, "authorization", value.clone())
                .await;
            assert!(
                reply.status().as_u16() < 500,
                "{path} {value:?}: {} {}",
                reply.status(),
                reply.text()
            );
        }
        let reply = app.get_bearer(path, &big_token).await;
        assert!(
            reply.status().as_u16() < 500,
            "{path}: {} {}",
            reply.status(),
            reply.text()
        );
    }
}

#[tokio::test]
async fn non_utf8_bytes_in_the_token_are_an_invalid_token() {
    let app = token_app().build().await;

    let value = HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("header value");
    let reply = app
        .get_with_header("/api/protected/", "authorization", value)
        .await;

    reply.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid"}]}"#,
    );
}

#[tokio::test]
async fn an_oversized_token_is_invalid_not_an_error() {
    let app = token_app().build().await;

    app.refresh(&"a".repeat(20 * 1024))
        .await
        .assert(401, &token_error("Token is invalid"));
    app.verify(&"a.b.c".repeat(4 * 1024))
        .await
        .assert(401, &token_error("Token is invalid"));
}
