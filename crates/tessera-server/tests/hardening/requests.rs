//! Request ids and `/metrics`, through the server's real router in process.

use crate::helpers::TestApp;

/// The `X-Request-Id` the server answers a `/healthz` sent with `id`.
async fn answered_id(app: &TestApp, id: &str) -> String {
    let response = app
        .client()
        .get("/healthz")
        .header("x-request-id", id)
        .send()
        .await;
    assert_eq!(response.status(), 200);
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_forged_request_id_is_replaced_and_a_plain_one_kept() {
    let app = TestApp::build().await;

    for forged in [
        "abc path=/api/admin/users/ status=200 method=DELETE",
        "id=1",
        &"a".repeat(65),
    ] {
        let answered = answered_id(&app, forged).await;
        assert_ne!(answered, forged);
        // A UUID the server made.
        assert_eq!(answered.len(), 36, "{answered}");
        assert!(
            answered.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
            "{answered}"
        );
    }
    for plain in ["trace-1.2_3", "0f8fad5b-d9cb-469f-a165-70867728950e"] {
        assert_eq!(answered_id(&app, plain).await, plain);
    }
}

/// `GET /metrics` with these headers: its status.
async fn metrics(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut request = app.client().get("/metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.status().as_u16()
}

#[tokio::test]
async fn a_local_request_that_names_a_forwarded_client_does_not_read_metrics() {
    // Debug mode, no token: local clients that came through no proxy only.
    let app = TestApp::build().await;
    assert_eq!(metrics(&app, &[]).await, 200);
    for header in [
        ("forwarded", "for=203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
        ("x-forwarded-for", "203.0.113.7"),
    ] {
        assert_eq!(metrics(&app, &[header]).await, 403, "{header:?}");
    }
}

#[tokio::test]
async fn outside_debug_mode_metrics_need_the_metrics_token() {
    let app = TestApp::build_with(|config| {
        config.debug = false;
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
    })
    .await;
    assert_eq!(
        metrics(&app, &[]).await,
        403,
        "a local client, no token set"
    );

    let app = TestApp::build_with(|config| {
        config.debug = false;
        config.mail.email_backend = tessera_auth::mail::EmailBackend::Off;
        config.metrics_token = Some("scrape-me-9f2c1e7a".into());
    })
    .await;
    assert_eq!(metrics(&app, &[]).await, 403);
    let bearer = ("authorization", "Bearer scrape-me-9f2c1e7a");
    assert_eq!(metrics(&app, &[bearer]).await, 200);
}
