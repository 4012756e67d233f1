//! The whole application over HTTP: index, health, profile, conventions, and the README's
//! walkthrough.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn the_index_names_the_service_and_its_routes() {
    let app = TestApp::build().await;
    let (status, body, _) = app.get("/", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Tessera");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["links"]["token_obtain_pair"], "/api/token/");
    assert_eq!(body["links"]["health"], "/healthz");
    assert_eq!(body["links"]["ws_ticket"], "/api/auth/ws-ticket/");
}

#[tokio::test]
async fn configured_paths_move_the_token_views_and_the_api_and_the_index_says_where() {
    let app = TestApp::build_with(|config| {
        config.routes.prefix = "/api/v1/".into();
        config.routes.token_obtain = "/gettoken/".into();
        config.routes.token_refresh = "/refreshtoken/".into();
        config.routes.token_sliding = String::new();
        config.accounts.token_obtain.response_user = vec!["id".into(), "email".into()];
    })
    .await;
    let user = app.create_user("ada@example.com").await;
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});

    let (status, body, _) = app.post("/gettoken/", credentials.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"],
        json!({"id": user.id, "email": "ada@example.com"})
    );
    let (status, _, _) = app
        .post("/refreshtoken/", json!({"refresh": body["refresh"]}))
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = app.post("/api/v1/auth/login/", credentials.clone()).await;
    assert_eq!(status, 200);
    for gone in ["/api/token/", "/api/auth/login/", "/api/v1/token/sliding/"] {
        let (status, _, _) = app.post(gone, credentials.clone()).await;
        assert_eq!(status, 404, "{gone}");
    }
    // The cookie login's refresh cookie goes to the moved auth routes.
    let (status, _, headers) = app.post("/api/v1/auth/cookie/login/", credentials).await;
    assert_eq!(status, 200);
    let refresh_cookie = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("refresh_token="))
        .unwrap()
        .to_owned();
    assert!(
        refresh_cookie.contains("Path=/api/v1/auth/"),
        "{refresh_cookie}"
    );

    let (_, index, _) = app.get("/", None).await;
    assert_eq!(index["links"]["token_obtain_pair"], "/gettoken/");
    assert_eq!(index["links"]["token_refresh"], "/refreshtoken/");
    assert_eq!(index["links"]["token_verify"], "/api/v1/token/verify/");
    assert_eq!(index["links"]["login"], "/api/v1/auth/login/");
    assert!(
        index["links"].get("token_obtain_sliding").is_none(),
        "{index}"
    );
    // The account page calls the auth routes where they moved.
    let (status, page, _) = app.get("/account/", None).await;
    assert_eq!(status, 200);
    let page = page.as_str().unwrap_or_default().to_owned();
    assert!(page.contains(r#"data-auth-api="/api/v1/auth/""#), "{page}");
}

#[tokio::test]
async fn every_path_the_server_keeps_for_itself_is_served() {
    let app = TestApp::build().await;
    for own in tessera_server::config::SERVER_PATHS {
        let path = match own.strip_suffix('*') {
            Some(under) if under.ends_with("/.well-known/") => format!("{under}jwks.json"),
            Some(under) => format!("{under}app.js"),
            None => (*own).to_owned(),
        };
        let (status, _, _) = app.get(&path, None).await;
        assert_ne!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn readyz_answers_ok_while_the_store_answers_and_503_after() {
    let app = TestApp::build().await;
    let (status, body, _) = app.get("/readyz", None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ok", "store": "ok", "migrations": "applied"})
        )
    );
    app.tessera.auth().store().close().await;
    let (status, body, headers) = app.get("/readyz", None).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["store"], "unreachable");
    assert_eq!(headers["retry-after"], "5");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_unknown_routes_are_drf_404s() {
    let app = TestApp::build().await;
    let (status, body, headers) = app.get("/nope/", None).await;
    assert_eq!((status, body), (404, json!({"detail": "Not found."})));
    assert_eq!(headers["x-request-id"].to_str().unwrap().len(), 36);
    let given = app
        .client()
        .get("/healthz")
        .header("x-request-id", "trace-me-123")
        .send()
        .await;
    assert_eq!(given.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn options_lists_the_allowed_methods() {
    let app = TestApp::build().await;
    let response = app.client().options("/api/token/").send().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["allow"], "POST, OPTIONS");
    let (status, body, headers) = app.get("/api/token/refresh/", None).await;
    assert_eq!(
        (status, body),
        (405, json!({"detail": "Method \"GET\" not allowed."}))
    );
    assert_eq!(headers["allow"], "POST, OPTIONS");
}

#[tokio::test]
async fn the_profile_needs_a_token_and_shows_the_user_object() {
    let app = TestApp::build().await;
    let user = app.create_user("ada@example.com").await;
    let (status, body, headers) = app.get("/api/auth/profile/", None).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"api\"");

    let (_, tokens, _) = app
        .post(
            "/api/token/",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    let (status, body, _) = app
        .get("/api/auth/profile/", tokens["access"].as_str())
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "id": user.id,
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "full_name": "Ada Lovelace",
            "is_active": true,
            "email_verified": false,
            "date_joined": "2026-11-23T14:50:47.123456Z",
        })
    );
}

/// The README's curl walkthrough, step by step, with the server's default settings.
#[tokio::test]
async fn the_readme_walkthrough_works() {
    let app = TestApp::build().await;
    app.create_user("Admin@Example.COM").await;

    // Obtain: the domain part of the e-mail is case-insensitive.
    let (status, tokens, _) = app
        .post(
            "/api/token/",
            json!({"email": "Admin@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    let keys: Vec<_> = tokens.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["refresh", "access"]);
    let (access, refresh) = (
        tokens["access"].as_str().unwrap(),
        tokens["refresh"].as_str().unwrap(),
    );

    // A protected route.
    let (status, profile, _) = app.get("/api/auth/profile/", Some(access)).await;
    assert_eq!(
        (status, profile["email"].as_str()),
        (200, Some("Admin@example.com"))
    );

    // Refresh rotates (the server's default): a new pair.
    let (status, rotated, _) = app
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 200);
    let new_refresh = rotated["refresh"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);

    // Verify.
    let (status, body, _) = app
        .post("/api/token/verify/", json!({"token": rotated["access"]}))
        .await;
    assert_eq!((status, body), (200, json!({})));

    // Blacklist (logout), then the refresh token is dead.
    let (status, body, _) = app
        .post("/api/token/blacklist/", json!({"refresh": new_refresh}))
        .await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body, _) = app
        .post("/api/token/refresh/", json!({"refresh": new_refresh}))
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        )
    );
    let (status, body, _) = app
        .post("/api/token/verify/", json!({"token": new_refresh}))
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"non_field_errors": ["Token is blacklisted"]}))
    );
}

#[tokio::test]
async fn server_tokens_have_the_seed_services_lifetimes() {
    let app = TestApp::build().await;
    app.create_user("a@example.com").await;
    let (_, tokens, _) = app
        .post(
            "/api/token/",
            json!({"email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    let backend = app.tessera.auth().backend();
    let now = app.tessera.auth().now();
    let access = backend
        .decode(
            &tessera_core::TokenKind::access(),
            tokens["access"].as_str().unwrap(),
            now,
        )
        .unwrap();
    let refresh = backend
        .decode(
            &tessera_core::TokenKind::refresh(),
            tokens["refresh"].as_str().unwrap(),
            now,
        )
        .unwrap();
    let lifetime = |t: &tessera_core::Token| {
        t.epoch_claim("exp").unwrap().as_secs() - t.epoch_claim("iat").unwrap().as_secs()
    };
    assert_eq!(lifetime(&access), 15 * 60);
    assert_eq!(lifetime(&refresh), 7 * 24 * 3600);
    // update_last_login is on for the server.
    let user = app
        .tessera
        .auth()
        .store()
        .user_by_email("a@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(user.last_login.is_some());
}
