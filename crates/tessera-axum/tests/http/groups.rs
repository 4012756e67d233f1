//! Groups and permissions over HTTP: the admin API's `admin/groups/` routes and the admin
//! user object's `groups` and `user_permissions`, with every refusal (401, 403, 404, 400);
//! `Require<HasPerm<…>>` on an application's route; and the claims of
//! `token_permission_claims`.

use axum::routing::get;
use serde_json::{Value, json};
use tessera_auth::accounts::PermissionClaims;
use tessera_axum::routes::{admin_routes, token_routes};
use tessera_axum::testing::{TestApp, TestClient};
use tessera_axum::{HasPerm, PermName as _, Require, TokenUser, perm};
use tessera_store::{NewUser, User};

use crate::helpers::{Api, NOT_FOUND, NOT_PROVIDED, PASSWORD, Records, Reply, claims};

const DENIED: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

perm!(
    /// `notes.delete_note`.
    DeleteNote = "notes.delete_note"
);

/// `GET /api/notes/delete/`: users who hold `notes.delete_note`.
async fn delete_note(user: Require<HasPerm<DeleteNote>>) -> axum::Json<Value> {
    axum::Json(json!({"deleted_by": user.user.email}))
}

/// `GET /api/notes/claims/`: whether the token's claim lists `notes.delete_note`.
async fn claimed(user: TokenUser) -> axum::Json<Value> {
    axum::Json(json!({"claimed": user.has_perm_claim(DeleteNote::PERM)}))
}

/// The token and admin routes, and the two routes above.
async fn app(claims: PermissionClaims) -> TestApp {
    TestApp::builder()
        .accounts(move |a| a.token_permission_claims = claims)
        .nest("/api", token_routes().merge(admin_routes()))
        .route("/api/notes/delete/", get(delete_note))
        .route("/api/notes/claims/", get(claimed))
        .build()
        .await
}

/// A user with these flags, and a client authenticated as them.
async fn member(
    app: &TestApp,
    email: &str,
    (active, staff, superuser): (bool, bool, bool),
) -> (User, TestClient) {
    let user = app
        .create_user_with(
            NewUser {
                email: email.into(),
                is_active: true,
                is_staff: staff,
                is_superuser: superuser,
                ..NewUser::default()
            },
            PASSWORD,
        )
        .await;
    let client = app.client();
    client.force_authenticate(&user).await;
    if !active {
        app.deactivate(&user).await;
    }
    (user, client)
}

/// `POST admin/groups/` with `body`.
async fn create(client: &TestClient, body: Value) -> Reply {
    client.post("/api/admin/groups/").json(&body).send().await
}

#[tokio::test]
async fn superusers_create_change_and_delete_groups_and_staff_read_them() {
    let app = app(PermissionClaims::Off).await;
    let (root_user, root) = member(&app, "root@example.com", (true, true, true)).await;
    let (_, staff) = member(&app, "staff@example.com", (true, true, false)).await;

    let created = root
        .post("/api/admin/groups/")
        .json(&json!({"name": "editors", "permissions": ["notes.change_note", "notes.add_note"]}))
        .send()
        .await;
    created.assert_status(201);
    let group = created.json();
    let id = group["id"].as_i64().unwrap();
    assert_eq!(
        group,
        json!({"id": id, "name": "editors", "permissions": ["notes.add_note", "notes.change_note"]})
    );
    root.post("/api/admin/groups/")
        .json(&json!({"name": "readers"}))
        .send()
        .await
        .assert_status(201);

    let list = staff.get("/api/admin/groups/").send().await.ok();
    assert_eq!(list["count"], 2);
    assert_eq!(list["next"], Value::Null);
    assert_eq!(list["results"][0], group);
    assert_eq!(list["results"][1]["permissions"], json!([]));

    let path = format!("/api/admin/groups/{id}/");
    assert_eq!(staff.get(&path).send().await.ok(), group);
    let patched = root
        .patch(&path)
        .json(&json!({"name": "writers"}))
        .send()
        .await
        .ok();
    assert_eq!(
        patched["permissions"], group["permissions"],
        "PATCH keeps what it is not given"
    );
    assert_eq!(patched["name"], "writers");
    let put = root
        .put(&path)
        .json(&json!({"name": "writers"}))
        .send()
        .await
        .ok();
    assert_eq!(
        put["permissions"], group["permissions"],
        "a PUT leaves out `permissions`, which is not required: unchanged"
    );
    let put = root
        .put(&path)
        .json(&json!({"name": "writers", "permissions": []}))
        .send()
        .await
        .ok();
    assert_eq!(
        put["permissions"],
        json!([]),
        "PUT replaces what it is given"
    );

    // Staff who are not superusers read groups but write none.
    let refused = r#"{"detail":"Only a superuser may create, change or delete groups."}"#;
    staff
        .post("/api/admin/groups/")
        .json(&json!({"name": "staffers"}))
        .send()
        .await
        .assert(403, refused);
    for method in [axum::http::Method::PUT, axum::http::Method::PATCH] {
        staff
            .request(method, &path)
            .json(&json!({"name": "staffers"}))
            .send()
            .await
            .assert(403, refused);
    }
    staff.delete(&path).send().await.assert(403, refused);
    assert_eq!(staff.get(&path).send().await.ok()["name"], "writers");

    root.delete(&path).send().await.assert_status(204);
    staff.get(&path).send().await.assert(404, NOT_FOUND);
    root.delete(&path).send().await.assert(404, NOT_FOUND);
    assert_eq!(
        staff.get("/api/admin/groups/").send().await.ok()["count"],
        1
    );

    // Each change is audited with the superuser as the actor, newest first; each refusal
    // as `admin.permission_denied`.
    let auth = app.tessera.auth();
    auth.audit_log().flush().await;
    let (_, events) = auth
        .store()
        .list_audit_events(&Default::default(), 50, 0)
        .await
        .unwrap();
    let group_events: Vec<_> = events
        .iter()
        .filter(|e| e.event.starts_with("admin.group_"))
        .collect();
    let names: Vec<&str> = group_events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "admin.group_deleted",
            "admin.group_updated",
            "admin.group_updated",
            "admin.group_updated",
            "admin.group_created",
            "admin.group_created",
        ]
    );
    assert!(
        group_events
            .iter()
            .all(|e| e.actor_id == Some(root_user.id))
    );
    let denied = events
        .iter()
        .filter(|e| e.event == "admin.permission_denied")
        .count();
    assert_eq!(denied, 4);
}

#[tokio::test]
async fn the_group_routes_refuse_anonymous_users_non_staff_unknown_groups_and_bad_input() {
    let app = app(PermissionClaims::Off).await;
    let (_, staff) = member(&app, "root@example.com", (true, true, true)).await;
    let (_, ada) = member(&app, "ada@example.com", (true, false, false)).await;
    let anonymous = app.client();
    let id = create(&staff, json!({"name": "editors"})).await.json()["id"].clone();
    let path = format!("/api/admin/groups/{id}/");

    for (method, route) in [
        ("GET", "/api/admin/groups/"),
        ("POST", "/api/admin/groups/"),
        ("GET", path.as_str()),
        ("PUT", path.as_str()),
        ("PATCH", path.as_str()),
        ("DELETE", path.as_str()),
    ] {
        let method = method.parse().unwrap();
        let body = json!({"name": "x"});
        anonymous
            .request(axum::http::Method::clone(&method), route)
            .json(&body)
            .send()
            .await
            .assert(401, NOT_PROVIDED);
        ada.request(method, route)
            .json(&body)
            .send()
            .await
            .assert(403, DENIED);
    }
    for unknown in ["/api/admin/groups/999999/", "/api/admin/groups/abc/"] {
        staff.get(unknown).send().await.assert(404, NOT_FOUND);
        staff
            .patch(unknown)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .assert(404, NOT_FOUND);
    }

    let bad = |body: Value| create(&staff, body);
    bad(json!({}))
        .await
        .assert(400, r#"{"name":["This field is required."]}"#);
    bad(json!({"name": "editors"}))
        .await
        .assert(400, r#"{"name":["group with this name already exists."]}"#);
    bad(json!({"name": "x".repeat(151)})).await.assert(
        400,
        r#"{"name":["Ensure this field has no more than 150 characters."]}"#,
    );
    bad(json!({"name": "x", "permissions": "notes.add_note"}))
        .await
        .assert(
            400,
            r#"{"permissions":["Expected a list of items but got type \"str\"."]}"#,
        );
    bad(json!({"name": "x", "permissions": ["notes.add_note", "Notes.Add"]})).await.assert(
        400,
        r#"{"permissions":{"1":["\"Notes.Add\" is not a valid permission: expected \"app_label.codename\"."]}}"#,
    );
    staff
        .patch(&path)
        .json(&json!({"name": ""}))
        .send()
        .await
        .assert(400, r#"{"name":["This field may not be blank."]}"#);
    staff
        .post("/api/admin/groups/")
        .json(&json!({"name": "readers"}))
        .send()
        .await
        .assert_status(201);
    staff
        .patch(&path)
        .json(&json!({"name": "readers"}))
        .send()
        .await
        .assert(400, r#"{"name":["group with this name already exists."]}"#);
}

#[tokio::test]
async fn the_admin_user_object_has_groups_and_user_permissions_that_superusers_set() {
    let app = app(PermissionClaims::Off).await;
    let (_, staff) = member(&app, "staff@example.com", (true, true, false)).await;
    let (ada, _) = member(&app, "ada@example.com", (true, false, false)).await;
    let (root, superuser) = member(&app, "root@example.com", (true, true, true)).await;
    superuser
        .post("/api/admin/groups/")
        .json(&json!({"name": "editors", "permissions": ["notes.change_note"]}))
        .send()
        .await
        .assert_status(201);
    let path = format!("/api/admin/users/{}/", ada.id);

    let before = staff.get(&path).send().await.ok();
    assert_eq!(
        (&before["groups"], &before["user_permissions"]),
        (&json!([]), &json!([]))
    );
    // Staff who are not superusers read a user's grants, and change none.
    staff
        .patch(&path)
        .json(&json!({"first_name": "Ada", "groups": ["editors"]}))
        .send()
        .await
        .assert(
            403,
            r#"{"detail":"Only a superuser may change a user's groups or permissions."}"#,
        );
    staff
        .patch(&path)
        .json(&json!({"user_permissions": []}))
        .send()
        .await
        .assert_status(403);
    assert_eq!(staff.get(&path).send().await.ok()["first_name"], "");
    let after = superuser
        .patch(&path)
        .json(&json!({"groups": ["editors"], "user_permissions": ["notes.delete_note"]}))
        .send()
        .await
        .ok();
    assert_eq!(
        (&after["groups"], &after["user_permissions"]),
        (&json!(["editors"]), &json!(["notes.delete_note"]))
    );
    let listed = staff.get("/api/admin/users/?search=ada").send().await.ok();
    assert_eq!(listed["results"][0]["groups"], json!(["editors"]));

    superuser
        .patch(&path)
        .json(&json!({"groups": ["ghosts"]}))
        .send()
        .await
        .assert(
            400,
            r#"{"groups":["Object with name=ghosts does not exist."]}"#,
        );
    superuser.patch(&path).json(&json!({"user_permissions": ["nope"]})).send().await.assert(
        400,
        r#"{"user_permissions":{"0":["\"nope\" is not a valid permission: expected \"app_label.codename\"."]}}"#,
    );
    superuser
        .patch(&path)
        .json(&json!({"groups": "editors"}))
        .send()
        .await
        .assert(
            400,
            r#"{"groups":["Expected a list of items but got type \"str\"."]}"#,
        );
    assert_eq!(
        staff.get(&path).send().await.ok()["groups"],
        json!(["editors"]),
        "refusals change nothing"
    );

    // Nor a superuser's.
    let root_path = format!("/api/admin/users/{}/", root.id);
    let refused = staff
        .patch(&root_path)
        .json(&json!({"groups": ["editors"]}))
        .send()
        .await;
    refused.assert_status(403);
    assert_eq!(staff.get(&root_path).send().await.ok()["groups"], json!([]));
}

#[tokio::test]
async fn has_perm_lets_through_holders_and_superusers_only() {
    let app = app(PermissionClaims::Off).await;
    let (_, staff) = member(&app, "staff@example.com", (true, true, false)).await;
    let (ada, ada_client) = member(&app, "ada@example.com", (true, false, false)).await;
    let (_, bob) = member(&app, "bob@example.com", (true, false, false)).await;
    let (_, root) = member(&app, "root@example.com", (true, true, true)).await;
    let route = "/api/notes/delete/";

    app.client()
        .get(route)
        .send()
        .await
        .assert(401, NOT_PROVIDED);
    ada_client.get(route).send().await.assert(403, DENIED);
    bob.get(route).send().await.assert(403, DENIED);
    staff.get(route).send().await.assert(403, DENIED);
    assert_eq!(
        root.get(route).send().await.ok()["deleted_by"],
        "root@example.com"
    );

    // Through a group, and at once: no new token needed.
    root.post("/api/admin/groups/")
        .json(&json!({"name": "moderators", "permissions": ["notes.delete_note"]}))
        .send()
        .await
        .assert_status(201);
    let path = format!("/api/admin/users/{}/", ada.id);
    root.patch(&path)
        .json(&json!({"groups": ["moderators"]}))
        .send()
        .await
        .ok();
    assert_eq!(
        ada_client.get(route).send().await.ok()["deleted_by"],
        "ada@example.com"
    );
    root.patch(&path)
        .json(&json!({"groups": []}))
        .send()
        .await
        .ok();
    ada_client.get(route).send().await.assert(403, DENIED);

    // An inactive superuser holds nothing (and cannot authenticate anyway).
    let (_, gone) = member(&app, "gone@example.com", (false, true, true)).await;
    gone.get(route).send().await.assert_status(401);
}

#[tokio::test]
async fn access_tokens_carry_the_permission_claims_only_when_asked() {
    let app = app(PermissionClaims::Both).await;
    let (_, staff) = member(&app, "root@example.com", (true, true, true)).await;
    let (ada, _) = member(&app, "ada@example.com", (true, false, false)).await;
    staff
        .post("/api/admin/groups/")
        .json(&json!({"name": "moderators", "permissions": ["notes.delete_note"]}))
        .send()
        .await
        .assert_status(201);
    let path = format!("/api/admin/users/{}/", ada.id);
    staff
        .patch(&path)
        .json(&json!({"groups": ["moderators"], "user_permissions": ["notes.view_note"]}))
        .send()
        .await
        .ok();

    let pair = app.login("ada@example.com", PASSWORD).await;
    let carried = claims(&pair.access);
    assert_eq!(carried["groups"], json!(["moderators"]));
    assert_eq!(
        carried["permissions"],
        json!(["notes.delete_note", "notes.view_note"])
    );
    assert!(!claims(&pair.refresh).contains_key("permissions"));
    let client = app.client();
    client.credentials(Some(&format!("Bearer {}", pair.access)));
    assert_eq!(
        client.get("/api/notes/claims/").send().await.ok()["claimed"],
        true
    );

    // Stale until the refresh.
    staff
        .patch(&path)
        .json(&json!({"groups": []}))
        .send()
        .await
        .ok();
    assert_eq!(
        client.get("/api/notes/claims/").send().await.ok()["claimed"],
        true
    );
    let refreshed = app
        .post_json("/api/token/refresh/", &json!({"refresh": pair.refresh}))
        .await
        .ok();
    let carried = claims(refreshed["access"].as_str().unwrap());
    assert_eq!(
        (&carried["groups"], &carried["permissions"]),
        (&json!([]), &json!(["notes.view_note"]))
    );

    // The claim lists what was granted: a superuser's ungranted permission is not in it.
    let pair = app.login("root@example.com", PASSWORD).await;
    assert_eq!(claims(&pair.access)["permissions"], json!([]));
    let root = app.client();
    root.credentials(Some(&format!("Bearer {}", pair.access)));
    assert_eq!(
        root.get("/api/notes/claims/").send().await.ok()["claimed"],
        false
    );

    let off = self::app(PermissionClaims::Off).await;
    off.create_user("bob@example.com", PASSWORD).await;
    let pair = off.login("bob@example.com", PASSWORD).await;
    assert!(!claims(&pair.access).contains_key("groups"));
    assert!(!claims(&pair.access).contains_key("permissions"));
}
