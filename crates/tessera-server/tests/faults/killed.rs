//! `kill -9` under a mixed write load: registrations, refreshes (rotation), logouts and
//! signing-key rotations (staff API and `tessera keys rotate`) run at once while the server
//! is SIGKILLed; restarted on the same database, it holds every acknowledged write, nothing
//! half-written, and serves clean.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tessera_core::Timestamp;
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, PasswordHasher, Store, UserFlags, engine_tests};

use crate::helpers::{PASSWORD, Server, jwt_part, run, stderr, stdout, tessera};
use crate::support::{Api, KEK, ORPHAN_SESSIONS, eventually, integrity_check, scalar};

/// Refresh chains still rotating when the server is killed.
const RUNNING_CHAINS: usize = 4;
/// Refresh chains that rotate [`SETTLED_ROTATIONS`] times, then rest until the kill.
const SETTLED_CHAINS: usize = 4;
const SETTLED_ROTATIONS: usize = 5;
/// Clients registering accounts one after the other.
const REGISTRARS: usize = 2;

/// Keys kept in the store (sealed), every throttle off (the load comes from one address),
/// and no reuse grace: a rotated-away token is refused at once.
fn server_env(url: &str) -> Vec<(&str, &str)> {
    vec![
        ("TESSERA_DATABASE_URL", url),
        ("TESSERA_KEY_SOURCE", "store"),
        ("TESSERA_KEY_ENCRYPTION_KEY", KEK),
        ("TESSERA_ALGORITHM", "EdDSA"),
        ("TESSERA_SIGNING_KEY", ""),
        ("TESSERA_THROTTLE_RATES", "{login = \"\", register = \"\"}"),
        ("TESSERA_REFRESH_REUSE_GRACE", "0"),
    ]
}

/// What the server (or the command line) acknowledged before the kill.
#[derive(Default)]
struct Acks {
    /// E-mails of 201 registrations.
    registered: Mutex<Vec<String>>,
    /// Refresh tokens of 200 blacklists.
    logged_out: Mutex<Vec<String>>,
    /// Kids of 200 staff rotations.
    rotated: Mutex<Vec<String>>,
    /// Kids of `tessera keys rotate` runs that exited 0.
    rotated_by_cli: Mutex<Vec<String>>,
    /// Refreshes the running chains got a 200 for.
    refreshes: AtomicUsize,
}

fn count<T>(list: &Mutex<Vec<T>>) -> usize {
    list.lock().unwrap().len()
}

async fn login(api: &Api, email: &str) -> Option<(String, String)> {
    let reply = api
        .post("/api/token/", json!({"email": email, "password": PASSWORD}))
        .await
        .ok()?;
    assert_eq!(reply.status, 200, "login of {email}: {}", reply.body);
    Some((reply.text("refresh"), reply.text("access")))
}

/// Registers `reg<n>-<i>@example.com` for i = 0, 1, … until the server stops answering.
async fn register(api: Api, acks: Arc<Acks>, n: usize) {
    for i in 0.. {
        let email = format!("reg{n}-{i}@example.com");
        let body = json!({
            "email": email, "first_name": "Reg", "last_name": "Istrant",
            "password": PASSWORD, "password_confirm": PASSWORD,
        });
        let Ok(reply) = api.post("/api/auth/register/", body).await else {
            return;
        };
        assert_eq!(reply.status, 201, "registration: {}", reply.body);
        acks.registered.lock().unwrap().push(email);
    }
}

/// Refreshes `first`, then its successor, and so on: `limit` times, or until the server
/// stops answering. Returns every acknowledged token, `first` included.
async fn rotate_chain(api: Api, acks: Arc<Acks>, first: String, limit: usize) -> Vec<String> {
    let mut tokens = vec![first];
    while tokens.len() <= limit {
        let body = json!({"refresh": tokens.last().unwrap()});
        let Ok(reply) = api.post("/api/token/refresh/", body).await else {
            break;
        };
        assert_eq!(reply.status, 200, "refresh: {}", reply.body);
        tokens.push(reply.text("refresh"));
        acks.refreshes.fetch_add(1, Ordering::SeqCst);
    }
    tokens
}

/// Logs in and blacklists the refresh token, again and again, until the server stops
/// answering.
async fn log_in_and_out(api: Api, acks: Arc<Acks>, email: String) {
    loop {
        let Some((refresh, _)) = login(&api, &email).await else {
            return;
        };
        let Ok(reply) = api
            .post("/api/token/blacklist/", json!({"refresh": refresh}))
            .await
        else {
            return;
        };
        assert_eq!((reply.status, &reply.body), (200, &json!({})), "blacklist");
        acks.logged_out.lock().unwrap().push(refresh);
    }
}

/// Rotates the signing key through the staff API until the server stops answering.
async fn rotate_keys(api: Api, acks: Arc<Acks>, staff_access: String) {
    loop {
        let Ok(reply) = api
            .send(
                "POST",
                "/api/admin/keys/rotate/",
                Some(&staff_access),
                Some(json!({})),
            )
            .await
        else {
            return;
        };
        assert_eq!(reply.status, 200, "staff rotation: {}", reply.body);
        acks.rotated.lock().unwrap().push(reply.text("kid"));
    }
}

/// Runs `tessera keys rotate` on the same database until `stop`.
fn rotate_keys_by_cli(dir: &std::path::Path, env: &[(&str, &str)], acks: &Acks, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let mut command = tessera(dir);
        command.args(["keys", "rotate"]);
        for (name, value) in env {
            if !value.is_empty() {
                command.env(name, value);
            }
        }
        let output = run(command, None);
        assert!(
            output.status.success(),
            "tessera keys rotate: {}",
            stderr(&output)
        );
        let kid = stdout(&output)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned();
        acks.rotated_by_cli.lock().unwrap().push(kid);
    }
}

/// The `sid` claim of a token.
fn sid(token: &str) -> String {
    jwt_part(token, 1)["sid"].as_str().unwrap().to_owned()
}

engine_tests! {
    async fn every_acknowledged_write_survives_a_sigkill_under_mixed_load(db: &TestDatabase) {
        sigkill_under_mixed_load(db).await;
    }
}

async fn sigkill_under_mixed_load(db: &TestDatabase) {
    // Arrange: a server with store-kept keys, a staff member, and one account per chain.
    let dir = tempfile::tempdir().unwrap();
    let env = server_env(db.url());
    let mut server = Server::start_with(dir.path(), &env);
    let api = Api::new(&server.base);
    let store = Store::connect(db.url()).await.unwrap();
    let password_hash = PasswordHasher::hash_blocking(PASSWORD).unwrap();
    let chains = RUNNING_CHAINS + SETTLED_CHAINS;
    let emails: Vec<String> = (0..=chains)
        .map(|i| format!("user{i}@example.com"))
        .chain(["staff@example.com".to_owned()])
        .collect();
    for email in &emails {
        store
            .create_user(&NewUser {
                email: email.clone(),
                password_hash: password_hash.clone(),
                is_active: true,
                date_joined: Timestamp::from_micros(1_795_445_447_123_456),
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    let staff = store
        .user_by_email("staff@example.com")
        .await
        .unwrap()
        .unwrap();
    let flags = UserFlags {
        is_staff: Some(true),
        ..UserFlags::default()
    };
    store.set_user_flags(staff.id, &flags).await.unwrap();
    store.close().await;
    let (_, staff_access) = login(&api, "staff@example.com").await.unwrap();
    let mut firsts = Vec::new();
    for email in &emails[..chains] {
        firsts.push(login(&api, email).await.unwrap().0);
    }

    // Act: every kind of write at once; SIGKILL once each kind has been acknowledged.
    let acks = Arc::new(Acks::default());
    let stop_cli = Arc::new(AtomicBool::new(false));
    let cli = {
        let (dir, acks, stop) = (
            dir.path().to_owned(),
            Arc::clone(&acks),
            Arc::clone(&stop_cli),
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        std::thread::spawn(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            rotate_keys_by_cli(&dir, &env, &acks, &stop);
        })
    };
    let mut others = Vec::new();
    for n in 0..REGISTRARS {
        others.push(tokio::spawn(register(api.clone(), Arc::clone(&acks), n)));
    }
    others.push(tokio::spawn(log_in_and_out(
        api.clone(),
        Arc::clone(&acks),
        emails[chains].clone(),
    )));
    others.push(tokio::spawn(rotate_keys(
        api.clone(),
        Arc::clone(&acks),
        staff_access,
    )));
    let mut running = Vec::new();
    let mut settled = Vec::new();
    for (i, first) in firsts.into_iter().enumerate() {
        let (api, acks) = (api.clone(), Arc::clone(&acks));
        if i < RUNNING_CHAINS {
            running.push(tokio::spawn(rotate_chain(api, acks, first, usize::MAX)));
        } else {
            settled.push(tokio::spawn(rotate_chain(
                api,
                acks,
                first,
                SETTLED_ROTATIONS,
            )));
        }
    }
    let mut settled_tokens = Vec::new();
    for chain in settled {
        settled_tokens.push(chain.await.unwrap());
    }
    eventually(
        "every kind of write acknowledged a few times",
        Duration::from_secs(60),
        || {
            let acks = Arc::clone(&acks);
            async move {
                (count(&acks.registered) >= 3
                    && count(&acks.logged_out) >= 3
                    && count(&acks.rotated) >= 3
                    && !acks.rotated_by_cli.lock().unwrap().is_empty()
                    && acks.refreshes.load(Ordering::SeqCst) >= 3 * RUNNING_CHAINS)
                    .then_some(())
            }
        },
    )
    .await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop_cli.store(true, Ordering::SeqCst);
    let mut running_tokens = Vec::new();
    for chain in running {
        running_tokens.push(chain.await.unwrap());
    }
    for task in others {
        task.await.unwrap();
    }
    cli.join().expect("the command-line rotations");
    eprintln!(
        "acknowledged before SIGKILL: {} registrations, {} refreshes of running chains, {} logouts, \
         {} staff and {} command-line key rotations",
        count(&acks.registered),
        acks.refreshes.load(Ordering::SeqCst),
        count(&acks.logged_out),
        count(&acks.rotated),
        count(&acks.rotated_by_cli),
    );

    // Assert: the server starts clean on the same database…
    let restarted = Server::start_with(dir.path(), &env);
    let api = Api::new(&restarted.base);
    let health = api.must("GET", "/healthz", None, None).await;
    assert_eq!(
        (health.status, &health.body),
        (200, &json!({"status": "ok"}))
    );
    let ready = api.must("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["migrations"], "applied");
    let store = Store::connect(db.url()).await.unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());

    // …with every acknowledged registration: the account exists and logs in…
    let registered = acks.registered.lock().unwrap().clone();
    let mut logins = Vec::new();
    for email in registered.clone() {
        assert!(
            store.user_by_email(&email).await.unwrap().is_some(),
            "{email} was lost"
        );
        let api = api.clone();
        logins.push(tokio::spawn(
            async move { login(&api, &email).await.is_some() },
        ));
    }
    for done in logins {
        assert!(done.await.unwrap());
    }

    // …every acknowledged rotation: a settled chain's last token is its session's current
    // one and refreshes, the one before it is refused…
    for tokens in &settled_tokens {
        assert_eq!(tokens.len(), SETTLED_ROTATIONS + 1);
        let session = store.session(&sid(&tokens[0])).await.unwrap().unwrap();
        assert_eq!(session.rotation_counter, SETTLED_ROTATIONS as i64);
        let (last, before) = (&tokens[SETTLED_ROTATIONS], &tokens[SETTLED_ROTATIONS - 1]);
        let reply = api.must_refresh(last).await;
        assert_eq!(
            reply.status, 200,
            "the last acknowledged rotation was lost: {}",
            reply.body
        );
        let reply = api.must_refresh(before).await;
        assert_eq!(
            reply.status, 401,
            "a rotated-away token came back: {}",
            reply.body
        );
    }
    // …and a chain cut mid-refresh is at its last acknowledged token, or one past it when
    // the cut request had been applied, never behind.
    for tokens in &running_tokens {
        let acknowledged = tokens.len() - 1;
        assert!(acknowledged >= 3, "{acknowledged}");
        let session = store.session(&sid(&tokens[0])).await.unwrap().unwrap();
        let counter = usize::try_from(session.rotation_counter).unwrap();
        assert!(
            counter == acknowledged || counter == acknowledged + 1,
            "{acknowledged} rotations acknowledged, the session counts {counter}"
        );
        let last = tokens.last().unwrap();
        let reply = api.must_refresh(last).await;
        let expected = if counter == acknowledged { 200 } else { 401 };
        assert_eq!(reply.status, expected, "{}", reply.body);
        let before = &tokens[acknowledged - 1];
        let reply = api.must_refresh(before).await;
        assert_eq!(
            reply.status, 401,
            "a rotated-away token came back: {}",
            reply.body
        );
    }

    // Every acknowledged logout holds.
    let logged_out = acks.logged_out.lock().unwrap().clone();
    for refresh in logged_out {
        let reply = api.must_refresh(&refresh).await;
        assert_eq!(
            (reply.status, &reply.body["detail"]),
            (401, &json!("Token is blacklisted")),
            "a logout was lost"
        );
    }

    // Every acknowledged key rotation is stored and published; at no instant do two keys
    // sign, and exactly one signs now.
    let keys = store.signing_keys().await.unwrap();
    let jwks = api.must("GET", "/.well-known/jwks.json", None, None).await;
    let rotated: Vec<String> = acks
        .rotated
        .lock()
        .unwrap()
        .iter()
        .chain(acks.rotated_by_cli.lock().unwrap().iter())
        .cloned()
        .collect();
    for kid in &rotated {
        let key = keys
            .iter()
            .find(|k| &k.kid == kid)
            .unwrap_or_else(|| panic!("key {kid} was lost"));
        assert!(key.activates_at.is_some(), "{key:?} is not scheduled");
        assert!(
            jwks.body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == json!(kid)),
            "{kid} is not in the JWKS"
        );
    }
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let signs_at = |key: &tessera_store::StoredKey, at: Timestamp| {
        key.activates_at.is_some_and(|from| from <= at)
            && key.retired_at.is_none_or(|until| until > at)
    };
    assert_eq!(
        keys.iter().filter(|k| signs_at(k, now)).count(),
        1,
        "{keys:?}"
    );
    for key in &keys {
        let Some(from) = key.activates_at else {
            continue;
        };
        if key.retired_at.is_some_and(|until| until <= from) {
            continue; // superseded before it signed
        }
        let others = keys
            .iter()
            .filter(|o| o.kid != key.kid && signs_at(o, from));
        assert_eq!(others.count(), 0, "two keys sign at {from:?}: {keys:?}");
    }

    // Nothing half-written.
    assert_eq!(
        scalar(db.url(), ORPHAN_SESSIONS).await,
        0,
        "sessions without their user"
    );
    if let Some(path) = db.url().strip_prefix("sqlite://") {
        assert_eq!(integrity_check(std::path::Path::new(path)).await, "ok");
    }
    store.close().await;
}
