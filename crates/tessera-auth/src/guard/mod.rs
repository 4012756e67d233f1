//! What stands between attackers and the password hasher: scoped throttles, lockout per
//! login name and client address with exponential back-off, and a bounded hashing queue
//! that is fair to logins.
//!
//! A locked account answers exactly as a wrong password does — same answer, and about the
//! same time (it waits as long as a hash usually takes) — but costs no hashing, so guesses
//! against one account reach the hasher no more than the limit allows.
//!
//! Throttle counters and failure counts live in this process's memory, or in the store when
//! several servers share it (`throttle_storage`).

mod hashing;
mod lockout;
mod throttle;

pub use hashing::{Hashing, MAX_HASHES_PER_CLIENT};
pub use lockout::Lockout;
pub use throttle::{MemoryThrottle, Rate, ThrottleSettings, ThrottleStorage, Throttles};
