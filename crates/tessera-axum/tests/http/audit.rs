//! the audit log. Each security event — logins and their failures,
//! lockouts, refreshes, reuse detection, logouts, password changes, staff and key actions —
//! is read back through `GET /api/admin/audit/` with who, from where and in which session;
//! staff only, DRF's filters and pagination; no token or password in the store or the log;
//! retention by the clock; failures counted; back-pressure instead of loss.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header::USER_AGENT;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tessera_auth::audit::Audit;
use tessera_auth::datetime::{DATETIME_FORMAT_ERROR, drf_datetime};
use tessera_axum::AuditSettings;
use tessera_store::{AuditFilter, NewUser, User};

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, CookieApi, MetricsProbe, NOT_FOUND, NOT_PROVIDED, NOW, PASSWORD, Pair,
    Records, Reply, TestApp, audit_app, cookie_header, str_claim,
};

const UA: &str = "audit-test/1.0 (X11; Linux)";
const STAFF: &str = "staff@example.com";
const ADA: &str = "ada@example.com";
const WRONG: &str = "hunter2 is not the password";
const NEW_PASSWORD: &str = "difference engine 1822";
const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

async fn audited_app() -> TestApp {
    audit_app().build().await
}

/// A staff member — a superuser, so that every staff action is theirs to take — and their
/// access token.
async fn staff(app: &TestApp) -> (User, String) {
    let user = app
        .create_user_with(
            NewUser {
                email: STAFF.into(),
                is_active: true,
                is_staff: true,
                is_superuser: true,
                ..NewUser::default()
            },
            PASSWORD,
        )
        .await;
    let access = app.login(STAFF, PASSWORD).await.access;
    (user, access)
}

/// A client on its own address that sends [`UA`].
struct Client {
    address: [u8; 4],
    ip: &'static str,
}

impl Client {
    fn new(ip: [u8; 4], text: &'static str) -> Self {
        Self {
            address: ip,
            ip: text,
        }
    }

    async fn send(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = app
            .client_from(self.address)
            .request(method, path)
            .header(USER_AGENT, UA);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        app.send(request).await
    }

    async fn post(&self, app: &TestApp, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.send(app, Method::POST, path, bearer, Some(body)).await
    }

    /// Logs in through `path` (`/api/token/` or `/api/auth/login/`); it must succeed.
    async fn login(&self, app: &TestApp, path: &str, email: &str, password: &str) -> Pair {
        let reply = self
            .post(
                app,
                path,
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        reply.ok();
        Pair {
            refresh: reply.field("refresh"),
            access: reply.field("access"),
        }
    }
}

/// `GET /api/admin/audit/<query>` as staff.
async fn audit(app: &TestApp, access: &str, query: &str) -> Reply {
    app.get_bearer(&format!("/api/admin/audit/{query}"), access)
        .await
}

/// The results of an audit page that must be a 200.
#[track_caller]
fn results(reply: &Reply) -> Vec<Value> {
    reply.ok()["results"].as_array().expect("results").clone()
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect()
}

fn sid(token: &str) -> String {
    str_claim(token, "sid")
}

/// Checks who, from where and in which session an event names.
#[track_caller]
fn assert_event(
    event: &Value,
    name: &str,
    outcome: &str,
    user: Option<i64>,
    client: &Client,
    session: Option<&str>,
) {
    assert_eq!(
        (
            event["event"].as_str(),
            event["outcome"].as_str(),
            event["user"].as_i64(),
            event["ip"].as_str(),
            event["user_agent"].as_str(),
            event["session"].as_str(),
        ),
        (
            Some(name),
            Some(outcome),
            user,
            Some(client.ip),
            Some(UA),
            session
        ),
        "{event}"
    );
}

#[tokio::test]
async fn every_step_of_a_session_is_recorded_with_the_client() {
    let app = audited_app().await;
    let (_, admin) = staff(&app).await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let client = Client::new([127, 0, 0, 7], "127.0.0.7");

    let first = client.login(&app, "/api/auth/login/", ADA, PASSWORD).await;
    let refreshed = client
        .post(
            &app,
            "/api/token/refresh/",
            None,
            json!({"refresh": first.refresh}),
        )
        .await;
    let rotated = refreshed.field("refresh");
    client
        .post(
            &app,
            "/api/auth/logout/",
            Some(&first.access),
            json!({"refresh": rotated}),
        )
        .await
        .ok();
    let second = client.login(&app, "/api/token/", ADA, PASSWORD).await;
    let third = client.login(&app, "/api/token/", ADA, PASSWORD).await;
    let ended = client
        .send(
            &app,
            Method::DELETE,
            &format!("/api/auth/sessions/{}/", sid(&second.refresh)),
            Some(&third.access),
            None,
        )
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT, "{}", ended.text());
    client
        .post(
            &app,
            "/api/auth/password/change/",
            Some(&third.access),
            json!({"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}),
        )
        .await
        .ok();
    let fourth = client
        .login(&app, "/api/auth/login/", ADA, NEW_PASSWORD)
        .await;
    client
        .post(
            &app,
            "/api/auth/logout/all/",
            Some(&fourth.access),
            json!({}),
        )
        .await
        .ok();

    let events = results(&audit(&app, &admin, &format!("?user={}", ada.id)).await);

    let me = Some(ada.id);
    let (s1, s2, s3, s4) = (
        sid(&first.refresh),
        sid(&second.refresh),
        sid(&third.refresh),
        sid(&fourth.refresh),
    );
    let expected = [
        ("session.logout_all", Some(&s4)),
        ("login.succeeded", Some(&s4)),
        ("account.password_changed", Some(&s3)),
        ("session.ended", Some(&s2)),
        ("login.succeeded", Some(&s3)),
        ("login.succeeded", Some(&s2)),
        ("session.logout", Some(&s1)),
        ("token.refreshed", Some(&s1)),
        ("login.succeeded", Some(&s1)),
    ];
    assert_eq!(events.len(), expected.len(), "{events:#?}");
    for (event, (name, session)) in events.iter().zip(expected) {
        assert_event(
            event,
            name,
            "success",
            me,
            &client,
            session.map(String::as_str),
        );
        assert_eq!(event["actor"], Value::Null);
    }
    assert_eq!(events[0]["detail"], json!({"sessions_ended": 1}));
    assert_eq!(events[2]["detail"], json!({"sessions_ended": 1}));
    assert_eq!(events[6]["detail"], json!({"reason": "logout"}));
    assert_eq!(events[8]["username"], ADA);
    assert_eq!(events[8]["at"], drf_datetime(NOW));
    let keys: Vec<&String> = events[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "at",
            "event",
            "outcome",
            "user",
            "actor",
            "username",
            "ip",
            "user_agent",
            "session",
            "detail"
        ]
    );
}

#[tokio::test]
async fn failed_and_locked_logins_are_failures_that_name_the_login_given() {
    let app = audit_app()
        .throttling(|throttling| {
            throttling.login_failure_limit = 3;
            throttling.login_lockout_base = Duration::from_secs(60);
        })
        .build()
        .await;
    let (staff_user, admin) = staff(&app).await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let client = Client::new([127, 0, 0, 8], "127.0.0.8");
    let attempt = |email: &'static str, password: &'static str| {
        client.post(
            &app,
            "/api/token/",
            None,
            json!({"email": email, "password": password}),
        )
    };

    for _ in 0..3 {
        assert_eq!(attempt(ADA, WRONG).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        attempt(ADA, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "locked"
    );
    assert_eq!(
        attempt("nobody@example.com", WRONG).await.status(),
        StatusCode::UNAUTHORIZED
    );
    client
        .post(
            &app,
            &format!("/api/admin/users/{}/unlock/", ada.id),
            Some(&admin),
            json!({}),
        )
        .await
        .ok();

    let failures = results(&audit(&app, &admin, "?outcome=failure").await);
    assert_eq!(
        names(&failures),
        [
            "login.failed",
            "login.locked",
            "account.locked",
            "login.failed",
            "login.failed",
            "login.failed"
        ]
    );
    assert_event(&failures[0], "login.failed", "failure", None, &client, None);
    assert_eq!(failures[0]["username"], "nobody@example.com");
    assert_eq!(failures[0]["detail"], json!({"reason": "unknown_account"}));
    assert_event(&failures[1], "login.locked", "failure", None, &client, None);
    assert_eq!(failures[1]["username"], ADA);
    assert_event(
        &failures[2],
        "account.locked",
        "failure",
        Some(ada.id),
        &client,
        None,
    );
    assert_eq!(failures[2]["detail"], json!({"seconds": 60}));
    for failed in &failures[3..] {
        assert_event(
            failed,
            "login.failed",
            "failure",
            Some(ada.id),
            &client,
            None,
        );
        assert_eq!(failed["username"], ADA);
        assert_eq!(failed["detail"], json!({"reason": "wrong_password"}));
    }

    let unlocked = results(&audit(&app, &admin, "?event=admin.user_unlocked").await);
    assert_eq!(unlocked.len(), 1);
    assert_event(
        &unlocked[0],
        "admin.user_unlocked",
        "success",
        Some(ada.id),
        &client,
        None,
    );
    assert_eq!(unlocked[0]["actor"], staff_user.id);
}

#[tokio::test]
async fn a_reused_refresh_token_is_recorded_with_whoever_presented_it() {
    let app = audited_app().await;
    let (_, admin) = staff(&app).await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    app.refresh(&pair.refresh).await.ok();
    app.advance(60); // past refresh_reuse_grace
    let thief = Client::new([127, 0, 0, 9], "127.0.0.9");

    let replay = thief
        .post(
            &app,
            "/api/token/refresh/",
            None,
            json!({"refresh": pair.refresh}),
        )
        .await;

    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let events = results(&audit(&app, &admin, "?event=token.reuse_detected").await);
    assert_eq!(events.len(), 1);
    assert_event(
        &events[0],
        "token.reuse_detected",
        "failure",
        Some(ada.id),
        &thief,
        Some(&sid(&pair.refresh)),
    );
}

#[tokio::test]
async fn staff_actions_and_key_changes_name_the_staff_member() {
    let app = audited_app().await;
    let (staff_user, admin) = staff(&app).await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let client = Client::new([127, 0, 0, 10], "127.0.0.10");
    let user_path = format!("/api/admin/users/{}/", ada.id);

    client
        .send(
            &app,
            Method::PATCH,
            &user_path,
            Some(&admin),
            Some(json!({"is_staff": true, "first_name": "Augusta"})),
        )
        .await
        .ok();
    client
        .post(
            &app,
            &format!("{user_path}revoke_sessions/"),
            Some(&admin),
            json!({}),
        )
        .await
        .ok();
    let generated = client
        .post(&app, "/api/admin/keys/", Some(&admin), json!({}))
        .await;
    assert_eq!(
        generated.status(),
        StatusCode::CREATED,
        "{}",
        generated.text()
    );
    let kid = generated.field("kid");
    client
        .post(&app, "/api/admin/keys/rotate/", Some(&admin), json!({}))
        .await
        .ok();
    client
        .post(
            &app,
            &format!("/api/admin/keys/{kid}/retire/"),
            Some(&admin),
            json!({}),
        )
        .await
        .ok();
    let deleted = client
        .send(&app, Method::DELETE, &user_path, Some(&admin), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let staff_events = results(&audit(&app, &admin, "?event=admin.").await);
    assert_eq!(
        names(&staff_events),
        [
            "admin.user_deleted",
            "admin.sessions_revoked",
            "admin.user_updated"
        ]
    );
    for event in &staff_events {
        let name = event["event"].as_str().unwrap();
        assert_event(event, name, "success", Some(ada.id), &client, None);
        assert_eq!(event["actor"], staff_user.id);
    }
    assert_eq!(
        staff_events[0]["username"], ADA,
        "a deleted account keeps its name"
    );
    assert_eq!(staff_events[1]["detail"], json!({"sessions_ended": 0}));
    assert_eq!(
        staff_events[2]["detail"],
        json!({"is_staff": true, "first_name": "Augusta"})
    );

    let key_events = results(&audit(&app, &admin, "?event=key.").await);
    assert_eq!(
        names(&key_events),
        ["key.retired", "key.rotated", "key.generated"]
    );
    for event in &key_events {
        let name = event["event"].as_str().unwrap();
        assert_event(event, name, "success", None, &client, None);
        assert_eq!(event["actor"], staff_user.id);
        assert_eq!(event["detail"]["kid"], kid.as_str(), "{event}");
        assert_eq!(event["detail"]["algorithm"], "EdDSA");
    }
}

#[tokio::test]
async fn registration_cookie_mode_sliding_tokens_and_the_blacklist_are_recorded() {
    let app = audited_app().await;
    let (_, admin) = staff(&app).await;

    app.register_ada().await;
    let browser = app.cookie_session(ADA, ACCOUNT_PASSWORD).await;
    let refresh_cookie = app.tessera.browser().auth_cookie_refresh_name.clone();
    let cookies = [(refresh_cookie.as_str(), browser.refresh.as_str())];
    let refreshed = app
        .send(
            app.request(Method::POST, "/api/auth/cookie/refresh/")
                .header("cookie", cookie_header(&cookies)),
        )
        .await;
    refreshed.ok();
    let rotated = refreshed.cookie(&refresh_cookie).value;
    app.send(
        app.request(Method::POST, "/api/auth/cookie/logout/")
            .header("cookie", cookie_header(&[(&refresh_cookie, &rotated)])),
    )
    .await
    .ok();
    let sliding = app
        .obtain_sliding(ADA, ACCOUNT_PASSWORD)
        .await
        .field("token");
    app.refresh_sliding(&sliding).await.ok();
    let pair = app.login(ADA, ACCOUNT_PASSWORD).await;
    app.blacklist(&pair.refresh).await.ok();

    let ada = app.user_by_email(ADA).await.expect("registered");
    // The verification mail of the registration is sent in the background, whenever the
    // outbox sender gets to it: its event has no fixed place.
    let events: Vec<Value> = results(&audit(&app, &admin, &format!("?user={}", ada.id)).await)
        .into_iter()
        .filter(|event| event["event"] != "email.verification_sent")
        .collect();
    assert_eq!(
        names(&events),
        [
            "session.logout",
            "login.succeeded",
            "token.refreshed",
            "login.succeeded",
            "session.logout",
            "token.refreshed",
            "login.succeeded",
            "login.succeeded",
            "account.registered",
        ]
    );
    let session_of = |event: &Value| event["session"].as_str().map(str::to_owned);
    assert_eq!(events[0]["detail"], json!({"reason": "blacklisted"}));
    assert_eq!(session_of(&events[0]), Some(sid(&pair.refresh)));
    assert_eq!(events[2]["detail"], json!({"kind": "sliding"}));
    assert_eq!(events[3]["detail"], json!({"kind": "sliding"}));
    assert_eq!(session_of(&events[2]), Some(sid(&sliding)));
    assert_eq!(events[4]["detail"], json!({"reason": "logout"}));
    assert_eq!(session_of(&events[4]), Some(sid(&browser.refresh)));
    assert_eq!(session_of(&events[5]), Some(sid(&browser.refresh)));
    assert_eq!(session_of(&events[6]), Some(sid(&browser.refresh)));
    assert_eq!(events[8]["username"], ADA);
    assert_eq!(events[8]["session"], Value::Null);
    assert!(events.iter().all(|e| e["ip"] == "127.0.0.1"));
}

#[tokio::test]
async fn only_staff_read_the_audit_log() {
    let app = audited_app().await;
    app.create_user(ADA, PASSWORD).await;
    let plain = app.login(ADA, PASSWORD).await;

    app.get_auth("/api/admin/audit/", None)
        .await
        .assert(401, NOT_PROVIDED);
    audit(&app, &plain.access, "").await.assert(403, FORBIDDEN);
    audit(&app, &plain.access, "?since=garbage")
        .await
        .assert(403, FORBIDDEN);
}

#[tokio::test]
async fn filters_and_pages_answer_like_drf() {
    let app = audited_app().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    for _ in 0..5 {
        app.advance(1);
        app.login(ADA, PASSWORD).await;
    }
    let (_, admin) = staff(&app).await;
    let host = app.base_url().trim_start_matches("http://").to_owned();
    let user = format!("?user={}", ada.id);

    let first = audit(&app, &admin, &format!("{user}&page_size=2")).await;
    let body = first.ok();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["count", "next", "previous", "results"]
    );
    assert_eq!(body["count"], 5);
    assert_eq!(
        body["next"],
        format!(
            "http://{host}/api/admin/audit/?user={}&page_size=2&page=2",
            ada.id
        )
    );
    assert_eq!(body["previous"], Value::Null);
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["results"][0]["at"],
        drf_datetime(NOW.add_secs(5)),
        "newest first"
    );

    let last = audit(&app, &admin, &format!("{user}&page_size=2&page=3"))
        .await
        .ok();
    assert_eq!(last["next"], Value::Null);
    assert_eq!(
        last["previous"],
        format!(
            "http://{host}/api/admin/audit/?user={}&page_size=2&page=2",
            ada.id
        )
    );
    assert_eq!(last["results"][0]["at"], drf_datetime(NOW.add_secs(1)));
    audit(&app, &admin, &format!("{user}&page_size=2&page=4"))
        .await
        .assert(404, r#"{"detail":"Invalid page."}"#);
    for size in ["1000", "0", "x"] {
        let all = audit(&app, &admin, &format!("{user}&page_size={size}"))
            .await
            .ok();
        assert_eq!(all["results"].as_array().unwrap().len(), 5, "{size}");
    }

    // since/until take DRF's datetimes, both ends included; a zone needs `%2B` in a URL.
    let since = drf_datetime(NOW.add_secs(2));
    let until = "2025-06-15T17:06:44%2B02:00"; // NOW + 4 s
    assert_eq!(drf_datetime(NOW.add_secs(4)), "2025-06-15T15:06:44Z");
    let window = audit(&app, &admin, &format!("{user}&since={since}&until={until}"))
        .await
        .ok();
    assert_eq!(window["count"], 3);

    let count = |query: String| {
        let app = &app;
        let admin = admin.clone();
        async move { audit(app, &admin, &query).await.ok()["count"].clone() }
    };
    assert_eq!(count(format!("{user}&event=login.")).await, 5);
    assert_eq!(count(format!("{user}&event=login.succeeded")).await, 5);
    assert_eq!(count(format!("{user}&event=login")).await, 0);
    assert_eq!(count(format!("{user}&outcome=failure")).await, 0);
    assert_eq!(count(format!("{user}&ip=127.0.0.1")).await, 5);
    assert_eq!(count(format!("{user}&ip=10.9.9.9")).await, 0);
    assert_eq!(
        count("?user=&outcome=".into()).await,
        6,
        "blank is absent: every login, the staff member's too"
    );

    audit(&app, &admin, "?since=yesterday")
        .await
        .assert(400, &json!({"since": [DATETIME_FORMAT_ERROR]}).to_string());
    assert_eq!(
        DATETIME_FORMAT_ERROR,
        "Datetime has wrong format. Use one of these formats instead: \
         YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
    );
    audit(
        &app,
        &admin,
        "?until=2025-13-01&ip=host&outcome=maybe&user=ada",
    )
    .await
    .assert(
        400,
        &json!({
            "user": ["A valid integer is required."],
            "outcome": ["\"maybe\" is not a valid choice."],
            "ip": ["Enter a valid IPv4 or IPv6 address."],
            "until": [DATETIME_FORMAT_ERROR],
        })
        .to_string(),
    );
    app.get_bearer("/api/admin/audit/nope/", &admin)
        .await
        .assert(404, NOT_FOUND);
}

/// Everything written through the `tracing` subscriber of this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_password_or_hash_reaches_the_audit_log_or_its_log_lines() {
    // `#[tokio::test]` runs the app on this thread: its log lines go to this subscriber.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A second live dispatcher: with a single one, tracing caches each call site's interest
    // as seen from whichever thread reaches it first, and a concurrent test's thread (with
    // no subscriber) could switch these lines off for this one too.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let app = audited_app().await;
    let (_, admin) = staff(&app).await;
    let ada = app.create_user(ADA, PASSWORD).await;

    let first = app.account_pair(ADA, PASSWORD).await;
    let refreshed = app.refresh(&first.refresh).await;
    let second = Pair {
        refresh: refreshed.field("refresh"),
        access: refreshed.field("access"),
    };
    app.obtain(ADA, WRONG).await;
    app.change_password(&second.access, PASSWORD, NEW_PASSWORD)
        .await
        .ok();
    let third = app.account_pair(ADA, NEW_PASSWORD).await;
    app.logout(&third.access, &third.refresh).await.ok();
    let new_hash = app.user(ada.id).await.password_hash;

    let listed = audit(&app, &admin, "?page_size=100").await;
    let stored = app
        .tessera
        .auth()
        .store()
        .list_audit_events(&AuditFilter::default(), 1000, 0)
        .await
        .unwrap();
    let logged = captured.text();

    assert_eq!(listed.ok()["count"], 7, "{}", listed.text());
    assert!(
        logged.contains("tessera::audit") && logged.contains("login.succeeded"),
        "{logged}"
    );
    let mut secrets = vec![
        PASSWORD.to_owned(),
        WRONG.to_owned(),
        NEW_PASSWORD.to_owned(),
        ada.password_hash.clone(),
        new_hash,
    ];
    for pair in [&first, &second, &third] {
        for token in [&pair.access, &pair.refresh] {
            secrets.push(token.clone());
            // The signature alone, and the payload alone, are no safer.
            secrets.extend(token.split('.').skip(1).map(str::to_owned));
        }
    }
    let stored = format!("{stored:?}");
    for secret in &secrets {
        assert!(!listed.text().contains(secret.as_str()), "API: {secret}");
        assert!(!stored.contains(secret.as_str()), "store: {secret}");
        assert!(!logged.contains(secret.as_str()), "log: {secret}");
    }
}

#[tokio::test]
async fn retention_prunes_by_the_clock() {
    let app = audit_app()
        .audit(|audit| audit.audit_retention = Duration::from_secs(30 * 86_400))
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;
    app.login(ADA, PASSWORD).await;
    app.advance(31 * 86_400);
    app.login(ADA, PASSWORD).await;
    app.tessera.auth().audit_log().flush().await;

    assert_eq!(app.tessera.auth().audit_log().prune().await.unwrap(), 1);
    assert_eq!(app.tessera.auth().audit_log().prune().await.unwrap(), 0);
    let (_, admin) = staff(&app).await;
    let left = audit(&app, &admin, &format!("?user={}", ada.id)).await.ok();
    assert_eq!(left["count"], 1);
    assert_eq!(
        left["results"][0]["at"],
        drf_datetime(NOW.add_secs(31 * 86_400))
    );

    // 0 keeps events forever; less than a day is refused.
    app.advance(365 * 86_400);
    let forever = app
        .tessera
        .clone()
        .to_builder()
        .audit(AuditSettings {
            audit_retention: Duration::ZERO,
        })
        .build()
        .await
        .unwrap();
    assert_eq!(forever.auth().audit_log().prune().await.unwrap(), 0);
    let hourly = app
        .tessera
        .clone()
        .to_builder()
        .audit(AuditSettings {
            audit_retention: Duration::from_secs(3600),
        })
        .build()
        .await;
    assert_eq!(hourly.unwrap_err().setting(), Some("audit_retention"));
    assert_eq!(app.tessera.auth().audit_log().prune().await.unwrap(), 2);
}

#[tokio::test]
async fn a_batch_that_cannot_be_written_is_counted_and_logged() {
    let probe = MetricsProbe::default();
    let _recorder = probe.install();
    let app = audited_app().await;
    app.tessera.auth().audit(Audit::new("app.before")).await;
    app.tessera.auth().audit_log().flush().await;
    assert_eq!(probe.counter("tessera_audit_write_failures_total"), 0);

    app.tessera.auth().store().close().await;
    app.tessera.auth().audit(Audit::new("app.after")).await;
    app.tessera.auth().audit_log().flush().await;

    assert_eq!(probe.counter("tessera_audit_write_failures_total"), 1);
}

#[tokio::test]
async fn a_full_queue_makes_recording_wait_and_loses_nothing() {
    const EVENTS: usize = 6000;
    let app = audited_app().await;
    app.tessera.auth().audit(Audit::new("app.warmup")).await;
    app.tessera.auth().audit_log().flush().await;
    // Another connection holds the write lock: the writer waits for it.
    let url = app.database().url().to_owned();
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let recorded = Arc::new(AtomicUsize::new(0));
    let mut producer = tokio::spawn({
        let (tessera, recorded) = (app.tessera.clone(), recorded.clone());
        async move {
            for _ in 0..EVENTS {
                tessera.auth().audit(Audit::new("app.flood")).await;
                recorded.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let waiting = tokio::time::timeout(Duration::from_millis(500), &mut producer).await;
    assert!(
        waiting.is_err(),
        "recording went on while nothing was written"
    );
    let before = recorded.load(Ordering::SeqCst);
    assert!(before > 0 && before < EVENTS, "{before}");

    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), producer)
        .await
        .expect("recording resumes")
        .unwrap();
    app.tessera.auth().audit_log().flush().await;
    let flood = AuditFilter {
        event: Some("app.flood".into()),
        ..AuditFilter::default()
    };
    let (count, _) = app
        .tessera
        .auth()
        .store()
        .list_audit_events(&flood, 1, 0)
        .await
        .unwrap();
    assert_eq!(count, EVENTS as i64);
}
