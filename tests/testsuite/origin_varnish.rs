//! Varnish with the repo's VCL (`edge-origin/deploy/varnish.vcl`) in front of the real
//! edge-origin serving the sample catalogue: what it stores, for how long, per encoding,
//! and what it must never store.

use std::time::{Duration, Instant};

use e2e::varnish::Varnish;
use e2e::{build_ok, client, get, live_manifest, sample_content, Origin};

const LESSON: &str = "/courses/python-foundations/hello-python/";
const ENROLLED: &str = "/courses/data-structures/stacks/";

struct Fixture {
    // Field order is drop order: Varnish, then the origin, then the store.
    varnish: Varnish,
    origin: Origin,
    manifest: bundle::Manifest,
    _store: tempfile::TempDir,
}

fn start() -> Fixture {
    start_with(&[])
}

fn start_with(origin_args: &[&str]) -> Fixture {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let origin = Origin::start(store.path(), origin_args);
    // The operator gives Varnish the same origin-verify secret as the origin.
    let secret = origin_args.windows(2).find(|w| w[0] == "--origin-verify-secret").map_or("", |w| w[1]);
    let varnish = Varnish::start_behind_cdn(&origin.base, secret);
    Fixture { varnish, origin, manifest, _store: store }
}

fn header(response: &reqwest::blocking::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn x_cache(response: &reqwest::blocking::Response) -> String {
    header(response, "x-cache")
}

fn ttl(response: &reqwest::blocking::Response) -> f64 {
    let value = header(response, "x-cache-ttl");
    value.parse().unwrap_or_else(|_| panic!("X-Cache-TTL `{value}` is not a number of seconds"))
}

/// How many requests for `path` the origin's access log shows.
fn origin_fetches(origin: &Origin, path: &str) -> usize {
    let quoted = format!("path=\"{path}\"");
    let bare = format!("path={path} ");
    origin
        .log()
        .lines()
        .filter(|l| l.contains("access") && (l.contains(&quoted) || l.contains(&bare)))
        .count()
}

/// The origin logs a request before answering it, but its log reaches us through a
/// pipe: wait until at least `expected` lines arrived (and a little for any extra).
fn fetches_after(origin: &Origin, path: &str, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    while origin_fetches(origin, path) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    origin_fetches(origin, path)
}

#[test]
fn public_pages_and_assets_are_cached_for_their_s_maxage() {
    let f = start();
    let first = get(&f.varnish.url(LESSON), &[]);
    assert_eq!(first.status(), 200);
    assert_eq!(x_cache(&first), "MISS");
    let first_body = first.bytes().expect("body");
    let second = get(&f.varnish.url(LESSON), &[]);
    assert_eq!(second.status(), 200);
    assert_eq!(x_cache(&second), "HIT", "a public page is served from cache the second time");
    let page_ttl = ttl(&second);
    assert!(
        (3500.0..=3600.0).contains(&page_ttl),
        "a page lives for its s-maxage (3600), not max-age or a VCL default: {page_ttl}"
    );
    assert!(header(&second, "cache-control").contains("max-age=60"), "browsers still get max-age=60");
    assert_eq!(second.bytes().expect("body"), first_body);
    assert_eq!(
        fetches_after(&f.origin, LESSON, 1),
        1,
        "the origin served the page once:\n{}",
        f.origin.log()
    );

    let css = f
        .manifest
        .routes
        .keys()
        .find(|r| r.starts_with("/assets/") && r.ends_with(".css"))
        .expect("a fingerprinted stylesheet");
    let asset = get(&f.varnish.url(css), &[]);
    assert_eq!(asset.status(), 200);
    let asset_ttl = ttl(&asset);
    assert!(
        (31_535_000.0..=31_536_000.0).contains(&asset_ttl),
        "a fingerprinted asset is kept for a year: {asset_ttl}"
    );
    assert_eq!(x_cache(&get(&f.varnish.url(css), &[])), "HIT");
}

#[test]
fn each_encoding_is_stored_and_served_from_cache() {
    let f = start();
    let identity = get(&f.varnish.url(LESSON), &[]);
    assert_eq!(header(&identity, "content-encoding"), "");
    let identity = identity.bytes().expect("body");
    assert!(identity.starts_with(b"<!"), "an unencoded page is HTML");

    for accept in ["br", "gzip"] {
        let miss = get(&f.varnish.url(LESSON), &[("accept-encoding", accept)]);
        assert_eq!(x_cache(&miss), "MISS", "{accept} is a variant of its own");
        assert_eq!(header(&miss, "content-encoding"), accept);
    }
    // Browsers' real headers map onto the same three variants.
    for (accept, encoding) in
        [("gzip, deflate, br, zstd", "br"), ("br", "br"), ("gzip, deflate", "gzip"), ("gzip", "gzip")]
    {
        let hit = get(&f.varnish.url(LESSON), &[("accept-encoding", accept)]);
        assert_eq!(x_cache(&hit), "HIT", "Accept-Encoding: {accept}");
        assert_eq!(header(&hit, "content-encoding"), encoding, "Accept-Encoding: {accept}");
        assert_eq!(header(&hit, "vary"), "Accept-Encoding", "clients see the origin's Vary");
        let body = hit.bytes().expect("body");
        match encoding {
            "br" => {
                let mut decoded = Vec::new();
                brotli::BrotliDecompress(&mut &body[..], &mut decoded).expect("valid brotli");
                assert_eq!(decoded, identity, "the br variant holds the page");
            }
            _ => assert!(body.starts_with(&[0x1f, 0x8b]), "the gzip variant is gzip"),
        }
    }
    let plain = get(&f.varnish.url(LESSON), &[("accept-encoding", "gzip;q=0, br;q=0")]);
    assert_eq!(x_cache(&plain), "HIT");
    assert_eq!(header(&plain, "content-encoding"), "", "q=0 refuses an encoding");
    assert_eq!(plain.bytes().expect("body"), identity);

    assert_eq!(fetches_after(&f.origin, LESSON, 3), 3, "one origin fetch per variant:\n{}", f.origin.log());
}

#[test]
fn private_pages_and_signed_grants_are_never_cached() {
    let f = start();
    for n in 1..=3 {
        // Without a grant the origin refuses (403, no-store); with one it answers private.
        let enrolled = get(&f.varnish.url(ENROLLED), &[]);
        let cache_control = header(&enrolled, "cache-control");
        assert!(
            cache_control.starts_with("private") || cache_control == "no-store",
            "the origin keeps enrolled pages out of shared caches: {} {cache_control}",
            enrolled.status()
        );
        assert_eq!(x_cache(&enrolled), "MISS", "enrolled page, request {n}");
    }
    assert_eq!(fetches_after(&f.origin, ENROLLED, 3), 3, "every enrolled request reaches the origin");

    let page = "/courses/python-foundations/loops/";
    let signed = format!("{page}?Policy=x&Signature=y&Key-Pair-Id=z");
    for n in 1..=3 {
        let response = get(&f.varnish.url(&signed), &[]);
        assert_eq!(response.status(), 200);
        assert_eq!(x_cache(&response), "MISS", "signed request {n}");
    }
    assert_eq!(fetches_after(&f.origin, page, 3), 3, "every signed request reaches the origin");

    // Once the page is cached, a signed-cookie request still goes to the origin, while
    // other cookies are dropped and do not bypass the cache.
    assert_eq!(x_cache(&get(&f.varnish.url(page), &[])), "MISS");
    assert_eq!(x_cache(&get(&f.varnish.url(page), &[("cookie", "_ga=GA1.1.42")])), "HIT");
    let granted = get(&f.varnish.url(page), &[("cookie", "theme=dark; CloudFront-Signature=abc")]);
    assert_eq!(x_cache(&granted), "MISS", "a signed-cookie request is never answered from cache");
    assert_eq!(fetches_after(&f.origin, page, 5), 5);
}

#[test]
fn enrolled_pages_the_cdn_vouched_for_are_only_served_to_the_cdn() {
    const SECRET: &str = "cdn-s3cret";
    let f = start_with(&["--origin-verify-secret", SECRET]);
    let cdn = [("x-origin-verify", SECRET)];
    let first = get(&f.varnish.url(ENROLLED), &cdn);
    assert_eq!(first.status(), 200, "the CDN checked the grant");
    assert_eq!(x_cache(&first), "MISS");
    let second = get(&f.varnish.url(ENROLLED), &cdn);
    assert_eq!(x_cache(&second), "HIT", "the origin lets the CDN's copy be cached");
    assert!(!header(&second, "vary").contains("Origin-Verify"), "the secret's Vary stays inside Varnish");

    for n in 1..=2 {
        let direct = get(&f.varnish.url(ENROLLED), &[]);
        assert_eq!(direct.status(), 403, "request {n} without the secret never gets the cached page");
        assert_eq!(x_cache(&direct), "MISS");
    }
    let wrong = get(&f.varnish.url(ENROLLED), &[("x-origin-verify", "guess")]);
    assert_eq!(wrong.status(), 403);

    assert_eq!(f.varnish.purge(ENROLLED), 200);
    assert_eq!(x_cache(&get(&f.varnish.url(ENROLLED), &cdn)), "MISS", "PURGE reaches the CDN's copy too");
}

/// Objects vary on X-Origin-Verify; a client sending its own values must not make Varnish
/// keep one more copy of a page per value (nor pass them to the origin).
#[test]
fn forged_origin_verify_values_are_dropped_at_the_edge() {
    let f = start_with(&["--origin-verify-secret", "cdn-s3cret"]);
    let mut misses = 0;
    for n in 0..8 {
        let response = get(&f.varnish.url(LESSON), &[("x-origin-verify", &format!("forged-{n}"))]);
        assert_eq!(response.status(), 200);
        misses += usize::from(x_cache(&response) == "MISS");
    }
    assert_eq!(misses, 1, "one cached copy for every forged value");
    assert_eq!(fetches_after(&f.origin, LESSON, 1), 1);
    let plain = get(&f.varnish.url(LESSON), &[]);
    assert_eq!(x_cache(&plain), "HIT", "and it is the copy everyone gets");
}

/// Query strings and Host values do not change a static page: one cached copy serves them all.
#[test]
fn query_strings_and_hosts_do_not_multiply_cached_copies() {
    let f = start();
    assert_eq!(x_cache(&get(&f.varnish.url(LESSON), &[])), "MISS");
    for n in 0..6 {
        let busted = get(&f.varnish.url(&format!("{LESSON}?cb={n}")), &[]);
        assert_eq!(busted.status(), 200);
        assert_eq!(x_cache(&busted), "HIT", "?cb={n}");
        let other_host = get(&f.varnish.url(LESSON), &[("host", &format!("h{n}.test"))]);
        assert_eq!(x_cache(&other_host), "HIT", "Host h{n}.test");
    }
    assert_eq!(fetches_after(&f.origin, LESSON, 1), 1);
}

#[test]
fn purge_from_localhost_evicts_every_variant() {
    let f = start();
    for accept in ["", "br", "gzip"] {
        get(&f.varnish.url(LESSON), &[("accept-encoding", accept)]);
        assert_eq!(x_cache(&get(&f.varnish.url(LESSON), &[("accept-encoding", accept)])), "HIT");
    }
    assert_eq!(f.varnish.purge(LESSON), 200);
    for accept in ["", "br", "gzip"] {
        let after = get(&f.varnish.url(LESSON), &[("accept-encoding", accept)]);
        assert_eq!(x_cache(&after), "MISS", "purged variant `{accept}` is fetched again");
    }
    assert_eq!(fetches_after(&f.origin, LESSON, 6), 6);

    // Any other address is refused (127.0.0.2 is loopback too, but not in the acl).
    let outsider = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(b"PURGE").expect("method");
    let refused = outsider.request(method, f.varnish.url(LESSON)).send().expect("PURGE from 127.0.0.2");
    assert_eq!(refused.status(), 405);
    assert_eq!(x_cache(&get(&f.varnish.url(LESSON), &[])), "HIT", "a refused PURGE evicts nothing");
}

#[test]
fn other_methods_pass_to_the_origin() {
    let f = start();
    assert_eq!(x_cache(&get(&f.varnish.url(LESSON), &[])), "MISS");
    let post = client().post(f.varnish.url(LESSON)).body("x=1").send().expect("POST");
    assert_eq!(post.status(), 405, "the origin, not Varnish, answers a POST");
    assert_eq!(header(&post, "allow"), "GET, HEAD");
    assert_eq!(x_cache(&post), "MISS");
    assert_eq!(x_cache(&get(&f.varnish.url(LESSON), &[])), "HIT", "a POST does not touch the cached page");
    let log = f.origin.log();
    assert!(
        log.lines().any(|l| l.contains("method=POST") && l.contains(LESSON)),
        "the POST reached the origin:\n{log}"
    );
}
