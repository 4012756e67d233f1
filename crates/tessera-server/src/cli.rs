//! The command line, in the manner of Django's `manage.py`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Tessera: JWT authentication in the dialect of DRF + simplejwt.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Configuration file (default: ./tessera.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create a superuser (staff and superuser flags set).
    Createsuperuser {
        /// E-mail address (asked for when missing; may be left blank with
        /// `username_field = "username"` unless `registration_email_required`).
        #[arg(long)]
        email: Option<String>,
        /// Username: required with `username_field = "username"` (asked for when
        /// missing), optional otherwise.
        #[arg(long)]
        username: Option<String>,
        /// First name.
        #[arg(long, default_value = "")]
        first_name: String,
        /// Last name.
        #[arg(long, default_value = "")]
        last_name: String,
        /// Ask nothing: the password comes from TESSERA_SUPERUSER_PASSWORD; without it the
        /// account gets an unusable password, as in Django.
        #[arg(long)]
        no_input: bool,
    },
    /// Delete sessions (refresh-token families) whose tokens have all expired.
    Flushexpiredtokens,
    /// Delete audit events older than `audit_retention` (the server also does it hourly).
    Pruneaudit,
    /// Inspect and manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups and their permissions (Django's `Group`).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage the signing keys kept in the store (key_source = "store").
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, list and revoke API keys (`Authorization: Api-Key …`).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Import users and tokens from another system.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Validate the configuration and name what is unsafe for production.
    Check {
        /// Judge the configuration as production even when debug is on.
        #[arg(long)]
        deploy: bool,
    },
    /// Send a test e-mail to each address now, through the configured mail backend.
    Sendtestemail {
        /// Where to send it.
        #[arg(value_name = "ADDRESS", required = true)]
        addresses: Vec<String>,
    },
}

/// `tessera user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List every user.
    List,
    /// Show one user and their live sessions.
    Show {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Give staff (admin) rights.
    SetStaff {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Take staff rights away.
    UnsetStaff {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Queue a verification mail to the user's address (a running server sends it).
    ResendVerification {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Remove the user's second factors (TOTP, recovery codes, passkeys), e.g. after a lost phone:
    /// their next login asks for the password alone.
    ResetMfa {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
        /// Remove the passkeys even when they are the user's only way to sign in (no usable
        /// password, no linked provider): the account is then shut until a password is set.
        #[arg(long)]
        force: bool,
    },
    /// Allow the user to log in again.
    Activate {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Forbid logging in and end every session.
    Deactivate {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Delete the user and their sessions.
    Delete {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Set user fields: `first_name`, `last_name`, `is_active`, `is_staff`, `groups` and
    /// `user_permissions` (comma-separated, replacing the current ones: `groups=editors,staff`)
    /// and the custom fields of `user_fields`, read-only ones included (`tessera user set
    /// ada is_premium=true`). Values are read as the admin API reads them.
    Set {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
        /// `FIELD=VALUE`, one or more.
        #[arg(value_name = "FIELD=VALUE", required = true)]
        assignments: Vec<String>,
    },
    /// Set a new password (asked for, or read from standard input when it is not a
    /// terminal) and end every session.
    SetPassword {
        /// The user's login name: e-mail address, or username with
        /// `username_field = "username"`.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Create a service account: a user with this username, no e-mail address and an
    /// unusable password, which authenticates with API keys only.
    CreateService {
        /// Its username (letters, digits and @/./+/-/_).
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `tessera group …`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group, with permissions (`app_label.codename`) if any are given.
    Create {
        /// The group's name (at most 150 characters).
        #[arg(value_name = "NAME")]
        name: String,
        /// Its permissions, `app_label.codename` each.
        #[arg(value_name = "PERM")]
        permissions: Vec<String>,
    },
    /// List every group and its permissions.
    List,
    /// Delete a group; its members leave it.
    Delete {
        /// The group's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Add permissions to a group.
    Grant {
        /// The group's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// The permissions to add, `app_label.codename` each.
        #[arg(value_name = "PERM", required = true)]
        permissions: Vec<String>,
    },
    /// Take permissions from a group.
    Revoke {
        /// The group's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// The permissions to take away.
        #[arg(value_name = "PERM", required = true)]
        permissions: Vec<String>,
    },
}

/// `tessera keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys and where each stands (published, scheduled, active, retired, expired).
    List,
    /// Generate a key and publish it in the JWKS, without making it sign.
    Generate {
        /// Its algorithm (default: the `algorithm` setting), e.g. RS256, ES256, EdDSA.
        #[arg(long)]
        algorithm: Option<String>,
    },
    /// Schedule a key to sign once it has been published for `key_publish_lead` (the
    /// newest published key, or a new one); the key it replaces keeps verifying.
    Rotate {
        /// Its algorithm (default: the `algorithm` setting).
        #[arg(long)]
        algorithm: Option<String>,
    },
    /// Stop a key signing; it verifies until every token it signed has expired.
    Retire {
        /// The key id.
        kid: String,
    },
}

/// `tessera api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a user (a service account, say) and print it — the only time it
    /// is shown.
    Create {
        /// The user's login name (e-mail address, or username with `username_field =
        /// "username"`), or a service account's name.
        #[arg(value_name = "LOGIN")]
        login: String,
        /// The key's label (at most 50 characters).
        #[arg(long)]
        name: String,
        /// Scopes the key is limited to, comma-separated (default: none, every right of
        /// its user).
        #[arg(long, value_name = "A,B")]
        scopes: Option<String>,
        /// Lifetime (`30d`, `12h`); default: never expires.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List a user's keys (never the keys themselves).
    List {
        /// The user's login name, or a service account's name.
        #[arg(value_name = "LOGIN")]
        login: String,
    },
    /// Revoke a key, by its prefix; it is refused at once by every server.
    Revoke {
        /// The key's prefix (the 8 characters before the dot).
        #[arg(value_name = "PREFIX")]
        prefix: String,
    },
}

/// `tessera import …`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Django project's users (ids and password hashes kept) and its simplejwt
    /// outstanding refresh tokens; re-runs update what changed in Django.
    Django {
        /// The Django database (`postgres://…`, `sqlite://…` or a SQLite file such as
        /// `db.sqlite3`), or a `manage.py dumpdata auth token_blacklist <app>` JSON file.
        source: String,
        /// Report what would be done, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Link a Django user to the Tessera account that already has its id and its
        /// e-mail address or username (it keeps its password, address, username and staff
        /// flags); without it such users are skipped and reported.
        #[arg(long)]
        merge_existing: bool,
        /// The user table (or dump model label) when it is neither `auth_user` nor the one
        /// `…_user` table with `password` and `email` columns, e.g. `authentication_user`.
        #[arg(long, value_name = "TABLE")]
        user_table: Option<String>,
    },
}
