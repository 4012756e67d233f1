//! `POST /api/auth/ws-ticket/`: single-use WebSocket tickets for the caller, tied to their
//! session. (The WebSocket handshake itself is tested over a real socket in demo-api.)

use axum::http::Method;
use serde_json::json;
use tessera_axum::AuthError;

use crate::helpers::{
    Api, CookieApi, MetricsProbe, NOT_PROVIDED, PASSWORD, browser_app, csrf_failed,
};

const ADA: &str = "ada@example.com";
const TICKET: &str = "/api/auth/ws-ticket/";

#[tokio::test]
async fn a_ticket_is_issued_to_the_caller_and_redeemed_once() {
    let app = browser_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;

    let reply = app.post_bearer(TICKET, &pair.access, &json!({})).await;
    let body = reply.ok();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["expires_in"], 30);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let ticket = body["ticket"].as_str().unwrap();
    assert_eq!(ticket.len(), 64);

    let probe = MetricsProbe::default();
    let _recorder = probe.install();
    let auth = app.tessera.auth();
    assert_eq!(auth.redeem_ws_ticket(ticket).await.unwrap().id, ada.id);
    assert!(matches!(
        auth.redeem_ws_ticket(ticket).await,
        Err(AuthError::InvalidTicket)
    ));
    assert_eq!(
        probe.counter("tessera_ws_ticket_refused_total{reason=\"unknown\"}"),
        1
    );
    // Thirty seconds, by the clock.
    let late = app.post_bearer(TICKET, &pair.access, &json!({})).await.ok();
    app.advance(30);
    assert!(
        auth.redeem_ws_ticket(late["ticket"].as_str().unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn logging_out_voids_the_sessions_tickets() {
    let app = browser_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let body = app.post_bearer(TICKET, &pair.access, &json!({})).await.ok();
    app.logout(&pair.access, &pair.refresh).await.ok();
    assert!(matches!(
        app.tessera
            .auth()
            .redeem_ws_ticket(body["ticket"].as_str().unwrap())
            .await,
        Err(AuthError::InvalidTicket)
    ));
}

#[tokio::test]
async fn anonymous_callers_are_refused_and_only_post_is_served() {
    let app = browser_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    app.post_json(TICKET, &json!({}))
        .await
        .assert(401, NOT_PROVIDED);
    let pair = app.login(ADA, PASSWORD).await;
    app.bearer(Method::GET, TICKET, &pair.access, None)
        .await
        .assert_status(405);
}

#[tokio::test]
async fn a_cookie_authenticated_request_passes_the_csrf_checks() {
    let app = browser_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let cookies = app.cookie_session(ADA, PASSWORD).await;
    let jar = [
        ("access_token", cookies.access.as_str()),
        ("csrftoken", cookies.csrf.as_str()),
    ];
    let evil = app
        .with_cookies(Method::POST, TICKET, &jar)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site");
    app.send(evil).await.assert(
        403,
        &csrf_failed(
            "Origin checking failed - https://evil.example does not match any trusted origins.",
        ),
    );
    let own = app
        .with_cookies(Method::POST, TICKET, &jar)
        .header("sec-fetch-site", "same-origin")
        .header("x-csrftoken", cookies.csrf.as_str());
    assert_eq!(app.send(own).await.ok()["expires_in"], 30);
}
