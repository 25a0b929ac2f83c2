//! Drafts (`draft = true` in a lesson's front matter or a course.toml) and `course new`:
//! `course build` leaves drafts out entirely (no page, no navigation entry, none of the
//! files only they use: the release a build without the draft gives), and a published
//! lesson linking to one fails with its `file:line:col`; `course build --drafts` and
//! `course serve` show them with the theme's Draft marker, and `course publish` refuses
//! such a release before touching the store (and `course rollback` one put there by other
//! means). `course new` scaffolds a draft course that builds at once, and never overwrites.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use e2e::garage::{Garage, BUCKET, REGION};
use e2e::{copy_tree, live_manifest, sample_content};

const DRAFT: &str = "/courses/python-foundations/work-in-progress/";
const DRAFT_TITLE: &str = "Unfinished thoughts";
const COURSE: &str = "/courses/python-foundations/";
/// The lesson before the draft (the last published one of the course).
const BEFORE: &str = "/courses/python-foundations/strings-and-regex/";

struct Work {
    _dir: tempfile::TempDir,
    root: PathBuf,
    content: PathBuf,
    out: PathBuf,
}

/// A copy of the sample content with a draft lesson in a module of its own, using an
/// image no other page uses.
fn with_draft() -> Work {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_owned();
    let (content, out) = (root.join("content"), root.join("dist"));
    copy_tree(&sample_content(), &content);
    let course = content.join("courses/python-foundations");
    fs::write(
        course.join("work-in-progress.md"),
        format!(
            "+++\ntitle = \"{DRAFT_TITLE}\"\ndraft = true\n+++\n\n# Not ready\n\n\
             ![A sketch](media/draft-only-sketch.svg)\n\nSee [the loops](loops.md).\n"
        ),
    )
    .expect("draft lesson");
    fs::write(
        course.join("media/draft-only-sketch.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"><rect width=\"4\" height=\"4\"/></svg>\n",
    )
    .expect("draft media");
    append(
        &course.join("course.toml"),
        "\n[[modules]]\ntitle = \"Going further\"\nlessons = [\"work-in-progress\"]\n",
    );
    Work { _dir: dir, root, content, out }
}

fn append(file: &Path, text: &str) {
    let old = fs::read_to_string(file).expect("read");
    fs::write(file, old + text).expect("write");
}

fn replace_in(file: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    fs::write(file, text.replacen(from, to, 1)).expect("write");
}

fn course_cmd(args: &[&str], content: &Path, out: &Path) -> Output {
    e2e::course().args(args).arg("--content").arg(content).arg("--out").arg(out).output().expect("run course")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `course build [extra]` and asserts it succeeded; (release id, stdout, stderr).
fn build(content: &Path, out: &Path, extra: &[&str]) -> (String, String, String) {
    let output = course_cmd(&[&["build"], extra].concat(), content, out);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "course build {extra:?} failed:\n{stdout}{stderr}");
    let release = stdout
        .lines()
        .find_map(|l| l.strip_prefix("release "))
        .and_then(|l| l.split_whitespace().next())
        .expect("build prints the release id")
        .to_owned();
    (release, stdout, stderr)
}

/// The live release's manifest and the HTML of each of its pages.
fn pages(out: &Path) -> (bundle::Manifest, Vec<(String, String)>) {
    let (_, manifest) = live_manifest(out);
    let pages = manifest
        .routes
        .iter()
        .filter(|(_, r)| r.content_type.starts_with("text/html"))
        .map(|(route, r)| {
            let html = fs::read_to_string(out.join("objects").join(r.object.as_str())).expect("page object");
            (route.clone(), html)
        })
        .collect();
    (manifest, pages)
}

fn page<'a>(pages: &'a [(String, String)], route: &str) -> &'a str {
    pages
        .iter()
        .find(|(r, _)| r == route)
        .map(|(_, html)| html.as_str())
        .unwrap_or_else(|| panic!("no page {route}"))
}

/// A route written as the theme escapes it in `href`s (minijinja escapes `/`).
fn href(route: &str) -> String {
    route.replace('/', "&#x2f;")
}

#[test]
fn a_draft_lesson_is_left_out_of_a_build_and_shown_with_drafts() {
    let w = with_draft();
    let (left_out, stdout, stderr) = build(&w.content, &w.out, &[]);
    assert!(stdout.contains("left out 1 draft lesson"), "the build says what it left out: {stdout}");
    assert!(stdout.contains("1 file only drafts use"), "{stdout}");
    assert!(!stderr.contains("draft-only-sketch"), "the draft's image is not called unused: {stderr}");
    let (manifest, html) = pages(&w.out);
    assert!(!manifest.routes.contains_key(DRAFT) && !manifest.has_drafts());
    assert!(!manifest.routes.keys().any(|r| r.contains("draft-only-sketch")), "its image is not published");
    for (route, html) in &html {
        for absent in ["work-in-progress", DRAFT_TITLE, "Going further", "chip-draft"] {
            assert!(!html.contains(absent), "{route} shows {absent:?}");
        }
    }
    assert!(!page(&html, BEFORE).contains("rel=\"next\""), "the lesson before the draft is the last one");

    // Exactly the release of the content without the draft.
    let without = w.root.join("without");
    copy_tree(&w.content, &without);
    fs::remove_file(without.join("courses/python-foundations/work-in-progress.md")).expect("rm");
    fs::remove_file(without.join("courses/python-foundations/media/draft-only-sketch.svg")).expect("rm");
    let course_toml = without.join("courses/python-foundations/course.toml");
    let toml = fs::read_to_string(&course_toml).expect("course.toml");
    fs::write(&course_toml, &toml[..toml.find("\n[[modules]]\ntitle = \"Going further\"").expect("module")])
        .expect("write");
    let (clean, _, _) = build(&without, &w.root.join("dist-without"), &[]);
    assert_eq!(left_out, clean, "a build leaves a draft out entirely");

    let (preview, stdout, _) = build(&w.content, &w.out, &["--drafts"]);
    assert_ne!(preview, left_out);
    assert!(stdout.contains("included 1 draft lesson"), "{stdout}");
    let (manifest, html) = pages(&w.out);
    assert_eq!(manifest.drafts, [DRAFT], "the manifest records the draft pages");
    assert!(manifest.routes.keys().any(|r| r.contains("draft-only-sketch")), "the preview shows its image");
    let draft = page(&html, DRAFT);
    assert!(draft.contains("chip-draft") && draft.contains("notice-draft"), "marked as a draft:\n{draft}");
    assert!(page(&html, COURSE).contains(&href(DRAFT)), "the course page lists it");
    assert!(page(&html, COURSE).contains("Going further"));
    let before = page(&html, BEFORE);
    assert!(
        before.contains(&format!("<link rel=\"next\" href=\"{}\">", href(DRAFT))),
        "next is the draft:\n{before}"
    );
    let published = page(&html, "/courses/python-foundations/loops/");
    assert!(!published.contains("notice-draft"), "only drafts carry the marker");

    // And back: the page cache of the preview does not leak into the next build.
    let (again, _, _) = build(&w.content, &w.out, &[]);
    assert_eq!(again, left_out);
}

#[test]
fn a_published_lesson_linking_to_a_draft_fails_the_build_at_the_link() {
    let w = with_draft();
    let conditions = w.content.join("courses/python-foundations/conditions.md");
    let line = "More in [the draft](work-in-progress.md#not-ready) and [by route](/courses/python-foundations/work-in-progress/).";
    let (first, second) = (line.find("[the").expect("link") + 1, line.find("[by").expect("link") + 1);
    // (The lesson ends with a newline: the empty line, then this one.)
    let at = format!(
        "{}:{}",
        conditions.display(),
        fs::read_to_string(&conditions).expect("lesson").lines().count() + 2
    );
    append(&conditions, &format!("\n{line}\n"));
    // The draft's own problems are not checked while it is left out.
    let draft = w.content.join("courses/python-foundations/work-in-progress.md");
    let broken_at =
        format!("{}:{}:1", draft.display(), fs::read_to_string(&draft).expect("draft").lines().count() + 2);
    append(&draft, "\n[Soon](not-written-yet.md)\n");

    let output = course_cmd(&["build"], &w.content, &w.out);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(
        errors[0].starts_with(&format!(
            "error: {at}:{first}: links to a draft lesson, which is not published: `work-in-progress.md#not-ready`"
        )),
        "{stderr}"
    );
    assert!(
        errors[1].starts_with(&format!(
            "error: {at}:{second}: links to a draft lesson, which is not published: \
             `/courses/python-foundations/work-in-progress/`"
        )),
        "{stderr}"
    );
    assert!(!w.out.join("channels/live.json").exists(), "no release written");

    // The preview builds the link (with a warning), and checks the draft itself.
    let output = course_cmd(&["build", "--drafts"], &w.content, &w.out);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {broken_at}: link to a lesson that does not exist: `not-written-yet.md`"
        )),
        "{stderr}"
    );
    // (The published lesson's link to the draft is a warning here, shown with the error.)
    let errors_in = |file: &str| stderr.lines().any(|l| l.starts_with("error: ") && l.contains(file));
    assert!(!errors_in("conditions.md"), "{stderr}");
    replace_in(&draft, "[Soon](not-written-yet.md)", "Soon.");
    let (_, _, warnings) = build(&w.content, &w.out, &["--drafts"]);
    assert!(
        warnings.contains(&format!("warning: {at}:{first}: links to a draft lesson: `work-in-progress.md#not-ready` works in this preview, but `course build` fails")),
        "{warnings}"
    );
}

#[test]
fn course_serve_shows_drafts() {
    let w = with_draft();
    let serving = e2e::live::Serving::start(&w.content, &w.out, &[]);
    let response = e2e::get(&serving.url(DRAFT), &[]);
    assert_eq!(response.status(), 200);
    assert!(response.text().expect("page").contains("chip-draft"));
}

fn store_keys(garage: &Garage) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let listed = client.list_objects_v2().bucket(BUCKET).send().await.expect("list");
        listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    })
}

fn remote(garage: &Garage, args: &[&str]) -> Output {
    e2e::course()
        .args(args)
        .args(["--store", &format!("s3://{BUCKET}/site"), "--endpoint", &garage.endpoint, "--region", REGION])
        .envs(garage.env())
        .output()
        .expect("run course")
}

#[test]
fn a_release_with_drafts_is_never_published() {
    let garage = Garage::start();
    let w = with_draft();
    let (preview, _, _) = build(&w.content, &w.out, &["--drafts"]);
    let dist = w.out.to_str().expect("utf-8");
    for extra in [None, Some("--dry-run")] {
        let output =
            remote(&garage, &["publish", "--from", dist].into_iter().chain(extra).collect::<Vec<_>>());
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("release {preview} in {dist} holds 1 draft page(s)")), "{stderr}");
        assert!(stderr.contains("Run `course build` without `--drafts`"), "{stderr}");
        assert_eq!(store_keys(&garage), Vec::<String>::new(), "nothing uploaded");
    }

    // Built without drafts, it publishes, and the draft is nowhere in the store.
    let (release, _, _) = build(&w.content, &w.out, &[]);
    let output = remote(&garage, &["publish", "--from", dist]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("release {release} (was nothing): now live")));
    let keys = store_keys(&garage);
    assert!(!keys.iter().any(|k| k.contains(preview.as_str())), "{keys:?}");

    // A drafts release copied into the store by other means (as `aws s3 sync dist` would)
    // is not made live by a rollback either.
    garage.put_blocking(
        &format!("site/releases/{preview}.json"),
        fs::read(w.out.join(format!("releases/{preview}.json"))).expect("manifest"),
    );
    let output = remote(&garage, &["rollback", "--to", &preview]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("release {preview} holds draft pages")), "{stderr}");
    assert_eq!(live_release(&garage), release, "the channel did not move");
}

/// The release the store's live channel serves.
fn live_release(garage: &Garage) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bytes = rt.block_on(async {
        let client = garage.client().await;
        let object =
            client.get_object().bucket(BUCKET).key("site/channels/live.json").send().await.expect("get");
        object.body.collect().await.expect("body").into_bytes()
    });
    bundle::Channel::from_bytes(&bytes).expect("a pointer").release.to_string()
}

#[test]
fn course_new_scaffolds_a_draft_course_that_builds_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (content, out) = (dir.path().join("content"), dir.path().join("dist"));
    copy_tree(&e2e::root().join("tests/fixtures/minimal"), &content);
    let new = |args: &[&str]| {
        e2e::course().arg("new").args(args).arg("--content").arg(&content).output().expect("run")
    };

    let made = new(&["rust-basics", "--title", "Rust basics"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let course = content.join("courses/rust-basics");
    assert!(course.join("course.toml").is_file() && course.join("introduction.md").is_file());
    let site = fs::read_to_string(content.join("site.toml")).expect("site.toml");
    assert!(site.contains("courses = [\"demo\", \"rust-basics\"]"), "listed in site.toml:\n{site}");

    // A draft: left out of `course build`, shown by `--drafts`; no warning either way.
    let (_, stdout, stderr) = build(&content, &out, &[]);
    assert_eq!(stderr, "", "no warning");
    assert!(stdout.contains("left out 1 draft course"), "{stdout}");
    let (manifest, html) = pages(&out);
    assert!(!manifest.routes.keys().any(|r| r.starts_with("/courses/rust-basics/")));
    assert!(!page(&html, "/").contains("Rust basics"));
    let (_, stdout, stderr) = build(&content, &out, &["--drafts"]);
    assert_eq!(stderr, "", "no warning");
    assert!(stdout.contains("included 1 draft course"), "{stdout}");
    let (manifest, html) = pages(&out);
    assert_eq!(manifest.drafts, ["/courses/rust-basics/", "/courses/rust-basics/introduction/"]);
    assert!(page(&html, "/").contains("Rust basics"));
    assert!(page(&html, "/courses/rust-basics/introduction/").contains("Introduction"));

    // Published once the author takes the draft line out.
    let toml = fs::read_to_string(course.join("course.toml")).expect("course.toml");
    let published: String =
        toml.lines().filter(|l| l.trim() != "draft = true").map(|l| format!("{l}\n")).collect();
    assert_ne!(published, toml);
    fs::write(course.join("course.toml"), published).expect("write");
    let (_, stdout, stderr) = build(&content, &out, &[]);
    assert_eq!(stderr, "", "no warning");
    assert!(!stdout.contains("draft"), "{stdout}");
    let (manifest, _) = pages(&out);
    assert!(manifest.routes.contains_key("/courses/rust-basics/introduction/") && !manifest.has_drafts());

    // Refusals: exit 2, a reason, nothing written.
    let snapshot = e2e::snapshot;
    fs::write(course.join("introduction.md"), "+++\ntitle = \"Edited\"\n+++\nMine.\n").expect("edit");
    let before = snapshot(&content);
    for (args, reason) in [
        (&["rust-basics"][..], "exists already: `course new` never overwrites"),
        (&["Rust_Basics"][..], "is not a course slug"),
    ] {
        let refused = new(args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(text(&refused.stderr).contains(reason), "{args:?}: {}", text(&refused.stderr));
        assert_eq!(snapshot(&content), before, "{args:?} changed nothing");
    }
    let not_root =
        e2e::course().args(["new", "other", "--content"]).arg(content.join("courses")).output().expect("run");
    assert_eq!(not_root.status.code(), Some(2));
    assert!(text(&not_root.stderr).contains("is not a content root"), "{}", text(&not_root.stderr));
    assert_eq!(snapshot(&content), before);
}
