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
        /// E-mail address (asked for when missing).
        #[arg(long)]
        email: Option<String>,
        /// Optional username.
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
    /// Manage the signing keys kept in the store (key_source = "store").
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Validate the configuration and name what is unsafe for production.
    Check {
        /// Judge the configuration as production even when debug is on.
        #[arg(long)]
        deploy: bool,
    },
}

/// `tessera user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List every user.
    List,
    /// Show one user and their live sessions.
    Show {
        /// The user's e-mail address.
        email: String,
    },
    /// Give staff (admin) rights.
    SetStaff {
        /// The user's e-mail address.
        email: String,
    },
    /// Take staff rights away.
    UnsetStaff {
        /// The user's e-mail address.
        email: String,
    },
    /// Allow the user to log in again.
    Activate {
        /// The user's e-mail address.
        email: String,
    },
    /// Forbid logging in and end every session.
    Deactivate {
        /// The user's e-mail address.
        email: String,
    },
    /// Delete the user and their sessions.
    Delete {
        /// The user's e-mail address.
        email: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Set a new password (asked for, or read from standard input when it is not a
    /// terminal) and end every session.
    SetPassword {
        /// The user's e-mail address.
        email: String,
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
