//! The harness itself (`tessera_axum::testing`): what `TestClient` promises — DRF's
//! `APIClient` — checked against the application the other tests use.

use axum::http::header::AUTHORIZATION;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Api, NOT_PROVIDED, PASSWORD, Records, accounts_app, browser_app, token_app};

const ADA: &str = "ada@example.com";

#[tokio::test]
async fn force_authenticate_opens_a_real_session_that_outlives_its_access_token() {
    let app = accounts_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let client = app.client();

    client
        .get("/api/auth/profile/")
        .send()
        .await
        .assert(401, NOT_PROVIDED);
    client.force_authenticate(&ada).await;

    assert_eq!(
        client.get("/api/auth/profile/").send().await.ok()["email"],
        ADA
    );
    assert_eq!(app.session_count(&ada).await, 1, "no session was opened");
    // Past the access token's lifetime (5 minutes) a fresh one of the same session goes.
    app.advance(3_600);
    client.get("/api/auth/profile/").send().await.ok();
    assert_eq!(
        app.session_count(&ada).await,
        1,
        "another session was opened"
    );
    // A request's own header wins.
    client
        .get("/api/auth/profile/")
        .header(AUTHORIZATION, "Bearer not-a-token")
        .send()
        .await
        .assert_status(401);
    // No back door: a deactivated user is refused as in production.
    app.deactivate(&ada).await;
    client
        .get("/api/auth/profile/")
        .send()
        .await
        .assert_status(401);
    client.logout();
    client
        .get("/api/auth/profile/")
        .send()
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn credentials_go_with_every_request_until_taken_away() {
    let app = token_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let client = app.client();

    client.credentials(Some(&format!("Bearer {}", pair.access)));
    let expected = json!({"id": ada.id, "email": ADA});
    client
        .get("/api/protected/")
        .send()
        .await
        .assert_json(&expected);
    client
        .get("/api/protected/")
        .send()
        .await
        .assert_json(&expected);
    // Clients are independent; clones share their credentials.
    app.client()
        .get("/api/protected/")
        .send()
        .await
        .assert(401, NOT_PROVIDED);
    client
        .clone()
        .get("/api/protected/")
        .send()
        .await
        .assert_status(200);

    client.credentials(None);
    client
        .get("/api/protected/")
        .send()
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn cookies_are_kept_and_sent_back_like_a_browser_does() {
    let app = browser_app().build().await;
    app.create_named_user(ADA, "Ada", "Lovelace").await;
    let client = app.client();

    client
        .post("/api/auth/cookie/login/")
        .json(&json!({"email": ADA, "password": PASSWORD}))
        .send()
        .await
        .assert_status(200);
    let csrf = client.cookie("csrftoken").expect("the CSRF cookie");
    assert!(client.cookie("access_token").is_some());

    // The access cookie authenticates, so CSRF protection applies, as in a browser.
    assert_eq!(
        client.get("/api/auth/profile/").send().await.ok()["first_name"],
        "Ada"
    );
    client
        .patch("/api/auth/profile/")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"first_name": "Mallory"}))
        .send()
        .await
        .assert_status(403);
    let patched = client
        .patch("/api/auth/profile/")
        .header("origin", client.base_url())
        .header("x-csrftoken", &csrf)
        .json(&json!({"first_name": "Augusta"}))
        .send()
        .await;
    assert_eq!(patched.ok()["first_name"], "Augusta");

    // The logout's `Max-Age=0` cookies are dropped: the client is anonymous again.
    client
        .post("/api/auth/cookie/logout/")
        .header("x-csrftoken", &csrf)
        .json(&json!({}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(client.cookie("access_token"), None);
    client
        .get("/api/auth/profile/")
        .send()
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn the_app_sees_the_client_address_and_host() {
    let app = token_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let client = app.client().address([10, 1, 2, 3]);

    let reply = client
        .post("/api/token/")
        .json(&json!({"email": ADA, "password": PASSWORD}))
        .send()
        .await;

    let session = app.session_of(&reply.field("refresh")).await;
    assert_eq!(session.ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(client.base_url(), "http://testserver");
}

#[tokio::test]
async fn serve_answers_over_a_socket() {
    let app = token_app().build().await;
    let address = app.serve().await;

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /api/protected/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();

    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.ends_with(NOT_PROVIDED), "{answer}");
}

#[tokio::test]
async fn an_app_runs_on_postgresql_too() {
    let Some(database) =
        tessera_axum::testing::TestDatabase::postgres("harness::an_app_runs_on_postgresql_too")
            .await
    else {
        return;
    };
    let app = token_app().database(database).build().await;
    assert_eq!(app.database().engine(), tessera_store::Engine::Postgres);
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;

    app.get_bearer("/api/protected/", &pair.access).await.ok();
}
