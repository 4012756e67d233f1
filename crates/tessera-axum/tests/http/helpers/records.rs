//! What the tests look up or change in the application's store, behind its back.

use tessera_axum::testing::TestApp;
use tessera_core::Token;
use tessera_store::{NewUser, Session, User, UserFlags};

use super::{Api, NOW, PASSWORD, claims};

/// The application's store and keys, for [`TestApp`].
pub trait Records: Api {
    /// Creates an active user with names, straight in the store.
    async fn create_named_user(&self, email: &str, first: &str, last: &str) -> User {
        self.app()
            .create_user_with(
                NewUser {
                    email: email.into(),
                    first_name: first.into(),
                    last_name: last.into(),
                    is_active: true,
                    ..NewUser::default()
                },
                PASSWORD,
            )
            .await
    }

    async fn deactivate(&self, user: &User) {
        let flags = UserFlags {
            is_active: Some(false),
            ..UserFlags::default()
        };
        assert!(
            self.app()
                .tessera
                .auth()
                .store()
                .set_user_flags(user.id, &flags)
                .await
                .expect("set flags")
        );
    }

    async fn delete(&self, user: &User) {
        assert!(
            self.app()
                .tessera
                .auth()
                .store()
                .delete_user(user.id)
                .await
                .expect("delete user")
        );
    }

    async fn user(&self, id: i64) -> User {
        self.app()
            .tessera
            .auth()
            .store()
            .user_by_id(id)
            .await
            .expect("load user")
            .expect("user exists")
    }

    /// The session a token names through its `sid` claim.
    async fn session_of(&self, token: &str) -> Session {
        let claims = claims(token);
        let sid = claims["sid"].as_str().expect("sid claim");
        self.app()
            .tessera
            .auth()
            .store()
            .session(sid)
            .await
            .expect("load session")
            .expect("session exists")
    }

    /// How many live sessions `user` has.
    async fn session_count(&self, user: &User) -> usize {
        self.app()
            .tessera
            .auth()
            .store()
            .live_sessions(user.id, self.app().now())
            .await
            .expect("sessions")
            .len()
    }

    /// How many users the store holds.
    async fn user_count(&self) -> usize {
        self.app()
            .tessera
            .auth()
            .store()
            .list_users()
            .await
            .expect("list users")
            .len()
    }

    /// The stored user with this e-mail address, if any.
    async fn user_by_email(&self, email: &str) -> Option<User> {
        self.app()
            .tessera
            .auth()
            .store()
            .user_by_email(email)
            .await
            .expect("load user")
    }

    /// Signs a token with the app's backend.
    fn encode(&self, token: &Token) -> String {
        self.app().tessera.auth().backend().encode(token).unwrap()
    }

    /// Sets the app's clock to `micros` after [`NOW`].
    fn set_offset_micros(&self, micros: i64) {
        self.app().clock.set(NOW.add_micros(micros));
    }
}

impl Records for TestApp {}
