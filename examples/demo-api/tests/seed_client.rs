//! The seeds/004 tutorial's curl calls, sent unchanged to demo-api, and the tutorials'
//! protected resources.

use serde_json::{Value, json};
use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_store::{NewUser, PasswordHasher};

struct Demo {
    base: String,
    client: reqwest::Client,
    tessera: tessera_axum::Tessera,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.jwt.signing_key = Some("demo-api-test-signing-key-of-more-than-32-bytes".into());
        let app = Application::build_with(config, demo_api::routes())
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let tessera = app.tessera().clone();
        tokio::spawn(app.run_until(std::future::pending()));
        Self {
            base,
            client: reqwest::Client::new(),
            tessera,
            _dir: dir,
        }
    }

    /// A request as curl sends it: a JSON text body, exactly as typed in the tutorial.
    async fn curl(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
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
    // Everything the tessera server serves is here too.
    assert_eq!(
        demo.curl("GET", "/healthz", None, None).await,
        (200, json!({"status": "ok"}))
    );
}
