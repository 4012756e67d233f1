//! Peak memory of the password hasher under load: `cargo run --release -p tessera-store --example hash_memory`.
//! Prints the process's peak resident memory after 200 verifications on the hashing pool.

#[tokio::main]
async fn main() {
    let hasher = tessera_store::PasswordHasher::new(2);
    let hash =
        tessera_store::PasswordHasher::hash_blocking("correct horse battery staple").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (hasher, hash) = (hasher.clone(), hash.clone());
        tasks.push(tokio::spawn(async move {
            hasher
                .verify("correct horse battery staple", Some(&hash))
                .await
                .unwrap()
                .is_valid()
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    println!("{peak}");
}
