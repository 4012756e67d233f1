//! The runner of every crate's fuzz targets (each includes this file with `#[path]`): a
//! proptest run that reports its case count and time, so that the long runs of
//! `scripts/fuzz` can print them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The number in the environment variable `var`, or `default`.
pub fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on `default_cases` inputs of `strategy` (or `PROPTEST_CASES` of them).
pub fn fuzz<S: Strategy>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    fuzz_cases(name, cases("PROPTEST_CASES", default_cases), strategy, test);
}

/// Runs `test` on exactly `cases` inputs of `strategy`, printing the count and the time; a
/// broken property (or a panic in the code under test) fails with its shrunk input.
pub fn fuzz_cases<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let ran = AtomicU64::new(0);
    let start = Instant::now();
    let result = TestRunner::new(config).run(&strategy, |input| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    eprintln!(
        "fuzz {name}: {} cases in {:.2?}",
        ran.load(Ordering::Relaxed),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}
