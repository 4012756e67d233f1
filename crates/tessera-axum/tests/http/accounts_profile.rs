//! docs/API.md §5 `GET/PUT/PATCH /api/auth/profile/` (the account service's `UserProfileView` with its
//! `UserSerializer`: `id`, `date_joined`, `is_active` and `email` are read-only; the address
//! changes through `email/change/`).

use axum::http::Method;
use serde_json::{Value, json};

use crate::helpers::{Api, NOT_PROVIDED, PASSWORD, Pair, Records, TestApp, accounts_app};

/// `date_joined` of users made by the test helpers.
const JOINED: &str = "2025-06-15T15:06:40Z";

/// Ada, stored, and a login of hers.
async fn ada(app: &TestApp) -> (i64, Pair) {
    let user = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    (user.id, app.account_pair("ada@example.com", PASSWORD).await)
}

fn user_object(id: i64, email: &str, first: &str, last: &str, full: &str) -> String {
    format!(
        r#"{{"id":{id},"email":"{email}","first_name":"{first}","last_name":"{last}","full_name":"{full}","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}}"#
    )
}

async fn put(app: &TestApp, access: &str, body: &Value) -> crate::helpers::Reply {
    app.bearer(Method::PUT, "/api/auth/profile/", access, Some(body))
        .await
}

async fn patch(app: &TestApp, access: &str, body: &Value) -> crate::helpers::Reply {
    app.bearer(Method::PATCH, "/api/auth/profile/", access, Some(body))
        .await
}

#[tokio::test]
async fn get_answers_the_user_object() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    app.profile(&pair.access).await.assert(
        200,
        &user_object(id, "ada@example.com", "Ada", "Lovelace", "Ada Lovelace"),
    );
}

#[tokio::test]
async fn the_profile_needs_authentication() {
    let app = accounts_app().build().await;

    app.get_auth("/api/auth/profile/", None)
        .await
        .assert(401, NOT_PROVIDED);
    app.send(
        app.request(Method::PATCH, "/api/auth/profile/")
            .json(&json!({"first_name": "X"})),
    )
    .await
    .assert(401, NOT_PROVIDED);
    app.send(
        app.request(Method::PUT, "/api/auth/profile/")
            .json(&json!({"email": "x@example.com"})),
    )
    .await
    .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn put_replaces_the_names_and_ignores_the_email() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    put(
        &app,
        &pair.access,
        &json!({"email": "augusta@EXAMPLE.com", "first_name": " Augusta ", "last_name": "King"}),
    )
    .await
    .assert(
        200,
        &user_object(id, "ada@example.com", "Augusta", "King", "Augusta King"),
    );

    let stored = app.user(id).await;
    assert_eq!(
        (
            stored.email.as_str(),
            stored.first_name.as_str(),
            stored.last_name.as_str()
        ),
        ("ada@example.com", "Augusta", "King")
    );
    assert!(app.user_by_email("augusta@example.com").await.is_none());
    app.profile(&pair.access).await.assert(
        200,
        &user_object(id, "ada@example.com", "Augusta", "King", "Augusta King"),
    );
}

#[tokio::test]
async fn put_does_not_need_the_email() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    put(&app, &pair.access, &json!({"first_name": "Augusta"}))
        .await
        .assert(
            200,
            &user_object(
                id,
                "ada@example.com",
                "Augusta",
                "Lovelace",
                "Augusta Lovelace",
            ),
        );
    put(
        &app,
        &pair.access,
        &json!({"email": "", "first_name": "Ada"}),
    )
    .await
    .assert(
        200,
        &user_object(id, "ada@example.com", "Ada", "Lovelace", "Ada Lovelace"),
    );
}

#[tokio::test]
async fn put_without_names_keeps_them() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    put(&app, &pair.access, &json!({"email": "ada@example.com"}))
        .await
        .assert(
            200,
            &user_object(id, "ada@example.com", "Ada", "Lovelace", "Ada Lovelace"),
        );
}

#[tokio::test]
async fn patch_changes_only_what_it_is_given() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    patch(&app, &pair.access, &json!({"first_name": "Augusta"}))
        .await
        .assert(
            200,
            &user_object(
                id,
                "ada@example.com",
                "Augusta",
                "Lovelace",
                "Augusta Lovelace",
            ),
        );
    patch(&app, &pair.access, &json!({"last_name": ""}))
        .await
        .assert(
            200,
            &user_object(id, "ada@example.com", "Augusta", "", "Augusta"),
        );
    patch(&app, &pair.access, &json!({"first_name": ""}))
        .await
        .assert(
            200,
            &user_object(id, "ada@example.com", "", "", "ada@example.com"),
        );
    patch(&app, &pair.access, &json!({})).await.assert(
        200,
        &user_object(id, "ada@example.com", "", "", "ada@example.com"),
    );
}

#[tokio::test]
async fn patch_does_not_change_the_email() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;
    let grace = app
        .create_named_user("grace@example.com", "Grace", "Hopper")
        .await;

    for email in [
        "countess@example.com",
        "ada@EXAMPLE.COM",
        "grace@example.com",
    ] {
        patch(&app, &pair.access, &json!({"email": email}))
            .await
            .assert(
                200,
                &user_object(id, "ada@example.com", "Ada", "Lovelace", "Ada Lovelace"),
            );
    }
    patch(
        &app,
        &pair.access,
        &json!({"email": "grace@example.com", "first_name": "Augusta"}),
    )
    .await
    .assert(
        200,
        &user_object(
            id,
            "ada@example.com",
            "Augusta",
            "Lovelace",
            "Augusta Lovelace",
        ),
    );

    assert!(app.user_by_email("countess@example.com").await.is_none());
    assert_eq!(app.user(id).await.email, "ada@example.com");
    assert_eq!(app.user(grace.id).await.email, "grace@example.com");
    app.account_login("ada@example.com", PASSWORD).await.ok();
}

#[tokio::test]
async fn id_date_joined_and_is_active_are_read_only() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    patch(
        &app,
        &pair.access,
        &json!({
            "id": id + 100,
            "date_joined": "2000-01-01T00:00:00Z",
            "is_active": false,
            "is_staff": true,
            "full_name": "Someone Else",
            "first_name": "Augusta",
        }),
    )
    .await
    .assert(
        200,
        &user_object(
            id,
            "ada@example.com",
            "Augusta",
            "Lovelace",
            "Augusta Lovelace",
        ),
    );
    put(
        &app,
        &pair.access,
        &json!({"email": "ada@example.com", "is_active": "false", "id": 7}),
    )
    .await
    .assert(
        200,
        &user_object(
            id,
            "ada@example.com",
            "Augusta",
            "Lovelace",
            "Augusta Lovelace",
        ),
    );

    let stored = app.user(id).await;
    assert!(stored.is_active && !stored.is_staff);
    assert_eq!(stored.date_joined, crate::helpers::NOW);
    app.profile(&pair.access).await.ok();
}

#[tokio::test]
async fn names_over_150_characters_are_refused() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;
    let long = "n".repeat(151);

    patch(&app, &pair.access, &json!({"first_name": long, "last_name": long}))
        .await
        .assert(
            400,
            r#"{"first_name":["Ensure this field has no more than 150 characters."],"last_name":["Ensure this field has no more than 150 characters."]}"#,
        );
    assert_eq!(app.user(id).await.first_name, "Ada");

    let longest = "n".repeat(150);
    let reply = patch(&app, &pair.access, &json!({"first_name": longest})).await;
    assert_eq!(reply.ok()["first_name"], json!(longest));
}

#[tokio::test]
async fn a_blank_null_or_invalid_email_on_patch_is_ignored() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    for email in [
        json!(""),
        json!("   "),
        json!(null),
        json!("ada.example.com"),
        json!(["ada@example.com"]),
    ] {
        patch(
            &app,
            &pair.access,
            &json!({"email": email, "first_name": "Augusta"}),
        )
        .await
        .assert(
            200,
            &user_object(
                id,
                "ada@example.com",
                "Augusta",
                "Lovelace",
                "Augusta Lovelace",
            ),
        );
    }
    assert_eq!(app.user(id).await.email, "ada@example.com");
}

#[tokio::test]
async fn a_null_name_is_refused() {
    let app = accounts_app().build().await;
    let (_, pair) = ada(&app).await;

    patch(
        &app,
        &pair.access,
        &json!({"first_name": null, "last_name": true}),
    )
    .await
    .assert(
        400,
        r#"{"first_name":["This field may not be null."],"last_name":["Not a valid string."]}"#,
    );
}

#[tokio::test]
async fn a_form_encoded_patch_works() {
    let app = accounts_app().build().await;
    let (id, pair) = ada(&app).await;

    app.send(
        app.request(Method::PATCH, "/api/auth/profile/")
            .bearer_auth(&pair.access)
            .form(&[("last_name", "King"), ("is_active", "false")]),
    )
    .await
    .assert(
        200,
        &user_object(id, "ada@example.com", "Ada", "King", "Ada King"),
    );
}

#[tokio::test]
async fn the_profile_is_the_callers_own() {
    let app = accounts_app().build().await;
    let (ada_id, ada_pair) = ada(&app).await;
    let grace = app
        .create_named_user("grace@example.com", "Grace", "Hopper")
        .await;
    let grace_pair = app.account_pair("grace@example.com", PASSWORD).await;

    patch(&app, &grace_pair.access, &json!({"first_name": "Amazing"}))
        .await
        .assert(
            200,
            &user_object(
                grace.id,
                "grace@example.com",
                "Amazing",
                "Hopper",
                "Amazing Hopper",
            ),
        );

    app.profile(&ada_pair.access).await.assert(
        200,
        &user_object(ada_id, "ada@example.com", "Ada", "Lovelace", "Ada Lovelace"),
    );
}

#[tokio::test]
async fn delete_is_not_allowed() {
    let app = accounts_app().build().await;
    let (_, pair) = ada(&app).await;

    let reply = app
        .bearer(Method::DELETE, "/api/auth/profile/", &pair.access, None)
        .await;
    reply.assert(405, r#"{"detail":"Method \"DELETE\" not allowed."}"#);
    assert!(app.user_by_email("ada@example.com").await.is_some());
}
