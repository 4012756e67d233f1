//! The server's throttle settings (a login throttle of 5 per minute on by default, invalid rates refused when the configuration loads), liveness,
//! and the Prometheus metrics.
//!
//! The metrics recorder is process-wide and the tests run side by side, so metrics are
//! checked for series that must be there, never for exact counts.

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use tessera_server::config::Config;

use crate::helpers::{PASSWORD, TestApp};

const FORBIDDEN: &str = "You do not have permission to perform this action.";

/// `GET /metrics` with these extra headers: status, `Content-Type` and text.
async fn metrics(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = app.client().get("/metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().to_owned())
}

/// The lines of series `name` whose labels include every one of `labels`.
fn series<'a>(text: &'a str, name: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split_once(['{', ' '])
                .is_some_and(|(series, _)| series == name)
        })
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .collect()
}

#[track_caller]
fn assert_series(text: &str, name: &str, labels: &[&str]) {
    assert!(
        !series(text, name, labels).is_empty(),
        "no {name} with {labels:?} in:\n{text}"
    );
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value, HeaderMap) {
    app.post("/api/token/", json!({"email": email, "password": password}))
        .await
}

// ---- liveness ----

#[tokio::test]
async fn healthz_is_liveness_and_answers_while_the_store_is_down() {
    let app = TestApp::build().await;
    let (status, body, _) = app.get("/healthz", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    app.tessera.auth().store().close().await;

    let (status, body, _) = app.get("/healthz", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, _, headers) = app.get("/readyz", None).await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn readyz_reports_the_store_and_its_migrations() {
    let app = TestApp::build().await;
    let (status, body, _) = app.get("/readyz", None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ok", "store": "ok", "migrations": "applied"})
        )
    );

    // A migration this build knows goes missing (a database restored from an old backup).
    app.execute_sql(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    let (status, body, headers) = app.get("/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (&body["store"], &body["migrations"]),
        (&json!("ok"), &json!("pending"))
    );
    assert_eq!(
        body["detail"],
        "The database lacks migrations; run `tessera migrate`."
    );
    assert!(headers.contains_key("retry-after"));
}

// ---- metrics ----

#[tokio::test]
async fn metrics_count_requests_logins_refreshes_reuse_and_throttling() {
    let app = TestApp::build_with(|config| {
        config.jwt.refresh_reuse_grace = Duration::ZERO;
    })
    .await;
    app.create_user("ada@example.com").await;

    let (status, body, _) = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh"].as_str().unwrap().to_owned();
    let (status, _, _) = login(&app, "ada@example.com", "wrong").await;
    assert_eq!(status, 401);
    let (status, _, _) = app
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 200);
    // The same refresh token again: reuse.
    let (status, body, _) = app
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 401, "{body}");
    for _ in 0..3 {
        assert_eq!(login(&app, "ada@example.com", PASSWORD).await.0, 200);
    }
    // The sixth login within the minute.
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.0, 429);

    let (status, content_type, text) = metrics(&app, &[]).await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for status in ["200", "401", "429"] {
        assert_series(
            &text,
            "tessera_http_requests_total",
            &[
                r#"method="POST""#,
                r#"route="/api/token/""#,
                &format!(r#"status="{status}""#),
            ],
        );
    }
    assert_series(
        &text,
        "tessera_http_requests_total",
        &[r#"route="/api/token/refresh/""#, r#"status="401""#],
    );
    assert_series(
        &text,
        "tessera_http_request_duration_seconds_bucket",
        &[r#"route="/api/token/""#, "le="],
    );
    assert_series(
        &text,
        "tessera_http_request_duration_seconds_count",
        &[r#"route="/api/token/""#],
    );
    assert_series(&text, "tessera_logins_total", &[r#"outcome="success""#]);
    assert_series(&text, "tessera_logins_total", &[r#"outcome="failure""#]);
    assert_series(&text, "tessera_refreshes_total", &[r#"outcome="success""#]);
    assert_series(&text, "tessera_refreshes_total", &[r#"outcome="refused""#]);
    assert_series(&text, "tessera_reuse_detected_total", &[]);
    assert_series(&text, "tessera_throttled_total", &[r#"scope="login""#]);
    assert_series(&text, "tessera_hash_queue_depth", &[]);
    assert_series(&text, "tessera_store_connections", &[r#"state="in_use""#]);
    assert_series(&text, "tessera_store_connections", &[r#"state="idle""#]);
    let max = series(&text, "tessera_store_connections_max", &[]);
    assert!(
        max.iter().any(|line| line.ends_with(" 11")),
        "ten reading connections and SQLite's one writer: {max:?}"
    );
}

#[tokio::test]
async fn without_a_metrics_token_only_local_clients_through_no_proxy_read_metrics() {
    let app = TestApp::build().await;

    let (status, _, text) = metrics(&app, &[]).await;
    assert_eq!(status, 200, "{text}");
    // A request that came through a proxy is not local, whatever its socket says.
    let (status, content_type, text) = metrics(&app, &[("x-forwarded-for", "127.0.0.1")]).await;
    assert_eq!(status, 403);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"detail": FORBIDDEN})
    );
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_reads_metrics() {
    let app = TestApp::build_with(|config| {
        config.metrics_token = Some("scrape-me-9f2c1e7a".into());
    })
    .await;

    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token")],
        vec![("authorization", "Bearer scrape-me-9f2c1e7")],
        vec![("authorization", "scrape-me-9f2c1e7a")],
        vec![("authorization", "Basic scrape-me-9f2c1e7a")],
    ] {
        let (status, _, text) = metrics(&app, &headers).await;
        assert_eq!(status, 403, "{headers:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"detail": FORBIDDEN})
        );
    }
    let (status, content_type, text) =
        metrics(&app, &[("authorization", "Bearer scrape-me-9f2c1e7a")]).await;
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    // Through a proxy too: the token is what counts.
    let (status, _, _) = metrics(
        &app,
        &[
            ("authorization", "Bearer scrape-me-9f2c1e7a"),
            ("x-forwarded-for", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(status, 200);
}

// ---- the login throttle ----

#[tokio::test]
async fn by_default_the_sixth_login_from_one_address_within_a_minute_is_throttled() {
    assert_eq!(
        Config::default().throttling.throttle_rates,
        [
            ("api_key_create".to_owned(), "20/hour".to_owned()),
            ("email_confirm".to_owned(), "30/hour".to_owned()),
            ("email_recipient".to_owned(), "5/hour".to_owned()),
            ("email_request".to_owned(), "20/hour".to_owned()),
            ("login".to_owned(), "5/min".to_owned()),
            ("mfa".to_owned(), "5/min".to_owned()),
            ("password_change".to_owned(), "10/hour".to_owned()),
            ("register".to_owned(), "10/hour".to_owned()),
            ("social".to_owned(), "60/min".to_owned()),
            ("ws_ticket".to_owned(), "60/min".to_owned()),
        ]
        .into()
    );
    let app = TestApp::build().await;
    app.create_user("ada@example.com").await;

    // Failed logins count as well.
    assert_eq!(login(&app, "ada@example.com", "wrong").await.0, 401);
    for _ in 0..4 {
        assert_eq!(login(&app, "ada@example.com", PASSWORD).await.0, 200);
    }
    let (status, body, headers) = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=60).contains(&wait), "Retry-After: {wait}");
    assert_eq!(
        body,
        json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")})
    );
    let (status, _, _) = app
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 429);

    // Another address has its own budget.
    let other = app.client().address([127, 0, 0, 2]);
    let response = other
        .post("/api/token/")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

// ---- configuration ----

#[test]
fn an_invalid_rate_is_refused_when_the_configuration_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, "throttle_rates = { login = \"5/fortnight\" }\n").unwrap();
    let error = Config::load_from(Some(&file), &[]).unwrap_err().to_string();
    assert!(
        error.contains("throttle_rates") && error.contains("5/fortnight"),
        "{error}"
    );

    let vars = [(
        "TESSERA_THROTTLE_RATES".to_owned(),
        "{anon = \"lots\"}".to_owned(),
    )];
    let error = Config::load_from(None, &vars).unwrap_err().to_string();
    assert!(error.contains("throttle_rates"), "{error}");
}

#[test]
fn throttle_settings_load_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(
        &file,
        "throttle_rates = { login = \"10/min\", register = \"3/hour\", anon = \"100/day\" }\nnum_proxies = 1\n",
    )
    .unwrap();
    let config = Config::load_from(Some(&file), &[]).unwrap();
    assert_eq!(config.throttling.num_proxies, Some(1));
    assert_eq!(
        config.throttling.throttle_rates,
        [
            ("anon".to_owned(), "100/day".to_owned()),
            ("api_key_create".to_owned(), "20/hour".to_owned()),
            ("email_confirm".to_owned(), "30/hour".to_owned()),
            ("email_recipient".to_owned(), "5/hour".to_owned()),
            ("email_request".to_owned(), "20/hour".to_owned()),
            ("login".to_owned(), "10/min".to_owned()),
            ("mfa".to_owned(), "5/min".to_owned()),
            // A default the file does not name stays.
            ("password_change".to_owned(), "10/hour".to_owned()),
            ("register".to_owned(), "3/hour".to_owned()),
            ("social".to_owned(), "60/min".to_owned()),
            ("ws_ticket".to_owned(), "60/min".to_owned()),
        ]
        .into()
    );

    let vars: Vec<(String, String)> = [
        ("TESSERA_NUM_PROXIES", "2"),
        ("TESSERA_THROTTLE_RATES", "{login = \"20/min\"}"),
        ("TESSERA_LOGIN_FAILURE_LIMIT", "7"),
        ("TESSERA_HASH_QUEUE_LIMIT", "8"),
        ("TESSERA_METRICS_TOKEN", "12345"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let config = Config::load_from(None, &vars).unwrap();
    assert_eq!(config.throttling.num_proxies, Some(2));
    assert_eq!(
        config.throttling.throttle_rates,
        [
            ("api_key_create".to_owned(), "20/hour".to_owned()),
            ("email_confirm".to_owned(), "30/hour".to_owned()),
            ("email_recipient".to_owned(), "5/hour".to_owned()),
            ("email_request".to_owned(), "20/hour".to_owned()),
            ("login".to_owned(), "20/min".to_owned()),
            ("mfa".to_owned(), "5/min".to_owned()),
            ("password_change".to_owned(), "10/hour".to_owned()),
            ("register".to_owned(), "10/hour".to_owned()),
            ("social".to_owned(), "60/min".to_owned()),
            ("ws_ticket".to_owned(), "60/min".to_owned()),
        ]
        .into()
    );
    assert_eq!(config.throttling.login_failure_limit, 7);
    assert_eq!(config.throttling.hash_queue_limit, 8);
    assert_eq!(
        config.metrics_token.as_ref().map(|t| t.expose().to_owned()),
        Some("12345".to_owned())
    );
}
