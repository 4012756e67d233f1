//! What stands between attackers and the password hasher: scoped throttles, per-account
//! lockout with exponential back-off, and a bounded hashing queue.
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

pub use hashing::Hashing;
pub use lockout::Lockout;
pub use throttle::{MemoryThrottle, Rate, ThrottleSettings, ThrottleStorage, Throttles};
