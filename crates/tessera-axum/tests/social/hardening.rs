//! The browser binding of pending links, logins in several tabs, the discovery document
//! (its algorithms, a provider that is down), the per-client cap, the refusals of the
//! account rules (`require_verified_email`, `social_signup`, the `register` throttle, the
//! identity limit), usernames, unlinking races and cookie mode's second step — each with
//! the `social.failed` reason it is audited with.

use serde_json::{Value, json};
use tessera_auth::email_flows::RequireVerifiedEmail;
use tessera_auth::mail::EmailBackend;
use tessera_core::UsernameField;
use tessera_oidc_provider::{Fault, ProviderUser};
use tessera_store::{NewPasskey, PasskeyInsert, UserFlags, WayIn, WayInRemoval};

use super::{
    ADA, Env, PASSWORD, env, env_with, on_both_engines, param, path_of, totp_code, user_of,
};

/// The `detail.reason` of every `social.failed` event so far, oldest first.
async fn failure_reasons(env: &Env) -> Vec<String> {
    events(env, "social.failed")
        .await
        .iter()
        .map(|detail| detail["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The details of the audit events named `event`, oldest first.
async fn events(env: &Env, event: &str) -> Vec<Value> {
    let auth = env.app.tessera.auth();
    auth.audit_log().flush().await;
    let filter = tessera_store::AuditFilter {
        event: Some(event.into()),
        ..tessera_store::AuditFilter::default()
    };
    let (_, mut found) = auth
        .store()
        .list_audit_events(&filter, 1000, 0)
        .await
        .unwrap();
    found.sort_by_key(|e| e.id);
    found
        .iter()
        .map(|e| e.detail_json().unwrap_or_default())
        .collect()
}

async fn user(env: &Env, email: &str) -> tessera_store::User {
    env.app
        .tessera
        .auth()
        .store()
        .user_by_email(email)
        .await
        .unwrap()
        .expect("the user")
}

#[tokio::test]
async fn a_link_token_links_only_in_the_browser_that_signed_in_at_the_provider() {
    on_both_engines("social::link_binding", |database| async move {
        let env = env(database).await;
        let ada = env.app.create_user(ADA, PASSWORD).await;
        // Someone whose provider account claims Ada's address gets a link token…
        let attacker = env.app.client();
        let code = env.spa_code(&attacker, "test").await.expect("a code");
        let answer = env.exchange(&attacker, &code).await;
        assert_eq!(answer.status(), 409, "{}", answer.text());
        let body = answer.json();
        assert_eq!(
            (body["provider"].as_str(), body["email"].as_str()),
            (Some("test"), Some(ADA))
        );
        let link_token = body["link_token"].as_str().unwrap().to_owned();
        // …and has signed-in Ada's browser send it: nothing is linked.
        let victim = env.app.client();
        victim.force_authenticate(&ada).await;
        victim
            .post("/api/auth/social/link/")
            .json(&json!({"link_token": link_token}))
            .send()
            .await
            .assert(400, r#"{"link_token":["Invalid or expired link token."]}"#);
        assert!(
            env.app
                .tessera
                .auth()
                .social_identities(&ada)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            failure_reasons(&env).await,
            ["link_required", "link_binding"]
        );
    })
    .await;
}

#[tokio::test]
async fn cookie_mode_names_the_pending_link_and_binds_it_to_the_browser() {
    on_both_engines("social::cookie_link", |database| async move {
        let env = env(database).await;
        let ada = env.app.create_user(ADA, PASSWORD).await;
        let browser = env.app.client();
        let answer = env.login(&browser, "test", "cookie").await;
        assert_eq!(answer.status(), 302, "{}", answer.text());
        let location = answer.header("location").unwrap().to_owned();
        assert!(location.starts_with("/account/?link="), "{location}");
        assert_eq!(param(&location, "link_provider").as_deref(), Some("test"));
        assert_eq!(param(&location, "link_email").as_deref(), Some(ADA));
        let link_cookie = answer
            .set_cookies()
            .into_iter()
            .find(|c| c.name == "tessera_social_link")
            .expect("the link cookie");
        assert!(!link_cookie.value.is_empty());
        // The same URL opened in a browser that is signed in as Ada but did not sign in at
        // the provider links nothing.
        let crafted = env.app.client();
        crafted.force_authenticate(&ada).await;
        let ticket = param(&location, "link").unwrap();
        crafted
            .post("/api/auth/social/link/")
            .json(&json!({"link_token": ticket}))
            .send()
            .await
            .assert_status(400);
        // In the browser that went to the provider, once signed in as Ada, it links.
        let answer = env.login(&browser, "test", "cookie").await;
        let ticket = param(answer.header("location").unwrap(), "link").unwrap();
        browser.force_authenticate(&ada).await;
        let linked = browser
            .post("/api/auth/social/link/")
            .json(&json!({"link_token": ticket}))
            .send()
            .await;
        assert_eq!(linked.status(), 201, "{}", linked.text());
        assert_eq!(
            env.app
                .tessera
                .auth()
                .social_identities(&ada)
                .await
                .unwrap()
                .len(),
            1
        );
        let linked = events(&env, "social.linked").await;
        assert_eq!(linked, [json!({"provider": "test", "via": "link"})]);
    })
    .await;
}

#[tokio::test]
async fn logins_started_in_two_tabs_both_finish_and_parallel_logins_are_bounded() {
    on_both_engines("social::two_tabs", |database| async move {
        let env = env(database).await;
        let client = env.app.client();
        let first = env.to_provider_and_back(&client, "test", "token").await;
        let second = env.to_provider_and_back(&client, "test", "token").await;
        for callback in [first, second] {
            let answer = client.get(&callback).send().await;
            assert_eq!(answer.status(), 302, "{}", answer.text());
            assert!(param(answer.header("location").unwrap(), "code").is_some());
        }
        // Five logins under way: a sixth start drops the others' cookies.
        for _ in 0..5 {
            let started = client.get("/api/auth/social/test/start/").send().await;
            assert_eq!(started.set_cookies().len(), 1);
        }
        let sixth = client.get("/api/auth/social/test/start/").send().await;
        let cookies = sixth.set_cookies();
        assert_eq!(cookies.len(), 6, "{:?}", sixth.cookie_names());
        assert_eq!(cookies.iter().filter(|c| c.value.is_empty()).count(), 5);
    })
    .await;
}

#[tokio::test]
async fn rs256_is_used_whenever_discovery_lists_it_whatever_the_order() {
    on_both_engines("social::algorithms", |database| async move {
        let env = env(database).await;
        env.provider
            .set_signing_algs(&["PS384", "RS384", "ES256", "RS256", "HS256"]);
        assert!(env.spa_code(&env.app.client(), "test").await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn a_provider_that_is_down_is_asked_once_and_starts_are_refused_at_once() {
    on_both_engines("social::provider_down", |database| async move {
        let env = env(database).await;
        env.provider.set_fault(Some(Fault::DiscoveryDown));
        let client = env.app.client();
        for _ in 0..3 {
            let started = client.get("/api/auth/social/test/start/").send().await;
            assert_eq!(started.status(), 503, "{}", started.text());
        }
        assert_eq!(env.provider.discovery_fetches(), 1);
    })
    .await;
}

#[tokio::test]
async fn one_client_cannot_fill_the_pending_logins_of_everyone() {
    on_both_engines("social::per_client_cap", |database| async move {
        let env = env(database).await;
        let greedy = env.app.client().address([10, 0, 0, 1]);
        for _ in 0..30 {
            greedy
                .get("/api/auth/social/test/start/")
                .send()
                .await
                .assert_status(302);
        }
        greedy
            .get("/api/auth/social/test/start/")
            .send()
            .await
            .assert_status(503);
        env.app
            .client()
            .address([10, 0, 0, 2])
            .get("/api/auth/social/test/start/")
            .send()
            .await
            .assert_status(302);
    })
    .await;
}

#[tokio::test]
async fn a_linked_identity_obeys_require_verified_email() {
    on_both_engines("social::require_verified", |database| async move {
        let env = env_with(database, |builder| {
            builder
                .mail(|mail| {
                    mail.email_backend = EmailBackend::Smtp;
                    mail.smtp_url = Some("smtp://127.0.0.1:9?tls=none".to_owned().into());
                })
                .email_flows(|flows| flows.require_verified_email = RequireVerifiedEmail::Login)
        })
        .await;
        let ada = env.app.create_user(ADA, PASSWORD).await;
        assert!(!ada.email_verified);
        env.app
            .tessera
            .auth()
            .store()
            .link_social_identity(ada.id, "test", "subject-ada", ADA, env.app.now())
            .await
            .unwrap()
            .expect("linked");
        assert_eq!(
            env.spa_code(&env.app.client(), "test").await,
            Err("email_not_verified".into())
        );
        assert_eq!(failure_reasons(&env).await, ["email_not_verified"]);
    })
    .await;
}

#[tokio::test]
async fn too_long_addresses_are_refused_not_cut_short() {
    on_both_engines("social::long_email", |database| async move {
        let env = env(database).await;
        let long = format!("{}@example.com", "a".repeat(250));
        env.provider
            .set_user(ProviderUser::new("subject-long", &long));
        assert_eq!(
            env.spa_code(&env.app.client(), "test").await,
            Err("login_failed".into())
        );
        assert_eq!(env.user_count().await, 0);
        assert_eq!(failure_reasons(&env).await, ["id_token"]);
    })
    .await;
}

/// The username of the account a sign-up with the provider's `login` makes.
async fn derived_username(env: &Env, login: &str, subject: &str, email: &str) -> String {
    let mut provider_user = ProviderUser::new(subject, email);
    provider_user.login = login.into();
    env.provider.set_user(provider_user);
    let client = env.app.client();
    let code = env.spa_code(&client, "test").await.expect("a code");
    let answer = env.exchange(&client, &code).await.ok();
    let id: i64 = user_of(&answer, &env.app).parse().unwrap();
    let user = env.app.tessera.auth().store().user_by_id(id).await.unwrap();
    user.unwrap().username.unwrap_or_default()
}

#[tokio::test]
async fn usernames_come_from_the_provider_and_are_validated_like_a_sign_ups() {
    on_both_engines("social::usernames", |database| async move {
        let env = env_with(database, |builder| {
            builder.settings(|s| s.username_field = UsernameField::Username)
        })
        .await;
        assert_eq!(
            derived_username(&env, "ada", "s1", "ada@example.com").await,
            "ada"
        );
        assert_eq!(
            derived_username(&env, "ada", "s2", "ada@other.example.com").await,
            "ada2"
        );
        // `¼` is a number, but NFKC makes it `1⁄4`, which no username may hold: the
        // fallback is checked too, down to `user-…`.
        let odd = derived_username(&env, "¼", "s3", "quarter@example.com").await;
        assert!(odd.starts_with("user-") && odd.len() == 13, "{odd}");
    })
    .await;
}

#[tokio::test]
async fn sign_up_rules_refuse_with_their_own_reasons() {
    on_both_engines("social::signup_rules", |database| async move {
        let env = env_with(database, |builder| {
            builder.throttling(|t| {
                t.throttle_rates.insert("register".into(), "1/min".into());
            })
        })
        .await;
        assert!(env.spa_code(&env.app.client(), "test").await.is_ok());
        env.provider
            .set_user(ProviderUser::new("subject-bob", "bob@example.com"));
        assert_eq!(
            env.spa_code(&env.app.client(), "test").await,
            Err("throttled".into())
        );
        assert_eq!(failure_reasons(&env).await, ["throttled"]);
        assert_eq!(env.user_count().await, 1);
    })
    .await;
    on_both_engines("social::signup_closed", |database| async move {
        let env = env_with(database, |builder| {
            builder.social(|social| social.social_signup = false)
        })
        .await;
        assert_eq!(
            env.spa_code(&env.app.client(), "test").await,
            Err("signup_closed".into())
        );
        assert_eq!(env.user_count().await, 0);
        assert_eq!(failure_reasons(&env).await, ["signup_closed"]);
    })
    .await;
}

/// Connects `provider` to the account `access` signs in: where the callback lands.
async fn connect(env: &Env, client: &tessera_axum::testing::TestClient, provider: &str) -> String {
    let connect = client
        .post(&format!("/api/auth/social/{provider}/connect/"))
        .send()
        .await;
    assert_eq!(connect.status(), 200, "{}", connect.text());
    let authorize = connect.json()["authorize_url"].as_str().unwrap().to_owned();
    let back = env.http.get(&authorize).send().await.unwrap();
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let done = client.get(&path_of(&location)).send().await;
    assert_eq!(done.status(), 302, "{}", done.text());
    done.header("location").unwrap().to_owned()
}

#[tokio::test]
async fn connect_reports_an_identity_held_elsewhere_and_the_identity_limit_apart() {
    on_both_engines("social::connect_refusals", |database| async move {
        let env = env(database).await;
        // Ada's provider account makes her account.
        assert!(env.spa_code(&env.app.client(), "test").await.is_ok());
        // Eve tries to connect it to hers.
        let eve = env.app.create_user("eve@example.com", PASSWORD).await;
        let client = env.app.client();
        client.force_authenticate(&eve).await;
        let landed = connect(&env, &client, "test").await;
        assert!(landed.starts_with("/account/?"), "{landed}");
        assert_eq!(
            param(&landed, "social_error").as_deref(),
            Some("already_linked")
        );
        // Eve at the limit of identities.
        let store = env.app.tessera.auth().store();
        for i in 0..tessera_auth::social::MAX_IDENTITIES {
            store
                .link_social_identity(eve.id, &format!("p{i}"), "s", "", env.app.now())
                .await
                .unwrap();
        }
        env.provider
            .set_user(ProviderUser::new("subject-eve", "eve@example.com"));
        let landed = connect(&env, &client, "github").await;
        assert_eq!(
            param(&landed, "social_error").as_deref(),
            Some("too_many_identities")
        );
        assert_eq!(
            failure_reasons(&env).await,
            ["already_linked", "too_many_identities"]
        );
    })
    .await;
}

#[tokio::test]
async fn two_concurrent_unlinks_never_take_the_last_way_in() {
    on_both_engines("social::unlink_race", |database| async move {
        let env = env(database).await;
        assert!(env.spa_code(&env.app.client(), "test").await.is_ok());
        let ada = user(&env, ADA).await;
        let store = env.app.tessera.auth().store();
        for round in 0..5 {
            let github = format!("gh-{round}");
            store
                .link_social_identity(ada.id, "github", &github, ADA, env.app.now())
                .await
                .unwrap()
                .expect("linked");
            let ids: Vec<i64> = env
                .app
                .tessera
                .auth()
                .social_identities(&ada)
                .await
                .unwrap()
                .iter()
                .map(|i| i.id)
                .collect();
            assert_eq!(ids.len(), 2);
            let client = env.app.client();
            client.force_authenticate(&ada).await;
            let (a, b) = tokio::join!(
                client
                    .delete(&format!("/api/auth/social/identities/{}/", ids[0]))
                    .send(),
                client
                    .delete(&format!("/api/auth/social/identities/{}/", ids[1]))
                    .send(),
            );
            let mut statuses = [a.status(), b.status()];
            statuses.sort_unstable();
            assert_eq!(statuses, [204, 400], "round {round}");
            let left = env
                .app
                .tessera
                .auth()
                .social_identities(&ada)
                .await
                .unwrap();
            assert_eq!(left.len(), 1);
            // The store refuses it as well, whoever asks.
            assert_eq!(
                store
                    .remove_way_in(ada.id, WayIn::SocialIdentity(left[0].id), false)
                    .await
                    .unwrap(),
                WayInRemoval::LastWayIn
            );
            // Keep the provider's identity for the next round.
            if left[0].provider == "github" {
                store
                    .link_social_identity(ada.id, "test", "subject-ada", ADA, env.app.now())
                    .await
                    .unwrap();
                let unlinked = store
                    .remove_way_in(ada.id, WayIn::SocialIdentity(left[0].id), false)
                    .await
                    .unwrap();
                assert!(matches!(unlinked, WayInRemoval::SocialIdentity(_)));
            }
        }
    })
    .await;
}

#[tokio::test]
async fn cookie_mode_sends_a_staff_member_who_must_set_totp_up_to_the_enrolment() {
    on_both_engines("social::cookie_mfa_setup", |database| async move {
        let env = env_with(database, |builder| {
            builder.mfa(|mfa| mfa.mfa_required_for_staff = true)
        })
        .await;
        env.login(&env.app.client(), "test", "cookie").await;
        let ada = user(&env, ADA).await;
        let staff = UserFlags {
            is_staff: Some(true),
            ..UserFlags::default()
        };
        env.app
            .tessera
            .auth()
            .store()
            .set_user_flags(ada.id, &staff)
            .await
            .unwrap();
        let answer = env.login(&env.app.client(), "test", "cookie").await;
        let location = answer.header("location").unwrap().to_owned();
        assert!(param(&location, "mfa_token").is_some(), "{location}");
        assert_eq!(param(&location, "mfa_purpose").as_deref(), Some("setup"));
        assert_eq!(
            answer.set_cookies().len(),
            1,
            "only the binding cookie's deletion"
        );
    })
    .await;
}

#[tokio::test]
async fn cookie_mode_with_totp_finishes_at_mfa_verify_with_the_session_cookies() {
    on_both_engines("social::cookie_totp", |database| async move {
        let env = env(database).await;
        let code = env
            .spa_code(&env.app.client(), "test")
            .await
            .expect("a code");
        let first = env.exchange(&env.app.client(), &code).await.ok();
        let access = first["access"].as_str().unwrap();
        let owner = env.app.client();
        let setup = owner
            .post("/api/auth/mfa/totp/setup/")
            .bearer_auth(access)
            .json(&json!({}))
            .send()
            .await
            .ok();
        let secret = setup["secret"].as_str().unwrap().to_owned();
        owner
            .post("/api/auth/mfa/totp/confirm/")
            .bearer_auth(access)
            .json(&json!({"code": totp_code(&env.app, &secret)}))
            .send()
            .await
            .ok();
        env.app.advance(30);
        let browser = env.app.client();
        let answer = env.login(&browser, "test", "cookie").await;
        let location = answer.header("location").unwrap().to_owned();
        assert_eq!(param(&location, "mfa_purpose"), None, "{location}");
        let token = param(&location, "mfa_token").expect("an mfa_token");
        assert_eq!(
            answer.set_cookies().len(),
            1,
            "no session before the second step"
        );
        let verified = browser
            .post("/api/auth/mfa/verify/")
            .json(&json!({"mfa_token": token, "code": totp_code(&env.app, &secret)}))
            .send()
            .await;
        assert_eq!(verified.ok()["message"], "Login successful");
        assert_eq!(
            verified.cookie_names().len(),
            3,
            "{:?}",
            verified.cookie_names()
        );
        let methods: Vec<Value> = events(&env, "login.succeeded")
            .await
            .iter()
            .map(|d| d["method"].clone())
            .collect();
        assert_eq!(methods, [json!("social"), json!("social")]);
    })
    .await;
}

#[tokio::test]
async fn a_passkey_spares_the_last_identity_only_when_passkeys_sign_in() {
    for passkey_login in [false, true] {
        let name = format!("social::unlink_passkey_{passkey_login}");
        on_both_engines(&name, |database| async move {
            let env = env_with(database, move |builder| {
                builder.passkeys(move |passkeys| passkeys.passkey_login = passkey_login)
            })
            .await;
            assert!(env.spa_code(&env.app.client(), "test").await.is_ok());
            let auth = env.app.tessera.auth();
            assert_eq!(auth.passkeys_sign_in(), passkey_login);
            let ada = user(&env, ADA).await;
            assert!(!ada.has_usable_password());
            let inserted = auth
                .store()
                .insert_passkey(
                    &NewPasskey {
                        user_id: ada.id,
                        credential_id: "credential",
                        user_handle: "00000000-0000-4000-8000-000000000000",
                        passkey: "{}",
                        name: "Phone",
                        created_at: env.app.now(),
                    },
                    20,
                )
                .await
                .unwrap();
            assert!(matches!(inserted, PasskeyInsert::Stored(_)), "{inserted:?}");
            let only = auth.social_identities(&ada).await.unwrap()[0].id;
            let client = env.app.client();
            client.force_authenticate(&ada).await;
            let reply = client
                .delete(&format!("/api/auth/social/identities/{only}/"))
                .send()
                .await;
            if passkey_login {
                // The passkey signs the account in: the identity may go.
                assert_eq!(reply.status(), 204, "{}", reply.text());
                assert!(auth.social_identities(&ada).await.unwrap().is_empty());
            } else {
                // A passkey that is only a second factor opens nothing.
                assert_eq!(reply.status(), 400, "{}", reply.text());
                assert_eq!(
                    reply.json(),
                    json!({"non_field_errors": [tessera_auth::accounts::LAST_WAY_IN]})
                );
                assert_eq!(auth.social_identities(&ada).await.unwrap().len(), 1);
            }
        })
        .await;
    }
}
