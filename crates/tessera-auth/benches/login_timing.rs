//! How long a failed login takes, by what failed: an unknown name, a wrong password for
//! Tessera's own argon2id hash, and one for an imported Django `pbkdf2_sha256` hash with
//! Django 5.2's 1,000,000 iterations. Runs `Auth::check_credentials` against an in-memory
//! SQLite store (lockout off), the three cases interleaved, and prints each case's median
//! with the unpadded check time beside it, and the ratio of the slowest median to the
//! fastest: 1.00 means the timing tells nothing.
//!
//! Run with `cargo bench -p tessera-auth --bench login_timing` (`LOGIN_TIMING_ROUNDS`, 31).

use std::time::{Duration, Instant};

use tessera_auth::guard::ThrottleSettings;
use tessera_auth::{Auth, ClientInfo};
use tessera_core::{Settings, UsernameField};
use tessera_store::{NewUser, PasswordHasher, Store};

/// Django 5.2's `make_password("correct horse", hasher="pbkdf2_sha256")`.
const PBKDF2_1M: &str =
    "pbkdf2_sha256$1000000$n5C9piFkt2DMYbW2dad0zt$jBll3JMPwv/H+4x/wF8dVNetVJN28s219fmeRkyDx1c=";
const PASSWORD: &str = "correct horse";

/// The three failures measured: a label, the login name and the stored hash.
const CASES: [(&str, &str); 3] = [
    ("unknown user", "nobody"),
    ("wrong password, argon2id", "ada"),
    ("wrong password, pbkdf2_sha256 1M", "imported"),
];

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

async fn run(rounds: usize) {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let settings = Settings {
        username_field: UsernameField::Username,
        ..Settings::default()
    };
    let auth = Auth::builder(settings, store)
        .throttling(ThrottleSettings {
            login_failure_limit: 0,
            ..ThrottleSettings::default()
        })
        .hasher(PasswordHasher::new(2))
        .offline()
        .build()
        .await
        .unwrap();
    let own = PasswordHasher::hash_blocking(PASSWORD).unwrap();
    for (username, hash) in [("ada", own.as_str()), ("imported", PBKDF2_1M)] {
        auth.store()
            .create_user(&NewUser {
                username: Some(username.into()),
                email: format!("{username}@example.com"),
                password_hash: hash.into(),
                is_active: true,
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    let client = ClientInfo::default();
    let hasher = auth.hashing().hasher();

    // One round to warm up: the first check of a format teaches its time.
    for (_, name) in CASES {
        let _ = auth.check_credentials(name, "wrong horse", &client).await;
    }
    let mut padded = vec![Vec::with_capacity(rounds); CASES.len()];
    let mut unpadded = vec![Vec::with_capacity(rounds); CASES.len()];
    for _ in 0..rounds {
        for (index, (_, name)) in CASES.iter().enumerate() {
            let started = Instant::now();
            let answer = auth.check_credentials(name, "wrong horse", &client).await;
            padded[index].push(started.elapsed());
            assert!(answer.unwrap().is_none());
            let hash = match *name {
                "ada" => Some(own.as_str()),
                "imported" => Some(PBKDF2_1M),
                _ => None,
            };
            let check = hasher.verify_measured("wrong horse", hash).await.unwrap();
            unpadded[index].push(check.took);
        }
    }

    println!(
        "failed logins, {rounds} rounds; failure time now {:?}",
        auth.hashing().failure_time()
    );
    println!();
    println!("| case | median failed login | median check alone |");
    println!("|---|---:|---:|");
    let (mut logins, mut checks) = (Vec::new(), Vec::new());
    for (index, (label, _)) in CASES.iter().enumerate() {
        let login = median(&mut padded[index]);
        let check = median(&mut unpadded[index]);
        logins.push(login);
        checks.push(check);
        println!("| {label} | {:.1} ms | {:.1} ms |", ms(login), ms(check));
    }
    println!();
    println!(
        "ratio slowest / fastest median: {:.3} (checks alone: {:.1})",
        ratio(&logins),
        ratio(&checks)
    );
}

/// The slowest of `medians` over the fastest.
fn ratio(medians: &[Duration]) -> f64 {
    let slowest = medians.iter().max().unwrap();
    let fastest = medians.iter().min().unwrap();
    slowest.as_secs_f64() / fastest.as_secs_f64()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs one short round.
    let testing = !std::env::args().any(|arg| arg == "--bench");
    let rounds = if testing {
        1
    } else {
        std::env::var("LOGIN_TIMING_ROUNDS")
            .ok()
            .and_then(|rounds| rounds.parse().ok())
            .unwrap_or(31)
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(rounds));
}
