//! A channel that stops loading is visible: `edge_origin_release_load_failures_total`
//! counts every failed check, `edge_origin_release_last_success_timestamp_seconds` says
//! when one last worked, and the log has each distinct failure once (not once per poll)
//! and the recovery once, while the last good release keeps being served.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{build_ok, get, metric, sample_content, Origin};

const FAILURES: &str = "edge_origin_release_load_failures_total";
const LAST_SUCCESS: &str = "edge_origin_release_last_success_timestamp_seconds";

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64()
}

#[test]
fn load_failures_are_counted_and_logged_once_each() {
    let store = tempfile::tempdir().expect("tempdir");
    let release = build_ok(&sample_content(), store.path());
    let origin = Origin::start(store.path(), &["--poll", "100ms"]);
    let pointer = store.path().join("channels/live.json");
    let good = std::fs::read(&pointer).expect("pointer");
    e2e::eventually("a successful check", Duration::from_secs(10), || {
        metric(&origin, LAST_SUCCESS) > now() - 5.0
    });
    assert_eq!(metric(&origin, FAILURES), 0.0);

    // A corrupted pointer, polled ten times or so.
    std::fs::write(&pointer, b"{ not json").expect("corrupt");
    let broken_at = now();
    e2e::eventually("5 failed checks", Duration::from_secs(10), || metric(&origin, FAILURES) >= 5.0);
    let failures = metric(&origin, FAILURES);
    assert!(metric(&origin, LAST_SUCCESS) <= broken_at + 0.2, "no success since");
    let served = get(&origin.url("/"), &[]);
    assert_eq!(served.status(), 200, "the last good release is still served");
    assert_eq!(served.headers()["x-release"], release.as_str());

    // Then a pointer to a release whose manifest is missing: a different failure.
    let text = String::from_utf8(good.clone()).expect("utf-8");
    std::fs::write(&pointer, text.replace(&release, "0123456789abcdef0123")).expect("point elsewhere");
    e2e::eventually("5 more failed checks", Duration::from_secs(10), || {
        metric(&origin, FAILURES) >= failures + 5.0
    });

    // And back: recovery is logged once.
    std::fs::write(&pointer, &good).expect("restore");
    let restored_at = now();
    e2e::eventually("a successful check after the restore", Duration::from_secs(10), || {
        metric(&origin, LAST_SUCCESS) > restored_at
    });
    let recovered = metric(&origin, FAILURES);
    // Five more polls (100 ms each) must add no failure.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(metric(&origin, FAILURES), recovered, "no failures once restored");
    assert!(metric(&origin, LAST_SUCCESS) > now() - 2.0, "checks succeed again");

    let log = origin.log();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("channel check failed")).collect();
    assert_eq!(failed.len(), 2, "one line per distinct failure:\n{}", failed.join("\n"));
    assert!(failed[0].contains("malformed"), "{}", failed[0]);
    assert!(failed[1].contains("missing"), "{}", failed[1]);
    assert_eq!(log.matches("channel check works again").count(), 1, "{log}");
}
