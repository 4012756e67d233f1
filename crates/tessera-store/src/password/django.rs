//! Password hashes in the formats Django's hashers write (`<algorithm>$…`), as an import
//! from a Django project stores them: checked exactly as Django 5 checks them, in constant
//! time, and never trusted for more work than the caps below allow.
//!
//! | `algorithm` | format (as Django's `encode` writes it) |
//! |---|---|
//! | `pbkdf2_sha256`, `pbkdf2_sha1` | `<algorithm>$<iterations>$<salt>$<base64 of the derived key>` |
//! | `argon2` | `argon2` + an argon2 PHC string: `argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` (also `argon2i`, and the old strings without `v=`) |
//! | `bcrypt_sha256` | `bcrypt_sha256$` + bcrypt of the hex SHA-256 of the password: `bcrypt_sha256$$2b$12$…` |
//! | `bcrypt` | `bcrypt$` + bcrypt of the password (its first 72 bytes): `bcrypt$$2b$12$…` |
//! | `scrypt` | `scrypt$<n>$<salt>$<r>$<p>$<base64 of the 64-byte key>` |
//!
//! PBKDF2 and scrypt take the salt as the UTF-8 bytes of the text between the `$`s (not
//! decoded), and Django compares the whole re-encoded string: so numbers must be written as
//! Django writes them (decimal, no sign, no leading zero) and the key as canonical padded
//! base64 of exactly the digest's (PBKDF2) or 64 (scrypt) bytes, or the hash never
//! matches, as in Django.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;

use super::Checked;

/// The most PBKDF2 iterations a stored hash may ask for: 4 × Django 5.2's 1,000,000.
pub(super) const MAX_PBKDF2_ITERATIONS: u32 = 4 * 1_000_000;
/// The highest bcrypt cost a stored hash may ask for: 14, 2^14 rounds or 4 × Django's
/// cost 12.
pub(super) const MAX_BCRYPT_COST: u32 = 14;
/// scrypt's work for Django 5.2's defaults, `n · r · p` = 2^14 · 8 · 5.
const DJANGO_SCRYPT_WORK: u64 = (1 << 14) * 8 * 5;
/// The most scrypt work (`n · r · p`) a stored hash may ask for: 4 × Django's default.
pub(super) const MAX_SCRYPT_WORK: u64 = 4 * DJANGO_SCRYPT_WORK;
/// The largest scrypt block size `r` (Django writes 8).
pub(super) const MAX_SCRYPT_R: u32 = 32;
/// The largest scrypt parallelism `p` (Django writes 5). The lanes run one after another
/// in the same memory, so `p` multiplies the work ([`MAX_SCRYPT_WORK`]), not the memory.
pub(super) const MAX_SCRYPT_P: u32 = 16;
/// The most memory (`128 · n · r` bytes) scrypt may need for a stored hash: the memory cap
/// of every check, [`super::MAX_CHECK_MEMORY`] (Django's default needs 16 MiB).
pub(super) const MAX_SCRYPT_MEMORY: u64 = super::MAX_CHECK_MEMORY;

/// The length of the key Django's scrypt hasher derives (`dklen=64`).
const SCRYPT_KEY_LEN: usize = 64;

/// Checks `password` against `encoded`, a hash in one of Django's formats. `None` when it
/// is none of them, is malformed, or asks for more work than the caps allow: such a hash is
/// unusable and never matches.
pub(super) fn check(password: &[u8], encoded: &str) -> Option<Checked> {
    let (algorithm, rest) = encoded.split_once('$')?;
    let (name, matched) = match algorithm {
        "pbkdf2_sha256" => ("pbkdf2_sha256", pbkdf2(password, rest, Prf::Sha256)?),
        "pbkdf2_sha1" => ("pbkdf2_sha1", pbkdf2(password, rest, Prf::Sha1)?),
        // `rest` without its `$`: the PHC string starts at the `$` after "argon2".
        "argon2" => (
            "argon2",
            super::check_argon2(password, &encoded[6..])?.matched,
        ),
        "bcrypt_sha256" => ("bcrypt_sha256", bcrypt_sha256(password, rest)?),
        "bcrypt" => ("bcrypt", bcrypt(password, rest)?),
        "scrypt" => ("scrypt", scrypt(password, rest)?),
        _ => return None,
    };
    Some(Checked {
        matched,
        upgrade_from: Some(name),
    })
}

/// The pseudo-random function of a PBKDF2 hash.
#[derive(Clone, Copy)]
enum Prf {
    Sha256,
    Sha1,
}

/// `<iterations>$<salt>$<base64 key>`.
fn pbkdf2(password: &[u8], rest: &str, prf: Prf) -> Option<bool> {
    let mut parts = rest.split('$');
    let (iterations, salt, key) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || salt.is_empty() {
        return None;
    }
    let iterations = NonZeroU32::new(decimal(iterations)?)?;
    if iterations.get() > MAX_PBKDF2_ITERATIONS {
        return None;
    }
    let (algorithm, key_len) = match prf {
        Prf::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
        Prf::Sha1 => (pbkdf2::PBKDF2_HMAC_SHA1, 20),
    };
    let key = STANDARD.decode(key).ok()?;
    if key.len() != key_len {
        return None;
    }
    // Derives the key and compares it in constant time.
    Some(pbkdf2::verify(algorithm, iterations, salt.as_bytes(), password, &key).is_ok())
}

/// `$2b$<cost>$<salt and hash>` of the hex SHA-256 of the password.
fn bcrypt_sha256(password: &[u8], rest: &str) -> Option<bool> {
    bcrypt_cost(rest)?;
    let digest = digest::digest(&digest::SHA256, password);
    let mut hex = [0u8; 64];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.as_ref()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    let matched = ::bcrypt::verify(hex, rest).ok();
    // The hex digest opens the account as well as the password does.
    hex.fill(0);
    std::hint::black_box(&mut hex);
    matched
}

/// `$2b$<cost>$<salt and hash>` of the password, truncated to 72 bytes as bcrypt always
/// did (Django's own hashes of longer passwords were made so).
fn bcrypt(password: &[u8], rest: &str) -> Option<bool> {
    bcrypt_cost(rest)?;
    // Compares in constant time.
    ::bcrypt::verify(password, rest).ok()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The cost of a bcrypt string (`$2a$`, `$2b$` or `$2y$`, 60 ASCII characters) within
/// [`MAX_BCRYPT_COST`].
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let bytes = hash.as_bytes();
    if bytes.len() != 60 || !hash.is_ascii() {
        return None;
    }
    let prefix_ok = matches!(&bytes[..4], b"$2a$" | b"$2b$" | b"$2y$") && bytes[6] == b'$';
    let digits = &bytes[4..6];
    if !prefix_ok || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let cost = u32::from(digits[0] - b'0') * 10 + u32::from(digits[1] - b'0');
    (4..=MAX_BCRYPT_COST).contains(&cost).then_some(cost)
}

/// `<n>$<salt>$<r>$<p>$<base64 key>`, a 64-byte key.
fn scrypt(password: &[u8], rest: &str) -> Option<bool> {
    let mut parts = rest.split('$');
    let (n, salt, r, p, key) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || salt.is_empty() {
        return None;
    }
    let (n, r, p) = (decimal(n)?, decimal(r)?, decimal(p)?);
    if n < 2 || !n.is_power_of_two() {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    if !scrypt_within_budget(n, r, p) {
        return None;
    }
    let params = ::scrypt::Params::new(log_n, r, p).ok()?;
    let expected = STANDARD.decode(key).ok()?;
    if expected.len() != SCRYPT_KEY_LEN {
        return None;
    }
    let mut derived = [0u8; SCRYPT_KEY_LEN];
    ::scrypt::scrypt(password, salt.as_bytes(), &params, &mut derived).ok()?;
    let matched = bool::from(derived.ct_eq(expected.as_slice()));
    derived.fill(0);
    std::hint::black_box(&mut derived);
    Some(matched)
}

/// Whether scrypt with cost `n` (a power of two), block size `r` and parallelism `p` stays
/// within the budget of one check: `r` and `p` within their caps, at most [`MAX_SCRYPT_WORK`]
/// in all (`n · r · p`, `p` counted) and at most [`MAX_SCRYPT_MEMORY`] (`128 · n · r`).
fn scrypt_within_budget(n: u32, r: u32, p: u32) -> bool {
    let (n, r64, p64) = (u64::from(n), u64::from(r), u64::from(p));
    (1..=MAX_SCRYPT_R).contains(&r)
        && (1..=MAX_SCRYPT_P).contains(&p)
        && n * r64 * p64 <= MAX_SCRYPT_WORK
        && 128 * n * r64 <= MAX_SCRYPT_MEMORY
}

/// A number as Python's `"%d"` writes a positive one: ASCII digits, no sign, no leading
/// zero; at most a `u32`.
fn decimal(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    //! Vectors made by Django 5.2.19 (bcrypt 5.0.0, argon2-cffi 25.1.0) with
    //! `django.contrib.auth.hashers.make_password(pw, hasher=H())`, `settings.configure(
    //! PASSWORD_HASHERS=[…the six hashers…])` and `django.setup()`. For speed, `H` is a
    //! subclass with lower work factors (named in each comment); one vector per format has
    //! Django's defaults (`hasher="<algorithm>"`). Each was checked with
    //! `check_password(pw, encoded)` (true) and `check_password(pw + "x", encoded)` (false).

    use super::*;

    const PW: &str = "correct horse";
    const UNICODE: &str = "pässwörd ✓ 密码";

    fn verify(password: &str, encoded: &str) -> Option<bool> {
        check(password.as_bytes(), encoded).map(|checked| checked.matched)
    }

    /// `encoded` is the hash of `password` and of nothing close to it; the check names
    /// `algorithm` as the format to upgrade from.
    #[track_caller]
    fn assert_vector(algorithm: &str, password: &str, encoded: &str) {
        let checked = check(password.as_bytes(), encoded).expect("a checkable hash");
        assert!(checked.matched, "{encoded}");
        assert_eq!(checked.upgrade_from, Some(algorithm));
        for wrong in [
            format!("{password}x"),
            password.to_uppercase(),
            " ".to_owned(),
            password.chars().skip(1).collect(),
        ] {
            if wrong != password {
                assert_eq!(verify(&wrong, encoded), Some(false), "{wrong:?} {encoded}");
            }
        }
    }

    // class FastPBKDF2(PBKDF2PasswordHasher): iterations = 1000
    // make_password(pw, hasher=FastPBKDF2())
    const PBKDF2_SHA256: [(&str, &str); 3] = [
        (
            PW,
            "pbkdf2_sha256$1000$GCmfcj3zrcvU4I3u2DkLnb$W11PeCHuInqMr3dc5ovUv64GTSsXmZsXyAyjTB/ZfEQ=",
        ),
        (
            UNICODE,
            "pbkdf2_sha256$1000$fXevuKbfQYiKDz8fpbN8v9$OYH2RpbF4uw3FA+KXM22mcRcqO8Ci4AXr6VIKY5ct3Y=",
        ),
        (
            "",
            "pbkdf2_sha256$1000$mZBILcPxd1R7t95wpea7V9$K03ohRyh7/8x0NLerAFf6Af34TS0nmyUTYb96TxYfSY=",
        ),
    ];

    // class FastPBKDF2SHA1(PBKDF2SHA1PasswordHasher): iterations = 1000
    // make_password(pw, hasher=FastPBKDF2SHA1())
    const PBKDF2_SHA1: [(&str, &str); 3] = [
        (
            PW,
            "pbkdf2_sha1$1000$EGqy0eV0oINioPEZJDySx6$hBijD39gRCzF3alDY1uCss9NfqY=",
        ),
        (
            UNICODE,
            "pbkdf2_sha1$1000$TA78A7ZGy69utT0aYxm41z$RAqJhyfUrq7X3M6Nc6OlR+qZtJI=",
        ),
        (
            "",
            "pbkdf2_sha1$1000$R14Mf2aEuBhctX0C45rvZj$5kEHh6Qed8z6m4cjYGYzCuhe448=",
        ),
    ];

    // class FastArgon2(Argon2PasswordHasher): time_cost = 1; memory_cost = 64; parallelism = 2
    // make_password(pw, hasher=FastArgon2())
    const ARGON2ID: [(&str, &str); 3] = [
        (
            PW,
            "argon2$argon2id$v=19$m=64,t=1,p=2$QjY4N3U0WHVTRk1zS3JKMVl5WENyeA$9eBcDa+alrUcVAz6MUpDU2O0E18xgKGKPoy93ityyW0",
        ),
        (
            UNICODE,
            "argon2$argon2id$v=19$m=64,t=1,p=2$NmE4d0MwcWgzM3QwaUI1dkR6MUF3VQ$Z7h/O25nDp27nO9ULV29nTVVOKdxq6l2gTfNetQTy8E",
        ),
        (
            "",
            "argon2$argon2id$v=19$m=64,t=1,p=2$M0RwVGdLQzE1MXRRTFJYODN1T01oeA$wPdw3QKAhECakKpPGcgFK6zK1o95Rw0tU4XyImxnbLY",
        ),
    ];

    // class FastArgon2i(FastArgon2): params() with type = argon2.low_level.Type.I
    // make_password(pw, hasher=FastArgon2i())
    const ARGON2I: [(&str, &str); 3] = [
        (
            PW,
            "argon2$argon2i$v=19$m=64,t=1,p=2$T0ZlN0w3dG5oMVQxU0xjbWp5WTF0SA$Zv5NNX8HQ9OJ3JEqC1VSe4BW7ltZQ2D/FrsaYOKiOTE",
        ),
        (
            UNICODE,
            "argon2$argon2i$v=19$m=64,t=1,p=2$TWhvOFduS2ZOWHF6dkRlSVZ5MUtmeg$eqK9MXMnN9YCf/WB2S13oXMH0lAdlkDFF4tJ691KQS8",
        ),
        (
            "",
            "argon2$argon2i$v=19$m=64,t=1,p=2$OHNZTGs4V2dyOHhDSDRiY2JZVFUxZA$UQmnPvpkR7C2Oq5sO6Z7nXeKsettNJIOa+Soroy5LoA",
        ),
    ];

    // class FastBCryptSHA256(BCryptSHA256PasswordHasher): rounds = 4
    // make_password(pw, hasher=FastBCryptSHA256())
    const BCRYPT_SHA256: [(&str, &str); 3] = [
        (
            PW,
            "bcrypt_sha256$$2b$04$9ZbsTdyASn7GI0rGJKvT3eLUKRmjsSL/riMJ.xH2sLFhr0lJVfzju",
        ),
        (
            UNICODE,
            "bcrypt_sha256$$2b$04$dewCT16PDCrLSwHNOB6UWOW70UGtZXhG7xXvGjAWZ5nVsTN1jf0La",
        ),
        (
            "",
            "bcrypt_sha256$$2b$04$EPLWt7Liuoapt/XKGirm2.GobopNKh8cxU6mzm6IOlHcRa/cFlj5K",
        ),
    ];

    // class FastBCrypt(BCryptPasswordHasher): rounds = 4
    // make_password(pw, hasher=FastBCrypt())
    const BCRYPT: [(&str, &str); 3] = [
        (
            PW,
            "bcrypt$$2b$04$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.",
        ),
        (
            UNICODE,
            "bcrypt$$2b$04$.CKiMyRimB.eh9SRD9TDreJWBg7KPRTvtKQ2Nu0YGi1QyeVD13Jpa",
        ),
        (
            "",
            "bcrypt$$2b$04$19ZDzla91NU3xrF5DMaume1SuDVnC/OdXY8Ngzb.ah2TnsUtjdYDy",
        ),
    ];

    // class FastScrypt(ScryptPasswordHasher): work_factor = 2**4; parallelism = 1
    // make_password(pw, hasher=FastScrypt())
    const SCRYPT: [(&str, &str); 3] = [
        (
            PW,
            "scrypt$16$r7DJdv42LTtJ6GB9dT0C6S$8$1$o4gnZzdzFH+4/ifVepSonRlxslDTZATzKNbN9IZOaxZhuMnRnk1NFEyb20PlhfsV22FtUQ53TcbqYHjNOeL0ZQ==",
        ),
        (
            UNICODE,
            "scrypt$16$8wrCq3PmVuIQaYQPYFFbxS$8$1$jrOk5mAZeqKpZQ3+yEx+L/1aTrOF1CY/31/S3dHuR8GlEkCxjwo0Le1+c9PUroZa8BvdRZdQ9PQIWsbsfXCpcg==",
        ),
        (
            "",
            "scrypt$16$wu9mpxtAit2Wm7s4aObtel$8$1$QdxKAJvNq4dNqJ8QPRpSRu2wYdaj68em15GdZx8xanVLtlCL7GE79XmFNe/bLQCAqH1+z+XDGODqxw2XTxKFWQ==",
        ),
    ];

    /// Django's defaults, password "correct horse":
    /// `make_password("correct horse", hasher="<algorithm>")`.
    const DEFAULTS: [(&str, &str); 6] = [
        (
            "pbkdf2_sha256",
            "pbkdf2_sha256$1000000$n5C9piFkt2DMYbW2dad0zt$jBll3JMPwv/H+4x/wF8dVNetVJN28s219fmeRkyDx1c=",
        ),
        (
            "pbkdf2_sha1",
            "pbkdf2_sha1$1000000$VK5GApWleji5cehUOtz9EQ$DNftyYNmgIByMxBae35twy9AqTo=",
        ),
        (
            "argon2",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$a3RVUVk2VXdGbVNzaDlVb3hiRG5yMw$tWqDfCOOs9gpfHAzJF/sz/eV8D9XXNzzNG26Y2+fXm4",
        ),
        (
            "bcrypt_sha256",
            "bcrypt_sha256$$2b$12$joocR7aUf40DTUmjs7ZxZOXhgsYBg9Rw4h3HnsHR71wtmKBOhdN0G",
        ),
        (
            "bcrypt",
            "bcrypt$$2b$12$lA5nZR9vn08RwW9F5advZehrd2sVUTIMCEGUwvePZiP06H.Mn03ZC",
        ),
        (
            "scrypt",
            "scrypt$16384$TZeW9pQW9Jspw7TbpXGRP9$8$5$5X6B6UFc02i9E4cfAiLhLQ1K/h8Ff3kKDKuAt4gbnG1JFQkQk6PIOeOQfcdnRTKJR3NyMmf73cUsKwalz0W//w==",
        ),
    ];

    #[test]
    fn pbkdf2_sha256_vectors_from_django() {
        for (password, encoded) in PBKDF2_SHA256 {
            assert_vector("pbkdf2_sha256", password, encoded);
        }
    }

    #[test]
    fn pbkdf2_sha1_vectors_from_django() {
        for (password, encoded) in PBKDF2_SHA1 {
            assert_vector("pbkdf2_sha1", password, encoded);
        }
    }

    #[test]
    fn argon2id_and_argon2i_vectors_from_django() {
        for (password, encoded) in ARGON2ID.into_iter().chain(ARGON2I) {
            assert_vector("argon2", password, encoded);
        }
    }

    #[test]
    fn argon2i_without_a_version_is_argon2_1_0() {
        // Django's own test (tests/auth_tests/test_hashers.py, "Old hashes without version
        // attribute"), written by argon2-cffi before it wrote `v=`; checked here with
        // `check_password("secret", encoded)` (true) and "wrong" (false).
        let encoded = "argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg";
        assert_vector("argon2", "secret", encoded);
        assert_eq!(verify("wrong", encoded), Some(false));
    }

    #[test]
    fn bcrypt_sha256_vectors_from_django() {
        for (password, encoded) in BCRYPT_SHA256 {
            assert_vector("bcrypt_sha256", password, encoded);
        }
    }

    #[test]
    fn bcrypt_vectors_from_django() {
        for (password, encoded) in BCRYPT {
            assert_vector("bcrypt", password, encoded);
        }
    }

    #[test]
    fn scrypt_vectors_from_django() {
        for (password, encoded) in SCRYPT {
            assert_vector("scrypt", password, encoded);
        }
    }

    #[test]
    fn vectors_with_djangos_default_work_factors() {
        // One right and one wrong password each: these are slow by design.
        for (algorithm, encoded) in DEFAULTS {
            let checked = check(PW.as_bytes(), encoded).expect("a checkable hash");
            assert_eq!(
                (checked.matched, checked.upgrade_from),
                (true, Some(algorithm))
            );
            assert_eq!(verify("correct horsE", encoded), Some(false), "{encoded}");
        }
    }

    #[test]
    fn bcrypt_uses_the_first_72_bytes_and_bcrypt_sha256_all_of_them() {
        // bcrypt_sha256 hashes the password's SHA-256 first: no truncation.
        let long = "x".repeat(100);
        let hash = ::bcrypt::hash(&long[..72], 4).unwrap();
        assert_eq!(verify(&long, &format!("bcrypt${hash}")), Some(true));
        assert_eq!(verify(&long[..71], &format!("bcrypt${hash}")), Some(false));
        let digest = digest::digest(&digest::SHA256, long.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let hash = ::bcrypt::hash(hex, 4).unwrap();
        assert_eq!(verify(&long, &format!("bcrypt_sha256${hash}")), Some(true));
        assert_eq!(
            verify(&long[..72], &format!("bcrypt_sha256${hash}")),
            Some(false)
        );
    }

    /// Every prefix of a valid hash, and every one-character change of it, is either
    /// unusable (`None`) or a mismatch — never a match, never a panic.
    #[test]
    fn truncated_and_tampered_hashes_never_match() {
        let vectors = [
            PBKDF2_SHA256[0].1,
            PBKDF2_SHA1[0].1,
            ARGON2ID[0].1,
            BCRYPT_SHA256[0].1,
            BCRYPT[0].1,
            SCRYPT[0].1,
        ];
        for encoded in vectors {
            for end in 0..encoded.len() {
                assert_ne!(
                    verify(PW, &encoded[..end]),
                    Some(true),
                    "{}",
                    &encoded[..end]
                );
            }
            let bytes = encoded.as_bytes();
            for at in 0..bytes.len() {
                for replacement in [b'A', b'0', b'$', b'/', b'='] {
                    if bytes[at] == replacement {
                        continue;
                    }
                    let mut tampered = bytes.to_vec();
                    tampered[at] = replacement;
                    let tampered = String::from_utf8(tampered).unwrap();
                    assert_ne!(verify(PW, &tampered), Some(true), "{tampered}");
                }
            }
        }
    }

    #[test]
    fn numbers_must_be_written_as_django_writes_them() {
        let (_, encoded) = PBKDF2_SHA256[0];
        for iterations in ["01000", "+1000", " 1000", "1_000", "1000 ", "0", "-1000"] {
            let changed = encoded.replacen("$1000$", &format!("${iterations}$"), 1);
            assert_eq!(verify(PW, &changed), None, "{changed}");
        }
        let (_, encoded) = SCRYPT[0];
        for changed in [
            encoded.replacen("scrypt$16$", "scrypt$016$", 1),
            encoded.replacen("$8$1$", "$08$1$", 1),
            encoded.replacen("$8$1$", "$8$+1$", 1),
        ] {
            assert_eq!(verify(PW, &changed), None, "{changed}");
        }
    }

    #[test]
    fn keys_must_be_canonical_base64_of_the_right_length() {
        let (_, encoded) = PBKDF2_SHA256[0];
        // Without its padding, with its last character's spare bits set, or cut short.
        let unpadded = encoded.trim_end_matches('=');
        assert_eq!(verify(PW, unpadded), None);
        let spare_bits = format!("{}F=", &encoded[..encoded.len() - 2]);
        assert_eq!(verify(PW, &spare_bits), None);
        let short = format!("pbkdf2_sha256$1000$salt${}", STANDARD.encode([0u8; 31]));
        assert_eq!(verify(PW, &short), None);
        let long = format!("pbkdf2_sha256$1000$salt${}", STANDARD.encode([0u8; 33]));
        assert_eq!(verify(PW, &long), None);
        let huge = format!("pbkdf2_sha256$1000$salt${}", STANDARD.encode([0u8; 4096]));
        assert_eq!(verify(PW, &huge), None);
        let (_, encoded) = SCRYPT[0];
        let (head, _) = encoded.rsplit_once('$').unwrap();
        let short = format!("{head}${}", STANDARD.encode([0u8; 32]));
        assert_eq!(verify(PW, &short), None);
    }

    #[test]
    fn hostile_work_factors_are_unusable_without_the_work() {
        let key32 = STANDARD.encode([0u8; 32]);
        let key64 = STANDARD.encode([0u8; 64]);
        for encoded in [
            format!("pbkdf2_sha256$10000001$salt${key32}"),
            format!("pbkdf2_sha256$4000001$salt${key32}"),
            format!("scrypt$65536$salt$8$6${key64}"),
            format!("scrypt$131072$salt$8$1${key64}"),
            "bcrypt$$2b$15$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.".into(),
            "argon2$argon2id$v=19$m=102400,t=9,p=8$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            format!("pbkdf2_sha256$4294967295$salt${key32}"),
            format!("pbkdf2_sha256$4294967296$salt${key32}"),
            format!("pbkdf2_sha256$99999999999999999999$salt${key32}"),
            format!("pbkdf2_sha256$1000$$salt${key32}"),
            format!("pbkdf2_sha256$1000$${key32}"),
            format!("pbkdf2_sha1$10000001$salt${}", STANDARD.encode([0u8; 20])),
            format!("scrypt$2097152$salt$8$1${key64}"),
            format!("scrypt$4294967296$salt$1$1${key64}"),
            format!("scrypt$1048576$salt$8$1${key64}"),
            format!("scrypt$16384$salt$33$1${key64}"),
            format!("scrypt$16384$salt$8$17${key64}"),
            format!("scrypt$16384$salt$8$0${key64}"),
            format!("scrypt$16384$salt$0$1${key64}"),
            format!("scrypt$1$salt$8$1${key64}"),
            format!("scrypt$0$salt$8$1${key64}"),
            format!("scrypt$1000$salt$8$1${key64}"),
            format!("scrypt$16$salt$8$1$extra${key64}"),
            "bcrypt$$2b$17$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.".into(),
            "bcrypt$$2b$31$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.".into(),
            "bcrypt$$2b$03$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.".into(),
            "bcrypt$$2b$+4$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.".into(),
            "bcrypt$$2x$04$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.".into(),
            "bcrypt_sha256$$2b$99$9ZbsTdyASn7GI0rGJKvT3eLUKRmjsSL/riMJ.xH2sLFhr0lJVfzju".into(),
            "bcrypt$$2b$04$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.g.x".into(),
            "bcrypt$$2b$04$WfVv87JirFdahUv9FhTjgOo3gZ8Mw/NEG224R9M9GkqG4kLSr2.gé".into(),
            "argon2$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            "argon2$argon2id$v=19$m=64,t=1000,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            "argon2$argon2id$v=19$m=1024,t=1,p=17$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            "argon2$argon2id$v=99$m=64,t=1,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            "argon2argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            "argon2$$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
            "argon2$scrypt$ln=4,r=8,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ".into(),
        ] {
            // `None`, not `Some(false)`: refused before any work (which, for most of
            // these, would take seconds to minutes and gigabytes).
            assert_eq!(verify(PW, &encoded), None, "{encoded}");
        }
    }

    #[test]
    fn the_largest_allowed_parameters_are_still_accepted() {
        // Parsed and accepted (the check runs; the key is wrong): the caps are inclusive.
        let key64 = STANDARD.encode([0u8; 64]);
        let encoded = format!("scrypt$2$salt${MAX_SCRYPT_R}${MAX_SCRYPT_P}${key64}");
        assert_eq!(verify(PW, &encoded), Some(false));
        assert_eq!(
            bcrypt_cost(&BCRYPT[0].1[7..].replacen("$04$", "$14$", 1)),
            Some(MAX_BCRYPT_COST)
        );
        let key32 = STANDARD.encode([0u8; 32]);
        let encoded = format!("pbkdf2_sha256$1$salt${key32}");
        assert_eq!(verify(PW, &encoded), Some(false));
        for encoded in [
            "argon2$argon2id$v=19$m=128,t=1,p=16$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ",
            "argon2$argon2id$v=19$m=8,t=16,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYQ",
        ] {
            assert_eq!(verify(PW, encoded), Some(false), "{encoded}");
        }
    }

    #[test]
    fn one_work_budget_per_scrypt_check_counts_n_r_and_p() {
        // Django 5.2's default, and 4 × its work (2^14 · 8 · 5 = 655,360), are within.
        assert!(scrypt_within_budget(1 << 14, 8, 5));
        assert_eq!(MAX_SCRYPT_WORK, 2_621_440);
        assert!(scrypt_within_budget(1 << 16, 8, 5));
        assert!(!scrypt_within_budget(1 << 16, 8, 6));
        // `p` needs no more memory but counts in the work.
        assert!(scrypt_within_budget(1 << 15, 8, 10));
        assert!(!scrypt_within_budget(1 << 15, 8, 11));
        assert!(!scrypt_within_budget(1 << 14, 8, 16 + 1));
        // Memory `128 · n · r`: 64 MiB is the most.
        assert!(scrypt_within_budget(1 << 16, 8, 1));
        assert!(!scrypt_within_budget(1 << 17, 8, 1));
        assert!(!scrypt_within_budget(1 << 16, 9, 1));
        assert!(scrypt_within_budget(1 << 14, 32, 1));
        assert!(!scrypt_within_budget(1 << 10, 33, 1));
        // Zero is never a block size or a parallelism; huge `n` does not overflow.
        assert!(!scrypt_within_budget(1 << 14, 0, 1));
        assert!(!scrypt_within_budget(1 << 14, 8, 0));
        assert!(!scrypt_within_budget(1 << 31, MAX_SCRYPT_R, MAX_SCRYPT_P));
    }

    #[test]
    fn pbkdf2_and_bcrypt_caps_are_four_times_djangos_defaults() {
        assert_eq!(MAX_PBKDF2_ITERATIONS, 4 * 1_000_000);
        let key32 = STANDARD.encode([0u8; 32]);
        let over = format!("pbkdf2_sha256$4000001$salt${key32}");
        assert_eq!(verify(PW, &over), None);
        let over = format!("pbkdf2_sha1$4000001$salt${}", STANDARD.encode([0u8; 20]));
        assert_eq!(verify(PW, &over), None);
        // 2^14 rounds are 4 × Django's cost 12.
        let bcrypt = &BCRYPT[0].1[7..];
        assert_eq!(bcrypt_cost(&bcrypt.replacen("$04$", "$12$", 1)), Some(12));
        assert_eq!(bcrypt_cost(&bcrypt.replacen("$04$", "$14$", 1)), Some(14));
        assert_eq!(bcrypt_cost(&bcrypt.replacen("$04$", "$15$", 1)), None);
    }

    #[test]
    fn other_formats_are_not_djangos() {
        for encoded in [
            "md5$salt$0123456789abcdef0123456789abcdef",
            "sha1$salt$0123456789abcdef0123456789abcdef01234567",
            "unsalted_md5$0123456789abcdef0123456789abcdef",
            "crypt$$abN0vLSvQ5Ej2",
            "plain",
            "pbkdf2_sha512$1000$salt$abc",
            "PBKDF2_SHA256$1000$salt$abc",
            "$",
            "",
            "bcrypt",
            "scrypt$",
            "argon2",
            "argon2$",
        ] {
            assert_eq!(verify(PW, encoded), None, "{encoded}");
        }
    }

    #[test]
    fn decimal_is_pythons_percent_d() {
        assert_eq!(decimal("1000"), Some(1000));
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("4294967295"), Some(u32::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1_0",
            "١",
            "4294967296",
            "0x10",
        ] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }
}
