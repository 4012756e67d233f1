//! Users imported from Django keep their password hashes (`auth_user.password` verbatim):
//! they log in with their old password, and that first login replaces the hash by
//! Tessera's argon2id — as Django's `check_password` does with its setter — without
//! ending any session (docs/SECURITY.md, "Imported Django password hashes").

use serde_json::json;
use tessera_store::{AuditEvent, AuditFilter, NewUser, User};

use crate::helpers::{
    Api, CookieApi, NO_ACTIVE_ACCOUNT, PASSWORD, Records, TestApp, accounts_app, browser_app,
    field_error,
};

const ADA: &str = "ada@example.com";

/// Made by Django 5.2.19 for [`PASSWORD`] with its default hasher and iterations:
/// `make_password("correct horse battery staple", hasher="pbkdf2_sha256")`.
const DJANGO_PBKDF2: &str =
    "pbkdf2_sha256$1000000$AOCrFgXhks1rOo6ROSQ8Re$qKVyhT+m++pVzu1I9t2aoOgUa6R68otkROZFrGloSE0=";

/// Made by Django 5.2.19 for [`PASSWORD`], each with `make_password(pw, hasher=H())` where
/// `H` subclasses Django's hasher at a lower cost (named after each).
const DJANGO_OTHERS: [(&str, &str); 5] = [
    // PBKDF2SHA1PasswordHasher, iterations = 1000
    (
        "pbkdf2_sha1",
        "pbkdf2_sha1$1000$oLwCRgDMTdFIH0ZZkzTIOU$ulVhuT0htl/pMoWuYDtYBYdoUoY=",
    ),
    // Argon2PasswordHasher, time_cost = 1, memory_cost = 64, parallelism = 2
    (
        "argon2",
        "argon2$argon2id$v=19$m=64,t=1,p=2$Nlk1Q21rV3IzT0JzQks3b2xrUXVBUQ$h5EcI61WWKIC4ARpss3UlkDD+qLwr41GO6NCqo0E+c4",
    ),
    // BCryptSHA256PasswordHasher, rounds = 4
    (
        "bcrypt_sha256",
        "bcrypt_sha256$$2b$04$gKTjuLIGR9skw9l3AhgH8.smF4b9SI5BmD.fFCv2YQGJScXmZ0K56",
    ),
    // BCryptPasswordHasher, rounds = 4
    (
        "bcrypt",
        "bcrypt$$2b$04$8BvcSBhvCzPLvcIptRVcuObt9ttd.fN.R0RpALVSAI.WMMyG.Uxdm",
    ),
    // ScryptPasswordHasher, work_factor = 2**4, parallelism = 1
    (
        "scrypt",
        "scrypt$16$OXxVMkwxmTSga6znPPKZ0l$8$1$FGMb8GVGP8e2F7N4pnVRmECNWmWTrg0iuhN+A14xaxm6M1nuMdD/VyokZK7D5UVkjEBdPlV2T1WUjOpnRXgv/g==",
    ),
];

/// Tessera's argon2id with its current parameters.
const ARGON2ID: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// An active user stored with `hash` as it is, as `tessera import django` stores one.
async fn imported(app: &TestApp, email: &str, hash: &str) -> User {
    app.tessera
        .auth()
        .store()
        .create_user(&NewUser {
            email: email.into(),
            is_active: true,
            password_hash: hash.into(),
            date_joined: app.now(),
            ..NewUser::default()
        })
        .await
        .expect("create the imported user")
}

/// The `password.upgraded` events recorded so far.
async fn upgrades(app: &TestApp) -> Vec<AuditEvent> {
    let auth = app.tessera.auth();
    auth.audit_log().flush().await;
    let filter = AuditFilter {
        event: Some("password.upgraded".into()),
        ..AuditFilter::default()
    };
    auth.store()
        .list_audit_events(&filter, 100, 0)
        .await
        .expect("list audit events")
        .1
}

#[tokio::test]
async fn a_django_pbkdf2_user_logs_in_and_the_hash_becomes_argon2id_without_ending_sessions() {
    let app = accounts_app().build().await;
    let ada = imported(&app, ADA, DJANGO_PBKDF2).await;
    // A session of Ada's from before the upgrade.
    let earlier = app.client();
    earlier.force_authenticate(&ada).await;
    earlier.get("/api/auth/profile/").send().await.ok();
    app.advance(5);

    let pair = app.login(ADA, PASSWORD).await;

    let after = app.user(ada.id).await;
    assert!(
        after.password_hash.starts_with(ARGON2ID),
        "{}",
        after.password_hash
    );
    assert_eq!(after.password_changed_at, None);
    let events = upgrades(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, Some(ada.id));
    assert_eq!(
        events[0].detail_json(),
        Some(json!({"from": "pbkdf2_sha256", "to": "argon2id"}))
    );
    assert!(!events[0].detail.as_deref().unwrap_or("").contains("AOCrFg"));

    // The old password still logs in, now against argon2id, which needs no more upgrade;
    // a wrong one does not.
    app.advance(5);
    let again = app.login(ADA, PASSWORD).await;
    assert_eq!(app.user(ada.id).await.password_hash, after.password_hash);
    app.obtain(ADA, "correct horse battery stapler")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    assert_eq!(upgrades(&app).await.len(), 1);

    // Every session and token of hers still works.
    earlier.get("/api/auth/profile/").send().await.ok();
    for access in [&pair.access, &again.access] {
        assert_eq!(app.profile(access).await.ok()["email"], ADA);
    }
    app.refresh(&pair.refresh).await.ok();
    assert_eq!(app.session_count(&ada).await, 3);
}

#[tokio::test]
async fn every_django_format_logs_in_once_and_is_upgraded() {
    let app = accounts_app().build().await;
    for (index, (algorithm, hash)) in DJANGO_OTHERS.into_iter().enumerate() {
        let email = format!("user{index}@example.com");
        let user = imported(&app, &email, hash).await;
        app.obtain(&email, "correct horse battery stapler")
            .await
            .assert(401, NO_ACTIVE_ACCOUNT);
        assert_eq!(app.user(user.id).await.password_hash, hash, "{algorithm}");

        app.login(&email, PASSWORD).await;

        let stored = app.user(user.id).await.password_hash;
        assert!(stored.starts_with(ARGON2ID), "{algorithm}: {stored}");
        let events = upgrades(&app).await;
        let event = events
            .iter()
            .find(|e| e.user_id == Some(user.id))
            .unwrap_or_else(|| panic!("{algorithm}: no password.upgraded event"));
        assert_eq!(
            event.detail_json(),
            Some(json!({"from": algorithm, "to": "argon2id"}))
        );
        app.login(&email, PASSWORD).await;
    }
}

#[tokio::test]
async fn unusable_and_unknown_hashes_never_log_in_and_stay_as_they_are() {
    let app = accounts_app().build().await;
    for (index, hash) in [
        // make_password(None) (Django 5.2.19)
        "!tTk5OlELI0NEjxBoPeypID41oZ1J1bNG16DLiGsb",
        "md5$salt$0123456789abcdef0123456789abcdef",
        // Over the iteration cap.
        "pbkdf2_sha256$99999999$AOCrFgXhks1rOo6ROSQ8Re$qKVyhT+m++pVzu1I9t2aoOgUa6R68otkROZFrGloSE0=",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("user{index}@example.com");
        let user = imported(&app, &email, hash).await;
        app.obtain(&email, PASSWORD)
            .await
            .assert(401, NO_ACTIVE_ACCOUNT);
        assert_eq!(app.user(user.id).await.password_hash, hash);
    }
    assert!(upgrades(&app).await.is_empty());
}

#[tokio::test]
async fn the_cookie_login_upgrades_too() {
    let app = browser_app().build().await;
    let ada = imported(&app, ADA, DJANGO_OTHERS[2].1).await;

    app.cookie_session(ADA, PASSWORD).await;

    let stored = app.user(ada.id).await.password_hash;
    assert!(stored.starts_with(ARGON2ID), "{stored}");
    assert_eq!(upgrades(&app).await.len(), 1);
}

#[tokio::test]
async fn a_password_changes_current_password_upgrades_the_hash_even_when_the_change_is_refused() {
    let app = accounts_app().build().await;
    let ada = imported(&app, ADA, DJANGO_OTHERS[0].1).await;
    let client = app.client();
    client.force_authenticate(&ada).await;

    // A wrong current password changes nothing.
    client
        .post("/api/auth/password/change/")
        .json(&json!({"old_password": "nope", "new_password": "iloveyou", "new_password_confirm": "iloveyou"}))
        .send()
        .await
        .assert(
            400,
            r#"{"old_password":["Current password is incorrect."],"new_password":["This password is too common."]}"#,
        );
    assert_eq!(app.user(ada.id).await.password_hash, DJANGO_OTHERS[0].1);

    // The right one upgrades the hash, though the new password is refused.
    client
        .post("/api/auth/password/change/")
        .json(&json!({"old_password": PASSWORD, "new_password": "iloveyou", "new_password_confirm": "iloveyou"}))
        .send()
        .await
        .assert(400, &field_error("new_password", "This password is too common."));

    let after = app.user(ada.id).await;
    assert!(
        after.password_hash.starts_with(ARGON2ID),
        "{}",
        after.password_hash
    );
    assert_eq!(after.password_changed_at, None);
    client.get("/api/auth/profile/").send().await.ok();
    app.login(ADA, PASSWORD).await;
    let events = upgrades(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].detail_json(),
        Some(json!({"from": "pbkdf2_sha1", "to": "argon2id"}))
    );
}
