//! `course build --check-external` against a server this test runs on loopback (never the
//! internet): an answering URL, a missing one, one that refuses HEAD (405) but answers GET,
//! and one that never answers, which must time out with a clear message. Each URL is
//! fetched once per build however many links name it, and without the flag nothing is.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::copy_tree;

/// The requests a [`LinkServer`] got, as `METHOD /path` -> count.
type Seen = Arc<Mutex<BTreeMap<String, usize>>>;

/// A small HTTP/1.1 server: `/ok` 200, `/missing` 404, `/no-head` 405 to HEAD and 200 to
/// GET, `/hang` reads the request and never answers.
struct LinkServer {
    base: String,
    seen: Seen,
}

impl LinkServer {
    fn start() -> LinkServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let seen = Seen::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut request = String::new();
                    let _ = reader.read_line(&mut request);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let mut parts = request.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    *log.lock().expect("log").entry(format!("{method} {path}")).or_default() += 1;
                    let status = match (method, path) {
                        (_, "/hang") => {
                            std::thread::sleep(Duration::from_secs(60));
                            return;
                        }
                        (_, "/ok") | ("GET", "/no-head") => "200 OK",
                        ("HEAD", "/no-head") => "405 Method Not Allowed",
                        _ => "404 Not Found",
                    };
                    let mut stream = stream;
                    let _ =
                        write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                });
            }
        });
        LinkServer { base, seen }
    }

    fn seen(&self) -> BTreeMap<String, usize> {
        self.seen.lock().expect("log").clone()
    }
}

/// The minimal site, with lessons linking to `base`'s URLs (two links to `/ok`, one with a
/// fragment, in two lessons).
fn site(dir: &Path, base: &str) -> std::path::PathBuf {
    let content = dir.join("content");
    copy_tree(&e2e::root().join("tests/fixtures/minimal"), &content);
    let intro = content.join("courses/demo/intro.md");
    let mut text = std::fs::read_to_string(&intro).expect("intro");
    text.push_str(&format!(
        "\nSee [the docs]({base}/ok), [a missing page]({base}/missing) and <{base}/hang>.\n\n\
         A server that refuses HEAD: [answers GET]({base}/no-head).\n"
    ));
    std::fs::write(&intro, text).expect("write");
    let next = content.join("courses/demo/next.md");
    let mut text = std::fs::read_to_string(&next).expect("next");
    text.push_str(&format!("\nThe [same docs]({base}/ok#usage), [missing again]({base}/missing).\n"));
    std::fs::write(&next, text).expect("write");
    content
}

fn build(content: &Path, out: &Path, flags: &[&str]) -> std::process::Output {
    let mut command = e2e::course();
    command.args(["build", "--content"]).arg(content).arg("--out").arg(out).args(flags);
    // The loopback server, never through a proxy the environment may name.
    for proxy in ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        command.env_remove(proxy);
    }
    command.output().expect("run course build")
}

#[test]
fn broken_and_hanging_links_are_errors_at_each_link_and_each_url_is_fetched_once() {
    let server = LinkServer::start();
    let work = tempfile::tempdir().expect("tempdir");
    let content = site(work.path(), &server.base);
    let out = work.path().join("dist");

    // Off by default: the build succeeds and the server hears nothing.
    let plain = build(&content, &out, &[]);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
    assert!(server.seen().is_empty(), "no request without --check-external: {:?}", server.seen());
    let channel = std::fs::read(out.join("channels/live.json")).expect("channel");

    // The content is unchanged, so this build reuses every page from the page cache: the
    // links checked are the ones the cache kept (see the rebuild at the end).
    let started = Instant::now();
    let checked = build(&content, &out, &["--check-external", "--external-timeout", "1s"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "broken external links fail the build: {stderr}");
    let root = content.display();
    let base = &server.base;
    // Columns of the links (they move with the length of the server's port).
    let col = |file: &str, line: usize, link: &str| {
        let text = std::fs::read_to_string(content.join(file)).expect("lesson");
        text.lines().nth(line - 1).and_then(|l| l.find(link)).expect("the link") + 1
    };
    let errors: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("error: ")).collect();
    assert_eq!(
        errors,
        [
            format!(
                "{root}/courses/demo/intro.md:21:{}: external link `{base}/missing` is broken: 404 Not Found",
                col("courses/demo/intro.md", 21, "[a missing page]")
            ),
            format!(
                "{root}/courses/demo/intro.md:21:{}: external link `{base}/hang` did not answer within 1s \
                 (--external-timeout)",
                col("courses/demo/intro.md", 21, "<http")
            ),
            format!(
                "{root}/courses/demo/next.md:15:{}: external link `{base}/missing` is broken: 404 Not Found",
                col("courses/demo/next.md", 15, "[missing again]")
            ),
        ]
    );
    assert!(took < Duration::from_secs(15), "the hanging server costs the timeout, not more: {took:?}");
    assert_eq!(std::fs::read(out.join("channels/live.json")).expect("channel"), channel, "nothing published");

    let seen = server.seen();
    assert_eq!(seen.get("HEAD /ok"), Some(&1), "one request for two links (and a fragment): {seen:?}");
    assert_eq!(seen.get("GET /ok"), None, "{seen:?}");
    assert_eq!(seen.get("HEAD /missing"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("HEAD /no-head"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("GET /no-head"), Some(&1), "a GET after the 405: {seen:?}");

    let again = build(&content, &out, &[]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("pages (0 rendered)"), "the pages came from the cache: {stdout}");
}

#[test]
fn links_over_the_count_limit_are_warned_about_not_checked() {
    let server = LinkServer::start();
    let work = tempfile::tempdir().expect("tempdir");
    let content = site(work.path(), &server.base);
    let out = work.path().join("dist");
    let checked =
        build(&content, &out, &["--check-external", "--external-max", "1", "--external-timeout", "1s"]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    // URLs are checked in order: `/hang` first, so it is the one error; the others are not checked.
    let base = &server.base;
    let errors: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&format!("`{base}/hang` did not answer within 1s")), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("warning: ")).collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    for url in ["/missing", "/no-head", "/ok"] {
        assert!(
            warnings.iter().any(|w| w.contains(&format!(
                "external link `{base}{url}` not checked: the build checks at most 1 URLs (--external-max)"
            ))),
            "{url}: {stderr}"
        );
    }
    assert!(server.seen().keys().all(|k| k.ends_with("/hang")), "{:?}", server.seen());
}
