//! The object cache: one store fetch however many requests miss at once, and a corrupt
//! object in the store is never served (nor cached).

use std::sync::Arc;

use e2e::{build_ok, get, live_manifest, metric, sample_content, Origin};

#[test]
fn five_hundred_concurrent_cold_requests_cause_one_store_fetch() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let (route, entry) =
        manifest.routes.iter().find(|(r, _)| r.ends_with(".mp4") || r.ends_with(".webm")).expect("a video");
    let origin = Arc::new(Origin::start(store.path(), &[]));
    let fetches_before = metric(&origin, "edge_origin_store_fetches_total");

    for (status, len) in e2e::concurrent_gets(&origin.url(route), 500) {
        assert_eq!(status, 200);
        assert_eq!(len as u64, entry.size);
    }
    let fetches = metric(&origin, "edge_origin_store_fetches_total") - fetches_before;
    assert_eq!(fetches, 1.0, "500 concurrent misses of one object cost exactly one store fetch");
    assert!(metric(&origin, "edge_origin_cache_misses_total") >= 1.0);
    assert!(
        metric(&origin, "edge_origin_cache_hits_total") + metric(&origin, "edge_origin_cache_misses_total")
            >= 500.0
    );
}

#[test]
fn a_corrupted_object_is_never_served() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let (route, entry) = manifest.routes.iter().find(|(r, _)| r.ends_with(".svg")).expect("an svg");
    let object = store.path().join("objects").join(entry.object.as_str());
    let evil = b"<svg><script>alert('tampered')</script></svg>".to_vec();
    std::fs::write(&object, &evil).expect("corrupt the object");

    let origin = Origin::start(store.path(), &[]);
    for _ in 0..3 {
        let response = get(&origin.url(route), &[]);
        assert_eq!(response.status(), 502, "a corrupt object is a bad gateway, not content");
        let body = response.bytes().expect("body");
        assert!(!body.windows(evil.len()).any(|w| w == evil.as_slice()), "the tampered bytes never leave");
    }
    assert_eq!(metric(&origin, "edge_origin_integrity_failures_total"), 3.0, "counted, and not cached");
    assert!(origin.log().contains("integrity failure"), "logged");

    // Repairing the store heals the route without a restart (failures are not cached).
    let good = std::fs::read(store.path().join("objects").join(entry.object.as_str()));
    assert!(good.is_ok());
    let rebuilt = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), rebuilt.path());
    std::fs::copy(rebuilt.path().join("objects").join(entry.object.as_str()), &object).expect("repair");
    assert_eq!(get(&origin.url(route), &[]).status(), 200);
}

#[test]
fn the_cache_is_bounded_in_bytes() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let big: Vec<&String> = manifest
        .routes
        .iter()
        .filter(|(_, r)| r.size > 40_000 && r.access == bundle::Access::Public)
        .map(|(k, _)| k)
        .collect();
    assert!(big.len() >= 2, "the sample has several objects over 40 KB");
    // 64 KiB holds at most one of them: reading them in turn keeps going to the store.
    let origin = Origin::start(store.path(), &["--cache-bytes", "64KiB"]);
    for _ in 0..3 {
        for route in &big {
            assert_eq!(get(&origin.url(route), &[]).status(), 200);
        }
    }
    let fetches = metric(&origin, "edge_origin_store_fetches_total");
    assert!(
        fetches > big.len() as f64,
        "evictions cause refetches ({fetches} fetches for {} objects)",
        big.len()
    );
}
