//! Password hashing on the bounded pool: argon2id, unusable and malformed hashes, the same
//! work for unknown users.

use tessera_store::PasswordHasher;

#[tokio::test]
async fn hash_and_verify() {
    let hasher = PasswordHasher::new(2);
    let hash = hasher.hash("correct horse").await.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("correct horse"));

    assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
    assert!(!hasher.verify("correct horsE", Some(&hash)).await.unwrap());
    assert!(!hasher.verify("", Some(&hash)).await.unwrap());

    // Fresh salt every time.
    let again = hasher.hash("correct horse").await.unwrap();
    assert_ne!(hash, again);
    assert!(hasher.verify("correct horse", Some(&again)).await.unwrap());
}

#[tokio::test]
async fn unknown_user_verifies_false() {
    let hasher = PasswordHasher::new(1);
    assert!(!hasher.verify("anything", None).await.unwrap());
    assert!(!hasher.verify("", None).await.unwrap());
}

#[tokio::test]
async fn unusable_and_garbage_hashes_verify_false() {
    let hasher = PasswordHasher::new(1);
    for bad in [
        "",
        "!",
        "!abcdef",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$not base64!$???",
        "$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        "pbkdf2_sha256$1000000$salt$AAAA",
    ] {
        assert!(
            !hasher.verify("garbage", Some(bad)).await.unwrap(),
            "{bad:?} must not verify"
        );
    }
}

#[test]
fn hash_blocking_outside_a_runtime() {
    let hash = PasswordHasher::hash_blocking("cli-password").unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(PasswordHasher::new(1).verify("cli-password", Some(&hash)));
    assert!(ok.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_permit_serves_many_concurrent_verifies() {
    let hasher = PasswordHasher::new(1);
    let hash = hasher.hash("pw").await.unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let hasher = hasher.clone();
            let hash = hash.clone();
            tokio::spawn(async move {
                let (pw, expected) = match i % 3 {
                    0 => ("pw", true),
                    1 => ("wrong", false),
                    _ => ("pw", false),
                };
                let hash = (i % 3 != 2).then_some(hash);
                let ok = hasher.verify(pw, hash.as_deref()).await.unwrap();
                (i, ok, expected)
            })
        })
        .collect();
    for task in tasks {
        let (i, ok, expected) = task.await.unwrap();
        assert_eq!(ok, expected, "task {i}");
    }
}
