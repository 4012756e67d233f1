//! A Django project's deployment settings moved to `tessera`: its `.env`, as deployments
//! write it (Django's spellings, `TESSERA_` prefix), configures a production server that
//! checks hosts, redirects to HTTPS and sends HSTS; `check --deploy` reports Django's ids.

use std::path::Path;

use reqwest::header::{HOST, STRICT_TRANSPORT_SECURITY};
use serde_json::Value;

use crate::helpers::{SIGNING_KEY, Server, run, stderr, stdout, tessera};

/// A Django project's production `.env`, with Tessera's prefix.
fn write_dotenv(dir: &Path, extra: &str) {
    let text = format!(
        "# Production settings\n\
         TESSERA_DEBUG=False\n\
         TESSERA_SIGNING_KEY={SIGNING_KEY}\n\
         TESSERA_ALLOWED_HOSTS=api.example.com,.example.org,127.0.0.1\n\
         TESSERA_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https\n\
         TESSERA_SECURE_SSL_REDIRECT=True\n\
         TESSERA_SECURE_HSTS_SECONDS=31536000\n\
         TESSERA_SECURE_HSTS_INCLUDE_SUBDOMAINS=True\n\
         TESSERA_SECURE_HSTS_PRELOAD=True\n\
         TESSERA_SESSION_COOKIE_SECURE=True\n\
         TESSERA_CSRF_COOKIE_SECURE=True\n\
         TESSERA_METRICS_TOKEN=scrape-me-9f2c1e7a\n\
         {extra}"
    );
    std::fs::write(dir.join(".env"), text).unwrap();
}

/// The variables `Server::command` sets that the `.env` file must supply instead (an empty
/// value removes one).
const FROM_DOTENV: [(&str, &str); 3] = [
    ("TESSERA_DEBUG", ""),
    ("TESSERA_ALLOWED_HOSTS", ""),
    ("TESSERA_SIGNING_KEY", ""),
];

/// The answer's head and body to `request`, written as it is to the server at `base`
/// (`http://127.0.0.1:port`).
async fn raw_get(base: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_django_dotenv_configures_a_production_server_that_checks_hosts_and_https() {
    let dir = tempfile::tempdir().unwrap();
    write_dotenv(dir.path(), "");
    let server = Server::start_with(dir.path(), &FROM_DOTENV);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |host: &str, path: &str, proto: Option<&str>| {
        let mut request = client
            .get(format!("{}{path}", server.base))
            .header(HOST, host);
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        request.send()
    };

    // The health checks answer the local checker over plain HTTP, whatever the host.
    for host in ["127.0.0.1", "10.1.2.3:8000"] {
        let health = get(host, "/healthz", None).await.unwrap();
        assert_eq!(health.status(), 200, "{host}");
    }
    // Plain HTTP is redirected to HTTPS, on the same host and path.
    let plain = get("api.example.com", "/api/auth/profile/?x=1", None)
        .await
        .unwrap();
    assert_eq!(plain.status(), 301);
    assert_eq!(
        plain.headers()["location"],
        "https://api.example.com/api/auth/profile/?x=1"
    );
    // Over HTTPS (as the proxy says), the request is served, with HSTS.
    let secure = get("www.example.org", "/api/auth/profile/", Some("https"))
        .await
        .unwrap();
    assert_eq!(secure.status(), 401);
    assert_eq!(
        secure.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains; preload"
    );
    // A client writing `https://` in its own request line (absolute form, over plain
    // HTTP) is still plain HTTP: only the proxy's header says otherwise.
    let raw = raw_get(
        &server.base,
        "GET https://api.example.com/api/auth/profile/ HTTP/1.1\r\nHost: api.example.com\r\n\
         Connection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 301"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("location: https://api.example.com/api/auth/profile/\r\n"),
        "{raw}"
    );
    assert!(
        !raw.to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{raw}"
    );
    // Another host: 400, without the host echoed (production).
    let evil = get("evil.com", "/api/auth/profile/", Some("https"))
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);
    let body: Value = evil.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"detail": "Bad Request (400)"}));
    // Authentication before method dispatch.
    let post = client
        .post(format!("{}/api/auth/profile/", server.base))
        .header(HOST, "api.example.com")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
    assert!(post.headers().contains_key("www-authenticate"));
}

#[test]
fn production_refuses_to_start_without_allowed_hosts_as_django_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let command = Server::command(dir.path(), &[("TESSERA_ALLOWED_HOSTS", "")]);
    let output = run(command, None);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains(
            "(security.W020) `allowed_hosts` ALLOWED_HOSTS must not be empty in deployment."
        ),
        "{text}"
    );
}

#[test]
fn a_misspelt_boolean_in_the_dotenv_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "TESSERA_DEBUG=False\nTESSERA_SIGNING_KEY={SIGNING_KEY}\nTESSERA_CSRF_COOKIE_HTTPONLY=Ture\n"
        ),
    )
    .unwrap();
    let mut check = tessera(dir.path());
    check.arg("check");
    let output = run(check, None);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("`csrf_cookie_httponly` (environment variable TESSERA_CSRF_COOKIE_HTTPONLY)")
            && text.contains("not a boolean"),
        "{text}"
    );
}

#[test]
fn check_deploy_reports_djangos_ids_and_texts() {
    let dir = tempfile::tempdir().unwrap();
    let mut bare = tessera(dir.path());
    bare.args(["check", "--deploy"])
        .env("TESSERA_DEBUG", "False")
        .env("TESSERA_SIGNING_KEY", SIGNING_KEY);
    let output = run(bare, None);
    assert!(!output.status.success());
    let text = stdout(&output);
    for line in [
        "error: (security.W020) `allowed_hosts` ALLOWED_HOSTS must not be empty in deployment.",
        "warning: (security.W004) `secure_hsts_seconds` You have not set a value for the SECURE_HSTS_SECONDS setting.",
        "warning: (security.W008) `secure_ssl_redirect` Your SECURE_SSL_REDIRECT setting is not set to True.",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    // The whole Django `.env` and a mail server: fit for production, no Django finding left.
    write_dotenv(
        dir.path(),
        "TESSERA_PUBLIC_URL=https://api.example.com\nTESSERA_EMAIL_BACKEND=smtp\n\
         TESSERA_SMTP_URL=smtps://mailer:secret@smtp.example.com:465\n",
    );
    let mut full = tessera(dir.path());
    full.args(["check", "--deploy"]);
    let output = run(full, None);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(!text.contains("(security."), "{text}");
    assert!(text.contains("fit for production"), "{text}");
}
