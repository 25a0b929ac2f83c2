//! Enrolled-only courses through edge-origin: CloudFront-format signed URLs and cookies,
//! issued by `POST /_origin/grants` for students on the roster, checked before the cache,
//! interoperable with openssl both ways, and every bad grant refused with the 403 page.
//!
//! Every test runs against two origins on the same store: one with `--public-url` (grants
//! name the configured host) and one without (grants name the request's own validated
//! `host[:port]`), because the second is where the Host header could be abused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use bundle::grant::{decode_cf_base64, encode_cf_base64, sign_custom, HashAlgorithm, Policy, SigningKey};
use e2e::{build_ok, client, get, live_manifest, raw_status, require_tool, sample_content, Origin};

const BASE: &str = "http://learn.test";
const ENROLLED: &str = "/courses/data-structures/";

struct Setup {
    store: tempfile::TempDir,
    keys: tempfile::TempDir,
    /// With `--public-url http://learn.test`.
    origin: Origin,
    /// Without `--public-url`: grants name `http://<Host>`.
    by_host: Origin,
    lesson: String,
}

/// One of the two origins, and the base URL its grants name.
struct Mode<'a> {
    origin: &'a Origin,
    base: String,
}

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    require_tool("openssl", "apt-get install -y openssl");
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn setup() -> Setup {
    let keys = tempfile::tempdir().expect("tempdir");
    let k = keys.path();
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"], k);
    openssl(&["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa_pub.pem"], k);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"], k);
    openssl(&["pkey", "-in", "ec.pem", "-pubout", "-out", "ec_pub.pem"], k);
    std::fs::write(k.join("rosters.toml"), "[courses]\ndata-structures = [\"alice\", \"carol\"]\n")
        .expect("roster");

    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let lesson =
        e2e::enrolled_lesson_route(&manifest, ENROLLED).map(|(r, _)| r).expect("an enrolled lesson").clone();
    let key = |name: &str| k.join(name).display().to_string();
    let (rsa_trust, ec_trust) =
        (format!("K1RSA={}", key("rsa_pub.pem")), format!("K2EC={}", key("ec_pub.pem")));
    let (signing, rosters) = (key("rsa.pem"), key("rosters.toml"));
    let args = [
        "--trusted-key",
        &rsa_trust,
        "--trusted-key",
        &ec_trust,
        "--api-key",
        "lms-api-key",
        "--signing-key",
        &signing,
        "--signing-key-pair-id",
        "K1RSA",
        "--rosters",
        &rosters,
        // The RSA key signs here so openssl can check the grants it mints.
        "--allow-rsa-signing",
    ];
    let mut with_public_url = args.to_vec();
    with_public_url.extend(["--public-url", BASE]);
    let origin = Origin::start(store.path(), &with_public_url);
    let by_host = Origin::start(store.path(), &args);
    Setup { store, keys, origin, by_host, lesson }
}

impl Setup {
    /// Both origins, each with the base its grants must name.
    fn modes(&self) -> [Mode<'_>; 2] {
        [
            Mode { origin: &self.origin, base: BASE.to_owned() },
            Mode { origin: &self.by_host, base: self.by_host.base.clone() },
        ]
    }

    fn key(&self, name: &str) -> PathBuf {
        self.keys.path().join(name)
    }

    fn signing_key(&self, name: &str) -> SigningKey {
        SigningKey::from_pem(&std::fs::read_to_string(self.key(name)).expect("pem")).expect("key")
    }

    /// The page's identity bytes, to prove what was (not) served.
    fn content(&self, route: &str) -> Vec<u8> {
        let (_, manifest) = live_manifest(self.store.path());
        std::fs::read(self.store.path().join("objects").join(manifest.routes[route].object.as_str()))
            .expect("object")
    }

    fn request_grant(&self, student: &str, course: &str) -> reqwest::blocking::Response {
        request_grant(&self.origin, student, course)
    }

    /// A grant signed here (as a third party holding the RSA key would).
    fn grant(&self, policy: &Policy, key_pair_id: &str) -> String {
        sign_custom(policy, &self.signing_key("rsa.pem"), key_pair_id, HashAlgorithm::Sha256).query
    }
}

fn request_grant(origin: &Origin, student: &str, course: &str) -> reqwest::blocking::Response {
    client()
        .post(origin.url("/_origin/grants"))
        .bearer_auth("lms-api-key")
        .body(format!("{{\"student\":\"{student}\",\"course\":\"{course}\",\"ttl\":\"10m\"}}"))
        .send()
        .expect("post grants")
}

fn course_policy(base: &str, course_prefix: &str) -> Policy {
    Policy::new(format!("{base}{course_prefix}*"), now() + 300)
}

/// The `name=value` pairs of `Set-Cookie` headers, as a `Cookie` header.
fn cookie_header_of(response: &reqwest::blocking::Response) -> String {
    let pairs: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").split(';').next().expect("pair").to_owned())
        .collect();
    pairs.join("; ")
}

/// The one hint beside a grant for `course`: readable by the site's scripts (no
/// `HttpOnly`), on every page (`Path=/`), as long as the grant, and naming only the course.
fn assert_grant_hint(hints: &[&String], course: &str) {
    assert_eq!(hints.len(), 1, "one hint: {hints:?}");
    let hint = hints[0];
    assert!(hint.starts_with(&format!("course-grant.{course}=1;")), "{hint}");
    assert!(hint.contains("Path=/;") && hint.contains("Max-Age=") && hint.contains("SameSite=Lax"), "{hint}");
    assert!(!hint.contains("HttpOnly"), "the search script reads it: {hint}");
}

fn query_param<'a>(query: &'a str, name: &str) -> &'a str {
    query.split('&').find_map(|p| p.strip_prefix(&format!("{name}="))).expect("param")
}

#[test]
fn without_a_grant_the_page_is_403_and_never_the_content() {
    let s = setup();
    for m in s.modes() {
        for route in [ENROLLED.to_owned(), s.lesson.clone(), format!("{}index.html", s.lesson)] {
            let response = get(&m.origin.url(&route), &[]);
            assert_eq!(response.status(), 403, "{route}");
            assert_eq!(response.headers()["cache-control"], "no-store");
            let body = response.text().expect("body");
            assert!(body.contains("enrolled students"), "the theme's 403 page");
            assert!(body.as_bytes() != s.content(ENROLLED).as_slice());
        }
        assert_eq!(
            get(&m.origin.url("/courses/python-foundations/"), &[]).status(),
            200,
            "public courses stay open"
        );
    }
}

#[test]
fn issued_grants_open_the_course_as_url_and_as_cookies() {
    let s = setup();
    for m in s.modes() {
        let response = request_grant(m.origin, "alice", "data-structures");
        assert_eq!(response.status(), 200);
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned())
            .collect();
        let (grant, hints): (Vec<&String>, Vec<&String>) =
            cookies.iter().partition(|c| c.starts_with("CloudFront-"));
        assert!(grant.len() >= 3);
        for cookie in grant {
            for attribute in ["Path=/courses/data-structures/", "Secure", "HttpOnly", "SameSite=Lax"] {
                assert!(cookie.contains(attribute), "{cookie} has {attribute}");
            }
        }
        assert_grant_hint(&hints, "data-structures");
        let cookie_header = cookie_header_of(&response);
        let answer: serde_json::Value =
            serde_json::from_slice(&response.bytes().expect("body")).expect("json");
        let query = answer["query"].as_str().expect("query").to_owned();
        let url = answer["url"].as_str().expect("url");
        assert!(url.starts_with(&format!("{}{ENROLLED}?Policy=", m.base)), "{url} names {}", m.base);

        // URL form, on the course page and a lesson (one grant covers the course prefix): a
        // page answers with the grant as cookies and a redirect to the URL without it.
        for route in [ENROLLED, s.lesson.as_str()] {
            let signed = get(&m.origin.url(&format!("{route}?{query}&tab=2")), &[]);
            assert_eq!(signed.status(), 302, "{route}");
            assert_eq!(signed.headers()["location"], format!("{route}?tab=2"), "other parameters stay");
            assert_eq!(signed.headers()["cache-control"], "no-store");
            let set: Vec<String> = signed
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|c| c.to_str().expect("ascii").to_owned())
                .collect();
            let (grant, hints): (Vec<&String>, Vec<&String>) =
                set.iter().partition(|c| c.starts_with("CloudFront-"));
            for cookie in grant {
                for attribute in ["Path=/courses/data-structures/", "HttpOnly", "SameSite=Lax", "Max-Age="] {
                    assert!(cookie.contains(attribute), "{cookie} has {attribute}");
                }
            }
            assert_grant_hint(&hints, "data-structures");
            let page = get(&m.origin.url(route), &[("cookie", &cookie_header_of(&signed))]);
            assert_eq!(page.status(), 200, "{route}");
            assert!(page.headers()["cache-control"].to_str().expect("cc").starts_with("private"));
            assert_eq!(page.bytes().expect("body").to_vec(), s.content(route));
        }
        // Cookie form.
        let page = get(&m.origin.url(&s.lesson), &[("cookie", &cookie_header)]);
        assert_eq!(page.status(), 200);
        let etag = page.headers()["etag"].to_str().expect("etag").to_owned();
        // Range and 304 work with a grant.
        let part = get(&m.origin.url(&s.lesson), &[("cookie", &cookie_header), ("range", "bytes=0-99")]);
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().expect("part").to_vec(), s.content(&s.lesson)[..100].to_vec());
        let not_modified =
            get(&m.origin.url(&s.lesson), &[("cookie", &cookie_header), ("if-none-match", &etag)]);
        assert_eq!(not_modified.status(), 304);
        // ... and never without one, even right after (the check comes before the cache).
        assert_eq!(get(&m.origin.url(&s.lesson), &[]).status(), 403);
    }
}

#[test]
fn grants_only_for_enrolled_students_and_authenticated_callers() {
    let s = setup();
    assert_eq!(s.request_grant("mallory", "data-structures").status(), 403, "not on the roster");
    assert_eq!(s.request_grant("alice", "no-such-course").status(), 404);
    assert_eq!(s.request_grant("alice", "python-foundations").status(), 404, "public courses need no grant");
    let unauthenticated = client()
        .post(s.origin.url("/_origin/grants"))
        .bearer_auth("wrong-key")
        .body("{\"student\":\"alice\",\"course\":\"data-structures\"}")
        .send()
        .expect("post");
    assert_eq!(unauthenticated.status(), 401);
    let bad_ttl = client()
        .post(s.origin.url("/_origin/grants"))
        .bearer_auth("lms-api-key")
        .body("{\"student\":\"alice\",\"course\":\"data-structures\",\"ttl\":\"30d\"}")
        .send()
        .expect("post");
    assert_eq!(bad_ttl.status(), 400);
    let sub_second = client()
        .post(s.origin.url("/_origin/grants"))
        .bearer_auth("lms-api-key")
        .body("{\"student\":\"alice\",\"course\":\"data-structures\",\"ttl\":\"0.5s\"}")
        .send()
        .expect("post");
    assert_eq!(sub_second.status(), 400, "a grant lasts whole seconds");

    // Removing a student from the roster stops new grants at once.
    assert_eq!(s.request_grant("carol", "data-structures").status(), 200);
    std::fs::write(s.key("rosters.toml"), "[courses]\ndata-structures = [\"alice\"]\n").expect("roster");
    assert_eq!(s.request_grant("carol", "data-structures").status(), 403);
}

#[test]
fn a_minted_grant_verifies_with_openssl_and_an_openssl_grant_opens_the_page() {
    let s = setup();
    let answer: serde_json::Value =
        serde_json::from_slice(&s.request_grant("alice", "data-structures").bytes().expect("body"))
            .expect("json");
    let query = answer["query"].as_str().expect("query");
    let dir = s.keys.path();
    std::fs::write(dir.join("policy.json"), decode_cf_base64(query_param(query, "Policy")).expect("policy"))
        .expect("write");
    std::fs::write(dir.join("sig.bin"), decode_cf_base64(query_param(query, "Signature")).expect("sig"))
        .expect("write");
    let verified =
        openssl(&["dgst", "-sha256", "-verify", "rsa_pub.pem", "-signature", "sig.bin", "policy.json"], dir);
    assert_eq!(String::from_utf8_lossy(&verified.stdout).trim(), "Verified OK");

    // The reverse: openssl signs a policy with the EC key; edge-origin accepts it.
    let policy = course_policy(BASE, ENROLLED).to_json();
    std::fs::write(dir.join("mine.json"), &policy).expect("write");
    openssl(&["dgst", "-sha256", "-sign", "ec.pem", "-out", "mine.sig", "mine.json"], dir);
    let signature = std::fs::read(dir.join("mine.sig")).expect("sig");
    let grant = format!(
        "Policy={}&Signature={}&Key-Pair-Id=K2EC&Hash-Algorithm=SHA256",
        encode_cf_base64(policy.as_bytes()),
        encode_cf_base64(&signature)
    );
    let signed = get(&s.origin.url(&format!("{}?{grant}", s.lesson)), &[]);
    assert_eq!(signed.status(), 302, "a page opened by a signed URL sets the grant as cookies");
    let page = get(&s.origin.url(&s.lesson), &[("cookie", &cookie_header_of(&signed))]);
    assert_eq!(page.status(), 200);
    assert_eq!(page.bytes().expect("body").to_vec(), s.content(&s.lesson));
}

#[test]
fn every_bad_grant_is_refused() {
    let s = setup();
    for m in s.modes() {
        every_bad_grant_is_refused_by(&s, &m);
    }
}

fn every_bad_grant_is_refused_by(s: &Setup, m: &Mode<'_>) {
    let course_policy = |prefix: &str| course_policy(&m.base, prefix);
    let t = now();
    let valid = s.grant(&course_policy(ENROLLED), "K1RSA");
    let policy_b64 = query_param(&valid, "Policy").to_owned();
    let signature_b64 = query_param(&valid, "Signature").to_owned();
    let with = |policy: &str, signature: &str, id: &str| {
        format!("Policy={policy}&Signature={signature}&Key-Pair-Id={id}&Hash-Algorithm=SHA256")
    };
    let tampered_policy = {
        let json = String::from_utf8(decode_cf_base64(&policy_b64).expect("policy")).expect("utf8");
        encode_cf_base64(json.replace("data-structures", "data-structurez").as_bytes())
    };
    let tampered_signature = {
        let mut sig = decode_cf_base64(&signature_b64).expect("sig");
        sig[10] ^= 0x01;
        encode_cf_base64(&sig)
    };
    let signed = |policy: Policy| s.grant(&policy, "K1RSA");
    let mut expired = course_policy(ENROLLED);
    expired.date_less_than = t - 31; // skew is 30 s
    let mut not_yet = course_policy(ENROLLED);
    not_yet.date_greater_than = Some(t + 120);
    let mut other_ip = course_policy(ENROLLED);
    other_ip.ip_address = Some("10.0.0.0/8".parse().expect("cidr"));
    let other_course = signed(course_policy("/courses/web-animation/"));
    let cookie_of = |query: &str| {
        format!(
            "CloudFront-Policy={}; CloudFront-Signature={}; CloudFront-Key-Pair-Id=K1RSA; CloudFront-Hash-Algorithm=SHA256",
            query_param(query, "Policy"),
            query_param(query, "Signature")
        )
    };

    let lesson = s.lesson.clone();
    let cases: Vec<(&str, String, Option<String>)> = vec![
        ("tampered policy", with(&tampered_policy, &signature_b64, "K1RSA"), None),
        ("tampered signature", with(&policy_b64, &tampered_signature, "K1RSA"), None),
        ("wrong key pair id", with(&policy_b64, &signature_b64, "K9NOPE"), None),
        ("expired 1 s past skew", signed(expired), None),
        ("not yet valid", signed(not_yet), None),
        ("other course", other_course.clone(), None),
        ("prefix confusion", signed(course_policy("/courses/data/")), None),
        ("wrong ip", signed(other_ip), None),
        ("public course grant reused", signed(course_policy("/courses/python-foundations/")), None),
        ("truncated base64", with(&policy_b64[..policy_b64.len() / 2], &signature_b64, "K1RSA"), None),
        ("huge policy", with(&"A".repeat(20_000), &signature_b64, "K1RSA"), None),
        ("cookie of another course", String::new(), Some(cookie_of(&other_course))),
        ("garbage cookie", String::new(), Some("CloudFront-Policy=%%%; CloudFront-Signature=x".into())),
    ];
    let content = s.content(&lesson);
    let mut accepted = Vec::new();
    for (name, query, cookie) in &cases {
        let url =
            if query.is_empty() { m.origin.url(&lesson) } else { m.origin.url(&format!("{lesson}?{query}")) };
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
        let response = get(&url, &headers);
        let status = response.status().as_u16();
        let body = response.bytes().expect("body");
        if status != 403 || body.as_ref() == content.as_slice() {
            accepted.push(format!("{name}: {status}"));
        }
    }
    // Traversal tricks around a valid grant for a public course never reach enrolled content.
    let public_grant = signed(course_policy("/courses/python-foundations/"));
    let rest = lesson.trim_start_matches(ENROLLED);
    for trick in [
        format!("/courses/python-foundations/../data-structures/{rest}"),
        format!("/courses/python-foundations/%2e%2e/data-structures/{rest}"),
        format!("/courses/python-foundations/%252e%252e/data-structures/{rest}"),
    ] {
        let status = raw_status(&m.origin.base, &format!("{trick}?{public_grant}"));
        if status != 400 && status != 403 {
            accepted.push(format!("{trick}: {status}"));
        }
    }
    assert!(accepted.is_empty(), "bad grants let in by {}: {accepted:?}", m.base);
    // The valid grant itself opens the lesson (so the refusals above are about the tampering).
    let signed = get(&m.origin.url(&format!("{lesson}?{valid}")), &[]);
    assert_eq!(signed.status(), 302);
    assert_eq!(get(&m.origin.url(&lesson), &[("cookie", &cookie_header_of(&signed))]).status(), 200);
}

#[test]
fn through_varnish_an_enrolled_page_is_never_served_without_a_grant() {
    let s = setup();
    let varnish = e2e::varnish::Varnish::start(&s.origin.base);
    let answer: serde_json::Value =
        serde_json::from_slice(&s.request_grant("alice", "data-structures").bytes().expect("body"))
            .expect("json");
    let query = answer["query"].as_str().expect("query");
    let granted = varnish.url(&format!("{}?{query}", s.lesson));
    for _ in 0..2 {
        let signed = get(&granted, &[]);
        assert_eq!(signed.status(), 302, "the signed URL's cookies are never cached at the edge");
        assert_eq!(signed.headers().get_all("set-cookie").iter().count(), 5, "4 of the grant and its hint");
        let page = get(&varnish.url(&s.lesson), &[("cookie", &cookie_header_of(&signed))]);
        assert_eq!(page.status(), 200);
        assert_eq!(page.bytes().expect("body").to_vec(), s.content(&s.lesson));
    }
    for _ in 0..2 {
        let anonymous = get(&varnish.url(&s.lesson), &[]);
        assert_eq!(
            anonymous.status(),
            403,
            "the edge never hands the enrolled page to a request without a grant"
        );
        assert!(anonymous.bytes().expect("body").as_ref() != s.content(&s.lesson).as_slice());
    }
}

/// The routes search and offline use, through Varnish with the repo's VCL: the public
/// ones cached by kind (the segment list, entry and worker revalidated like pages, chunks
/// kept for long), the enrolled course's index and save list never handed out without the
/// grant, before or after a granted request, and never kept at the edge.
#[test]
fn through_varnish_search_offline_and_worker_routes_are_cached_by_kind_and_enrolled_ones_need_the_grant() {
    let s = setup();
    let varnish = e2e::varnish::Varnish::start(&s.origin.base);
    let (_, manifest) = live_manifest(s.store.path());
    let chunk = manifest
        .routes
        .keys()
        .find(|r| r.starts_with("/_search/") && r.ends_with(".pf_meta"))
        .expect("a public index chunk")
        .clone();
    let x_cache =
        |r: &reqwest::blocking::Response| r.headers()["x-cache"].to_str().expect("ascii").to_owned();
    let ttl = |r: &reqwest::blocking::Response| -> f64 {
        r.headers()["x-cache-ttl"].to_str().expect("ascii").parse().expect("seconds")
    };
    let mut ttls = std::collections::BTreeMap::new();
    for route in [
        "/_search/segments.json",
        "/_search/pagefind-entry.json",
        &chunk,
        "/sw.js",
        "/courses/python-foundations/_offline.json",
    ] {
        let first = get(&varnish.url(route), &[]);
        assert_eq!(first.status(), 200, "{route}");
        assert_eq!(x_cache(&first), "MISS", "{route}");
        // The browser asks for an entry with its index's tag: the edge keeps one copy.
        let again =
            if route.ends_with("entry.json") { format!("{route}?ts=abc123") } else { route.to_owned() };
        let second = get(&varnish.url(&again), &[]);
        assert_eq!(x_cache(&second), "HIT", "{again}");
        ttls.insert(route.to_owned(), ttl(&second));
        assert_eq!(second.bytes().expect("body").to_vec(), s.content(route), "{route} as stored");
    }
    assert!(
        ttls[&chunk] > 10.0 * ttls["/_search/segments.json"],
        "an immutable chunk outlives a stable list: {ttls:?}"
    );
    let worker = get(&varnish.url("/sw.js"), &[]);
    assert!(worker.headers()["content-type"].to_str().expect("ascii").starts_with("text/javascript"));

    let enrolled =
        ["/courses/data-structures/_search/segments.json", "/courses/data-structures/_offline.json"];
    let anonymous_is_refused = |when: &str| {
        for route in enrolled {
            let response = get(&varnish.url(route), &[]);
            assert_eq!(response.status(), 403, "{route} without a grant, {when}");
            assert_eq!(x_cache(&response), "MISS", "{route}, {when}");
            assert!(response.bytes().expect("body").as_ref() != s.content(route).as_slice(), "{route}");
        }
    };
    anonymous_is_refused("before any grant");
    let answer: serde_json::Value =
        serde_json::from_slice(&s.request_grant("alice", "data-structures").bytes().expect("body"))
            .expect("json");
    let signed = get(
        &varnish.url(&format!("/courses/data-structures/?{}", answer["query"].as_str().expect("query"))),
        &[],
    );
    assert_eq!(signed.status(), 302);
    let cookies = cookie_header_of(&signed);
    for route in enrolled {
        for _ in 0..2 {
            let granted = get(&varnish.url(route), &[("cookie", &cookies)]);
            assert_eq!(granted.status(), 200, "{route} with the grant");
            assert_eq!(x_cache(&granted), "MISS", "{route}: an enrolled answer is never kept at the edge");
            assert!(granted.headers()["cache-control"].to_str().expect("ascii").starts_with("private"));
            assert_eq!(granted.bytes().expect("body").to_vec(), s.content(route));
        }
    }
    anonymous_is_refused("after granted requests");
}

/// Raw HTTP/1.1: the status of `request` (everything before the blank line) sent as is.
fn raw_request(base: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    stream.write_all(format!("{request}\r\nConnection: close\r\n\r\n").as_bytes()).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    (text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), text)
}

/// The bypass: a grant for one course (here a public one, as `course sign` could
/// give) plus a Host header that carries a path made the origin match the grant against
/// `http://<Host><path>`, which opened another course. No Host, absolute-form target or
/// doubled header may carry the checked URL anywhere else.
#[test]
fn a_grant_for_one_course_never_opens_another_through_the_host_header() {
    let s = setup();
    let public_grant = s.grant(&course_policy("http://learn.test", "/courses/python-foundations/"), "K1RSA");
    let cookie = format!(
        "CloudFront-Policy={}; CloudFront-Signature={}; CloudFront-Key-Pair-Id=K1RSA; CloudFront-Hash-Algorithm=SHA256",
        query_param(&public_grant, "Policy"),
        query_param(&public_grant, "Signature")
    );
    let enrolled = format!("{}?{public_grant}", s.lesson);
    let mut let_in = Vec::new();
    for origin in [&s.origin, &s.by_host] {
        for host in [
            "learn.test/courses/python-foundations/x",
            "learn.test/courses/python-foundations/",
            "learn.test?/courses/python-foundations/",
            "learn.test#",
            "x@learn.test",
            "learn.test:80/courses/python-foundations/x",
            "learn.test\t",
            "learn.test /courses/python-foundations/x",
            "learn.test%2fcourses%2fpython-foundations%2fx",
        ] {
            for (target, extra) in
                [(enrolled.as_str(), String::new()), (s.lesson.as_str(), format!("\r\nCookie: {cookie}"))]
            {
                let (status, _) =
                    raw_request(&origin.base, &format!("GET {target} HTTP/1.1\r\nHost: {host}{extra}"));
                // A Host that carries a path is malformed (400); any other refusal is a 403.
                let expected: &[u16] =
                    if host.trim().contains(['/', '?', '#', '@', ' ']) { &[400] } else { &[400, 403] };
                if !expected.contains(&status) {
                    let_in.push(format!("{} Host {host:?} {target}: {status}", origin.base));
                }
            }
        }
        // Two Host headers, or none, are refused outright (RFC 9112 section 3.2).
        let (twice, _) = raw_request(&origin.base, &format!("GET {enrolled} HTTP/1.1\r\nHost: learn.test\r\nHost: learn.test/courses/python-foundations/x"));
        let (none, _) = raw_request(&origin.base, &format!("GET {enrolled} HTTP/1.1"));
        assert_eq!((twice, none), (400, 400), "{}", origin.base);
        // An absolute-form target that smuggles a path in its authority.
        let (smuggled, _) = raw_request(
            &origin.base,
            &format!(
                "GET http://learn.test/courses/python-foundations/x{enrolled} HTTP/1.1\r\nHost: learn.test"
            ),
        );
        assert!(smuggled == 403 || smuggled == 404 || smuggled == 400, "{}: {smuggled}", origin.base);
    }
    assert!(let_in.is_empty(), "host tricks not refused: {let_in:#?}");
    // And the grant still does what it is for.
    assert_eq!(get(&s.by_host.url("/courses/python-foundations/"), &[]).status(), 200);
}

/// Without `--public-url`, an absolute-form target names the authority (RFC 9112 section
/// 3.2.2: the Host header is then ignored): a grant is checked against the target's host.
#[test]
fn an_absolute_form_target_is_checked_against_its_own_authority() {
    let s = setup();
    let grant = s.grant(&course_policy("http://learn.test", ENROLLED), "K1RSA");
    let target = |host: &str| format!("http://{host}{}?{grant}", s.lesson);
    let (for_learn, _) =
        raw_request(&s.by_host.base, &format!("GET {} HTTP/1.1\r\nHost: other.test", target("learn.test")));
    assert_eq!(for_learn, 302, "the target's authority is the one checked, not the Host header");
    let (for_other, _) =
        raw_request(&s.by_host.base, &format!("GET {} HTTP/1.1\r\nHost: learn.test", target("other.test")));
    assert_eq!(for_other, 403, "a grant for learn.test does not open other.test's page");
    // With --public-url the configured host is what grants name, whatever the request says.
    let (configured, _) =
        raw_request(&s.origin.base, &format!("GET {} HTTP/1.1\r\nHost: learn.test", target("other.test")));
    assert_eq!(configured, 302);
}

/// A grant refused only because it names another host (`localhost` vs `127.0.0.1`) says
/// so where an operator looks: the origin's log.
#[test]
fn a_host_mismatch_is_named_in_the_log() {
    let s = setup();
    let port = s.by_host.base.rsplit(':').next().expect("port");
    let grant = s.grant(&course_policy(&format!("http://localhost:{port}"), ENROLLED), "K1RSA");
    let refused = get(&s.by_host.url(&format!("{}?{grant}", s.lesson)), &[]);
    assert_eq!(refused.status(), 403);
    let log = s.by_host.log();
    assert!(
        log.lines()
            .any(|l| l.contains("grant refused") && l.contains("host mismatch") && l.contains("localhost")),
        "{log}"
    );
}

/// `course serve --enforce-grants`: the local preview closes enrolled courses as production
/// does, and prints a signed URL per enrolled course that opens it.
#[test]
fn course_serve_can_enforce_grants_locally() {
    use std::io::{BufRead, BufReader};
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let out = tempfile::tempdir().expect("tempdir");
    let mut child = e2e::course()
        .args(["serve", "--enforce-grants", "--listen", "127.0.0.1:0", "--content"])
        .arg(sample_content())
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("course serve");
    let stdout = child.stdout.take().expect("stdout");
    let _serving = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut base = None;
    let mut signed = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while signed.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(1)) else { continue };
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(|b| b.trim_end_matches('/').to_owned());
        }
        if line.trim_start().starts_with("http") && line.contains(ENROLLED) && line.contains("Policy=") {
            signed = Some(line.trim().to_owned());
        }
    }
    let base = base.expect("course serve printed its address");
    let signed = signed.expect("course serve printed a signed URL for the enrolled course");
    assert!(signed.starts_with(&format!("{base}{ENROLLED}?")), "{signed}");
    let lesson = format!("{base}/courses/data-structures/stacks/");
    assert_eq!(get(&lesson, &[]).status(), 403, "enrolled lessons are closed");
    assert_eq!(get(&format!("{base}/courses/python-foundations/"), &[]).status(), 200);
    let opened = get(&signed, &[]);
    assert_eq!(opened.status(), 302);
    assert_eq!(get(&lesson, &[("cookie", &cookie_header_of(&opened))]).status(), 200);
}

/// Online issuing defaults to P-256: an RSA signing key needs an explicit opt-in, and bad
/// key pair ids are refused at start, not at the first grant.
#[test]
fn the_origin_refuses_rsa_signing_and_bad_key_ids_unless_told() {
    let s = setup();
    let key = |name: &str| s.key(name).display().to_string();
    let start = |extra: &[&str]| {
        let mut args = vec![
            "--store".to_owned(),
            s.store.path().display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--api-key".into(),
            "k".into(),
            "--rosters".into(),
            key("rosters.toml"),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut child = Command::new(e2e::bin("edge-origin"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run edge-origin");
        // A refusal exits at once; one that starts is killed (and the test then fails).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait_with_output().expect("output")
    };
    let rsa = start(&["--signing-key", &key("rsa.pem"), "--signing-key-pair-id", "K1RSA"]);
    assert!(!rsa.status.success());
    let stderr = String::from_utf8_lossy(&rsa.stderr);
    assert!(stderr.contains("RSA") && stderr.contains("--allow-rsa-signing"), "{stderr}");
    let bad_id = start(&["--signing-key", &key("ec.pem"), "--signing-key-pair-id", "K1;x"]);
    assert!(!bad_id.status.success());
    assert!(String::from_utf8_lossy(&bad_id.stderr).contains("key pair id"));
    let bad_trust = start(&["--trusted-key", &format!("K\"x={}", key("ec_pub.pem"))]);
    assert!(!bad_trust.status.success());
    // A broken roster is a start-up error, and its message never lists the students.
    std::fs::write(s.key("rosters.toml"), "[courses]\ndata-structures = [\"alice\" \"mallory-secret\"]\n")
        .expect("write");
    let bad_roster = start(&["--signing-key", &key("ec.pem"), "--signing-key-pair-id", "K2EC"]);
    assert!(!bad_roster.status.success());
    let stderr = String::from_utf8_lossy(&bad_roster.stderr);
    assert!(stderr.contains("roster file") && stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("mallory-secret") && !stderr.contains("alice"), "{stderr}");
}

/// An enrolled course whose course page is public: the grants API still issues grants for
/// it, and its signed URL (which names the course page) still hands the grant over.
#[test]
fn a_public_syllabus_keeps_grants_working() {
    let s = setup();
    let content = tempfile::tempdir().expect("tempdir");
    e2e::copy_tree(&sample_content(), content.path());
    let toml = content.path().join("courses/data-structures/course.toml");
    let text = std::fs::read_to_string(&toml).expect("course.toml");
    std::fs::write(
        &toml,
        text.replace("access = \"enrolled\"", "access = \"enrolled\"\nsyllabus = \"public\""),
    )
    .expect("write");
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), store.path());
    let origin = Origin::start(
        store.path(),
        &[
            "--trusted-key",
            &format!("K1RSA={}", s.key("rsa_pub.pem").display()),
            "--public-url",
            BASE,
            "--api-key",
            "lms-api-key",
            "--signing-key",
            &s.key("ec.pem").display().to_string(),
            "--signing-key-pair-id",
            "K2EC",
            "--rosters",
            &s.key("rosters.toml").display().to_string(),
            "--trusted-key",
            &format!("K2EC={}", s.key("ec_pub.pem").display()),
        ],
    );
    assert_eq!(get(&origin.url(ENROLLED), &[]).status(), 200, "the syllabus is public");
    let issued = request_grant(&origin, "alice", "data-structures");
    assert_eq!(issued.status(), 200, "the course is still enrolled-only");
    let answer: serde_json::Value = serde_json::from_slice(&issued.bytes().expect("body")).expect("json");
    let query = answer["query"].as_str().expect("query");
    let signed = get(&origin.url(&format!("{ENROLLED}?{query}")), &[]);
    assert_eq!(signed.status(), 302, "the public course page still hands the grant over");
    assert_eq!(get(&origin.url(&s.lesson), &[("cookie", &cookie_header_of(&signed))]).status(), 200);
    assert_eq!(get(&origin.url(&s.lesson), &[]).status(), 403);
}
