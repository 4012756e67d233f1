//! Tessera's persistence layer.
//!
//! * [`Store`] — users, login sessions and signing keys in SQLite (one server) or
//!   PostgreSQL (any number of servers), picked by the URL's scheme: sqlx, runtime-checked
//!   queries, embedded migrations for each engine. Each query is written once, with `$1, $2`
//!   placeholders both engines accept, and runs on either; momentary failures are retried
//!   where repeating the query is safe.
//! * The audit log ([`NewAuditEvent`], [`AuditEvent`]): security events written in
//!   batches, listed with filters, pruned by age.
//! * [`django`] — a Django project's users and simplejwt tokens read (its database or a
//!   `dumpdata` file), the import's transaction, and the cut-over's adoption of simplejwt
//!   refresh tokens.
//! * [`PasswordHasher`] — argon2id hashing and verification on a few dedicated threads,
//!   bounded by a semaphore; Django's password hash formats verified for imported users,
//!   with [`Verified`] saying when a hash should be replaced.
//! * The account flows by e-mail ([`OutboxMail`], [`AccountToken`]): the outbox of mails
//!   waiting to be sent (claimed with a lease by any server), and the single-use tokens and
//!   codes those mails carry, stored hashed.
//! * API keys ([`ApiKey`]): found by prefix, stored as a keyed hash, never cached.
//! * Groups and permissions, Django's model ([`Group`], [`Grants`]): `app_label.codename`
//!   strings granted to groups and users, a user's effective set in one query.
//! * Passkeys ([`StoredPasskey`]) and the WebAuthn ceremonies between begin and finish
//!   ([`WebauthnCeremony`]), consumed in one statement.
//! * Multi-factor authentication ([`TotpDevice`], [`MfaChallengeRow`]): TOTP secrets in
//!   their sealed form, single-use recovery codes and second-step challenges stored hashed.
//! * WebSocket tickets ([`RedeemedTicket`]): single-use, stored hashed, redeemed in one
//!   statement.
//! * Social login ([`SocialIdentity`], [`SocialState`], [`SocialTicket`]): provider accounts
//!   linked to users, authorization requests under way and the flow's single-use codes.
//! * The ways into an account ([`WayIn`]): a passkey or an identity removed unless it is
//!   the last way in, counted and removed under the user's row lock.
//! * The change log ([`Change`]): a numbered row, written by database triggers, for every
//!   change that may end what a token or a cached user vouches for; read in order, heard
//!   of at once on PostgreSQL ([`ChangeListener`]), and this store's own such writes
//!   counted ([`Store::local_changes`]).
//!
//! Every time is a [`Timestamp`](tessera_core::Timestamp). Columns keep microseconds since the
//! Unix epoch, except a session's token times (`current_iat`, `expires_at`), which keep whole
//! seconds like the JWT claims they copy.

#[macro_use]
mod engine;
mod api_keys;
mod audit;
mod changes;
pub mod django;
mod email;
mod error;
mod mail;
mod mfa;
mod passkeys;
mod password;
mod permissions;
mod plans;
mod rotations;
mod sessions;
mod signing_keys;
mod social;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod throttles;
mod users;
mod ways_in;
mod ws_tickets;

pub use api_keys::{ApiKey, NewApiKey};
pub use audit::{AuditEvent, AuditFilter, AuditOutcome, MAX_AUDIT_USERNAME_CHARS, NewAuditEvent};
pub use changes::{
    CHANGE_CHANNEL, CHANGE_LISTENER_APPLICATION_NAME, Change, ChangeKind, ChangeListener,
    RecentChanges, TransactionHorizon, UnknownChangeKind,
};
pub use email::normalize_email;
pub use engine::Engine;
pub use error::{Result, StoreError};
pub use mail::{
    AccountToken, CodeOwner, MAX_CODE_CANDIDATES, NewAccountToken, NewMail, OutboxMail,
};
pub use mfa::{MfaChallengeRow, NewMfaChallenge, TotpDevice};
pub use passkeys::{
    MAX_CREDENTIAL_ID_CHARS, NewPasskey, NewWebauthnCeremony, PasskeyInsert, StoredPasskey,
    WebauthnCeremony,
};
pub use password::{PasswordHasher, Verification, Verified};
pub use permissions::{
    Grants, GrantsUpdate, Group, MAX_GRANTS, MAX_GROUP_NAME_CHARS, MAX_PERMISSION_CHARS,
    is_valid_permission,
};
pub use plans::QueryPlan;
pub use sessions::{NewSession, RevokeReason, Rotation, Session, SessionKind, UnknownSessionKind};
pub use signing_keys::{Retirement, StoredKey};
pub use social::{NewSocialState, SocialIdentity, SocialState, SocialTicket};
pub use store::{PoolUsage, Store, StoreOptions};
pub use throttles::ThrottleWindow;
pub use users::{
    Extra, NewUser, SessionState, User, UserAndSession, UserFilter, UserFlags, UserUpdate,
};
pub use ways_in::{WayIn, WayInRemoval};
pub use ws_tickets::RedeemedTicket;
