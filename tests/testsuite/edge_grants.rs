//! Varnish (the repo's VCL) caching an enrolled course for all its students: a signed
//! cookie is checked once per grant by the origin's verdict (`/_origin/grant-check`), then
//! the course's objects come from one cache entry, and never reach a request that was not
//! let in for that course. The origin runs without `--public-url`, so grants name the
//! request's own Host (the mode where the Host header matters).

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bundle::grant::{sign_custom, HashAlgorithm, Policy, SigningKey};
use e2e::varnish::{Options, Varnish};
use e2e::{build_ok, course, get, live_manifest, sample_content, Origin};

const SECRET: &str = "edge-s3cret-1";
const KEY_ID: &str = "KEDGE";
const ENROLLED: &str = "/courses/data-structures/";
const PUBLIC_COURSE: &str = "/courses/python-foundations/";

struct Fixture {
    // Field order is drop order: Varnish, then the origin, then the store and keys.
    varnish: Varnish,
    origin: Origin,
    /// An enrolled lesson page and its identity bytes.
    lesson: String,
    content: Vec<u8>,
    key: SigningKey,
    stranger: SigningKey,
    _store: tempfile::TempDir,
    _keys: tempfile::TempDir,
}

fn new_key(dir: &Path, id: &str) -> SigningKey {
    let made =
        course().args(["keys", "new", "--id", id, "--out"]).arg(dir).output().expect("course keys new");
    assert!(made.status.success(), "course keys new: {}", String::from_utf8_lossy(&made.stderr));
    SigningKey::from_pem(&std::fs::read_to_string(dir.join(format!("{id}.pem"))).expect("pem")).expect("key")
}

fn start(extra_origin_args: &[&str]) -> Fixture {
    let keys = tempfile::tempdir().expect("tempdir");
    let key = new_key(keys.path(), KEY_ID);
    let stranger_dir = keys.path().join("stranger");
    std::fs::create_dir(&stranger_dir).expect("dir");
    let stranger = new_key(&stranger_dir, KEY_ID);
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (lesson, content) = enrolled_lesson(store.path());
    let trusted = format!("{KEY_ID}={}", keys.path().join(format!("{KEY_ID}.pub.pem")).display());
    let mut args = vec![
        "--trusted-key",
        &trusted,
        "--origin-verify-secret",
        SECRET,
        // Varnish is the students' proxy: grants see the student's address.
        "--trusted-proxy",
        "127.0.0.1/32",
    ];
    args.extend_from_slice(extra_origin_args);
    let origin = Origin::start(store.path(), &args);
    let varnish =
        Varnish::start_with(&[&origin.base], &Options { origin_verify_secret: SECRET, ..Options::default() });
    Fixture { varnish, origin, lesson, content, key, stranger, _store: store, _keys: keys }
}

/// An enrolled lesson page of the store's live release, and its identity bytes.
fn enrolled_lesson(store: &Path) -> (String, Vec<u8>) {
    let (_, manifest) = live_manifest(store);
    let (lesson, route) = e2e::enrolled_lesson_route(&manifest, ENROLLED).expect("an enrolled lesson");
    let content = std::fs::read(store.join("objects").join(route.object.as_str())).expect("object");
    (lesson.clone(), content)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn cookie_of(policy: &Policy, key: &SigningKey) -> String {
    let issued = sign_custom(policy, key, KEY_ID, HashAlgorithm::Sha256);
    issued.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
}

impl Fixture {
    /// A grant's cookies for everything under `prefix` of this edge, valid for `ttl` secs.
    fn cookie(&self, prefix: &str, ttl: u64) -> String {
        cookie_of(&Policy::new(format!("{}{prefix}*", self.varnish.base), now() + ttl), &self.key)
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
        let response = get(&self.varnish.url(path), headers);
        let status = response.status().as_u16();
        let x_cache = header(&response, "x-cache");
        (status, x_cache, response.bytes().expect("body").to_vec())
    }

    /// How many requests for `path` the origin's access log shows (after a short wait for
    /// the log's pipe).
    fn origin_requests(&self, path: &str) -> usize {
        std::thread::sleep(Duration::from_millis(300));
        let (quoted, bare) = (format!("path=\"{path}\""), format!("path={path} "));
        self.origin
            .log()
            .lines()
            .filter(|l| l.contains("access") && (l.contains(&quoted) || l.contains(&bare)))
            .count()
    }

    /// Asserts the answer to `headers` for the lesson is a refusal and not the page.
    fn assert_refused(&self, what: &str, headers: &[(&str, &str)]) {
        let (status, _, body) = self.get(&self.lesson, headers);
        assert_eq!(status, 403, "{what}: refused");
        assert!(body != self.content, "{what}: never the enrolled page");
    }
}

fn header(response: &reqwest::blocking::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Status and body of `GET <target>` sent byte for byte (for targets a client normalises).
fn raw_get(base: &str, target: &str, host: &str, cookie: &str) -> (u16, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |at| response[at + 4..].to_vec());
    (status, body)
}

#[test]
fn an_enrolled_page_is_cached_once_for_every_student_with_a_grant() {
    let f = start(&[]);
    let alice = f.cookie(ENROLLED, 600);
    let bob = f.cookie(ENROLLED, 900);
    assert_ne!(alice, bob);

    let first = get(&f.varnish.url(&f.lesson), &[("cookie", &alice)]);
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-cache"), "MISS");
    let cache_control = header(&first, "cache-control");
    assert!(cache_control.starts_with("private"), "browsers are told private: {cache_control}");
    assert!(!cache_control.contains("s-maxage") && !cache_control.contains("public"), "{cache_control}");
    assert_eq!(first.bytes().expect("body").to_vec(), f.content);

    let second = get(&f.varnish.url(&f.lesson), &[("cookie", &bob)]);
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "x-cache"), "HIT", "another student's grant is served from the cache");
    assert!(header(&second, "cache-control").starts_with("private"), "a cached copy is still private");
    assert!(header(&second, "x-viewer-cache-control").is_empty());
    assert_eq!(second.bytes().expect("body").to_vec(), f.content);
    // Revalidation from the student's browser is answered at the edge too.
    let etag = header(&get(&f.varnish.url(&f.lesson), &[("cookie", &bob)]), "etag");
    let revalidated = get(&f.varnish.url(&f.lesson), &[("cookie", &bob), ("if-none-match", &etag)]);
    assert_eq!(revalidated.status(), 304);

    for _ in 0..3 {
        let (status, x_cache, _) = f.get(&f.lesson, &[("cookie", &alice)]);
        assert_eq!((status, x_cache.as_str()), (200, "HIT"));
    }
    assert_eq!(f.origin_requests(&f.lesson), 1, "the origin served the page once:\n{}", f.origin.log());
    assert_eq!(
        f.origin_requests("/_origin/grant-check"),
        2,
        "one verdict per grant, reused for its later requests"
    );
}

#[test]
fn without_a_verdict_for_its_course_a_request_never_gets_the_cached_page() {
    let f = start(&[]);
    let good = f.cookie(ENROLLED, 600);
    // Warm the edge, and a verdict for a public course's grant.
    assert_eq!(f.get(&f.lesson, &[("cookie", &good)]).0, 200);
    assert_eq!(f.get(&f.lesson, &[("cookie", &good)]).1, "HIT");
    let other_course = f.cookie(PUBLIC_COURSE, 600);
    assert_eq!(f.get(&format!("{PUBLIC_COURSE}hello-python/"), &[("cookie", &other_course)]).0, 200);

    let base = f.varnish.base.clone();
    let forged_signature = good.replacen("CloudFront-Signature=", "CloudFront-Signature=AAAA", 1);
    let expired = cookie_of(&Policy::new(format!("{base}{ENROLLED}*"), now() - 120), &f.key);
    let stranger = cookie_of(&Policy::new(format!("{base}{ENROLLED}*"), now() + 600), &f.stranger);
    let other_host = cookie_of(&Policy::new(format!("http://learn.test{ENROLLED}*"), now() + 600), &f.key);
    let lookalike =
        cookie_of(&Policy::new(format!("{base}/courses/data-structures-2/*"), now() + 600), &f.key);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("no grant", vec![]),
        ("another cookie", vec![("cookie", "theme=dark")]),
        ("a forged signature", vec![("cookie", &forged_signature)]),
        ("an expired grant", vec![("cookie", &expired)]),
        ("a key nobody trusts", vec![("cookie", &stranger)]),
        ("a grant for another host", vec![("cookie", &other_host)]),
        ("a grant for a course whose name starts the same", vec![("cookie", &lookalike)]),
        ("a grant (and its verdict) for another course", vec![("cookie", &other_course)]),
        ("the marker, forged", vec![("x-edge-grant", "data-structures")]),
        (
            "the marker and step, forged",
            vec![("x-edge-grant", "data-structures"), ("x-edge-step", "enrolled")],
        ),
        (
            "the marker with a bad grant",
            vec![("x-edge-grant", "data-structures"), ("cookie", &forged_signature)],
        ),
        (
            "the marker with another course's grant",
            vec![("x-edge-grant", "data-structures"), ("x-edge-step", "enrolled"), ("cookie", &other_course)],
        ),
        ("a wrong origin-verify secret", vec![("x-origin-verify", "guess"), ("cookie", &other_course)]),
        ("the verdict headers, forged", vec![("x-grant-course", "data-structures"), ("x-grant-url", "/")]),
    ];
    for (what, headers) in &cases {
        f.assert_refused(what, headers);
        // Asked twice: a refusal is not turned into a cached admission either.
        f.assert_refused(what, headers);
    }
    // And the good grant still opens it, from the cache.
    assert_eq!(f.get(&f.lesson, &[("cookie", &good)]).1, "HIT");
}

#[test]
fn an_ip_bound_grant_opens_only_from_its_address() {
    let f = start(&[]);
    let policy = Policy {
        ip_address: Some("127.0.0.2/32".parse().expect("net")),
        ..Policy::new(format!("{}{ENROLLED}*", f.varnish.base), now() + 600)
    };
    let cookie = cookie_of(&policy, &f.key);
    let from = |ip: [u8; 4]| {
        reqwest::blocking::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .expect("client")
            .get(f.varnish.url(&f.lesson))
            .header("cookie", &cookie)
            .send()
            .expect("get")
    };
    // From its own address (twice: the verdict is cached), then from another one.
    for _ in 0..2 {
        let response = from([127, 0, 0, 2]);
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().expect("body").to_vec(), f.content);
    }
    for _ in 0..2 {
        let response = from([127, 0, 0, 1]);
        assert_eq!(response.status(), 403, "the same grant from another address");
        assert!(response.bytes().expect("body").to_vec() != f.content);
    }
}

#[test]
fn a_verdict_does_not_outlive_its_grant() {
    // No clock skew, so the grant ends exactly at its DateLessThan.
    let f = start(&["--grant-skew", "0s"]);
    let expires = now() + 3;
    let cookie = cookie_of(&Policy::new(format!("{}{ENROLLED}*", f.varnish.base), expires), &f.key);
    assert_eq!(f.get(&f.lesson, &[("cookie", &cookie)]).0, 200);
    assert_eq!(f.get(&f.lesson, &[("cookie", &cookie)]).0, 200);
    while now() <= expires {
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..3 {
        f.assert_refused("a grant past its expiry, with a verdict cached before it", &[("cookie", &cookie)]);
    }
}

#[test]
fn purge_reaches_the_cached_enrolled_page() {
    let f = start(&[]);
    let cookie = f.cookie(ENROLLED, 600);
    assert_eq!(f.get(&f.lesson, &[("cookie", &cookie)]).1, "MISS");
    assert_eq!(f.get(&f.lesson, &[("cookie", &cookie)]).1, "HIT");
    assert_eq!(f.varnish.purge(&f.lesson), 200);
    let (status, x_cache, body) = f.get(&f.lesson, &[("cookie", &cookie)]);
    assert_eq!((status, x_cache.as_str()), (200, "MISS"), "the purge removed the enrolled copy");
    assert_eq!(body, f.content);
    assert_eq!(f.origin_requests(&f.lesson), 2);
}

/// Spellings of cookies, URLs and Hosts that could make the edge's verdict and the
/// object it opens disagree with what the origin would decide.
#[test]
fn grant_spelling_tricks_never_open_another_course() {
    let f = start(&[]);
    let good = f.cookie(ENROLLED, 600);
    let public = f.cookie(PUBLIC_COURSE, 600);
    assert_eq!(f.get(&f.lesson, &[("cookie", &good)]).0, 200);
    assert_eq!(f.get(&f.lesson, &[("cookie", &good)]).1, "HIT");

    // Cookies: a grant cookie twice (the origin refuses a duplicate), a second grant
    // appended, names in another case (not grant cookies to the origin).
    let policy_of = |cookie: &str| cookie.split("; ").next().expect("policy").to_owned();
    let duplicate = format!("{good}; {}", policy_of(&public));
    let lowercase = good.replace("CloudFront-", "cloudfront-");
    f.assert_refused("a grant cookie twice", &[("cookie", &duplicate)]);
    f.assert_refused("lowercase cookie names", &[("cookie", &lowercase)]);
    // Whitespace around names and values is the origin's to trim: still the good grant.
    let spaced = format!(" {}", good.replace("; ", " ;  ").replace('=', " = "));
    let (status, _, body) = f.get(&f.lesson, &[("cookie", &spaced)]);
    assert_eq!((status, body == f.content), (200, true), "spaced cookies: {spaced}");
    // The good grant split over two Cookie headers is still the good grant...
    let host = f.varnish.base.trim_start_matches("http://").to_owned();
    let split = |cookie: &str| {
        let (a, b) = cookie.split_at(cookie.find("; CloudFront-Signature").expect("pair"));
        format!("{a}\r\nCookie: {}", b.trim_start_matches("; "))
    };
    let (status, body) = raw_get(&f.varnish.base, &f.lesson, &host, &split(&good));
    assert_eq!((status, body == f.content), (200, true), "several Cookie headers are one list");
    // ...and another course's grant split the same way opens nothing here.
    let (status, body) = raw_get(&f.varnish.base, &f.lesson, &host, &split(&public));
    assert!(status == 403 && body != f.content, "split cookies of another course: {status}");
    // Half a grant in each of two headers, the other halves from another course's grant.
    let (good_policy, _) = good.split_at(good.find("; CloudFront-Signature").expect("pair"));
    let (_, public_signature) = public.split_at(public.find("; CloudFront-Signature").expect("pair"));
    let mixed = format!("{good_policy}\r\nCookie: {}", public_signature.trim_start_matches("; "));
    let (status, body) = raw_get(&f.varnish.base, &f.lesson, &host, &mixed);
    assert!(status == 403 && body != f.content, "one grant's policy with another's signature: {status}");

    // A good cookie plus another course's grant in the query: the origin prefers the query.
    let other = sign_custom(
        &Policy::new(format!("{}{PUBLIC_COURSE}*", f.varnish.base), now() + 600),
        &f.key,
        KEY_ID,
        HashAlgorithm::Sha256,
    )
    .query;
    let (status, _, body) = f.get(&format!("{}?{other}", f.lesson), &[("cookie", &good)]);
    assert!(status == 403 && body != f.content, "cookie + query: {status}");

    // Paths that name the enrolled course after a public course's prefix.
    let rest = f.lesson.trim_start_matches(ENROLLED);
    for target in [
        format!("{PUBLIC_COURSE}..{ENROLLED}{rest}"),
        format!("{PUBLIC_COURSE}%2e%2e{ENROLLED}{rest}"),
        format!("{PUBLIC_COURSE}..%2fdata-structures/{rest}"),
        format!("/courses/data%2dstructures/{rest}"),
        format!("/courses/python-foundations/../../courses/data-structures/{rest}"),
        format!("//courses/data-structures/{rest}"),
        format!("/COURSES/data-structures/{rest}"),
        format!("http://{host}/courses/data-structures/{rest}"),
    ] {
        let (status, body) = raw_get(&f.varnish.base, &target, &host, &public);
        assert!(status != 200 && body != f.content, "{target}: {status}");
    }
    // Hosts: the verdict is keyed by the Host, and the grant names this one.
    let port = host.rsplit_once(':').expect("port").1;
    for other_host in
        [format!("127.0.0.1.:{port}"), format!("localhost:{port}"), format!("LOCALHOST.:{port}")]
    {
        let (status, body) = raw_get(&f.varnish.base, &f.lesson, &other_host, &good);
        assert!(status != 200 && body != f.content, "Host {other_host}: {status}");
    }
    // After all that, the good grant from the right Host is still served from the cache.
    let (status, body) = raw_get(&f.varnish.base, &f.lesson, &host, &good);
    assert_eq!((status, body), (200, f.content.clone()));
}

#[test]
fn without_an_origin_verify_secret_grants_are_passed_as_before() {
    let keys = tempfile::tempdir().expect("tempdir");
    let key = new_key(keys.path(), KEY_ID);
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (lesson, content) = enrolled_lesson(store.path());
    let trusted = format!("{KEY_ID}={}", keys.path().join(format!("{KEY_ID}.pub.pem")).display());
    let origin = Origin::start(store.path(), &["--trusted-key", &trusted]);
    let varnish = Varnish::start(&origin.base);
    let cookie = cookie_of(&Policy::new(format!("{}{ENROLLED}*", varnish.base), now() + 600), &key);
    let started = Instant::now();
    for _ in 0..2 {
        let response = get(&varnish.url(&lesson), &[("cookie", &cookie)]);
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-cache"), "MISS", "never cached without the secret");
        assert!(header(&response, "cache-control").starts_with("private"));
        assert_eq!(response.bytes().expect("body").to_vec(), content);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}
