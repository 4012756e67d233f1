//! Multi-factor authentication in the service, on both engines: TOTP secrets sealed at rest,
//! a time step and a recovery code accepted once however many requests race for them, a
//! challenge consumed once, guesses limited per user whatever the address, recovery codes
//! that outlive the server's secrets, and a staff reset that leaves no second factor.

use serde_json::{Map, Value, json};
use tessera_auth::api_keys::ApiKeySettings;
use tessera_auth::guard::ThrottleSettings;
use tessera_auth::mfa::{MfaActor, MfaRoute, MfaSettings};
use tessera_auth::{Actor, Auth, AuthError, ClientInfo};
use tessera_core::{Clock, ManualClock, Settings, Timestamp};
use tessera_store::testing::TestDatabase;
use tessera_store::{AuditFilter, NewPasskey, NewUser, PasswordHasher, User, engine_tests};

const PASSWORD: &str = "correct horse battery 1";
/// 2025-01-01T00:00:00Z.
const T0: Timestamp = Timestamp::from_secs(1_735_689_600);
const KEK: &str = "a key-encryption key of more than thirty-two bytes";

async fn service(db: &TestDatabase, kek: Option<&str>) -> (Auth, ManualClock) {
    service_with(db, kek, |_, _, _| {}).await
}

/// The service over `db`, its settings changed by `change` first.
async fn service_with(
    db: &TestDatabase,
    kek: Option<&str>,
    change: impl FnOnce(&mut Settings, &mut MfaSettings, &mut ThrottleSettings),
) -> (Auth, ManualClock) {
    service_keyed(db, kek, None, change).await
}

/// [`service_with`], with an `api_key_secret`.
async fn service_keyed(
    db: &TestDatabase,
    kek: Option<&str>,
    api_key_secret: Option<&str>,
    change: impl FnOnce(&mut Settings, &mut MfaSettings, &mut ThrottleSettings),
) -> (Auth, ManualClock) {
    let mut settings = Settings {
        signing_key: Some("a signing key of more than thirty-two bytes".into()),
        key_encryption_key: kek.map(Into::into),
        ..Settings::default()
    };
    let (mut mfa, mut throttling) = (MfaSettings::default(), ThrottleSettings::default());
    change(&mut settings, &mut mfa, &mut throttling);
    let (clock, manual) = Clock::manual(T0);
    let auth = Auth::builder(settings, db.store().await)
        .hasher(PasswordHasher::new(1))
        .clock(clock)
        .mfa(mfa)
        .throttling(throttling)
        .api_keys(ApiKeySettings {
            api_key_secret: api_key_secret.map(Into::into),
            ..ApiKeySettings::default()
        })
        .build()
        .await
        .unwrap();
    (auth, manual)
}

/// A client at `ip`.
fn at(ip: &str) -> ClientInfo {
    ClientInfo::new(None, Some(ip.to_owned()))
}

/// A staff member.
async fn staff(auth: &Auth) -> User {
    let hash = PasswordHasher::hash_blocking(PASSWORD).unwrap();
    auth.store()
        .create_user(&NewUser {
            email: "staff@example.com".into(),
            password_hash: hash,
            is_active: true,
            is_staff: true,
            ..NewUser::default()
        })
        .await
        .unwrap()
}

/// The events named `name` of `user_id`, oldest first.
async fn events(auth: &Auth, user_id: i64, name: &str) -> Vec<tessera_store::AuditEvent> {
    auth.audit_log().flush().await;
    let filter = AuditFilter {
        user_id: Some(user_id),
        event: Some(name.into()),
        ..AuditFilter::default()
    };
    let (_, mut found) = auth
        .store()
        .list_audit_events(&filter, 100, 0)
        .await
        .unwrap();
    found.retain(|e| e.event == name);
    found.reverse();
    found
}

async fn ada(auth: &Auth) -> User {
    let hash = PasswordHasher::hash_blocking(PASSWORD).unwrap();
    auth.store()
        .create_user(&NewUser {
            email: "ada@example.com".into(),
            password_hash: hash,
            is_active: true,
            ..NewUser::default()
        })
        .await
        .unwrap()
}

fn data(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn code(auth: &Auth, secret: &str, steps: i64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    let at = auth.now().as_secs() + steps * 30;
    totp.generate(u64::try_from(at).unwrap()).to_string()
}

/// Ada with TOTP on: her secret and recovery codes; the clock one step past the confirming
/// code.
async fn enrolled(auth: &Auth, clock: &ManualClock, ada: &User) -> (String, Vec<String>) {
    let client = ClientInfo::default();
    let setup = auth.setup_totp(MfaActor::User(ada), &client).await.unwrap();
    let confirmed = auth
        .confirm_totp(
            MfaActor::User(ada),
            &data(json!({"code": code(auth, &setup.secret, 0)})),
            &client,
        )
        .await
        .unwrap();
    clock.advance_secs(30);
    (setup.secret, confirmed.recovery_codes)
}

engine_tests! {
    /// With a key-encryption key the stored secret is sealed and bound to its user; a
    /// `plain:` one (set up without a key) is sealed by `seal_plain_totp_secrets`.
    async fn secrets_are_sealed_at_rest(db: &TestDatabase) {
        let (plain_auth, clock) = service(db, None).await;
        let ada = ada(&plain_auth).await;
        let (secret, _) = enrolled(&plain_auth, &clock, &ada).await;
        let stored = plain_auth.store().totp_device(ada.id).await.unwrap().unwrap().secret;
        assert_eq!(stored, format!("plain:{secret}"));
        assert_eq!(plain_auth.plain_totp_secrets().await.unwrap(), 1);

        let (auth, clock) = service(db, Some(KEK)).await;
        clock.advance_secs(30);
        assert_eq!(auth.seal_plain_totp_secrets().await.unwrap(), 1);
        let stored = auth.store().totp_device(ada.id).await.unwrap().unwrap().secret;
        assert!(stored.starts_with("aes256gcm:"), "{stored}");
        assert!(!stored.contains(&secret));
        assert_eq!(auth.plain_totp_secrets().await.unwrap(), 0);
        // Still Ada's codes.
        let pending = auth.second_factor(&ada, MfaRoute::Pair, &ClientInfo::default()).await.unwrap().unwrap();
        let c = code(&auth, &secret, 0);
        let passed = auth
            .verify_mfa(&data(json!({"mfa_token": pending.mfa_token, "code": c})), &ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(passed.user.id, ada.id);
        assert_eq!(passed.route, MfaRoute::Pair);
    }

    /// Eight requests race with the same code on eight challenges: one wins; eight race with
    /// one challenge and eight recovery codes: one wins.
    async fn a_step_and_a_challenge_are_accepted_once(db: &TestDatabase) {
        let (auth, clock) = service(db, Some(KEK)).await;
        let ada = ada(&auth).await;
        let (secret, codes) = enrolled(&auth, &clock, &ada).await;
        let client = ClientInfo::default();
        let c = code(&auth, &secret, 0);
        let mut tokens = Vec::new();
        for _ in 0..8 {
            let pending = auth.second_factor(&ada, MfaRoute::Login, &client).await.unwrap().unwrap();
            tokens.push(pending.mfa_token);
        }
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|token| {
                let (auth, c) = (auth.clone(), c.clone());
                tokio::spawn(async move {
                    auth.verify_mfa(&data(json!({"mfa_token": token, "code": c})), &ClientInfo::default()).await.is_ok()
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        assert_eq!(wins, 1);
        // The seven losers locked Ada's name for this client: lift it.
        auth.clear_login_failures_of(&ada).await.unwrap();

        let token = auth.second_factor(&ada, MfaRoute::Login, &client).await.unwrap().unwrap().mfa_token;
        let tasks: Vec<_> = codes[..5]
            .iter()
            .map(|recovery| {
                let (auth, token, recovery) = (auth.clone(), token.clone(), recovery.clone());
                tokio::spawn(async move {
                    auth.verify_mfa(&data(json!({"mfa_token": token, "code": recovery})), &ClientInfo::default()).await.is_ok()
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        assert_eq!(wins, 1);
    }

    /// A staff reset removes TOTP and the codes: the next login owes no second step; a
    /// password change keeps them.
    async fn a_password_change_keeps_mfa_and_a_staff_reset_removes_it(db: &TestDatabase) {
        let (auth, clock) = service(db, Some(KEK)).await;
        let ada = ada(&auth).await;
        enrolled(&auth, &clock, &ada).await;
        let client = ClientInfo::default();
        // A login waiting for its second step, with the old password.
        let pending = auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap();
        auth.change_password(
            &ada,
            &data(json!({
                "old_password": PASSWORD,
                "new_password": "another long passphrase 7",
                "new_password_confirm": "another long passphrase 7",
            })),
            &client,
            None,
        )
        .await
        .unwrap();
        let ada = auth.store().user_by_id(ada.id).await.unwrap().unwrap();
        // It cannot finish any more.
        assert_eq!(auth.peek_mfa_challenge(&pending.mfa_token).await.unwrap(), None);
        assert!(auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().is_some());
        // Nor one waiting when staff (or the command line) sets the password.
        let pending = auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap();
        auth.set_password(&ada, "a third long passphrase 9").await.unwrap();
        assert_eq!(auth.peek_mfa_challenge(&pending.mfa_token).await.unwrap(), None);

        assert!(auth.reset_mfa(&ada, Actor::CommandLine, false).await.unwrap().totp);
        assert!(auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().is_none());
        assert_eq!(auth.mfa_status(&ada).await.unwrap().recovery_codes_left, 0);
        assert!(!auth.reset_mfa(&ada, Actor::CommandLine, false).await.unwrap().removed_any());
        // Nothing to disable any more.
        let refused = auth
            .disable_totp(&ada, &data(json!({"password": "x", "code": "123456"})), &client)
            .await
            .unwrap_err();
        assert!(matches!(refused, AuthError::MfaRefused(_)), "{refused:?}");
    }
}

engine_tests! {
    /// With the `mfa` throttle at 5 a minute, a sixth second step of the same user is
    /// refused even from a sixth address with a fresh token, the right code included.
    async fn guesses_from_many_addresses_hit_the_per_user_limit(db: &TestDatabase) {
        let (auth, clock) = service_with(db, Some(KEK), |_, _, throttling| {
            throttling.throttle_rates.insert("mfa".into(), "5/min".into());
        })
        .await;
        let ada = ada(&auth).await;
        // Set up without the throttle's help: confirmations are counted apart.
        let (secret, _) = enrolled(&auth, &clock, &ada).await;
        clock.advance_secs(60);
        for i in 0..5 {
            let client = at(&format!("203.0.113.{i}"));
            let token = auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap().mfa_token;
            let wrong = auth
                .verify_mfa(&data(json!({"mfa_token": token, "code": "000000"})), &client)
                .await
                .unwrap_err();
            assert!(matches!(wrong, AuthError::Invalid(_)), "{wrong:?}");
        }
        let client = at("198.51.100.7");
        let token = auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap().mfa_token;
        let right = code(&auth, &secret, 0);
        let refused = auth
            .verify_mfa(&data(json!({"mfa_token": token, "code": right})), &client)
            .await
            .unwrap_err();
        assert!(matches!(refused, AuthError::Throttled { .. }), "{refused:?}");
        // The minute over, the right code passes.
        clock.advance_secs(61);
        let right = code(&auth, &secret, 0);
        auth.verify_mfa(&data(json!({"mfa_token": token, "code": right})), &client)
            .await
            .unwrap();
    }

    /// The same per-user limit holds for a staff login confirming its TOTP setup with its
    /// setup token; and the setup itself is throttled per client.
    async fn setup_token_confirms_hit_the_per_user_limit(db: &TestDatabase) {
        let (auth, _clock) = service_with(db, Some(KEK), |_, mfa, throttling| {
            mfa.mfa_required_for_staff = true;
            throttling.throttle_rates.insert("mfa".into(), "5/min".into());
        })
        .await;
        let staff = staff(&auth).await;
        let mut secret = String::new();
        let mut token = String::new();
        for i in 0..6 {
            let client = at(&format!("203.0.113.{i}"));
            token = auth.second_factor(&staff, MfaRoute::Pair, &client).await.unwrap().unwrap().mfa_token;
            secret = auth.setup_totp(MfaActor::Pending(&token), &client).await.unwrap().secret;
            if i < 5 {
                let wrong = auth
                    .confirm_totp(MfaActor::Pending(&token), &data(json!({"code": "000000"})), &client)
                    .await
                    .unwrap_err();
                assert!(matches!(wrong, AuthError::Invalid(_)), "{wrong:?}");
            }
        }
        let client = at("203.0.113.5");
        let right = code(&auth, &secret, 0);
        let refused = auth
            .confirm_totp(MfaActor::Pending(&token), &data(json!({"code": right})), &client)
            .await
            .unwrap_err();
        assert!(matches!(refused, AuthError::Throttled { .. }), "{refused:?}");
        // The wrong confirmations were each audited once, as the login's failure.
        assert_eq!(events(&auth, staff.id, "mfa.failed").await.len(), 5);
        assert_eq!(events(&auth, staff.id, "mfa.totp_setup").await.len(), 6);

        // Setting up with a token is throttled per client: five a minute.
        let client = at("192.0.2.1");
        for _ in 0..5 {
            auth.setup_totp(MfaActor::Pending(&token), &client).await.unwrap();
        }
        let refused = auth.setup_totp(MfaActor::Pending(&token), &client).await.unwrap_err();
        assert!(matches!(refused, AuthError::Throttled { .. }), "{refused:?}");
    }

    /// Recovery codes are keyed with the TOTP secret: a new signing key, a new
    /// `api_key_secret`, and sealing a `plain:` secret with a new key-encryption key leave
    /// them working.
    async fn recovery_codes_outlive_the_servers_secrets(db: &TestDatabase) {
        let (plain, clock) = service(db, None).await;
        let ada = ada(&plain).await;
        let (_, codes) = enrolled(&plain, &clock, &ada).await;
        let client = ClientInfo::default();
        let token = plain.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap().mfa_token;
        plain.verify_mfa(&data(json!({"mfa_token": token, "code": codes[0]})), &client).await.unwrap();
        plain.audit_log().flush().await;

        // A key-encryption key (the secret sealed), an API key secret, another signing key.
        let (auth, _) = service_keyed(db, Some(KEK), Some("an api key secret of thirty-two bytes+"), |settings, _, _| {
            settings.signing_key = Some("another signing key of thirty-two bytes".into());
        })
        .await;
        assert_eq!(auth.seal_plain_totp_secrets().await.unwrap(), 1);
        let client = at("192.0.2.9");
        let token = auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap().mfa_token;
        let passed = auth
            .verify_mfa(&data(json!({"mfa_token": token, "code": codes[1]})), &client)
            .await
            .unwrap();
        assert_eq!(passed.user.id, ada.id);
        assert_eq!(auth.mfa_status(&ada).await.unwrap().recovery_codes_left, 8);
        // The use is audited with its client.
        let used = events(&auth, ada.id, "mfa.recovery_code_used").await;
        assert_eq!(used.len(), 2);
        let here = used.iter().find(|e| e.ip.as_deref() == Some("192.0.2.9")).expect("with its client");
        assert_eq!(here.username.as_deref(), Some("ada@example.com"));
    }

    /// Under `require_sealed_secrets` (the server outside debug mode), TOTP setup without a
    /// key-encryption key is refused and nothing is stored; with one it works.
    async fn setup_needs_a_key_encryption_key_when_sealing_is_required(db: &TestDatabase) {
        let (auth, _) = service_with(db, None, |_, mfa, _| mfa.require_sealed_secrets = true).await;
        let ada = ada(&auth).await;
        let refused = auth.setup_totp(MfaActor::User(&ada), &at("192.0.2.1")).await.unwrap_err();
        assert!(
            matches!(refused, AuthError::MfaRefused("Two-factor authentication needs a key-encryption key on the server.")),
            "{refused:?}"
        );
        assert!(auth.store().totp_device(ada.id).await.unwrap().is_none());

        let (auth, _) = service_with(db, Some(KEK), |_, mfa, _| mfa.require_sealed_secrets = true).await;
        auth.setup_totp(MfaActor::User(&ada), &at("192.0.2.1")).await.unwrap();
        let stored = auth.store().totp_device(ada.id).await.unwrap().unwrap().secret;
        assert!(stored.starts_with("aes256gcm:"), "{stored}");
        let setups = events(&auth, ada.id, "mfa.totp_setup").await;
        assert_eq!(setups.len(), 1);
        assert_eq!(setups[0].ip.as_deref(), Some("192.0.2.1"));
    }

    /// The password alone completes no login: `last_login` is set when the second step
    /// passes.
    async fn last_login_waits_for_the_second_step(db: &TestDatabase) {
        let (auth, clock) = service_with(db, Some(KEK), |settings, _, _| {
            settings.update_last_login = true;
        })
        .await;
        let ada = ada(&auth).await;
        let (secret, _) = enrolled(&auth, &clock, &ada).await;
        let client = ClientInfo::default();
        let checked = auth.check_credentials("ada@example.com", PASSWORD, &client).await.unwrap().unwrap();
        assert_eq!(checked.id, ada.id);
        let stored = auth.store().user_by_id(ada.id).await.unwrap().unwrap();
        assert_eq!(stored.last_login, None);

        let token = auth.second_factor(&ada, MfaRoute::Pair, &client).await.unwrap().unwrap().mfa_token;
        let c = code(&auth, &secret, 0);
        auth.verify_mfa(&data(json!({"mfa_token": token, "code": c})), &client).await.unwrap();
        let stored = auth.store().user_by_id(ada.id).await.unwrap().unwrap();
        assert_eq!(stored.last_login, Some(auth.now()));
    }

    /// A staff reset removes the passkeys too, in the same transaction as TOTP, and says so.
    async fn a_staff_reset_removes_passkeys(db: &TestDatabase) {
        let (auth, clock) = service(db, Some(KEK)).await;
        let ada = ada(&auth).await;
        enrolled(&auth, &clock, &ada).await;
        let inserted = auth
            .store()
            .insert_passkey(
                &NewPasskey {
                    user_id: ada.id,
                    credential_id: "Y3JlZGVudGlhbA",
                    user_handle: "00000000-0000-4000-8000-000000000000",
                    passkey: "{}",
                    name: "Phone",
                    created_at: auth.now(),
                },
                10,
            )
            .await
            .unwrap();
        assert!(matches!(inserted, tessera_store::PasskeyInsert::Stored(_)), "{inserted:?}");
        assert_eq!(auth.mfa_methods(&ada).await.unwrap(), ["totp", "recovery_code", "passkey"]);

        let reset = auth.reset_mfa(&ada, Actor::CommandLine, false).await.unwrap();
        assert!(reset.totp);
        assert_eq!(reset.passkeys, 1);
        assert!(auth.mfa_methods(&ada).await.unwrap().is_empty());
        assert_eq!(auth.store().passkey_count(ada.id).await.unwrap(), 0);
        let audited = events(&auth, ada.id, "admin.mfa_reset").await;
        assert_eq!(audited[0].detail_json().unwrap()["passkeys"], 1);
    }

    /// A user without a usable password (made by a social sign-in) turns TOTP off with a
    /// code alone and regenerates recovery codes with a current TOTP code; one with a
    /// password still gives it.
    async fn a_user_without_a_password_manages_totp_with_codes(db: &TestDatabase) {
        let (auth, clock) = service(db, Some(KEK)).await;
        let ada = ada(&auth).await;
        let (secret, _) = enrolled(&auth, &clock, &ada).await;
        let client = ClientInfo::default();
        let c = code(&auth, &secret, 0);
        let asked = auth.disable_totp(&ada, &data(json!({"code": c})), &client).await.unwrap_err();
        assert!(format!("{asked:?}").contains("password"), "{asked:?}");
        assert!(auth.mfa_status(&ada).await.unwrap().has_usable_password);

        auth.store().set_password_hash(ada.id, "!").await.unwrap();
        let ada = auth.store().user_by_id(ada.id).await.unwrap().unwrap();
        assert!(!auth.mfa_status(&ada).await.unwrap().has_usable_password);
        let wrong = auth.regenerate_recovery_codes(&ada, &data(json!({"code": "000000"})), &client).await.unwrap_err();
        assert!(matches!(wrong, AuthError::Invalid(_)), "{wrong:?}");
        assert_eq!(events(&auth, ada.id, "mfa.failed").await.len(), 1);
        let missing = auth.regenerate_recovery_codes(&ada, &data(json!({})), &client).await.unwrap_err();
        assert!(format!("{missing:?}").contains("code"), "{missing:?}");
        let codes = auth.regenerate_recovery_codes(&ada, &data(json!({"code": c})), &client).await.unwrap();
        assert_eq!(codes.len(), 10);

        clock.advance_secs(30);
        let c = code(&auth, &secret, 0);
        auth.disable_totp(&ada, &data(json!({"code": c})), &client).await.unwrap();
        assert!(auth.mfa_methods(&ada).await.unwrap().is_empty());
    }

    /// A staff reset does not take passkeys that are the account's last way in (passkey
    /// sign-in on, no usable password, no linked provider) unless forced; forced, it says so.
    async fn a_staff_reset_keeps_the_last_way_in_unless_forced(db: &TestDatabase) {
        let settings = Settings {
            signing_key: Some("a signing key of more than thirty-two bytes".into()),
            ..Settings::default()
        };
        let auth = Auth::builder(settings, db.store().await)
            .hasher(PasswordHasher::new(1))
            .passkeys(tessera_auth::passkeys::PasskeySettings {
                webauthn_rp_id: Some("example.com".into()),
                webauthn_origins: vec!["https://example.com".into()],
                passkey_login: true,
                ..Default::default()
            })
            .build()
            .await
            .unwrap();
        assert!(auth.passkeys_sign_in());
        let ada = ada(&auth).await;
        auth.store().set_password_hash(ada.id, "!").await.unwrap();
        let ada = auth.store().user_by_id(ada.id).await.unwrap().unwrap();
        let passkey = NewPasskey {
            user_id: ada.id,
            credential_id: "Y3JlZGVudGlhbA",
            user_handle: "00000000-0000-4000-8000-000000000000",
            passkey: "{}",
            name: "Phone",
            created_at: auth.now(),
        };
        auth.store().insert_passkey(&passkey, 10).await.unwrap();

        let refused = auth.reset_mfa(&ada, Actor::CommandLine, false).await.unwrap_err();
        let AuthError::Invalid(errors) = &refused else { panic!("{refused:?}") };
        assert_eq!(errors.sentences(), format!("non_field_errors: {}", tessera_auth::mfa::RESET_LEAVES_NO_WAY_IN));
        assert_eq!(auth.store().passkey_count(ada.id).await.unwrap(), 1);
        assert!(events(&auth, ada.id, "admin.mfa_reset").await.is_empty());

        let forced = auth.reset_mfa(&ada, Actor::CommandLine, true).await.unwrap();
        assert!(forced.no_way_in);
        assert_eq!(forced.passkeys, 1);
        let audited = events(&auth, ada.id, "admin.mfa_reset").await;
        assert_eq!(audited[0].detail_json().unwrap()["no_way_in"], true);

        // With a linked provider, the passkeys are not the last way in: no force needed.
        auth.store().insert_passkey(&NewPasskey { credential_id: "b3RoZXI", ..passkey }, 10).await.unwrap();
        auth.store().link_social_identity(ada.id, "github", "ada-1815", "ada@example.com", auth.now()).await.unwrap().expect("linked");
        let reset = auth.reset_mfa(&ada, Actor::CommandLine, false).await.unwrap();
        assert_eq!((reset.passkeys, reset.no_way_in), (1, false));
    }
}
