//! `course pack <slug>`: a course of the built release as a zip whose pages open from
//! disk (every link between packed files relative and present), deterministic, holding
//! nothing of other courses; bad slugs, unknown courses and missing stores are refused
//! with a clear error (exit 2).

use std::path::{Path, PathBuf};

use e2e::granting::run_browser;
use e2e::{build_ok, course, sample_content};
use serde_json::json;

const COURSE: &str = "web-animation";

fn pack(store: &Path, slug: &str, to: &Path) -> std::process::Output {
    course()
        .arg("pack")
        .arg(slug)
        .arg("--out")
        .arg(store)
        .arg("--to")
        .arg(to)
        .output()
        .expect("run course pack")
}

fn unzip(zip_path: &Path, into: &Path) -> Vec<String> {
    let file = std::fs::File::open(zip_path).expect("zip");
    let mut archive = zip::ZipArchive::new(file).expect("a zip");
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    archive.extract(into).expect("extract");
    names
}

/// The values of `href="..."` and `src="..."` in an HTML file.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in [" href=\"", " src=\"", " data-lottie-src=\""] {
        for piece in html.split(attr).skip(1) {
            if let Some(end) = piece.find('"') {
                // (The theme's templates write `/` as `&#x2f;` in attributes.)
                found.push(piece[..end].replace("&#x2f;", "/").replace("&amp;", "&"));
            }
        }
    }
    found
}

#[test]
fn a_course_pack_opens_from_disk_with_relative_links() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("dist");
    build_ok(&sample_content(), &store);
    let zip_path = work.path().join("pack.zip");
    let output = pack(&store, COURSE, &zip_path);
    assert!(output.status.success(), "course pack: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("packed "), "{output:?}");
    let first = std::fs::read(&zip_path).expect("zip");
    assert!(pack(&store, COURSE, &zip_path).status.success());
    assert_eq!(first, std::fs::read(&zip_path).expect("zip"), "the same release packs to the same bytes");

    // Video and images are stored as they are (deflating them gains nothing), text deflated.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).expect("zip")).expect("a zip");
    let methods: Vec<(String, zip::CompressionMethod)> = (0..archive.len())
        .map(|i| archive.by_index(i).map(|f| (f.name().to_owned(), f.compression())).expect("entry"))
        .collect();
    let video: Vec<_> = methods.iter().filter(|(n, _)| n.ends_with(".webm") || n.ends_with(".png")).collect();
    assert!(!video.is_empty(), "the course's video and images are packed: {methods:?}");
    assert!(video.iter().all(|(_, m)| *m == zip::CompressionMethod::Stored), "{video:?}");
    assert!(methods
        .iter()
        .filter(|(n, _)| n.ends_with(".html"))
        .all(|(_, m)| *m == zip::CompressionMethod::Deflated));
    assert!(!work.path().join("pack.zip.partial").exists(), "no partial zip left");

    let unpacked = work.path().join("unpacked");
    let names = unzip(&zip_path, &unpacked);
    let root = unpacked.join(COURSE);
    for lesson in std::fs::read_dir(sample_content().join("courses").join(COURSE))
        .expect("course")
        .filter_map(Result::ok)
    {
        let name = lesson.file_name().to_string_lossy().into_owned();
        if let Some(slug) = name.strip_suffix(".md") {
            let page = root.join(format!("courses/{COURSE}/{slug}/index.html"));
            assert!(page.is_file(), "{} is packed", page.display());
        }
    }
    assert!(root.join("index.html").is_file(), "an entry page");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("/courses/") && !n.starts_with(&format!("{COURSE}/courses/{COURSE}/"))),
        "nothing of another course: {names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("_search") || n.contains("_offline")), "{names:?}");
    // Every relative link of every packed page names a packed file.
    let mut checked = 0;
    for name in names.iter().filter(|n| n.ends_with(".html")) {
        let file = unpacked.join(name);
        let html = std::fs::read_to_string(&file).expect("html");
        for link in links(&html) {
            let external = link.starts_with('/') || link.starts_with('#') || link.contains(':');
            if external || link.is_empty() {
                continue;
            }
            let path = link.split(['#', '?']).next().unwrap_or_default();
            let target: PathBuf = file.parent().expect("dir").join(path);
            assert!(target.exists(), "{name} links to {link}, which is not in the pack");
            checked += 1;
        }
        // The course's own pages and assets are never left absolute.
        for link in links(&html) {
            assert!(
                !(link.starts_with(&format!("/courses/{COURSE}/")) || link.starts_with("/assets/")),
                "{name} keeps an absolute link {link}"
            );
        }
    }
    assert!(checked > 50, "links were checked ({checked})");

    // In chromium from file://: styled, images and the lab's app load.
    let base = format!("file://{}/", root.display());
    let spec = json!([
        {
            "path": format!("courses/{COURSE}/css-transitions/index.html"),
            "checks": {
                "styled": "getComputedStyle(document.body).fontFamily.includes('system-ui')",
                "images": "[...document.querySelectorAll('main img')].every(i => i.complete && i.naturalWidth > 0) && document.querySelectorAll('main img').length > 0"
            }
        },
        {
            "path": format!("courses/{COURSE}/keyframe-animations/index.html"),
            "settle_ms": 1000,
            // From file:// each file is its own origin: the page cannot look into the
            // lab's frame, so the frame's own URL (below) shows the app was opened.
            "checks": { "lab frame": "document.querySelectorAll('.lab iframe').length > 0" }
        },
        {
            "path": "index.html",
            "checks": { "opens the course": "location.pathname.endsWith('/courses/web-animation/index.html')" },
            "settle_ms": 800
        }
    ]);
    let spec_file = work.path().join("spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(&spec).expect("json")).expect("spec");
    let results = run_browser("check-pages.mjs", &[&base, &spec_file.display().to_string()]);
    for page in results.as_array().expect("results") {
        for (name, ok) in page["checks"].as_object().expect("checks") {
            assert_eq!(ok, true, "{}: {name} ({page})", page["path"]);
        }
        let problems: Vec<_> = page["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .filter_map(|p| p.as_str())
            // Search and the offline worker need a server; from disk they stay quiet or
            // fail alone, and the lesson is as it was.
            .filter(|p| !p.contains("_search") && !p.contains("sw.js"))
            // A lab that fetch()es its own files needs http: (chromium refuses fetch from
            // file://); the README says so.
            .filter(|p| !(p.contains("/labs/") || p.contains("Failed to load resource: net::ERR_FAILED")))
            .collect();
        if page["path"].as_str().is_some_and(|p| p.contains("keyframe-animations")) {
            let frames = page["frames"].as_array().expect("frames");
            assert!(
                frames
                    .iter()
                    .any(|f| f.as_str().is_some_and(|f| f.contains("/labs/") && f.ends_with("/index.html"))),
                "the lab's app opened from the pack: {frames:?}"
            );
        }
        assert!(problems.is_empty(), "{}: {problems:?}", page["path"]);
    }
}

#[test]
fn bad_slugs_unknown_courses_and_missing_stores_are_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("dist");
    build_ok(&sample_content(), &store);
    let to = work.path().join("x.zip");
    for (slug, store, expect) in [
        ("../../etc", store.as_path(), "bad course slug"),
        ("Web_Animation", store.as_path(), "bad course slug"),
        ("no-such-course", store.as_path(), "has no course \"no-such-course\""),
        (COURSE, work.path().join("nowhere").as_path(), "build the content into this store first"),
    ] {
        let output = pack(store, slug, &to);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{slug}: {stderr}");
        assert!(stderr.contains(expect), "{slug}: {stderr}");
        assert!(!to.exists(), "nothing written for {slug}");
    }
}

#[test]
fn a_pack_never_writes_through_a_planted_link_and_leaves_no_partial_zip() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("dist");
    build_ok(&sample_content(), &store);
    let victim = work.path().join("victim");
    std::fs::write(&victim, "victim").expect("write");
    let to = work.path().join("y.zip");
    std::os::unix::fs::symlink(&victim, work.path().join("y.zip.partial")).expect("link");
    assert!(pack(&store, COURSE, &to).status.success());
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "victim", "the link's target is untouched");
    assert!(!to.is_symlink() && to.is_file(), "the pack is a file of its own");
    // A rename that fails (a folder in the way) leaves no partial zip.
    let blocked = work.path().join("d.zip");
    std::fs::create_dir_all(blocked.join("inner")).expect("mkdir");
    let out = pack(&store, COURSE, &blocked);
    assert!(!out.status.success());
    assert!(!work.path().join("d.zip.partial").exists(), "no partial zip left behind");
}
