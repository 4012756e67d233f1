//! One rule for login names, on both engines: the login (`check_credentials`) and the
//! command line's lookup (`user_by_login`) find the same account for the same name — the
//! username exactly as stored, as Django's `ModelBackend` finds it (`get_by_natural_key`,
//! no NFKC normalisation at login).

use tessera_auth::{Auth, AuthError, ClientInfo};
use tessera_core::{Settings, UsernameField};
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, PasswordHasher, Store, engine_tests};

const PASSWORD: &str = "correct horse battery 1";

async fn service(store: Store) -> Auth {
    let settings = Settings {
        signing_key: Some("a signing key of more than thirty-two bytes".into()),
        username_field: UsernameField::Username,
        ..Settings::default()
    };
    Auth::builder(settings, store).build().await.unwrap()
}

async fn user(store: &Store, username: &str, hash: &str) -> i64 {
    store
        .create_user(&NewUser {
            username: Some(username.into()),
            password_hash: hash.into(),
            is_active: true,
            ..NewUser::default()
        })
        .await
        .unwrap()
        .id
}

/// The account `name` logs in to, if any, and the one `user_by_login` finds.
async fn both(auth: &Auth, name: &str) -> (Option<i64>, Option<i64>) {
    let logged_in = auth
        .check_credentials(name, PASSWORD, &ClientInfo::default())
        .await
        .unwrap()
        .map(|u| u.id);
    let found = match auth.user_by_login(name).await {
        Ok(user) => Some(user.id),
        Err(AuthError::NotFound) => None,
        Err(other) => panic!("{name}: {other}"),
    };
    (logged_in, found)
}

engine_tests! {
    async fn login_and_lookup_agree_on_every_name(db: &TestDatabase) {
        let store = db.store().await;
        let hash = PasswordHasher::hash_blocking(PASSWORD).unwrap();
        // A name stored as Tessera stores names (NFKC), and one stored as it came (a Django
        // user created without `normalize_username`, imported): full-width letters.
        let joe = user(&store, "joe", &hash).await;
        let wide = user(&store, "ｗｉｄｅ", &hash).await;
        let auth = service(store.clone()).await;

        assert_eq!(both(&auth, "joe").await, (Some(joe), Some(joe)));
        assert_eq!(both(&auth, "ｗｉｄｅ").await, (Some(wide), Some(wide)));
        // Another spelling of a stored name is no login name of it, for either.
        assert_eq!(both(&auth, "ｊｏｅ").await, (None, None));
        assert_eq!(both(&auth, "wide").await, (None, None));
        assert_eq!(both(&auth, "Joe").await, (None, None));
        auth.store().close().await;
    }
}
