//! edge-origin against a real S3 (Garage, started here): serves a release from a bucket
//! prefix, follows a new release published there, and when the store goes down keeps
//! serving what it has cached while answering 503 fast for what it has not.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use e2e::garage::{Garage, BUCKET, REGION};
use e2e::{build_ok, copy_tree, get, live_manifest, metric, sample_content, Origin};

fn start_origin(garage: &Garage, prefix: &str) -> Origin {
    let store = OsString::from(format!("s3://{BUCKET}/{prefix}"));
    let endpoint = garage.endpoint.clone();
    Origin::start_with(
        &store,
        &["--endpoint", &endpoint, "--region", REGION, "--poll", "500ms", "--store-timeout", "2s"],
        &garage.env(),
    )
}

#[test]
fn serves_and_follows_releases_from_garage() {
    let garage = Garage::start();
    let local = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), local.path());
    garage.upload_store(local.path(), "site");
    let origin = start_origin(&garage, "site");
    let (_, manifest) = live_manifest(local.path());

    let page = get(&origin.url("/courses/python-foundations/"), &[]);
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-release"], first.as_str());
    let expected = std::fs::read(
        local.path().join("objects").join(manifest.routes["/courses/python-foundations/"].object.as_str()),
    )
    .expect("object");
    assert_eq!(page.bytes().expect("body").to_vec(), expected, "same bytes as the build wrote");

    // 50 concurrent cold requests for one object: one S3 GET.
    let before = metric(&origin, "edge_origin_store_fetches_total");
    let route = manifest.routes.keys().find(|r| r.ends_with(".css")).expect("css").clone();
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let url = origin.url(&route);
            std::thread::spawn(move || get(&url, &[]).status().as_u16())
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().expect("thread") == 200));
    assert_eq!(metric(&origin, "edge_origin_store_fetches_total") - before, 1.0);

    // Publish a new release into the bucket: served within poll + 1 s.
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let site = content.path().join("site.toml");
    let text = std::fs::read_to_string(&site).expect("site");
    let renamed: Vec<&str> = text
        .lines()
        .map(|l| if l.starts_with("title") { "title = \"Renamed Academy\"" } else { l })
        .collect();
    std::fs::write(&site, renamed.join("\n") + "\n").expect("edit");
    let second = build_ok(content.path(), local.path());
    assert_ne!(first, second);
    garage.upload_store(local.path(), "site");
    let deadline = Instant::now() + Duration::from_millis(1500);
    while get(&origin.url("/"), &[]).headers()["x-release"] != second.as_str() {
        assert!(Instant::now() < deadline, "new release not served within poll + 1 s");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(get(&origin.url("/"), &[]).text().expect("body").contains("Renamed Academy"));
}

#[test]
fn store_outage_serves_cached_and_fails_fast_for_the_rest() {
    let mut garage = Garage::start();
    let local = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), local.path());
    garage.upload_store(local.path(), "site");
    let origin = start_origin(&garage, "site");
    let (_, manifest) = live_manifest(local.path());

    let warm = "/courses/python-foundations/";
    assert_eq!(get(&origin.url(warm), &[]).status(), 200);
    garage.stop();

    for _ in 0..3 {
        assert_eq!(get(&origin.url(warm), &[]).status(), 200, "cached pages keep being served");
    }
    let cold = manifest.routes.keys().find(|r| r.ends_with(".webm")).expect("video").clone();
    let started = Instant::now();
    let response = get(&origin.url(&cold), &[]);
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(waited < Duration::from_secs(3), "503 within the store timeout (took {waited:?})");
    assert!(metric(&origin, "edge_origin_store_errors_total") >= 1.0);
    // The poller fails too, but the release stays.
    e2e::eventually("a failed channel check", Duration::from_secs(10), || {
        metric(&origin, "edge_origin_release_load_failures_total") >= 1.0
    });
    assert_eq!(get(&origin.url("/_origin/ready"), &[]).status(), 200);

    garage.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&origin.url(&cold), &[]).status() != 200 {
        assert!(Instant::now() < deadline, "recovers when the store is back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The origin in front of a store that goes through a proxy (so a test can make the store
/// hang, not merely refuse connections).
fn start_origin_via(proxy: &e2e::proxy::Proxy, garage: &Garage, prefix: &str) -> Origin {
    let store = OsString::from(format!("s3://{BUCKET}/{prefix}"));
    Origin::start_with(
        &store,
        &["--endpoint", &proxy.base, "--region", REGION, "--poll", "500ms", "--store-timeout", "2s"],
        &garage.env(),
    )
}

/// The sample release in Garage, and an origin reading it through a proxy: (Garage, the
/// proxy, the origin, the release's manifest).
fn sample_behind_proxy() -> (Garage, e2e::proxy::Proxy, Origin, bundle::Manifest) {
    let garage = Garage::start();
    let local = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), local.path());
    garage.upload_store(local.path(), "site");
    let proxy = e2e::proxy::Proxy::start(&garage.endpoint);
    let origin = start_origin_via(&proxy, &garage, "site");
    let (_, manifest) = live_manifest(local.path());
    (garage, proxy, origin, manifest)
}

/// A store that accepts the connection and then never answers: a cold request gets its
/// 503 after `--store-timeout` (2 s), not after the client's patience, and the origin
/// keeps serving what it has cached.
#[test]
fn a_hung_store_costs_a_request_the_store_timeout_and_no_more() {
    let (_garage, proxy, origin, manifest) = sample_behind_proxy();
    let warm = "/courses/python-foundations/";
    assert_eq!(get(&origin.url(warm), &[]).status(), 200);

    proxy.hold("/site/objects/", Duration::from_secs(60));
    let cold = manifest.routes.keys().find(|r| r.ends_with(".webm")).expect("video").clone();
    let started = Instant::now();
    let response = get(&origin.url(&cold), &[]);
    let waited = started.elapsed();
    assert_eq!(response.status(), 503, "a hung store is an outage");
    assert!(
        waited >= Duration::from_millis(1500),
        "it waited for the store ({waited:?}): the timeout path ran"
    );
    assert!(waited < Duration::from_secs(5), "and gave up at the store timeout ({waited:?})");
    assert!(proxy.held().0 >= 1, "the request reached the (hung) store");
    assert_eq!(get(&origin.url(warm), &[]).status(), 200, "cached pages are still served");
}

/// Two hundred requests miss one object at once while the store takes a second to answer:
/// exactly one read reaches the store (counted by the proxy in front of it, not by the
/// origin's own metric alone), and every request gets the whole object.
#[test]
fn concurrent_misses_of_a_slow_object_share_one_store_read() {
    let (_garage, proxy, origin, manifest) = sample_behind_proxy();
    let (route, entry) = manifest.routes.iter().find(|(r, _)| r.ends_with(".webm")).expect("a video");
    let object = format!("/site/objects/{}", entry.object);
    proxy.hold(&object, Duration::from_secs(1));

    for answer in e2e::concurrent_gets(&origin.url(route), 200) {
        assert_eq!(answer, (200, entry.size as usize));
    }
    assert_eq!(proxy.held().0, 1, "one read of the object reached the store");
    assert_eq!(metric(&origin, "edge_origin_store_fetches_total"), 1.0, "and the origin counted one");
}

/// A cold origin under a burst of distinct misses (a restart behind busy edges) sends at
/// most `--store-concurrency` reads to the store at once; the rest wait their turn and are
/// served, not failed.
#[test]
fn a_burst_of_cold_misses_keeps_at_most_store_concurrency_reads_in_flight() {
    let garage = Garage::start();
    let local = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), local.path());
    garage.upload_store(local.path(), "site");
    let proxy = e2e::proxy::Proxy::start(&garage.endpoint);
    let store = OsString::from(format!("s3://{BUCKET}/site"));
    let args =
        ["--endpoint", &proxy.base, "--region", REGION, "--store-timeout", "20s", "--store-concurrency", "4"];
    let origin = Origin::start_with(&store, &args, &garage.env());
    let (_, manifest) = live_manifest(local.path());
    let routes: Vec<String> = manifest
        .routes
        .iter()
        .filter(|(_, r)| r.access == bundle::Access::Public)
        .map(|(k, _)| k.clone())
        .take(16)
        .collect();
    proxy.hold("/site/objects/", Duration::from_millis(800));
    let threads: Vec<_> = routes
        .iter()
        .map(|route| {
            let url = origin.url(route);
            std::thread::spawn(move || get(&url, &[]).status().as_u16())
        })
        .collect();
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
        let (held, released) = proxy.held();
        most = most.max(held - released);
        std::thread::sleep(Duration::from_millis(20));
    }
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    assert!(statuses.iter().all(|s| *s == 200), "every miss is served: {statuses:?}");
    assert!(most <= 4, "{most} store reads were held at once with --store-concurrency 4");
    assert!(most >= 2, "the reads did overlap ({most})");
}
