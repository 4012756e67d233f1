//! Fuzz target: the `Cookie` header, as the token and CSRF checks read it. `read_cookie`
//! finds only what is there, and a cookie route (refresh, CSRF-protected) answers a 4xx in
//! DRF's shape to any cookie, CSRF header and origin a client sends — 403 whenever the CSRF
//! header disagrees with the CSRF cookie.

use axum::http::{HeaderMap, HeaderValue, header};
use proptest::prelude::*;
use tessera_axum::cookies::read_cookie;
use tessera_axum::routes::cookie_routes;
use tessera_axum::testing::TestApp;

use crate::common::{check_refusal, fuzz, runtime};

const NAMES: [&str; 5] = [
    "access_token",
    "refresh_token",
    "csrftoken",
    "sessionid",
    "",
];

fn pair() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(NAMES.to_vec()), "[ -~]{0,24}")
            .prop_map(|(name, value)| format!("{name}={value}")),
        1 => (prop::sample::select(NAMES.to_vec()), "[!#-+\\--:<-\\[\\]-~]{0,16}")
            .prop_map(|(name, value)| format!(" {name} = \"{value}\" ")),
        1 => "[ -~]{0,30}",
        1 => prop::collection::vec(any::<u8>(), 0..30)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// Cookie header lines: each a list of pairs joined by `;` (or by odd separators).
fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let separator = prop::sample::select(vec!["; ", ";", ";;", " ; ", ","]);
    prop::collection::vec(
        prop::collection::vec((pair(), separator), 0..5).prop_map(|pairs| {
            let mut line = String::new();
            for (i, (pair, sep)) in pairs.iter().enumerate() {
                if i > 0 {
                    line.push_str(sep);
                }
                line.push_str(pair);
            }
            line.into_bytes()
        }),
        0..3,
    )
}

fn headers(lines: &[Vec<u8>]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, value);
        }
    }
    headers
}

#[test]
fn cookie_headers_are_read_for_what_they_hold() {
    let strategy = (lines(), prop::sample::select(NAMES.to_vec()));
    fuzz("cookie_read", 1000, strategy, |(lines, name)| {
        let headers = headers(&lines);
        let Some(value) = read_cookie(&headers, name) else {
            return Ok(());
        };
        prop_assert!(!value.is_empty() && !value.contains(';'), "{:?}", value);
        // Some line holds `name=value`, up to spaces and quotes.
        let found = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(k, v)| k == name && v.trim_matches('"') == value);
        prop_assert!(
            found,
            "{:?} is not a value of {} in {:?}",
            value,
            name,
            headers
        );
        Ok(())
    });
}

#[test]
fn cookie_routes_refuse_odd_cookies_in_drfs_shape() {
    let rt = runtime();
    let app = rt.block_on(async {
        TestApp::builder()
            .nest("/api", cookie_routes())
            .build()
            .await
    });
    let origin = prop::option::of(prop::sample::select(vec![
        "http://testserver",
        "https://evil.example",
        "null",
        "",
        "http://testserver.evil",
    ]));
    let fetch_site = prop::option::of(prop::sample::select(vec![
        "same-origin",
        "cross-site",
        "none",
        "SAME-ORIGIN",
    ]));
    let csrf = prop::option::of(prop_oneof!["[ -~]{0,24}", Just("abc".to_owned())]);
    let path = prop::sample::select(vec![
        "/api/auth/cookie/refresh/",
        "/api/auth/cookie/logout/",
    ]);
    let strategy = (lines(), origin, fetch_site, csrf, path);
    fuzz(
        "cookie_route",
        300,
        strategy,
        |(lines, origin, fetch_site, csrf, path)| {
            let cookies = headers(&lines);
            let mut request = app.client().post(path);
            for value in cookies.get_all(header::COOKIE) {
                request = request.header(header::COOKIE, value.clone());
            }
            if let Some(origin) = origin {
                request = request.header(header::ORIGIN, origin);
            }
            if let Some(site) = fetch_site {
                request = request.header("sec-fetch-site", site);
            }
            let csrf_value = csrf.as_deref().and_then(|c| HeaderValue::from_str(c).ok());
            if let Some(value) = &csrf_value {
                request = request.header("x-csrftoken", value.clone());
            }
            let response = rt.block_on(request.send());
            let status = response.status().as_u16();
            if status == 200 || status == 204 {
                return Ok(());
            }
            check_refusal(
                status,
                response.bytes(),
                &format!("POST {path} with {cookies:?}"),
            )?;
            if let Some(sent) = &csrf_value
                && read_cookie(&cookies, "csrftoken").map(str::as_bytes) != Some(sent.as_bytes())
            {
                prop_assert_eq!(
                    status,
                    403,
                    "CSRF header {:?} against cookies {:?}",
                    sent,
                    cookies
                );
            }
            Ok(())
        },
    );
}
