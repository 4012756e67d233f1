//! Unit tests of the settings: defaults, parsing and validation.

use super::*;

fn with_key() -> Settings {
    Settings {
        signing_key: Some("k".repeat(32).into()),
        ..Settings::default()
    }
}

#[test]
fn defaults_are_simplejwts() {
    let s = Settings::default();
    assert_eq!(s.access_token_lifetime, Duration::from_secs(300));
    assert_eq!(s.refresh_token_lifetime, Duration::from_secs(86_400));
    assert!(!s.rotate_refresh_tokens && !s.blacklist_after_rotation && !s.update_last_login);
    assert_eq!(s.algorithm, Algorithm::HS256);
    assert_eq!(s.auth_header_types, ["Bearer"]);
    assert_eq!(s.auth_header(), "authorization");
    assert_eq!(s.user_id_claim, "user_id");
    assert_eq!(
        s.auth_token_classes,
        ["rest_framework_simplejwt.tokens.AccessToken"]
    );
    assert_eq!(s.leeway, Duration::ZERO);
    assert!(with_key().validate().is_ok());
}

#[test]
fn durations_parse_from_seconds_and_text() {
    let s: Settings = serde_json::from_value(serde_json::json!({
        "access_token_lifetime": 900,
        "refresh_token_lifetime": "7d",
        "sliding_token_lifetime": "1h 30m",
        "leeway": 1.5,
    }))
    .unwrap();
    assert_eq!(s.access_token_lifetime, Duration::from_secs(900));
    assert_eq!(s.refresh_token_lifetime, Duration::from_secs(7 * 86_400));
    assert_eq!(s.sliding_token_lifetime, Duration::from_secs(5400));
    assert_eq!(s.leeway, Duration::from_millis(1500));
    assert!(
        duration::parse("soon")
            .unwrap_err()
            .contains("not a duration")
    );
}

#[test]
fn durations_with_a_fraction_are_written_so_that_they_read_back() {
    let s = Settings {
        leeway: Duration::from_millis(250),
        access_token_lifetime: Duration::from_secs(900),
        ..Settings::default()
    };
    let written = serde_json::to_value(&s).unwrap();
    assert_eq!(written["leeway"], serde_json::json!(0.25));
    assert_eq!(written["access_token_lifetime"], serde_json::json!(900));
    let read: Settings = serde_json::from_value(written).unwrap();
    assert_eq!(read.leeway, Duration::from_millis(250));
}

#[test]
fn lists_parse_from_comma_separated_text() {
    let s: Settings =
        serde_json::from_value(serde_json::json!({"auth_header_types": "Bearer, JWT"})).unwrap();
    assert_eq!(s.auth_header_types, ["Bearer", "JWT"]);
}

#[test]
fn invalid_values_name_their_setting() {
    type Mutation = Box<dyn Fn(&mut Settings)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "access_token_lifetime",
            Box::new(|s| s.access_token_lifetime = Duration::ZERO),
        ),
        ("signing_key", Box::new(|s| s.signing_key = Some("".into()))),
        (
            "signing_key_file",
            Box::new(|s| s.signing_key_file = Some("k.pem".into())),
        ),
        (
            "verifying_key_file",
            Box::new(|s| s.verifying_key_file = Some("k.pub".into())),
        ),
        (
            "signing_key_id",
            Box::new(|s| s.signing_key_id = Some("../../etc/passwd".into())),
        ),
        (
            "key_encryption_key",
            Box::new(|s| s.key_encryption_key = Some("short".into())),
        ),
        (
            "key_refresh_interval",
            Box::new(|s| s.key_refresh_interval = Duration::ZERO),
        ),
        ("jwk_timeout", Box::new(|s| s.jwk_timeout = Duration::ZERO)),
        ("signing_key", Box::new(|s| s.key_source = KeyOrigin::Store)),
        (
            "key_publish_lead",
            Box::new(|s| {
                s.signing_key = None;
                s.key_source = KeyOrigin::Store;
                s.key_publish_lead = Duration::from_secs(60);
            }),
        ),
        ("verifying_key", Box::new(|s| s.verifying_key = "x".into())),
        (
            "audience",
            Box::new(|s| s.audience = Some(Audience::Many(vec![]))),
        ),
        ("issuer", Box::new(|s| s.issuer = Some(String::new()))),
        (
            "json_encoder",
            Box::new(|s| s.json_encoder = Some("x.Encoder".into())),
        ),
        (
            "jwk_url",
            Box::new(|s| s.jwk_url = Some("https://x".into())),
        ),
        (
            "jwk_url",
            Box::new(|s| {
                s.algorithm = Algorithm::RS256;
                s.jwk_url = Some("ftp://x/jwks.json".into());
            }),
        ),
        (
            "auth_header_types",
            Box::new(|s| s.auth_header_types = vec!["Be arer".into()]),
        ),
        (
            "auth_header_name",
            Box::new(|s| s.auth_header_name = "HTTP_AUTH ORIZATION".into()),
        ),
        (
            "user_id_field",
            Box::new(|s| s.user_id_field = "uuid".into()),
        ),
        ("jti_claim", Box::new(|s| s.jti_claim = String::new())),
        (
            "token_obtain_serializer",
            Box::new(|s| s.token_obtain_serializer = "my.Serializer".into()),
        ),
        (
            "auth_token_classes",
            Box::new(|s| s.auth_token_classes = vec!["RefreshToken".into()]),
        ),
        (
            "check_revoke_token",
            Box::new(|s| s.check_revoke_token = true),
        ),
    ];
    for (name, mutate) in cases {
        let mut s = with_key();
        mutate(&mut s);
        let err = s.validate().unwrap_err();
        assert_eq!(err.setting, name, "{err}");
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn key_settings_that_work_are_accepted() {
    let store = Settings {
        key_source: KeyOrigin::Store,
        key_encryption_key: Some("k".repeat(32).into()),
        ..Settings::default()
    };
    assert!(store.validate().is_ok());
    let remote = Settings {
        algorithm: Algorithm::RS256,
        jwk_url: Some("https://issuer.example/.well-known/jwks.json".into()),
        ..with_key()
    };
    assert!(remote.validate().is_ok());
    let s: Settings = serde_json::from_value(serde_json::json!({
        "key_source": "store", "key_publish_lead": "2h", "jwks_cache_ttl": "10m",
    }))
    .unwrap();
    assert_eq!(s.key_source, KeyOrigin::Store);
    assert_eq!(s.jwks_max_age(), Duration::from_secs(600));
    let short = Settings {
        key_publish_lead: Duration::from_secs(120),
        ..Settings::default()
    };
    assert_eq!(short.jwks_max_age(), Duration::from_secs(90));
}

#[test]
fn auth_token_classes_accept_paths_and_bare_names() {
    let s = Settings {
        auth_token_classes: vec![
            "AccessToken".into(),
            "rest_framework_simplejwt.tokens.SlidingToken".into(),
        ],
        ..with_key()
    };
    assert!(s.validate().is_ok());
    let kinds: Vec<_> = s
        .auth_token_kinds()
        .iter()
        .map(|k| k.class_name().to_owned())
        .collect();
    assert_eq!(kinds, ["AccessToken", "SlidingToken"]);
}

#[test]
fn plain_header_names_are_accepted() {
    let s = Settings {
        auth_header_name: "X-Auth-Token".into(),
        ..with_key()
    };
    assert_eq!(s.auth_header(), "x-auth-token");
    assert!(s.validate().is_ok());
}
