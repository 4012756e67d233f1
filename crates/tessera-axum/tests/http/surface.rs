//! How an application composes the library: its own state next to Tessera's, the routers
//! nested under a versioned prefix, typed claims, permissions that see the request and the
//! state, authentication by default, and rejections that carry their own challenge.

use axum::extract::{FromRef, Path, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_axum::routes::{account_routes, token_routes};
use tessera_axum::{ApiError, AuthUser, Claims, Permission, Require, Tessera, install};
use tower::ServiceExt as _;

use crate::helpers::{Api, NOT_FOUND, NOT_PROVIDED, PASSWORD, TestApp, WWW_AUTHENTICATE};

/// An application's state: its own value next to Tessera's.
#[derive(Clone, FromRef)]
struct AppState {
    tessera: Tessera,
    owner_of_everything: OwnerId,
}

/// Which user owns the demo objects.
#[derive(Clone, Copy)]
struct OwnerId(i64);

/// Only the owner of the object in the path (objects 1 and 2 exist); another user's object
/// is 404, as DRF's owner-filtered querysets answer.
struct IsOwner;

impl Permission<AppState> for IsOwner {
    async fn has_permission(
        user: &AuthUser,
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<bool, ApiError> {
        let Path(id) =
            <Path<i64> as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await
            .map_err(|_| ApiError::NotFound)?;
        if !(1..=2).contains(&id) || user.user.id != state.owner_of_everything.0 {
            return Err(ApiError::NotFound);
        }
        Ok(true)
    }
}

#[derive(Deserialize)]
struct MyClaims {
    user_id: String,
    token_type: String,
}

async fn object(user: Require<IsOwner>, Path(id): Path<i64>) -> Json<Value> {
    Json(json!({"id": id, "owner": user.user.email}))
}

async fn typed(Claims(claims): Claims<MyClaims>) -> Json<Value> {
    Json(json!({"user_id": claims.user_id, "token_type": claims.token_type}))
}

async fn greeting(State(OwnerId(owner)): State<OwnerId>) -> Json<Value> {
    Json(json!({"owner": owner}))
}

async fn me(user: AuthUser) -> Json<Value> {
    Json(json!({"email": user.user.email}))
}

/// An access token of `email`, from the versioned token route.
async fn access(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email, "password": PASSWORD});
    app.post_json("/api/v1/token/", &body).await.field("access")
}

fn app(tessera: Tessera, owner: i64) -> Router {
    let state = AppState {
        tessera: tessera.clone(),
        owner_of_everything: OwnerId(owner),
    };
    let api = token_routes().merge(account_routes());
    let private = tessera.require_authentication(
        Router::new()
            .route("/api/v1/objects/{id}/", get(object))
            .route("/api/v1/claims/", get(typed))
            // No extractor: only `require_authentication` keeps anonymous requests out.
            .route(
                "/api/v1/private/",
                get(|| async { Json(json!({"ok": true})) }),
            ),
    );
    let router = Router::new()
        .nest("/api/v1", api.clone())
        .nest("/api/v2", api)
        .merge(private)
        .route("/api/v1/greeting/", get(greeting));
    install(router, state)
}

#[tokio::test]
async fn the_same_tokens_work_on_routers_nested_under_two_prefixes() {
    let app = TestApp::builder()
        .app(|tessera| app(tessera, 1))
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD});
    let pair = app.post_json("/api/v1/token/", &body).await.ok();
    let refresh = pair["refresh"].as_str().unwrap();
    let refreshed = app
        .post_json("/api/v2/token/refresh/", &json!({"refresh": refresh}))
        .await
        .ok();
    let access = refreshed["access"].as_str().unwrap();
    let profile = app.get_bearer("/api/v2/auth/profile/", access).await.ok();
    assert_eq!(profile["email"], "ada@example.com");
    // The unprefixed paths do not exist.
    app.post_json("/api/token/", &body)
        .await
        .assert(404, NOT_FOUND);
}

#[tokio::test]
async fn permissions_see_the_request_and_the_applications_state() {
    let app = TestApp::builder()
        .app(|tessera| app(tessera, 1))
        .build()
        .await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    assert_eq!(ada.id, 1);
    app.create_user("bob@example.com", PASSWORD).await;
    let ada_token = access(&app, "ada@example.com").await;
    let bob_token = access(&app, "bob@example.com").await;

    let own = app.get_bearer("/api/v1/objects/2/", &ada_token).await.ok();
    assert_eq!(own, json!({"id": 2, "owner": "ada@example.com"}));
    // Someone else's object, or one that does not exist: 404, never a hint.
    app.get_bearer("/api/v1/objects/2/", &bob_token)
        .await
        .assert(404, NOT_FOUND);
    app.get_bearer("/api/v1/objects/9/", &ada_token)
        .await
        .assert(404, NOT_FOUND);
    // The application's own state, next to Tessera's.
    let greeting = app
        .send(app.request(Method::GET, "/api/v1/greeting/"))
        .await
        .ok();
    assert_eq!(greeting, json!({"owner": 1}));
}

#[tokio::test]
async fn typed_claims_and_authentication_by_default() {
    let app = TestApp::builder()
        .app(|tessera| app(tessera, 1))
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    let access = access(&app, "ada@example.com").await;
    let claims = app.get_bearer("/api/v1/claims/", &access).await.ok();
    assert_eq!(claims["token_type"], "access");
    assert_eq!(claims["user_id"], "1");
    app.get_bearer("/api/v1/private/", &access).await.ok();
    // Every route behind `require_authentication` refuses anonymous requests, 401 with its
    // challenge; the public route beside them does not.
    for path in ["/api/v1/private/", "/api/v1/claims/", "/api/v1/objects/1/"] {
        app.send(app.request(Method::GET, path))
            .await
            .assert(401, NOT_PROVIDED);
    }
    app.send(app.request(Method::GET, "/api/v1/greeting/"))
        .await
        .ok();
}

#[tokio::test]
async fn a_rejection_carries_its_challenge_without_the_installed_conventions() {
    let app = TestApp::builder()
        .app(|tessera| app(tessera, 1))
        .build()
        .await;
    // A bare router: no `install`, so nothing adds `WWW-Authenticate` but the rejection.
    let bare = Router::new()
        .route("/me/", get(me))
        .with_state(app.tessera.clone());
    let response = bare
        .oneshot(
            axum::http::Request::get("/me/")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        WWW_AUTHENTICATE
    );
}
