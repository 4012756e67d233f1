//! failure counting per login name and client address, with exponential back-off. A locked
//! account answers exactly like a wrong password (no enumeration), unlocks with time or a
//! password change, resets after a successful login, and costs no password hashing while
//! locked. A lock is the locked-out client's only: the owner at another address still logs
//! in. Counts decay; names no account can have are not counted at all.

use std::time::Duration;

use axum::http::StatusCode;
use futures_util::future::join_all;
use serde_json::json;
use tessera_axum::{ThrottleSettings, ThrottleStorage};
use tessera_store::NewUser;

use crate::helpers::{
    Api, CookieApi, MetricsProbe, NO_ACTIVE_ACCOUNT, PASSWORD, Records, Reply, TestApp,
    throttled_app,
};

const WRONG: &str = "not the password";
const NEW_PASSWORD: &str = "difference engine 1822";
const ADA: &str = "ada@example.com";
/// The address the tests' requests come from, which locks count by.
const HERE: &str = "127.0.0.1";
/// The cookie login's answer to wrong credentials.
const INVALID_CREDENTIALS: &str = r#"{"error":"Invalid credentials"}"#;

/// Three failures lock for 60 s, doubling up to an hour; no login throttle.
fn lockout(settings: &mut ThrottleSettings) {
    settings.throttle_rates.clear();
    settings.login_failure_limit = 3;
    settings.login_lockout_base = Duration::from_secs(60);
    settings.login_lockout_max = Duration::from_secs(3600);
}

/// An app with [`lockout`] and Ada and Grace, both with [`PASSWORD`].
async fn locking_app() -> TestApp {
    let app = throttled_app().throttling(lockout).build().await;
    app.create_user(ADA, PASSWORD).await;
    app.create_user("grace@example.com", PASSWORD).await;
    app
}

/// Fails `times` logins for `email` on `/api/token/`; each is the plain wrong-password 401.
async fn fail(app: &TestApp, email: &str, times: usize) -> Reply {
    let mut last = None;
    for _ in 0..times {
        let reply = app.obtain(email, WRONG).await;
        reply.assert(401, NO_ACTIVE_ACCOUNT);
        last = Some(reply);
    }
    last.expect("at least one failure")
}

/// Two answers a client cannot tell apart: status, body bytes and every header but `Date`.
#[track_caller]
fn assert_same_answer(answer: &Reply, reference: &Reply) {
    assert_eq!(answer.status(), reference.status(), "status");
    assert_eq!(answer.text(), reference.text(), "body");
    let headers = |reply: &Reply| {
        let mut headers: Vec<(String, Vec<u8>)> = reply
            .headers()
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        headers.sort();
        headers
    };
    assert_eq!(headers(answer), headers(reference), "headers");
}

#[tokio::test]
async fn after_the_limit_the_right_password_answers_exactly_like_a_wrong_one() {
    let app = locking_app().await;
    let ada = app.user_by_email(ADA).await.expect("ada");
    let wrong = fail(&app, ADA, 3).await;

    let right = app.obtain(ADA, PASSWORD).await;
    assert_same_answer(&right, &wrong);
    // An unknown address, and another wrong password, answer the same.
    assert_same_answer(&app.obtain("nobody@example.com", WRONG).await, &wrong);
    assert_same_answer(&app.obtain(ADA, WRONG).await, &wrong);
    // So do the other JSON login routes, whose wrong-password answer is the same.
    assert_same_answer(
        &app.post_json(
            "/api/token/sliding/",
            &json!({"email": ADA, "password": PASSWORD}),
        )
        .await,
        &wrong,
    );
    assert_same_answer(&app.account_login(ADA, PASSWORD).await, &wrong);

    assert!(
        app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
    assert_eq!(
        app.session_count(&ada).await,
        0,
        "a locked login opened a session"
    );
}

#[tokio::test]
async fn an_unknown_address_locks_like_a_real_one() {
    let app = locking_app().await;
    let wrong = fail(&app, "nobody@example.com", 3).await;

    assert!(
        app.tessera
            .auth()
            .lockout()
            .is_locked("nobody@example.com", HERE)
            .await
            .unwrap()
    );
    assert_same_answer(&app.obtain("nobody@example.com", WRONG).await, &wrong);
    assert_same_answer(&app.obtain(ADA, WRONG).await, &wrong);
}

#[tokio::test]
async fn the_lock_ends_with_time_and_the_failures_start_over() {
    let app = locking_app().await;
    let wrong = fail(&app, ADA, 3).await;

    app.advance(59);
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
    app.advance(2);
    app.obtain(ADA, PASSWORD).await.ok();

    // The failures were forgotten: two more do not lock.
    fail(&app, ADA, 2).await;
    app.obtain(ADA, PASSWORD).await.ok();
    assert!(
        !app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let app = locking_app().await;

    fail(&app, ADA, 2).await;
    app.obtain(ADA, PASSWORD).await.ok();
    fail(&app, ADA, 2).await;
    app.obtain(ADA, PASSWORD).await.ok();
    fail(&app, ADA, 2).await;
    app.account_login(ADA, PASSWORD).await.ok();
    assert!(
        !app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );

    // Counting still works after a reset.
    let wrong = fail(&app, ADA, 3).await;
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
}

#[tokio::test]
async fn each_further_failure_doubles_the_lock() {
    let app = locking_app().await;
    fail(&app, ADA, 3).await;
    app.advance(61);

    // The fourth failure locks for 120 s.
    let wrong = fail(&app, ADA, 1).await;
    app.advance(61);
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
    assert!(
        app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
    app.advance(60);
    app.obtain(ADA, PASSWORD).await.ok();
}

#[tokio::test]
async fn the_lock_never_exceeds_the_maximum() {
    let app = locking_app().await;
    let mut wrong = fail(&app, ADA, 3).await;

    // Failures 3 to 10: 60 s doubling, capped at an hour.
    for length in [60, 120, 240, 480, 960, 1920, 3600, 3600] {
        app.advance(length - 1);
        assert!(
            app.tessera
                .auth()
                .lockout()
                .is_locked(ADA, HERE)
                .await
                .unwrap(),
            "a {length} s lock ended early"
        );
        assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
        app.advance(2);
        assert!(
            !app.tessera
                .auth()
                .lockout()
                .is_locked(ADA, HERE)
                .await
                .unwrap(),
            "a {length} s lock lasted too long"
        );
        wrong = fail(&app, ADA, 1).await;
    }
    app.advance(3599);
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
    app.advance(2);
    app.obtain(ADA, PASSWORD).await.ok();
}

/// `POST /api/auth/password/change/` with `access` from `client`.
async fn change_from(
    app: &TestApp,
    client: &tessera_axum::testing::TestClient,
    access: &str,
    old: &str,
) -> Reply {
    app.send(
        client
            .request(axum::http::Method::POST, "/api/auth/password/change/")
            .bearer_auth(access)
            .json(&json!({
                "old_password": old,
                "new_password": NEW_PASSWORD,
                "new_password_confirm": NEW_PASSWORD,
            })),
    )
    .await
}

#[tokio::test]
async fn a_password_change_from_another_session_lifts_the_lock() {
    let app = locking_app().await;
    let laptop = app.account_pair(ADA, PASSWORD).await;
    let wrong = fail(&app, ADA, 3).await;
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);

    // The laptop is elsewhere: the lock is the locked-out address's only.
    let elsewhere = app.client_from([127, 0, 0, 2]);
    change_from(&app, &elsewhere, &laptop.access, PASSWORD)
        .await
        .ok();

    assert!(
        !app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
    app.account_login(ADA, NEW_PASSWORD).await.ok();
}

#[tokio::test]
async fn a_password_change_lifts_the_lock_when_users_log_in_with_usernames() {
    let app = throttled_app()
        .hashing_threads(2)
        .settings(|s| s.username_field = tessera_core::UsernameField::Username)
        .throttling(lockout)
        .build()
        .await;
    app.create_user_with(
        NewUser {
            email: ADA.into(),
            username: Some("ada".into()),
            is_active: true,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await;
    let by_name = |password: &str| json!({"username": "ada", "password": password});
    let login = app.post_json("/api/token/", &by_name(PASSWORD)).await;
    let access = login.field("access");
    let mut wrong = None;
    for _ in 0..3 {
        let reply = app.post_json("/api/token/", &by_name(WRONG)).await;
        reply.assert(401, NO_ACTIVE_ACCOUNT);
        wrong = Some(reply);
    }
    let wrong = wrong.expect("failures");
    assert_same_answer(
        &app.post_json("/api/token/", &by_name(PASSWORD)).await,
        &wrong,
    );

    let elsewhere = app.client_from([127, 0, 0, 2]);
    change_from(&app, &elsewhere, &access, PASSWORD).await.ok();

    assert!(
        !app.tessera
            .auth()
            .lockout()
            .is_locked("ada", HERE)
            .await
            .unwrap()
    );
    app.post_json("/api/token/", &by_name(NEW_PASSWORD))
        .await
        .ok();
}

#[tokio::test]
async fn a_lock_on_one_account_leaves_the_others_alone() {
    let app = locking_app().await;
    let wrong = fail(&app, ADA, 3).await;

    app.obtain("grace@example.com", PASSWORD).await.ok();
    app.account_login("grace@example.com", PASSWORD).await.ok();
    app.cookie_login("grace@example.com", PASSWORD).await.ok();
    // Grace's failures count for her only.
    fail(&app, "grace@example.com", 2).await;
    app.obtain("grace@example.com", PASSWORD).await.ok();

    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
}

#[tokio::test]
async fn the_cookie_login_counts_failures_and_is_locked_too() {
    let app = locking_app().await;
    let wrong_cookie = app.cookie_login(ADA, WRONG).await;
    wrong_cookie.assert(401, INVALID_CREDENTIALS);
    // Failures on both kinds of route add up.
    let wrong_json = fail(&app, ADA, 2).await;

    let right_cookie = app.cookie_login(ADA, PASSWORD).await;
    assert_same_answer(&right_cookie, &wrong_cookie);
    assert!(
        right_cookie.set_cookies().is_empty(),
        "a locked login set cookies"
    );
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong_json);

    app.advance(61);
    app.cookie_login(ADA, PASSWORD).await.ok();
}

#[tokio::test]
async fn locked_guesses_reach_no_hasher() {
    let probe = MetricsProbe::default();
    let _recording = probe.install();
    let app = locking_app().await;
    let ada = app.user_by_email(ADA).await.expect("ada");
    fail(&app, ADA, 3).await;
    assert_eq!(probe.hashes(), 3);

    // 1,000 guesses within the minute of the lock, a hundred at a time.
    for round in 0..10 {
        app.set_offset_micros(round * 5_900_000);
        let guesses = (0..100).map(|n| {
            let password = if n % 10 == 0 {
                PASSWORD.to_owned()
            } else {
                format!("guess {round} {n}")
            };
            let app = &app;
            async move { app.obtain(ADA, &password).await }
        });
        for reply in join_all(guesses).await {
            reply.assert(401, NO_ACTIVE_ACCOUNT);
        }
    }

    assert_eq!(probe.hashes(), 3, "locked guesses were hashed");
    assert_eq!(
        probe.counter(r#"tessera_logins_total{outcome="locked"}"#),
        1000
    );
    assert_eq!(
        probe.counter(r#"tessera_logins_total{outcome="failure"}"#),
        3
    );
    assert_eq!(app.session_count(&ada).await, 0);
    assert_eq!(
        StatusCode::OK,
        app.obtain("grace@example.com", PASSWORD).await.status()
    );
}

/// With the failures in the store (as several servers keep them): the same lock, the same
/// doubling, and an unlock by a successful login after the lock ends.
#[tokio::test]
async fn failures_kept_in_the_store_lock_and_double_the_same_way() {
    let app = throttled_app()
        .throttling(|settings: &mut ThrottleSettings| {
            lockout(settings);
            settings.throttle_storage = ThrottleStorage::Database;
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    fail(&app, ADA, 3).await;
    assert!(
        app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
    assert_eq!(
        app.tessera
            .auth()
            .store()
            .login_locked_until(&format!("{ADA}\u{1f}{HERE}"))
            .await
            .unwrap(),
        Some(app.tessera.auth().now().add_secs(60))
    );
    app.obtain(ADA, PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.advance(60);
    assert!(
        !app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
    // The fourth failure locks again, for twice as long.
    fail(&app, ADA, 1).await;
    app.advance(119);
    assert!(
        app.tessera
            .auth()
            .lockout()
            .is_locked(ADA, HERE)
            .await
            .unwrap()
    );
    app.advance(1);
    app.obtain(ADA, PASSWORD).await.ok();
    assert_eq!(
        app.tessera
            .auth()
            .store()
            .login_locked_until(&format!("{ADA}\u{1f}{HERE}"))
            .await
            .unwrap(),
        None
    );
}

// ---- lockout as a denial of service, and bounded names (security review F2, F6, F12) ----

/// Logs in on `/api/token/` from `client`.
async fn obtain_from(
    app: &TestApp,
    client: &tessera_axum::testing::TestClient,
    email: &str,
    password: &str,
) -> Reply {
    app.send(
        client
            .request(axum::http::Method::POST, "/api/token/")
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

/// An attacker at one address fails Ada's login far past the limit: that address is
/// locked, even with the right password, while Ada at her own address logs in.
async fn the_owner_gets_in_while_the_attacker_is_locked_out(app: &TestApp) {
    let attacker = app.client_from([203, 0, 113, 66]);
    let owner = app.client_from([198, 51, 100, 7]);
    for _ in 0..10 {
        obtain_from(app, &attacker, ADA, WRONG)
            .await
            .assert(401, NO_ACTIVE_ACCOUNT);
    }
    obtain_from(app, &attacker, ADA, PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);

    let reply = obtain_from(app, &owner, ADA, PASSWORD).await;
    assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text());
    // Her success does not lift the attacker's lock.
    obtain_from(app, &attacker, ADA, PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn a_locked_out_attacker_does_not_lock_the_owner_out() {
    let app = locking_app().await;
    the_owner_gets_in_while_the_attacker_is_locked_out(&app).await;
}

#[tokio::test]
async fn a_locked_out_attacker_does_not_lock_the_owner_out_with_failures_in_postgresql() {
    let Some(database) = tessera_axum::testing::TestDatabase::postgres(
        "lockout::a_locked_out_attacker_does_not_lock_the_owner_out_with_failures_in_postgresql",
    )
    .await
    else {
        return;
    };
    let app = throttled_app()
        .database(database)
        .throttling(lockout)
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    the_owner_gets_in_while_the_attacker_is_locked_out(&app).await;
}

/// Failures older than `login_lockout_max` (an hour here) are forgotten: two failures, an
/// hour and a second of quiet, two more, and the limit of three is not reached; the same
/// with a second less does lock.
async fn failures_decay(app: &TestApp) {
    fail(app, ADA, 2).await;
    app.advance(3601);
    fail(app, ADA, 2).await;
    let reply = app.obtain(ADA, PASSWORD).await;
    assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text());

    fail(app, ADA, 2).await;
    app.advance(3599);
    let wrong = fail(app, ADA, 1).await;
    assert_same_answer(&app.obtain(ADA, PASSWORD).await, &wrong);
}

#[tokio::test]
async fn failures_decay_after_the_longest_lock_without_failures() {
    let app = locking_app().await;
    failures_decay(&app).await;
}

#[tokio::test]
async fn failures_kept_in_the_store_decay_the_same_way() {
    let app = throttled_app()
        .throttling(|settings: &mut ThrottleSettings| {
            lockout(settings);
            settings.throttle_storage = ThrottleStorage::Database;
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    failures_decay(&app).await;
}

#[tokio::test]
async fn failures_kept_in_postgresql_decay_the_same_way() {
    let Some(database) = tessera_axum::testing::TestDatabase::postgres(
        "lockout::failures_kept_in_postgresql_decay_the_same_way",
    )
    .await
    else {
        return;
    };
    let app = throttled_app()
        .database(database)
        .throttling(lockout)
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    failures_decay(&app).await;
}

/// Names longer than an e-mail address can be (254 characters) are refused like an unknown
/// account on every login route — no 500, no lock, no audit event — on `app`'s engine.
async fn over_long_names_are_unknown_accounts(app: &TestApp) {
    // Letters that do not repeat, so that PostgreSQL cannot compress an index key of them.
    let mut seed = 0x2545_f491_u32;
    let letters: String = (0..60_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            char::from(b'a' + ((seed >> 24) % 26) as u8)
        })
        .collect();
    let long = format!("{letters}@example.com");
    for _ in 0..5 {
        app.obtain(&long, WRONG)
            .await
            .assert(401, NO_ACTIVE_ACCOUNT);
    }
    app.obtain_sliding(&long, WRONG)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login(&long, WRONG)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.cookie_login(&long, WRONG)
        .await
        .assert(401, INVALID_CREDENTIALS);
    // 254 characters is still a name (and fails as one).
    let longest = format!("{}@example.com", "b".repeat(254 - 12));
    assert_eq!(longest.chars().count(), 254);
    app.obtain(&longest, WRONG)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);

    app.tessera.auth().audit_log().flush().await;
    let failed = app
        .tessera
        .auth()
        .store()
        .list_audit_events(
            &tessera_store::AuditFilter {
                event: Some("login.".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap()
        .1;
    let names: Vec<_> = failed.iter().map(|e| e.username.clone()).collect();
    assert_eq!(
        names,
        [Some(longest)],
        "only the 254-character name is audited"
    );
    app.obtain(ADA, PASSWORD).await.ok();
}

#[tokio::test]
async fn a_60000_character_name_is_an_unknown_account_on_postgresql() {
    let Some(database) = tessera_axum::testing::TestDatabase::postgres(
        "lockout::a_60000_character_name_is_an_unknown_account_on_postgresql",
    )
    .await
    else {
        return;
    };
    let app = throttled_app()
        .database(database)
        .throttling(lockout)
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    over_long_names_are_unknown_accounts(&app).await;
}

#[tokio::test]
async fn a_60000_character_name_is_an_unknown_account_in_memory() {
    let app = locking_app().await;
    over_long_names_are_unknown_accounts(&app).await;
}

/// A wrong current password on a password change is a failed login for its owner: it is
/// audited as one (`reason: password_change`) and counts towards the lock, which then
/// refuses the right password too, on the change and on the login routes.
#[tokio::test]
async fn wrong_current_passwords_on_a_password_change_count_as_failed_logins() {
    let app = locking_app().await;
    let ada = app.user_by_email(ADA).await.expect("ada");
    let pair = app.account_pair(ADA, PASSWORD).await;
    let incorrect = r#"{"old_password":["Current password is incorrect."]}"#;
    for _ in 0..3 {
        app.change_password(&pair.access, WRONG, NEW_PASSWORD)
            .await
            .assert(400, incorrect);
    }

    app.change_password(&pair.access, PASSWORD, NEW_PASSWORD)
        .await
        .assert(400, incorrect);
    app.obtain(ADA, PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.tessera.auth().audit_log().flush().await;
    let (_, failed) = app
        .tessera
        .auth()
        .store()
        .list_audit_events(
            &tessera_store::AuditFilter {
                event: Some("login.failed".into()),
                ..Default::default()
            },
            100,
            0,
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 3);
    for event in &failed {
        assert_eq!(event.user_id, Some(ada.id));
        assert_eq!(event.username.as_deref(), Some(ADA));
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            event.detail_json().map(|d| d["reason"].clone()),
            Some(json!("password_change"))
        );
    }
    // Still the same password: nothing was changed.
    app.advance(61);
    app.obtain(ADA, PASSWORD).await.ok();
}
