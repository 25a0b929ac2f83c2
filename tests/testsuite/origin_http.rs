//! edge-origin's HTTP behaviour for a CDN, through real HTTP on loopback against a local
//! store holding the sample catalogue.

use e2e::{build_ok, client, get, live_manifest, raw_status, sample_content, Origin};

struct Fixture {
    _store: tempfile::TempDir,
    origin: Origin,
    manifest: bundle::Manifest,
}

fn start() -> Fixture {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let origin = Origin::start(store.path(), &[]);
    Fixture { _store: store, origin, manifest }
}

fn header(response: &reqwest::blocking::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[test]
fn pages_assets_and_cache_headers() {
    let f = start();
    let page = get(&f.origin.url("/courses/python-foundations/"), &[]);
    assert_eq!(page.status(), 200);
    assert!(header(&page, "cache-control").contains("s-maxage="));
    assert!(header(&page, "cache-control").contains("stale-if-error="));
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert!(header(&page, "content-security-policy").contains("default-src 'self'"));
    // Lab apps share the origin: nothing may post a form to another one.
    assert!(header(&page, "content-security-policy").contains("form-action 'self'"));
    assert!(header(&page, "etag").starts_with('"'));

    let asset =
        f.manifest.routes.keys().find(|r| r.starts_with("/assets/") && r.ends_with(".css")).expect("css");
    let css = get(&f.origin.url(asset), &[]);
    assert_eq!(css.status(), 200);
    assert_eq!(header(&css, "cache-control"), "public, max-age=31536000, immutable");

    let enrolled = get(&f.origin.url("/courses/data-structures/"), &[]);
    assert_eq!(enrolled.status(), 403, "enrolled pages need a grant");
    assert_eq!(header(&enrolled, "cache-control"), "no-store");
}

#[test]
fn not_found_redirects_and_methods() {
    let f = start();
    let missing = get(&f.origin.url("/courses/nope/"), &[]);
    assert_eq!(missing.status(), 404);
    assert!(header(&missing, "content-type").starts_with("text/html"));
    assert!(missing.text().expect("body").contains("<html"), "the theme's 404 page");

    let redirect = get(&f.origin.url("/courses/python-foundations"), &[]);
    assert_eq!(redirect.status(), 301);
    assert_eq!(header(&redirect, "location"), "/courses/python-foundations/");

    let index_html = get(&f.origin.url("/courses/python-foundations/index.html"), &[]);
    assert_eq!(index_html.status(), 200);

    let post = client().post(f.origin.url("/")).send().expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(header(&post, "allow"), "GET, HEAD");

    let head = client().head(f.origin.url("/")).send().expect("head");
    assert_eq!(head.status(), 200);
    let size = f.manifest.routes["/"].size;
    assert_eq!(header(&head, "content-length"), size.to_string());
    assert_eq!(head.bytes().expect("body").len(), 0);
}

#[test]
fn traversal_and_malformed_paths_are_400() {
    let f = start();
    for target in [
        "/../etc/passwd",
        "/courses/../../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/courses%2fpython-foundations/",
        "/%252e%252e/etc/passwd",
        "/a%00b",
        "/a\\..\\b",
    ] {
        assert_eq!(raw_status(&f.origin.base, target), 400, "{target}");
    }
    let long = format!("/{}", "a".repeat(2000));
    assert_eq!(raw_status(&f.origin.base, &long), 400);
    assert_eq!(raw_status(&f.origin.base, "/"), 200, "the raw client itself works");
}

#[test]
fn conditional_requests_and_encodings() {
    let f = start();
    let url = f.origin.url("/");
    let br = get(&url, &[("accept-encoding", "gzip, br")]);
    assert_eq!(header(&br, "content-encoding"), "br");
    assert_eq!(header(&br, "vary"), "Accept-Encoding");
    let br_etag = header(&br, "etag");
    let br_body = br.bytes().expect("body");
    let mut html = Vec::new();
    brotli_decompress(&br_body, &mut html);

    let gzip = get(&url, &[("accept-encoding", "gzip;q=1, br;q=0.5")]);
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
    let gzip_etag = header(&gzip, "etag");
    let identity = get(&url, &[]);
    assert_eq!(header(&identity, "content-encoding"), "");
    let identity_etag = header(&identity, "etag");
    assert_eq!(identity.bytes().expect("body").to_vec(), html, "br decodes to the identity bytes");
    assert!(br_etag != gzip_etag && gzip_etag != identity_etag, "one strong ETag per representation");

    let not_modified = get(&url, &[("if-none-match", &identity_etag)]);
    assert_eq!(not_modified.status(), 304);
    assert_eq!(header(&not_modified, "etag"), identity_etag);
    let changed = get(&url, &[("if-none-match", "\"something-else\"")]);
    assert_eq!(changed.status(), 200);
}

fn brotli_decompress(input: &[u8], out: &mut Vec<u8>) {
    brotli::BrotliDecompress(&mut &input[..], out).expect("valid brotli");
}

#[test]
fn byte_ranges_for_video_seeking() {
    let f = start();
    let (video, route) =
        f.manifest.routes.iter().find(|(r, _)| r.ends_with(".webm")).expect("the sample has a webm video");
    let url = f.origin.url(video);
    let part = get(&url, &[("range", "bytes=100-199")]);
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, "content-range"), format!("bytes 100-199/{}", route.size));
    assert_eq!(header(&part, "accept-ranges"), "bytes");
    let full = get(&url, &[]).bytes().expect("full");
    assert_eq!(part.bytes().expect("part").to_vec(), full[100..200].to_vec());

    let tail = get(&url, &[("range", "bytes=-10")]);
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().expect("tail").to_vec(), full[full.len() - 10..].to_vec());

    let beyond = get(&url, &[("range", &format!("bytes={}-", route.size))]);
    assert_eq!(beyond.status(), 416);
    assert_eq!(header(&beyond, "content-range"), format!("bytes */{}", route.size));
}

#[test]
fn health_and_readiness() {
    let f = start();
    assert_eq!(get(&f.origin.url("/_origin/health"), &[]).status(), 200);
    let ready = get(&f.origin.url("/_origin/ready"), &[]);
    assert_eq!(ready.status(), 200);

    let empty = tempfile::tempdir().expect("tempdir");
    let waiting = Origin::start(empty.path(), &[]);
    assert_eq!(get(&waiting.url("/_origin/ready"), &[]).status(), 503);
    let page = get(&waiting.url("/"), &[]);
    assert_eq!(page.status(), 503);
    assert!(!header(&page, "retry-after").is_empty());
}

/// Errors are about one request: no cache may keep them as the route's answer for a year.
#[test]
fn error_answers_never_carry_the_routes_caching() {
    let f = start();
    let (video, route) =
        f.manifest.routes.iter().find(|(r, _)| r.ends_with(".webm")).expect("the sample has a webm video");
    let beyond = get(&f.origin.url(video), &[("range", &format!("bytes={}-", route.size))]);
    assert_eq!(beyond.status(), 416);
    assert_eq!(header(&beyond, "cache-control"), "no-store", "a 416 is not the immutable video");
    let backwards = get(&f.origin.url(video), &[("range", "bytes=0-0, -0")]);
    assert!(backwards.status() == 200 || backwards.status() == 206);

    let post = client().post(f.origin.url(video)).send().expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(header(&post, "cache-control"), "no-store");
    let bad = client().get(f.origin.url(&format!("{video}%00"))).send().expect("get");
    assert_eq!(bad.status(), 400);
    assert_eq!(header(&bad, "cache-control"), "no-store");
    let missing = get(&f.origin.url(&format!("{video}x")), &[]);
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing, "cache-control"), "public, max-age=10, s-maxage=60");
}

/// Routes are plain ASCII: a percent-encoded spelling of one (`%6coops` for `loops`) is a
/// 400, never the page, so no cache keeps a copy per spelling that purges cannot reach.
#[test]
fn percent_encoded_spellings_of_a_route_are_refused() {
    let f = start();
    assert_eq!(get(&f.origin.url("/courses/python-foundations/loops/"), &[]).status(), 200);
    for spelling in ["/courses/python-foundations/%6coops/", "/courses/python-foundations/l%6Fops/", "/a%20b"]
    {
        let response = client().get(f.origin.url(spelling)).send().expect("get");
        assert_eq!(response.status(), 400, "{spelling}");
        assert_eq!(header(&response, "cache-control"), "no-store");
    }
}
