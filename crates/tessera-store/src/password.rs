//! argon2id password hashing on a small pool of dedicated threads, bounded by a semaphore;
//! verification of argon2 PHC strings and of the formats Django writes ([`django`]), with
//! the answer whether the stored hash should be replaced by a fresh argon2id one.
//!
//! Dedicated threads rather than tokio's blocking pool: every hash takes 19 MiB, and the
//! allocator keeps such blocks per thread, so hashing on an ever-changing set of blocking
//! threads grew the process by ~20 MiB a thread (hundreds of MiB under a login flood); a
//! fixed set of `max_concurrent` threads keeps it at `max_concurrent` blocks.
//!
//! Passwords are never logged: nothing here is instrumented with its arguments.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{Result, StoreError};

mod django;

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verified {
    /// The password matches, and the hash is Tessera's own: argon2id, version 19, with the
    /// current parameters.
    Valid,
    /// The password matches a hash in another format or with other parameters — a hash
    /// imported from Django, or an older argon2 one. Store a fresh hash of the password
    /// ([`PasswordHasher::hash`]) in its place.
    ValidNeedsRehash {
        /// The stored hash's algorithm, for the record: Django's name for it
        /// (`pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`, `bcrypt_sha256`, `bcrypt`, `scrypt`),
        /// or the argon2 variant of a plain PHC string (`argon2id`, `argon2i`, `argon2d`).
        algorithm: &'static str,
    },
    /// The password does not match, or there is no usable hash: none, an unusable one
    /// (`""`, `"!…"`), an unknown format, a malformed one, or one asking for more work than
    /// the caps allow.
    Invalid,
}

impl Verified {
    /// Whether the password matched (whatever the hash's format).
    pub fn is_valid(self) -> bool {
        !matches!(self, Verified::Invalid)
    }

    /// The stored hash's algorithm when the password matched a hash that should be replaced.
    pub fn needs_rehash(self) -> Option<&'static str> {
        match self {
            Verified::ValidNeedsRehash { algorithm } => Some(algorithm),
            Verified::Valid | Verified::Invalid => None,
        }
    }
}

/// A password check ([`PasswordHasher::verify_measured`]) with what a caller needs to give
/// every failure the same duration: which stored format was checked, and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// What the check found.
    pub verified: Verified,
    /// The stored hash's format when it is not Tessera's own: the name
    /// [`Verified::ValidNeedsRehash`] gives (`"pbkdf2_sha256"`, `"bcrypt"`, `"argon2i"` …);
    /// a wrong password for it verified the dummy hash too. `None` when the work was that
    /// of Tessera's own parameters: a hash of Tessera's own, or only the dummy hash (no hash,
    /// or one that is unusable, unknown, malformed or beyond the caps).
    pub format: Option<&'static str>,
    /// How long the check took on its hashing thread, not counting the wait for one.
    pub took: Duration,
}

/// The longest stored hash that is checked at all (Django's `password` column holds 128
/// characters; an argon2id PHC string of Tessera's is under 100).
const MAX_HASH_LEN: usize = 512;

/// The most memory one check of a stored hash may use (argon2, scrypt): 64 MiB. Tessera's
/// own argon2id hashes use 19 MiB, Django's scrypt default 16 MiB. Only argon2 may use more,
/// up to [`MAX_ARGON2_M_COST`], and then one check at a time ([`LARGE_LANE`]).
const MAX_CHECK_MEMORY: u64 = 64 * 1024 * 1024;
/// The most argon2 memory (KiB) a stored hash may ask for: 128 MiB, for Django 5.2's
/// default of 100 MiB. Over [`MAX_CHECK_MEMORY`], only one such check runs at a time.
const MAX_ARGON2_M_COST: u32 = 128 * 1024;
/// argon2's work for Django 5.2's defaults, memory × passes: 102,400 KiB × 2.
const DJANGO_ARGON2_WORK: u64 = 102_400 * 2;
/// The most argon2 work (memory in KiB × passes) a stored hash may ask for: 4 × Django's
/// default. The lanes run one after another in the same memory, so `p` adds no work.
const MAX_ARGON2_WORK: u64 = 4 * DJANGO_ARGON2_WORK;
/// The most argon2 passes a stored hash may ask for.
const MAX_ARGON2_T_COST: u32 = 16;
/// The most argon2 lanes a stored hash may ask for.
const MAX_ARGON2_P_COST: u32 = 16;

/// Hashes passwords with argon2id (argon2 0.6 defaults: m=19456 KiB, t=2, p=1) and verifies
/// them against argon2 PHC strings and Django's formats, never on the async executor: each
/// operation runs on one of `max_concurrent` hashing threads while holding a semaphore
/// permit (each takes ~19 MiB).
///
/// Cheap to clone; clones share the permits and the dummy hash.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    /// Work for the hashing threads; they stop when the last clone is dropped.
    jobs: Arc<Mutex<mpsc::Sender<Job>>>,
    /// Hash of a random password, verified when there is no usable hash to verify against,
    /// so an unknown user costs the same as a wrong password.
    dummy: Arc<str>,
    #[cfg(test)]
    probe: Arc<probe::InFlight>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("available_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// One unit of work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Starts `count` hashing threads fed from one queue.
fn start_threads(count: usize) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..count {
        let receiver = Arc::clone(&receiver);
        let spawned = std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}{index}"))
            .spawn(move || {
                loop {
                    let job = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start a password hashing thread");
        }
    }
    sender
}

/// An owned copy of a password that is overwritten with zeros when dropped (best effort:
/// without `zeroize` the compiler is only discouraged, via `black_box`, from eliding it).
struct SecretBytes(Vec<u8>);

impl SecretBytes {
    fn new(password: &str) -> Self {
        SecretBytes(password.as_bytes().to_vec())
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&mut self.0);
    }
}

/// Fallback dummy, used only if hashing a random password at construction fails
/// (i.e. the OS random source is broken): a well-formed hash with the parameters of
/// `Argon2::default()` whose output matches no known password.
const FALLBACK_DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    c29tZXNhbHRmb3JkdW1teQ$YFk8SyZCJOvxE0MWvo3D4kkH5u8ZpBEDNIdmMa+HcWM";

impl PasswordHasher {
    /// How many hashes may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// A hasher allowing `max_concurrent` simultaneous operations (0 is treated as 1).
    /// Computes the dummy hash synchronously (~25 ms optimized), so call it at startup.
    pub fn new(max_concurrent: usize) -> Self {
        let random_password = uuid::Uuid::new_v4().simple().to_string();
        let dummy = hash_sync(random_password.as_bytes()).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "could not compute a dummy password hash; using a fixed one");
            FALLBACK_DUMMY_HASH.to_owned()
        });
        PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_concurrent: max_concurrent.max(1),
            jobs: Arc::new(Mutex::new(start_threads(max_concurrent.max(1)))),
            dummy: dummy.into(),
            #[cfg(test)]
            probe: Arc::default(),
        }
    }

    /// Hashes `password` to a PHC string `"$argon2id$v=19$m=19456,t=2,p=1$…"` with a fresh
    /// random salt.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] if argon2 fails or the blocking task dies.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let secret = SecretBytes::new(password);
        self.run_blocking(move || hash_sync(&secret.0)).await?
    }

    /// Verifies `password` against `hash`, in constant time, and tells whether the hash
    /// should be replaced ([`Verified`]).
    ///
    /// * `Some(hash)` with a usable hash — an argon2 PHC string (`$argon2id$v=19$…`) or one
    ///   of Django's formats (`pbkdf2_sha256$…`, `pbkdf2_sha1$…`, `argon2$argon2id$…`,
    ///   `argon2$argon2i$…`, `bcrypt_sha256$…`, `bcrypt$…`, `scrypt$…`): the real check.
    ///   When the password does not match a hash that is not Tessera's current argon2id,
    ///   the dummy hash is verified too, so that a wrong password costs at least what an
    ///   unknown user does, however cheap the imported hash.
    /// * `Some(hash)` that is unusable (`""`, `"!…"`), unparsable, of an unknown algorithm,
    ///   or beyond the caps — about 4 × the work of Django 5.2's defaults: PBKDF2 over
    ///   4,000,000 iterations, bcrypt cost over 14, scrypt `n · r · p` over 2,621,440 or
    ///   `128 · n · r` over 64 MiB (`r` over 32, `p` over 16), argon2 memory × passes over
    ///   819,200 KiB, memory over 128 MiB (over 64 MiB runs one check at a time), over 16
    ///   passes or 16 lanes: verifies the dummy hash instead and returns
    ///   [`Verified::Invalid`].
    /// * `None` (unknown user): verifies the dummy hash and returns [`Verified::Invalid`] —
    ///   the same work as a wrong password.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] only if the blocking task dies; a bad hash is
    /// `Ok(Verified::Invalid)`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<Verified> {
        Ok(self.verify_measured(password, hash).await?.verified)
    }

    /// [`verify`](Self::verify), telling as well which stored format was checked and how
    /// long the check took on its hashing thread ([`Verification`]): what a caller needs to
    /// pad failures to one duration whatever the format.
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub async fn verify_measured(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<Verification> {
        let secret = SecretBytes::new(password);
        let hash = hash.map(str::to_owned);
        let dummy = Arc::clone(&self.dummy);
        self.run_blocking(move || {
            let started = Instant::now();
            let (verified, format) = verify_checked(&secret.0, hash.as_deref(), &dummy);
            Verification {
                verified,
                format,
                took: started.elapsed(),
            }
        })
        .await
    }

    /// Synchronous [`hash`](Self::hash) for CLI use; fine outside a tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] if argon2 fails.
    pub fn hash_blocking(password: &str) -> Result<String> {
        let secret = SecretBytes::new(password);
        hash_sync(&secret.0)
    }

    /// Runs `job` on a hashing thread while holding a permit. The permit moves into the job,
    /// so it is released only when the work is really done, even if the caller's future is
    /// dropped.
    async fn run_blocking<T, F>(&self, job: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Hashing("password hasher is shut down".into()))?;
        #[cfg(test)]
        let probe = Arc::clone(&self.probe);
        let (done, result) = tokio::sync::oneshot::channel();
        let work: Job = Box::new(move || {
            let out = {
                // Test probe: counts this operation as in flight while it holds the permit.
                #[cfg(test)]
                let _guard = probe.enter();
                job()
            };
            drop(permit);
            let _ = done.send(out);
        });
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send(work),
            Err(poisoned) => poisoned.into_inner().send(work),
        };
        sent.map_err(|_| StoreError::Hashing("no password hashing thread is running".into()))?;
        result
            .await
            .map_err(|_| StoreError::Hashing("the hashing thread stopped".into()))
    }
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept by each hashing
    /// thread and reused, instead of allocated and freed for every hash.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Working memory larger than this, 32 MiB (an imported hash asking for more than Tessera's
/// own 19 MiB), is used once and not kept, so that the hashing threads keep about what
/// Tessera's own hashes need.
const KEEP_BLOCKS: usize = 32 * 1024;

/// The name of every hashing thread starts with this.
const THREAD_PREFIX: &str = "tessera-hash-";

/// Runs `work` with `count` argon2 blocks of this thread's reusable memory.
fn with_blocks<T>(count: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    // Only the hashing threads keep their memory; a hash elsewhere (the dummy hash at
    // start-up, the command line) frees it at once.
    let hashing_thread = std::thread::current()
        .name()
        .is_some_and(|name| name.starts_with(THREAD_PREFIX));
    if count > KEEP_BLOCKS || !hashing_thread {
        return work(&mut vec![Block::new(); count]);
    }
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::new());
        }
        work(&mut blocks[..count])
    })
}

/// argon2id with the default parameters and a fresh random salt, as a PHC string.
fn hash_sync(password: &[u8]) -> Result<String> {
    let failed = |err: &dyn fmt::Display| StoreError::Hashing(err.to_string());
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, &salt, &mut out, blocks)
    })
    .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against a parsed argon2 PHC hash, in this thread's reusable memory.
/// `None` when the hash is not one argon2 can check (unknown algorithm or parameters) or
/// asks for more than the caps ([`MAX_ARGON2_M_COST`] …).
fn verify_parsed(password: &[u8], hash: &PasswordHash) -> Option<bool> {
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(version) => Version::try_from(version).ok()?,
        // A string without `v=` was written before version 1.3 (0x13) existed: the
        // reference implementation (and argon2-cffi, Django's) reads it as 1.0.
        None => Version::V0x10,
    };
    let params = Params::try_from(hash).ok()?;
    if !argon2_within_budget(params.m_cost(), params.t_cost(), params.p_cost()) {
        return None;
    }
    let (salt, expected) = (hash.salt.as_ref()?, hash.hash.as_ref()?);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    // Over the memory cap of one check (Django's default argon2 hashes), one at a time.
    let _large = needs_large_lane(params.m_cost())
        .then(|| LARGE_LANE.lock().unwrap_or_else(PoisonError::into_inner));
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, blocks)
    })
    .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == *expected)
}

/// Held by the one check at a time that may use more than [`MAX_CHECK_MEMORY`] (argon2 up to
/// [`MAX_ARGON2_M_COST`]): other hashing threads with such a check wait for it, so the
/// process never holds more than one such block of memory.
static LARGE_LANE: Mutex<()> = Mutex::new(());

/// Whether argon2 with `m_cost` KiB needs more than [`MAX_CHECK_MEMORY`], and so runs in the
/// [`LARGE_LANE`].
fn needs_large_lane(m_cost: u32) -> bool {
    u64::from(m_cost) * 1024 > MAX_CHECK_MEMORY
}

/// Whether argon2 with `m_cost` KiB, `t_cost` passes and `p_cost` lanes stays within the
/// budget of one check: each within its cap, and memory × passes within
/// [`MAX_ARGON2_WORK`].
fn argon2_within_budget(m_cost: u32, t_cost: u32, p_cost: u32) -> bool {
    m_cost <= MAX_ARGON2_M_COST
        && t_cost <= MAX_ARGON2_T_COST
        && p_cost <= MAX_ARGON2_P_COST
        && u64::from(m_cost) * u64::from(t_cost) <= MAX_ARGON2_WORK
}

fn is_usable(hash: &str) -> bool {
    !hash.is_empty() && !hash.starts_with('!')
}

/// The result of checking a password against a hash that could be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked {
    matched: bool,
    /// The hash's algorithm when it is not Tessera's current argon2id.
    upgrade_from: Option<&'static str>,
}

/// Checks `password` against an argon2 PHC string (`$argon2id$v=19$…`). `None` when the
/// string is not one argon2 can check, or asks for more than the caps.
fn check_argon2(password: &[u8], phc: &str) -> Option<Checked> {
    let parsed = PasswordHash::new(phc).ok()?;
    let matched = verify_parsed(password, &parsed)?;
    let current = Argon2::default();
    let is_current = parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|params| {
            let wanted = current.params();
            params.m_cost() == wanted.m_cost()
                && params.t_cost() == wanted.t_cost()
                && params.p_cost() == wanted.p_cost()
        })
        && parsed
            .hash
            .as_ref()
            .is_some_and(|out| out.len() == Params::DEFAULT_OUTPUT_LEN);
    let upgrade_from = (!is_current)
        .then(|| Algorithm::try_from(parsed.algorithm.as_str()).map_or("argon2", |a| a.as_str()));
    Some(Checked {
        matched,
        upgrade_from,
    })
}

/// Checks `password` against a stored hash in any format this module knows. `None` when the
/// hash is unusable, unknown, malformed or beyond the caps.
fn check(password: &[u8], hash: &str) -> Option<Checked> {
    if !is_usable(hash) || hash.len() > MAX_HASH_LEN {
        return None;
    }
    if hash.starts_with('$') {
        check_argon2(password, hash)
    } else {
        django::check(password, hash)
    }
}

/// What checking `password` against `hash` found, and the format checked when it is not
/// Tessera's own ([`Verification::format`]).
fn verify_checked(
    password: &[u8],
    hash: Option<&str>,
    dummy: &str,
) -> (Verified, Option<&'static str>) {
    let checked = hash.and_then(|hash| check(password, hash));
    let format = checked.and_then(|checked| checked.upgrade_from);
    match checked {
        // The full computation ran: the same work whether or not it matched.
        Some(Checked {
            matched: true,
            upgrade_from: None,
        }) => return (Verified::Valid, format),
        Some(Checked {
            matched: true,
            upgrade_from: Some(algorithm),
        }) => return (Verified::ValidNeedsRehash { algorithm }, format),
        Some(Checked {
            matched: false,
            upgrade_from: None,
        }) => return (Verified::Invalid, format),
        // A wrong password for an imported hash, perhaps far cheaper than ours: spend the
        // dummy's time as well, so that the answer takes at least an unknown user's.
        Some(Checked {
            matched: false,
            upgrade_from: Some(_),
        })
        | None => {}
    }
    // Unknown user, unusable or unparsable hash: spend the same time, then refuse.
    if let Ok(parsed) = PasswordHash::new(dummy) {
        let _ = verify_parsed(password, &parsed);
    }
    (Verified::Invalid, format)
}

#[cfg(test)]
fn verify_sync(password: &[u8], hash: Option<&str>, dummy: &str) -> Verified {
    verify_checked(password, hash, dummy).0
}

#[cfg(test)]
mod probe {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts operations inside the blocking pool and remembers the maximum seen.
    #[derive(Default)]
    pub(super) struct InFlight {
        now: AtomicUsize,
        pub(super) max: AtomicUsize,
    }

    pub(super) struct Guard<'a>(&'a InFlight);

    impl InFlight {
        pub(super) fn enter(&self) -> Guard<'_> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            Guard(self)
        }
    }

    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn only_hashing_threads_keep_argon2_memory() {
        hash_sync(b"on the test thread").unwrap();
        assert_eq!(BLOCKS.with(|blocks| blocks.borrow().len()), 0);
        let kept = std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}test"))
            .spawn(|| {
                hash_sync(b"on a hashing thread").unwrap();
                BLOCKS.with(|blocks| blocks.borrow().len())
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(kept, Argon2::default().params().block_count());
    }

    #[test]
    fn hashes_agree_with_argon2s_own_hasher_and_verifier_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hash_sync(b"correct horse").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );

        let theirs = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert_eq!(
            verify_sync(b"correct horse", Some(&theirs), &ours),
            Verified::Valid
        );
        assert_eq!(
            verify_sync(b"wrong horse", Some(&theirs), &ours),
            Verified::Invalid
        );
        // Another parameter set (as an imported hash might have) is read from the hash.
        let light = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap(),
        );
        let other = light.hash_password(b"correct horse").unwrap().to_string();
        assert_eq!(
            verify_sync(b"correct horse", Some(&other), &ours),
            Verified::ValidNeedsRehash {
                algorithm: "argon2i"
            }
        );
    }

    #[test]
    fn fallback_dummy_is_a_valid_default_argon2id_hash() {
        let parsed = PasswordHash::new(FALLBACK_DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(
            verify_sync(b"x", Some(FALLBACK_DUMMY_HASH), FALLBACK_DUMMY_HASH),
            Verified::Invalid
        );
    }

    #[test]
    fn argon2id_with_other_parameters_or_length_needs_a_rehash() {
        use argon2::password_hash::PasswordHasher as _;
        let needs = Verified::ValidNeedsRehash {
            algorithm: "argon2id",
        };
        for (m, t, p, len) in [
            (8192, 2, 1, 32),
            (19456, 3, 1, 32),
            (19456, 2, 2, 32),
            (19456, 2, 1, 16),
        ] {
            let argon2 = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, p, Some(len)).unwrap(),
            );
            let hash = argon2.hash_password(b"pw").unwrap().to_string();
            assert_eq!(
                verify_sync(b"pw", Some(&hash), FALLBACK_DUMMY_HASH),
                needs,
                "{hash}"
            );
            assert_eq!(
                verify_sync(b"pW", Some(&hash), FALLBACK_DUMMY_HASH),
                Verified::Invalid
            );
        }
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x10, Params::default());
        let hash = old.hash_password(b"pw").unwrap().to_string();
        assert_eq!(
            verify_sync(b"pw", Some(&hash), FALLBACK_DUMMY_HASH),
            needs,
            "{hash}"
        );
        // Without `v=`, a PHC string is version 1.0 (as the reference implementation reads it).
        let unversioned = hash.replacen("$v=16", "", 1);
        assert_eq!(
            verify_sync(b"pw", Some(&unversioned), FALLBACK_DUMMY_HASH),
            needs
        );
    }

    #[test]
    fn a_django_hash_matches_and_asks_for_a_rehash() {
        // class FastPBKDF2(PBKDF2PasswordHasher): iterations = 1000
        // make_password("correct horse", hasher=FastPBKDF2())  (Django 5.2.19)
        let django = "pbkdf2_sha256$1000$GCmfcj3zrcvU4I3u2DkLnb$W11PeCHuInqMr3dc5ovUv64GTSsXmZsXyAyjTB/ZfEQ=";
        assert_eq!(
            verify_sync(b"correct horse", Some(django), FALLBACK_DUMMY_HASH),
            Verified::ValidNeedsRehash {
                algorithm: "pbkdf2_sha256"
            }
        );
        assert_eq!(
            verify_sync(b"correct horsf", Some(django), FALLBACK_DUMMY_HASH),
            Verified::Invalid
        );
    }

    #[test]
    fn unusable_unknown_and_oversized_hashes_never_verify() {
        let ours = hash_sync(b"pw").unwrap();
        // make_password(None) (Django 5.2.19): "!" and 40 random characters.
        let unusable = "!tTk5OlELI0NEjxBoPeypID41oZ1J1bNG16DLiGsb";
        let oversized = format!("{ours}{}", "A".repeat(MAX_HASH_LEN));
        let unusable_ours = format!("!{ours}");
        for hash in [
            "",
            "!",
            unusable,
            &unusable_ours,
            "md5$salt$0123456789abcdef0123456789abcdef",
            "sha1$$0123456789abcdef0123456789abcdef01234567",
            "garbage",
            "$argon2id$",
            "$scrypt$ln=4,r=8,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ",
            "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ",
            &oversized,
        ] {
            assert_eq!(
                verify_sync(b"pw", Some(hash), &ours),
                Verified::Invalid,
                "{hash}"
            );
            assert_eq!(
                verify_sync(b"", Some(hash), &ours),
                Verified::Invalid,
                "{hash}"
            );
        }
        assert_eq!(verify_sync(b"pw", None, &ours), Verified::Invalid);
    }

    #[test]
    fn one_work_budget_per_argon2_check_counts_memory_and_passes() {
        // Django 5.2's default (100 MiB, 2 passes, 8 lanes) and 4 × its work are within.
        assert!(argon2_within_budget(102_400, 2, 8));
        assert_eq!(MAX_ARGON2_WORK, 819_200);
        assert!(argon2_within_budget(102_400, 8, 8));
        assert!(!argon2_within_budget(102_400, 9, 8));
        assert!(argon2_within_budget(65_536, 12, 1));
        assert!(!argon2_within_budget(65_536, 13, 1));
        // 128 MiB is the most memory (over 64 MiB, one check at a time).
        assert!(argon2_within_budget(131_072, 6, 1));
        assert!(!argon2_within_budget(131_073, 1, 1));
        // Passes and lanes have caps of their own.
        assert!(argon2_within_budget(8, 16, 1));
        assert!(!argon2_within_budget(8, 17, 1));
        assert!(argon2_within_budget(1024, 1, 16));
        assert!(!argon2_within_budget(1024, 1, 17));
        assert!(!argon2_within_budget(u32::MAX, u32::MAX, 1));
        // Tessera's own parameters are far within.
        let own = Argon2::default();
        let own = own.params();
        assert!(argon2_within_budget(
            own.m_cost(),
            own.t_cost(),
            own.p_cost()
        ));
        assert!(u64::from(own.m_cost()) * 1024 <= MAX_CHECK_MEMORY);
    }

    #[test]
    fn argon2_over_64_mib_runs_in_the_large_lane_and_still_verifies() {
        use argon2::password_hash::PasswordHasher as _;
        assert!(!needs_large_lane(65_536));
        assert!(needs_large_lane(65_537));
        assert!(needs_large_lane(102_400));
        // 65 MiB, one pass: over the per-check cap, within argon2's; checked in the lane.
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(66_560, 1, 1, None).unwrap(),
        );
        let hash = argon2.hash_password(b"pw").unwrap().to_string();
        assert_eq!(
            verify_sync(b"pw", Some(&hash), FALLBACK_DUMMY_HASH),
            Verified::ValidNeedsRehash {
                algorithm: "argon2id"
            }
        );
    }

    #[test]
    fn a_check_names_the_format_it_checked() {
        let ours = hash_sync(b"pw").unwrap();
        let django = "pbkdf2_sha256$1000$GCmfcj3zrcvU4I3u2DkLnb$W11PeCHuInqMr3dc5ovUv64GTSsXmZsXyAyjTB/ZfEQ=";
        for (password, hash, format) in [
            (&b"pw"[..], Some(ours.as_str()), None),
            (b"nope", Some(&ours), None),
            (b"correct horse", Some(django), Some("pbkdf2_sha256")),
            (b"nope", Some(django), Some("pbkdf2_sha256")),
            (b"pw", None, None),
            (b"pw", Some("!unusable"), None),
            (
                b"pw",
                Some("md5$salt$0123456789abcdef0123456789abcdef"),
                None,
            ),
        ] {
            assert_eq!(
                verify_checked(password, hash, FALLBACK_DUMMY_HASH).1,
                format,
                "{hash:?}"
            );
        }
    }

    #[tokio::test]
    async fn verify_measured_reports_the_format_and_a_duration() {
        let hasher = PasswordHasher::new(1);
        let hash = hasher.hash("pw").await.unwrap();
        let right = hasher.verify_measured("pw", Some(&hash)).await.unwrap();
        assert_eq!((right.verified, right.format), (Verified::Valid, None));
        assert!(right.took > Duration::ZERO);
        let unknown = hasher.verify_measured("pw", None).await.unwrap();
        assert_eq!(
            (unknown.verified, unknown.format),
            (Verified::Invalid, None)
        );
    }

    #[test]
    fn verified_answers_its_questions() {
        assert!(Verified::Valid.is_valid());
        assert_eq!(Verified::Valid.needs_rehash(), None);
        let old = Verified::ValidNeedsRehash {
            algorithm: "bcrypt",
        };
        assert!(old.is_valid());
        assert_eq!(old.needs_rehash(), Some("bcrypt"));
        assert!(!Verified::Invalid.is_valid());
        assert_eq!(Verified::Invalid.needs_rehash(), None);
    }

    #[test]
    fn dummy_is_argon2id_default_params() {
        let hasher = PasswordHasher::new(1);
        assert!(hasher.dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn semaphore_bounds_concurrency() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("pw").await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                let hash = hash.clone();
                tokio::spawn(async move {
                    let pw = if i % 2 == 0 { "pw" } else { "nope" };
                    (i, hasher.verify(pw, Some(&hash)).await.unwrap().is_valid())
                })
            })
            .collect();
        for task in tasks {
            let (i, ok) = task.await.unwrap();
            assert_eq!(ok, i % 2 == 0, "task {i}");
        }
        let max = hasher.probe.max.load(Ordering::SeqCst);
        assert!((1..=2).contains(&max), "max in flight {max}");
        assert_eq!(hasher.permits.available_permits(), 2);
    }
}
