//! The admin API for keys: staff only, store-kept keys only, DRF-shaped errors.

use serde_json::json;
use tessera_core::Settings;

use crate::helpers::*;

#[tokio::test]
async fn staff_generate_rotate_and_retire_keys() {
    let app = keys_app(store_settings(|_| {})).build().await;
    create_user(&app, "admin@example.com", true).await;
    create_user(&app, "user@example.com", false).await;
    let (_, admin) = app.login("admin@example.com").await;
    let (_, user) = app.login("user@example.com").await;
    let k1 = kid_of(&admin).unwrap();

    assert_eq!(app.get("/api/admin/keys/", None).await.0, 401);
    assert_eq!(app.get("/api/admin/keys/", Some(&user)).await.0, 403);
    assert_eq!(app.post("/api/admin/keys/", &user, json!({})).await.0, 403);

    let (status, body) = app
        .post("/api/admin/keys/", &admin, json!({"algorithm": "none"}))
        .await;
    assert_eq!(
        (status, body.to_string()),
        (
            400,
            r#"{"algorithm":["\"none\" is not a valid choice."]}"#.into()
        )
    );

    let (status, generated) = app
        .post("/api/admin/keys/", &admin, json!({"algorithm": "RS256"}))
        .await;
    assert_eq!(status, 201, "{generated}");
    assert_eq!(
        (generated["state"].as_str(), generated["algorithm"].as_str()),
        (Some("published"), Some("RS256"))
    );
    let k2 = generated["kid"].as_str().unwrap().to_owned();
    assert_eq!(app.jwks_kids().await, [k1.clone(), k2.clone()]);

    let (status, body) = app
        .post(&format!("/api/admin/keys/{k1}/retire/"), &admin, json!({}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("only key signing"),
        "{body}"
    );
    let (status, _) = app
        .post("/api/admin/keys/nope/retire/", &admin, json!({}))
        .await;
    assert_eq!(status, 404);

    // Rotating to RS256 takes the published key; it was published 0 s ago, so it waits
    // the whole lead.
    let (status, rotated) = app
        .post(
            "/api/admin/keys/rotate/",
            &admin,
            json!({"algorithm": "RS256"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (rotated["kid"].as_str(), rotated["state"].as_str()),
        (Some(k2.as_str()), Some("scheduled"))
    );
    app.advance(61);
    app.tessera.auth().reload_keys().await.unwrap();
    let (_, fresh) = app.login("admin@example.com").await;
    assert_eq!(kid_of(&fresh).unwrap(), k2);
    // A published key nobody scheduled can be retired at once.
    let (_, spare) = app.post("/api/admin/keys/", &fresh, json!({})).await;
    let spare = spare["kid"].as_str().unwrap().to_owned();
    let (status, retired) = app
        .post(
            &format!("/api/admin/keys/{spare}/retire/"),
            &fresh,
            json!({}),
        )
        .await;
    assert_eq!((status, retired["state"].as_str()), (200, Some("retired")));
    // Tokens of the first key still authenticate.
    assert_eq!(app.get("/api/protected/", Some(&admin)).await.0, 200);
}

#[tokio::test]
async fn with_keys_in_the_settings_there_is_nothing_to_manage() {
    let app = keys_app(Settings {
        signing_key: Some("an-hmac-secret-of-at-least-32-bytes-long".into()),
        ..Settings::default()
    })
    .build()
    .await;
    create_user(&app, "admin@example.com", true).await;
    let (_, admin) = app.login("admin@example.com").await;
    let (status, body) = app.post("/api/admin/keys/rotate/", &admin, json!({})).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("key_source"),
        "{body}"
    );
}
