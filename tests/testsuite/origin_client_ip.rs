//! Grants with an `IpAddress` condition behind a proxy: the forwarding header names the
//! client only when the TCP peer is a configured trusted proxy (here Varnish, with the
//! repo's VCL, which appends the client to `X-Forwarded-For`), read from the right; a
//! client's own `X-Forwarded-For`, sent directly or through Varnish, is never believed.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use bundle::grant::{sign_custom, HashAlgorithm, Policy, SigningKey};
use e2e::varnish::Varnish;
use e2e::{build_ok, client_from, live_manifest, require_tool, sample_content, Origin};

const BASE: &str = "http://learn.test";
const ENROLLED: &str = "/courses/data-structures/";

struct Setup {
    _store: tempfile::TempDir,
    _keys: tempfile::TempDir,
    origin: Origin,
    lesson: String,
    /// `?Policy=..` of a grant for the course, valid only from 127.0.0.2.
    grant: String,
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn openssl(args: &[&str], dir: &Path) {
    require_tool("openssl", "apt-get install -y openssl");
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An origin that trusts the key, grants scoped to [`BASE`], and these proxy settings
/// (as `EDGE_ORIGIN_*` variables, so a build without them still starts).
fn setup(proxy_env: &[(&str, &str)]) -> Setup {
    let keys = tempfile::tempdir().expect("tempdir");
    openssl(
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"],
        keys.path(),
    );
    openssl(&["pkey", "-in", "ec.pem", "-pubout", "-out", "ec_pub.pem"], keys.path());
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let lesson = manifest
        .routes
        .keys()
        .find(|r| r.starts_with(ENROLLED) && r.len() > ENROLLED.len())
        .expect("an enrolled lesson")
        .clone();
    let trust = format!("K2EC={}", keys.path().join("ec_pub.pem").display());
    let env: Vec<(&str, String)> = proxy_env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let origin =
        Origin::start_with(store.path().as_os_str(), &["--trusted-key", &trust, "--public-url", BASE], &env);
    let pem = std::fs::read_to_string(keys.path().join("ec.pem")).expect("pem");
    let key = SigningKey::from_pem(&pem).expect("key");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let mut policy = Policy::new(format!("{BASE}{ENROLLED}*"), now + 300);
    policy.ip_address = Some("127.0.0.2/32".parse().expect("cidr"));
    let grant = sign_custom(&policy, &key, "K2EC", HashAlgorithm::Sha256).query;
    Setup { _store: store, _keys: keys, origin, lesson, grant }
}

impl Setup {
    /// Status of the lesson with the grant, from `from`, at `base`, with extra headers.
    fn lesson_status(&self, base: &str, from: &str, headers: &[(&str, &str)]) -> u16 {
        let mut request = client_from(ip(from)).get(format!("{base}{}?{}", self.lesson, self.grant));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().expect("GET lesson").status().as_u16()
    }
}

#[test]
fn behind_varnish_the_grant_sees_the_student_not_the_proxy() {
    let s = setup(&[("EDGE_ORIGIN_TRUSTED_PROXIES", "127.0.0.1")]);
    let varnish = Varnish::start(&s.origin.base);
    assert_eq!(s.lesson_status(&varnish.base, "127.0.0.2", &[]), 200, "the student the grant names");
    assert_eq!(s.lesson_status(&varnish.base, "127.0.0.3", &[]), 403, "another student");
    // A spoofed left-most entry: Varnish appends the real client after it.
    let spoof = [("X-Forwarded-For", "127.0.0.2")];
    assert_eq!(s.lesson_status(&varnish.base, "127.0.0.3", &spoof), 403, "spoofed through Varnish");
    // Straight to the origin: the peer is not a trusted proxy, its header is ignored.
    assert_eq!(s.lesson_status(&s.origin.base, "127.0.0.3", &spoof), 403, "spoofed to the origin");
    assert_eq!(s.lesson_status(&s.origin.base, "127.0.0.2", &[]), 200, "directly from the student");
    let many = [("X-Forwarded-For", "127.0.0.2, 127.0.0.2")];
    assert_eq!(s.lesson_status(&s.origin.base, "127.0.0.3", &many), 403);
}

#[test]
fn without_trusted_proxies_the_peer_is_the_client() {
    let s = setup(&[]);
    let varnish = Varnish::start(&s.origin.base);
    // Every request through Varnish comes from 127.0.0.1: no student matches.
    assert_eq!(s.lesson_status(&varnish.base, "127.0.0.2", &[]), 403);
    let spoof = [("X-Forwarded-For", "127.0.0.2")];
    assert_eq!(s.lesson_status(&s.origin.base, "127.0.0.1", &spoof), 403, "no proxy is trusted by default");
}

#[test]
fn cloudfront_viewer_address_names_the_client_as_ip_and_port() {
    let s = setup(&[
        ("EDGE_ORIGIN_TRUSTED_PROXIES", "127.0.0.4/32"),
        ("EDGE_ORIGIN_REAL_IP_HEADER", "CloudFront-Viewer-Address"),
    ]);
    let edge = "127.0.0.4";
    let base = &s.origin.base;
    assert_eq!(s.lesson_status(base, edge, &[("CloudFront-Viewer-Address", "127.0.0.2:51234")]), 200);
    assert_eq!(s.lesson_status(base, edge, &[("CloudFront-Viewer-Address", "127.0.0.3:51234")]), 403);
    assert_eq!(
        s.lesson_status(base, edge, &[("X-Forwarded-For", "127.0.0.2")]),
        403,
        "only the configured header"
    );
    assert_eq!(
        s.lesson_status(base, edge, &[("CloudFront-Viewer-Address", "127.0.0.2")]),
        403,
        "malformed: the peer"
    );
    let from_student = [("CloudFront-Viewer-Address", "127.0.0.2:1")];
    assert_eq!(s.lesson_status(base, "127.0.0.5", &from_student), 403, "not from the edge");
}

/// The repo's Varnish drops a client's own `CloudFront-Viewer-Address` (only the CDN in
/// front, proving itself with the origin-verify secret, may send it), so an origin that
/// reads that header behind Varnish never believes a client about its address.
#[test]
fn a_clients_own_cloudfront_viewer_address_never_passes_varnish() {
    let s = setup(&[
        ("EDGE_ORIGIN_TRUSTED_PROXIES", "127.0.0.1"),
        ("EDGE_ORIGIN_REAL_IP_HEADER", "CloudFront-Viewer-Address"),
    ]);
    let varnish = Varnish::start(&s.origin.base);
    let forged = [("CloudFront-Viewer-Address", "127.0.0.2:1")];
    assert_eq!(s.lesson_status(&varnish.base, "127.0.0.5", &forged), 403, "forged through Varnish");
}
