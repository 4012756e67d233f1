//! docs/API.md §5 `POST /api/auth/register/` (the account service's `RegisterView` and
//! `UserRegistrationSerializer`) and the issue's validation rules: Django's e-mail checks and
//! its four default password validators.

use serde_json::{Value, json};

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, NO_ACTIVE_ACCOUNT, Records, TestApp, accounts_app, claims, field_error,
    str_claim,
};

const DUPLICATE: &str = r#"{"email":["user with this email already exists."]}"#;
const INVALID_EMAIL: &str = r#"{"email":["Enter a valid email address."]}"#;
const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const TOO_COMMON: &str = "This password is too common.";
const NUMERIC: &str = "This password is entirely numeric.";
/// `date_joined` of every user registered at the tests' `NOW`.
const JOINED: &str = "2025-06-15T15:06:40Z";

/// Ada's registration, with `changes` applied (a `null` removes the field).
fn ada_with(changes: Value) -> Value {
    let mut body = json!({
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    });
    let object = body.as_object_mut().expect("object");
    for (key, value) in changes.as_object().expect("changes are an object") {
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    body
}

/// Registers with `password` (and the same confirmation) and the other fields of `changes`.
async fn register_with_password(
    app: &TestApp,
    password: &str,
    changes: Value,
) -> crate::helpers::Reply {
    let mut body = ada_with(changes);
    body["password"] = json!(password);
    body["password_confirm"] = json!(password);
    app.register(&body).await
}

#[tokio::test]
async fn register_answers_201_with_message_user_and_tokens_in_that_order() {
    let app = accounts_app().build().await;

    let reply = app.register(&ada_with(json!({}))).await;

    let body = reply.json();
    let refresh = body["tokens"]["refresh"].as_str().expect("refresh token");
    let access = body["tokens"]["access"].as_str().expect("access token");
    reply.assert(
        201,
        &format!(
            r#"{{"message":"User registered successfully","user":{{"id":1,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}},"tokens":{{"refresh":"{refresh}","access":"{access}"}}}}"#
        ),
    );
    assert_eq!(str_claim(refresh, "token_type"), "refresh");
    assert_eq!(str_claim(access, "token_type"), "access");
    assert_eq!(str_claim(access, "user_id"), "1");
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn the_registered_user_is_stored_with_a_hashed_password() {
    let app = accounts_app().build().await;

    app.register_ada().await;

    let user = app.user_by_email("ada@example.com").await.expect("stored");
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert!(user.is_active && !user.is_staff && !user.is_superuser);
    assert!(
        user.password_hash.starts_with("$argon2"),
        "{}",
        user.password_hash
    );
    assert!(!user.password_hash.contains(ACCOUNT_PASSWORD));
}

#[tokio::test]
async fn the_registration_tokens_work() {
    let app = accounts_app().build().await;

    let pair = app.register_ada().await;

    app.profile(&pair.access).await.assert(
        200,
        &format!(
            r#"{{"id":1,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}}"#
        ),
    );
    let refreshed = app.account_refresh(&pair.refresh).await;
    refreshed.ok();
    app.profile(&refreshed.field("access")).await.ok();
    assert_eq!(
        str_claim(&pair.refresh, "sid"),
        str_claim(&pair.access, "sid")
    );
}

#[tokio::test]
async fn the_registered_password_logs_in() {
    let app = accounts_app().build().await;
    app.register_ada().await;

    app.account_login("ada@example.com", ACCOUNT_PASSWORD)
        .await
        .ok();
}

#[tokio::test]
async fn the_email_domain_is_lower_cased_and_the_address_trimmed() {
    let app = accounts_app().build().await;

    let reply = app
        .register(&ada_with(json!({"email": "  Ada@EXAMPLE.COM "})))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(reply.json()["user"]["email"], json!("Ada@example.com"));
    let stored = app.user_by_email("Ada@example.com").await.expect("stored");
    assert_eq!(stored.email, "Ada@example.com");
    app.account_login("Ada@example.com", ACCOUNT_PASSWORD)
        .await
        .ok();
}

#[tokio::test]
async fn a_duplicate_email_in_any_domain_case_is_400_and_creates_no_second_user() {
    let app = accounts_app().build().await;
    app.register_ada().await;

    for email in ["ada@example.com", "ada@EXAMPLE.com", " ada@Example.Com "] {
        app.register(&ada_with(json!({"email": email})))
            .await
            .assert(400, DUPLICATE);
    }
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn a_duplicate_of_a_mixed_case_domain_is_caught_in_lower_case() {
    let app = accounts_app().build().await;
    app.register(&ada_with(json!({"email": "ada@EXAMPLE.COM"})))
        .await
        .json();

    app.register(&ada_with(json!({"email": "ada@example.com"})))
        .await
        .assert(400, DUPLICATE);
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn the_local_part_keeps_its_case_as_in_django() {
    let app = accounts_app().build().await;
    app.register_ada().await;

    let reply = app
        .register(&ada_with(json!({"email": "ADA@example.com"})))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(reply.json()["user"]["email"], json!("ADA@example.com"));
    assert_eq!(app.user_count().await, 2);
}

#[tokio::test]
async fn an_invalid_email_is_400_enter_a_valid_email_address() {
    let app = accounts_app().build().await;

    for email in [
        "not-an-email",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@example.com.",
        "ada lovelace@example.com",
        "ada@@example.com",
        "ada@-example.com",
        "\"ada lovelace\"@example.com",
    ] {
        let reply = app.register(&ada_with(json!({"email": email}))).await;
        assert_eq!(
            (reply.status().as_u16(), reply.text()),
            (400, INVALID_EMAIL),
            "{email:?}"
        );
    }
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn addresses_django_accepts_register() {
    let app = accounts_app().build().await;

    for email in [
        "a.b+tag@example.io",
        "ada@localhost",
        "ada@[127.0.0.1]",
        "\"ada@home\"@example.com",
    ] {
        let reply = app.register(&ada_with(json!({"email": email}))).await;
        assert_eq!(reply.status(), 201, "{email:?}: {}", reply.text());
    }
    assert_eq!(app.user_count().await, 4);
}

#[tokio::test]
async fn the_email_may_have_255_characters_as_the_seeds_model_declares() {
    let app = accounts_app().build().await;
    // 64 + 1 + 190 = 255 characters: labels of 63, 63 and 58, and `com`.
    let domain = format!(
        "{}.{}.{}.com",
        "d".repeat(63),
        "e".repeat(63),
        "f".repeat(58)
    );
    let longest = format!("{}@{domain}", "a".repeat(64));
    assert_eq!(longest.len(), 255);

    let reply = app.register(&ada_with(json!({"email": longest}))).await;
    assert_eq!(reply.status(), 201, "{}", reply.text());

    let too_long = format!("b{longest}");
    app.register(&ada_with(json!({"email": too_long})))
        .await
        .assert(
            400,
            &field_error(
                "email",
                "Ensure this field has no more than 255 characters.",
            ),
        );
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn an_overlong_invalid_email_reports_both_failures_as_drf_does() {
    let app = accounts_app().build().await;

    app.register(&ada_with(json!({"email": "x".repeat(300)})))
        .await
        .assert(
            400,
            r#"{"email":["Ensure this field has no more than 255 characters.","Enter a valid email address."]}"#,
        );
}

#[tokio::test]
async fn missing_fields_are_required_in_field_order() {
    let app = accounts_app().build().await;

    app.register(&json!({})).await.assert(
        400,
        r#"{"email":["This field is required."],"password":["This field is required."],"password_confirm":["This field is required."]}"#,
    );
    app.register(&json!({"first_name": "Ada"}))
        .await
        .assert(
            400,
            r#"{"email":["This field is required."],"password":["This field is required."],"password_confirm":["This field is required."]}"#,
        );
    app.register(&ada_with(json!({"password_confirm": null})))
        .await
        .assert(
            400,
            &field_error("password_confirm", "This field is required."),
        );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn an_empty_body_is_the_same_as_an_empty_object() {
    let app = accounts_app().build().await;

    app.send(app.request(axum::http::Method::POST, "/api/auth/register/"))
        .await
        .assert(
            400,
            r#"{"email":["This field is required."],"password":["This field is required."],"password_confirm":["This field is required."]}"#,
        );
}

#[tokio::test]
async fn blank_and_null_fields_get_drfs_messages() {
    let app = accounts_app().build().await;

    app.register(&json!({"email": "   ", "first_name": null, "password": "", "password_confirm": ""}))
        .await
        .assert(
            400,
            r#"{"email":["This field may not be blank."],"first_name":["This field may not be null."],"password":["This field may not be blank."],"password_confirm":["This field may not be blank."]}"#,
        );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn names_are_optional_and_full_name_falls_back_to_the_email() {
    let app = accounts_app().build().await;

    let reply = app
        .register(&ada_with(json!({"first_name": null, "last_name": null})))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(
        reply.json()["user"].to_string(),
        format!(
            r#"{{"id":1,"email":"ada@example.com","first_name":"","last_name":"","full_name":"ada@example.com","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}}"#
        )
    );
}

#[tokio::test]
async fn blank_names_are_allowed_and_names_are_trimmed() {
    let app = accounts_app().build().await;

    let reply = app
        .register(&ada_with(json!({"first_name": "  Ada ", "last_name": ""})))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    let user = &reply.json()["user"];
    assert_eq!(
        (&user["first_name"], &user["last_name"], &user["full_name"]),
        (&json!("Ada"), &json!(""), &json!("Ada"))
    );
}

#[tokio::test]
async fn names_longer_than_150_characters_are_refused() {
    let app = accounts_app().build().await;
    let long = "n".repeat(151);

    app.register(&ada_with(json!({"first_name": long, "last_name": long})))
        .await
        .assert(
            400,
            r#"{"first_name":["Ensure this field has no more than 150 characters."],"last_name":["Ensure this field has no more than 150 characters."]}"#,
        );
    assert_eq!(app.user_count().await, 0);
    let reply = app
        .register(&ada_with(json!({"first_name": "n".repeat(150)})))
        .await;
    assert_eq!(reply.status(), 201, "{}", reply.text());
}

#[tokio::test]
async fn a_password_mismatch_is_400_on_password_confirm() {
    let app = accounts_app().build().await;

    app.register(&ada_with(
        json!({"password_confirm": "analytical engine 1842"}),
    ))
    .await
    .assert(
        400,
        r#"{"password_confirm":["Password fields do not match."]}"#,
    );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn the_mismatch_is_only_reported_when_no_field_failed() {
    let app = accounts_app().build().await;

    app.register(&ada_with(
        json!({"email": "nope", "password_confirm": "other"}),
    ))
    .await
    .assert(400, INVALID_EMAIL);
    app.register(
        &json!({"email": "ada@example.com", "password": "Xy7#q", "password_confirm": "other"}),
    )
    .await
    .assert(400, &field_error("password", TOO_SHORT));
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_short_password_is_too_short_with_djangos_exact_message() {
    let app = accounts_app().build().await;

    register_with_password(&app, "Xy7#q-k", json!({}))
        .await
        .assert(400, &field_error("password", TOO_SHORT));
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_common_password_is_too_common() {
    let app = accounts_app().build().await;

    for common in ["iloveyou", "football", "password1", "sunshine"] {
        let reply = register_with_password(&app, common, json!({})).await;
        assert_eq!(
            (reply.status().as_u16(), reply.text()),
            (400, field_error("password", TOO_COMMON).as_str()),
            "{common}"
        );
    }
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn an_entirely_numeric_password_is_refused() {
    let app = accounts_app().build().await;

    register_with_password(&app, "83719462", json!({}))
        .await
        .assert(400, &field_error("password", NUMERIC));
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_password_like_the_email_is_too_similar_to_the_email() {
    let app = accounts_app().build().await;

    register_with_password(
        &app,
        "babbage1791",
        json!({"email": "charles.babbage@example.com", "first_name": null, "last_name": null}),
    )
    .await
    .assert(
        400,
        &field_error("password", "The password is too similar to the email."),
    );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_password_like_the_first_name_is_too_similar_to_the_first_name() {
    let app = accounts_app().build().await;

    register_with_password(&app, "Bartholomew-77", json!({"first_name": "Bartholomew"}))
        .await
        .assert(
            400,
            &field_error("password", "The password is too similar to the first name."),
        );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn a_password_like_the_last_name_is_too_similar_to_the_last_name() {
    let app = accounts_app().build().await;

    register_with_password(&app, "Lovelace!1", json!({}))
        .await
        .assert(
            400,
            &field_error("password", "The password is too similar to the last name."),
        );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn every_failed_rule_is_listed_in_djangos_order() {
    let app = accounts_app().build().await;

    register_with_password(&app, "123456", json!({"first_name": "123456"}))
        .await
        .assert(
            400,
            &json!({"password": [
                "The password is too similar to the first name.",
                TOO_SHORT,
                TOO_COMMON,
                NUMERIC,
            ]})
            .to_string(),
        );
    register_with_password(&app, "1234567", json!({}))
        .await
        .assert(
            400,
            &json!({"password": [TOO_SHORT, TOO_COMMON, NUMERIC]}).to_string(),
        );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn password_errors_come_with_the_other_field_errors() {
    let app = accounts_app().build().await;
    app.register_ada().await;

    app.register(
        &json!({"email": "ada@example.com", "first_name": "n".repeat(151), "password": "1234567"}),
    )
    .await
    .assert(
        400,
        &json!({
            "email": ["user with this email already exists."],
            "first_name": ["Ensure this field has no more than 150 characters."],
            "password": [TOO_SHORT, TOO_COMMON, NUMERIC],
            "password_confirm": ["This field is required."],
        })
        .to_string(),
    );
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test]
async fn password_rules_follow_the_account_settings() {
    let app = accounts_app()
        .accounts(|accounts| {
            accounts.password.password_min_length = 12;
            accounts.password.password_reject_common = false;
            accounts.password.password_reject_numeric = false;
            accounts.password.password_max_similarity = 0.0;
        })
        .build()
        .await;

    register_with_password(&app, "iloveyou", json!({}))
        .await
        .assert(
            400,
            &field_error(
                "password",
                "This password is too short. It must contain at least 12 characters.",
            ),
        );
    let reply =
        register_with_password(&app, "123456789012", json!({"first_name": "123456789012"})).await;
    assert_eq!(reply.status(), 201, "{}", reply.text());
}

#[tokio::test]
async fn a_rejected_registration_creates_nothing_and_cannot_log_in() {
    let app = accounts_app().build().await;

    register_with_password(&app, "iloveyou", json!({}))
        .await
        .assert(400, &field_error("password", TOO_COMMON));

    assert_eq!(app.user_count().await, 0);
    assert!(app.user_by_email("ada@example.com").await.is_none());
    app.account_login("ada@example.com", "iloveyou")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    let sessions = app
        .tessera
        .auth()
        .store()
        .flush_expired_sessions(tessera_core::Timestamp::MAX, 100)
        .await
        .expect("flush");
    assert_eq!(sessions, 0, "a rejected registration opened a session");
}

#[tokio::test]
async fn the_password_is_kept_exactly_as_typed() {
    let app = accounts_app().build().await;
    let padded = "  analytical engine 1843  ";

    let reply = register_with_password(&app, padded, json!({})).await;
    assert_eq!(reply.status(), 201, "{}", reply.text());

    app.account_login("ada@example.com", ACCOUNT_PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login("ada@example.com", padded).await.ok();
}

#[tokio::test]
async fn a_padded_confirmation_does_not_match() {
    let app = accounts_app().build().await;

    app.register(&ada_with(
        json!({"password_confirm": format!("{ACCOUNT_PASSWORD} ")}),
    ))
    .await
    .assert(
        400,
        r#"{"password_confirm":["Password fields do not match."]}"#,
    );
}

#[tokio::test]
async fn a_form_encoded_registration_works() {
    let app = accounts_app().build().await;

    let reply = app
        .post_body(
            "/api/auth/register/",
            "application/x-www-form-urlencoded",
            "email=Ada%40EXAMPLE.com&first_name=Ada&last_name=Lovelace\
             &password=analytical+engine+1843&password_confirm=analytical+engine+1843",
        )
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(reply.json()["user"]["email"], json!("Ada@example.com"));
    app.account_login("Ada@example.com", ACCOUNT_PASSWORD)
        .await
        .ok();
}

#[tokio::test]
async fn odd_types_are_field_errors_never_a_500() {
    let app = accounts_app().build().await;

    app.register(&json!({
        "email": ["x"],
        "first_name": true,
        "last_name": {"a": 1},
        "password": [1],
        "password_confirm": null,
    }))
    .await
    .assert(
        400,
        r#"{"email":["Not a valid string."],"first_name":["Not a valid string."],"last_name":["Not a valid string."],"password":["Not a valid string."],"password_confirm":["This field may not be null."]}"#,
    );
    app.register(&json!({"email": 12, "password": false, "password_confirm": 1.5}))
        .await
        .assert(
            400,
            r#"{"email":["Enter a valid email address."],"password":["Not a valid string."]}"#,
        );
    for body in ["[]", "\"ada\"", "3", "null"] {
        let reply = app
            .post_body("/api/auth/register/", "application/json", body)
            .await;
        assert_eq!(reply.status(), 400, "{body}: {}", reply.text());
    }
    let reply = app
        .post_body("/api/auth/register/", "application/json", "{\"email\":")
        .await;
    assert_eq!(reply.status(), 400, "{}", reply.text());
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn numbers_for_names_are_taken_as_their_text() {
    let app = accounts_app().build().await;

    let reply = app
        .register(&ada_with(json!({"first_name": 42, "last_name": 7.5})))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(reply.json()["user"]["full_name"], json!("42 7.5"));
}

#[tokio::test]
async fn unknown_and_read_only_fields_are_ignored() {
    let app = accounts_app().build().await;

    let reply = app
        .register(&ada_with(json!({
            "id": 99,
            "is_active": false,
            "is_staff": true,
            "is_superuser": true,
            "date_joined": "2000-01-01T00:00:00Z",
            "favourite_colour": "green",
        })))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    let user = app.user_by_email("ada@example.com").await.expect("stored");
    assert_eq!(user.id, 1);
    assert!(user.is_active && !user.is_staff && !user.is_superuser);
    assert_eq!(reply.json()["user"]["date_joined"], json!(JOINED));
}

#[tokio::test]
async fn registration_tokens_carry_the_session_and_the_account_claims() {
    let app = accounts_app().build().await;

    let pair = app.register_ada().await;

    let claims = claims(&pair.access);
    assert_eq!(claims["user_id"], json!("1"));
    assert!(claims["sid"].is_string());
    assert_eq!(claims["email"], json!("ada@example.com"));
    assert_eq!(claims["full_name"], json!("Ada Lovelace"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_address_create_one_user_and_no_500() {
    let app = std::sync::Arc::new(accounts_app().build().await);
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(6));
    let tasks = ["ada@example.com", "ada@EXAMPLE.com", "ada@Example.com"]
        .iter()
        .cycle()
        .take(6)
        .zip(1u8..)
        .map(|(email, n)| {
            let (app, start) = (std::sync::Arc::clone(&app), std::sync::Arc::clone(&start));
            // Each from an address of its own: one address may have only a few hashes
            // under way at once.
            let request = app
                .client_from([127, 0, 0, n])
                .request(axum::http::Method::POST, "/api/auth/register/")
                .json(&ada_with(json!({"email": email})));
            tokio::spawn(async move {
                start.wait().await;
                app.send(request).await
            })
        });

    let replies: Vec<_> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("racer task"))
        .collect();

    let created = replies.iter().filter(|r| r.status() == 201).count();
    assert_eq!(created, 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status() != 201) {
        reply.assert(400, DUPLICATE);
    }
    assert_eq!(app.user_count().await, 1);
}
