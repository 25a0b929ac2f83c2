//! Operating the origin: Prometheus metrics, one access-log line per request, and a
//! graceful shutdown on SIGTERM that finishes in-flight requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::{build_ok, copy_tree, get, live_manifest, root, sample_content, Origin};

#[test]
fn metrics_expose_requests_cache_store_and_release() {
    let store = tempfile::tempdir().expect("tempdir");
    let release = build_ok(&sample_content(), store.path());
    let origin = Origin::start(store.path(), &[]);
    for path in ["/", "/", "/nope/", "/a%2fb"] {
        get(&origin.url(path), &[]);
    }
    let response = get(&origin.url("/metrics"), &[]);
    assert!(response.headers()["content-type"].to_str().expect("type").starts_with("text/plain"));
    let text = response.text().expect("metrics");
    for line in [
        "edge_origin_requests_total{status=\"200\"} 2",
        "edge_origin_requests_total{status=\"404\"} 1",
        "edge_origin_requests_total{status=\"400\"} 1",
        "edge_origin_cache_hits_total 1",
        "edge_origin_store_fetches_total 2",
        "edge_origin_integrity_failures_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("edge_origin_cache_misses_total 2"), "{text}");
    assert!(text.contains("edge_origin_request_duration_seconds_bucket{le="), "latency histogram");
    assert!(text.contains("edge_origin_request_duration_seconds_count 4"), "{text}");
    assert!(text.contains(&format!("edge_origin_release{{release=\"{release}\"}} 1")), "current release id");
}

#[test]
fn one_access_log_line_per_request() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let origin = Origin::start(store.path(), &[]);
    for path in ["/", "/courses/python-foundations/", "/missing-page/"] {
        get(&origin.url(path), &[]);
    }
    let access_lines =
        |log: &str| log.lines().filter(|l| l.contains("access") && l.contains("request")).count();
    e2e::eventually("3 access log lines", Duration::from_secs(10), || access_lines(&origin.log()) >= 3);
    let log = origin.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("access") && l.contains("request")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].contains("method=GET") && lines[0].contains("path=\"/\"") && lines[0].contains("status=200")
    );
    assert!(lines[2].contains("status=404"));
    assert!(lines.iter().all(|l| l.contains("micros=")));
}

#[test]
fn access_log_can_go_to_a_file_or_be_turned_off() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let file = store.path().join("access.log");
    let origin = Origin::start(store.path(), &["--access-log", file.to_str().expect("utf-8 path")]);
    for path in ["/", "/missing-page/"] {
        get(&origin.url(path), &[]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    while read().lines().count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = read();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("access: request method=GET path=\"/\" status=200 micros="), "{text}");
    assert!(lines[1].contains("path=\"/missing-page/\" status=404"), "{text}");
    assert!(!origin.log().contains("access: request"), "not on stderr as well");

    let quiet = Origin::start(store.path(), &["--access-log", "off"]);
    get(&quiet.url("/"), &[]);
    std::thread::sleep(Duration::from_millis(200));
    let log = quiet.log();
    assert!(!log.contains("access: request"), "{log}");
    assert!(log.contains("loaded release"), "other log lines stay: {log}");
}

/// Headers and body length of a raw HTTP/1.1 response head.
fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().expect("len"))
        })
        .expect("content-length")
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits() {
    // A store with one large object, so its response is still being sent when SIGTERM arrives.
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&root().join("tests/fixtures/minimal"), content.path());
    let big = e2e::pseudo_random(24 << 20, 0x9e37_79b9_7f4a_7c15);
    std::fs::write(content.path().join("animations/big.webm"), &big).expect("write big video");
    // Only what a page uses is published.
    let lesson = content.path().join("courses/demo/intro.md");
    let text = std::fs::read_to_string(&lesson).expect("lesson");
    std::fs::write(&lesson, format!("{text}\n```animation\nsrc = \"big.webm\"\n```\n"))
        .expect("write lesson");
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let route = manifest.routes.keys().find(|r| r.contains("/big.")).expect("big video route").clone();

    let mut origin = Origin::start(store.path(), &[]);
    let addr = origin.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(stream, "GET {route} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut first = vec![0u8; 64 * 1024];
    let n = stream.read(&mut first).expect("first bytes");
    let text = String::from_utf8_lossy(&first[..n]).into_owned();
    let head_end = text.find("\r\n\r\n").expect("head received") + 4;
    let length = content_length(&text[..head_end]);
    assert_eq!(length, big.len());

    origin.sigterm();
    e2e::eventually("the listener closing after SIGTERM", Duration::from_secs(10), || {
        TcpStream::connect(&addr).is_err()
    });

    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("rest of the body");
    let mut body = first[head_end..n].to_vec();
    body.extend(rest);
    assert_eq!(body.len(), big.len(), "the in-flight response was finished");
    assert!(body == big, "and its bytes are intact");
    let status = origin.wait_exit(Duration::from_secs(5)).expect("exits after draining");
    assert!(status.success(), "clean exit: {status:?}");
}
