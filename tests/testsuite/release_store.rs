//! The store a build writes is self-verifying and deterministic, and a one-lesson edit
//! changes only what depends on that lesson.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bundle::{CacheClass, Encoding, Manifest};
use e2e::{build_ok, copy_tree, live_manifest, sample_content};

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn routes_to_objects(manifest: &Manifest) -> BTreeMap<String, String> {
    manifest.routes.iter().map(|(route, r)| (route.clone(), r.object.to_string())).collect()
}

fn decode(encoding: Encoding, packed: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut plain = Vec::new();
    match encoding {
        Encoding::Br => brotli::Decompressor::new(packed, 4096).read_to_end(&mut plain),
        Encoding::Gzip => flate2::read::GzDecoder::new(packed).read_to_end(&mut plain),
    }
    .unwrap_or_else(|e| panic!("{encoding:?} does not decode: {e}"));
    plain
}

/// The release id as `sha256sum releases/<id>.json | cut -c1-20` gives it: the first 20
/// hex digits of the manifest file's SHA-256, computed here, not by the bundle crate.
#[test]
fn the_release_id_is_the_hash_of_the_manifest_bytes() {
    let out = tempfile::tempdir().expect("tempdir");
    let printed = build_ok(&sample_content(), out.path());
    let pointer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("channels/live.json")).expect("pointer"))
            .expect("pointer is JSON");
    let id = pointer["release"].as_str().expect("the pointer names a release").to_owned();
    assert_eq!(printed, id, "the build printed the release the channel points at");
    let manifest = std::fs::read(out.path().join(format!("releases/{id}.json"))).expect("the manifest");
    assert_eq!(id, sha256(&manifest)[..20], "the id is the hash of the manifest bytes");
    let sha256sum = std::process::Command::new("sha256sum")
        .arg(out.path().join(format!("releases/{id}.json")))
        .output()
        .expect("run sha256sum");
    assert_eq!(String::from_utf8_lossy(&sha256sum.stdout)[..20], id, "sha256sum agrees");
}

#[test]
fn every_object_hashes_to_its_name_and_every_route_resolves() {
    let out = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), out.path());
    let objects = out.path().join("objects");
    let mut count = 0;
    for entry in std::fs::read_dir(&objects).expect("objects/") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).expect("read object");
        assert_eq!(sha256(&bytes), name, "object {name} hashes to its name");
        count += 1;
    }
    let (_, manifest) = live_manifest(out.path());
    assert!(count >= manifest.routes.len(), "{count} objects for {} routes", manifest.routes.len());

    let mut fingerprinted = 0;
    for (route, entry) in &manifest.routes {
        let bytes = std::fs::read(objects.join(entry.object.as_str()))
            .unwrap_or_else(|_| panic!("route {route} names a missing object"));
        assert_eq!(bytes.len() as u64, entry.size, "size of {route}");
        for (encoding, variant) in &entry.encodings {
            let packed = std::fs::read(objects.join(variant.object.as_str())).expect("variant object exists");
            assert!(packed.len() < bytes.len(), "{encoding:?} of {route} is smaller");
            assert_eq!(packed.len() as u64, variant.size, "size of {encoding:?} of {route}");
            // Decoded with other code than the builder's encoder, it is the route's bytes.
            assert_eq!(decode(*encoding, &packed), bytes, "{encoding:?} of {route} decodes to the route");
        }
        // `/assets/name.<10 hex>.ext`: the fingerprint is the hash of the bytes served.
        if let Some(file) = route.strip_prefix("/assets/") {
            let fingerprint =
                file.split('.').find(|p| p.len() == 10 && p.bytes().all(|b| b.is_ascii_hexdigit()));
            let fingerprint = fingerprint.unwrap_or_else(|| panic!("{route} is fingerprinted"));
            assert_eq!(&sha256(&bytes)[..10], fingerprint, "{route} fingerprint matches its bytes");
            assert_eq!(entry.cache, CacheClass::Immutable);
            fingerprinted += 1;
        }
    }
    assert!(fingerprinted >= 10, "the sample has many fingerprinted assets ({fingerprinted})");

    // Every page of the sample catalogue is there, plus the kinds of bundles.
    for needed in ["/", "/404.html"] {
        assert!(manifest.routes.contains_key(needed), "{needed}");
    }
    let lessons =
        manifest.routes.keys().filter(|r| r.matches('/').count() == 4 && r.starts_with("/courses/")).count();
    assert!(lessons >= 12, "at least 12 lesson pages, found {lessons}");
    assert!(manifest.routes.keys().any(|r| r.starts_with("/labs/") && r.ends_with("/index.html")));
    assert!(manifest.routes.keys().any(|r| r.starts_with("/animations/") && r.ends_with("/animation.json")));
    assert!(manifest.routes.keys().any(|r| r.ends_with("-starter.zip") || r.contains("-starter.")));
}

#[test]
fn enrolled_courses_are_scoped_and_assets_are_immutable() {
    let out = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), out.path());
    let (_, manifest) = live_manifest(out.path());
    let scoped: BTreeSet<String> = manifest
        .routes
        .iter()
        .filter_map(|(route, r)| match &r.access {
            bundle::Access::Course(slug) => {
                assert!(route.starts_with(&format!("/courses/{slug}/")), "{route} is inside its course");
                Some(slug.clone())
            }
            bundle::Access::Public => None,
        })
        .collect();
    assert_eq!(scoped.len(), 1, "exactly one enrolled course in the sample: {scoped:?}");
    for (route, r) in &manifest.routes {
        let page = route.ends_with('/') || route.ends_with(".html") && !route.starts_with("/labs/");
        // Stable besides pages: the worker (/sw.js), save lists and the search entry, JS and
        // WebAssembly; Pagefind's chunks are named by their hash and immutable.
        let hashed_chunk =
            [".pf_meta", ".pf_index", ".pf_fragment", ".pf_filter"].iter().any(|e| route.ends_with(e));
        let stable_by_name = route == "/sw.js" || (e2e::is_derived_index(route) && !hashed_chunk);
        assert_eq!(r.cache == CacheClass::Stable, page || stable_by_name, "cache class of {route}");
    }
}

#[test]
fn rebuilding_unchanged_content_gives_the_same_release() {
    let first = tempfile::tempdir().expect("tempdir");
    let second = tempfile::tempdir().expect("tempdir");
    let id1 = build_ok(&sample_content(), first.path());
    let id2 = build_ok(&sample_content(), second.path());
    assert_eq!(id1, id2);
    let manifest = |dir: &Path| std::fs::read(dir.join(format!("releases/{id1}.json"))).expect("manifest");
    assert_eq!(manifest(first.path()), manifest(second.path()), "byte-identical manifests");
    // Building again into the same store changes nothing and keeps the channel.
    let pointer = std::fs::read(first.path().join("channels/live.json")).expect("pointer");
    assert_eq!(build_ok(&sample_content(), first.path()), id1);
    assert_eq!(std::fs::read(first.path().join("channels/live.json")).expect("pointer"), pointer);
}

/// Content copy with the first lesson (in file order) of `course` edited by `edit`.
fn edited_lesson(course: &str, edit: impl Fn(&str) -> String) -> (tempfile::TempDir, String) {
    let work = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), work.path());
    let dir = work.path().join("courses").join(course);
    let mut lessons: Vec<_> = std::fs::read_dir(&dir)
        .expect("course dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    lessons.sort();
    let lesson = &lessons[1];
    let text = std::fs::read_to_string(lesson).expect("lesson");
    std::fs::write(lesson, edit(&text)).expect("edit");
    let slug = lesson.file_stem().expect("stem").to_string_lossy().into_owned();
    (work, format!("/courses/{course}/{slug}/"))
}

#[test]
fn editing_a_lesson_body_changes_only_that_page() {
    let base = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), base.path());
    let (_, before) = live_manifest(base.path());

    let (content, route) =
        edited_lesson("python-foundations", |t| format!("{t}\nOne more sentence for the fix.\n"));
    let out = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), out.path());
    let (_, after) = live_manifest(out.path());

    let (b, a) = (routes_to_objects(&before), routes_to_objects(&after));
    let content = |m: &BTreeMap<String, String>| {
        m.keys().filter(|r| !e2e::is_derived_index(r)).cloned().collect::<Vec<_>>()
    };
    assert_eq!(content(&b), content(&a), "same routes (besides the search chunks named by their hash)");
    let changed: Vec<&String> = b.keys().filter(|r| a.get(*r) != Some(&b[*r])).collect();
    let (pages, derived): (Vec<&String>, Vec<&String>) =
        changed.into_iter().partition(|r| !e2e::is_derived_index(r));
    assert_eq!(pages, vec![&route], "only the edited lesson's page changed");
    // And what indexes it: the public search index and its course's save list; no other
    // course's index or list.
    for r in derived {
        assert!(
            r.starts_with("/_search/") || r == "/courses/python-foundations/_offline.json",
            "{r} changed with a public lesson of python-foundations"
        );
    }
}

#[test]
fn renaming_a_lesson_changes_only_pages_that_show_its_title() {
    let base = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), base.path());
    let (_, before) = live_manifest(base.path());

    let (content, route) = edited_lesson("python-foundations", |t| {
        let mut lines: Vec<String> = t.lines().map(str::to_owned).collect();
        let title = lines.iter().position(|l| l.starts_with("title")).expect("title line");
        lines[title] = "title = \"A Renamed Lesson\"".into();
        lines.join("\n") + "\n"
    });
    let out = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), out.path());
    let (_, after) = live_manifest(out.path());

    let (b, a) = (routes_to_objects(&before), routes_to_objects(&after));
    let changed: BTreeSet<&String> =
        b.keys().filter(|r| !e2e::is_derived_index(r) && a.get(*r) != Some(&b[*r])).collect();
    assert!(changed.contains(&route), "the lesson itself changed");
    for r in &changed {
        assert!(
            r.starts_with("/courses/python-foundations/"),
            "{r} changed, but it does not show the course navigation"
        );
        let html = std::fs::read_to_string(out.path().join("objects").join(&a[*r])).expect("page");
        assert!(html.contains("A Renamed Lesson"), "{r} changed and shows the new title");
    }
    for (r, object) in &a {
        if !changed.contains(r)
            && !e2e::is_derived_index(r)
            && after.routes[r].content_type.starts_with("text/html")
        {
            let html = std::fs::read_to_string(out.path().join("objects").join(object)).expect("page");
            assert!(!html.contains("A Renamed Lesson"), "{r} shows the title but was not rebuilt");
        }
    }
}

#[test]
fn published_pages_carry_no_style_attribute_and_aligned_columns_are_classes() {
    let out = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), out.path());
    let (_, manifest) = live_manifest(out.path());
    let mut pages = 0;
    for (route, r) in manifest.routes.iter().filter(|(_, r)| r.content_type.starts_with("text/html")) {
        let html =
            std::fs::read_to_string(out.path().join(bundle::paths::object_path(&r.object))).expect("page");
        // The site's CSP (style-src 'self') would block every one (a console error each).
        let lower = html.to_ascii_lowercase();
        let styled = lower.match_indices("style=").find(|(i, _)| lower[..*i].ends_with(char::is_whitespace));
        assert!(
            styled.is_none(),
            "{route} has a style attribute: {}",
            &html[styled.map_or(0, |s| s.0)..][..80]
        );
        pages += 1;
    }
    assert!(pages > 20, "every page and lab app checked: {pages}");
    let sorting = &manifest.routes["/courses/data-structures/sorting-basics/"];
    let html =
        std::fs::read_to_string(out.path().join(bundle::paths::object_path(&sorting.object))).expect("page");
    assert!(html.contains("<th class=\"align-right\">Extra memory</th>"), "the right-aligned column");
    assert!(html.contains("<td class=\"align-center\">O(n²)</td>"), "a centred column");
}
