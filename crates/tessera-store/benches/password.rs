//! Password hashing with the configured parameters (argon2id, m = 19 MiB, t = 2, p = 1).
//!
//! Run with `cargo bench -p tessera-store --bench password`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_store::PasswordHasher;

fn hashing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hasher = PasswordHasher::new(1);
    let hash = PasswordHasher::hash_blocking("correct horse battery staple").unwrap();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| PasswordHasher::hash_blocking(black_box("correct horse battery staple")))
    });
    group.bench_function("verify (right password)", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify(black_box("correct horse battery staple"), Some(&hash)))
                .unwrap()
        })
    });
    group.bench_function("verify (unknown user: dummy hash)", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify(black_box("correct horse battery staple"), None))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
