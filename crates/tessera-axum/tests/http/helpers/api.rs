//! The calls the tests make, each on a client of its own (no cookies kept, no credentials
//! but those the call names): the token routes (docs/API.md §1–§4) and the account routes (§5).

use axum::body::Bytes;
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_axum::testing::{RequestBuilder, TestApp, TestClient};

use super::{ACCOUNT_PASSWORD, Pair, Reply};

/// Requests to the application, for [`TestApp`].
pub trait Api {
    /// The application.
    fn app(&self) -> &TestApp;

    /// The origin requests go to (`http://testserver`).
    fn base_url(&self) -> String {
        self.app().client().base_url()
    }

    /// A client whose requests come from `ip`: another client, for throttles and the audit
    /// log.
    fn client_from(&self, ip: [u8; 4]) -> TestClient {
        self.app().client().address(ip)
    }

    /// A request of a new client.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.app().client().request(method, path)
    }

    async fn send(&self, request: RequestBuilder) -> Reply {
        request.send().await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// A POST with a raw body and a `Content-Type`.
    async fn post_body(&self, path: &str, content_type: &str, body: impl Into<Bytes>) -> Reply {
        self.send(
            self.request(Method::POST, path)
                .header(header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// A GET with this `Authorization` header value, or none.
    async fn get_auth(&self, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = self.request(Method::GET, path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        self.send(request).await
    }

    /// A GET with `Authorization: Bearer <token>`.
    async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        self.get_auth(path, Some(&format!("Bearer {token}"))).await
    }

    /// A GET with a raw header value (any bytes) under any header name.
    async fn get_with_header(&self, path: &str, name: &str, value: HeaderValue) -> Reply {
        self.send(self.request(Method::GET, path).header(name, value))
            .await
    }

    async fn obtain(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/token/",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in and returns the pair; the login must succeed.
    async fn login(&self, email: &str, password: &str) -> Pair {
        let reply = self.obtain(email, password).await;
        reply.ok();
        Pair {
            refresh: reply.field("refresh"),
            access: reply.field("access"),
        }
    }

    /// `POST /api/token/` with these credentials and an `X-Forwarded-For` header.
    async fn obtain_forwarded(&self, forwarded_for: &str, email: &str, password: &str) -> Reply {
        self.send(
            self.request(Method::POST, "/api/token/")
                .header("x-forwarded-for", forwarded_for)
                .json(&json!({"email": email, "password": password})),
        )
        .await
    }

    async fn refresh(&self, refresh: &str) -> Reply {
        self.post_json("/api/token/refresh/", &json!({"refresh": refresh}))
            .await
    }

    async fn verify(&self, token: &str) -> Reply {
        self.post_json("/api/token/verify/", &json!({"token": token}))
            .await
    }

    async fn blacklist(&self, refresh: &str) -> Reply {
        self.post_json("/api/token/blacklist/", &json!({"refresh": refresh}))
            .await
    }

    async fn obtain_sliding(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/token/sliding/",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    async fn refresh_sliding(&self, token: &str) -> Reply {
        self.post_json("/api/token/sliding/refresh/", &json!({"token": token}))
            .await
    }

    /// `POST /api/auth/register/` with a JSON body.
    async fn register(&self, body: &Value) -> Reply {
        self.post_json("/api/auth/register/", body).await
    }

    /// Registers Ada Lovelace (`ada@example.com`, [`ACCOUNT_PASSWORD`]); must succeed.
    async fn register_ada(&self) -> Pair {
        let reply = self
            .register(&json!({
                "email": "ada@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "password": ACCOUNT_PASSWORD,
                "password_confirm": ACCOUNT_PASSWORD,
            }))
            .await;
        assert_eq!(reply.status(), StatusCode::CREATED, "{}", reply.text());
        let tokens = &reply.json()["tokens"];
        Pair {
            refresh: tokens["refresh"].as_str().expect("refresh").to_owned(),
            access: tokens["access"].as_str().expect("access").to_owned(),
        }
    }

    /// `POST /api/auth/login/`.
    async fn account_login(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/auth/login/",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in through `/api/auth/login/` and returns the pair; the login must succeed.
    async fn account_pair(&self, email: &str, password: &str) -> Pair {
        let reply = self.account_login(email, password).await;
        reply.ok();
        Pair {
            refresh: reply.field("refresh"),
            access: reply.field("access"),
        }
    }

    /// A request with `Authorization: Bearer <token>` and, if given, a JSON body.
    async fn bearer(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Reply {
        let mut request = self
            .request(method, path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// A POST with `Authorization: Bearer <token>` and a JSON body.
    async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.bearer(Method::POST, path, token, Some(body)).await
    }

    /// `GET /api/auth/profile/` with the access token.
    async fn profile(&self, access: &str) -> Reply {
        self.get_bearer("/api/auth/profile/", access).await
    }

    /// `POST /api/auth/logout/` with the access token and `{"refresh": refresh}`.
    async fn logout(&self, access: &str, refresh: &str) -> Reply {
        self.post_bearer("/api/auth/logout/", access, &json!({"refresh": refresh}))
            .await
    }

    /// `POST /api/auth/token/refresh/`.
    async fn account_refresh(&self, refresh: &str) -> Reply {
        self.post_json("/api/auth/token/refresh/", &json!({"refresh": refresh}))
            .await
    }

    /// `POST /api/auth/password/change/` with the access token.
    async fn change_password(&self, access: &str, old: &str, new: &str) -> Reply {
        self.post_bearer(
            "/api/auth/password/change/",
            access,
            &json!({"old_password": old, "new_password": new, "new_password_confirm": new}),
        )
        .await
    }
}

impl Api for TestApp {
    fn app(&self) -> &TestApp {
        self
    }
}
