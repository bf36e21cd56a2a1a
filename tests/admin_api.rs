//! The admin API off loopback: served over HTTPS with the meeting page's
//! certificate, every request carrying the bearer token; checked with
//! `openssl s_client` as the client.

mod common;

use common::{free_port, https, request, Mra};

#[test]
fn admin_api_off_loopback_is_https_and_needs_the_token() {
    let port = free_port();
    let bind = format!("0.0.0.0:{port}");
    let mra = Mra::start_with(&[
        ("MRA_ADMIN_BIND", &bind),
        ("MRA_ADMIN_TOKEN", "s3cret-token"),
        ("MRA_WEB_TLS", "true"),
    ]);
    let token = Some("s3cret-token");

    let ((status, body), admin_cert) = https(mra.admin, "GET", "/api/v1/meetings", None, token);
    assert_eq!(status, 200, "with the token: {body}");
    let created = https(
        mra.admin,
        "POST",
        "/api/v1/meetings",
        Some(r#"{"number":"123456789","name":"Weekly"}"#),
        token,
    );
    assert_eq!(created.0 .0, 201, "{}", created.0 .1);
    let ((_, listed), _) = https(mra.admin, "GET", "/api/v1/meetings", None, token);
    assert!(listed.contains("123456789"), "{listed}");

    for wrong in [None, Some("s3cret-tokeN"), Some("s3cret"), Some("")] {
        let ((status, body), _) = https(mra.admin, "GET", "/api/v1/meetings", None, wrong);
        assert_eq!(status, 401, "token {wrong:?}: {body}");
    }
    // No clear HTTP off loopback, even with the token.
    let (status, _) = request(mra.admin, "GET", "/api/v1/meetings", None, token);
    assert_eq!(status, 0, "answered in clear");

    // The meeting page's certificate.
    let (_, page_cert) = https(mra.web, "GET", "/", None, None);
    assert!(!admin_cert.is_empty());
    assert_eq!(admin_cert, page_cert, "not the meeting page's certificate");
}
