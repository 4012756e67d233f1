//! The links of the account mails carry a token in their path: the request log and the CSRF
//! refusal log record such a path only up to the link's prefix.

use crate::helpers::Server;

/// A token as the mails carry one: 43 characters of base64url.
const TOKEN: &str = "Zq3xW8vN1mK5tR9yB2cF7hJ4dL6gP0sA-eU_oI8wXy4";

#[tokio::test]
async fn the_token_of_a_mail_link_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // Mail on (the link pages exist only then); no mail is sent, so the server is never
    // contacted.
    let mail = [
        ("TESSERA_EMAIL_BACKEND", "smtp"),
        ("TESSERA_SMTP_URL", "smtps://smtp.example.com"),
        ("TESSERA_PUBLIC_URL", "https://api.example.com"),
    ];
    let mut server = Server::start_with(dir.path(), &mail);
    let client = reqwest::Client::new();
    let paths = [
        format!("/account/reset/MQ/{TOKEN}/"),
        format!("/account/verify-email/{TOKEN}/"),
        format!("/account/email-change/{TOKEN}/"),
    ];

    for path in &paths {
        let page = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{path}");
        // A cross-site, cookie-authenticated POST: refused, and the refusal logged.
        let refused = client
            .post(format!("{}{path}", server.base))
            .header("cookie", "access_token=not-a-token")
            .header("origin", "https://attacker.example")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{path}");
    }

    let (status, logs) = server.terminate();
    assert!(status.success(), "{status:?}");
    for prefix in [
        "/account/reset/",
        "/account/verify-email/",
        "/account/email-change/",
    ] {
        assert!(
            logs.iter().any(|l| l.contains(prefix) && l.contains("200")),
            "the request to {prefix} is logged: {logs:#?}"
        );
    }
    assert!(
        logs.iter()
            .any(|l| l.contains("CSRF check refused") && l.contains("/account/reset/")),
        "the refusal is logged: {logs:#?}"
    );
    let leaked: Vec<_> = logs.iter().filter(|l| l.contains(&TOKEN[..16])).collect();
    assert!(leaked.is_empty(), "the token reached the log: {leaked:#?}");
}
