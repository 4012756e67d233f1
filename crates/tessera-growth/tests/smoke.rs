//! The growth measurement works, at a tiny size (the real run is `scripts/growth`).

use tessera_growth::{Options, PATHS, markdown, run};
use tessera_store::Engine;
use tessera_store::testing::{TestDatabase, postgres_required};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_measurement_runs_on_both_engines_at_a_tiny_size() {
    let mut engines = vec![Engine::Sqlite];
    // Probe first: the PostgreSQL half skips loudly when PostgreSQL does not answer.
    if TestDatabase::postgres("growth::smoke").await.is_some() || postgres_required() {
        engines.push(Engine::Postgres);
    }
    let options = Options {
        sizes: vec![100, 3000],
        engines: engines.clone(),
        ops: 20,
    };

    let report = run(&options).await.unwrap();

    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // Every path at both sizes, but the refresh beside a full flush only at the larger.
    assert_eq!(report.timings.len(), (PATHS.len() * 2 - 1) * engines.len());
    assert_eq!(report.flushes.len(), engines.len());
    assert!(
        report.flushes.iter().all(|f| f.deleted == 300 - 20 * 10),
        "{:?}",
        report.flushes
    );
    assert_eq!(
        report.plans.len(),
        engines.len(),
        "plans at the largest size"
    );
    for (_, _, plans) in &report.plans {
        assert!(plans.iter().all(|p| !p.plan.is_empty()));
    }
    let table = markdown(&report, &options);
    for (path, _) in PATHS {
        assert!(table.contains(&format!("| {path} | SQLite |")), "{table}");
    }
    assert!(table.contains("N = 3,000 median"), "{table}");
}
