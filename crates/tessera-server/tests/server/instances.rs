//! Several instances, one truth: two `tessera` processes on one PostgreSQL database. What
//! one instance changes — a session ended, a password changed, a user deactivated, a key
//! published — the instance that made it enforces before it answers, and the other as soon
//! as the change log's feed brings it (a `NOTIFY`, milliseconds): the tests run with a
//! `revocation_max_staleness` of an hour, so that only the feed can deliver. Signing keys
//! are re-read every `key_refresh_interval`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, PasswordHasher, Store, User, UserFlags};

use crate::helpers::{PASSWORD, Server, all_at_once, jwt_part, successors};

/// Two servers on one fresh PostgreSQL database (`a` and `b` are their base URLs), and a
/// client and store to watch them.
struct Instances {
    a: String,
    b: String,
    /// The processes, killed when this is dropped.
    _servers: std::sync::Mutex<[Server; 2]>,
    client: reqwest::Client,
    store: Store,
    _dir: TempDir,
    _db: TestDatabase,
}

/// Starts both servers at once (each migrates on start; the second waits for the first's
/// advisory lock). `None` when PostgreSQL does not answer (the skip is announced).
async fn start(test: &str, env: &[(&str, &str)]) -> Option<Instances> {
    let db = TestDatabase::postgres(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.push(("TESSERA_DATABASE_URL".into(), db.url().to_owned()));
    let spawn = |name: &str| {
        let dir = dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            Server::start_with(&dir, &env)
        })
    };
    let (a, b) = tokio::join!(spawn("a"), spawn("b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let store = Store::connect(db.url()).await.unwrap();
    Some(Instances {
        a: a.base.clone(),
        b: b.base.clone(),
        _servers: std::sync::Mutex::new([a, b]),
        client: reqwest::Client::new(),
        store,
        _dir: dir,
        _db: db,
    })
}

impl Instances {
    async fn user(&self, email: &str, staff: bool) -> User {
        let user = self
            .store
            .create_user(&NewUser {
                email: email.into(),
                password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
                is_active: true,
                date_joined: tessera_core::Timestamp::from_micros(1_795_445_447_123_456),
                ..NewUser::default()
            })
            .await
            .unwrap();
        if staff {
            let flags = UserFlags {
                is_staff: Some(true),
                ..UserFlags::default()
            };
            self.store.set_user_flags(user.id, &flags).await.unwrap();
        }
        user
    }

    async fn call(
        &self,
        server: &str,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{server}{path}"));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, server: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(server, "POST", path, None, Some(body)).await
    }

    async fn profile(&self, server: &str, access: &str) -> (u16, Value) {
        self.call(server, "GET", "/api/auth/profile/", Some(access), None)
            .await
    }

    /// Logs in on `server`; returns `(refresh, access)`.
    async fn login(&self, server: &str, email: &str, password: &str) -> (String, String) {
        let (status, body) = self
            .post(
                server,
                "/api/token/",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (field(&body, "refresh"), field(&body, "access"))
    }
}

fn field(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_instance_is_refused_by_the_other() {
    let Some(it) = start("instances::a_session_ended", &[FEED_ONLY]).await else {
        return;
    };
    it.user("ada@example.com", false).await;
    let (refresh, access) = it.login(&it.a, "ada@example.com", PASSWORD).await;
    assert_eq!(
        it.profile(&it.b, &access).await.0,
        200,
        "B accepts A's token"
    );

    let (status, _) = it
        .post(&it.a, "/api/token/blacklist/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 200);

    // A at once; B as soon as the change reaches it.
    it.refused_by_both(&access, "token_not_valid").await;
    let (status, body) = it
        .post(&it.b, "/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Token is blacklisted"))
    );
    let (status, _) = it
        .post(&it.b, "/api/token/verify/", json!({"token": refresh}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_on_one_instance_is_enforced_by_the_other() {
    let Some(it) = start("instances::a_password_changed", &[FEED_ONLY]).await else {
        return;
    };
    it.user("bob@example.com", false).await;
    let (_, on_b) = it.login(&it.b, "bob@example.com", PASSWORD).await;
    let (_, on_a) = it.login(&it.a, "bob@example.com", PASSWORD).await;
    assert_eq!(it.profile(&it.b, &on_a).await.0, 200);

    let new_password = "a brand new passphrase";
    let (status, body) = it
        .call(
            &it.a,
            "POST",
            "/api/auth/password/change/",
            Some(&on_a),
            Some(json!({
                "old_password": PASSWORD,
                "new_password": new_password,
                "new_password_confirm": new_password
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    for access in [&on_a, &on_b] {
        it.refused_by_both(access, "password_changed").await;
    }
    let (status, _) = it
        .post(
            &it.b,
            "/api/token/",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401, "B refuses the old password");
    it.login(&it.b, "bob@example.com", new_password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deactivated_on_one_instance_is_refused_by_the_other() {
    let Some(it) = start("instances::a_user_deactivated", &[FEED_ONLY]).await else {
        return;
    };
    let carol = it.user("carol@example.com", false).await;
    it.user("admin@example.com", true).await;
    let (refresh, access) = it.login(&it.b, "carol@example.com", PASSWORD).await;
    let (_, admin) = it.login(&it.a, "admin@example.com", PASSWORD).await;

    let (status, body) = it
        .call(
            &it.a,
            "PATCH",
            &format!("/api/admin/users/{}/", carol.id),
            Some(&admin),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!((status, &body["is_active"]), (200, &json!(false)), "{body}");

    it.refused_by_both(&access, "user_inactive").await;
    let (status, body) = it
        .post(&it.b, "/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = it
        .post(
            &it.b,
            "/api/token/",
            json!({"email": "carol@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401);
}

/// Fires `racers` refreshes of one token at once, alternating between the instances.
async fn race(it: &Arc<Instances>, refresh: &str, racers: usize) -> Vec<(u16, Value)> {
    all_at_once(racers, |i| {
        let (it, body) = (Arc::clone(it), json!({"refresh": refresh}));
        async move {
            let server = if i % 2 == 0 { &it.a } else { &it.b };
            it.post(server, "/api/token/refresh/", body).await
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_over_both_instances_bring_one_successor_to_life() {
    let Some(it) = start("instances::concurrent_refreshes", &[]).await else {
        return;
    };
    let it = Arc::new(it);
    it.user("dan@example.com", false).await;
    let (refresh, _) = it.login(&it.a, "dan@example.com", PASSWORD).await;

    let replies = race(&it, &refresh, 24).await;

    assert_eq!(successors(&replies).len(), 1, "{replies:?}");
    let sid = field(&jwt_part(&refresh, 1), "sid");
    let session = it.store.session(&sid).await.unwrap().unwrap();
    assert_eq!(
        session.rotation_counter, 1,
        "one rotation, whichever instance won it"
    );
    assert!(!session.is_revoked());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_grace_one_refresh_over_both_instances_wins() {
    let Some(it) = start(
        "instances::without_grace",
        &[("TESSERA_REFRESH_REUSE_GRACE", "0")],
    )
    .await
    else {
        return;
    };
    let it = Arc::new(it);
    it.user("eve@example.com", false).await;
    let (refresh, _) = it.login(&it.b, "eve@example.com", PASSWORD).await;

    let replies = race(&it, &refresh, 24).await;

    let winners = replies.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(winners, 1, "{replies:?}");
    assert!(
        replies
            .iter()
            .all(|(status, _)| matches!(status, 200 | 401)),
        "{replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_key_rotated_on_one_instance_reaches_the_other() {
    let Some(it) = start(
        "instances::a_signing_key_rotated",
        &[
            ("TESSERA_SIGNING_KEY", ""),
            ("TESSERA_KEY_SOURCE", "store"),
            ("TESSERA_ALGORITHM", "EdDSA"),
            (
                "TESSERA_KEY_ENCRYPTION_KEY",
                "a-key-encryption-key-of-32-bytes-or-more",
            ),
            ("TESSERA_KEY_REFRESH_INTERVAL", "1"),
            ("TESSERA_JWKS_CACHE_TTL", "1"),
            ("TESSERA_KEY_PUBLISH_LEAD", "2"),
        ],
    )
    .await
    else {
        return;
    };
    it.user("admin@example.com", true).await;
    let (mut refresh, admin) = it.login(&it.a, "admin@example.com", PASSWORD).await;
    let first_kid = field(&jwt_part(&admin, 0), "kid");
    assert_eq!(
        it.profile(&it.b, &admin).await.0,
        200,
        "both instances share the first key"
    );

    // A key rotated on A: published at once, signing after the lead.
    let (status, rotated) = it
        .call(
            &it.a,
            "POST",
            "/api/admin/keys/rotate/",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_kid = field(&rotated, "kid");
    assert_ne!(new_kid, first_kid);

    // B publishes it within a key refresh (1 s here).
    let published = Instant::now();
    loop {
        let (_, jwks) = it
            .call(&it.b, "GET", "/.well-known/jwks.json", None, None)
            .await;
        if jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == new_kid.as_str())
        {
            break;
        }
        assert!(
            published.elapsed() < Duration::from_secs(10),
            "B never published {new_kid}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Once the new key signs on A, B accepts what it signed.
    let switched = Instant::now();
    let access = loop {
        let (status, body) = it
            .post(&it.a, "/api/token/refresh/", json!({"refresh": refresh}))
            .await;
        assert_eq!(status, 200, "{body}");
        refresh = field(&body, "refresh");
        let access = field(&body, "access");
        if jwt_part(&access, 0)["kid"] == new_kid.as_str() {
            break access;
        }
        assert!(
            switched.elapsed() < Duration::from_secs(15),
            "A never signed with {new_kid}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, body) = it.profile(&it.b, &access).await;
    assert_eq!(status, 200, "{body}");
}

/// A login on `server` from client address `ip` (both servers trust one proxy).
async fn login_from(
    it: &Instances,
    server: &str,
    ip: &str,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let response = it
        .client
        .post(format!("{server}/api/token/"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_throttle_counts_a_clients_logins_on_both_instances() {
    let Some(it) = start("instances::login_throttle", &[("TESSERA_NUM_PROXIES", "1")]).await else {
        return;
    };
    // The default rate is 5/min per client address: three logins on A and two on B use it up.
    for (i, server) in [&it.a, &it.b, &it.a, &it.b, &it.a].into_iter().enumerate() {
        let email = format!("nobody{i}@example.com");
        let (status, body) = login_from(&it, server, "203.0.113.7", &email, "wrong").await;
        assert_eq!(status, 401, "login {i}: {body}");
    }
    for server in [&it.b, &it.a] {
        let (status, body) = login_from(&it, server, "203.0.113.7", "x@example.com", "wrong").await;
        assert_eq!(status, 429, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("Request was throttled. Expected available in "),
            "{detail}"
        );
    }
    // Another client is not affected.
    let (status, _) = login_from(&it, &it.b, "203.0.113.8", "x@example.com", "wrong").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_earned_on_both_instances_holds_on_both_until_staff_lifts_it() {
    let Some(it) = start(
        "instances::lockout",
        &[
            ("TESSERA_NUM_PROXIES", "1"),
            ("TESSERA_LOGIN_FAILURE_LIMIT", "2"),
        ],
    )
    .await
    else {
        return;
    };
    let dan = it.user("dan@example.com", false).await;
    it.user("admin@example.com", true).await;
    // Failures from one client address, one on each instance: that address is locked on
    // both, even with the right password.
    let (status, _) = login_from(&it, &it.a, "198.51.100.1", "dan@example.com", "wrong").await;
    assert_eq!(status, 401);
    let (status, _) = login_from(&it, &it.b, "198.51.100.1", "dan@example.com", "wrong").await;
    assert_eq!(status, 401);
    for server in [&it.a, &it.b] {
        let (status, body) =
            login_from(&it, server, "198.51.100.1", "dan@example.com", PASSWORD).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            body["detail"],
            "No active account found with the given credentials"
        );
    }
    // The lock is that address's only: Dan at his own still logs in.
    let (status, body) = login_from(&it, &it.b, "198.51.100.2", "dan@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, admin) =
        login_from(&it, &it.a, "198.51.100.5", "admin@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{admin}");
    let (status, body) = it
        .call(
            &it.a,
            "POST",
            &format!("/api/admin/users/{}/unlock/", dan.id),
            Some(&field(&admin, "access")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login_from(&it, &it.b, "198.51.100.1", "dan@example.com", PASSWORD).await;
    assert_eq!(status, 200, "B sees A's unlock: {body}");
}

/// How long the other instance may take to refuse a token after a change: it learns of it
/// through the change log.
const PROPAGATION: Duration = Duration::from_secs(5);

/// Memory may be an hour behind the change log and still decide: no fallback to the
/// database can hide a feed that does not deliver.
const FEED_ONLY: (&str, &str) = ("TESSERA_REVOCATION_MAX_STALENESS", "3600");

impl Instances {
    /// Asks `server` for the profile with `access` until it refuses it, for [`PROPAGATION`]
    /// at most; returns the refusal's body.
    async fn refused(&self, server: &str, access: &str) -> Value {
        let deadline = Instant::now() + PROPAGATION;
        loop {
            let (status, body) = self.profile(server, access).await;
            if status == 401 {
                return body;
            }
            assert_eq!(status, 200, "{body}");
            assert!(
                Instant::now() < deadline,
                "{server} still accepts the token {PROPAGATION:?} after the change"
            );
        }
    }

    /// A refuses `access` at once (the change was its own), B within [`PROPAGATION`]; both
    /// answer `code` (for `token_not_valid`, the access token's kind refusing it as
    /// blacklisted).
    async fn refused_by_both(&self, access: &str, code: &str) {
        let (status, on_a) = self.profile(&self.a, access).await;
        assert_eq!(status, 401, "A, at once: {on_a}");
        let on_b = self.refused(&self.b, access).await;
        for body in [on_a, on_b] {
            assert_eq!(body["code"], code, "{body}");
            if code == "token_not_valid" {
                assert_eq!(
                    body["messages"][0]["message"], "Token is blacklisted",
                    "{body}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_by_the_other() {
    let Some(it) = start("instances::a_logout", &[FEED_ONLY]).await else {
        return;
    };
    it.user("ada@example.com", false).await;
    let (refresh, access) = it.login(&it.a, "ada@example.com", PASSWORD).await;
    assert_eq!(
        it.profile(&it.b, &access).await.0,
        200,
        "B accepts A's token"
    );

    let (status, body) = it
        .call(
            &it.a,
            "POST",
            "/api/auth/logout/",
            Some(&access),
            Some(json!({"refresh": refresh})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    it.refused_by_both(&access, "token_not_valid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reuse_detected_on_one_instance_is_refused_by_the_other() {
    let Some(it) = start(
        "instances::a_reuse_detected",
        &[("TESSERA_REFRESH_REUSE_GRACE", "0"), FEED_ONLY],
    )
    .await
    else {
        return;
    };
    it.user("ada@example.com", false).await;
    let (refresh, access) = it.login(&it.a, "ada@example.com", PASSWORD).await;
    let (status, rotated) = it
        .post(&it.a, "/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let rotated_access = field(&rotated, "access");
    for token in [&access, &rotated_access] {
        assert_eq!(it.profile(&it.b, token).await.0, 200, "B accepts A's token");
    }

    // The rotated-away token again: a replay, and the session is over.
    let (status, body) = it
        .post(&it.a, "/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Token is blacklisted"))
    );

    for token in [&access, &rotated_access] {
        it.refused_by_both(token, "token_not_valid").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_by_its_user_on_one_instance_is_refused_by_the_other() {
    let Some(it) = start("instances::a_session_ended_by_its_user", &[FEED_ONLY]).await else {
        return;
    };
    it.user("ada@example.com", false).await;
    let (_, phone) = it.login(&it.b, "ada@example.com", PASSWORD).await;
    let (_, laptop) = it.login(&it.a, "ada@example.com", PASSWORD).await;
    assert_eq!(it.profile(&it.b, &phone).await.0, 200);

    // From the laptop, on A, the user ends the phone's session.
    let sid = field(&jwt_part(&phone, 1), "sid");
    let (status, body) = it
        .call(
            &it.a,
            "DELETE",
            &format!("/api/auth/sessions/{sid}/"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");

    it.refused_by_both(&phone, "token_not_valid").await;
    assert_eq!(
        it.profile(&it.b, &laptop).await.0,
        200,
        "the laptop's stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_everywhere_on_one_instance_is_enforced_by_the_other() {
    let Some(it) = start("instances::a_logout_everywhere", &[FEED_ONLY]).await else {
        return;
    };
    it.user("ada@example.com", false).await;
    let (_, on_b) = it.login(&it.b, "ada@example.com", PASSWORD).await;
    let (_, on_a) = it.login(&it.a, "ada@example.com", PASSWORD).await;
    assert_eq!(it.profile(&it.b, &on_b).await.0, 200);

    let (status, body) = it
        .call(&it.a, "POST", "/api/auth/logout/all/", Some(&on_a), None)
        .await;
    assert_eq!(
        (status, &body["sessions_ended"]),
        (200, &json!(2)),
        "{body}"
    );

    for access in [&on_a, &on_b] {
        it.refused_by_both(access, "password_changed").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_on_one_instance_is_refused_by_the_other() {
    let Some(it) = start("instances::a_user_deleted", &[FEED_ONLY]).await else {
        return;
    };
    let ada = it.user("ada@example.com", false).await;
    it.user("admin@example.com", true).await;
    let (refresh, access) = it.login(&it.b, "ada@example.com", PASSWORD).await;
    let (_, admin) = it.login(&it.a, "admin@example.com", PASSWORD).await;
    assert_eq!(it.profile(&it.b, &access).await.0, 200);

    let (status, body) = it
        .call(
            &it.a,
            "DELETE",
            &format!("/api/admin/users/{}/", ada.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");

    it.refused_by_both(&access, "user_not_found").await;
    let (status, _) = it
        .post(&it.b, "/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revoked_by_staff_on_one_instance_are_refused_by_the_other() {
    let Some(it) = start("instances::sessions_revoked_by_staff", &[FEED_ONLY]).await else {
        return;
    };
    let ada = it.user("ada@example.com", false).await;
    it.user("admin@example.com", true).await;
    let (refresh, access) = it.login(&it.b, "ada@example.com", PASSWORD).await;
    let (_, admin) = it.login(&it.a, "admin@example.com", PASSWORD).await;
    assert_eq!(it.profile(&it.b, &access).await.0, 200);

    let (status, body) = it
        .call(
            &it.a,
            "POST",
            &format!("/api/admin/users/{}/revoke_sessions/", ada.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    it.refused_by_both(&access, "token_not_valid").await;
    let (status, body) = it
        .post(&it.b, "/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(
        (status, &body["detail"]),
        (401, &json!("Token is blacklisted"))
    );
}
