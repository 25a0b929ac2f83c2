//! Search (Pagefind, built by `course build`): the public index holds no word of an
//! enrolled lesson, an enrolled course's index is served only under its grant, and in
//! chromium the theme's search box finds a lesson by a word of its body, opens it from the
//! keyboard, finds an enrolled-only word only with the course's grant, and passes axe-core.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use bundle::Access;
use e2e::granting::{run_browser, GrantingOrigin};
use e2e::{build_ok, copy_tree, get, live_manifest, sample_content};
use serde_json::json;

const ENROLLED: &str = "data-structures";
const PUBLIC_COURSE: &str = "python-foundations";

/// The words (lowercase letters only) of a lesson's prose, after its front matter: lines
/// of text outside fenced blocks (not headings, images or lists), where an excerpt shows them.
fn body_words(lesson: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(lesson).expect("lesson");
    let body = text.splitn(3, "+++").nth(2).unwrap_or(&text).to_lowercase();
    let mut fenced = false;
    let mut prose = String::new();
    for line in body.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    prose.split(|c: char| !c.is_ascii_lowercase()).filter(|w| w.len() >= 9).map(str::to_owned).collect()
}

/// Every text file of the content root but `except`, lowercased: where a word must not be.
fn all_text_but(except: &Path) -> String {
    let mut all = String::new();
    for entry in walkdir::WalkDir::new(sample_content()).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() && entry.path() != except {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                all.push_str(&text.to_lowercase());
                all.push('\n');
            }
        }
    }
    all
}

/// A word of one lesson of `course` (not a free preview) whose first six letters (what
/// survives stemming) appear in no other file of the sample: (lesson slug, word).
fn word_only_in(course: &str) -> (String, String) {
    let dir = sample_content().join("courses").join(course);
    let mut lessons: Vec<_> = std::fs::read_dir(&dir)
        .expect("course dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !std::fs::read_to_string(p).expect("lesson").contains("preview = true"))
        .collect();
    lessons.sort();
    for lesson in lessons {
        let elsewhere = all_text_but(&lesson);
        if let Some(word) = body_words(&lesson).into_iter().find(|w| !elsewhere.contains(&w[..6])) {
            let slug = lesson.file_stem().expect("stem").to_string_lossy().into_owned();
            return (slug, word);
        }
    }
    panic!("no lesson of {course} has a word of its own");
}

/// The bytes of a stored object, inflated when gzipped (Pagefind gzips its chunks).
fn readable(store: &Path, route: &bundle::Route) -> Vec<u8> {
    let bytes = std::fs::read(store.join("objects").join(route.object.as_str())).expect("object");
    let mut inflated = Vec::new();
    if flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut inflated).is_ok() {
        return inflated;
    }
    bytes
}

fn has(haystack: &[u8], needle: &str) -> bool {
    let hay = String::from_utf8_lossy(haystack).to_lowercase();
    hay.contains(needle)
}

#[test]
fn the_public_index_holds_no_word_of_an_enrolled_lesson() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let (lesson, word) = word_only_in(ENROLLED);
    let stem = &word[..6];
    let course_search = format!("/courses/{ENROLLED}/_search/");

    let public_search: Vec<_> = manifest.routes.iter().filter(|(r, _)| r.starts_with("/_search/")).collect();
    assert!(public_search.iter().any(|(r, _)| r.ends_with(".pf_fragment")), "a public index was built");
    for (route, r) in &manifest.routes {
        // Code (Pagefind's JS and WebAssembly, the theme's scripts) is not built from
        // content: any word may occur in it.
        let code = r.content_type.contains("javascript") || route.starts_with("/_search/wasm.");
        if r.access == Access::Public && !code {
            assert!(
                !has(&readable(store.path(), r), stem),
                "public route {route} holds {stem:?} of the enrolled lesson {lesson} ({word})"
            );
        }
    }
    // The control: the course's own index has it, all of it under the course's access.
    let own: Vec<_> = manifest.routes.iter().filter(|(r, _)| r.starts_with(&course_search)).collect();
    assert!(own.iter().all(|(_, r)| r.access == Access::Course(ENROLLED.into())), "{own:?}");
    assert!(
        own.iter().any(|(_, r)| has(&readable(store.path(), r), &word)),
        "the enrolled index holds {word:?} of {lesson}"
    );
    assert!(!own.iter().any(|(r, _)| r.ends_with(".js")), "merged indexes need no JS of their own");
    // Hashed chunks are immutable, the entry that names them is stable.
    for (route, r) in public_search.iter().copied().chain(own.iter().copied()) {
        let hashed =
            [".pf_meta", ".pf_index", ".pf_fragment", ".pf_filter"].iter().any(|e| route.ends_with(e));
        let expected = if hashed { bundle::CacheClass::Immutable } else { bundle::CacheClass::Stable };
        assert_eq!(r.cache, expected, "{route}");
    }
}

#[test]
fn an_enrolled_index_is_served_only_under_its_grant() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let granting = GrantingOrigin::start(store.path(), &format!("[courses]\n{ENROLLED} = [\"alice\"]\n"));
    let entry = format!("/courses/{ENROLLED}/_search/pagefind-entry.json");
    assert_eq!(get(&granting.origin.url(&entry), &[]).status().as_u16(), 403);
    assert_eq!(get(&granting.origin.url("/_search/pagefind-entry.json"), &[]).status().as_u16(), 200);
    let cookie: Vec<String> =
        granting.grant_cookies("alice", ENROLLED).into_iter().map(|(n, v, _)| format!("{n}={v}")).collect();
    let response = get(&granting.origin.url(&entry), &[("cookie", &cookie.join("; "))]);
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["cache-control"].to_str().expect("ascii").starts_with("private"));
    // The CSP lets Pagefind's WebAssembly run, and nothing else more than before.
    let page = get(&granting.origin.url("/"), &[]);
    let csp = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"), "{csp}");
}

/// The grant cookies of alice (enrolled in ENROLLED), as the browser scripts take them.
fn alice_cookies(granting: &GrantingOrigin) -> Vec<serde_json::Value> {
    granting
        .grant_cookies("alice", ENROLLED)
        .into_iter()
        .map(|(name, value, path)| {
            // The hint is for the search script to read; the grant's own cookies are HttpOnly
            // (`access_grants` pins both).
            let http_only = !name.starts_with(bundle::paths::GRANT_HINT_PREFIX);
            json!({ "name": name, "value": value, "path": path, "httpOnly": http_only })
        })
        .collect()
}

#[test]
fn search_in_chromium_finds_lessons_and_enrolled_ones_only_with_a_grant() {
    let store = tempfile::tempdir().expect("tempdir");
    // A second enrolled course, which alice may not read: her search never asks for it.
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let other = content.path().join("courses/web-animation/course.toml");
    let toml = std::fs::read_to_string(&other).expect("course.toml");
    std::fs::write(&other, toml.replace("access = \"public\"", "access = \"enrolled\"")).expect("write");
    build_ok(content.path(), store.path());
    let granting = GrantingOrigin::start(store.path(), &format!("[courses]\n{ENROLLED} = [\"alice\"]\n"));
    let (public_lesson, body_word) = word_only_in(PUBLIC_COURSE);
    let (enrolled_lesson, enrolled_word) = word_only_in(ENROLLED);
    let public_route = format!("/courses/{PUBLIC_COURSE}/{public_lesson}/");
    let enrolled_route = format!("/courses/{ENROLLED}/{enrolled_lesson}/");
    let cookies = alice_cookies(&granting);
    let spec = json!({
        "from": "/",
        "body_word": body_word,
        "enrolled_word": enrolled_word,
        "cookies": cookies,
        "axe_pages": [format!("/courses/{PUBLIC_COURSE}/"), public_route.clone()],
        "granted_page": enrolled_route,
    });
    let spec_file = store.path().join("search-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(&spec).expect("json")).expect("write spec");
    let spec_arg = spec_file.display().to_string();
    let out = run_browser("search.mjs", &[&granting.origin.base, &spec_arg]);

    let hits = out["body"]["hits"].as_array().expect("hits");
    assert!(!hits.is_empty(), "{body_word:?} (from {public_route}) found nothing: {out:#}");
    let first = &hits[0];
    assert_eq!(first["href"], public_route, "{out:#}");
    assert!(!first["title"].as_str().unwrap_or_default().is_empty(), "a title: {first}");
    assert_eq!(first["course"], "Python Foundations", "the course: {first}");
    let marked: Vec<String> = first["marked"]
        .as_array()
        .expect("marked")
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_lowercase())
        .collect();
    assert!(marked.iter().any(|m| m.starts_with(&body_word[..6])), "the match highlighted: {first}");
    assert_eq!(out["body"]["focused"], public_route, "ArrowDown focuses the first result");
    assert_eq!(out["body"]["opened"], public_route, "Enter opened it");

    // (Pagefind answers a word it lacks with near matches, so results may come: none of
    // them an enrolled lesson, none with the word.)
    let (_, manifest) = live_manifest(store.path());
    let without: Vec<&str> =
        out["enrolled_without"].as_array().expect("without").iter().filter_map(|v| v.as_str()).collect();
    let enrolled_hits: Vec<&&str> = without
        .iter()
        .filter(|h| manifest.routes.get(**h).is_none_or(|r| r.access != Access::Public))
        .collect();
    assert!(
        enrolled_hits.is_empty(),
        "{enrolled_word:?} found enrolled lessons without a grant: {without:?}"
    );
    let excerpts = out["enrolled_without_hits"].to_string().to_lowercase();
    assert!(!excerpts.contains(&enrolled_word[..6]), "{enrolled_word:?} shown without a grant: {excerpts}");
    let with: Vec<&str> =
        out["enrolled_with"].as_array().expect("with").iter().filter_map(|v| v.as_str()).collect();
    assert!(with.contains(&enrolled_route.as_str()), "{enrolled_word:?} with the grant: {with:?} {out:#}");

    // No probe of an enrolled index without a reason to think the grant is held (each was
    // a 403; `problems` below fails on any 4xx or console error).
    let asked = |label: &str| -> Vec<String> {
        out["enrolled_requests"][label].as_array().expect("requests").iter().map(|p| p.to_string()).collect()
    };
    assert!(asked("without").is_empty(), "without a grant: {:?}", asked("without"));
    let own_scope = format!("/courses/{ENROLLED}/_search/");
    assert!(!asked("with").is_empty(), "with the grant, its course's index is loaded");
    assert!(
        asked("with").iter().all(|p| p.contains(&own_scope)),
        "only the granted course's: {:?}",
        asked("with")
    );
    // A grant set by another issuer (no hint) still searches its course from its lessons.
    let unhinted: Vec<&str> =
        out["unhinted_from_lesson"].as_array().expect("unhinted").iter().filter_map(|v| v.as_str()).collect();
    assert!(unhinted.contains(&enrolled_route.as_str()), "from the enrolled lesson, unhinted: {unhinted:?}");
    assert!(asked("unhinted").iter().all(|p| p.contains(&own_scope)), "{:?}", asked("unhinted"));

    let serious: Vec<_> = out["axe"]
        .as_array()
        .expect("axe")
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "axe-core: {serious:#?}");
    let problems = out["problems"].as_array().expect("problems");
    assert!(problems.is_empty(), "browser problems: {problems:#?}");
}

/// Replaces every word of `file` that starts (in any case) with the first six letters of
/// `word` (what survives stemming: "allocates", "allocation") by `new`.
fn replace_word(file: &Path, word: &str, new: &str) {
    let text = std::fs::read_to_string(file).expect("lesson");
    let stem = &word[..6];
    let mut out = String::new();
    let mut replaced = 0;
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let start = rest.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let w = &rest[..end];
        if w.to_lowercase().starts_with(stem) {
            out.push_str(new);
            replaced += 1;
        } else {
            out.push_str(w);
        }
        rest = &rest[end..];
    }
    assert!(replaced > 0, "{word} is in {}", file.display());
    std::fs::write(file, out).expect("write lesson");
}

#[test]
fn after_an_edit_search_finds_the_new_words_and_not_the_old_ones_through_the_delta() {
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), store.path());
    let (public_lesson, old_public) = word_only_in(PUBLIC_COURSE);
    let (enrolled_lesson, old_enrolled) = word_only_in(ENROLLED);
    let (new_public, new_enrolled) = ("zorbatronic", "quibblemonk");
    let lesson_file =
        |course: &str, slug: &str| content.path().join("courses").join(course).join(format!("{slug}.md"));
    replace_word(&lesson_file(PUBLIC_COURSE, &public_lesson), &old_public, new_public);
    replace_word(&lesson_file(ENROLLED, &enrolled_lesson), &old_enrolled, new_enrolled);
    build_ok(content.path(), store.path());

    let (_, manifest) = live_manifest(store.path());
    for delta in [
        "/_search/delta/pagefind-entry.json".to_owned(),
        format!("/courses/{ENROLLED}/_search/delta/pagefind-entry.json"),
    ] {
        assert!(manifest.routes.contains_key(delta.as_str()), "one edit goes into a delta index: {delta}");
    }
    let public_route = format!("/courses/{PUBLIC_COURSE}/{public_lesson}/");
    let enrolled_route = format!("/courses/{ENROLLED}/{enrolled_lesson}/");
    let granting = GrantingOrigin::start(store.path(), &format!("[courses]\n{ENROLLED} = [\"alice\"]\n"));
    let cookies = alice_cookies(&granting);
    let spec = json!({
        "from": "/",
        "body_word": new_public,
        "enrolled_word": new_enrolled,
        "cookies": cookies,
        "extra_queries": [old_public, old_enrolled],
    });
    let spec_file = store.path().join("search-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(&spec).expect("json")).expect("write spec");
    let out = run_browser("search.mjs", &[&granting.origin.base, &spec_file.display().to_string()]);

    let hits: Vec<&str> =
        out["body"]["hits"].as_array().expect("hits").iter().filter_map(|h| h["href"].as_str()).collect();
    assert_eq!(
        hits.first().copied(),
        Some(public_route.as_str()),
        "the new word finds the edited lesson: {out:#}"
    );
    // Once, not also from the base; and the base lacks the word: its near matches (pages
    // holding `z...`) are not shown beside the delta's exact match, as a clean build's
    // single index shows none.
    assert_eq!(hits, [public_route.as_str()], "only the lesson with the word: {out:#}");
    // Pagefind answers a word no page has with near matches, so the edited lesson may
    // still come up for its old word: from the delta, never with the old text.
    let shows_old = |hits: &serde_json::Value, route: &str, word: &str| {
        hits.as_array().expect("hits").iter().any(|h| {
            h["href"] == route
                && h["excerpt"].as_str().unwrap_or_default().to_lowercase().contains(&word[..6])
        })
    };
    assert!(
        !shows_old(&out["extra"][&old_public], &public_route, &old_public),
        "old text of {public_route}: {out:#}"
    );
    let with: Vec<&str> =
        out["enrolled_with"].as_array().expect("with").iter().filter_map(|v| v.as_str()).collect();
    assert!(with.contains(&enrolled_route.as_str()), "{new_enrolled:?} with the grant: {out:#}");
    assert_eq!(with, [enrolled_route.as_str()], "once, not also from the base, no near matches: {with:?}");
    let without: Vec<&str> =
        out["enrolled_without"].as_array().expect("without").iter().filter_map(|v| v.as_str()).collect();
    assert!(!without.contains(&enrolled_route.as_str()), "{new_enrolled:?} without a grant: {without:?}");
    assert!(
        !shows_old(&out["extra_with"][&old_enrolled], &enrolled_route, &old_enrolled),
        "old text of {enrolled_route}: {out:#}"
    );
    let problems = out["problems"].as_array().expect("problems");
    assert!(problems.is_empty(), "browser problems: {problems:#?}");
}

/// If a delta index cannot be loaded (its files gone from the store here; a proxy or a
/// half-synced mirror in the field), search reloads once and then searches the bases
/// alone: results from unedited lessons, never "unavailable".
#[test]
fn when_a_delta_cannot_load_search_falls_back_to_the_base_indexes() {
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(content.path(), store.path());
    let (public_lesson, old_public) = word_only_in(PUBLIC_COURSE);
    let lesson = content.path().join("courses").join(PUBLIC_COURSE).join(format!("{public_lesson}.md"));
    replace_word(&lesson, &old_public, "zorbatronic");
    build_ok(content.path(), store.path());

    let (_, manifest) = live_manifest(store.path());
    assert!(manifest.routes.contains_key("/_search/delta/pagefind-entry.json"), "the edit made a delta");
    let kept: BTreeSet<&str> = manifest
        .routes
        .iter()
        .filter(|(route, _)| !route.starts_with("/_search/delta/"))
        .map(|(_, r)| r.object.as_str())
        .collect();
    for (route, r) in manifest.routes.iter().filter(|(route, _)| route.starts_with("/_search/delta/")) {
        if !kept.contains(r.object.as_str()) {
            let object = store.path().join(bundle::paths::object_path(&r.object));
            std::fs::remove_file(&object).unwrap_or_else(|e| panic!("{route}: {e}"));
        }
    }
    let (other_lesson, other_word) = word_only_in("web-animation");
    let origin = e2e::Origin::start(store.path(), &[]);
    let spec = json!({ "from": "/", "body_word": other_word, "enrolled_word": "quibblemonk", "cookies": [] });
    let spec_file = store.path().join("search-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec(&spec).expect("json")).expect("write spec");
    let out = run_browser("search.mjs", &[&origin.base, &spec_file.display().to_string()]);

    let hits: Vec<&str> =
        out["body"]["hits"].as_array().expect("hits").iter().filter_map(|h| h["href"].as_str()).collect();
    let route = format!("/courses/web-animation/{other_lesson}/");
    assert_eq!(hits.first(), Some(&route.as_str()), "{other_word:?} found in the base: {out:#}");
    let problems: Vec<&str> =
        out["problems"].as_array().expect("problems").iter().filter_map(|p| p.as_str()).collect();
    // (Pagefind reports the failed merge as an uncaught error, without the file's name.)
    let about_the_delta =
        |p: &str| p.contains("/_search/delta/") || p == "page error: Failed to load Pagefind metadata";
    let unexpected: Vec<&&str> = problems.iter().filter(|p| !about_the_delta(p)).collect();
    assert!(unexpected.is_empty(), "only the delta's files failed: {problems:#?}");
    assert!(!problems.is_empty(), "the delta was asked for, and failed");
}
