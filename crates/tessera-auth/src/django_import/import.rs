//! `tessera import django`: a Django project's users (ids, password hashes, flags, dates),
//! their groups and permissions (`grants.rs`) and simplejwt outstanding tokens, taken over
//! so that nobody is logged out.
//!
//! Rows already read ([`DjangoData`]) are written in one transaction, rolled back for a dry
//! run. A re-run leaves unchanged rows alone and updates a user whose Django row changed —
//! but takes Django's password again only when Django's value changed since the last
//! import *and* Tessera's hash is still the one the import wrote (compare-and-set; else a
//! conflict is reported and Tessera's kept). Replacing a password ends the user's sessions.
//! A Tessera account that was not imported is never taken over unless the operator asks
//! (`merge_existing`), and then keeps its staff and superuser flags. Groups, memberships
//! and permissions are imported only with the users and groups a run creates
//! (`grants.rs`).

use std::collections::HashSet;

use tessera_core::Timestamp;
use tessera_store::django::{
    DjangoData, DjangoImport, DjangoToken, DjangoUser, ImportRecord, ImportedUser, MAX_JTI_CHARS,
    OUTSTANDING_TABLE,
};
use tessera_store::{RevokeReason, User, normalize_email};

use super::grants::import_grants;
use super::report::{ImportNote, ImportReport, TableCounts};
use crate::audit::{Audit, event};
use crate::error::AuthError;
use crate::rules::{EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, validate_email};
use crate::secret::sha256_hex;
use crate::service::Auth;

/// How [`Auth::import_django`] runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Write nothing; report what a real run would do (`--dry-run`). Defaults to `false`.
    pub dry_run: bool,
    /// Link a Django user to the Tessera account that already has its id and its e-mail
    /// address or username, instead of skipping it (`--merge-existing`). The account
    /// keeps its password, e-mail address, username and staff and superuser flags; it is
    /// deactivated when Django's user is. Defaults to `false`.
    pub merge_existing: bool,
}

impl ImportOptions {
    /// These options with `dry_run` set.
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// These options with `merge_existing` set.
    #[must_use]
    pub fn merge_existing(mut self, merge_existing: bool) -> Self {
        self.merge_existing = merge_existing;
        self
    }
}

impl Auth {
    /// Imports a Django project's users and outstanding simplejwt refresh tokens (see the
    /// module documentation); with [`ImportOptions::dry_run`], writes nothing and reports
    /// what a real run would do. Users keep their ids and their password values verbatim;
    /// tokens are kept by `jti` (expired ones are left out) for [`Auth::refresh`] to adopt
    /// under `simplejwt_cutover`.
    ///
    /// # Errors
    /// The database error; nothing is written then.
    pub async fn import_django(
        &self,
        data: &DjangoData,
        options: &ImportOptions,
    ) -> Result<ImportReport, AuthError> {
        let now = self.now();
        let mut report = ImportReport {
            dry_run: options.dry_run,
            user_table: data.user_table.clone(),
            ..ImportReport::default()
        };
        let mut tx = self.store().begin_django_import().await?;
        let mut present = HashSet::new();
        // The users this run creates: only they get Django's grants.
        let mut created = HashSet::new();
        for user in &data.users {
            let mut run = UserImport {
                tx: &mut tx,
                table: &data.user_table,
                now,
                options,
                report: &mut report,
            };
            match run.user(user).await? {
                Outcome::Skipped(reason) => {
                    report.users.skipped += 1;
                    report.skipped.push(note(&data.user_table, user.id, reason));
                }
                done => {
                    present.insert(user.id);
                    if done == Outcome::Created {
                        created.insert(user.id);
                    }
                    count_password_format(&mut report, &data.user_table, user);
                    let counts = &mut report.users;
                    match done {
                        Outcome::Created => counts.created += 1,
                        Outcome::Updated => counts.updated += 1,
                        _ => counts.unchanged += 1,
                    }
                }
            }
        }
        import_grants(
            &mut tx,
            &data.grants,
            &data.user_table,
            &created,
            &mut report,
        )
        .await?;
        for token in &data.tokens {
            if token.expires_at <= now {
                report.tokens.skipped += 1;
                report.expired_tokens += 1;
                continue;
            }
            match import_token(&mut tx, token, &present, now).await? {
                Outcome::Skipped(reason) => {
                    report.tokens.skipped += 1;
                    report
                        .skipped
                        .push(note(OUTSTANDING_TABLE, token.id, reason));
                }
                Outcome::Created => report.tokens.created += 1,
                Outcome::Updated => report.tokens.updated += 1,
                Outcome::Unchanged => report.tokens.unchanged += 1,
            }
        }
        if options.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
            let counts = |c: &TableCounts| {
                serde_json::json!({"created": c.created, "updated": c.updated,
                                   "unchanged": c.unchanged, "skipped": c.skipped})
            };
            let detail = serde_json::json!({
                "user_table": report.user_table,
                "users": counts(&report.users),
                "tokens": counts(&report.tokens),
                "groups": counts(&report.groups),
                "group_memberships": counts(&report.group_memberships),
                "user_permissions": counts(&report.user_permissions),
                "merge_existing": options.merge_existing,
            });
            self.audit(
                Audit::new(event::ADMIN_DJANGO_IMPORTED)
                    .detail(detail)
                    .via_cli(),
            )
            .await;
        }
        Ok(report)
    }
}

/// What became of one row.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped(String),
}

/// Counts `outcome` in `counts`.
pub(super) fn count(counts: &mut TableCounts, outcome: &Outcome) {
    match outcome {
        Outcome::Created => counts.created += 1,
        Outcome::Updated => counts.updated += 1,
        Outcome::Unchanged => counts.unchanged += 1,
        Outcome::Skipped(_) => counts.skipped += 1,
    }
}

pub(super) fn note(table: &str, id: i64, message: String) -> ImportNote {
    ImportNote {
        table: table.to_owned(),
        id,
        message,
    }
}

/// The Django password formats Tessera verifies (`tessera_store`'s password module).
const VERIFIED_FORMATS: [&str; 6] = [
    "pbkdf2_sha256",
    "pbkdf2_sha1",
    "argon2",
    "bcrypt_sha256",
    "bcrypt",
    "scrypt",
];

/// The format of a Django `password` value as Django names its hasher (`pbkdf2_sha256`,
/// `md5`, `unsalted_md5` …); `None` for an unusable password (`""`, `"!…"`).
fn password_format(encoded: &str) -> Option<&str> {
    if encoded.is_empty() || encoded.starts_with('!') {
        return None;
    }
    Some(match encoded.split_once('$') {
        // Django's UnsaltedSHA1PasswordHasher writes `sha1$$<hex>`.
        Some(("sha1", rest)) if rest.starts_with('$') => "unsalted_sha1",
        Some((algorithm, _)) if !algorithm.is_empty() => algorithm,
        Some(_) => "unknown",
        None if encoded.len() == 32 && encoded.bytes().all(|b| b.is_ascii_hexdigit()) => {
            "unsalted_md5"
        }
        None => "unknown",
    })
}

/// Counts an imported user's password format when Tessera cannot verify it (the user
/// must reset their password), with a warning naming the user.
fn count_password_format(report: &mut ImportReport, table: &str, user: &DjangoUser) {
    let Some(format) = password_format(&user.password) else {
        return;
    };
    if VERIFIED_FORMATS.contains(&format) {
        return;
    }
    // A format name from the data is bounded and printable before it is kept.
    let format: String = format
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect();
    *report
        .unverifiable_passwords
        .entry(format.clone())
        .or_default() += 1;
    report.warnings.push(note(
        table,
        user.id,
        format!(
            "its password hash ({format}) is one Tessera cannot verify: \
             the user must reset their password"
        ),
    ));
}

/// The digest of everything of a Django user row but its password.
fn row_digest(user: &DjangoUser) -> String {
    let fields = serde_json::json!([
        user.email,
        user.username,
        user.first_name,
        user.last_name,
        user.is_active,
        user.is_staff,
        user.is_superuser,
        user.date_joined.map(Timestamp::as_micros),
        user.last_login.map(Timestamp::as_micros),
    ]);
    sha256_hex(fields.to_string().as_bytes())
}

/// Whether Tessera can hold `username` as Django stored it: Django's validator runs in
/// forms, not in `create_user()`, so any text up to the column's 150 characters may be
/// there; login compares it exactly. Control characters are refused.
fn holdable_username(username: &str) -> bool {
    username.chars().count() <= USERNAME_MAX_LENGTH && !username.chars().any(char::is_control)
}

/// The row as Tessera stores it (and a warning, when its e-mail address was dropped), or
/// why it cannot be.
fn checked(user: &DjangoUser, now: Timestamp) -> Result<(ImportedUser, Option<String>), String> {
    let username = user.username.clone().filter(|u| !u.is_empty());
    if let Some(username) = &username
        && !holdable_username(username)
    {
        return Err(
            "the username is not one Tessera can hold (at most 150 characters, \
             no control characters)"
                .into(),
        );
    }
    let mut email = normalize_email(&user.email);
    let mut warning = None;
    if !email.is_empty() && (email.chars().count() > EMAIL_MAX_LENGTH || !validate_email(&email)) {
        if username.is_none() {
            return Err(
                "the e-mail address is not valid, and the user table has no username".into(),
            );
        }
        email.clear();
        warning =
            Some("its e-mail address is not valid; imported without an e-mail address".into());
    }
    if email.is_empty() && username.is_none() {
        return Err("no e-mail address and no username".into());
    }
    let imported = ImportedUser {
        id: user.id,
        email,
        username,
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        password_hash: user.password.clone(),
        is_active: user.is_active,
        is_staff: user.is_staff,
        is_superuser: user.is_superuser,
        date_joined: user.date_joined.or(user.last_login).unwrap_or(now),
        last_login: user.last_login,
    };
    Ok((imported, warning))
}

/// `imported` with Tessera's e-mail address, username, password and staff and superuser
/// flags of `current`; active only while both are.
fn merged_into(current: &User, imported: ImportedUser) -> ImportedUser {
    ImportedUser {
        email: current.email.clone(),
        username: current.username.clone(),
        password_hash: current.password_hash.clone(),
        is_active: current.is_active && imported.is_active,
        is_staff: current.is_staff,
        is_superuser: current.is_superuser,
        ..imported
    }
}

/// One user's import: the transaction, and where its notes go.
struct UserImport<'a> {
    tx: &'a mut DjangoImport,
    table: &'a str,
    now: Timestamp,
    options: &'a ImportOptions,
    report: &'a mut ImportReport,
}

impl UserImport<'_> {
    fn warn(&mut self, id: i64, message: String) {
        self.report.warnings.push(note(self.table, id, message));
    }

    /// Makes the e-mail address of `user` one no other Tessera user holds: with a
    /// username, an address someone else holds is dropped (a warning); without one it is
    /// the login name, and the row is skipped.
    async fn claim_email(
        &mut self,
        user: &mut ImportedUser,
    ) -> Result<Result<(), String>, AuthError> {
        if user.email.is_empty() {
            return Ok(Ok(()));
        }
        match self.tx.email_owner(&user.email).await? {
            Some(owner) if owner != user.id => {
                if user.username.is_none() {
                    return Ok(Err(format!(
                        "its e-mail address belongs to Tessera user {owner}"
                    )));
                }
                user.email.clear();
                self.warn(
                    user.id,
                    format!(
                        "its e-mail address is also user {owner}'s; imported without an e-mail address"
                    ),
                );
                Ok(Ok(()))
            }
            _ => Ok(Ok(())),
        }
    }

    async fn user(&mut self, user: &DjangoUser) -> Result<Outcome, AuthError> {
        let (mut imported, warning) = match checked(user, self.now) {
            Ok(checked) => checked,
            Err(reason) => return Ok(Outcome::Skipped(reason)),
        };
        let mut record = ImportRecord {
            row_digest: row_digest(user),
            password_digest: sha256_hex(user.password.as_bytes()),
            merged: false,
        };
        let existing = self.tx.user(user.id).await?;
        let earlier = self.tx.record(user.id).await?;
        // The hash Tessera holds now, when Django's changed and may replace it.
        let mut replace_password: Option<String> = None;
        match (&existing, &earlier) {
            (Some(_), Some(earlier))
                if earlier.row_digest == record.row_digest
                    && earlier.password_digest == record.password_digest =>
            {
                return Ok(Outcome::Unchanged);
            }
            (Some(current), Some(earlier)) => {
                record.merged = earlier.merged;
                if earlier.row_digest == record.row_digest {
                    // Only the password changed in Django: the rest stays as Tessera has it.
                    imported = ImportedUser {
                        id: current.id,
                        email: current.email.clone(),
                        username: current.username.clone(),
                        first_name: current.first_name.clone(),
                        last_name: current.last_name.clone(),
                        password_hash: imported.password_hash,
                        is_active: current.is_active,
                        is_staff: current.is_staff,
                        is_superuser: current.is_superuser,
                        date_joined: current.date_joined,
                        last_login: current.last_login,
                    };
                } else if earlier.merged {
                    imported = ImportedUser {
                        is_staff: current.is_staff,
                        is_superuser: current.is_superuser,
                        ..imported
                    };
                }
                if earlier.password_digest != record.password_digest {
                    let held = current.password_hash.clone();
                    if sha256_hex(held.as_bytes()) == earlier.password_digest {
                        replace_password = Some(held);
                    } else {
                        self.warn(
                            user.id,
                            "its password changed in Django and in Tessera since the last \
                             import; Tessera's was kept"
                                .into(),
                        );
                    }
                }
            }
            (Some(current), None) => {
                let same_email = !imported.email.is_empty() && imported.email == current.email;
                let same_name =
                    imported.username.is_some() && imported.username == current.username;
                if !same_email && !same_name {
                    return Ok(Outcome::Skipped(
                        "Tessera already has a different user with this id".into(),
                    ));
                }
                if !self.options.merge_existing {
                    return Ok(Outcome::Skipped(
                        "Tessera already has an account with this id and its e-mail address \
                         or username; pass --merge-existing to link them"
                            .into(),
                    ));
                }
                // The same account, made in Tessera: it stays Tessera's.
                imported = merged_into(current, imported);
                record.merged = true;
            }
            (None, _) => {
                if self.tx.user_id_was_used(user.id).await? {
                    return Ok(Outcome::Skipped(
                        "Tessera had a user with this id (deleted since: the audit log names \
                         it); ids are never reused"
                            .into(),
                    ));
                }
            }
        }
        if let Some(warning) = warning {
            self.warn(user.id, warning);
        }
        if let Err(reason) = self.claim_email(&mut imported).await? {
            return Ok(Outcome::Skipped(reason));
        }
        if let Some(username) = &imported.username
            && let Some(owner) = self.tx.username_owner(username).await?
            && owner != user.id
        {
            return Ok(Outcome::Skipped(format!(
                "its username belongs to Tessera user {owner}"
            )));
        }
        let outcome = if let Some(current) = &existing {
            self.tx.update_user(&imported).await?;
            if current.is_active && !imported.is_active {
                // Deactivated in Django: as a deactivation in Tessera, every session ends.
                self.tx
                    .end_sessions(user.id, RevokeReason::Deactivated, self.now)
                    .await?;
            }
            if let Some(held) = replace_password {
                // Compare-and-set: a password changed in Tessera meanwhile is kept.
                let replaced = self
                    .tx
                    .replace_password(user.id, &held, &imported.password_hash, self.now)
                    .await?;
                if !replaced {
                    self.warn(
                        user.id,
                        "its password changed in Tessera during the import; Tessera's was kept"
                            .into(),
                    );
                }
            }
            Outcome::Updated
        } else {
            self.tx.insert_user(&imported).await?;
            Outcome::Created
        };
        self.tx.save_record(user.id, &record, self.now).await?;
        Ok(outcome)
    }
}

async fn import_token(
    tx: &mut DjangoImport,
    token: &DjangoToken,
    present: &HashSet<i64>,
    now: Timestamp,
) -> Result<Outcome, AuthError> {
    let Some(user_id) = token.user_id else {
        return Ok(Outcome::Skipped("the token names no user".into()));
    };
    if !present.contains(&user_id) {
        return Ok(Outcome::Skipped(format!(
            "its user {user_id} was not imported"
        )));
    }
    if token.jti.is_empty() || token.jti.chars().count() > MAX_JTI_CHARS {
        return Ok(Outcome::Skipped("its jti is empty or too long".into()));
    }
    match tx.foreign_token(&token.jti).await? {
        Some(row) if row.user_id != user_id => Ok(Outcome::Skipped(format!(
            "its jti was imported for user {}",
            row.user_id
        ))),
        Some(row) if token.blacklisted && row.blacklisted_at.is_none() => {
            // Blacklisted in Django after the cut-over adopted it: its session ends too.
            tx.blacklist_foreign_token(&token.jti, user_id, now).await?;
            Ok(Outcome::Updated)
        }
        Some(_) => Ok(Outcome::Unchanged),
        None => {
            let blacklisted_at = token.blacklisted.then_some(now);
            tx.insert_foreign_token(&token.jti, user_id, token.expires_at, blacklisted_at, now)
                .await?;
            Ok(Outcome::Created)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn django_user() -> DjangoUser {
        DjangoUser {
            id: 3,
            username: Some("ada".into()),
            email: "ada@EXAMPLE.com".into(),
            first_name: "Ada".into(),
            last_name: "L".into(),
            password: "pbkdf2_sha256$870000$salt$hash=".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: Some(Timestamp::from_secs(1_700_000_000)),
            last_login: None,
        }
    }

    #[test]
    fn a_valid_row_is_kept_verbatim_but_for_the_email_domain() {
        let (row, warning) = checked(&django_user(), Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(row.email, "ada@example.com");
        assert_eq!(row.password_hash, "pbkdf2_sha256$870000$salt$hash=");
        assert_eq!(row.date_joined, Timestamp::from_secs(1_700_000_000));
        assert_eq!(warning, None);
    }

    #[test]
    fn usernames_django_stored_are_kept_as_they_are() {
        // `create_user()` skips the username validator: Django holds such names.
        for name in ["john doe", "ada!", "名前", &"a".repeat(150)] {
            let mut user = django_user();
            user.username = Some(name.to_owned());
            let (row, _) = checked(&user, Timestamp::UNIX_EPOCH).unwrap();
            assert_eq!(row.username.as_deref(), Some(name));
        }
    }

    #[test]
    fn an_invalid_address_is_dropped_with_a_warning_when_there_is_a_username() {
        let mut user = django_user();
        user.email = "not-an-address".into();
        let (row, warning) = checked(&user, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(row.email, "");
        assert!(warning.unwrap().contains("not valid"));
    }

    #[test]
    fn rows_tessera_cannot_hold_are_refused_with_a_reason() {
        let mut too_long = django_user();
        too_long.username = Some("a".repeat(151));
        let mut control = django_user();
        control.username = Some("ada\u{0}".into());
        let mut bad_email_no_name = django_user();
        bad_email_no_name.username = None;
        bad_email_no_name.email = "not-an-address".into();
        let mut nothing = django_user();
        nothing.username = None;
        nothing.email = String::new();
        for row in [too_long, control, bad_email_no_name, nothing] {
            assert!(checked(&row, Timestamp::UNIX_EPOCH).is_err(), "{row:?}");
        }
    }

    #[test]
    fn password_formats_are_named_as_django_names_its_hashers() {
        for (encoded, format) in [
            ("pbkdf2_sha256$870000$salt$hash=", Some("pbkdf2_sha256")),
            ("md5$salt$0123", Some("md5")),
            ("sha1$salt$0123", Some("sha1")),
            (
                "sha1$$0123456789abcdef0123456789abcdef01234567",
                Some("unsalted_sha1"),
            ),
            ("0123456789abcdef0123456789abcdef", Some("unsalted_md5")),
            ("crypt$$ab1234567890", Some("crypt")),
            ("nonsense", Some("unknown")),
            ("!unusable", None),
            ("", None),
        ] {
            assert_eq!(password_format(encoded), format, "{encoded}");
        }
    }

    #[test]
    fn unverifiable_formats_are_counted_and_warned_about_verified_ones_are_not() {
        let mut report = ImportReport::default();
        for password in [
            "md5$s$h",
            "md5$t$h",
            "crypt$$xy",
            "pbkdf2_sha256$1$s$h",
            "!x",
        ] {
            let mut user = django_user();
            user.password = password.into();
            count_password_format(&mut report, "auth_user", &user);
        }
        assert_eq!(report.unverifiable_passwords.get("md5"), Some(&2));
        assert_eq!(report.unverifiable_passwords.get("crypt"), Some(&1));
        assert_eq!(report.unverifiable_passwords.len(), 2);
        assert_eq!(report.warnings.len(), 3);
    }

    #[test]
    fn the_row_digest_ignores_the_password_and_sees_every_other_field() {
        let user = django_user();
        let mut other_password = user.clone();
        other_password.password = "!unusable".into();
        assert_eq!(row_digest(&user), row_digest(&other_password));
        let mut logged_in = user.clone();
        logged_in.last_login = Some(Timestamp::from_secs(1));
        assert_ne!(row_digest(&user), row_digest(&logged_in));
    }
}
