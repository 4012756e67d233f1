//! The account flows by e-mail end to end, on both engines, through a real SMTP server on
//! a random port (`tessera-smtp-sink`): password reset, verification, e-mail change, login
//! by code, expiry on a manual clock, the outbox's retries, and the throttles that keep
//! requests from telling known addresses from unknown ones.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tessera_auth::email_flows::{EmailFlowSettings, RequireVerifiedEmail, encode_uid};
use tessera_auth::guard::ThrottleSettings;
use tessera_auth::mail::{EmailBackend, MailSettings};
use tessera_auth::{Actor, Auth, AuthError, ClientInfo, LoginMethod};
use tessera_core::{Clock, ManualClock, Settings, Timestamp};
use tessera_smtp_sink::{Received, SmtpSink};
use tessera_store::testing::TestDatabase;
use tessera_store::{
    AuditFilter, NewSession, NewUser, PasswordHasher, SessionKind, Store, User, engine_tests,
};

const PASSWORD: &str = "correct horse battery 1";
const NEW_PASSWORD: &str = "a brand new passphrase 42";
/// How long a test waits for a mail that should come.
const WAIT: Duration = Duration::from_secs(10);
/// 2025-01-01T00:00:00Z.
const T0: Timestamp = Timestamp::from_secs(1_735_689_600);

struct Env {
    auth: Auth,
    store: Store,
    sink: SmtpSink,
    clock: ManualClock,
}

async fn env_with(
    db: &TestDatabase,
    flows: EmailFlowSettings,
    throttling: ThrottleSettings,
) -> Env {
    let store = db.store().await;
    let sink = SmtpSink::start().await.unwrap();
    let mail = MailSettings {
        email_backend: EmailBackend::Smtp,
        smtp_url: Some(format!("smtp://127.0.0.1:{}", sink.port()).into()),
        email_from: "noreply@example.com".into(),
        email_timeout: Duration::from_secs(2),
        ..MailSettings::default()
    };
    let settings = Settings {
        signing_key: Some("a signing key of more than thirty-two bytes".into()),
        ..Settings::default()
    };
    let (clock, manual) = Clock::manual(T0);
    let auth = Auth::builder(settings, store.clone())
        .hasher(PasswordHasher::new(1))
        .clock(clock)
        .throttling(throttling)
        .mail(mail)
        .email_flows(flows)
        .public_url("https://auth.example.com/")
        .build()
        .await
        .unwrap();
    Env {
        auth,
        store,
        sink,
        clock: manual,
    }
}

async fn env(db: &TestDatabase) -> Env {
    let flows = EmailFlowSettings {
        login_by_code: true,
        ..EmailFlowSettings::default()
    };
    env_with(db, flows, ThrottleSettings::default()).await
}

async fn user(store: &Store, email: &str) -> User {
    store
        .create_user(&NewUser {
            email: email.into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            date_joined: T0,
            ..NewUser::default()
        })
        .await
        .unwrap()
}

fn data(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn client() -> ClientInfo {
    ClientInfo::new(Some("test"), Some("10.0.0.7".into()))
}

impl Env {
    /// The mails that went to `to` so far, oldest first.
    fn mails_to(&self, to: &str) -> Vec<Received> {
        self.sink
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect()
    }

    /// The `n`th mail (counting from 1) to `to`, waiting for it.
    async fn mail(&self, to: &str, n: usize) -> Received {
        poll(|| async { self.mails_to(to).into_iter().nth(n - 1) }).await
    }

    /// How many mails went to `to`, once the outbox is empty (every queued mail sent or
    /// dropped).
    async fn count(&self, to: &str) -> usize {
        poll(|| async {
            self.auth.send_due_mail().await.unwrap();
            self.store.outbox().await.unwrap().is_empty().then_some(())
        })
        .await;
        self.mails_to(to).len()
    }

    /// The user's `mail.` events, newest first, with their detail.
    async fn mail_events(&self, user_id: i64) -> Vec<(String, Value)> {
        self.auth.audit_log().flush().await;
        let filter = AuditFilter {
            user_id: Some(user_id),
            event: Some("mail.".into()),
            ..AuditFilter::default()
        };
        let (_, events) = self.store.list_audit_events(&filter, 100, 0).await.unwrap();
        events
            .into_iter()
            .map(|e| {
                let detail = e
                    .detail
                    .map_or(Value::Null, |d| serde_json::from_str(&d).unwrap());
                (e.event, detail)
            })
            .collect()
    }

    async fn login(&self, email: &str, password: &str) -> Result<Option<User>, AuthError> {
        self.auth
            .check_credentials(email, password, &client())
            .await
    }
}

/// The text after `marker` up to the next `/`.
fn segment_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"))
        + marker.len();
    text[start..].split('/').next().unwrap()
}

/// The 8-digit code of a mail: the first word of eight digits (a link's token is never
/// a word of its own).
fn code_of(mail: &Received) -> String {
    let text = mail.text_body().unwrap();
    text.split_whitespace()
        .map(|word| word.trim_end_matches(['.', ',']))
        .find(|word| word.len() == 8 && word.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("a code in {text}"))
        .to_owned()
}

/// The uid and token of a reset mail's link.
fn reset_link(mail: &Received) -> (String, String) {
    let text = mail.text_body().unwrap();
    let uid = segment_after(&text, "https://auth.example.com/account/reset/").to_owned();
    let token_marker = format!("/account/reset/{uid}/");
    (uid, segment_after(&text, &token_marker).to_owned())
}

/// The key of a verification or e-mail change mail's link.
fn key_of(mail: &Received, path: &str) -> String {
    let text = mail.text_body().unwrap();
    segment_after(&text, &format!("https://auth.example.com/account/{path}/")).to_owned()
}

fn reset_data(uid: &str, token: &str, password: &str) -> Map<String, Value> {
    data(json!({"uid": uid, "token": token, "new_password1": password, "new_password2": password}))
}

fn invalid(field: &str) -> Value {
    json!({field: ["Invalid value"]})
}

fn field_errors(result: Result<impl std::fmt::Debug, AuthError>) -> Value {
    match result {
        Err(AuthError::Invalid(errors)) => errors.to_json(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

engine_tests! {
    /// A reset link sets the password once: the old one stops working, every session
    /// ends, the link is dead after use, and the address counts as verified.
    async fn a_reset_link_sets_the_password_once(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        env.store
            .create_session(&NewSession {
                user_id: ada.id,
                kind: SessionKind::Refresh,
                jti: "j1".into(),
                iat: T0,
                expires_at: T0.add_secs(86_400),
                user_agent: None,
                ip: None,
                now: T0,
            })
            .await
            .unwrap();

        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let mail = env.mail("ada@example.com", 1).await;
        let (uid, token) = reset_link(&mail);
        assert_eq!(uid, encode_uid(ada.id));
        assert_eq!(token.len(), 43);
        assert!(!env.store.outbox().await.unwrap().iter().any(|m| m.detail.contains(&token)), "no secret waits in the outbox");

        // Locked out of the account from this client by five wrong passwords.
        for _ in 0..5 {
            assert!(env.login("ada@example.com", "wrong").await.unwrap().is_none());
        }
        assert!(env.login("ada@example.com", PASSWORD).await.unwrap().is_none(), "locked");
        let ended = env.auth.confirm_password_reset(&reset_data(&uid, &token, NEW_PASSWORD), &client()).await.unwrap();
        assert_eq!(ended, 1);
        assert!(env.login("ada@example.com", PASSWORD).await.unwrap().is_none());
        let back = env.login("ada@example.com", NEW_PASSWORD).await.unwrap().unwrap();
        assert!(back.email_verified);
        let again = env.auth.confirm_password_reset(&reset_data(&uid, &token, "yet another passphrase 7"), &client()).await;
        assert_eq!(field_errors(again), invalid("token"));
    }

    /// Mistakes leave the token alive: mismatched or weak passwords, a wrong uid; a token
    /// from another user's link does not fit.
    async fn reset_mistakes_do_not_spend_the_token(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        let bob = user(&env.store, "bob@example.com").await;
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let (uid, token) = reset_link(&env.mail("ada@example.com", 1).await);

        let mismatch = data(json!({"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": "other passphrase 99"}));
        assert_eq!(
            field_errors(env.auth.confirm_password_reset(&mismatch, &client()).await),
            json!({"new_password2": ["The two password fields didn\u{2019}t match."]})
        );
        let weak = field_errors(env.auth.confirm_password_reset(&reset_data(&uid, &token, "123"), &client()).await);
        assert!(weak.get("new_password2").is_some(), "{weak}");
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data("!!", &token, NEW_PASSWORD), &client()).await), invalid("uid"));
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data(&encode_uid(999), &token, NEW_PASSWORD), &client()).await), invalid("uid"));
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data(&encode_uid(bob.id), &token, NEW_PASSWORD), &client()).await), invalid("token"));
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data(&uid, "short", NEW_PASSWORD), &client()).await), invalid("token"));
        let missing = field_errors(env.auth.confirm_password_reset(&data(json!({"uid": uid})), &client()).await);
        assert_eq!(missing.as_object().unwrap().keys().collect::<Vec<_>>(), ["token", "new_password1", "new_password2"]);

        env.auth.confirm_password_reset(&reset_data(&uid, &token, NEW_PASSWORD), &client()).await.unwrap();
        assert!(env.login("ada@example.com", NEW_PASSWORD).await.unwrap().is_some());
        let _ = ada;
    }

    /// Only the newest reset mail works, and a token dies when the password changes first.
    async fn a_newer_reset_or_a_password_change_kills_a_token(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        let ask = data(json!({"email": "ada@example.com"}));
        env.auth.request_password_reset(&ask, &client()).await.unwrap();
        let (uid, first) = reset_link(&env.mail("ada@example.com", 1).await);
        env.auth.request_password_reset(&ask, &client()).await.unwrap();
        let (_, second) = reset_link(&env.mail("ada@example.com", 2).await);
        assert_ne!(first, second);
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data(&uid, &first, NEW_PASSWORD), &client()).await), invalid("token"));

        env.auth.set_password(&ada, "changed elsewhere passphrase 3").await.unwrap();
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data(&uid, &second, NEW_PASSWORD), &client()).await), invalid("token"));
        assert!(env.login("ada@example.com", "changed elsewhere passphrase 3").await.unwrap().is_some());
    }

    /// The mailed code resets too; an unknown address gets no mail, and the request is
    /// answered the same.
    async fn a_reset_by_code_and_no_mail_for_an_unknown_address(db: &TestDatabase) {
        let env = env(db).await;
        user(&env.store, "ada@example.com").await;
        env.auth.request_password_reset(&data(json!({"email": "nobody@example.com"})), &client()).await.unwrap();
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let code = code_of(&env.mail("ada@example.com", 1).await);
        assert_eq!(env.count("nobody@example.com").await, 0);
        assert!(env.store.outbox().await.unwrap().is_empty(), "the unknown address's mail was dropped");

        let by_code = |code: &str| data(json!({"email": "ada@example.com", "code": code, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}));
        let wrong = if code == "00000000" { "11111111" } else { "00000000" };
        assert_eq!(field_errors(env.auth.confirm_password_reset(&by_code(wrong), &client()).await), invalid("token"));
        env.auth.confirm_password_reset(&by_code(&code), &client()).await.unwrap();
        assert!(env.login("ada@example.com", NEW_PASSWORD).await.unwrap().is_some());
        assert_eq!(field_errors(env.auth.confirm_password_reset(&by_code(&code), &client()).await), invalid("token"));
        assert_eq!(
            field_errors(env.auth.request_password_reset(&data(json!({"email": "not an address"})), &client()).await),
            json!({"email": ["Enter a valid email address."]})
        );
    }

    /// A link stops working after its lifetime (the manual clock moves past it).
    async fn tokens_expire(db: &TestDatabase) {
        let env = env(db).await;
        user(&env.store, "ada@example.com").await;
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let (uid, token) = reset_link(&env.mail("ada@example.com", 1).await);
        env.clock.advance_secs(3600);
        assert_eq!(field_errors(env.auth.confirm_password_reset(&reset_data(&uid, &token, NEW_PASSWORD), &client()).await), invalid("token"));
        assert_eq!(env.auth.flush_expired().await.unwrap().account_tokens, 1);
    }

    /// Verification by link and by code; a used key is not found; the resend for an
    /// unknown or verified address sends nothing.
    async fn verification_by_link_and_code(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        let bob = user(&env.store, "bob@example.com").await;
        let resend = |email: &str| data(json!({"email": email}));
        env.auth.resend_email_verification(&resend("ada@example.com"), &client()).await.unwrap();
        let key = key_of(&env.mail("ada@example.com", 1).await, "verify-email");
        env.auth.verify_email(&data(json!({"key": key})), &client()).await.unwrap();
        assert!(env.store.user_by_id(ada.id).await.unwrap().unwrap().email_verified);
        assert!(matches!(env.auth.verify_email(&data(json!({"key": key})), &client()).await, Err(AuthError::NotFound)));

        env.auth.resend_email_verification(&resend("bob@example.com"), &client()).await.unwrap();
        let code = code_of(&env.mail("bob@example.com", 1).await);
        env.auth.verify_email(&data(json!({"email": "bob@example.com", "code": code})), &client()).await.unwrap();
        assert!(env.store.user_by_id(bob.id).await.unwrap().unwrap().email_verified);

        env.auth.resend_email_verification(&resend("ada@example.com"), &client()).await.unwrap();
        env.auth.resend_email_verification(&resend("nobody@example.com"), &client()).await.unwrap();
        assert_eq!(env.count("ada@example.com").await, 1, "already verified");
        assert_eq!(env.count("nobody@example.com").await, 0);
    }

    /// With `require_verified_email = "login"`, the right password of an unverified
    /// account does not log in; registration queues the verification mail.
    async fn logins_wait_for_verification_when_required(db: &TestDatabase) {
        let flows = EmailFlowSettings {
            require_verified_email: RequireVerifiedEmail::Login,
            ..EmailFlowSettings::default()
        };
        let env = env_with(db, flows, ThrottleSettings::default()).await;
        let registered = env.auth.register(
            &data(json!({"email": "ann@example.com", "password": PASSWORD, "password_confirm": PASSWORD})),
            &client(),
        ).await.unwrap();
        assert!(matches!(env.login("ann@example.com", PASSWORD).await, Err(AuthError::EmailNotVerified)));
        assert!(env.login("ann@example.com", "wrong password").await.unwrap().is_none());
        let key = key_of(&env.mail("ann@example.com", 1).await, "verify-email");
        env.auth.verify_email(&data(json!({"key": key})), &client()).await.unwrap();
        assert_eq!(env.login("ann@example.com", PASSWORD).await.unwrap().unwrap().id, registered.id);
    }

    /// An e-mail change: the address changes only when the new one confirms; the old one
    /// gets a notice; a wrong password or a taken address is refused.
    async fn an_email_change_waits_for_the_new_address(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        user(&env.store, "bob@example.com").await;
        let ask = |new: &str, password: &str| data(json!({"new_email": new, "password": password}));
        assert_eq!(
            field_errors(env.auth.request_email_change(&ada, &ask("bob@example.com", "wrong"), &client(), None).await),
            json!({"new_email": ["user with this email already exists."], "password": ["Current password is incorrect."]})
        );
        env.auth.request_email_change(&ada, &ask("ada@new.example.com", PASSWORD), &client(), None).await.unwrap();
        let confirm = env.mail("ada@new.example.com", 1).await;
        let notice = env.mail("ada@example.com", 1).await;
        assert!(notice.text_body().unwrap().contains("a***@new.example.com"), "{:?}", notice.text_body());
        assert!(!notice.text_body().unwrap().contains("ada@new.example.com"));
        assert_eq!(env.store.user_by_id(ada.id).await.unwrap().unwrap().email, "ada@example.com");

        let key = key_of(&confirm, "email-change");
        let changed = env.auth.confirm_email_change(&data(json!({"key": key})), &client()).await.unwrap();
        assert_eq!((changed.email.as_str(), changed.email_verified), ("ada@new.example.com", true));
        assert!(matches!(env.auth.confirm_email_change(&data(json!({"key": key})), &client()).await, Err(AuthError::NotFound)));
        assert!(env.login("ada@new.example.com", PASSWORD).await.unwrap().is_some());

        // By code, from the new address.
        env.auth.request_email_change(&changed, &ask("ada3@example.com", PASSWORD), &client(), None).await.unwrap();
        let code = code_of(&env.mail("ada3@example.com", 1).await);
        let changed = env.auth.confirm_email_change(&data(json!({"email": "ada3@example.com", "code": code})), &client()).await.unwrap();
        assert_eq!(changed.email, "ada3@example.com");
    }

    /// A login code logs in once; five wrong codes delete it, and count towards the
    /// lockout.
    async fn login_codes_work_once_and_five_wrong_ones_kill_them(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        let ask = data(json!({"email": "ada@example.com"}));
        let with = |code: &str| data(json!({"email": "ada@example.com", "code": code}));
        env.auth.request_login_code(&ask, &client()).await.unwrap();
        let code = code_of(&env.mail("ada@example.com", 1).await);
        let logged_in = env.auth.login_with_code(&with(&code), &client()).await.unwrap();
        assert_eq!(logged_in.id, ada.id);
        assert!(logged_in.email_verified);
        assert!(matches!(env.auth.login_with_code(&with(&code), &client()).await, Err(AuthError::InvalidCredentials)));

        env.auth.request_login_code(&ask, &client()).await.unwrap();
        let code = code_of(&env.mail("ada@example.com", 2).await);
        let wrong = if code == "00000000" { "11111111" } else { "00000000" };
        // Another client each time: the lockout (five failures per client) is not what stops it.
        for i in 0..5 {
            let other = ClientInfo::new(None, Some(format!("10.0.1.{i}")));
            assert!(matches!(env.auth.login_with_code(&with(wrong), &other).await, Err(AuthError::InvalidCredentials)));
        }
        assert!(matches!(env.auth.login_with_code(&with(&code), &client()).await, Err(AuthError::InvalidCredentials)));
        let dead = env.store.account_tokens_of(ada.id).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].code_hash.as_str(), dead[0].attempts), ("", 5), "the code is disabled");
    }

    /// A 451 is tried again later; a 550 gives the mail up at once.
    async fn the_outbox_retries_transient_failures_and_abandons_permanent_ones(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        env.sink.fail_next(1, 451);
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let rescheduled = poll(|| async {
            env.store.outbox().await.unwrap().into_iter().find(|m| m.attempts == 1)
        }).await;
        assert_eq!(rescheduled.next_attempt_at, T0.add_secs(30));
        assert!(rescheduled.last_error.unwrap().contains("451"));
        assert!(env.store.account_tokens_of(ada.id).await.unwrap().is_empty(), "the unsent token is deleted");
        env.clock.advance_secs(31);
        env.auth.send_due_mail().await.unwrap();
        let (uid, token) = reset_link(&env.mail("ada@example.com", 1).await);
        env.auth.confirm_password_reset(&reset_data(&uid, &token, NEW_PASSWORD), &client()).await.unwrap();

        env.sink.fail_next(1, 550);
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        poll(|| async { env.store.outbox().await.unwrap().is_empty().then_some(()) }).await;
        assert_eq!(env.count("ada@example.com").await, 1);
        assert!(env.store.account_tokens_of(ada.id).await.unwrap().is_empty());
        assert_eq!(
            env.mail_events(ada.id).await,
            [
                ("mail.abandoned".to_owned(), json!({"kind": "password_reset", "attempts": 1, "reason": "permanent"})),
                ("mail.failed".to_owned(), json!({"kind": "password_reset", "attempt": 1, "reason": "transient"})),
            ]
        );
    }

    /// Over `email_recipient`, requests are answered as usual and nothing is queued.
    async fn the_recipient_throttle_is_silent(db: &TestDatabase) {
        let mut throttling = ThrottleSettings::default();
        throttling.throttle_rates.insert("email_recipient".into(), "2/hour".into());
        let env = env_with(db, EmailFlowSettings::default(), throttling).await;
        user(&env.store, "ada@example.com").await;
        let ask = data(json!({"email": "ada@example.com"}));
        for _ in 0..4 {
            env.auth.request_password_reset(&ask, &client()).await.unwrap();
        }
        env.mail("ada@example.com", 2).await;
        assert_eq!(env.count("ada@example.com").await, 2);
    }
}

engine_tests! {
    /// Staff queue a verification mail for a user; an address-less user has none to get.
    async fn staff_resend_a_verification_mail(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        env.auth.staff_resend_verification(&ada, Actor::CommandLine).await.unwrap();
        let key = key_of(&env.mail("ada@example.com", 1).await, "verify-email");
        env.auth.verify_email(&data(json!({"key": key})), &client()).await.unwrap();
        let nobody = NewUser { username: Some("nomail".into()), password_hash: "!".into(), is_active: true, ..NewUser::default() };
        let nobody = env.store.create_user(&nobody).await.unwrap();
        let refused = field_errors(env.auth.staff_resend_verification(&nobody, Actor::CommandLine).await);
        assert!(refused.get("email").is_some(), "{refused}");
    }

    /// The profile does not change the address (DRF ignores a read-only field): only a
    /// confirmed e-mail change does.
    async fn the_profile_ignores_the_address(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        env.store.set_email_verified(ada.id, true).await.unwrap();
        let patch = data(json!({"email": "mallory@example.com", "first_name": "Ada"}));
        let updated = env.auth.update_profile(&ada, &patch, true).await.unwrap();
        assert_eq!((updated.email.as_str(), updated.first_name.as_str(), updated.email_verified), ("ada@example.com", "Ada", true));
        let put = data(json!({"email": "not an address", "first_name": "Augusta", "last_name": "King"}));
        let updated = env.auth.update_profile(&ada, &put, false).await.unwrap();
        assert_eq!((updated.email.as_str(), updated.last_name.as_str()), ("ada@example.com", "King"));
    }

    /// A password change (or reset, or one set by staff) ends a pending e-mail change: the
    /// confirmation already mailed no longer works, and one still queued is not sent.
    async fn a_new_password_ends_a_pending_email_change(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        let ask = data(json!({"new_email": "ada@new.example.com", "password": PASSWORD}));
        env.auth.request_email_change(&ada, &ask, &client(), None).await.unwrap();
        let key = key_of(&env.mail("ada@new.example.com", 1).await, "email-change");
        env.auth.set_password(&ada, NEW_PASSWORD).await.unwrap();
        assert!(matches!(env.auth.confirm_email_change(&data(json!({"key": key})), &client()).await, Err(AuthError::NotFound)));
        assert_eq!(env.store.user_by_id(ada.id).await.unwrap().unwrap().email, "ada@example.com");

        // Offline, no sender runs: the confirmation waits in the outbox, and goes.
        let offline = Auth::builder(Settings::default(), env.store.clone()).offline().build().await.unwrap();
        let ada = env.store.user_by_id(ada.id).await.unwrap().unwrap();
        let ask = data(json!({"new_email": "ada@other.example.com", "password": NEW_PASSWORD}));
        offline.request_email_change(&ada, &ask, &client(), None).await.unwrap();
        let kinds = |mails: Vec<tessera_store::OutboxMail>| mails.into_iter().map(|m| m.kind).collect::<Vec<_>>();
        assert_eq!(kinds(env.store.outbox().await.unwrap()), ["email_change_confirm", "email_change_notice"]);
        offline.set_password(&ada, "a third passphrase 77").await.unwrap();
        assert_eq!(kinds(env.store.outbox().await.unwrap()), ["email_change_notice"]);
    }

    /// The security notice to the old address is sent even when that address had its
    /// share of mail (`email_recipient`).
    async fn the_change_notice_is_not_held_back_by_the_recipient_throttle(db: &TestDatabase) {
        let mut throttling = ThrottleSettings::default();
        throttling.throttle_rates.insert("email_recipient".into(), "1/hour".into());
        let env = env_with(db, EmailFlowSettings::default(), throttling).await;
        let ada = user(&env.store, "ada@example.com").await;
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let ask = data(json!({"new_email": "ada@new.example.com", "password": PASSWORD}));
        env.auth.request_email_change(&ada, &ask, &client(), None).await.unwrap();
        assert_eq!(env.count("ada@example.com").await, 2, "one reset, and the notice");
        assert!(env.mail("ada@example.com", 2).await.text_body().unwrap().contains("a***@new.example.com"));
    }

    /// Five wrong codes disable the code, not the mail: its link still works.
    async fn five_wrong_codes_leave_the_link_working(db: &TestDatabase) {
        let env = env(db).await;
        user(&env.store, "ada@example.com").await;
        env.auth.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let mail = env.mail("ada@example.com", 1).await;
        let (code, (uid, token)) = (code_of(&mail), reset_link(&mail));
        let by_code = |code: &str| data(json!({"email": "ada@example.com", "code": code, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}));
        let wrong = if code == "00000000" { "11111111" } else { "00000000" };
        for _ in 0..5 {
            assert_eq!(field_errors(env.auth.confirm_password_reset(&by_code(wrong), &client()).await), invalid("token"));
        }
        assert_eq!(field_errors(env.auth.confirm_password_reset(&by_code(&code), &client()).await), invalid("token"), "the code is dead");
        env.auth.confirm_password_reset(&reset_data(&uid, &token, NEW_PASSWORD), &client()).await.unwrap();
        assert!(env.login("ada@example.com", NEW_PASSWORD).await.unwrap().is_some());
    }

    /// A login by code is recorded as one: `login.succeeded` with `detail.method = "code"`.
    async fn a_code_login_is_recorded_as_such(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        env.auth.request_login_code(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        let code = code_of(&env.mail("ada@example.com", 1).await);
        let logged_in = env.auth.login_with_code(&data(json!({"email": "ada@example.com", "code": code})), &client()).await.unwrap();
        env.auth.issue_account_pair_by(&logged_in, &client(), LoginMethod::Code).await.unwrap();
        env.auth.issue_account_pair(&logged_in, &client()).await.unwrap();
        env.auth.audit_log().flush().await;
        let filter = AuditFilter { user_id: Some(ada.id), event: Some("login.succeeded".into()), ..AuditFilter::default() };
        let (_, events) = env.store.list_audit_events(&filter, 10, 0).await.unwrap();
        let details: Vec<Option<Value>> = events.iter().map(|e| e.detail.as_deref().map(|d| serde_json::from_str(d).unwrap())).collect();
        assert_eq!(details, [None, Some(json!({"method": "code"}))], "newest first");
    }

    /// No reset and no login code for an account without a usable password (Django's
    /// `PasswordResetForm`): the sender drops both.
    async fn no_mail_opens_an_account_without_a_usable_password(db: &TestDatabase) {
        let env = env(db).await;
        let nopass = NewUser { email: "sso@example.com".into(), password_hash: "!unusable".into(), is_active: true, ..NewUser::default() };
        env.store.create_user(&nopass).await.unwrap();
        env.auth.request_login_code(&data(json!({"email": "sso@example.com"})), &client()).await.unwrap();
        env.auth.request_password_reset(&data(json!({"email": "sso@example.com"})), &client()).await.unwrap();
        assert_eq!(env.count("sso@example.com").await, 0);
    }

    /// An account without a usable password but with a linked social identity (made by a
    /// social sign-in) gets the reset mail — how it sets a password — and still no login code.
    async fn a_social_account_gets_a_reset_mail_to_set_a_password(db: &TestDatabase) {
        let env = env(db).await;
        let social = NewUser { email: "sso@example.com".into(), password_hash: "!unusable".into(), is_active: true, ..NewUser::default() };
        let sso = env.store.create_user(&social).await.unwrap();
        env.store.link_social_identity(sso.id, "github", "sso-1", "sso@example.com", env.auth.now()).await.unwrap().expect("linked");
        env.auth.request_login_code(&data(json!({"email": "sso@example.com"})), &client()).await.unwrap();
        env.auth.request_password_reset(&data(json!({"email": "sso@example.com"})), &client()).await.unwrap();
        let mail = env.mail("sso@example.com", 1).await;
        let set = data(json!({"email": "sso@example.com", "code": code_of(&mail), "new_password1": "a brand new password 7", "new_password2": "a brand new password 7"}));
        env.auth.confirm_password_reset(&set, &client()).await.unwrap();
        let stored = env.store.user_by_id(sso.id).await.unwrap().unwrap();
        assert!(stored.has_usable_password());
        assert_eq!(env.count("sso@example.com").await, 1);
    }

    /// Two users asking for the same new address: each one's code still confirms their
    /// own change, and the attempt counts on every token compared.
    async fn an_email_change_code_finds_its_own_token(db: &TestDatabase) {
        let env = env(db).await;
        let ada = user(&env.store, "ada@example.com").await;
        let bob = user(&env.store, "bob@example.com").await;
        let ask = data(json!({"new_email": "shared@example.com", "password": PASSWORD}));
        env.auth.request_email_change(&ada, &ask, &client(), None).await.unwrap();
        let ada_code = code_of(&env.mail("shared@example.com", 1).await);
        env.auth.request_email_change(&bob, &ask, &client(), None).await.unwrap();
        env.mail("shared@example.com", 2).await;
        let changed = env.auth.confirm_email_change(&data(json!({"email": "shared@example.com", "code": ada_code})), &client()).await.unwrap();
        assert_eq!((changed.id, changed.email.as_str()), (ada.id, "shared@example.com"));
        let bobs = env.store.account_tokens_of(bob.id).await.unwrap();
        assert_eq!(bobs.iter().map(|t| t.attempts).collect::<Vec<_>>(), [1]);
    }

    /// A full outbox refuses the next mail as busy, for known and unknown addresses alike.
    async fn a_full_outbox_is_busy(db: &TestDatabase) {
        let store = db.store().await;
        user(&store, "ada@example.com").await;
        // Offline, no sender runs: the outbox only fills.
        let flows = EmailFlowSettings { email_outbox_limit: 1, ..EmailFlowSettings::default() };
        let offline = Auth::builder(Settings::default(), store.clone()).offline().email_flows(flows).build().await.unwrap();
        offline.request_password_reset(&data(json!({"email": "ada@example.com"})), &client()).await.unwrap();
        for email in ["ada@example.com", "nobody@example.com"] {
            let refused = offline.request_password_reset(&data(json!({"email": email})), &client()).await;
            assert!(matches!(refused, Err(AuthError::Busy { .. })), "{email}: {refused:?}");
        }
        assert_eq!(store.outbox().await.unwrap().len(), 1);
    }
}

/// Polls `check` until it gives a value, for at most [`WAIT`].
async fn poll<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
