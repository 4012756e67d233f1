//! Tessera's persistence layer.
//!
//! * [`Store`] — users and login sessions in SQLite (sqlx, runtime-checked queries,
//!   embedded migrations). SQL uses `$1, $2` placeholders so a PostgreSQL engine can share it.
//! * [`PasswordHasher`] — argon2id hashing and verification on tokio's blocking pool,
//!   bounded by a semaphore.
//!
//! Times are `i64` microseconds since the Unix epoch, except token times
//! ([`Session::current_iat`], [`Session::expires_at`]) which are whole seconds like JWT claims.

mod email;
mod error;
mod password;
mod sessions;
mod signing_keys;
mod store;
mod users;

pub use email::normalize_email;
pub use error::{Result, StoreError};
pub use password::PasswordHasher;
pub use sessions::{NewSession, Rotation, Session, SessionKind, UnknownSessionKind};
pub use signing_keys::{Retirement, StoredKey};
pub use store::Store;
pub use users::{Extra, NewUser, SessionState, User, UserAndSession, UserFlags, UserUpdate};
