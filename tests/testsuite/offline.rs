//! Offline (the theme's service worker at `/sw.js`, js/offline.js, and the build's per-course
//! save lists): in chromium, lessons a student opened render offline with their images and
//! animations and an "offline" notice, an unvisited one shows the theme's offline notice;
//! a saved course opens whole offline, and after a fix is published only the fixed page is
//! fetched again; a blocked worker leaves pages as they were; the save control passes
//! axe-core. "Offline" is real: the origin is stopped (and the context set offline).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use bundle::Access;
use e2e::granting::GrantingOrigin;
use e2e::{build_ok, copy_tree, get, live_manifest, require_tool, root, sample_content, Origin};
use serde_json::{json, Value};

const SAVED: &str = "/courses/web-animation/";
const FIXED: &str = "/courses/web-animation/css-transitions/";
const FIX_MARKER: &str = "Published fix: transitions need a start and an end state.";

/// The lesson routes of course `prefix`, in manifest order.
fn lessons_of(store: &Path, prefix: &str) -> Vec<String> {
    let (_, manifest) = live_manifest(store);
    manifest
        .routes
        .iter()
        .filter(|(r, route)| {
            let rest = &r[prefix.len().min(r.len())..];
            r.starts_with(prefix)
                && !rest.is_empty()
                && !rest.starts_with('_')
                && rest.matches('/').count() == 1
                && route.content_type.starts_with("text/html")
        })
        .map(|(r, _)| r.clone())
        .collect()
}

#[test]
fn the_build_lists_each_course_for_saving_with_its_sizes_enrolled_ones_under_the_grant() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let sw = &manifest.routes["/sw.js"];
    assert_eq!((sw.cache, &sw.access), (bundle::CacheClass::Stable, &Access::Public));
    let list_route = format!("{SAVED}_offline.json");
    let list: Value = serde_json::from_slice(
        &std::fs::read(store.path().join("objects").join(manifest.routes[&list_route].object.as_str()))
            .expect("list"),
    )
    .expect("json");
    let files = list["files"].as_array().expect("files");
    let urls: Vec<&str> = files.iter().filter_map(|f| f["url"].as_str()).collect();
    for lesson in lessons_of(store.path(), SAVED) {
        assert!(urls.contains(&lesson.as_str()), "{lesson} is in the save list");
    }
    assert!(urls.iter().any(|u| u.starts_with("/assets/site.")), "the stylesheet too: {urls:?}");
    assert!(urls.iter().any(|u| u.contains("/animations/")), "its animations: {urls:?}");
    assert!(urls.iter().any(|u| u.contains("/labs/")), "its lab: {urls:?}");
    assert!(!urls.iter().any(|u| u.starts_with("/courses/") && !u.starts_with(SAVED)), "{urls:?}");
    let total: u64 = files.iter().map(|f| f["size"].as_u64().expect("size")).sum();
    assert_eq!(list["bytes"].as_u64(), Some(total));
    for f in files {
        let route = &manifest.routes[f["url"].as_str().expect("url")];
        assert_eq!(f["object"].as_str(), Some(route.object.as_str()), "each file's key is its ETag");
    }

    // An enrolled course's list is its own, opened only by its grant.
    let enrolled = "/courses/data-structures/_offline.json";
    assert_eq!(manifest.routes[enrolled].access, Access::Course("data-structures".into()));
    let granting = GrantingOrigin::start(store.path(), "[courses]\ndata-structures = [\"alice\"]\n");
    assert_eq!(get(&granting.origin.url(enrolled), &[]).status().as_u16(), 403);
    let cookie: Vec<String> = granting
        .grant_cookies("alice", "data-structures")
        .into_iter()
        .map(|(n, v, _)| format!("{n}={v}"))
        .collect();
    assert_eq!(get(&granting.origin.url(enrolled), &[("cookie", &cookie.join("; "))]).status().as_u16(), 200);
}

/// Content requests (not the origin's own API) in an origin's access log: their paths.
fn requested_paths(origin: &Origin) -> Vec<String> {
    origin
        .log()
        .lines()
        .filter(|l| l.contains("access") && !l.contains("/_origin/"))
        .filter_map(|l| {
            l.split("path=").nth(1)?.split_whitespace().next().map(|p| p.trim_matches('"').to_owned())
        })
        .collect()
}

const GATEWAY_TEXT: &str = "The origin behind this gateway is down";

/// A gateway in the origin's place whose origin is down: every request gets a 503 page.
struct Gateway {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    fn start(addr: SocketAddr) -> Gateway {
        use std::io::Read;
        let listener = std::net::TcpListener::bind(addr).expect("bind the gateway");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body =
                    format!("<!DOCTYPE html><html><body><main><p>{GATEWAY_TEXT}</p></main></body></html>");
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Gateway { stop, addr, thread: Some(thread) }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn offline_in_chromium_visited_and_saved_lessons_open_and_a_fix_alone_is_fetched() {
    require_tool("chromium", "apt-get install -y chromium");
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), store.path());
    let mut origin = Some(Origin::start(store.path(), &[]));
    let addr: SocketAddr = origin.as_ref().expect("origin").addr();
    let base = origin.as_ref().expect("origin").base.clone();

    let lessons = lessons_of(store.path(), SAVED);
    assert!(lessons.contains(&FIXED.to_owned()), "{lessons:?}");
    let spec = json!({
        "visit": [
            "/courses/web-animation/easing-and-timing/",
            "/courses/web-animation/lottie-on-the-web/",
            "/courses/data-structures/sorting-basics/",
        ],
        "unvisited": "/courses/python-foundations/loops/",
        "course": SAVED,
        "lessons": lessons,
        "fixed": FIXED,
        "fix_marker": FIX_MARKER,
        "blocked": "/courses/python-foundations/conditions/",
    });
    let spec_file = store.path().join("offline-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(&spec).expect("json")).expect("spec");

    let dir = root().join("tests/browser");
    let mut node = Command::new("node")
        .current_dir(&dir)
        .arg("offline.mjs")
        .arg(&base)
        .arg(&spec_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut to_node = node.stdin.take().expect("stdin");
    let from_node = BufReader::new(node.stdout.take().expect("stdout"));
    let mut result = None;
    let mut gateway: Option<Gateway> = None;
    let mut after_fix: Option<Vec<String>> = None;
    let mut fixed = false;
    for line in from_node.lines() {
        let line = line.expect("node's output");
        let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
        match message["wait"].as_str() {
            Some("offline") => {
                if fixed && after_fix.is_none() {
                    after_fix = Some(requested_paths(origin.as_ref().expect("origin")));
                }
                if let Some(mut o) = origin.take() {
                    o.kill9();
                }
            }
            Some("gateway") => gateway = Some(Gateway::start(addr)),
            Some("online") => {
                drop(gateway.take());
                origin = Some(Origin::start_on(store.path(), addr, &[]));
            }
            Some("fix") => {
                let lesson = content.path().join("courses/web-animation/css-transitions.md");
                let mut text = std::fs::read_to_string(&lesson).expect("lesson");
                text.push_str(&format!("\n{FIX_MARKER}\n"));
                std::fs::write(&lesson, text).expect("fix");
                build_ok(content.path(), store.path());
                origin = Some(Origin::start_on(store.path(), addr, &[]));
                fixed = true;
            }
            Some(other) => panic!("unknown step {other}"),
            None => {
                result = Some(message);
                break;
            }
        }
        writeln!(to_node, "ok").expect("to node");
    }
    let output = node.wait_with_output().expect("node");
    let out =
        result.unwrap_or_else(|| panic!("offline.mjs failed: {}", String::from_utf8_lossy(&output.stderr)));

    if std::env::var_os("OFFLINE_DEBUG").is_some() {
        eprintln!("{out:#}\nafter fix: {after_fix:?}");
    }
    // Visited lessons, offline.
    for page in out["visited"].as_array().expect("visited") {
        let path = page["path"].as_str().unwrap_or_default();
        assert_eq!(page["status"], 200, "{path} offline: {page}");
        assert_eq!(page["lesson"], true, "{path} is the lesson: {page}");
        assert_eq!(page["notice"], true, "{path} says it is offline: {page}");
        assert_eq!(page["styled"], true, "{path} has its stylesheet: {page}");
        let images = page["images"].as_array().expect("images");
        assert!(images.iter().all(|i| i["ok"] == true), "{path}'s images offline: {images:?}");
        assert_eq!(page["lottie"]["players"], page["lottie"]["rendered"], "{path}'s animations: {page}");
    }
    let pages = out["visited"].as_array().expect("visited");
    assert!(pages.iter().any(|p| !p["images"].as_array().expect("images").is_empty()), "images were checked");
    assert!(pages.iter().any(|p| p["lottie"]["players"].as_u64() > Some(0)), "a Lottie was checked");
    let unvisited = &out["unvisited"];
    assert_eq!(unvisited["notice"], true, "the offline notice, not chromium's error page: {unvisited}");
    assert_eq!(unvisited["lesson"], false, "{unvisited}");
    // Behind a gateway answering 503: the kept copy, marked offline; else the gateway's page.
    let behind = &out["gateway"];
    assert_eq!((&behind["lesson"], &behind["notice"]), (&json!(true), &json!(true)), "kept copy: {behind}");
    let passed = &out["gateway_unvisited"];
    assert_eq!(passed["status"], 503, "an unvisited page gets the gateway's answer: {passed}");
    assert!(passed["text"].as_str().is_some_and(|t| t.contains(GATEWAY_TEXT)), "{passed}");

    // The saved course.
    let offered = out["save"]["offered"].as_str().unwrap_or_default();
    assert!(
        offered.contains("Save this course for offline (") && offered.contains("B)"),
        "size shown: {offered}"
    );
    let saved = out["saved_offline"].as_array().expect("saved");
    assert_eq!(saved.len(), spec["lessons"].as_array().expect("lessons").len());
    for page in saved {
        assert_eq!(
            (page["status"].as_u64(), &page["lesson"]),
            (Some(200), &json!(true)),
            "saved, offline: {page}"
        );
        assert!(page["images"].as_array().expect("images").iter().all(|i| i["ok"] == true), "{page}");
        assert!(
            page["videos"].as_array().expect("videos").iter().all(|v| v["ok"] == true),
            "video offline: {page}"
        );
        for range in page["ranges"].as_array().expect("ranges") {
            assert_eq!((range["status"].as_u64(), range["bytes"].as_u64()), (Some(206), Some(100)), "{page}");
            assert!(range["range"].as_str().is_some_and(|r| r.starts_with("bytes 10-109/")), "{range}");
        }
    }
    let videos = saved.iter().flat_map(|p| p["videos"].as_array().cloned().unwrap_or_default()).count();
    assert!(videos > 0, "the saved course has a video lesson, played offline");
    // After the fix: the list and the fixed page, nothing else of the course.
    let fetched: Vec<&str> =
        out["updated"]["fetched"].as_array().expect("fetched").iter().filter_map(Value::as_str).collect();
    assert_eq!(fetched, [FIXED], "only the fixed page was fetched again");
    let requested = after_fix.expect("requests after the fix");
    let allowed = [SAVED.to_owned(), format!("{SAVED}_offline.json"), FIXED.to_owned(), "/sw.js".to_owned()];
    let unexpected: Vec<&String> = requested.iter().filter(|p| !allowed.contains(p)).collect();
    assert!(
        unexpected.is_empty(),
        "fetched after the fix besides the list and the fixed page: {unexpected:?}"
    );
    assert!(requested.contains(&FIXED.to_owned()), "{requested:?}");
    let fixed_offline = &out["fixed_offline"];
    assert_eq!(fixed_offline["has_fix"], true, "the saved copy is the fixed one: {fixed_offline}");

    // A blocked worker.
    let blocked = &out["blocked"];
    assert_eq!(
        (blocked["status"].as_u64(), &blocked["lesson"], &blocked["styled"]),
        (Some(200), &json!(true), &json!(true)),
        "{blocked}"
    );
    assert_eq!(blocked["notice"], false, "{blocked}");
    let broken = &out["broken"];
    assert_eq!(
        (broken["status"].as_u64(), &broken["lesson"], &broken["styled"], &broken["controlled"]),
        (Some(200), &json!(true), &json!(true), &json!(false)),
        "a worker that throws: {broken}"
    );

    // A page that is not the listed object (a release published mid-save) stops the save.
    let tampered = &out["tampered"];
    assert_eq!((&tampered["state"], &tampered["pages_kept"]), (&json!("error"), &json!(0)), "{tampered}");

    let serious: Vec<&Value> = out["axe"]
        .as_array()
        .expect("axe")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "axe-core on the save control: {serious:#?}");
    let problems = out["problems"].as_array().expect("problems");
    assert!(problems.is_empty(), "browser problems: {problems:#?}");
}

/// What the worker keeps from browsing is bounded: with the theme registering it as
/// `/sw.js?pages=3&objects=8`, five visited lessons leave the last three kept (offline they
/// open; the two oldest show the offline notice instead) and at most eight files.
#[test]
fn the_worker_keeps_only_the_newest_pages_and_files_within_its_bounds() {
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let script = content.path().join("theme/static/js/offline.js");
    let text = std::fs::read_to_string(&script).expect("offline.js");
    assert!(text.contains("register('/sw.js')"), "the theme registers its worker");
    std::fs::write(&script, text.replace("register('/sw.js')", "register('/sw.js?pages=3&objects=8')"))
        .expect("write");
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), store.path());
    let origin = Origin::start(store.path(), &[]);
    let visit: Vec<String> =
        lessons_of(store.path(), "/courses/python-foundations/").into_iter().take(5).collect();
    assert_eq!(visit.len(), 5, "{visit:?}");
    let spec_file = store.path().join("bounds-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(&json!({ "visit": visit })).expect("json")).expect("spec");
    let out = e2e::granting::run_browser("sw-bounds.mjs", &[&origin.base, &spec_file.display().to_string()]);

    let mut kept: Vec<&str> =
        out["pages"].as_array().expect("pages").iter().filter_map(|p| p.as_str()).collect();
    kept.sort_unstable();
    let mut newest: Vec<&str> = visit[2..].iter().map(String::as_str).collect();
    newest.sort_unstable();
    assert_eq!(kept, newest, "the three newest pages: {out}");
    let objects = out["objects"].as_u64().expect("objects");
    assert!((1..=8).contains(&objects), "files kept within the bound: {out}");
    for (n, page) in out["offline"].as_array().expect("offline").iter().enumerate() {
        let path = page["path"].as_str().unwrap_or_default();
        let kept = n >= 2;
        assert_eq!(page["status"], if kept { 200 } else { 503 }, "{path} offline: {page}");
        assert_eq!(page["lesson"], kept, "{path} kept only if among the newest: {page}");
        assert_eq!(page["notice"], true, "{path} says it is offline: {page}");
    }
    assert!(out["problems"].as_array().expect("problems").is_empty(), "{out}");
}
