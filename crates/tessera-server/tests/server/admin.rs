//! The admin API: staff only, DRF pagination, and account changes that take effect at once.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn only_staff_reach_the_admin_api() {
    let app = TestApp::build().await;
    app.create_user("plain@example.com").await;
    let plain = app.access_token("plain@example.com").await;
    let (status, body, _) = app.send("GET", "/api/admin/users/", None, None).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    for (method, path) in [
        ("GET", "/api/admin/users/"),
        ("GET", "/api/admin/users/1/"),
        ("PATCH", "/api/admin/users/1/"),
        ("DELETE", "/api/admin/users/1/"),
        ("POST", "/api/admin/users/1/revoke_sessions/"),
    ] {
        let (status, body, _) = app.send(method, path, Some(&plain), Some(json!({}))).await;
        assert_eq!(
            (status, body),
            (
                403,
                json!({"detail": "You do not have permission to perform this action."})
            ),
            "{method} {path}"
        );
    }
    assert!(
        app.tessera
            .auth()
            .store()
            .user_by_id(1)
            .await
            .unwrap()
            .is_some(),
        "nothing was deleted"
    );
}

#[tokio::test]
async fn the_list_is_paginated_and_searchable_like_drf() {
    let app = TestApp::build_with(|c| c.accounts.page_size = 2).await;
    app.create_staff("admin@example.com").await;
    for name in ["ada", "grace", "hedy", "katherine"] {
        app.create_user(&format!("{name}@example.com")).await;
    }
    let admin = app.access_token("admin@example.com").await;
    let host = tessera_axum::testing::TEST_HOST;

    let (status, page1, _) = app
        .send("GET", "/api/admin/users/", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    let keys: Vec<_> = page1.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["count", "next", "previous", "results"]);
    assert_eq!(page1["count"], 5);
    assert_eq!(
        page1["next"],
        format!("http://{host}/api/admin/users/?page=2")
    );
    assert_eq!(page1["previous"], json!(null));
    assert_eq!(page1["results"][0]["email"], "admin@example.com");
    assert_eq!(page1["results"][0]["is_staff"], true);
    assert!(page1["results"][0].get("password_hash").is_none());

    let (_, page3, _) = app
        .send("GET", "/api/admin/users/?page=3", Some(&admin), None)
        .await;
    assert_eq!(page3["next"], json!(null));
    assert_eq!(
        page3["previous"],
        format!("http://{host}/api/admin/users/?page=2")
    );
    assert_eq!(page3["results"].as_array().unwrap().len(), 1);

    for bad in ["?page=4", "?page=0", "?page=x"] {
        let (status, body, _) = app
            .send(
                "GET",
                &format!("/api/admin/users/{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(
            (status, body),
            (404, json!({"detail": "Invalid page."})),
            "{bad}"
        );
    }

    let (_, found, _) = app
        .send("GET", "/api/admin/users/?search=GRACE", Some(&admin), None)
        .await;
    assert_eq!(found["count"], 1);
    assert_eq!(found["results"][0]["email"], "grace@example.com");
    let (_, by_name, _) = app
        .send(
            "GET",
            "/api/admin/users/?search=lovelace",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(by_name["count"], 5, "every test user is a Lovelace");
    assert_eq!(
        by_name["next"],
        format!("http://{host}/api/admin/users/?search=lovelace&page=2")
    );
}

#[tokio::test]
async fn deactivating_a_user_ends_their_sessions_at_once() {
    let app = TestApp::build().await;
    app.create_staff("admin@example.com").await;
    let victim = app.create_user("ada@example.com").await;
    let admin = app.access_token("admin@example.com").await;
    let (_, tokens, _) = app
        .post(
            "/api/auth/login/",
            json!({"email": "ada@example.com", "password": crate::helpers::PASSWORD}),
        )
        .await;
    let access = tokens["access"].as_str().unwrap();
    assert_eq!(app.get("/api/auth/profile/", Some(access)).await.0, 200);

    let path = format!("/api/admin/users/{}/", victim.id);
    let (status, body, _) = app
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"is_active": false, "first_name": "Augusta"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["is_active"].clone(), body["first_name"].clone()),
        (json!(false), json!("Augusta"))
    );

    let (status, body, _) = app.get("/api/auth/profile/", Some(access)).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "User is inactive", "code": "user_inactive"})
        )
    );
    let (status, _, _) = app
        .post("/api/token/refresh/", json!({"refresh": tokens["refresh"]}))
        .await;
    assert_eq!(status, 401);
    assert!(
        app.tessera
            .auth()
            .store()
            .live_sessions(victim.id, tessera_core::Timestamp::UNIX_EPOCH)
            .await
            .unwrap()
            .is_empty()
    );

    let (status, body, _) = app
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"is_staff": "perhaps"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"is_staff": ["Must be a valid boolean."]}))
    );
}

#[tokio::test]
async fn staff_can_retrieve_delete_and_end_sessions() {
    let app = TestApp::build().await;
    app.create_staff("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let admin = app.access_token("admin@example.com").await;
    let ada_access = app.access_token("ada@example.com").await;

    let path = format!("/api/admin/users/{}/", ada.id);
    let (status, body, _) = app.send("GET", &path, Some(&admin), None).await;
    assert_eq!(
        (
            status,
            body["email"].clone(),
            body["last_login"].is_string()
        ),
        (200, json!("ada@example.com"), true)
    );
    assert_eq!(
        app.send("GET", "/api/admin/users/999/", Some(&admin), None)
            .await
            .0,
        404
    );
    assert_eq!(
        app.send("GET", "/api/admin/users/abc/", Some(&admin), None)
            .await
            .0,
        404
    );

    let (status, body, _) = app
        .send(
            "POST",
            &format!("/api/admin/users/{}/revoke_sessions/", ada.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, body["sessions_ended"].clone()), (200, json!(1)));
    assert_eq!(
        app.get("/api/auth/profile/", Some(&ada_access)).await.0,
        401
    );

    let (status, _, _) = app.send("DELETE", &path, Some(&admin), None).await;
    assert_eq!(status, 204);
    assert!(
        app.tessera
            .auth()
            .store()
            .user_by_id(ada.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.send("DELETE", &path, Some(&admin), None).await.0, 404);
}

#[tokio::test]
async fn custom_fields_from_the_configuration_reach_the_api() {
    use tessera_auth::accounts::{FieldKind, UserField};
    let app = TestApp::build_with(|c| {
        c.accounts.user_fields = vec![UserField {
            name: "phone_number".into(),
            kind: FieldKind::String,
            required: false,
            max_length: Some(20),
            read_only: false,
            claim: true,
            default: None,
        }];
    })
    .await;
    let body = json!({
        "email": "new@example.com",
        "password": "a long enough passphrase",
        "password_confirm": "a long enough passphrase",
        "phone_number": "+44 20 7946 0958",
    });
    let (status, registered, _) = app.post("/api/auth/register/", body).await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["user"]["phone_number"], "+44 20 7946 0958");
    let access = registered["tokens"]["access"].as_str().unwrap();
    let now = app.tessera.auth().now();
    let token = app
        .tessera
        .auth()
        .backend()
        .decode(&tessera_core::TokenKind::access(), access, now)
        .unwrap();
    assert_eq!(token.get("phone_number"), Some(&json!("+44 20 7946 0958")));
}

#[tokio::test]
async fn staff_can_lift_a_login_lockout() {
    let app = TestApp::build_with(|c| {
        c.throttling.throttle_rates.clear();
        c.throttling.login_failure_limit = 2;
    })
    .await;
    app.create_staff("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let admin = app.access_token("admin@example.com").await;
    for _ in 0..2 {
        let (status, _, _) = app
            .post(
                "/api/auth/login/",
                json!({"email": "ada@example.com", "password": "wrong"}),
            )
            .await;
        assert_eq!(status, 401);
    }
    let right = json!({"email": "ada@example.com", "password": crate::helpers::PASSWORD});
    assert_eq!(
        app.post("/api/auth/login/", right.clone()).await.0,
        401,
        "locked"
    );
    let path = format!("/api/admin/users/{}/unlock/", ada.id);
    let (status, body, _) = app.send("POST", &path, Some(&admin), None).await;
    assert_eq!((status, body), (200, json!({"message": "Login unlocked"})));
    assert_eq!(app.post("/api/auth/login/", right).await.0, 200, "unlocked");
}

// ---- privilege rules (security review F8) ----

/// An app with no throttles, a superuser (`root@example.com`), a staff member who is not
/// one (`staff@example.com`) and a plain user (`ada@example.com`).
async fn privileged_app() -> (
    TestApp,
    tessera_store::User,
    tessera_store::User,
    tessera_store::User,
) {
    let app = TestApp::build_with(|c| c.throttling.throttle_rates.clear()).await;
    let root = app.create_superuser("root@example.com").await;
    let staff = app.create_staff("staff@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    (app, root, staff, ada)
}

impl TestApp {
    /// A user who is staff and superuser.
    async fn create_superuser(&self, email: &str) -> tessera_store::User {
        let user = self.create_user(email).await;
        let flags = tessera_store::UserFlags {
            is_staff: Some(true),
            is_superuser: Some(true),
            ..Default::default()
        };
        self.tessera
            .auth()
            .store()
            .set_user_flags(user.id, &flags)
            .await
            .unwrap();
        self.tessera.auth().user(user.id).await.unwrap()
    }

    /// The audit events named `event`, oldest first.
    async fn audited(&self, event: &str) -> Vec<tessera_store::AuditEvent> {
        self.tessera.auth().audit_log().flush().await;
        let filter = tessera_store::AuditFilter {
            event: Some(event.into()),
            ..Default::default()
        };
        let (_, mut events) = self
            .tessera
            .auth()
            .store()
            .list_audit_events(&filter, 1000, 0)
            .await
            .unwrap();
        events.reverse();
        events
    }
}

#[tokio::test]
async fn staff_who_are_not_superusers_cannot_touch_superusers_or_staff_flags() {
    let (app, root, staff, ada) = privileged_app().await;
    let token = app.access_token("staff@example.com").await;
    let user = |u: &tessera_store::User| format!("/api/admin/users/{}/", u.id);
    let refusals = [
        (
            "PATCH",
            user(&root),
            Some(json!({"first_name": "Mallory"})),
            "superuser",
        ),
        (
            "PATCH",
            user(&root),
            Some(json!({"is_active": false})),
            "superuser",
        ),
        (
            "PATCH",
            user(&root),
            Some(json!({"is_staff": false})),
            "superuser",
        ),
        ("DELETE", user(&root), None, "superuser"),
        (
            "POST",
            format!("/api/admin/users/{}/revoke_sessions/", root.id),
            None,
            "superuser",
        ),
        (
            "PATCH",
            user(&ada),
            Some(json!({"is_staff": true})),
            "staff",
        ),
        (
            "PATCH",
            user(&staff),
            Some(json!({"is_staff": false})),
            "staff",
        ),
    ];
    for (method, path, body, about) in &refusals {
        let (status, answer, _) = app.send(method, path, Some(&token), body.clone()).await;
        assert_eq!(status, 403, "{method} {path} {body:?}: {answer}");
        let detail = answer["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(about), "{method} {path}: {answer}");
        assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    }

    // Nothing changed.
    let root_now = app.tessera.auth().user(root.id).await.unwrap();
    assert!(root_now.is_active && root_now.is_staff && root_now.is_superuser);
    assert_eq!(root_now.first_name, root.first_name);
    assert!(!app.tessera.auth().user(ada.id).await.unwrap().is_staff);
    assert!(app.tessera.auth().user(staff.id).await.unwrap().is_staff);
    // Each refusal is audited, with the staff member as the actor.
    let refused = app.audited("admin.permission_denied").await;
    assert_eq!(refused.len(), refusals.len());
    assert!(refused.iter().all(|e| e.actor_id == Some(staff.id)));
    assert_eq!(refused[0].user_id, Some(root.id));

    // What staff may still do to plain users.
    let (status, body, _) = app
        .send(
            "PATCH",
            &user(&ada),
            Some(&token),
            Some(json!({"first_name": "Augusta"})),
        )
        .await;
    assert_eq!((status, &body["first_name"]), (200, &json!("Augusta")));
    let (status, _, _) = app
        .send(
            "POST",
            &format!("/api/admin/users/{}/unlock/", root.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "lifting a lockout harms nobody");
}

#[tokio::test]
async fn superusers_manage_staff_but_never_remove_the_last_active_superuser() {
    let (app, root, staff, ada) = privileged_app().await;
    let token = app.access_token("root@example.com").await;
    let user = |u: &tessera_store::User| format!("/api/admin/users/{}/", u.id);

    let (status, body, _) = app
        .send(
            "PATCH",
            &user(&ada),
            Some(&token),
            Some(json!({"is_staff": true})),
        )
        .await;
    assert_eq!((status, &body["is_staff"]), (200, &json!(true)));
    let (status, body, _) = app
        .send(
            "PATCH",
            &user(&staff),
            Some(&token),
            Some(json!({"is_staff": false})),
        )
        .await;
    assert_eq!((status, &body["is_staff"]), (200, &json!(false)));

    // The only active superuser cannot demote, deactivate or delete themselves.
    for (method, body) in [
        ("PATCH", Some(json!({"is_staff": false}))),
        ("PATCH", Some(json!({"is_active": false}))),
        ("DELETE", None),
    ] {
        let (status, answer, _) = app
            .send(method, &user(&root), Some(&token), body.clone())
            .await;
        assert_eq!(status, 403, "{method} {body:?}: {answer}");
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("last active superuser"),
            "{answer}"
        );
    }
    let root_now = app.tessera.auth().user(root.id).await.unwrap();
    assert!(root_now.is_active && root_now.is_staff && root_now.is_superuser);
    assert_eq!(app.audited("admin.permission_denied").await.len(), 3);

    // With a second superuser, one of them may go.
    let second = app.create_superuser("second@example.com").await;
    let (status, _, _) = app
        .send(
            "PATCH",
            &user(&second),
            Some(&token),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(status, 200);
    // An inactive superuser does not count: root is the last active one again.
    let (status, _, _) = app.send("DELETE", &user(&root), Some(&token), None).await;
    assert_eq!(status, 403);
    let (status, _, _) = app.send("DELETE", &user(&second), Some(&token), None).await;
    assert_eq!(status, 204);
}

/// `is_premium`: read-only for users, set by staff.
fn premium_app() -> impl FnOnce(&mut tessera_server::config::Config) {
    |c| {
        c.throttling.throttle_rates.clear();
        c.accounts.user_fields = vec![tessera_auth::accounts::UserField {
            name: "is_premium".into(),
            kind: tessera_auth::accounts::FieldKind::Boolean,
            required: false,
            max_length: None,
            read_only: true,
            claim: true,
            default: Some(json!(false)),
        }];
    }
}

#[tokio::test]
async fn staff_set_read_only_custom_fields_that_users_cannot() {
    let app = TestApp::build_with(premium_app()).await;
    app.create_staff("staff@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let staff = app.access_token("staff@example.com").await;
    let own = app.access_token("ada@example.com").await;
    let path = format!("/api/admin/users/{}/", ada.id);

    // The user cannot grant it to themselves…
    let (status, body, _) = app
        .send(
            "PATCH",
            "/api/auth/profile/",
            Some(&own),
            Some(json!({"is_premium": true})),
        )
        .await;
    assert_eq!(
        (status, &body["is_premium"]),
        (200, &json!(false)),
        "{body}"
    );
    // …staff can, with the field's own rules, and it is audited.
    let (status, body, _) = app
        .send(
            "PATCH",
            &path,
            Some(&staff),
            Some(json!({"is_premium": "certainly"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"is_premium": ["Must be a valid boolean."]}));
    let (status, body, _) = app
        .send(
            "PATCH",
            &path,
            Some(&staff),
            Some(json!({"is_premium": true})),
        )
        .await;
    assert_eq!((status, &body["is_premium"]), (200, &json!(true)), "{body}");
    let stored = app.tessera.auth().user(ada.id).await.unwrap();
    assert_eq!(stored.extra.get("is_premium"), Some(&json!(true)));
    let updated = app.audited("admin.user_updated").await;
    let detail: serde_json::Value =
        serde_json::from_str(updated.last().unwrap().detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["is_premium"], json!(true));
    // The next login's tokens carry it.
    let access = app.access_token("ada@example.com").await;
    let now = app.tessera.auth().now();
    let token = app
        .tessera
        .auth()
        .backend()
        .decode(&tessera_core::TokenKind::access(), &access, now)
        .unwrap();
    assert_eq!(token.get("is_premium"), Some(&json!(true)));
}

#[tokio::test]
async fn the_list_is_filtered_by_the_flags() {
    let app = TestApp::build().await;
    app.create_staff("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let grace = app.create_user("grace@example.com").await;
    let store = app.tessera.auth().store();
    let inactive = tessera_store::UserFlags {
        is_active: Some(false),
        ..Default::default()
    };
    store.set_user_flags(grace.id, &inactive).await.unwrap();
    store.set_email_verified(ada.id, true).await.unwrap();
    let admin = app.access_token("admin@example.com").await;
    let emails = |body: &serde_json::Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };

    for (query, expected) in [
        ("is_active=false", vec!["grace@example.com"]),
        ("is_active=true&is_staff=false", vec!["ada@example.com"]),
        ("is_staff=1", vec!["admin@example.com"]),
        ("email_verified=true", vec!["ada@example.com"]),
        (
            "email_verified=false&is_active=",
            vec!["admin@example.com", "grace@example.com"],
        ),
        (
            "search=a&is_active=true&email_verified=false",
            vec!["admin@example.com"],
        ),
    ] {
        let (status, body, _) = app
            .send(
                "GET",
                &format!("/api/admin/users/?{query}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(emails(&body), expected, "{query}");
        assert_eq!(body["count"], expected.len(), "{query}");
    }

    let (status, body, _) = app
        .send(
            "GET",
            "/api/admin/users/?is_active=maybe&is_staff=2",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({
                "is_active": ["Must be a valid boolean."],
                "is_staff": ["Must be a valid boolean."],
            })
        )
    );
}

#[tokio::test]
async fn staff_see_the_live_sessions_of_a_user() {
    let app = TestApp::build().await;
    app.create_staff("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let ada_access = app.access_token("ada@example.com").await;
    app.access_token("ada@example.com").await;
    let path = format!("/api/admin/users/{}/sessions/", ada.id);

    assert_eq!(app.send("GET", &path, None, None).await.0, 401);
    assert_eq!(app.send("GET", &path, Some(&ada_access), None).await.0, 403);
    let admin = app.access_token("admin@example.com").await;
    let (status, body, _) = app.send("GET", &path, Some(&admin), None).await;
    assert_eq!(status, 200, "{body}");
    let sessions = body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let keys: Vec<_> = sessions[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "created_at",
            "last_used_at",
            "expires_at",
            "user_agent",
            "ip"
        ]
    );

    app.send(
        "POST",
        &format!("/api/admin/users/{}/revoke_sessions/", ada.id),
        Some(&admin),
        None,
    )
    .await;
    let (_, body, _) = app.send("GET", &path, Some(&admin), None).await;
    assert_eq!(body, json!([]));
    assert_eq!(
        app.send("GET", "/api/admin/users/999/sessions/", Some(&admin), None)
            .await
            .0,
        404
    );
}
