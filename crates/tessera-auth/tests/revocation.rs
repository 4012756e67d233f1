//! Every way a token stops working, made on one instance and refused by another: two
//! services over one database, each with its own pool, as two `tessera` processes are, on
//! both engines. For each cause, instance B first accepts the token; then the cause happens
//! on instance A, which refuses the token at once (a change made by a process applies
//! before its answer); then B refuses it within [`PROPAGATION`], with the refusal
//! authentication gives for that cause. A change made through a third store (a process
//! with no service at all, as a script's) reaches both.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tessera_auth::accounts::AdminUpdate;
use tessera_auth::api_keys::ApiKeyRequest;
use tessera_auth::audit::{Audit, event};
use tessera_auth::email_flows::encode_uid;
use tessera_auth::mail::{EmailBackend, MailSettings};
use tessera_auth::revocation::RevocationSettings;
use tessera_auth::{Actor, Auth, AuthError, ClientInfo, SESSION_CLAIM, TokenPair};
use tessera_core::{Settings, TokenError, TokenKind};
use tessera_smtp_sink::SmtpSink;
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, PasswordHasher, RevokeReason, Store, User, UserFlags, engine_tests};
use tokio::time::Instant;

const SIGNING_KEY: &str = "a signing key of more than thirty-two bytes";
const PASSWORD: &str = "correct horse battery 1";
const NEW_PASSWORD: &str = "a brand new passphrase 42";
/// How long another instance may take to refuse a token after the change.
const PROPAGATION: Duration = Duration::from_secs(5);
/// How long a test waits for the reset mail.
const MAIL_WAIT: Duration = Duration::from_secs(10);

/// One instance of the service over `store`: rotation with blacklisting and no reuse
/// grace, so that a rotated-away refresh token presented again is a reuse. Memory may be an
/// hour behind the change log and still decide: no fallback to the database can hide a feed
/// that does not deliver.
async fn instance(store: Store, mail: MailSettings) -> Auth {
    let settings = Settings {
        signing_key: Some(SIGNING_KEY.into()),
        rotate_refresh_tokens: true,
        blacklist_after_rotation: true,
        refresh_reuse_grace: Duration::ZERO,
        ..Settings::default()
    };
    Auth::builder(settings, store)
        .hasher(PasswordHasher::new(1))
        .mail(mail)
        .public_url("https://auth.example.com/")
        .revocation(RevocationSettings {
            revocation_max_staleness: Duration::from_secs(3600),
            ..RevocationSettings::default()
        })
        .build()
        .await
        .unwrap()
}

/// Two instances on one database: `a`, where the changes are made (its mail goes to
/// `sink`), and `b`, which must learn of them.
struct Instances {
    a: Auth,
    b: Auth,
    sink: SmtpSink,
}

async fn instances(db: &TestDatabase) -> Instances {
    let sink = SmtpSink::start().await.unwrap();
    let mail = MailSettings {
        email_backend: EmailBackend::Smtp,
        smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port()).into()),
        email_from: "noreply@example.com".into(),
        email_timeout: Duration::from_secs(2),
        ..MailSettings::default()
    };
    let off = MailSettings {
        email_backend: EmailBackend::Off,
        ..MailSettings::default()
    };
    Instances {
        a: instance(db.store().await, mail).await,
        b: instance(db.store().await, off).await,
        sink,
    }
}

fn client() -> ClientInfo {
    ClientInfo::new(Some("test"), Some("10.0.0.7".into()))
}

/// `user`, a staff member, through the admin API from `client`.
fn staff<'a>(user: &'a User, client: &'a ClientInfo) -> Actor<'a> {
    Actor::Staff { user, client }
}

fn data(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

impl Instances {
    /// A user with [`PASSWORD`], created through A's store; `staff` makes them a superuser.
    async fn user(&self, email: &str, staff: bool) -> User {
        self.a
            .store()
            .create_user(&NewUser {
                email: email.into(),
                password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
                is_active: true,
                is_staff: staff,
                is_superuser: staff,
                ..NewUser::default()
            })
            .await
            .unwrap()
    }

    /// A login of `user` on A.
    async fn login(&self, user: &User) -> TokenPair {
        self.a.issue_account_pair(user, &client()).await.unwrap()
    }

    /// B accepts `access`, from memory: authentication loads its user, and verify passes
    /// it.
    async fn b_accepts(&self, access: &str, user: &User) {
        let asked_database = self.b.revocation_status().database_decisions;
        let found = authenticate(&self.b, access)
            .await
            .unwrap_or_else(|error| panic!("B refuses a live token: {error:?}"));
        assert_eq!(found.id, user.id);
        self.b.verify(access).await.unwrap();
        assert_eq!(
            self.b.revocation_status().database_decisions,
            asked_database
        );
    }

    /// Once a cause was made on A: A refuses `access` as `refusal` at once, B within
    /// [`PROPAGATION`]; with `verify`, both also verify it as blacklisted (its session is
    /// over).
    async fn refused(&self, access: &str, refusal: Refusal, verify: bool) {
        refused_by(&self.a, "A", access, refusal, verify, Duration::ZERO).await;
        refused_by(&self.b, "B", access, refusal, verify, PROPAGATION).await;
    }
}

/// How authentication refuses a token, by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Its session was ended (logout, blacklist, reuse, staff, or the user ending it):
    /// the token's kind refuses it as blacklisted.
    Blacklisted,
    /// A password change or a "log out everywhere" ended every session.
    PasswordChanged,
    /// Its user was deactivated.
    UserInactive,
    /// Its user was deleted.
    UserNotFound,
    /// The API key it was minted from was revoked.
    InvalidApiKey,
}

impl Refusal {
    /// The refusal `error` is, if it is one.
    fn of(error: &AuthError) -> Option<Self> {
        match error {
            AuthError::NoValidTokenKind(rejections)
                if rejections.len() == 1
                    && rejections[0].kind == TokenKind::access()
                    && rejections[0].message == TokenError::Blacklisted.to_string() =>
            {
                Some(Self::Blacklisted)
            }
            AuthError::PasswordChanged => Some(Self::PasswordChanged),
            AuthError::UserInactive => Some(Self::UserInactive),
            AuthError::UserNotFound => Some(Self::UserNotFound),
            AuthError::InvalidApiKey => Some(Self::InvalidApiKey),
            _ => None,
        }
    }
}

/// What `auth` makes of the access token `access`: its user, or why not.
async fn authenticate(auth: &Auth, access: &str) -> Result<User, AuthError> {
    let token = auth.validate_token(access)?;
    auth.user_for_token(&token).await
}

/// Asks `auth` (instance `name`) about `access` until it refuses it, for `within` at most
/// (zero: once), and checks that the refusal is `refusal`; then the same of verify, when
/// `verify`, which must answer `Token is blacklisted`. Every answer must come from memory:
/// the database is never asked.
async fn refused_by(
    auth: &Auth,
    name: &str,
    access: &str,
    refusal: Refusal,
    verify: bool,
    within: Duration,
) {
    let asked_database = auth.revocation_status().database_decisions;
    refused_within(auth, name, access, refusal, verify, within).await;
    let status = auth.revocation_status();
    assert_eq!(
        status.database_decisions, asked_database,
        "{name} asked the database instead of deciding from memory: {status:?}"
    );
}

async fn refused_within(
    auth: &Auth,
    name: &str,
    access: &str,
    refusal: Refusal,
    verify: bool,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    let error = loop {
        match authenticate(auth, access).await {
            Err(error) => break error,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "{name} still authenticates the token {within:?} after the change"
                );
                tokio::task::yield_now().await;
            }
        }
    };
    assert_eq!(Refusal::of(&error), Some(refusal), "{name}: {error:?}");
    if !verify {
        return;
    }
    let error = loop {
        match auth.verify(access).await {
            Err(error) => break error,
            Ok(()) => {
                assert!(
                    Instant::now() < deadline,
                    "{name} still verifies the token {within:?} after the change"
                );
                tokio::task::yield_now().await;
            }
        }
    };
    match error {
        AuthError::Invalid(errors) => assert_eq!(
            errors.to_json(),
            json!({"non_field_errors": ["Token is blacklisted"]}),
            "{name}"
        ),
        other => panic!("{name}: verify refused with {other:?}"),
    }
}

/// The session a token belongs to.
fn session_of(auth: &Auth, access: &str) -> String {
    let token = auth
        .backend()
        .decode(&TokenKind::access(), access, auth.now())
        .unwrap();
    token
        .get(SESSION_CLAIM)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The uid and token of the newest reset mail's link to `to`, waiting for it.
async fn reset_link(sink: &SmtpSink, to: &str) -> (String, String) {
    let deadline = Instant::now() + MAIL_WAIT;
    let text = loop {
        let mail = sink
            .messages()
            .into_iter()
            .rfind(|m| m.to.iter().any(|t| t == to));
        if let Some(mail) = mail {
            break mail.text_body().unwrap();
        }
        assert!(Instant::now() < deadline, "no reset mail to {to}");
        tokio::task::yield_now().await;
    };
    let marker = "https://auth.example.com/account/reset/";
    let start = text.find(marker).unwrap() + marker.len();
    let mut parts = text[start..].split('/');
    let (uid, token) = (parts.next().unwrap(), parts.next().unwrap());
    (uid.to_owned(), token.to_owned())
}

engine_tests! {
    /// simplejwt's blacklist route on A.
    async fn a_blacklisted_session(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let pair = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;

        it.a.blacklist(&pair.refresh, &client()).await.unwrap();

        it.refused(&pair.access, Refusal::Blacklisted, true).await;
    }

    /// The account logout on A.
    async fn a_logout(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let pair = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;

        it.a.end_session(&pair.refresh, Some(ada.id), RevokeReason::Logout, &client()).await.unwrap();

        it.refused(&pair.access, Refusal::Blacklisted, true).await;
    }

    /// A refresh token rotated away and presented again on A, past the grace: the session
    /// ends, the access tokens of before and after the rotation with it.
    async fn a_detected_reuse(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let pair = it.login(&ada).await;
        let rotated = it.a.refresh(&pair.refresh, &client()).await.unwrap();
        assert!(rotated.refresh.is_some());
        it.b_accepts(&pair.access, &ada).await;
        it.b_accepts(&rotated.access, &ada).await;

        let replay = it.a.refresh(&pair.refresh, &client()).await.unwrap_err();
        assert!(matches!(replay, AuthError::Token(TokenError::Blacklisted)), "{replay:?}");

        it.refused(&pair.access, Refusal::Blacklisted, true).await;
        it.refused(&rotated.access, Refusal::Blacklisted, true).await;
    }

    /// The user ends their phone's session from their laptop, on A; the laptop's stays.
    async fn a_session_ended_by_its_user(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let phone = it.login(&ada).await;
        let laptop = it.login(&ada).await;
        it.b_accepts(&phone.access, &ada).await;

        let sid = session_of(&it.a, &phone.access);
        it.a.end_own_session(&ada, &sid, &client()).await.unwrap();

        it.refused(&phone.access, Refusal::Blacklisted, true).await;
        it.b_accepts(&laptop.access, &ada).await;
    }

    /// The owner's password change on A ends every session.
    async fn a_password_change(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let pair = it.login(&ada).await;
        let other = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;
        it.b_accepts(&other.access, &ada).await;

        let change = data(json!({
            "old_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        }));
        let sid = session_of(&it.a, &pair.access);
        let ended = it.a.change_password(&ada, &change, &client(), Some(&sid)).await.unwrap();
        assert_eq!(ended, 2);

        it.refused(&pair.access, Refusal::PasswordChanged, true).await;
        it.refused(&other.access, Refusal::PasswordChanged, true).await;
    }

    /// A password reset confirmed on A ends every session.
    async fn a_password_reset(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let pair = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;

        it.a.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let (uid, token) = reset_link(&it.sink, "ada@example.com").await;
        assert_eq!(uid, encode_uid(ada.id));
        let confirm = data(json!({
            "uid": uid,
            "token": token,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        }));
        let ended = it.a.confirm_password_reset(&confirm, &client()).await.unwrap();
        assert_eq!(ended, 1);

        it.refused(&pair.access, Refusal::PasswordChanged, true).await;
    }

    /// "Log out everywhere" on A.
    async fn a_logout_everywhere(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let pair = it.login(&ada).await;
        let other = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;
        it.b_accepts(&other.access, &ada).await;

        let sid = session_of(&it.a, &pair.access);
        let ended = it.a.log_out_everywhere(&ada, &client(), Some(&sid)).await.unwrap();
        assert_eq!(ended, 2);

        it.refused(&pair.access, Refusal::PasswordChanged, true).await;
        it.refused(&other.access, Refusal::PasswordChanged, true).await;
    }

    /// Staff deactivate the user on A.
    async fn a_deactivation(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let admin = it.user("admin@example.com", true).await;
        let pair = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;

        let update = AdminUpdate { is_active: Some(false), ..AdminUpdate::default() };
        let (_, ended) = it.a.update_user(&ada, update, staff(&admin, &client())).await.unwrap();
        assert_eq!(ended, 1);

        it.refused(&pair.access, Refusal::UserInactive, true).await;
    }

    /// Staff delete the user on A.
    async fn a_deleted_user(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let admin = it.user("admin@example.com", true).await;
        let pair = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;

        assert!(it.a.delete_user(&ada, staff(&admin, &client())).await.unwrap());

        it.refused(&pair.access, Refusal::UserNotFound, true).await;
    }

    /// Staff end the user's sessions on A (the admin API's `revoke_sessions`).
    async fn sessions_revoked_by_staff(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let admin = it.user("admin@example.com", true).await;
        let pair = it.login(&ada).await;
        let other = it.login(&ada).await;
        it.b_accepts(&pair.access, &ada).await;
        it.b_accepts(&other.access, &ada).await;

        assert_eq!(it.a.revoke_sessions(&ada, staff(&admin, &client())).await.unwrap(), 2);

        it.refused(&pair.access, Refusal::Blacklisted, true).await;
        it.refused(&other.access, Refusal::Blacklisted, true).await;
    }

    /// An API key revoked on A: the access tokens minted from it (no session; verify, a
    /// stateless check, passes them until they expire) no longer authenticate.
    async fn a_revoked_api_key(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let request = ApiKeyRequest { name: "ci".into(), expires_at: None, scopes: Vec::new() };
        let created = it.a.create_api_key(&ada, &request, Audit::new(event::API_KEY_CREATED)).await.unwrap();
        let access = it.a.issue_client_token(&created.key, &client()).await.unwrap();
        it.b_accepts(&access, &ada).await;

        it.a.revoke_api_key(&created.api_key.prefix, Some(&ada), Audit::new(event::API_KEY_REVOKED)).await.unwrap();

        it.refused(&access, Refusal::InvalidApiKey, false).await;
    }

    /// Changes written by a third process that runs no service, through its own store: a
    /// session revoked, a user deactivated (the user row alone: the sessions stay, so
    /// verify still passes the token), a user deleted. Both instances refuse within the
    /// bound.
    async fn changes_made_through_a_third_store(db: &TestDatabase) {
        let it = instances(db).await;
        let ada = it.user("ada@example.com", false).await;
        let bob = it.user("bob@example.com", false).await;
        let cy = it.user("cy@example.com", false).await;
        let (ada_pair, bob_pair, cy_pair) = (it.login(&ada).await, it.login(&bob).await, it.login(&cy).await);
        for (pair, user) in [(&ada_pair, &ada), (&bob_pair, &bob), (&cy_pair, &cy)] {
            authenticate(&it.a, &pair.access).await.unwrap();
            it.b_accepts(&pair.access, user).await;
        }
        let third = db.store().await;

        let sid = session_of(&it.a, &ada_pair.access);
        assert!(third.revoke_session(&sid, RevokeReason::Logout, it.a.now()).await.unwrap());
        let flags = UserFlags { is_active: Some(false), ..UserFlags::default() };
        assert!(third.set_user_flags(bob.id, &flags).await.unwrap());
        assert!(third.delete_user(cy.id).await.unwrap());

        for (auth, name) in [(&it.a, "A"), (&it.b, "B")] {
            refused_by(auth, name, &ada_pair.access, Refusal::Blacklisted, true, PROPAGATION).await;
            refused_by(auth, name, &bob_pair.access, Refusal::UserInactive, false, PROPAGATION).await;
            refused_by(auth, name, &cy_pair.access, Refusal::UserNotFound, true, PROPAGATION).await;
        }
        third.close().await;
    }
}
