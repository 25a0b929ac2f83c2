//! Rebuilds reuse what did not change (file hashes, rendered pages) and still give exactly
//! the release a clean build of the same content gives.

use std::fs;
use std::path::{Path, PathBuf};

use e2e::copy_tree;

use builder::{build, BuildOptions, BuildReport};

fn sample_content() -> PathBuf {
    e2e::root().join("content")
}

fn build_into(content: &Path, out: &Path) -> BuildReport {
    let options = BuildOptions::new(content.to_owned(), out.to_owned());
    build(&options).unwrap_or_else(|err| panic!("build failed: {err}"))
}

/// Asserts that `release` (in the store `out`) is what a clean build of `content` makes,
/// but for the search indexes: an incremental build keeps each scope's base index and adds
/// a delta of the pages changed since (`build::search`), a clean one indexes it whole.
fn assert_like_clean(out: &Path, release: &bundle::ReleaseId, content: &Path) {
    let fresh = tempfile::tempdir().expect("tempdir");
    let clean = build_into(content, fresh.path()).release;
    let read = |out: &Path, id: &bundle::ReleaseId| {
        let bytes = fs::read(out.join(bundle::paths::release_path(id))).expect("manifest");
        let mut manifest = bundle::Manifest::from_bytes(&bytes).expect("manifest json");
        manifest.routes.retain(|route, _| !route.contains("/_search/"));
        manifest
    };
    let (built, clean) = (read(out, release), read(fresh.path(), &clean));
    for (route, r) in &clean.routes {
        assert_eq!(built.routes.get(route), Some(r), "{route} differs from a clean build's");
    }
    assert_eq!(built, clean, "the release is a clean build's (but for its search indexes)");
}

struct Site {
    _dir: tempfile::TempDir,
    content: PathBuf,
    out: PathBuf,
}

fn built_site() -> (Site, BuildReport) {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = dir.path().join("content");
    copy_tree(&sample_content(), &content);
    let out = dir.path().join("dist");
    let first = build_into(&content, &out);
    assert_eq!(first.pages_rendered, first.pages, "a first build renders every page");
    (Site { _dir: dir, content, out }, first)
}

fn append(path: &Path, text: &str) {
    let mut body = fs::read_to_string(path).expect("read");
    body.push_str(text);
    fs::write(path, body).expect("write");
}

/// (route, object) of every object of release `new` that release `old` did not have.
fn new_objects(out: &Path, old: &bundle::ReleaseId, new: &bundle::ReleaseId) -> Vec<(String, String)> {
    let read = |id: &bundle::ReleaseId| {
        let bytes = fs::read(out.join(bundle::paths::release_path(id))).expect("manifest");
        bundle::Manifest::from_bytes(&bytes).expect("manifest json")
    };
    let objects = |m: &bundle::Manifest| -> Vec<(String, String)> {
        m.routes
            .iter()
            .flat_map(|(route, r)| {
                std::iter::once(r.object.to_string())
                    .chain(r.encodings.values().map(|v| v.object.to_string()))
                    .map(move |o| (route.clone(), o))
            })
            .collect()
    };
    let before: std::collections::BTreeSet<String> =
        objects(&read(old)).into_iter().map(|(_, o)| o).collect();
    let mut seen = std::collections::BTreeSet::new();
    objects(&read(new)).into_iter().filter(|(_, o)| !before.contains(o) && seen.insert(o.clone())).collect()
}

fn page_html(out: &Path, route: &str) -> String {
    let channel = fs::read(out.join("channels/live.json")).expect("channel");
    let channel = bundle::Channel::from_bytes(&channel).expect("channel json");
    let manifest = fs::read(out.join(bundle::paths::release_path(&channel.release))).expect("manifest");
    let manifest = bundle::Manifest::from_bytes(&manifest).expect("manifest json");
    let object = &manifest.routes[route].object;
    fs::read_to_string(out.join(bundle::paths::object_path(object))).expect("page object")
}

#[test]
fn a_one_lesson_edit_renders_one_lesson_and_matches_a_clean_build() {
    let (site, first) = built_site();
    let again = build_into(&site.content, &site.out);
    assert_eq!(again.release, first.release);
    assert_eq!(again.pages_rendered, 0, "nothing changed: no page is rendered");
    assert_eq!(again.objects_written, 0);

    append(&site.content.join("courses/python-foundations/loops.md"), "\nOne more sentence about loops.\n");
    let edited = build_into(&site.content, &site.out);
    assert_eq!(edited.pages_rendered, 1, "only the edited lesson");
    // The page and its br and gzip variants, and what indexes it: the public search
    // index's new entry, meta, fragment and chunk, the course's save list (and variants).
    let written = new_objects(&site.out, &first.release, &edited.release);
    assert_eq!(edited.objects_written, written.len(), "{written:?}");
    let page_objects =
        written.iter().filter(|(route, _)| route == "/courses/python-foundations/loops/").count();
    assert_eq!(page_objects, 3, "the page and its br and gzip variants: {written:?}");
    for (route, _) in &written {
        assert!(
            route == "/courses/python-foundations/loops/"
                || route.starts_with("/_search/")
                || route == "/courses/python-foundations/_offline.json",
            "{route} was written for a one-lesson edit"
        );
    }
    assert_like_clean(&site.out, &edited.release, &site.content);
    assert!(
        page_html(&site.out, "/courses/python-foundations/loops/").contains("One more sentence about loops.")
    );
}

#[test]
fn a_new_lesson_title_rerenders_the_pages_that_show_it() {
    let (site, _) = built_site();
    let lesson = site.content.join("courses/python-foundations/loops.md");
    let text = fs::read_to_string(&lesson).expect("read");
    let start = text.find("title = \"").expect("title") + "title = \"".len();
    let end = start + text[start..].find('"').expect("end of title");
    fs::write(&lesson, format!("{}Loops, renamed{}", &text[..start], &text[end..])).expect("write");

    let edited = build_into(&site.content, &site.out);
    assert_eq!(edited.pages_rendered, edited.pages, "navigation shows every title");
    assert!(page_html(&site.out, "/courses/python-foundations/").contains("Loops, renamed"));
    // Another lesson of the course lists the new title in its navigation.
    assert!(
        page_html(&site.out, "/courses/python-foundations/variables-and-types/").contains("Loops, renamed")
    );
    assert_like_clean(&site.out, &edited.release, &site.content);
}

#[test]
fn a_theme_edit_rerenders_every_page() {
    let (site, _) = built_site();
    append(&site.content.join("theme/templates/base.html"), "\n<!-- theme edit -->\n");
    let edited = build_into(&site.content, &site.out);
    assert_eq!(edited.pages_rendered, edited.pages);
    assert!(page_html(&site.out, "/courses/python-foundations/loops/").contains("<!-- theme edit -->"));
    // The unchanged lessons came from the lesson cache unread; rendering them read them.
    assert_like_clean(&site.out, &edited.release, &site.content);
}

#[test]
fn a_lesson_changed_behind_its_stamp_fails_once_then_is_read_afresh() {
    let (site, _) = built_site();
    let lesson = site.content.join("courses/python-foundations/loops.md");
    let meta = fs::metadata(&lesson).expect("meta");
    let text = fs::read_to_string(&lesson).expect("read");
    // Same size, same inode, mtime put back: the stamp says unchanged (as after `touch -r`).
    let changed = text.replacen("loop", "LOOP", 1);
    assert_eq!(changed.len(), text.len());
    fs::OpenOptions::new()
        .write(true)
        .open(&lesson)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(changed.as_bytes())?;
            f.set_modified(meta.modified()?)
        })
        .expect("rewrite in place");
    // A theme edit makes the build render the lesson, and so read it.
    append(&site.content.join("theme/templates/base.html"), "\n<!-- theme edit -->\n");
    let errors = build_errors(&site.content, &site.out);
    assert!(
        errors.iter().any(|e| e.contains("loops.md:1:1") && e.contains("changed while the build read it")),
        "{errors:?}"
    );
    let again = build_into(&site.content, &site.out);
    assert_like_clean(&site.out, &again.release, &site.content);
}

#[test]
fn a_course_made_a_draft_after_a_build_is_left_out_as_in_a_clean_build() {
    let (site, _) = built_site();
    let toml = site.content.join("courses/web-animation/course.toml");
    let text = fs::read_to_string(&toml).expect("read");
    fs::write(&toml, format!("draft = true\n{text}")).expect("write");
    let rebuilt = build_into(&site.content, &site.out);
    assert_like_clean(&site.out, &rebuilt.release, &site.content);
    assert!(!rebuilt.drafts.is_empty(), "{}", rebuilt.drafts);
}

#[test]
fn a_same_size_media_edit_is_noticed() {
    let (site, _) = built_site();
    let svg = site.content.join("animations/bubble-sort.svg");
    let before = fs::read(&svg).expect("read");
    // Same length, different bytes: only the mtime tells the change, and the hash is redone.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let after = String::from_utf8(before.clone()).expect("utf-8").replacen("<svg", "<SVG", 1);
    assert_eq!(after.len(), before.len());
    fs::write(&svg, after).expect("write");
    let edited = build_into(&site.content, &site.out);
    assert!(edited.objects_written >= 1, "the new animation bytes are a new object");
    assert_like_clean(&site.out, &edited.release, &site.content);
}

#[test]
fn a_cached_page_missing_from_the_store_is_rendered_again() {
    let (site, _) = built_site();
    let route = "/courses/python-foundations/loops/";
    let html = page_html(&site.out, route);
    let object = bundle::ObjectKey::of(html.as_bytes());
    fs::remove_file(site.out.join(bundle::paths::object_path(&object))).expect("remove the page object");
    let rebuilt = build_into(&site.content, &site.out);
    assert_eq!(rebuilt.pages_rendered, 1);
    assert_eq!(page_html(&site.out, route), html);
}

/// The content errors of a build that must fail.
fn build_errors(content: &Path, out: &Path) -> Vec<String> {
    match build(&BuildOptions::new(content.to_owned(), out.to_owned())) {
        Err(builder::BuildError::Content { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
        Ok(_) => panic!("the build succeeded"),
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn a_heading_removed_from_one_lesson_is_reported_in_the_unchanged_lessons_linking_to_it() {
    let (site, _) = built_site();
    let stacks = site.content.join("courses/data-structures/stacks.md");
    let text = fs::read_to_string(&stacks).expect("read");
    // An edit that keeps the heading: only that page is rendered, the links into it hold.
    append(&stacks, "\nOne more sentence about stacks.\n");
    let edited = build_into(&site.content, &site.out);
    assert_eq!(edited.pages_rendered, 1, "only stacks.md; loops.md and queues.md are reused");

    // The heading goes: the lessons that link to it did not change (they are reused from
    // the page cache, with their links), and each is told, at its link.
    fs::write(&stacks, text.replace("## Push and pop", "## Pushing and popping")).expect("write");
    let root = site.content.display();
    assert_eq!(
        build_errors(&site.content, &site.out),
        [
            format!(
                "{root}/courses/data-structures/queues.md:20:19: link to `stacks.md#push-and-pop`: \
                 courses/data-structures/stacks.md has no heading or anchor with id `push-and-pop`"
            ),
            format!(
                "{root}/courses/python-foundations/loops.md:64:14: link to \
                 `../data-structures/stacks.md#push-and-pop`: courses/data-structures/stacks.md has no \
                 heading or anchor with id `push-and-pop`"
            ),
        ]
    );

    // The heading back: the build succeeds again and renders nothing: the page cache is a
    // journal that still remembers stacks.md as first built.
    fs::write(&stacks, &text).expect("restore");
    let fixed = build_into(&site.content, &site.out);
    assert_eq!(fixed.pages_rendered, 0);
    assert_like_clean(&site.out, &fixed.release, &site.content);
}

#[test]
fn a_heading_added_where_a_reused_page_links_clears_the_error() {
    let (site, _) = built_site();
    let queues = site.content.join("courses/data-structures/queues.md");
    append(&queues, "\nSee [the summary](stacks.md#summary).\n");
    let errors = build_errors(&site.content, &site.out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("queues.md") && errors[0].contains("`summary`"), "{errors:?}");
    // The target gains the heading; queues.md is rendered (its failed build cached nothing).
    append(&site.content.join("courses/data-structures/stacks.md"), "\n## Summary\n\nStacks are LIFO.\n");
    let fixed = build_into(&site.content, &site.out);
    assert_eq!(fixed.pages_rendered, 2, "the two edited lessons");
    assert_like_clean(&site.out, &fixed.release, &site.content);
}
