//! One Varnish edge with the repo's VCL balancing over three real edge-origins (its shard
//! director, shared readiness probe, retry on another origin and stale-if-error): load is
//! spread, killing an origin shows students no errors, expired pages outlive every origin,
//! and a PURGE reaches an object whichever origin served it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::proxy::Proxy;
use e2e::varnish::{Options, Varnish};
use e2e::{build_ok, client, get, live_manifest, sample_content, Origin};

const LESSON: &str = "/courses/python-foundations/hello-python/";

struct Fleet {
    // Field order is drop order: Varnish, then the origins, then the store.
    varnish: Varnish,
    origins: Vec<Origin>,
    public_routes: Vec<String>,
    store: tempfile::TempDir,
}

fn built_store() -> (tempfile::TempDir, Vec<String>) {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let public_routes = manifest
        .routes
        .iter()
        .filter(|(_, r)| r.access == bundle::Access::Public)
        .map(|(path, _)| path.clone())
        .collect();
    (store, public_routes)
}

fn start_fleet() -> Fleet {
    let (store, public_routes) = built_store();
    let origins: Vec<Origin> = (0..3).map(|_| Origin::start(store.path(), &[])).collect();
    let bases: Vec<&str> = origins.iter().map(|o| o.base.as_str()).collect();
    let varnish = Varnish::start_many(&bases);
    Fleet { varnish, origins, public_routes, store }
}

/// Requests for content (not the probes' `/_origin/ready`) in an origin's access log.
fn content_requests(origin: &Origin) -> Vec<String> {
    origin
        .log()
        .lines()
        .filter(|l| l.contains("access") && l.contains("path=") && !l.contains("/_origin/"))
        .map(str::to_owned)
        .collect()
}

fn x_cache(response: &reqwest::blocking::Response) -> String {
    response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[test]
fn requests_are_spread_over_every_origin() {
    let f = start_fleet();
    assert!(f.public_routes.len() >= 20, "the sample has enough public routes to spread");
    for route in &f.public_routes {
        let response = get(&f.varnish.url(route), &[]);
        assert_eq!(response.status(), 200, "{route}");
    }
    let counts: Vec<usize> = f.origins.iter().map(|o| content_requests(o).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), f.public_routes.len(), "each route fetched once: {counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "every origin served some of the routes: {counts:?}");
}

#[test]
fn killing_an_origin_under_load_shows_students_no_errors() {
    let mut f = start_fleet();
    let routes = Arc::new(f.public_routes.clone());
    let etags: Arc<Vec<String>> = Arc::new(
        routes
            .iter()
            .map(|r| {
                let response = get(&f.varnish.url(r), &[]);
                assert_eq!(response.status(), 200);
                response.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = (0..20)
        .map(|t| {
            let (routes, etags, stop, sent, failures) =
                (routes.clone(), etags.clone(), stop.clone(), sent.clone(), failures.clone());
            let base = f.varnish.base.clone();
            std::thread::spawn(move || {
                let http = client();
                let purge = reqwest::Method::from_bytes(b"PURGE").expect("method");
                let mut i = t;
                while !stop.load(Ordering::SeqCst) {
                    let (route, etag) = (&routes[i % routes.len()], &etags[i % routes.len()]);
                    let url = format!("{base}{route}");
                    // A purge then a fetch (a miss), a revalidation, and a pass to an origin.
                    let request = match i % 3 {
                        0 => {
                            let _ = http.request(purge.clone(), &url).send();
                            http.get(&url)
                        }
                        1 => http.get(&url).header("if-none-match", etag.as_str()),
                        _ => http.get(format!("{url}?Policy=x&Signature=y&Key-Pair-Id=z")),
                    };
                    let outcome = request.send().and_then(|r| {
                        let status = r.status().as_u16();
                        r.bytes().map(|_| status)
                    });
                    sent.fetch_add(1, Ordering::SeqCst);
                    match outcome {
                        Ok(200 | 304) => {}
                        Ok(status) => failures.lock().expect("failures").push(format!("{status} for {url}")),
                        Err(e) => failures.lock().expect("failures").push(format!("{e} for {url}")),
                    }
                    i += 7;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = Instant::now();
    let addr = f.origins[1].addr();
    f.origins[1].kill9();
    // The probe marks it sick within ~2-3 s: requests until then are retried elsewhere.
    f.varnish.wait_origins_healthy(&[true, false, true], Duration::from_secs(4));
    let marked_sick = killed_at.elapsed();
    std::thread::sleep(Duration::from_millis(5000).saturating_sub(killed_at.elapsed()));
    // Restarted where Varnish expects it, it is healthy again within ~3 s.
    let restarted_at = Instant::now();
    f.origins[1] = Origin::start_on(f.store.path(), addr, &[]);
    f.varnish.wait_origins_healthy(&[true, true, true], Duration::from_secs(5));
    let back = restarted_at.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("client thread");
    }

    let failures = failures.lock().expect("failures");
    let sent = sent.load(Ordering::SeqCst);
    assert!(sent > 200, "a steady stream of requests: {sent}");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed (origin marked sick after {marked_sick:?}): {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(back < Duration::from_secs(4), "the restarted origin came back after {back:?}");
    assert!(!content_requests(&f.origins[1]).is_empty(), "the restarted origin serves again");
}

#[test]
fn expired_pages_are_served_stale_when_every_origin_is_down() {
    let (store, _) = built_store();
    let mut origins: Vec<Origin> = (0..3).map(|_| Origin::start(store.path(), &[])).collect();
    // Pages live 2 s at the edge instead of an hour (same length, so sizes stay right),
    // and stale ones are served 1 s past that while an origin is healthy, not 60 s.
    let proxies: Vec<Proxy> = origins.iter().map(|o| Proxy::start(&o.base)).collect();
    for proxy in &proxies {
        proxy.rewrite_answers("s-maxage=3600", "s-maxage=0002");
    }
    let bases: Vec<&str> = proxies.iter().map(|p| p.base.as_str()).collect();
    let varnish = Varnish::start_with(
        &bases,
        &Options { healthy_grace: Some(Duration::from_secs(1)), ..Options::default() },
    );

    let first = get(&varnish.url(LESSON), &[]);
    assert_eq!(first.status(), 200);
    let ttl: f64 = first.headers()["x-cache-ttl"].to_str().expect("ttl").parse().expect("seconds");
    assert!(ttl <= 2.0, "the rewritten lifetime applies: {ttl}");
    let page = first.bytes().expect("body");
    // Past its TTL and the healthy grace: the next request must fetch in the foreground.
    std::thread::sleep(Duration::from_millis(3500));
    for origin in &mut origins {
        origin.kill9();
    }
    // Before the probes notice: the fetch fails on every origin, the stale copy answers.
    let stale = get(&varnish.url(LESSON), &[]);
    assert_eq!(stale.status(), 200, "an expired page outlives the origins it came from");
    assert_eq!(stale.bytes().expect("body"), page);
    // Once every origin is marked sick, the full grace applies.
    varnish.wait_origins_healthy(&[false, false, false], Duration::from_secs(5));
    for accept in ["", "br"] {
        let response = get(&varnish.url(LESSON), &[("accept-encoding", accept)]);
        if accept.is_empty() {
            assert_eq!(response.status(), 200, "still served from grace");
        } else {
            // Never fetched in br: nothing stale to serve, and no hang.
            assert_eq!(response.status(), 503, "an uncached variant cannot be served");
        }
    }
    drop(varnish);
    drop(proxies);
}

#[test]
fn a_purge_reaches_the_object_whatever_origin_served_it() {
    let f = start_fleet();
    for route in &f.public_routes {
        assert_eq!(x_cache(&get(&f.varnish.url(route), &[])), "MISS", "{route}");
        assert_eq!(x_cache(&get(&f.varnish.url(route), &[])), "HIT", "{route}");
    }
    let served_by: Vec<usize> = f.origins.iter().map(|o| content_requests(o).len()).collect();
    assert!(served_by.iter().filter(|&&n| n > 0).count() >= 2, "several origins served them: {served_by:?}");
    for route in &f.public_routes {
        assert_eq!(f.varnish.purge(route), 200, "PURGE {route}");
        let after = get(&f.varnish.url(route), &[]);
        assert_eq!(after.status(), 200);
        assert_eq!(x_cache(&after), "MISS", "the purge evicted {route}");
    }
    let fetched: usize = f.origins.iter().map(|o| content_requests(o).len()).sum();
    assert_eq!(fetched, 2 * f.public_routes.len(), "each route fetched again once after its purge");
}

/// An origin dying mid-body (`kill -9` while it streams a page): the student still gets the
/// whole page, from another origin, never a truncated body or a reset connection.
#[test]
fn an_origin_dying_mid_body_is_retried_on_another() {
    let (store, _) = built_store();
    let origins: Vec<Origin> = (0..2).map(|_| Origin::start(store.path(), &[])).collect();
    let proxies: Vec<Proxy> = origins.iter().map(|o| Proxy::start(&o.base)).collect();
    let bases: Vec<&str> = proxies.iter().map(|p| p.base.as_str()).collect();
    let varnish = Varnish::start_many(&bases);
    let page = get(&origins[0].url(LESSON), &[]).bytes().expect("body");
    assert!(page.len() > 2000, "a page long enough to cut: {}", page.len());
    // The origin the URL maps to (the one that served it), once it is purged again...
    assert_eq!(get(&varnish.url(LESSON), &[]).status(), 200);
    let primary = (0..2)
        .find(|&i| content_requests(&origins[i]).iter().any(|l| l.contains(LESSON)))
        .expect("an origin served the page");
    assert_eq!(varnish.purge(LESSON), 200);
    // ...stops its next answer 1.5 kB into the page, as if killed.
    proxies[primary].cut_answers(&format!("GET {LESSON} "), 1500, 1);
    let response = client().get(varnish.url(LESSON)).send().expect("the request is answered");
    let status = response.status();
    let body = response.bytes();
    assert_eq!(proxies[primary].cuts_left(), 0, "the answer was cut");
    assert_eq!(status, 200);
    let body = body.unwrap_or_else(|e| panic!("the body arrives whole, not cut: {e}"));
    assert_eq!(body, page, "the whole page");
    drop(varnish);
    drop(proxies);
}
