//! Cost stays flat as data grows: every hot query finds its rows through an index, on both
//! engines (the measured figures are in docs/SCALING.md).

use tessera_store::engine_tests;
use tessera_store::testing::TestDatabase;

engine_tests! {
    async fn every_hot_query_searches_an_index(db: &TestDatabase) {
        let store = db.store().await;
        let plans = store.query_plans(true).await.unwrap();
        assert_eq!(plans.len(), 12);
        for plan in &plans {
            assert!(!plan.plan.is_empty(), "{}: no plan", plan.name);
            assert!(
                !plan.has_full_scan(),
                "{} reads a whole table on {}:\n{}",
                plan.name,
                plan.engine,
                plan.plan.join("\n")
            );
            assert!(
                plan.unused_indexes().is_empty(),
                "{} does not search {:?} on {}:\n{}",
                plan.name,
                plan.unused_indexes(),
                plan.engine,
                plan.plan.join("\n")
            );
        }
    }
}
