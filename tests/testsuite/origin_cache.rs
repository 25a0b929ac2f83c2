//! The object cache: one store fetch however many requests miss at once, and a corrupt
//! object in the store is never served (nor cached).

use std::sync::Arc;

use e2e::{build_ok, get, live_manifest, metric, proc_status, sample_content, Origin};

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

/// A flood of distinct cold URLs (every object of a catalogue many times the cache, asked
/// for by 16 clients at once) keeps the origin's memory near its `--cache-bytes`: what it
/// read from the store is evicted, not kept. Measured: +9.5-11 MiB of peak RSS with a 3 MiB
/// cache after reading the 23 MiB of public objects; +31 MiB with a cache that holds
/// everything (28 MiB, when all four courses were public).
#[test]
fn a_flood_of_distinct_cold_urls_keeps_memory_within_the_cache_budget() {
    let work = tempfile::tempdir().expect("tempdir");
    let (content, store) = (work.path().join("content"), work.path().join("store"));
    let generated = e2e::course()
        .args(["generate", "--size", "quick", "--out"])
        .arg(&content)
        .arg("--theme")
        .arg(sample_content().join("theme"))
        .output()
        .expect("course generate");
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    build_ok(&content, &store);
    let (_, manifest) = live_manifest(&store);
    let routes: Vec<String> = manifest
        .routes
        .iter()
        .filter(|(_, r)| r.access == bundle::Access::Public)
        .map(|(k, _)| k.clone())
        .collect();
    let bytes: u64 =
        manifest.routes.values().filter(|r| r.access == bundle::Access::Public).map(|r| r.size).sum();
    // A budget well under the public catalogue's size (23 MiB of the quick size's 3
    // public courses; its fourth is enrolled).
    let budget_mib = 3;
    let origin = Origin::start(
        &store,
        &["--cache-bytes", &format!("{budget_mib}MiB"), "--max-connections-per-ip", "0"],
    );
    assert_eq!(get(&origin.url("/"), &[]).status(), 200);
    let before = proc_status(origin.pid(), "VmRSS:");
    let routes = std::sync::Arc::new(routes);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (routes, base) = (routes.clone(), origin.base.clone());
            std::thread::spawn(move || {
                let http = e2e::client();
                let mut bad = 0;
                for route in routes.iter().skip(t).step_by(16) {
                    let ok = http
                        .get(format!("{base}{route}"))
                        .send()
                        .is_ok_and(|r| r.status() == 200 && r.bytes().is_ok());
                    bad += usize::from(!ok);
                }
                bad
            })
        })
        .collect();
    let bad: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(bad, 0, "every object is served");
    let peak = proc_status(origin.pid(), "VmHWM:");
    let grew_mib = peak.saturating_sub(before) as f64 / 1024.0;
    let read_mib = bytes as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{} routes, {read_mib:.0} MiB read; RSS {before} kB, peak {peak} kB (+{grew_mib:.1} MiB)",
        routes.len()
    );
    assert!(
        read_mib > 6.0 * budget_mib as f64,
        "the catalogue is far bigger than the cache ({read_mib:.0} MiB)"
    );
    assert!(
        grew_mib < budget_mib as f64 + 14.0,
        "peak RSS grew {grew_mib:.1} MiB with a {budget_mib} MiB cache after reading {read_mib:.0} MiB"
    );
}
