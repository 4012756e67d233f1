//! Password hashing on the bounded pool: argon2id, Django's formats, unusable and malformed
//! hashes, the same work for unknown users.

use tessera_store::{PasswordHasher, Verified};

#[tokio::test]
async fn hash_and_verify() {
    let hasher = PasswordHasher::new(2);
    let hash = hasher.hash("correct horse").await.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("correct horse"));

    assert_eq!(
        hasher.verify("correct horse", Some(&hash)).await.unwrap(),
        Verified::Valid
    );
    assert!(
        !hasher
            .verify("correct horsE", Some(&hash))
            .await
            .unwrap()
            .is_valid()
    );
    assert!(!hasher.verify("", Some(&hash)).await.unwrap().is_valid());

    // Fresh salt every time.
    let again = hasher.hash("correct horse").await.unwrap();
    assert_ne!(hash, again);
    assert!(
        hasher
            .verify("correct horse", Some(&again))
            .await
            .unwrap()
            .is_valid()
    );
}

#[tokio::test]
async fn unknown_user_verifies_false() {
    let hasher = PasswordHasher::new(1);
    assert!(!hasher.verify("anything", None).await.unwrap().is_valid());
    assert!(!hasher.verify("", None).await.unwrap().is_valid());
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
            !hasher
                .verify("garbage", Some(bad))
                .await
                .unwrap()
                .is_valid(),
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
    assert_eq!(ok.unwrap(), Verified::Valid);
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
                let ok = hasher.verify(pw, hash.as_deref()).await.unwrap().is_valid();
                (i, ok, expected)
            })
        })
        .collect();
    for task in tasks {
        let (i, ok, expected) = task.await.unwrap();
        assert_eq!(ok, expected, "task {i}");
    }
}

#[tokio::test]
async fn django_hashes_verify_and_ask_for_an_argon2id_rehash() {
    let hasher = PasswordHasher::new(1);
    // Made by Django 5.2.19: make_password("correct horse", hasher=H()) with H a subclass
    // at lower cost (PBKDF2 iterations = 1000; bcrypt rounds = 4; scrypt work_factor = 2**4,
    // parallelism = 1; argon2 time_cost = 1, memory_cost = 64, parallelism = 2).
    for (algorithm, encoded) in [
        (
            "pbkdf2_sha256",
            "pbkdf2_sha256$1000$GCmfcj3zrcvU4I3u2DkLnb$W11PeCHuInqMr3dc5ovUv64GTSsXmZsXyAyjTB/ZfEQ=",
        ),
        (
            "pbkdf2_sha1",
            "pbkdf2_sha1$1000$EGqy0eV0oINioPEZJDySx6$hBijD39gRCzF3alDY1uCss9NfqY=",
        ),
        (
            "argon2",
            "argon2$argon2id$v=19$m=64,t=1,p=2$QjY4N3U0WHVTRk1zS3JKMVl5WENyeA$9eBcDa+alrUcVAz6MUpDU2O0E18xgKGKPoy93ityyW0",
        ),
        (
            "bcrypt_sha256",
            "bcrypt_sha256$$2b$04$9ZbsTdyASn7GI0rGJKvT3eLUKRmjsSL/riMJ.xH2sLFhr0lJVfzju",
        ),
        (
            "bcrypt",
            "bcrypt$$2b$04$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.",
        ),
        (
            "scrypt",
            "scrypt$16$r7DJdv42LTtJ6GB9dT0C6S$8$1$o4gnZzdzFH+4/ifVepSonRlxslDTZATzKNbN9IZOaxZhuMnRnk1NFEyb20PlhfsV22FtUQ53TcbqYHjNOeL0ZQ==",
        ),
    ] {
        let verified = hasher.verify("correct horse", Some(encoded)).await.unwrap();
        assert_eq!(
            verified,
            Verified::ValidNeedsRehash { algorithm },
            "{encoded}"
        );
        let wrong = hasher
            .verify("correct horse ", Some(encoded))
            .await
            .unwrap();
        assert_eq!(wrong, Verified::Invalid, "{encoded}");
    }
    // The rehash is Tessera's own, which needs none.
    let fresh = hasher.hash("correct horse").await.unwrap();
    let verified = hasher.verify("correct horse", Some(&fresh)).await.unwrap();
    assert_eq!(verified, Verified::Valid);
}
