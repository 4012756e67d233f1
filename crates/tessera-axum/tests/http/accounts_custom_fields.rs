//! custom user fields declared in the configuration — a Django custom user's
//! `phone_number`, `date_of_birth`, `is_premium`, and a required `tier` — validated with
//! DRF's messages on register and profile update, stored, shown, and copied into tokens.

use axum::http::Method;
use serde_json::{Value, json};
use tessera_auth::accounts::UserField;
use tessera_axum::AccountSettings;

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, Pair, Records, Reply, TestApp, accounts_app, claim_names, claims,
    field_error,
};

const JOINED: &str = "2025-06-15T15:06:40Z";
const DATE_FORMAT: &str = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";

/// The four fields, declared as a configuration file would declare them.
fn declare(accounts: &mut AccountSettings) {
    let fields: Vec<UserField> = serde_json::from_value(json!([
        {"name": "phone_number", "type": "string", "max_length": 20, "claim": true},
        {"name": "date_of_birth", "type": "date"},
        {"name": "is_premium", "type": "boolean", "read_only": true, "default": false, "claim": true},
        {"name": "tier", "type": "integer", "required": true},
    ]))
    .expect("valid declarations");
    accounts.user_fields = fields;
}

async fn custom_fields_app() -> TestApp {
    accounts_app().accounts(declare).build().await
}

/// Ada's registration with the custom fields, with `changes` applied (`null` removes).
fn ada_with(changes: Value) -> Value {
    let mut body = json!({
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone_number": "+44 20 7946 0000",
        "date_of_birth": "1815-12-10",
        "tier": 3,
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

/// The user object with the custom fields' JSON values in declaration order.
fn user_object(phone: &str, birth: &str, premium: bool, tier: &str) -> String {
    format!(
        r#"{{"id":1,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"email_verified":false,"date_joined":"{JOINED}","phone_number":{phone},"date_of_birth":{birth},"is_premium":{premium},"tier":{tier}}}"#
    )
}

/// Registers Ada with the custom fields; must succeed.
async fn register_ada(app: &TestApp) -> Pair {
    let reply = app.register(&ada_with(json!({}))).await;
    assert_eq!(reply.status(), 201, "{}", reply.text());
    let tokens = &reply.json()["tokens"];
    Pair {
        refresh: tokens["refresh"].as_str().expect("refresh").to_owned(),
        access: tokens["access"].as_str().expect("access").to_owned(),
    }
}

async fn patch(app: &TestApp, access: &str, body: &Value) -> Reply {
    app.bearer(Method::PATCH, "/api/auth/profile/", access, Some(body))
        .await
}

async fn put(app: &TestApp, access: &str, body: &Value) -> Reply {
    app.bearer(Method::PUT, "/api/auth/profile/", access, Some(body))
        .await
}

#[tokio::test]
async fn valid_values_are_stored_and_shown_after_date_joined_in_declaration_order() {
    let app = custom_fields_app().await;

    let reply = app.register(&ada_with(json!({}))).await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(
        reply.json()["user"].to_string(),
        user_object(r#""+44 20 7946 0000""#, r#""1815-12-10""#, false, "3")
    );
    let stored = app.user_by_email("ada@example.com").await.expect("stored");
    assert_eq!(
        stored.extra.get("phone_number"),
        Some(&json!("+44 20 7946 0000"))
    );
    assert_eq!(
        stored.extra.get("date_of_birth"),
        Some(&json!("1815-12-10"))
    );
    assert_eq!(stored.extra.get("is_premium"), Some(&json!(false)));
    assert_eq!(stored.extra.get("tier"), Some(&json!(3)));
}

#[tokio::test]
async fn the_profile_shows_the_custom_fields() {
    let app = custom_fields_app().await;
    let pair = register_ada(&app).await;

    app.profile(&pair.access).await.assert(
        200,
        &user_object(r#""+44 20 7946 0000""#, r#""1815-12-10""#, false, "3"),
    );
}

#[tokio::test]
async fn login_tokens_carry_the_fields_marked_as_claims() {
    let app = custom_fields_app().await;
    register_ada(&app).await;

    let reply = app.account_login("ada@example.com", ACCOUNT_PASSWORD).await;

    reply.ok();
    let access = reply.field("access");
    assert_eq!(
        claim_names(&access),
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "sid",
            "email",
            "first_name",
            "last_name",
            "full_name",
            "phone_number",
            "is_premium",
        ]
    );
    let claims = claims(&access);
    assert_eq!(claims["phone_number"], json!("+44 20 7946 0000"));
    assert_eq!(claims["is_premium"], json!(false));
    assert_eq!(
        claim_names(&reply.field("refresh")),
        claim_names(&access),
        "the refresh token carries the same claims"
    );
    // The login's short user object stays as the account service has it.
    assert_eq!(
        reply.json()["user"].to_string(),
        r#"{"id":1,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace"}"#
    );
}

#[tokio::test]
async fn optional_fields_may_be_left_out_and_show_null() {
    let app = custom_fields_app().await;

    let reply = app
        .register(&ada_with(
            json!({"phone_number": null, "date_of_birth": null}),
        ))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(
        reply.json()["user"].to_string(),
        user_object("null", "null", false, "3")
    );
}

#[tokio::test]
async fn the_required_field_must_be_given() {
    let app = custom_fields_app().await;

    app.register(&ada_with(json!({"tier": null})))
        .await
        .assert(400, &field_error("tier", "This field is required."));
    app.register(&json!({})).await.assert(
        400,
        r#"{"email":["This field is required."],"tier":["This field is required."],"password":["This field is required."],"password_confirm":["This field is required."]}"#,
    );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn invalid_values_get_drfs_message_for_their_type() {
    let app = custom_fields_app().await;

    app.register(&ada_with(json!({
        "phone_number": "+44 20 7946 0000 ext. 1234",
        "date_of_birth": "10/12/1815",
        "tier": "gold",
    })))
    .await
    .assert(
        400,
        &json!({
            "phone_number": ["Ensure this field has no more than 20 characters."],
            "date_of_birth": [DATE_FORMAT],
            "tier": ["A valid integer is required."],
        })
        .to_string(),
    );
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn odd_types_for_custom_fields_are_field_errors() {
    let app = custom_fields_app().await;

    app.register(&ada_with(json!({
        "phone_number": ["+44"],
        "date_of_birth": 1815,
        "tier": true,
    })))
    .await
    .assert(
        400,
        &json!({
            "phone_number": ["Not a valid string."],
            "date_of_birth": [DATE_FORMAT],
            "tier": ["A valid integer is required."],
        })
        .to_string(),
    );
    for tier in [json!(3.5), json!("3.5"), json!({}), json!(null)] {
        let reply = app.register(&ada_with(json!({"tier": tier}))).await;
        assert_eq!(reply.status(), 400, "{tier}: {}", reply.text());
        assert!(
            reply.json().get("tier").is_some(),
            "{tier}: {}",
            reply.text()
        );
    }
    app.register(&ada_with(json!({"date_of_birth": "1815-13-01"})))
        .await
        .assert(400, &field_error("date_of_birth", DATE_FORMAT));
    assert_eq!(app.user_count().await, 0);
}

#[tokio::test]
async fn twenty_characters_fit_and_values_are_trimmed() {
    let app = custom_fields_app().await;

    let reply = app
        .register(&ada_with(
            json!({"phone_number": "  +44 20 7946 00000000  ", "tier": " 7 "}),
        ))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    let user = &reply.json()["user"];
    assert_eq!(user["phone_number"], json!("+44 20 7946 00000000"));
    assert_eq!(user["tier"], json!(7));
}

#[tokio::test]
async fn a_read_only_field_in_the_body_is_ignored() {
    let app = custom_fields_app().await;

    let reply = app.register(&ada_with(json!({"is_premium": true}))).await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(reply.json()["user"]["is_premium"], json!(false));
    let stored = app.user_by_email("ada@example.com").await.expect("stored");
    assert_eq!(stored.extra.get("is_premium"), Some(&json!(false)));
    let access = app
        .account_login("ada@example.com", ACCOUNT_PASSWORD)
        .await
        .field("access");
    assert_eq!(claims(&access)["is_premium"], json!(false));
}

#[tokio::test]
async fn an_invalid_value_for_a_read_only_field_is_ignored_too() {
    let app = custom_fields_app().await;

    let reply = app
        .register(&ada_with(json!({"is_premium": "certainly"})))
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(reply.json()["user"]["is_premium"], json!(false));
}

#[tokio::test]
async fn patch_updates_one_custom_field_and_keeps_the_others() {
    let app = custom_fields_app().await;
    let pair = register_ada(&app).await;

    patch(&app, &pair.access, &json!({"phone_number": "+1 555 0100"}))
        .await
        .assert(
            200,
            &user_object(r#""+1 555 0100""#, r#""1815-12-10""#, false, "3"),
        );
    patch(&app, &pair.access, &json!({"tier": "7"}))
        .await
        .assert(
            200,
            &user_object(r#""+1 555 0100""#, r#""1815-12-10""#, false, "7"),
        );

    let stored = app.user_by_email("ada@example.com").await.expect("stored");
    assert_eq!(
        stored.extra.get("phone_number"),
        Some(&json!("+1 555 0100"))
    );
    assert_eq!(stored.extra.get("tier"), Some(&json!(7)));
    assert_eq!(
        stored.extra.get("date_of_birth"),
        Some(&json!("1815-12-10"))
    );
    app.profile(&pair.access).await.assert(
        200,
        &user_object(r#""+1 555 0100""#, r#""1815-12-10""#, false, "7"),
    );
}

#[tokio::test]
async fn patch_cannot_set_a_read_only_field() {
    let app = custom_fields_app().await;
    let pair = register_ada(&app).await;

    patch(
        &app,
        &pair.access,
        &json!({"is_premium": true, "date_of_birth": "1816-01-01"}),
    )
    .await
    .assert(
        200,
        &user_object(r#""+44 20 7946 0000""#, r#""1816-01-01""#, false, "3"),
    );
    let stored = app.user_by_email("ada@example.com").await.expect("stored");
    assert_eq!(stored.extra.get("is_premium"), Some(&json!(false)));
}

#[tokio::test]
async fn an_invalid_patch_changes_nothing() {
    let app = custom_fields_app().await;
    let pair = register_ada(&app).await;

    patch(
        &app,
        &pair.access,
        &json!({"first_name": "Augusta", "phone_number": "1".repeat(21), "tier": 4}),
    )
    .await
    .assert(
        400,
        &field_error(
            "phone_number",
            "Ensure this field has no more than 20 characters.",
        ),
    );
    patch(&app, &pair.access, &json!({"tier": null}))
        .await
        .assert(400, &field_error("tier", "This field may not be null."));

    app.profile(&pair.access).await.assert(
        200,
        &user_object(r#""+44 20 7946 0000""#, r#""1815-12-10""#, false, "3"),
    );
}

#[tokio::test]
async fn put_without_the_required_field_is_400_required() {
    let app = custom_fields_app().await;
    let pair = register_ada(&app).await;

    put(
        &app,
        &pair.access,
        &json!({"email": "ada@example.com", "phone_number": "+1 555 0100"}),
    )
    .await
    .assert(400, &field_error("tier", "This field is required."));
    app.profile(&pair.access).await.assert(
        200,
        &user_object(r#""+44 20 7946 0000""#, r#""1815-12-10""#, false, "3"),
    );

    put(
        &app,
        &pair.access,
        &json!({"email": "ada@example.com", "tier": 9}),
    )
    .await
    .assert(
        200,
        &user_object(r#""+44 20 7946 0000""#, r#""1815-12-10""#, false, "9"),
    );
}

#[tokio::test]
async fn a_form_encoded_registration_converts_the_text_values() {
    let app = custom_fields_app().await;

    let reply = app
        .post_body(
            "/api/auth/register/",
            "application/x-www-form-urlencoded",
            "email=ada%40example.com&first_name=Ada&last_name=Lovelace\
             &phone_number=%2B44+20+7946+0000&date_of_birth=1815-12-10&tier=3&is_premium=true\
             &password=analytical+engine+1843&password_confirm=analytical+engine+1843",
        )
        .await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(
        reply.json()["user"].to_string(),
        user_object(r#""+44 20 7946 0000""#, r#""1815-12-10""#, false, "3")
    );
}

#[tokio::test]
async fn without_declared_fields_the_user_object_is_the_seeds() {
    let app = accounts_app().build().await;

    let reply = app.register(&ada_with(json!({}))).await;

    assert_eq!(reply.status(), 201, "{}", reply.text());
    assert_eq!(
        reply.json()["user"].to_string(),
        format!(
            r#"{{"id":1,"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}}"#
        )
    );
    let stored = app.user_by_email("ada@example.com").await.expect("stored");
    assert!(stored.extra.is_empty(), "{:?}", stored.extra);
}

#[tokio::test]
async fn a_later_declared_default_shows_for_users_who_never_set_it() {
    let app = accounts_app().accounts(|accounts| {
            accounts.user_fields = serde_json::from_value(json!([
                {"name": "plan", "type": "string", "default": "free", "read_only": true, "claim": true},
            ]))
            .expect("valid declarations");
        }).build()
    .await;
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;

    let reply = app
        .account_login("ada@example.com", crate::helpers::PASSWORD)
        .await;

    assert_eq!(claims(&reply.field("access"))["plan"], json!("free"));
    assert_eq!(
        app.profile(&reply.field("access")).await.ok()["plan"],
        json!("free")
    );
    assert!(app.user(ada.id).await.extra.is_empty());
}
