//! `Auth::import_django` against real Django databases of both engines — built from the
//! schema Django 5.2 creates (`tests/django/*.sql`), no Python needed — and from a
//! `dumpdata` file; then the simplejwt cut-over with tokens made exactly as simplejwt 5.x
//! makes them.

use sqlx::Connection as _;
use tessera_auth::django_import::ImportOptions;
use tessera_auth::{Auth, AuthError, ClientInfo};
use tessera_core::{Settings, Timestamp, TokenError};
use tessera_store::django::{DjangoData, DjangoSource, DjangoToken, DjangoUser, parse_datetime};
use tessera_store::testing::TestDatabase;
use tessera_store::{Engine, NewUser, RevokeReason, Store, engine_tests};

/// A Django `SECRET_KEY` (simplejwt's default `SIGNING_KEY`).
const SECRET_KEY: &str = "django-insecure-7x#n0s8v!q2m@k4p$w1r%t6y^u3i&o9e(a5s)d8f";
/// A Django hash of `correct horse 1`.
const ADA_HASH: &str =
    "pbkdf2_sha256$1000000$fixedsalt1234567$h1x5B9wO4o4f1VDkjGsyMxJBtVZhq9wSvqmPrCDZ7Ak=";
/// A Django unusable password.
const UNUSABLE: &str = "!boOkQuhViV4Zxvpfki0EIeHlgYX6I4kCa0ArmQlT";

fn ddl(engine: Engine, custom: bool) -> &'static str {
    match (engine, custom) {
        (Engine::Sqlite, false) => include_str!("django/sqlite.sql"),
        (Engine::Sqlite, true) => include_str!("django/sqlite_custom.sql"),
        (Engine::Postgres, false) => include_str!("django/postgres.sql"),
        (Engine::Postgres, true) => include_str!("django/postgres_custom.sql"),
    }
}

/// Runs `sql` (statements separated by `;` at the end of a line) on the database at `url`.
async fn execute(engine: Engine, url: &str, sql: &str) {
    let statements = sql
        .split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty());
    match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
                .await
                .unwrap();
            for statement in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            for statement in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
        }
    }
}

/// A fresh Django database of `engine` with Django's tables.
async fn django_database(engine: Engine, custom: bool) -> Option<TestDatabase> {
    let db = TestDatabase::new(engine, "django").await?;
    execute(engine, db.url(), ddl(engine, custom)).await;
    Some(db)
}

/// A date-time literal as Django stores it on `engine` (UTC).
fn at(engine: Engine, text: &str) -> String {
    match engine {
        Engine::Sqlite => format!("'{text}'"),
        Engine::Postgres => format!("'{text}+00:00'"),
    }
}

/// `text` in microseconds.
fn micros(text: &str) -> Timestamp {
    parse_datetime(text).unwrap()
}

/// A date-time `days` from now, as Django stores it.
fn days_from_now(engine: Engine, days: i64) -> String {
    let now = Timestamp::from_system_time(std::time::SystemTime::now()).as_secs();
    let t = time_text(now + days * 86_400);
    at(engine, &t)
}

/// `secs` as `YYYY-MM-DD HH:MM:SS`.
fn time_text(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Django's rows: six users (one with a name Tessera refuses, one with an address that is
/// none, two sharing an address), two groups with permissions (one a permission Tessera
/// cannot hold), memberships and direct permissions, and five outstanding tokens.
fn auth_user_rows(engine: Engine) -> String {
    let joined = at(engine, "2024-05-01 10:20:30.123456");
    let login = at(engine, "2024-06-02 08:00:00.5");
    let (future, past) = (days_from_now(engine, 1), days_from_now(engine, -1));
    let (t, f) = match engine {
        Engine::Sqlite => ("1", "0"),
        Engine::Postgres => ("TRUE", "FALSE"),
    };
    format!(
        "INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES \
         (1, '{ADA_HASH}', {login}, {t}, 'ada', 'Ada', 'Lovelace', 'ada@Example.COM', {t}, {t}, {joined}), \
         (2, '{UNUSABLE}', NULL, {f}, 'bob', '', '', 'shared@example.com', {f}, {t}, {joined}), \
         (3, '{ADA_HASH}', NULL, {f}, 'carol', 'Carol', '', 'shared@example.com', {f}, {f}, {joined}), \
         (4, '{ADA_HASH}', NULL, {f}, 'dave smith', '', '', 'dave@example.com', {f}, {t}, {joined}), \
         (5, '{ADA_HASH}', NULL, {f}, 'eve', '', '', 'not-an-address', {f}, {t}, {joined}), \
         (10, '{ADA_HASH}', NULL, {f}, 'frank', '', '', '', {f}, {t}, {joined});\n\
         INSERT INTO django_content_type (id, app_label, model) VALUES (1, 'notes', 'note'), (2, 'auth', 'user');\n\
         INSERT INTO auth_permission (id, content_type_id, codename, name) VALUES \
         (1, 1, 'change_note', 'Can change note'), (2, 1, 'delete_note', 'Can delete note'), \
         (3, 2, 'view_user', 'Can view user'), (4, 1, 'Publish-Note', 'Can publish');\n\
         INSERT INTO auth_group (id, name) VALUES (1, 'editors'), (2, 'moderators');\n\
         INSERT INTO auth_group_permissions (id, group_id, permission_id) VALUES (1, 1, 1), (2, 2, 2), (3, 2, 4);\n\
         INSERT INTO auth_user_groups (id, user_id, group_id) VALUES (1, 1, 1), (2, 2, 2), (3, 10, 1);\n\
         INSERT INTO auth_user_user_permissions (id, user_id, permission_id) VALUES (1, 1, 3), (2, 2, 4);\n\
         INSERT INTO token_blacklist_outstandingtoken (id, token, created_at, expires_at, user_id, jti) VALUES \
         (1, 'x.y.z', {joined}, {future}, 1, '{jti1}'), \
         (2, 'x.y.z', {joined}, {past}, 2, '{jti2}'), \
         (3, 'x.y.z', {joined}, {future}, 2, '{jti3}'), \
         (4, 'x.y.z', {joined}, {future}, 4, '{jti4}'), \
         (5, 'x.y.z', {joined}, {future}, NULL, '{jti5}');\n\
         INSERT INTO token_blacklist_blacklistedtoken (id, blacklisted_at, token_id) VALUES (1, {joined}, 3);\n",
        jti1 = "1".repeat(32),
        jti2 = "2".repeat(32),
        jti3 = "3".repeat(32),
        jti4 = "4".repeat(32),
        jti5 = "5".repeat(32),
    )
}

fn settings() -> Settings {
    Settings {
        signing_key: Some(SECRET_KEY.into()),
        rotate_refresh_tokens: true,
        blacklist_after_rotation: true,
        ..Settings::default()
    }
}

async fn service(store: Store, settings: Settings) -> Auth {
    Auth::builder(settings, store).build().await.unwrap()
}

async fn foreign_rows(store: &Store) -> i64 {
    let mut n = 0;
    for jti in ["1", "2", "3", "4", "5", "6", "7", "8"] {
        if store
            .foreign_token(&jti.repeat(32))
            .await
            .unwrap()
            .is_some()
        {
            n += 1;
        }
    }
    n
}

engine_tests! {
    async fn a_django_database_is_imported_ids_hashes_flags_and_dates_kept(db: &TestDatabase) {
        let engine = db.engine();
        let Some(django) = django_database(engine, false).await else { return };
        execute(engine, django.url(), &auth_user_rows(engine)).await;
        let source = DjangoSource::parse(django.url());
        let data = source.read(None).await.unwrap();
        assert_eq!(data.user_table, "auth_user");
        let store = db.store().await;
        let auth = service(store.clone(), settings()).await;

        // A dry run reports and writes nothing.
        let dry = auth.import_django(&data, &ImportOptions::default().dry_run(true)).await.unwrap();
        assert!(dry.dry_run);
        assert!(store.list_users().await.unwrap().is_empty());
        assert_eq!(foreign_rows(&store).await, 0);

        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!(report.users, tessera_auth::django_import::TableCounts { created: 6, updated: 0, unchanged: 0, skipped: 0 });
        assert_eq!(report.tokens, tessera_auth::django_import::TableCounts { created: 3, updated: 0, unchanged: 0, skipped: 2 });
        assert_eq!(report.expired_tokens, 1);
        use tessera_auth::django_import::TableCounts;
        assert_eq!(report.groups, TableCounts { created: 2, ..TableCounts::default() });
        assert_eq!(report.group_memberships, TableCounts { created: 3, ..TableCounts::default() });
        assert_eq!(report.user_permissions, TableCounts { created: 1, skipped: 1, ..TableCounts::default() });
        assert_eq!(tessera_auth::django_import::ImportReport { dry_run: true, ..report.clone() }, dry, "the dry run said what the run did");
        let skipped: Vec<(&str, i64)> = report.skipped.iter().map(|n| (n.table.as_str(), n.id)).collect();
        assert_eq!(skipped, [("auth_user_user_permissions", 2), ("token_blacklist_outstandingtoken", 5)]);
        // Carol's address is Bob's; Eve's is none: both imported without one.
        let warned: Vec<(&str, i64)> = report.warnings.iter().map(|n| (n.table.as_str(), n.id)).collect();
        assert_eq!(warned, [("auth_user", 3), ("auth_user", 5), ("auth_group", 2)], "{report}");
        let text = report.to_string();
        assert!(text.contains("auth_user -> users: 6 created, 0 updated, 0 unchanged, 0 skipped"), "{text}");
        // The real run is audited, once: the dry run is not.
        auth.audit_log().flush().await;
        let filter = tessera_store::AuditFilter {
            event: Some("admin.django_imported".into()),
            ..Default::default()
        };
        let (count, events) = store.list_audit_events(&filter, 10, 0).await.unwrap();
        assert_eq!(count, 1);
        let detail: serde_json::Value =
            serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
        assert_eq!(detail["users"]["created"], 6);
        assert_eq!(detail["via"], "cli");
        assert!(text.contains("auth_group -> groups: 2 created, 0 updated, 0 unchanged, 0 skipped"), "{text}");
        assert!(text.contains("auth_user_groups -> user_groups: 3 created"), "{text}");
        assert_eq!(detail["groups"]["created"], 2);
        // Groups by name with their permissions; memberships and direct permissions.
        let editors = store.group_by_name("editors").await.unwrap().unwrap();
        assert_eq!(editors.permissions, ["notes.change_note"]);
        let moderators = store.group_by_name("moderators").await.unwrap().unwrap();
        assert_eq!(moderators.permissions, ["notes.delete_note"], "Publish-Note is no permission Tessera holds");
        let ada_grants = store.user_grants(1).await.unwrap();
        assert_eq!((ada_grants.groups, ada_grants.permissions), (vec!["editors".to_owned()], vec!["auth.view_user".to_owned()]));
        assert_eq!(store.effective_permissions(2).await.unwrap(), ["notes.delete_note"]);

        let ada = store.user_by_id(1).await.unwrap().unwrap();
        assert_eq!(ada.email, "ada@example.com");
        assert_eq!(ada.username.as_deref(), Some("ada"));
        assert_eq!(ada.password_hash, ADA_HASH);
        assert!(ada.is_active && ada.is_staff && ada.is_superuser);
        assert_eq!(ada.date_joined, micros("2024-05-01 10:20:30.123456"));
        assert_eq!(ada.last_login, Some(micros("2024-06-02 08:00:00.5")));
        let bob = store.user_by_id(2).await.unwrap().unwrap();
        assert_eq!((bob.email.as_str(), bob.password_hash.as_str()), ("shared@example.com", UNUSABLE));
        assert!(!bob.has_usable_password());
        let carol = store.user_by_id(3).await.unwrap().unwrap();
        assert_eq!(carol.email, "", "a shared address goes to the first user only");
        assert!(!carol.is_active);
        assert_eq!(store.user_by_id(10).await.unwrap().unwrap().email, "");
        // Django stores what `create_user()` was given: a username with a space, kept as is.
        assert_eq!(store.user_by_id(4).await.unwrap().unwrap().username.as_deref(), Some("dave smith"));
        let eve = store.user_by_id(5).await.unwrap().unwrap();
        assert_eq!((eve.email.as_str(), eve.username.as_deref()), ("", Some("eve")));
        let token = store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap();
        assert_eq!((token.user_id, token.blacklisted_at), (1, None));
        assert!(store.foreign_token(&"3".repeat(32)).await.unwrap().unwrap().blacklisted_at.is_some());

        // A re-run changes nothing, and gives back no access taken away in Tessera since:
        // the grants of users it did not create, and the permissions of groups Tessera has,
        // are left as they are (and counted as skipped).
        store.set_user_grants(1, Some(&[]), Some(&[])).await.unwrap();
        store.update_group(editors.id, None, Some(&[])).await.unwrap();
        let again = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!((again.users.unchanged, again.users.created, again.users.updated), (6, 0, 0));
        assert_eq!((again.groups.unchanged, again.groups.skipped), (1, 1), "{again}");
        assert_eq!((again.group_memberships.skipped, again.user_permissions.skipped), (3, 2));
        assert_eq!(store.user_grants(1).await.unwrap(), tessera_store::Grants::default());
        assert!(store.group(editors.id).await.unwrap().unwrap().permissions.is_empty());
        let notes: Vec<(&str, i64)> = again.skipped.iter().map(|n| (n.table.as_str(), n.id)).collect();
        assert_eq!(notes, [("auth_group", 1), ("auth_user_groups", 1), ("auth_user_groups", 2), ("auth_user_groups", 10), ("auth_user_user_permissions", 1), ("auth_user_user_permissions", 2), ("token_blacklist_outstandingtoken", 5)], "{again}");
        assert_eq!((again.tokens.unchanged, again.tokens.created), (3, 0));

        // A password changed in Tessera survives a re-run, even once Django's password
        // changed too: a conflict, reported.
        assert!(store.set_password_hash(1, "$argon2id$v=19$m=19456,t=2,p=1$new$hash").await.unwrap());
        let last_login = at(engine, "2024-07-01 00:00:00");
        execute(engine, django.url(), &format!("UPDATE auth_user SET last_login = {last_login}, first_name = 'Augusta', password = 'pbkdf2_sha256$1000000$ada2$x=' WHERE id = 1")).await;
        // Django's own password change is taken where Tessera's is still the imported one.
        execute(engine, django.url(), "UPDATE auth_user SET password = 'pbkdf2_sha256$1000000$other$x=' WHERE id = 2").await;
        let data = source.read(None).await.unwrap();
        let third = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!((third.users.updated, third.users.unchanged), (2, 4));
        let conflicts: Vec<i64> = third.warnings.iter().filter(|n| n.message.contains("changed in Django and in Tessera")).map(|n| n.id).collect();
        assert_eq!(conflicts, [1], "{third}");
        let ada = store.user_by_id(1).await.unwrap().unwrap();
        assert_eq!(ada.first_name, "Augusta");
        assert_eq!(ada.last_login, Some(micros("2024-07-01 00:00:00")));
        assert_eq!(ada.password_hash, "$argon2id$v=19$m=19456,t=2,p=1$new$hash");
        assert_eq!(ada.password_changed_at, None);
        let bob = store.user_by_id(2).await.unwrap().unwrap();
        assert_eq!(bob.password_hash, "pbkdf2_sha256$1000000$other$x=");
        assert!(bob.password_changed_at.is_some(), "a replaced password is a password change");
        assert!(store.foreign_token(&"3".repeat(32)).await.unwrap().unwrap().blacklisted_at.is_some());

        // The next registration gets an id past the imported ones.
        let new = store.create_user(&NewUser {
            email: "new@example.com".into(),
            password_hash: "!".into(),
            is_active: true,
            date_joined: Timestamp::from_secs(1),
            ..NewUser::default()
        }).await.unwrap();
        assert_eq!(new.id, 11);
    }

    async fn a_custom_email_user_table_is_found_and_imported(db: &TestDatabase) {
        let engine = db.engine();
        let Some(django) = django_database(engine, true).await else { return };
        let joined = at(engine, "2024-05-01 10:20:30");
        let t = if engine == Engine::Sqlite { "1" } else { "TRUE" };
        let f = if engine == Engine::Sqlite { "0" } else { "FALSE" };
        execute(engine, django.url(), &format!(
            "INSERT INTO authentication_user (id, password, last_login, is_superuser, email, first_name, last_name, is_active, is_staff, date_joined) VALUES \
             (7, '{ADA_HASH}', NULL, {f}, 'grace@example.com', 'Grace', 'Hopper', {t}, {f}, {joined}), \
             (8, '{ADA_HASH}', NULL, {f}, 'taken@example.com', '', '', {t}, {f}, {joined});\n\
             INSERT INTO token_blacklist_outstandingtoken (id, token, created_at, expires_at, user_id, jti) VALUES \
             (1, 'x', NULL, {}, 7, '{}');\n", days_from_now(engine, 1), "6".repeat(32))).await;
        let store = db.store().await;
        // A Tessera user already holds user 8's address (the login name): 8 is skipped.
        store.create_user(&NewUser { email: "taken@example.com".into(), password_hash: "!".into(), is_active: true, ..NewUser::default() }).await.unwrap();
        let auth = service(store.clone(), settings()).await;
        let data = DjangoSource::parse(django.url()).read(None).await.unwrap();
        assert_eq!(data.user_table, "authentication_user");
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!((report.users.created, report.users.skipped, report.tokens.created), (1, 1, 1));
        assert_eq!(report.skipped[0].id, 8);
        let grace = store.user_by_id(7).await.unwrap().unwrap();
        assert_eq!((grace.email.as_str(), grace.username.as_deref(), grace.last_name.as_str()), ("grace@example.com", None, "Hopper"));
        assert!(report.to_string().contains("authentication_user -> users: 1 created"));

        let missing = DjangoSource::parse(django.url()).read(Some("auth_user")).await;
        assert!(missing.unwrap_err().to_string().contains("no table \"auth_user\""));
    }

    async fn a_tessera_user_with_the_same_id_and_another_identity_is_left_alone(db: &TestDatabase) {
        let store = db.store().await;
        let other = store.create_user(&NewUser { email: "other@example.com".into(), password_hash: "!x".into(), is_active: true, ..NewUser::default() }).await.unwrap();
        let auth = service(store.clone(), settings()).await;
        let data = DjangoData {
            user_table: "auth_user".into(),
            users: vec![django_user(other.id, "ada@example.com")],
            ..DjangoData::default()
        };
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!(report.users.skipped, 1);
        assert!(report.skipped[0].message.contains("different user"), "{report}");
        assert_eq!(store.user_by_id(other.id).await.unwrap().unwrap().email, "other@example.com");
    }

    async fn a_dumpdata_file_is_imported(db: &TestDatabase) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dump.json");
        let expires = Timestamp::from_system_time(std::time::SystemTime::now()).as_secs() + 86_400;
        let dump = serde_json::json!([
            {"model": "auth.group", "pk": 1, "fields": {"name": "editors", "permissions": []}},
            {"model": "auth.user", "pk": 3, "fields": {"password": ADA_HASH, "last_login": null,
             "is_superuser": false, "username": "ada", "first_name": "", "last_name": "",
             "email": "ada@example.com", "is_staff": false, "is_active": true,
             "date_joined": "2024-05-01T10:20:30.123Z", "groups": [1], "user_permissions": []}},
            {"model": "token_blacklist.outstandingtoken", "pk": 1, "fields": {"user": 3,
             "jti": "7".repeat(32), "token": "x.y.z", "created_at": null,
             "expires_at": time_text(expires).replace(' ', "T") + "Z"}}
        ]);
        std::fs::write(&path, dump.to_string()).unwrap();
        let data = DjangoSource::parse(path.to_str().unwrap()).read(None).await.unwrap();
        let store = db.store().await;
        let auth = service(store.clone(), settings()).await;
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!((report.users.created, report.tokens.created, report.groups.created), (1, 1, 1));
        assert_eq!(report.group_memberships.created, 1);
        assert_eq!(store.user_grants(3).await.unwrap().groups, ["editors"]);
        let ada = store.user_by_id(3).await.unwrap().unwrap();
        assert_eq!(ada.date_joined, micros("2024-05-01T10:20:30.123Z"));
        assert_eq!(store.foreign_token(&"7".repeat(32)).await.unwrap().unwrap().user_id, 3);
    }

    async fn simplejwt_tokens_keep_working_and_a_refresh_token_is_adopted_once(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let client = ClientInfo::default();

        // An access token made by simplejwt authenticates.
        let access = simplejwt("access", &"a".repeat(32), 300);
        let token = auth.validate_token(&access).unwrap();
        assert_eq!(auth.user_for_token(&token).await.unwrap().id, 7);

        // Its refresh token is adopted into a session, and the answer rotates.
        let refresh = simplejwt("refresh", &"1".repeat(32), 3600);
        let answer = auth.refresh(&refresh, &client).await.unwrap();
        let successor = answer.refresh.expect("rotation");
        let sessions = store.live_sessions(7, auth.now()).await.unwrap();
        assert_eq!(sessions.len(), 1);
        let access = auth.validate_token(&answer.access).unwrap();
        assert_eq!(auth.user_for_token(&access).await.unwrap().id, 7);
        let next = auth.refresh(&successor, &client).await.unwrap();
        assert!(auth.verify(&refresh).await.is_err(), "adopted is rotated away");

        // A second presentation is reuse: refused, and the adopted session ends.
        let again = auth.refresh(&refresh, &client).await.unwrap_err();
        assert!(matches!(again, AuthError::Token(TokenError::Blacklisted)), "{again:?}");
        let session = store.session(&sessions[0].id).await.unwrap().unwrap();
        assert_eq!(session.revoked_reason, Some(tessera_store::RevokeReason::ReuseDetected));
        assert!(auth.refresh(&next.refresh.unwrap(), &client).await.is_err());

        // Blacklisted in Django, never imported, or expired: refused.
        for (jti, life) in [("3".repeat(32), 3600), ("9".repeat(32), 3600), ("2".repeat(32), -10)] {
            let refused = auth.refresh(&simplejwt("refresh", &jti, life), &client).await;
            assert!(refused.is_err(), "{jti}");
        }
        assert_eq!(store.live_sessions(7, auth.now()).await.unwrap().len(), 0);
    }

    async fn concurrent_presentations_adopt_once(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let refresh = simplejwt("refresh", &"1".repeat(32), 3600);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (auth, refresh) = (auth.clone(), refresh.clone());
                tokio::spawn(async move { auth.refresh(&refresh, &ClientInfo::default()).await })
            })
            .collect();
        // One adoption; every presentation that succeeds (those after it, within the reuse
        // grace) gets the same successor, as concurrent refreshes of a Tessera token do.
        let mut successors = std::collections::HashSet::new();
        for task in tasks {
            if let Ok(answer) = task.await.unwrap() {
                successors.insert(answer.refresh.expect("rotation"));
            }
        }
        assert_eq!(successors.len(), 1, "{successors:?}");
        let adopted = store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap();
        let sid = adopted.session_id.expect("adopted");
        assert!(store.session(&sid).await.unwrap().is_some());
        assert_eq!(store.live_sessions(7, auth.now()).await.unwrap().len(), 1);
    }

    async fn a_second_presentation_within_the_grace_gets_the_same_successor(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let client = ClientInfo::default();
        let refresh = simplejwt("refresh", &"1".repeat(32), 3600);

        let first = auth.refresh(&refresh, &client).await.unwrap();
        let second = auth.refresh(&refresh, &client).await.unwrap();

        assert_eq!(first.refresh, second.refresh);
        let access = auth.validate_token(&second.access).unwrap();
        assert_eq!(auth.user_for_token(&access).await.unwrap().id, 7);
        assert_eq!(store.live_sessions(7, auth.now()).await.unwrap().len(), 1);

        // Without a grace the second presentation is reuse at once.
        let strict = Settings {
            simplejwt_cutover: true,
            refresh_reuse_grace: std::time::Duration::ZERO,
            ..settings()
        };
        let store = db.store().await;
        let auth = service(store.clone(), strict).await;
        let token = simplejwt("refresh", &"8".repeat(32), 3600);
        import_token(&auth, &"8".repeat(32)).await;
        auth.refresh(&token, &client).await.unwrap();
        let again = auth.refresh(&token, &client).await.unwrap_err();
        assert!(matches!(again, AuthError::Token(TokenError::Blacklisted)), "{again:?}");

        // Upkeep forgets imported tokens once they expire, and only then.
        assert_eq!(auth.flush_expired().await.unwrap().foreign_tokens, 0);
        let later = auth.now().add_secs(7200);
        assert_eq!(store.flush_expired_foreign_tokens(later).await.unwrap(), 3);
        assert!(store.foreign_token(&"8".repeat(32)).await.unwrap().is_none());
    }

    async fn logout_blacklists_a_simplejwt_refresh_token(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let client = ClientInfo::default();
        let refresh = simplejwt("refresh", &"1".repeat(32), 3600);
        auth.verify(&refresh).await.unwrap();
        auth.blacklist(&refresh, &client).await.unwrap();
        assert!(auth.verify(&refresh).await.is_err(), "verify refuses it as simplejwt's blacklist app");
        assert!(store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap().blacklisted_at.is_some());
        let refused = auth.refresh(&refresh, &client).await.unwrap_err();
        assert!(matches!(refused, AuthError::Token(TokenError::Blacklisted)), "{refused:?}");
    }

    async fn logging_out_everywhere_stops_an_imported_refresh_token(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let client = ClientInfo::default();

        // The user logs out everywhere (a password change does the same) in Tessera.
        store.log_out_everywhere(7, RevokeReason::LogoutAll, auth.now()).await.unwrap();

        let refused = auth.refresh(&simplejwt("refresh", &"1".repeat(32), 3600), &client).await.unwrap_err();
        assert!(matches!(refused, AuthError::Token(TokenError::Blacklisted)), "{refused:?}");
        // A token imported after the change but issued before it is refused as well.
        import_token(&auth, &"8".repeat(32)).await;
        let refused = auth.refresh(&simplejwt("refresh", &"8".repeat(32), 3600), &client).await.unwrap_err();
        assert!(matches!(refused, AuthError::PasswordChanged), "{refused:?}");
        assert!(store.live_sessions(7, auth.now()).await.unwrap().is_empty());
    }

    async fn staff_ending_a_users_sessions_stops_an_imported_refresh_token(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let ada = store.user_by_id(7).await.unwrap().unwrap();

        // Admin "revoke sessions" (deactivating the user ends them the same way).
        auth.revoke_sessions(&ada, tessera_auth::Actor::CommandLine).await.unwrap();

        assert!(store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap().blacklisted_at.is_some());
        let refused = auth.refresh(&simplejwt("refresh", &"1".repeat(32), 3600), &ClientInfo::default()).await.unwrap_err();
        assert!(matches!(refused, AuthError::Token(TokenError::Blacklisted)), "{refused:?}");
        assert!(store.live_sessions(7, auth.now()).await.unwrap().is_empty());
    }

    async fn an_account_tessera_already_had_is_taken_over_only_when_asked_and_keeps_its_flags(db: &TestDatabase) {
        let store = db.store().await;
        let mine = store.create_user(&NewUser { email: "ada@example.com".into(), username: Some("ada".into()), password_hash: "!mine".into(), is_active: true, ..NewUser::default() }).await.unwrap();
        let auth = service(store.clone(), settings()).await;
        let mut django = django_user(mine.id, "ada@example.com");
        (django.is_staff, django.is_superuser) = (true, true);
        let token = DjangoToken { id: 1, jti: "1".repeat(32), user_id: Some(mine.id), expires_at: auth.now().add_secs(3600), blacklisted: false };
        let mut data = DjangoData { user_table: "auth_user".into(), users: vec![django.clone()], tokens: vec![token], ..DjangoData::default() };

        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!((report.users.skipped, report.tokens.skipped), (1, 1));
        assert!(report.skipped[0].message.contains("--merge-existing"), "{report}");
        let kept = store.user_by_id(mine.id).await.unwrap().unwrap();
        assert!(!kept.is_staff && !kept.is_superuser);
        assert!(store.foreign_token(&"1".repeat(32)).await.unwrap().is_none(), "its Django tokens are not adoptable");

        // Linked on request: the account keeps Tessera's password and flags, also when
        // Django's row changes later.
        let merge = ImportOptions::default().merge_existing(true);
        let report = auth.import_django(&data, &merge).await.unwrap();
        assert_eq!((report.users.updated, report.tokens.created), (1, 1));
        data.users[0].first_name = "Augusta".into();
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();
        assert_eq!(report.users.updated, 1);
        let linked = store.user_by_id(mine.id).await.unwrap().unwrap();
        assert!(!linked.is_staff && !linked.is_superuser, "{linked:?}");
        assert_eq!((linked.password_hash.as_str(), linked.first_name.as_str()), ("!mine", "Augusta"));
    }

    async fn a_token_blacklisted_in_django_after_its_adoption_ends_the_session_at_the_next_import(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        auth.refresh(&simplejwt("refresh", &"1".repeat(32), 3600), &ClientInfo::default()).await.unwrap();
        let sid = store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap().session_id.unwrap();

        let data = DjangoData {
            user_table: "auth_user".into(),
            users: vec![django_user(7, "ada@example.com")],
            tokens: vec![DjangoToken { id: 1, jti: "1".repeat(32), user_id: Some(7), expires_at: auth.now().add_secs(3600), blacklisted: true }],
            ..DjangoData::default()
        };
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();

        assert_eq!(report.tokens.updated, 1);
        let session = store.session(&sid).await.unwrap().unwrap();
        assert_eq!(session.revoked_reason, Some(RevokeReason::Blacklisted));
        assert!(store.live_sessions(7, auth.now()).await.unwrap().is_empty());
    }

    async fn blacklisting_an_adopted_token_ends_its_session_in_the_same_write(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        auth.refresh(&simplejwt("refresh", &"1".repeat(32), 3600), &ClientInfo::default()).await.unwrap();

        let row = store.blacklist_foreign_token(&"1".repeat(32), 7, RevokeReason::Logout, auth.now()).await.unwrap().unwrap();

        assert!(row.blacklisted_at.is_some());
        let session = store.session(row.session_id.as_deref().unwrap()).await.unwrap().unwrap();
        assert_eq!(session.revoked_reason, Some(RevokeReason::Logout));
        // Another user's token, or one never imported: nothing.
        assert!(store.blacklist_foreign_token(&"1".repeat(32), 8, RevokeReason::Logout, auth.now()).await.unwrap().is_none());
        assert!(store.blacklist_foreign_token(&"9".repeat(32), 7, RevokeReason::Logout, auth.now()).await.unwrap().is_none());
    }

    async fn a_password_replaced_by_a_re_import_is_a_password_change(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        auth.refresh(&simplejwt("refresh", &"1".repeat(32), 3600), &ClientInfo::default()).await.unwrap();
        assert_eq!(store.live_sessions(7, auth.now()).await.unwrap().len(), 1);

        let mut ada = django_user(7, "ada@example.com");
        ada.password = "pbkdf2_sha256$1000000$changed$x=".into();
        let data = DjangoData { user_table: "auth_user".into(), users: vec![ada], ..DjangoData::default() };
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();

        assert_eq!(report.users.updated, 1);
        let user = store.user_by_id(7).await.unwrap().unwrap();
        assert_eq!(user.password_hash, "pbkdf2_sha256$1000000$changed$x=");
        assert!(user.password_changed_at.is_some());
        assert!(store.live_sessions(7, auth.now()).await.unwrap().is_empty());
        assert!(store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap().blacklisted_at.is_some());
    }

    async fn a_user_deactivated_in_django_loses_their_sessions_at_the_next_import(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        auth.refresh(&simplejwt("refresh", &"1".repeat(32), 3600), &ClientInfo::default()).await.unwrap();

        let mut ada = django_user(7, "ada@example.com");
        ada.is_active = false;
        let data = DjangoData { user_table: "auth_user".into(), users: vec![ada], ..DjangoData::default() };
        auth.import_django(&data, &ImportOptions::default()).await.unwrap();

        assert!(!store.user_by_id(7).await.unwrap().unwrap().is_active);
        assert!(store.live_sessions(7, auth.now()).await.unwrap().is_empty());
    }

    async fn a_deleted_users_id_is_not_given_to_an_imported_user(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), settings()).await;
        let gone = store.create_user(&NewUser { email: "gone@example.com".into(), password_hash: "!".into(), is_active: true, ..NewUser::default() }).await.unwrap();
        auth.delete_user(&gone, tessera_auth::Actor::CommandLine).await.unwrap();
        auth.audit_log().flush().await;

        let data = DjangoData { user_table: "auth_user".into(), users: vec![django_user(gone.id, "ada@example.com"), django_user(gone.id + 1, "bea@example.com")], ..DjangoData::default() };
        let mut data = data;
        data.users[1].username = Some("bea".into());
        let report = auth.import_django(&data, &ImportOptions::default()).await.unwrap();

        assert_eq!((report.users.skipped, report.users.created), (1, 1));
        assert!(report.skipped[0].message.contains("never reused"), "{report}");
        assert!(store.user_by_id(gone.id).await.unwrap().is_none());
    }

    async fn unverifiable_password_formats_are_counted_by_the_dry_run_and_the_run(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), settings()).await;
        let mut users = Vec::new();
        for (id, password) in [(1, "md5$salt$0123456789abcdef0123456789abcdef"), (2, "0123456789abcdef0123456789abcdef"), (3, ADA_HASH)] {
            let mut user = django_user(id, &format!("u{id}@example.com"));
            user.username = Some(format!("u{id}"));
            user.password = password.into();
            users.push(user);
        }
        let data = DjangoData { user_table: "auth_user".into(), users, ..DjangoData::default() };

        let dry = auth.import_django(&data, &ImportOptions::default().dry_run(true)).await.unwrap();
        let real = auth.import_django(&data, &ImportOptions::default()).await.unwrap();

        for report in [&dry, &real] {
            let counted: Vec<(&str, u64)> = report.unverifiable_passwords.iter().map(|(f, n)| (f.as_str(), *n)).collect();
            assert_eq!(counted, [("md5", 1), ("unsalted_md5", 1)]);
            assert!(report.to_string().contains("cannot verify"), "{report}");
        }
    }

    async fn the_successor_of_an_adopted_token_carries_tesseras_claims_not_djangos(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), Settings { simplejwt_cutover: true, ..settings() }).await;
        import_ada(&auth).await;
        let claims = serde_json::json!({"role": "admin", "groups": ["admins"], "permissions": ["auth.delete_user"]});
        let token = simplejwt_with("refresh", &"1".repeat(32), 3600, claims);

        let answer = auth.refresh(&token, &ClientInfo::default()).await.unwrap();

        for issued in [answer.refresh.unwrap(), answer.access] {
            let issued = auth.backend().decode_untyped(&issued, auth.now()).unwrap();
            for claim in ["role", "groups", "permissions"] {
                assert_eq!(issued.get(claim), None, "{claim}: {issued:?}");
            }
            assert_eq!(issued.user_id(auth.backend()).as_deref(), Some("7"));
        }
    }

    /// An account linked with `--merge-existing` keeps Tessera's grants: Django's are not
    /// added. A user the run creates gets at most `MAX_GRANTS` of each; the rest is
    /// reported.
    async fn merged_accounts_inherit_no_grants_and_new_users_get_at_most_max_grants(db: &TestDatabase) {
        use tessera_store::MAX_GRANTS;
        use tessera_store::django::{DjangoGrants, DjangoGroup};
        let store = db.store().await;
        let tessera_ada = store.create_user(&NewUser { email: "ada@example.com".into(), username: Some("ada".into()), password_hash: "!".into(), is_active: true, ..NewUser::default() }).await.unwrap();
        let auth = service(store.clone(), settings()).await;
        let mut bob = django_user(tessera_ada.id + 1, "bob@example.com");
        bob.username = Some("bob".into());
        let mut user_permissions: Vec<(i64, String)> = (0..MAX_GRANTS + 5).map(|i| (bob.id, format!("notes.p{i:04}"))).collect();
        user_permissions.push((tessera_ada.id, "auth.delete_user".into()));
        let data = DjangoData {
            user_table: "auth_user".into(),
            users: vec![django_user(tessera_ada.id, "ada@example.com"), bob.clone()],
            grants: DjangoGrants {
                groups: vec![DjangoGroup { id: 1, name: "admins".into(), permissions: vec!["auth.delete_user".into()] }],
                memberships: vec![(tessera_ada.id, 1), (bob.id, 1)],
                user_permissions,
                unresolved: vec![],
            },
            ..DjangoData::default()
        };
        let report = auth.import_django(&data, &ImportOptions::default().merge_existing(true)).await.unwrap();
        assert_eq!((report.users.created, report.users.updated), (1, 1), "{report}");
        assert_eq!(store.user_grants(tessera_ada.id).await.unwrap(), tessera_store::Grants::default(), "the merged account inherits nothing");
        assert!(store.effective_permissions(tessera_ada.id).await.unwrap().is_empty());
        let bob_grants = store.user_grants(bob.id).await.unwrap();
        assert_eq!((bob_grants.groups.len(), bob_grants.permissions.len()), (1, MAX_GRANTS));
        assert_eq!(report.group_memberships, tessera_auth::django_import::TableCounts { created: 1, skipped: 1, ..Default::default() });
        assert_eq!(report.user_permissions, tessera_auth::django_import::TableCounts { created: MAX_GRANTS as u64, skipped: 6, ..Default::default() });
        let notes: Vec<&str> = report.skipped.iter().filter(|n| n.table == "auth_user_user_permissions").map(|n| n.message.as_str()).collect();
        assert_eq!(notes.len(), 2, "{report}");
        assert!(notes.iter().any(|n| n.starts_with("1 row(s) left out: the user was not created")), "{notes:?}");
        assert!(notes.iter().any(|n| n.starts_with("5 row(s) left out: the user holds more than 1000")), "{notes:?}");
    }

    async fn without_the_cutover_a_sessionless_refresh_token_is_refused_as_before(db: &TestDatabase) {
        let store = db.store().await;
        let auth = service(store.clone(), settings()).await;
        import_ada(&auth).await;
        let refresh = simplejwt("refresh", &"1".repeat(32), 3600);
        let refused = auth.refresh(&refresh, &ClientInfo::default()).await.unwrap_err();
        assert!(matches!(refused, AuthError::Token(TokenError::Invalid)), "{refused:?}");
        assert!(auth.blacklist(&refresh, &ClientInfo::default()).await.is_err());
        auth.verify(&refresh).await.unwrap();
        let row = store.foreign_token(&"1".repeat(32)).await.unwrap().unwrap();
        assert_eq!((row.adopted_at, row.blacklisted_at), (None, None));
    }
}

fn django_user(id: i64, email: &str) -> DjangoUser {
    DjangoUser {
        id,
        username: Some("ada".into()),
        email: email.into(),
        first_name: String::new(),
        last_name: String::new(),
        password: ADA_HASH.into(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        date_joined: Some(Timestamp::from_secs(1_700_000_000)),
        last_login: None,
    }
}

/// Imports user 7 and its tokens `1…` (live), `3…` (blacklisted in Django).
async fn import_ada(auth: &Auth) {
    let later = auth.now().add_secs(3600);
    let token = |id: i64, digit: &str, blacklisted: bool| DjangoToken {
        id,
        jti: digit.repeat(32),
        user_id: Some(7),
        expires_at: later,
        blacklisted,
    };
    let data = DjangoData {
        user_table: "auth_user".into(),
        users: vec![django_user(7, "ada@example.com")],
        tokens: vec![token(1, "1", false), token(3, "3", true)],
        ..DjangoData::default()
    };
    let report = auth
        .import_django(&data, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!((report.users.created, report.tokens.created), (1, 2));
}

/// A token exactly as simplejwt 5.x makes it for user 7: `token_type`, `exp`, `iat`, `jti`
/// (a UUID's hex), `user_id` (an integer), HS256 with the project's key.
fn simplejwt(token_type: &str, jti: &str, lifetime: i64) -> String {
    simplejwt_with(token_type, jti, lifetime, serde_json::json!({}))
}

/// [`simplejwt`] with the claims of `extra` added (a project's `get_token` override).
fn simplejwt_with(token_type: &str, jti: &str, lifetime: i64, extra: serde_json::Value) -> String {
    let now = Timestamp::from_system_time(std::time::SystemTime::now()).as_secs();
    let mut claims = serde_json::json!({
        "token_type": token_type,
        "exp": now + lifetime,
        "iat": now - 5,
        "jti": jti,
        "user_id": 7,
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET_KEY.as_bytes()),
    )
    .unwrap()
}

/// Imports (again) user 7 with one more live token, `jti`.
async fn import_token(auth: &Auth, jti: &str) {
    let data = DjangoData {
        user_table: "auth_user".into(),
        users: vec![django_user(7, "ada@example.com")],
        tokens: vec![DjangoToken {
            id: 8,
            jti: jti.into(),
            user_id: Some(7),
            expires_at: auth.now().add_secs(3600),
            blacklisted: false,
        }],
        ..DjangoData::default()
    };
    let report = auth
        .import_django(&data, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(report.tokens.created, 1);
}
