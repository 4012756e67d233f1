//! What an import did (or, for a dry run, would do), table by table.

use std::collections::BTreeMap;
use std::fmt;

/// Rows of one source table, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// Rows written anew.
    pub created: u64,
    /// Rows written over an earlier import of theirs.
    pub updated: u64,
    /// Rows already imported as they are.
    pub unchanged: u64,
    /// Rows left out (see [`ImportReport::skipped`]).
    pub skipped: u64,
}

/// One source row the report names, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportNote {
    /// The source table (`auth_user`, `token_blacklist_outstandingtoken`).
    pub table: String,
    /// The row's primary key there.
    pub id: i64,
    /// What happened to it, or why it was left out.
    pub message: String,
}

/// The report of [`Auth::import_django`](crate::Auth::import_django). Its `Display` is the
/// text `tessera import django` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// The user table read.
    pub user_table: String,
    /// Its rows into `users`.
    pub users: TableCounts,
    /// `token_blacklist_outstandingtoken` into `foreign_refresh_tokens`.
    pub tokens: TableCounts,
    /// Of the skipped tokens, those already expired (counted, not listed).
    pub expired_tokens: u64,
    /// `auth_group` into `groups`, matched by name.
    pub groups: TableCounts,
    /// The user table's group memberships (`auth_user_groups`) into `user_groups`.
    pub group_memberships: TableCounts,
    /// The user table's direct permissions (`auth_user_user_permissions`) into
    /// `user_permissions`.
    pub user_permissions: TableCounts,
    /// Every row left out (expired tokens aside), and why.
    pub skipped: Vec<ImportNote>,
    /// Rows imported with a change or a caveat: an e-mail address dropped (shared with
    /// another user, or not valid), a password hash Tessera cannot verify, a password
    /// changed on both sides (Tessera's kept).
    pub warnings: Vec<ImportNote>,
    /// Imported users whose password hash is in a format Tessera cannot verify (`md5`,
    /// `unsalted_md5`, `crypt` …), counted by format: they must reset their password.
    pub unverifiable_passwords: BTreeMap<String, u64>,
}

impl fmt::Display for TableCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged, {} skipped",
            self.created, self.updated, self.unchanged, self.skipped
        )
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "Dry run: nothing was written. A real run would do this:")?;
        }
        writeln!(f, "{} -> users: {}", self.user_table, self.users)?;
        write!(
            f,
            "token_blacklist_outstandingtoken -> foreign_refresh_tokens: {}",
            self.tokens
        )?;
        if self.expired_tokens > 0 {
            write!(f, " ({} expired)", self.expired_tokens)?;
        }
        writeln!(f)?;
        writeln!(f, "auth_group -> groups: {}", self.groups)?;
        writeln!(
            f,
            "{}_groups -> user_groups: {}",
            self.user_table, self.group_memberships
        )?;
        writeln!(
            f,
            "{}_user_permissions -> user_permissions: {}",
            self.user_table, self.user_permissions
        )?;
        if !self.unverifiable_passwords.is_empty() {
            let counts: Vec<String> = self
                .unverifiable_passwords
                .iter()
                .map(|(format, n)| format!("{format}: {n}"))
                .collect();
            writeln!(
                f,
                "Password hashes Tessera cannot verify (those users must reset their password): {}",
                counts.join(", ")
            )?;
        }
        for (title, notes) in [("Skipped", &self.skipped), ("Warnings", &self.warnings)] {
            if notes.is_empty() {
                continue;
            }
            writeln!(f, "{title}:")?;
            for note in notes {
                writeln!(f, "  {} id={}: {}", note.table, note.id, note.message)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_table_by_table() {
        let report = ImportReport {
            dry_run: true,
            user_table: "auth_user".into(),
            users: TableCounts {
                created: 2,
                updated: 1,
                unchanged: 0,
                skipped: 1,
            },
            tokens: TableCounts {
                created: 1,
                updated: 0,
                unchanged: 0,
                skipped: 2,
            },
            expired_tokens: 2,
            groups: TableCounts {
                created: 1,
                ..TableCounts::default()
            },
            group_memberships: TableCounts {
                created: 2,
                skipped: 1,
                ..TableCounts::default()
            },
            user_permissions: TableCounts::default(),
            skipped: vec![ImportNote {
                table: "auth_user".into(),
                id: 7,
                message: "why".into(),
            }],
            warnings: vec![],
            unverifiable_passwords: BTreeMap::from([("md5".into(), 2), ("crypt".into(), 1)]),
        };
        assert_eq!(
            report.to_string(),
            "Dry run: nothing was written. A real run would do this:\n\
             auth_user -> users: 2 created, 1 updated, 0 unchanged, 1 skipped\n\
             token_blacklist_outstandingtoken -> foreign_refresh_tokens: 1 created, 0 updated, 0 unchanged, 2 skipped (2 expired)\n\
             auth_group -> groups: 1 created, 0 updated, 0 unchanged, 0 skipped\n\
             auth_user_groups -> user_groups: 2 created, 0 updated, 0 unchanged, 1 skipped\n\
             auth_user_user_permissions -> user_permissions: 0 created, 0 updated, 0 unchanged, 0 skipped\n\
             Password hashes Tessera cannot verify (those users must reset their password): crypt: 1, md5: 2\n\
             Skipped:\n  auth_user id=7: why\n"
        );
    }
}
