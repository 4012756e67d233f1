//! Groups and permissions through the service, on both engines: Django's `ModelBackend`
//! rules for `has_perm`, staff changing a user's groups and permissions under the privilege
//! rules, and the claims `token_permission_claims` copies into access tokens.

use serde_json::{Map, Value, json};
use tessera_auth::accounts::{
    AccountSettings, AdminUpdate, GRANTS_SUPERUSER_ONLY, GROUPS_SUPERUSER_ONLY, GroupInput,
    PERMISSION_CLAIMS_MAX_BYTES, PermissionClaims,
};
use tessera_auth::{Actor, Auth, AuthError, ClientInfo};
use tessera_core::{Settings, TokenKind};
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, Store, User, engine_tests};

async fn service(store: Store, claims: PermissionClaims) -> Auth {
    let settings = Settings {
        signing_key: Some("a signing key of more than thirty-two bytes".into()),
        rotate_refresh_tokens: true,
        blacklist_after_rotation: true,
        ..Settings::default()
    };
    let accounts = AccountSettings {
        token_permission_claims: claims,
        ..AccountSettings::default()
    };
    Auth::builder(settings, store)
        .accounts(accounts)
        .build()
        .await
        .unwrap()
}

async fn user(store: &Store, email: &str, (active, staff, superuser): (bool, bool, bool)) -> User {
    store
        .create_user(&NewUser {
            email: email.into(),
            password_hash: "!".into(),
            is_active: active,
            is_staff: staff,
            is_superuser: superuser,
            ..NewUser::default()
        })
        .await
        .unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Grants `groups` and `permissions` to `user` from the command line.
async fn grant(auth: &Auth, user: &User, groups: &[&str], permissions: &[&str]) {
    let update = AdminUpdate {
        groups: Some(strings(groups)),
        user_permissions: Some(strings(permissions)),
        ..AdminUpdate::default()
    };
    auth.update_user(user, update, Actor::CommandLine)
        .await
        .unwrap();
}

/// The claims of an access token.
fn claims_of(auth: &Auth, access: &str) -> Map<String, Value> {
    let token = auth
        .backend()
        .decode(&TokenKind::access(), access, auth.now())
        .unwrap();
    serde_json::to_value(token.payload())
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

/// The `admin.permission_denied` events recorded, as their `detail`.
async fn refusals(auth: &Auth) -> Vec<Value> {
    auth.audit_log().flush().await;
    let filter = tessera_store::AuditFilter {
        event: Some("admin.permission_denied".into()),
        ..Default::default()
    };
    let (_, events) = auth
        .store()
        .list_audit_events(&filter, 100, 0)
        .await
        .unwrap();
    events
        .iter()
        .map(|e| serde_json::from_str(e.detail.as_deref().unwrap_or("null")).unwrap())
        .collect()
}

/// The claims of a token of `kind`.
fn payload_of(auth: &Auth, kind: &TokenKind, raw: &str) -> Map<String, Value> {
    let token = auth.backend().decode(kind, raw, auth.now()).unwrap();
    token.payload().clone()
}

/// No custom field copied into tokens may be named like a permission claim, whether the
/// setting is on or not: a user could otherwise choose their own.
#[test]
fn a_custom_field_cannot_take_a_permission_claims_name() {
    use tessera_auth::accounts::{FieldKind, UserField};
    for name in ["groups", "permissions"] {
        let field = UserField {
            name: name.into(),
            kind: FieldKind::String,
            required: false,
            max_length: None,
            read_only: false,
            claim: true,
            default: None,
        };
        let accounts = AccountSettings {
            user_fields: vec![field.clone()],
            ..AccountSettings::default()
        };
        let error = accounts.validate().unwrap_err();
        assert_eq!(error.setting, "user_fields", "{name}");
        let unclaimed = AccountSettings {
            user_fields: vec![UserField {
                claim: false,
                ..field
            }],
            ..AccountSettings::default()
        };
        assert!(unclaimed.validate().is_ok(), "{name}");
    }
}

/// A hook that claims every permission, as a careless `get_token` might.
struct ClaimsEverything;

impl tessera_auth::obtain::ObtainHook for ClaimsEverything {
    fn claims(
        &self,
        _user: &User,
        _route: tessera_auth::obtain::ObtainRoute,
        claims: &mut tessera_core::Claims,
    ) {
        claims.insert("permissions".into(), json!(["notes.delete_note"]));
        claims.insert("groups".into(), json!(["admins"]));
        claims.insert("team".into(), json!("blue"));
    }
}

engine_tests! {
    /// Only `token_permission_claims` sets `groups` and `permissions`: claims added by code
    /// under those names are left out, whatever the setting.
    async fn no_other_claim_takes_the_permission_claims_names(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        for setting in [PermissionClaims::Off, PermissionClaims::Both] {
            let settings = Settings {
                signing_key: Some("a signing key of more than thirty-two bytes".into()),
                ..Settings::default()
            };
            let accounts = AccountSettings { token_permission_claims: setting, ..AccountSettings::default() };
            let auth = Auth::builder(settings, store.clone())
                .accounts(accounts)
                .obtain_hook(ClaimsEverything)
                .build()
                .await
                .unwrap();
            let answer = auth.obtain_pair(&ada, &ClientInfo::default()).await.unwrap();
            let claims = claims_of(&auth, answer["access"].as_str().unwrap());
            let refresh = answer["refresh"].as_str().unwrap();
            let refresh = auth.backend().decode(&TokenKind::refresh(), refresh, auth.now()).unwrap();
            assert!(refresh.get("permissions").is_none() && refresh.get("groups").is_none());
            assert_eq!(claims["team"], "blue", "{setting:?}");
            let expected = if setting == PermissionClaims::Off { None } else { Some(&json!([])) };
            assert_eq!(claims.get("permissions"), expected, "{setting:?}");
            assert_eq!(claims.get("groups"), expected, "{setting:?}");
        }
        store.close().await;
    }

    /// Inactive users hold nothing, active superusers everything, others what they were
    /// given, directly or through a group.
    async fn has_perm_follows_djangos_model_backend(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Off).await;
        let editors = auth
            .create_group(
                tessera_auth::accounts::GroupInput {
                    name: Some("editors".into()),
                    permissions: Some(strings(&["notes.change_note"])),
                },
                Actor::CommandLine,
            )
            .await
            .unwrap();
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        let gone = user(&store, "gone@example.com", (false, true, true)).await;
        let root = user(&store, "root@example.com", (true, true, true)).await;
        grant(&auth, &ada, &["editors"], &["notes.delete_note"]).await;
        grant(&auth, &gone, &["editors"], &["notes.delete_note"]).await;

        for (perm, held) in [
            ("notes.change_note", true),
            ("notes.delete_note", true),
            ("notes.add_note", false),
            ("not a permission", false),
        ] {
            assert_eq!(auth.has_perm(&ada, perm).await.unwrap(), held, "{perm}");
            assert!(!auth.has_perm(&gone, perm).await.unwrap(), "inactive: {perm}");
            assert!(auth.has_perm(&root, perm).await.unwrap(), "superuser: {perm}");
        }
        assert_eq!(
            auth.permissions_of(&ada).await.unwrap().into_iter().collect::<Vec<_>>(),
            strings(&["notes.change_note", "notes.delete_note"])
        );
        assert!(auth.permissions_of(&gone).await.unwrap().is_empty());

        // A group's change counts at once.
        let input = tessera_auth::accounts::GroupInput { name: None, permissions: Some(vec![]) };
        auth.update_group(&editors, input, Actor::CommandLine).await.unwrap();
        assert!(!auth.has_perm(&ada, "notes.change_note").await.unwrap());
        auth.store().close().await;
    }

    /// Only a superuser (or the command line) changes anyone's groups or permissions: other
    /// staff are refused with a reason, audited, and nothing of the change is made.
    async fn only_a_superuser_changes_anyones_grants(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Off).await;
        let staff = user(&store, "staff@example.com", (true, true, false)).await;
        let root = user(&store, "root@example.com", (true, true, true)).await;
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        let client = ClientInfo::default();
        let by_staff = Actor::Staff { user: &staff, client: &client };
        let update = AdminUpdate {
            first_name: Some("Augusta".into()),
            user_permissions: Some(strings(&["notes.delete_note"])),
            ..AdminUpdate::default()
        };
        for target in [&root, &ada, &staff] {
            let err = auth.update_user(target, update.clone(), by_staff).await.unwrap_err();
            assert!(matches!(err, AuthError::PermissionDenied(_)), "{err:?}");
            assert!(auth.grants_of(target).await.unwrap().permissions.is_empty());
            assert_eq!(auth.user(target.id).await.unwrap().first_name, "", "nothing changed");
        }
        let groups_only = AdminUpdate { groups: Some(vec![]), ..AdminUpdate::default() };
        let err = auth.update_user(&ada, groups_only, by_staff).await.unwrap_err();
        assert_eq!(err.to_string(), AuthError::PermissionDenied(GRANTS_SUPERUSER_ONLY.into()).to_string());
        let denied = refusals(&auth).await;
        assert_eq!(denied.len(), 4, "{denied:?}");
        assert!(denied.iter().skip(1).all(|d| d["reason"] == GRANTS_SUPERUSER_ONLY), "{denied:?}");
        // Names alone stay open to staff.
        let names = AdminUpdate { first_name: Some("Ada".into()), ..AdminUpdate::default() };
        auth.update_user(&ada, names, by_staff).await.unwrap();

        let by_root = Actor::Staff { user: &root, client: &client };
        auth.update_user(&ada, update.clone(), by_root).await.unwrap();
        assert!(auth.has_perm(&ada, "notes.delete_note").await.unwrap());
        auth.update_user(&root, update.clone(), by_root).await.unwrap();
        assert_eq!(auth.grants_of(&root).await.unwrap().permissions, strings(&["notes.delete_note"]));
        auth.update_user(&staff, update, Actor::CommandLine).await.unwrap();
        assert_eq!(auth.grants_of(&staff).await.unwrap().permissions, strings(&["notes.delete_note"]));
        auth.store().close().await;
    }

    /// Staff read groups; only a superuser or the command line creates, changes, grants,
    /// revokes or deletes one. Other staff are refused, audited, and nothing changes.
    async fn only_a_superuser_writes_groups(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Off).await;
        let staff = user(&store, "staff@example.com", (true, true, false)).await;
        let root = user(&store, "root@example.com", (true, true, true)).await;
        let client = ClientInfo::default();
        let by_staff = Actor::Staff { user: &staff, client: &client };
        let input = |name: &str| GroupInput { name: Some(name.into()), permissions: Some(strings(&["notes.view_note"])) };
        let editors = auth.create_group(input("editors"), Actor::CommandLine).await.unwrap();
        let denied = |result: Result<tessera_store::Group, AuthError>| match result {
            Err(AuthError::PermissionDenied(reason)) => assert_eq!(reason, GROUPS_SUPERUSER_ONLY),
            other => panic!("{other:?}"),
        };
        denied(auth.create_group(input("writers"), by_staff).await);
        denied(auth.update_group(&editors, input("renamed"), by_staff).await);
        denied(auth.grant_group_permissions(&editors, &strings(&["notes.add_note"]), by_staff).await);
        denied(auth.revoke_group_permissions(&editors, &strings(&["notes.view_note"]), by_staff).await);
        let err = auth.delete_group(&editors, by_staff).await.unwrap_err();
        assert!(matches!(err, AuthError::PermissionDenied(_)), "{err:?}");
        assert_eq!(auth.groups_page(10, 0).await.unwrap().1, vec![editors.clone()], "staff read them");
        let denied = refusals(&auth).await;
        assert_eq!(denied.len(), 5, "{denied:?}");
        assert!(denied.iter().all(|d| d["action"] == "groups" && d["reason"] == GROUPS_SUPERUSER_ONLY));

        let by_root = Actor::Staff { user: &root, client: &client };
        let granted = auth.grant_group_permissions(&editors, &strings(&["notes.add_note"]), by_root).await.unwrap();
        assert_eq!(granted.permissions, strings(&["notes.add_note", "notes.view_note"]));
        let revoked = auth.revoke_group_permissions(&editors, &strings(&["notes.view_note"]), by_root).await.unwrap();
        assert_eq!(revoked.permissions, strings(&["notes.add_note"]));
        let err = auth.grant_group_permissions(&editors, &strings(&["Not.Valid"]), by_root).await.unwrap_err();
        let AuthError::Invalid(errors) = err else { panic!("{err:?}") };
        assert_eq!(errors.to_json(), json!({"permissions": {"0": [tessera_auth::accounts::invalid_permission("Not.Valid")]}}));
        assert!(auth.delete_group(&editors, by_root).await.unwrap());
        auth.store().close().await;
    }

    /// A PUT (not partial) without `permissions` leaves them as they are.
    async fn replacing_a_group_without_permissions_keeps_them(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Off).await;
        let editors = auth
            .create_group(GroupInput { name: Some("editors".into()), permissions: Some(strings(&["notes.view_note"])) }, Actor::CommandLine)
            .await
            .unwrap();
        let data = json!({"name": "writers"});
        let input = GroupInput::parse(data.as_object().unwrap(), false).unwrap();
        let renamed = auth.update_group(&editors, input, Actor::CommandLine).await.unwrap();
        assert_eq!((renamed.name.as_str(), renamed.permissions.clone()), ("writers", strings(&["notes.view_note"])));
        auth.store().close().await;
    }

    /// Grants past `PERMISSION_CLAIMS_MAX_BYTES` leave the claims out of the token
    /// (`permissions` first, then `groups`) rather than cut them; the store still answers.
    async fn claims_past_the_byte_budget_are_left_out(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Both).await;
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        let many: Vec<String> = (0..200).map(|i| format!("notes.a_rather_long_permission_{i:03}")).collect();
        assert!(json!(many).to_string().len() > PERMISSION_CLAIMS_MAX_BYTES);
        auth.create_group(GroupInput { name: Some("editors".into()), permissions: Some(many) }, Actor::CommandLine)
            .await
            .unwrap();
        grant(&auth, &ada, &["editors"], &[]).await;
        let client = ClientInfo::default();
        let pair = auth.issue_pair(&ada, &client, &Default::default()).await.unwrap();
        let claims = claims_of(&auth, &pair.access);
        assert_eq!(claims.get("groups"), Some(&json!(["editors"])));
        assert!(!claims.contains_key("permissions"), "{claims:?}");
        assert!(auth.has_perm(&ada, "notes.a_rather_long_permission_007").await.unwrap());

        // Groups whose names alone pass the budget go too.
        let mut names = Vec::new();
        for i in 0..30 {
            let name = format!("{i:02}{}", "g".repeat(148));
            auth.create_group(GroupInput { name: Some(name.clone()), permissions: None }, Actor::CommandLine).await.unwrap();
            names.push(name);
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        grant(&auth, &ada, &names, &["notes.delete_note"]).await;
        let refreshed = auth.refresh(&pair.refresh, &client).await.unwrap();
        let claims = claims_of(&auth, &refreshed.access);
        assert!(!claims.contains_key("groups") && !claims.contains_key("permissions"), "{claims:?}");
        assert!(auth.has_perm(&ada, "notes.delete_note").await.unwrap());
        auth.store().close().await;
    }

    /// Whatever a presented token carries under `groups` or `permissions` — a token issued
    /// under a wider setting, or one crafted so — never reaches the tokens issued from it:
    /// the access token, the successor, a slid sliding token.
    async fn claims_are_never_carried_forward(db: &TestDatabase) {
        let store = db.store().await;
        let wide = service(store.clone(), PermissionClaims::Both).await;
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        wide.create_group(GroupInput { name: Some("editors".into()), permissions: None }, Actor::CommandLine).await.unwrap();
        grant(&wide, &ada, &["editors"], &["notes.delete_note"]).await;
        let client = ClientInfo::default();
        let stale = json!(["notes.everything"]);
        // A refresh token carrying the claims, as one issued with them would.
        let with_claims = |auth: &Auth, kind: &TokenKind, raw: &str| {
            let mut token = auth.backend().decode(kind, raw, auth.now()).unwrap();
            token.insert("groups", json!(["admins"]));
            token.insert("permissions", stale.clone());
            auth.backend().encode(&token).unwrap()
        };
        for (setting, groups, permissions) in [
            (PermissionClaims::Off, None, None),
            (PermissionClaims::Groups, Some(json!(["editors"])), None),
            (PermissionClaims::Permissions, None, Some(json!(["notes.delete_note"]))),
        ] {
            let auth = service(store.clone(), setting).await;
            let pair = auth.issue_pair(&ada, &client, &Default::default()).await.unwrap();
            let refresh = with_claims(&auth, &TokenKind::refresh(), &pair.refresh);
            let refreshed = auth.refresh(&refresh, &client).await.unwrap();
            let access = claims_of(&auth, &refreshed.access);
            assert_eq!((access.get("groups").cloned(), access.get("permissions").cloned()), (groups.clone(), permissions.clone()), "{setting:?}");
            let successor = payload_of(&auth, &TokenKind::refresh(), &refreshed.refresh.unwrap());
            assert!(!successor.contains_key("groups") && !successor.contains_key("permissions"), "{setting:?}: {successor:?}");

            let sliding = auth.issue_sliding(&ada, &client, &Default::default()).await.unwrap();
            let sliding = with_claims(&auth, &TokenKind::sliding(), &sliding);
            let slid = payload_of(&auth, &TokenKind::sliding(), &auth.refresh_sliding(&sliding, &client).await.unwrap());
            assert_eq!((slid.get("groups").cloned(), slid.get("permissions").cloned()), (groups, permissions), "{setting:?}");
        }
        wide.store().close().await;
    }

    /// A group that does not exist is DRF's slug error, and nothing of the change is made.
    async fn an_unknown_group_refuses_the_whole_change(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Off).await;
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        let data = json!({"groups": ["ghosts"], "first_name": "Augusta", "user_permissions": ["a.b"]});
        let update = AdminUpdate::parse(data.as_object().unwrap(), &[]).unwrap();
        let err = auth.update_user(&ada, update, Actor::CommandLine).await.unwrap_err();
        let AuthError::Invalid(errors) = err else { panic!("{err:?}") };
        assert_eq!(errors.to_json(), json!({"groups": ["Object with name=ghosts does not exist."]}));
        let now = auth.user(ada.id).await.unwrap();
        assert_eq!(now.first_name, ada.first_name);
        assert!(auth.grants_of(&ada).await.unwrap().permissions.is_empty());
        auth.store().close().await;
    }

    /// With `token_permission_claims = "both"` access tokens carry `groups` and
    /// `permissions` as at issue, and a refresh reads them again; refresh tokens carry
    /// neither. Off, no token carries them.
    async fn access_tokens_carry_the_claims_read_at_issue_and_refresh(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), PermissionClaims::Both).await;
        let ada = user(&store, "ada@example.com", (true, false, false)).await;
        auth.create_group(
            tessera_auth::accounts::GroupInput {
                name: Some("editors".into()),
                permissions: Some(strings(&["notes.change_note"])),
            },
            Actor::CommandLine,
        )
        .await
        .unwrap();
        grant(&auth, &ada, &["editors"], &["notes.delete_note"]).await;
        let client = ClientInfo::default();
        let pair = auth.issue_pair(&ada, &client, &Default::default()).await.unwrap();
        let claims = claims_of(&auth, &pair.access);
        assert_eq!(claims["groups"], json!(["editors"]));
        assert_eq!(claims["permissions"], json!(["notes.change_note", "notes.delete_note"]));
        let refresh = auth.backend().decode(&TokenKind::refresh(), &pair.refresh, auth.now()).unwrap();
        assert!(refresh.get("groups").is_none() && refresh.get("permissions").is_none());

        // Stale until the refresh, which reads them again.
        grant(&auth, &ada, &[], &[]).await;
        assert_eq!(claims_of(&auth, &pair.access)["groups"], json!(["editors"]));
        let refreshed = auth.refresh(&pair.refresh, &client).await.unwrap();
        let claims = claims_of(&auth, &refreshed.access);
        assert_eq!((&claims["groups"], &claims["permissions"]), (&json!([]), &json!([])));

        let off = service(store.clone(), PermissionClaims::Off).await;
        let pair = off.issue_pair(&ada, &client, &Default::default()).await.unwrap();
        let claims = claims_of(&off, &pair.access);
        assert!(!claims.contains_key("groups") && !claims.contains_key("permissions"), "{claims:?}");
        let groups_only = service(store, PermissionClaims::Groups).await;
        let pair = groups_only.issue_pair(&ada, &client, &Default::default()).await.unwrap();
        let claims = claims_of(&groups_only, &pair.access);
        assert!(claims.contains_key("groups") && !claims.contains_key("permissions"), "{claims:?}");

        // A sliding token is the access token: it carries them, and a slide reads them again.
        let sliding = auth.issue_sliding(&ada, &client, &Default::default()).await.unwrap();
        let read = |raw: &str| auth.backend().decode(&TokenKind::sliding(), raw, auth.now()).unwrap();
        assert_eq!(read(&sliding).get("groups"), Some(&json!([])));
        grant(&auth, &ada, &["editors"], &[]).await;
        let slid = auth.refresh_sliding(&sliding, &client).await.unwrap();
        assert_eq!(read(&slid).get("groups"), Some(&json!(["editors"])));
        assert_eq!(read(&slid).get("permissions"), Some(&json!(["notes.change_note"])));
        groups_only.store().close().await;
    }
}

mod property {
    //! Over every combination of the acting staff member's flags, the target's flags and
    //! what is granted, through the real service: a staff member who is not a superuser
    //! never changes anyone's groups or permissions, and no grant changes a flag.

    use proptest::prelude::*;

    use super::*;

    fn flags() -> impl Strategy<Value = (bool, bool, bool)> {
        (any::<bool>(), any::<bool>(), any::<bool>())
    }

    /// Runs one case on a fresh in-memory SQLite store; `Ok(())` when the rules held.
    async fn case(
        actor_flags: (bool, bool, bool),
        target_flags: (bool, bool, bool),
        groups: Option<bool>,
        permissions: Option<bool>,
    ) -> Result<(), TestCaseError> {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store
            .create_group("editors", &strings(&["notes.change_note"]))
            .await
            .unwrap();
        let auth = service(store.clone(), PermissionClaims::Off).await;
        let actor = user(&store, "actor@example.com", actor_flags).await;
        let target = user(&store, "target@example.com", target_flags).await;
        let update = AdminUpdate {
            groups: groups.map(|some| if some { strings(&["editors"]) } else { vec![] }),
            user_permissions: permissions.map(|some| {
                if some {
                    strings(&["notes.delete_note"])
                } else {
                    vec![]
                }
            }),
            ..AdminUpdate::default()
        };
        let client = ClientInfo::default();
        let result = auth
            .update_user(
                &target,
                update,
                Actor::Staff {
                    user: &actor,
                    client: &client,
                },
            )
            .await;
        let after = store.user_by_id(target.id).await.unwrap().unwrap();
        let grants = store.user_grants(target.id).await.unwrap();
        prop_assert_eq!(
            (after.is_active, after.is_staff, after.is_superuser),
            target_flags,
            "a grant changed a flag"
        );
        let changes_grants = groups.is_some() || permissions.is_some();
        if !actor.is_superuser && (target.is_superuser || changes_grants) {
            prop_assert!(
                matches!(result, Err(AuthError::PermissionDenied(_))),
                "{:?}",
                result
            );
            prop_assert!(grants.groups.is_empty() && grants.permissions.is_empty());
        } else {
            prop_assert!(result.is_ok(), "{:?}", result);
            prop_assert_eq!(grants.groups.len(), usize::from(groups == Some(true)));
            prop_assert_eq!(
                grants.permissions.len(),
                usize::from(permissions == Some(true))
            );
        }
        store.close().await;
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn no_staff_flags_let_a_non_superuser_change_anyones_grants(
            actor_flags in flags(),
            target_flags in flags(),
            groups in any::<Option<bool>>(),
            permissions in any::<Option<bool>>(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(case(actor_flags, target_flags, groups, permissions))?;
        }
    }
}
