//! The account tutorial's curl calls, sent unchanged to demo-api, the tutorials' protected
//! resources, versioned routers and the owner-only notes.

use serde_json::{Value, json};
use tessera_axum::testing::TestClient;
use tessera_store::{NewUser, PasswordHasher};

/// demo-api on fresh databases, driven in process: requests go to `demo_api::app` through
/// [`TestClient`], never over a socket.
struct Demo {
    app: axum::Router,
    tessera: tessera_axum::Tessera,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = demo_api::DemoConfig {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            signing_key: "demo-api-test-signing-key-of-more-than-32-bytes".into(),
        };
        let state = demo_api::state(&config).await.unwrap();
        let tessera = state.tessera.clone();
        Self {
            app: demo_api::app(state),
            tessera,
            _dir: dir,
        }
    }

    /// A request as curl sends it, from a client of its own (no cookies kept): a JSON text
    /// body, exactly as typed in the tutorial.
    async fn curl(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let client = TestClient::new(self.app.clone());
        let mut request = client.request(method.parse().unwrap(), path);
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await;
        let status = response.status().as_u16();
        let text = response.text();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).unwrap()
        };
        (status, body)
    }
}

#[tokio::test]
async fn the_tutorials_curl_calls_work_unchanged() {
    let demo = Demo::start().await;

    let (status, registered) = demo
        .curl(
            "POST",
            "/api/auth/register/",
            None,
            Some(
                r#"{
    "email": "user@example.com",
    "first_name": "John",
    "last_name": "Doe",
    "password": "SecurePass123!",
    "password_confirm": "SecurePass123!"
  }"#,
            ),
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    assert_eq!(registered["message"], "User registered successfully");
    assert_eq!(registered["user"]["full_name"], "John Doe");

    let (status, login) = demo
        .curl(
            "POST",
            "/api/auth/login/",
            None,
            Some(
                r#"{
    "email": "user@example.com",
    "password": "SecurePass123!"
  }"#,
            ),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(
        login["user"],
        json!({"id": 1, "email": "user@example.com", "first_name": "John", "last_name": "Doe", "full_name": "John Doe"})
    );
    let access = login["access"].as_str().unwrap();

    let (status, profile) = demo
        .curl("GET", "/api/auth/profile/", Some(access), None)
        .await;
    assert_eq!(
        (status, &profile["email"]),
        (200, &json!("user@example.com"))
    );

    let refresh_body = format!(
        "{{\n    \"refresh\": \"{}\"\n  }}",
        login["refresh"].as_str().unwrap()
    );
    let (status, refreshed) = demo
        .curl(
            "POST",
            "/api/auth/token/refresh/",
            None,
            Some(&refresh_body),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed["access"].is_string() && refreshed["refresh"].is_string());
}

#[tokio::test]
async fn the_tutorials_resources_answer_with_their_bodies_and_permissions() {
    let demo = Demo::start().await;
    let hash = PasswordHasher::hash_blocking("a-staff-passphrase").unwrap();
    for (email, staff) in [("staff@example.com", true), ("plain@example.com", false)] {
        demo.tessera
            .auth()
            .store()
            .create_user(&NewUser {
                email: email.into(),
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
                password_hash: hash.clone(),
                is_active: true,
                is_staff: staff,
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    let token = |email: &'static str| {
        let demo = &demo;
        async move {
            let body = format!(r#"{{"email": "{email}", "password": "a-staff-passphrase"}}"#);
            let (_, tokens) = demo
                .curl("POST", "/api/auth/login/", None, Some(&body))
                .await;
            tokens["access"].as_str().unwrap().to_owned()
        }
    };
    let (staff, plain) = (
        token("staff@example.com").await,
        token("plain@example.com").await,
    );

    assert_eq!(
        demo.curl("GET", "/api/hello/", Some(&plain), None).await,
        (200, json!({"message": "Hello, plain@example.com"}))
    );
    assert_eq!(
        demo.curl("GET", "/api/protected/", Some(&plain), None)
            .await,
        (
            200,
            json!({"message": "This is a protected endpoint", "user": {"id": 2, "email": "plain@example.com", "full_name": "Grace Hopper"}})
        )
    );
    assert_eq!(
        demo.curl("GET", "/api/admin-only/", Some(&staff), None)
            .await,
        (
            200,
            json!({"message": "This is an admin-only endpoint", "user": {"id": 1, "email": "staff@example.com", "is_staff": true}})
        )
    );
    assert_eq!(
        demo.curl("GET", "/api/admin-only/", Some(&plain), None)
            .await,
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    for path in ["/api/hello/", "/api/protected/", "/api/admin-only/"] {
        assert_eq!(
            demo.curl("GET", path, None, None).await,
            (
                401,
                json!({"detail": "Authentication credentials were not provided."})
            ),
            "{path}"
        );
    }
    assert_eq!(
        demo.curl("GET", "/healthz", None, None).await,
        (200, json!({"status": "ok"}))
    );
}

/// A user with a password, logged in: their access token.
async fn user_token(demo: &Demo, email: &str, extra: Option<(&str, Value)>) -> String {
    let mut user = NewUser {
        email: email.into(),
        password_hash: PasswordHasher::hash_blocking("a-long-passphrase").unwrap(),
        is_active: true,
        ..NewUser::default()
    };
    if let Some((name, value)) = extra {
        user.extra.insert(name.into(), value);
    }
    demo.tessera
        .auth()
        .store()
        .create_user(&user)
        .await
        .unwrap();
    let body = format!(r#"{{"email": "{email}", "password": "a-long-passphrase"}}"#);
    let (status, tokens) = demo
        .curl("POST", "/api/auth/login/", None, Some(&body))
        .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn notes_belong_to_their_owner_and_another_users_note_is_404() {
    let demo = Demo::start().await;
    let ada = user_token(&demo, "ada@example.com", None).await;
    let bob = user_token(&demo, "bob@example.com", None).await;

    let (status, note) = demo
        .curl(
            "POST",
            "/api/notes/",
            Some(&ada),
            Some(r#"{"title": " Groceries ", "body": "eggs"}"#),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note, json!({"id": 1, "title": "Groceries", "body": "eggs"}));
    let (status, invalid) = demo
        .curl(
            "POST",
            "/api/notes/",
            Some(&ada),
            Some(r#"{"body": "no title"}"#),
        )
        .await;
    assert_eq!(
        (status, invalid),
        (400, json!({"title": ["This field is required."]}))
    );

    assert_eq!(
        demo.curl("GET", "/api/notes/", Some(&ada), None).await,
        (
            200,
            json!([{"id": 1, "title": "Groceries", "body": "eggs"}])
        )
    );
    assert_eq!(
        demo.curl("GET", "/api/notes/", Some(&bob), None).await,
        (200, json!([]))
    );
    let not_found = (404, json!({"detail": "Not found."}));
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let body = (method == "PUT" || method == "PATCH").then_some(r#"{"title": "mine now"}"#);
        assert_eq!(
            demo.curl(method, "/api/notes/1/", Some(&bob), body).await,
            not_found,
            "{method} by another user"
        );
    }
    assert_eq!(
        demo.curl("GET", "/api/notes/2/", Some(&ada), None).await,
        not_found
    );
    assert_eq!(
        demo.curl("GET", "/api/notes/abc/", Some(&ada), None).await,
        not_found
    );

    assert_eq!(
        demo.curl(
            "PATCH",
            "/api/notes/1/",
            Some(&ada),
            Some(r#"{"body": "milk"}"#)
        )
        .await,
        (200, json!({"id": 1, "title": "Groceries", "body": "milk"}))
    );
    assert_eq!(
        demo.curl(
            "PUT",
            "/api/notes/1/",
            Some(&ada),
            Some(r#"{"title": "Shopping"}"#)
        )
        .await,
        (200, json!({"id": 1, "title": "Shopping", "body": ""}))
    );
    let (status, _) = demo.curl("DELETE", "/api/notes/1/", Some(&ada), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        demo.curl("GET", "/api/notes/1/", Some(&ada), None).await,
        not_found
    );
    assert_eq!(
        demo.curl("GET", "/api/notes/", None, None).await,
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
}

#[tokio::test]
async fn the_same_tokens_work_on_both_versions_and_premium_is_a_custom_field() {
    let demo = Demo::start().await;
    let plain = user_token(&demo, "plain@example.com", None).await;
    let premium = user_token(&demo, "vip@example.com", Some(("is_premium", json!(true)))).await;

    assert_eq!(
        demo.curl("GET", "/api/v1/data/", Some(&plain), None).await,
        (200, json!({"version": "v1", "data": "old format"}))
    );
    assert_eq!(
        demo.curl("GET", "/api/v2/data/", Some(&plain), None).await,
        (200, json!({"version": "v2", "data": "new format"}))
    );
    // A pair from the versioned token view works everywhere too.
    let (status, pair) = demo
        .curl(
            "POST",
            "/api/v1/token/",
            None,
            Some(r#"{"email": "plain@example.com", "password": "a-long-passphrase"}"#),
        )
        .await;
    assert_eq!(status, 200, "{pair}");
    let v1_access = pair["access"].as_str().unwrap();
    assert_eq!(
        demo.curl("GET", "/api/v2/data/", Some(v1_access), None)
            .await
            .0,
        200
    );

    assert_eq!(
        demo.curl("GET", "/api/premium/", Some(&premium), None)
            .await,
        (
            200,
            json!({"message": "Premium content for vip@example.com"})
        )
    );
    assert_eq!(
        demo.curl("GET", "/api/premium/", Some(&plain), None).await,
        (
            403,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
    // Users cannot make themselves premium: the field is read-only.
    let (status, profile) = demo
        .curl(
            "PATCH",
            "/api/auth/profile/",
            Some(&plain),
            Some(r#"{"is_premium": true}"#),
        )
        .await;
    assert_eq!((status, &profile["is_premium"]), (200, &json!(false)));

    let (status, typed) = demo
        .curl("GET", "/api/claims/typed/", Some(&premium), None)
        .await;
    assert_eq!(status, 200, "{typed}");
    assert_eq!(typed["email"], "vip@example.com");
}
