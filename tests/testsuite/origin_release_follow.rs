//! The origin follows its channel: a newly built release is served within the poll
//! interval plus a second, no request fails or mixes releases meanwhile, and the admin
//! invalidate endpoint reloads at once (with its bearer token only).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{build_ok, client, copy_tree, get, live_manifest, metric, sample_content, Origin};

/// A copy of the sample content whose index tagline is changed, so `/` changes.
fn edited_content() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), dir.path());
    let site = dir.path().join("site.toml");
    let text = std::fs::read_to_string(&site).expect("site.toml");
    let edited: String = text
        .lines()
        .map(|l| {
            if l.starts_with("tagline") {
                "tagline = \"Now with a brand new release\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&site, edited + "\n").expect("edit");
    dir
}

#[test]
fn a_new_release_is_served_within_the_poll_interval_without_failures() {
    let store = tempfile::tempdir().expect("tempdir");
    let old = build_ok(&sample_content(), store.path());
    let origin = Arc::new(Origin::start(store.path(), &["--poll", "500ms"]));

    // Students keep loading the index throughout; every answer must be whole and from one release.
    let stop = Arc::new(AtomicBool::new(false));
    let store_path = store.path().to_owned();
    let loader = {
        let (origin, stop) = (origin.clone(), stop.clone());
        std::thread::spawn(move || {
            let client = client();
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response = client.get(origin.url("/")).send().expect("request");
                assert_eq!(response.status(), 200, "no request fails during the switch");
                let release = response.headers()["x-release"].to_str().expect("header").to_owned();
                let body = response.bytes().expect("body");
                let manifest =
                    std::fs::read(store_path.join(format!("releases/{release}.json"))).expect("manifest");
                let manifest = bundle::Manifest::from_bytes(&manifest).expect("parses");
                let expected =
                    std::fs::read(store_path.join("objects").join(manifest.routes["/"].object.as_str()))
                        .expect("object");
                assert_eq!(body.to_vec(), expected, "the body is the one of the release it claims");
                seen.push(release);
            }
            seen
        })
    };

    std::thread::sleep(Duration::from_millis(300));
    let content = edited_content();
    let new = build_ok(content.path(), store.path());
    assert_ne!(new, old);
    let flipped = Instant::now();
    let deadline = flipped + Duration::from_millis(1500);
    loop {
        let release = get(&origin.url("/"), &[]).headers()["x-release"].to_str().expect("header").to_owned();
        if release == new {
            break;
        }
        assert!(Instant::now() < deadline, "new release not served within poll (500 ms) + 1 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let seen = loader.join().expect("loader thread");
    assert!(seen.len() > 10, "the loader made requests ({})", seen.len());
    assert!(seen.iter().all(|r| r == &old || r == &new));
    assert_eq!(seen.last(), Some(&new));
    let body = get(&origin.url("/"), &[]).text().expect("body");
    assert!(body.contains("Now with a brand new release"));
    assert!(metric(&origin, &format!("edge_origin_release{{release=\"{new}\"}}")) == 1.0);
}

#[test]
fn invalidate_reloads_at_once_and_needs_the_admin_token() {
    let store = tempfile::tempdir().expect("tempdir");
    let old = build_ok(&sample_content(), store.path());
    let origin = Origin::start(store.path(), &["--poll", "1h", "--admin-token", "s3cret-token"]);
    let content = edited_content();
    let new = build_ok(content.path(), store.path());
    assert_eq!(get(&origin.url("/"), &[]).headers()["x-release"], old.as_str(), "no poll for an hour");

    let url = origin.url("/_origin/invalidate");
    assert_eq!(client().post(&url).send().expect("post").status(), 401);
    let wrong = client().post(&url).bearer_auth("s3cret-tokem").send().expect("post");
    assert_eq!(wrong.status(), 401);
    assert_eq!(get(&url, &[]).status(), 405, "GET is not allowed on the admin endpoint");
    assert_eq!(get(&origin.url("/"), &[]).headers()["x-release"], old.as_str());

    let ok = client().post(&url).bearer_auth("s3cret-token").send().expect("post");
    assert_eq!(ok.status(), 200);
    let answer: serde_json::Value = serde_json::from_slice(&ok.bytes().expect("body")).expect("json");
    assert_eq!(answer["release"], new.as_str());
    assert_eq!(answer["changed"], true);
    assert_eq!(get(&origin.url("/"), &[]).headers()["x-release"], new.as_str(), "served at once");
    let (_, manifest) = live_manifest(store.path());
    assert!(manifest.routes.contains_key("/"));
}

#[test]
fn admin_endpoint_is_off_without_a_token() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let origin = Origin::start(store.path(), &[]);
    let response = client().post(origin.url("/_origin/invalidate")).bearer_auth("").send().expect("post");
    assert_eq!(response.status(), 403);
}
