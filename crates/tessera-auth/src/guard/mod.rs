//! What stands between attackers and the password hasher: scoped throttles, lockout per
//! login name and client address with exponential back-off, and a bounded hashing queue
//! that is fair to logins.
//!
//! Every failed login lasts as long, whatever the account's hash format (Tessera's argon2id,
//! an imported Django hash, none at all): [`MAX_FAILURE_TIME`] and the module `failure_time`
//! say how. A locked account answers exactly as a wrong password does — same answer, and
//! the same time — but costs no hashing, so guesses against one account reach the hasher no
//! more than the limit allows.
//!
//! Throttle counters and failure counts live in this process's memory, or in the store when
//! several servers share it (`throttle_storage`).

mod failure_time;
mod hashing;
mod lockout;
mod throttle;

pub use failure_time::{FORGET_AFTER, MAX_FAILURE_TIME, RECENT_CHECKS};
pub use hashing::{Hashing, LoginCheck, MAX_HASHES_PER_CLIENT};
pub use lockout::Lockout;
pub use throttle::{MemoryThrottle, Rate, ThrottleSettings, ThrottleStorage, Throttles};
