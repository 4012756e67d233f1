//! The README's recipes that the other tests do not already cover, over real HTTP (demo-api
//! served on a random port, a reqwest client): `IsOwnerOrReadOnly` on articles, a token or
//! an API key on the same routes, a scope on writes, and routes for the holders of a Django
//! permission — each with the request it lets through and the one it refuses.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tessera_store::{NewUser, PasswordHasher, User};

const PASSWORD: &str = "a-long-passphrase";
const DENIED: &str = "You do not have permission to perform this action.";

/// demo-api serving on `127.0.0.1:<random port>`.
struct Served {
    addr: SocketAddr,
    tessera: tessera_axum::Tessera,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A signed-in user: who, and the `Authorization` header of their login's access token.
struct Member {
    user: User,
    bearer: String,
}

impl Served {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = demo_api::DemoConfig {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            signing_key: "demo-api-test-signing-key-of-more-than-32-bytes".into(),
        };
        let state = demo_api::state(&config).await.unwrap();
        let tessera = state.tessera.clone();
        let app = demo_api::app(state);
        // Bound before serving: connections wait in the backlog until it accepts them.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self {
            addr,
            tessera,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// `method path` with this `Authorization` header and JSON body: the status and the
    /// JSON answer (`null` for none).
    async fn call(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(
            method.parse().unwrap(),
            format!("http://{}{path}", self.addr),
        );
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }

    /// A user with these flags, logged in through `POST /api/auth/login/`.
    async fn member(&self, email: &str, staff: bool, superuser: bool) -> Member {
        let user = self
            .tessera
            .auth()
            .store()
            .create_user(&NewUser {
                email: email.into(),
                password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
                is_active: true,
                is_staff: staff,
                is_superuser: superuser,
                ..NewUser::default()
            })
            .await
            .unwrap();
        let (status, tokens) = self
            .call(
                "POST",
                "/api/auth/login/",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        Member {
            user,
            bearer: format!("Bearer {}", tokens["access"].as_str().unwrap()),
        }
    }

    /// A new API key of `member`'s, limited to `scopes` (none: unlimited), made through
    /// `POST /api/auth/api-keys/`: its `Authorization` header.
    async fn api_key(&self, member: &Member, name: &str, scopes: &[&str]) -> String {
        let (status, created) = self
            .call(
                "POST",
                "/api/auth/api-keys/",
                Some(&member.bearer),
                Some(json!({"name": name, "scopes": scopes})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        format!("Api-Key {}", created["key"].as_str().unwrap())
    }

    /// Puts `member` in `groups` (by name), or in none.
    async fn set_groups(&self, member: &Member, groups: &[&str]) {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        self.tessera
            .auth()
            .store()
            .set_user_grants(member.user.id, Some(&groups), None)
            .await
            .unwrap()
            .expect("the user exists");
    }
}

fn denied() -> (u16, Value) {
    (403, json!({"detail": DENIED}))
}

#[tokio::test]
async fn anyone_signed_in_reads_an_article_and_only_its_author_changes_it() {
    let served = Served::start().await;
    let ada = served.member("ada@example.com", false, false).await;
    let bob = served.member("bob@example.com", false, false).await;

    let (status, article) = served
        .call(
            "POST",
            "/api/articles/",
            Some(&ada.bearer),
            Some(json!({"title": " Notes on the Engine ", "body": "Note G"})),
        )
        .await;
    assert_eq!(status, 201, "{article}");
    let expected =
        json!({"id": 1, "author": ada.user.id, "title": "Notes on the Engine", "body": "Note G"});
    assert_eq!(article, expected);

    // Reading is for everyone signed in.
    assert_eq!(
        served
            .call("GET", "/api/articles/", Some(&bob.bearer), None)
            .await,
        (200, json!([expected]))
    );
    assert_eq!(
        served
            .call("GET", "/api/articles/1/", Some(&bob.bearer), None)
            .await,
        (200, expected.clone())
    );
    // Writing is for the author.
    for method in ["PUT", "PATCH", "DELETE"] {
        let body = (method != "DELETE").then(|| json!({"title": "Mine now"}));
        assert_eq!(
            served
                .call(method, "/api/articles/1/", Some(&bob.bearer), body)
                .await,
            denied(),
            "{method} by another user"
        );
    }
    assert_eq!(
        served
            .call(
                "PATCH",
                "/api/articles/1/",
                Some(&ada.bearer),
                Some(json!({"body": "Note G, corrected"}))
            )
            .await,
        (
            200,
            json!({"id": 1, "author": ada.user.id, "title": "Notes on the Engine", "body": "Note G, corrected"})
        )
    );
    let (status, invalid) = served
        .call(
            "PUT",
            "/api/articles/1/",
            Some(&ada.bearer),
            Some(json!({"body": "no title"})),
        )
        .await;
    assert_eq!(
        (status, invalid),
        (400, json!({"title": ["This field is required."]}))
    );
    assert_eq!(
        served
            .call("GET", "/api/articles/2/", Some(&bob.bearer), None)
            .await,
        (404, json!({"detail": "Not found."}))
    );
    assert_eq!(
        served.call("GET", "/api/articles/", None, None).await,
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    assert_eq!(
        served
            .call("DELETE", "/api/articles/1/", Some(&ada.bearer), None)
            .await,
        (204, Value::Null)
    );
    assert_eq!(
        served
            .call("GET", "/api/articles/", Some(&ada.bearer), None)
            .await,
        (200, json!([]))
    );
}

#[tokio::test]
async fn a_token_and_an_api_key_make_the_same_user_and_only_a_key_reaches_the_service_route() {
    let served = Served::start().await;
    let ada = served.member("ada@example.com", false, false).await;
    let key = served.api_key(&ada, "reporting job", &[]).await;

    assert_eq!(
        served
            .call("GET", "/api/whoami/", Some(&ada.bearer), None)
            .await,
        (
            200,
            json!({"email": "ada@example.com", "via": "token", "scopes": []})
        )
    );
    assert_eq!(
        served.call("GET", "/api/whoami/", Some(&key), None).await,
        (
            200,
            json!({"email": "ada@example.com", "via": "api_key", "scopes": []})
        )
    );

    let (status, service) = served
        .call("GET", "/api/service/whoami/", Some(&key), None)
        .await;
    assert_eq!(status, 200, "{service}");
    assert_eq!(service["email"], "ada@example.com");
    assert_eq!(service["key"]["name"], "reporting job");
    assert!(key.contains(service["key"]["prefix"].as_str().unwrap()));

    let (status, refused) = served
        .call("GET", "/api/service/whoami/", Some(&ada.bearer), None)
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (401, &json!("api_key_required"))
    );
    let (status, refused) = served.call("GET", "/api/service/whoami/", None, None).await;
    assert_eq!(status, 401, "{refused}");
    // A key of the right shape that was never issued.
    let forged = format!("Api-Key {}", "x".repeat(key.len() - "Api-Key ".len()));
    for path in ["/api/whoami/", "/api/service/whoami/"] {
        let (status, refused) = served.call("GET", path, Some(&forged), None).await;
        assert_eq!(status, 401, "{path}: {refused}");
    }
}

#[tokio::test]
async fn an_api_key_writes_articles_only_with_the_write_scope() {
    let served = Served::start().await;
    let ada = served.member("ada@example.com", false, false).await;
    let reader = served.api_key(&ada, "dashboard", &["articles:read"]).await;
    let writer = served.api_key(&ada, "importer", &["articles:write"]).await;

    let (status, article) = served
        .call(
            "POST",
            "/api/articles/",
            Some(&writer),
            Some(json!({"title": "Imported"})),
        )
        .await;
    assert_eq!(status, 201, "{article}");
    assert_eq!(article["author"], ada.user.id);

    let (status, listed) = served
        .call("GET", "/api/articles/", Some(&reader), None)
        .await;
    assert_eq!((status, listed.as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(
        served
            .call(
                "POST",
                "/api/articles/",
                Some(&reader),
                Some(json!({"title": "Not allowed"}))
            )
            .await,
        denied()
    );
    // The key's user is the author, but the key may only read.
    for method in ["PATCH", "DELETE"] {
        let body = (method == "PATCH").then(|| json!({"title": "Edited"}));
        assert_eq!(
            served
                .call(method, "/api/articles/1/", Some(&reader), body)
                .await,
            denied(),
            "{method} with a read-only key"
        );
    }
    // A login's token is not limited.
    let (status, edited) = served
        .call(
            "PATCH",
            "/api/articles/1/",
            Some(&ada.bearer),
            Some(json!({"title": "Edited"})),
        )
        .await;
    assert_eq!((status, &edited["title"]), (200, &json!("Edited")));
}

#[tokio::test]
async fn a_moderator_deletes_any_article_and_the_report_is_for_its_permission_holders() {
    let served = Served::start().await;
    let ada = served.member("ada@example.com", false, false).await;
    let bob = served.member("bob@example.com", false, false).await;
    let staff = served.member("staff@example.com", true, false).await;
    let root = served.member("root@example.com", true, true).await;
    served
        .tessera
        .auth()
        .store()
        .create_group(
            "moderators",
            &[
                "articles.delete_article".into(),
                "reports.view_report".into(),
            ],
        )
        .await
        .unwrap();
    for title in ["First", "Second"] {
        let (status, _) = served
            .call(
                "POST",
                "/api/articles/",
                Some(&ada.bearer),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(status, 201);
    }

    // Without the permissions: neither the report nor another user's article; being staff
    // is not enough.
    for member in [&bob, &staff] {
        assert_eq!(
            served
                .call("GET", "/api/reports/", Some(&member.bearer), None)
                .await,
            denied()
        );
        assert_eq!(
            served
                .call("DELETE", "/api/articles/1/", Some(&member.bearer), None)
                .await,
            denied()
        );
    }
    // A superuser holds every permission.
    assert_eq!(
        served
            .call("GET", "/api/reports/", Some(&root.bearer), None)
            .await,
        (200, json!({"articles": 2, "authors": 1}))
    );

    // Through the group, at once (the store is asked on each request, not the token).
    served.set_groups(&bob, &["moderators"]).await;
    assert_eq!(
        served
            .call("GET", "/api/reports/", Some(&bob.bearer), None)
            .await,
        (200, json!({"articles": 2, "authors": 1}))
    );
    assert_eq!(
        served
            .call("DELETE", "/api/articles/1/", Some(&bob.bearer), None)
            .await,
        (204, Value::Null)
    );
    // Deleting is not changing: the permission does not let a moderator edit.
    assert_eq!(
        served
            .call(
                "PATCH",
                "/api/articles/2/",
                Some(&bob.bearer),
                Some(json!({"title": "Moderated"}))
            )
            .await,
        denied()
    );

    served.set_groups(&bob, &[]).await;
    assert_eq!(
        served
            .call("GET", "/api/reports/", Some(&bob.bearer), None)
            .await,
        denied()
    );
    assert_eq!(
        served
            .call("DELETE", "/api/articles/2/", Some(&bob.bearer), None)
            .await,
        denied()
    );
    assert_eq!(
        served.call("GET", "/api/reports/", None, None).await,
        (
            401,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
}
