//! argon2id password hashing on a small pool of dedicated threads, bounded by a semaphore.
//!
//! Dedicated threads rather than tokio's blocking pool: every hash takes 19 MiB, and the
//! allocator keeps such blocks per thread, so hashing on an ever-changing set of blocking
//! threads grew the process by ~20 MiB a thread (hundreds of MiB under a login flood); a
//! fixed set of `max_concurrent` threads keeps it at `max_concurrent` blocks.
//!
//! Passwords are never logged: nothing here is instrumented with its arguments.

use std::fmt;
use std::sync::{Arc, Mutex, mpsc};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{Result, StoreError};

/// Hashes and verifies passwords with argon2id (argon2 0.6 defaults: m=19456 KiB, t=2, p=1),
/// never on the async executor: each operation runs on one of `max_concurrent` hashing
/// threads while holding a semaphore permit (each takes ~19 MiB).
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

    /// Verifies `password` against `hash`.
    ///
    /// * `Some(hash)` with a usable argon2 PHC hash: the real check.
    /// * `Some(hash)` that is unusable (`""`, `"!…"`), unparsable or of an unsupported
    ///   algorithm: verifies the dummy hash instead and returns `false`.
    /// * `None` (unknown user): verifies the dummy hash and returns `false` — the same
    ///   work as a wrong password.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] only if the blocking task dies; a bad hash is `Ok(false)`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let secret = SecretBytes::new(password);
        let hash = hash.map(str::to_owned);
        let dummy = Arc::clone(&self.dummy);
        self.run_blocking(move || verify_sync(&secret.0, hash.as_deref(), &dummy))
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

/// Working memory larger than this (a hash imported with unusual parameters) is used once
/// and not kept.
const KEEP_BLOCKS: usize = 64 * 1024;

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
/// `None` when the hash is not one argon2 can check (unknown algorithm or parameters).
fn verify_parsed(password: &[u8], hash: &PasswordHash) -> Option<bool> {
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(version) => Version::try_from(version).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(hash).ok()?;
    let (salt, expected) = (hash.salt.as_ref()?, hash.hash.as_ref()?);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, blocks)
    })
    .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == *expected)
}

fn is_usable(hash: &str) -> bool {
    !hash.is_empty() && !hash.starts_with('!')
}

fn verify_sync(password: &[u8], hash: Option<&str>, dummy: &str) -> bool {
    if let Some(hash) = hash.filter(|h| is_usable(h))
        && let Ok(parsed) = PasswordHash::new(hash)
        && let Some(matched) = verify_parsed(password, &parsed)
    {
        // The full computation ran: the same work whether or not it matched.
        return matched;
    }
    // Unknown user, unusable or unparsable hash: spend the same time, then refuse.
    if let Ok(parsed) = PasswordHash::new(dummy) {
        let _ = verify_parsed(password, &parsed);
    }
    false
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
        assert!(verify_sync(b"correct horse", Some(&theirs), &ours));
        assert!(!verify_sync(b"wrong horse", Some(&theirs), &ours));
        // Another parameter set (as an imported hash might have) is read from the hash.
        let light = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap(),
        );
        let other = light.hash_password(b"correct horse").unwrap().to_string();
        assert!(verify_sync(b"correct horse", Some(&other), &ours));
    }

    #[test]
    fn fallback_dummy_is_a_valid_default_argon2id_hash() {
        let parsed = PasswordHash::new(FALLBACK_DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(!verify_sync(
            b"x",
            Some(FALLBACK_DUMMY_HASH),
            FALLBACK_DUMMY_HASH
        ));
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
                    (i, hasher.verify(pw, Some(&hash)).await.unwrap())
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
