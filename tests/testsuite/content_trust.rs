//! What an author's content can and cannot put in a release: an enrolled course's media,
//! animations and labs only under its grant scope; nothing that no page uses; nothing from
//! outside the content root (symlinks); no names the build would silently skip; no scripts
//! smuggled in raw HTML. Each case builds a copy of the sample catalogue with the real
//! `course` binary and, where it matters, serves it with the real `edge-origin`.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use bundle::{Access, Manifest};
use e2e::{build_ok, copy_tree, course_build, get, live_manifest, sample_content, Origin};

const COURSE: &str = "data-structures";
const PREFIX: &str = "/courses/data-structures/";
/// Bytes no published object may contain.
const SECRET: &str = "correct horse battery staple 7f3a";

/// A copy of the sample content in a temp dir (also holding a file outside the content).
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(&sample_content(), &dir.path().join("content"));
        std::fs::create_dir_all(dir.path().join("outside/app")).expect("mkdir");
        std::fs::write(dir.path().join("outside/passwords.txt"), SECRET).expect("write");
        std::fs::write(dir.path().join("outside/app/index.html"), format!("<p>{SECRET}</p>")).expect("write");
        std::fs::write(dir.path().join("outside/lesson.md"), format!("+++\ntitle = \"x\"\n+++\n{SECRET}\n"))
            .expect("write");
        Site { dir }
    }

    fn content(&self) -> PathBuf {
        self.dir.path().join("content")
    }

    fn outside(&self, name: &str) -> PathBuf {
        self.dir.path().join("outside").join(name)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.content().join(rel)
    }

    fn edit(&self, rel: &str, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.path(rel)).expect("read");
        std::fs::write(self.path(rel), edit(text)).expect("write");
    }
}

/// Every local URL (`src`, `href`, `data-*` attribute value starting with `/`) in `html`.
fn local_urls(html: &str) -> BTreeSet<String> {
    // The theme's templates escape `/` in attribute values, as minijinja does.
    let html = html.replace("&#x2f;", "/").replace("&amp;", "&");
    let mut urls = BTreeSet::new();
    let mut rest = html.as_str();
    while let Some(at) = rest.find("=\"/") {
        let value = &rest[at + 2..];
        let end = value.find('"').unwrap_or(value.len());
        let url = value[..end].split(['?', '#']).next().unwrap_or_default();
        if !url.starts_with("//") {
            urls.insert(url.to_owned());
        }
        rest = &value[end..];
    }
    urls
}

fn object(store: &Path, manifest: &Manifest, route: &str) -> Vec<u8> {
    std::fs::read(store.join("objects").join(manifest.routes[route].object.as_str())).expect("object")
}

/// Whether any object of the store holds `needle`.
fn store_contains(store: &Path, needle: &str) -> bool {
    walkdir::WalkDir::new(store.join("objects"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .any(|e| {
            std::fs::read(e.path()).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
}

/// A key pair made with `course keys new`, and cookies for `prefix` made with `course sign`.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = e2e::course()
            .args(["keys", "new", "--id", "KTEST", "--out"])
            .arg(dir.path())
            .output()
            .expect("course keys new");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(printed.contains("--trusted-key KTEST="), "{printed}");
        Keys { dir }
    }

    fn trust(&self) -> String {
        format!("KTEST={}", self.dir.path().join("KTEST.pub.pem").display())
    }

    /// The `Cookie` header of a grant for `url_prefix`.
    fn cookies(&self, url_prefix: &str) -> String {
        let out = e2e::course()
            .args(["sign", "--key-pair-id", "KTEST", "--url-prefix", url_prefix, "--key"])
            .arg(self.dir.path().join("KTEST.pem"))
            .output()
            .expect("course sign");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let pairs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("cookie: ").map(str::to_owned))
            .collect();
        assert!(pairs.len() >= 3);
        pairs.join("; ")
    }
}

#[test]
fn an_enrolled_courses_media_is_only_under_its_grant_scope() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    // The theme's own files (CSS, JS, fonts) are public by design: `/assets/<name>.<hash>.<ext>`
    // for a `<name>.<ext>` of theme/static.
    let theme_files: BTreeSet<String> = walkdir::WalkDir::new(sample_content().join("theme/static"))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .chain(["syntax.css".to_owned()])
        .collect();
    let is_theme = |url: &str| {
        let Some(name) = url.strip_prefix("/assets/") else { return false };
        let parts: Vec<&str> = name.split('.').collect();
        let unfingerprinted = match parts.len() {
            n if n >= 3 => format!("{}.{}", parts[..n - 2].join("."), parts[n - 1]),
            _ => name.to_owned(),
        };
        theme_files.contains(&unfingerprinted)
    };

    let enrolled_pages: Vec<&String> = manifest
        .routes
        .iter()
        .filter(|(r, route)| r.ends_with('/') && route.access == Access::Course(COURSE.into()))
        .map(|(r, _)| r)
        .collect();
    assert!(enrolled_pages.len() >= 5);
    let mut media = BTreeSet::new();
    for page in &enrolled_pages {
        let html = String::from_utf8(object(store.path(), &manifest, page)).expect("utf-8");
        for url in local_urls(&html) {
            let route = manifest.routes.get(&url);
            if route.is_some_and(|r| r.cache == bundle::CacheClass::Stable) {
                continue; // links to pages
            }
            if is_theme(&url) {
                continue;
            }
            assert!(url.starts_with(&format!("{PREFIX}_/")), "{page} uses {url}, outside the course's scope");
            let route = route.unwrap_or_else(|| panic!("{page} uses {url}, which is not in the release"));
            assert_eq!(route.access, Access::Course(COURSE.into()), "{url}");
            assert_eq!(route.cache, bundle::CacheClass::Immutable, "{url}");
            media.insert(url);
        }
    }
    assert!(
        media.iter().any(|u| u.ends_with(".svg")) && media.iter().any(|u| u.ends_with(".mp4")),
        "{media:?}"
    );
    // Nothing outside the scope holds bytes only the course uses.
    for url in &media {
        let key = &manifest.routes[url].object;
        for (other, route) in &manifest.routes {
            if &route.object == key && !other.starts_with(PREFIX) {
                let public_user = manifest.routes.iter().any(|(page, r)| {
                    r.access == Access::Public
                        && r.content_type.starts_with("text/html")
                        && String::from_utf8_lossy(&object(store.path(), &manifest, page))
                            .contains(other.as_str())
                });
                assert!(
                    public_user,
                    "{other} serves the bytes of {url} publicly, and no public page uses it"
                );
            }
        }
    }

    // Served: 403 without a grant, 200 (and 206 for a range) with the course's cookie.
    let keys = Keys::new();
    let origin = Origin::start(store.path(), &["--trusted-key", &keys.trust()]);
    let cookie = keys.cookies(&format!("{}{PREFIX}", origin.base));
    for url in &media {
        let anonymous = get(&origin.url(url), &[]);
        assert_eq!(anonymous.status(), 403, "{url} without a grant");
        let granted = get(&origin.url(url), &[("cookie", &cookie)]);
        assert_eq!(granted.status(), 200, "{url} with the course's cookie");
        assert_eq!(granted.headers()["cache-control"], "private, max-age=31536000, immutable");
        assert_eq!(granted.bytes().expect("body").to_vec(), object(store.path(), &manifest, url));
    }
    let video = media.iter().find(|u| u.ends_with(".mp4")).expect("video");
    let part = get(&origin.url(video), &[("cookie", &cookie), ("range", "bytes=0-9")]);
    assert_eq!(part.status(), 206);
    let other_course = keys.cookies(&format!("{}/courses/python-foundations/", origin.base));
    assert_eq!(get(&origin.url(video), &[("cookie", &other_course)]).status(), 403);
}

#[test]
fn an_enrolled_page_is_revalidated_on_every_view_and_only_a_grant_gets_its_304() {
    // A page kept for 60 s (`private, max-age=60`) stayed readable from the browser's
    // cache for a minute after its grant ended: pages that only a grant opens are
    // `no-cache`, and the revalidation checks the grant before it answers 304.
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let page = manifest
        .routes
        .iter()
        .find(|(route, r)| {
            route.starts_with(PREFIX) && r.access != Access::Public && r.content_type.starts_with("text/html")
        })
        .map(|(route, _)| route.clone())
        .expect("an enrolled lesson page");
    let keys = Keys::new();
    let origin = Origin::start(store.path(), &["--trusted-key", &keys.trust()]);
    let cookie = keys.cookies(&format!("{}{PREFIX}", origin.base));
    let granted = get(&origin.url(&page), &[("cookie", &cookie)]);
    assert_eq!(granted.status(), 200);
    assert_eq!(granted.headers()["cache-control"], "private, no-cache", "{page}");
    let etag = granted.headers()["etag"].to_str().expect("ascii").to_owned();
    let again = get(&origin.url(&page), &[("cookie", &cookie), ("if-none-match", &etag)]);
    assert_eq!(again.status(), 304, "revalidated with the grant");
    let lapsed = get(&origin.url(&page), &[("if-none-match", &etag)]);
    assert_eq!(lapsed.status(), 403, "without the grant a revalidation is refused, never a 304");
    let other = keys.cookies(&format!("{}/courses/python-foundations/", origin.base));
    assert_eq!(get(&origin.url(&page), &[("cookie", &other), ("if-none-match", &etag)]).status(), 403);
    // What does not exist under the course answers as what does: no slug enumeration.
    for missing in ["nope/", "nope", "_search/delta/pagefind-entry.json", "_/assets/x.png"] {
        let url = origin.url(&format!("{PREFIX}{missing}"));
        assert_eq!(get(&url, &[]).status(), 403, "{missing} without a grant");
    }
    assert_eq!(get(&origin.url(&format!("{PREFIX}nope/")), &[("cookie", &cookie)]).status(), 404);
}

#[test]
fn files_no_page_uses_are_not_published() {
    let site = Site::new();
    std::fs::write(site.path("courses/data-structures/media/exam-answers.txt"), SECRET).expect("write");
    std::fs::write(site.path("animations/unused-spinner.svg"), format!("<svg><!-- {SECRET} --></svg>"))
        .expect("write");
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("that no page uses were not published"), "{stderr}");
    assert!(stderr.contains("exam-answers.txt") && stderr.contains("unused-spinner.svg"), "{stderr}");
    let (_, manifest) = live_manifest(store.path());
    assert!(!manifest.routes.keys().any(|r| r.contains("exam-answers") || r.contains("unused-spinner")));
    assert!(!store_contains(store.path(), SECRET), "the unused files' bytes are nowhere in the store");
}

#[test]
fn a_lab_in_an_enrolled_lesson_runs_under_the_grant_and_stays_public_where_public_pages_use_it() {
    let site = Site::new();
    site.edit("courses/data-structures/queues.md", |text| {
        format!("{text}\n\n```lab\nsrc = \"regex-playground\"\n```\n")
    });
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&site.content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let scoped: Vec<&String> =
        manifest.routes.keys().filter(|r| r.starts_with(&format!("{PREFIX}_/labs/"))).collect();
    let app = scoped.iter().find(|r| r.ends_with("/index.html")).expect("the lab app under the course");
    assert!(manifest
        .routes
        .keys()
        .any(|r| r.starts_with(&format!("{PREFIX}_/assets/regex-playground-starter."))));
    let public_app = manifest
        .routes
        .keys()
        .find(|r| r.starts_with("/labs/") && r.ends_with("/index.html"))
        .expect("public lessons keep theirs");
    assert_eq!(manifest.routes[*app].object, manifest.routes[public_app].object, "one object, two routes");

    let keys = Keys::new();
    let origin = Origin::start(store.path(), &["--trusted-key", &keys.trust()]);
    let cookie = keys.cookies(&format!("{}{PREFIX}", origin.base));
    for route in &scoped {
        assert_eq!(get(&origin.url(route), &[]).status(), 403, "{route}");
        assert_eq!(get(&origin.url(route), &[("cookie", &cookie)]).status(), 200, "{route}");
    }
    assert_eq!(get(&origin.url(public_app), &[]).status(), 200);
}

#[test]
fn a_public_syllabus_and_preview_lessons_open_without_a_grant_with_their_media() {
    let site = Site::new();
    site.edit("courses/data-structures/course.toml", |text| {
        text.replace("access = \"enrolled\"", "access = \"enrolled\"\nsyllabus = \"public\"")
    });
    site.edit("courses/data-structures/stacks.md", |text| text.replacen("+++\n", "+++\npreview = true\n", 1));
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&site.content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let origin = Origin::start(store.path(), &[]);
    assert_eq!(get(&origin.url(PREFIX), &[]).status(), 200, "the syllabus is public");
    let preview = get(&origin.url("/courses/data-structures/stacks/"), &[]);
    assert_eq!(preview.status(), 200, "the preview lesson is public");
    assert!(preview.headers()["cache-control"].to_str().expect("cc").starts_with("public"));
    let html = preview.text().expect("body");
    let animation = local_urls(&html).into_iter().find(|u| u.contains("stack-push")).expect("its animation");
    assert!(animation.starts_with("/assets/"), "the preview's media is public too: {animation}");
    assert_eq!(get(&origin.url(&animation), &[]).status(), 200);
    assert_eq!(get(&origin.url("/courses/data-structures/queues/"), &[]).status(), 403, "the rest is not");
    let closed_media: Vec<&String> =
        manifest.routes.keys().filter(|r| r.starts_with(&format!("{PREFIX}_/"))).collect();
    assert!(!closed_media.is_empty());
    for route in closed_media {
        assert_eq!(get(&origin.url(route), &[]).status(), 403, "{route}");
    }
}

/// Every way a symlink could bring a file from outside the content root into a release.
#[test]
fn symlinks_that_leave_the_content_root_are_errors_and_nothing_is_published() {
    type MakeLink = Box<dyn Fn(&Site)>;
    let cases: Vec<(&str, MakeLink)> = vec![
        (
            "labs/regex-playground/app",
            Box::new(|s: &Site| {
                std::fs::remove_dir_all(s.path("labs/regex-playground/app")).expect("rm");
                symlink(s.outside("app"), s.path("labs/regex-playground/app")).expect("link");
            }),
        ),
        (
            "labs/regex-playground/starter/passwords.txt",
            Box::new(|s: &Site| {
                symlink(s.outside("passwords.txt"), s.path("labs/regex-playground/starter/passwords.txt"))
                    .expect("link");
            }),
        ),
        (
            "labs/css-keyframes-lab/app/passwords.txt",
            Box::new(|s: &Site| {
                symlink(s.outside("passwords.txt"), s.path("labs/css-keyframes-lab/app/passwords.txt"))
                    .expect("link");
            }),
        ),
        (
            "animations/stack-push.svg",
            Box::new(|s: &Site| {
                std::fs::remove_file(s.path("animations/stack-push.svg")).expect("rm");
                symlink(s.outside("passwords.txt"), s.path("animations/stack-push.svg")).expect("link");
            }),
        ),
        (
            "courses/data-structures/stacks.md",
            Box::new(|s: &Site| {
                std::fs::remove_file(s.path("courses/data-structures/stacks.md")).expect("rm");
                symlink(s.outside("lesson.md"), s.path("courses/data-structures/stacks.md")).expect("link");
            }),
        ),
        (
            "courses/data-structures/media/ring-buffer.svg",
            Box::new(|s: &Site| {
                std::fs::remove_file(s.path("courses/data-structures/media/ring-buffer.svg")).expect("rm");
                symlink(s.outside("passwords.txt"), s.path("courses/data-structures/media/ring-buffer.svg"))
                    .expect("link");
            }),
        ),
        (
            "theme/static/passwords.txt",
            Box::new(|s: &Site| {
                symlink(s.outside("passwords.txt"), s.path("theme/static/passwords.txt")).expect("link");
            }),
        ),
        (
            "courses/leaked",
            Box::new(|s: &Site| {
                symlink(s.dir.path().join("outside"), s.path("courses/leaked")).expect("link");
            }),
        ),
        (
            "site.toml",
            Box::new(|s: &Site| {
                std::fs::rename(s.path("site.toml"), s.outside("site.toml")).expect("mv");
                symlink(s.outside("site.toml"), s.path("site.toml")).expect("link");
            }),
        ),
    ];
    for (link, make) in cases {
        let site = Site::new();
        make(&site);
        let store = tempfile::tempdir().expect("tempdir");
        let output = course_build(&site.content(), store.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{link}: the build fails\n{stderr}");
        let expected =
            format!("{}:1:1: symbolic link leads outside the content directory", site.path(link).display());
        assert!(stderr.contains(&expected), "{link}: the error names the link\n{stderr}");
        assert!(!store.path().join("channels").exists(), "{link}: no release");
        assert!(!store_contains(store.path(), SECRET), "{link}: the secret is in the store");
    }

    // A link that stays inside the root is fine.
    let site = Site::new();
    symlink(
        site.path("courses/data-structures/media/ring-buffer.svg"),
        site.path("courses/data-structures/media/ring.svg"),
    )
    .expect("link");
    site.edit("courses/data-structures/queues.md", |t| format!("{t}\n![ring](media/ring.svg)\n"));
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&site.content(), store.path());
}

#[test]
fn names_the_build_cannot_serve_are_errors_not_silently_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let site = Site::new();
    let lesson = site.path("courses/data-structures").join(std::ffi::OsStr::from_bytes(b"heap\xffs.md"));
    std::fs::write(&lesson, "+++\ntitle = \"Heaps\"\n+++\nbody\n").expect("write");
    let course = site.path("courses").join(std::ffi::OsStr::from_bytes(b"gr\xe4phs"));
    std::fs::create_dir_all(&course).expect("mkdir");
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("file name is not valid UTF-8").count(), 2, "{stderr}");
}

#[test]
fn oversized_sources_are_errors_unless_allowed() {
    let site = Site::new();
    // (With the heading other lessons link to.)
    let big =
        format!("+++\ntitle = \"Big\"\n+++\n## Push and pop\n\n{}", "All work and no play. ".repeat(60_000));
    std::fs::write(site.path("courses/data-structures/stacks.md"), &big).expect("write");
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stacks.md:1:1: file is 1.3 MiB, over the 1.0 MiB limit"), "{stderr}");
    let allowed = e2e::course()
        .args(["build", "--max-source-size", "2MiB", "--content"])
        .arg(site.content())
        .arg("--out")
        .arg(store.path())
        .output()
        .expect("course build");
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
}

#[test]
fn raw_html_in_lessons_is_sanitised() {
    // What the sanitiser would remove is reported where it is written: scripts, event
    // handlers and `javascript:` URLs (which the CSP would block anyway) as errors, other
    // elements it drops as warnings; in lessons and in quiz text alike.
    let site = Site::new();
    site.edit("courses/python-foundations/loops.md", |text| {
        format!(
            "{text}\n\n<p>Press <kbd>Ctrl</kbd>+<kbd>C</kbd><script>alert('x')</script></p>\n\n\
             <img src=\"x.png\" onerror=\"alert(1)\"> <a href=\"javascript:alert(2)\">tricky</a>\n\n\
             <iframe src=\"https://evil.example/\"></iframe><object data=\"x.swf\"></object>\n\n\
             ```quiz\n[[questions]]\nprompt = \"Which? <script>alert(3)</script><b>bold</b>\"\nchoices = [\"a\", \"b\"]\nanswer = 0\n```\n"
        )
    });
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    assert!(errors.iter().all(|e| e.contains("courses/python-foundations/loops.md:")), "{stderr}");
    for (what, count) in [
        ("`<script>` is removed from lessons", 2),
        ("question 1, `prompt`: `<script>` is removed from lessons", 1),
        ("`onerror` attribute (on `<img>`) is removed", 1),
        ("`href` with a `javascript:` URL is not allowed", 1),
        ("`<iframe>` is not allowed in lessons", 1),
        ("`<object>` is not allowed in lessons", 1),
    ] {
        assert_eq!(stderr.matches(what).count(), count, "{what}: {stderr}");
    }
    assert!(!store.path().join("channels").exists(), "nothing published");

    // And what no author mistake explains never reaches a page either: an attribute left
    // open around a code block is no tag the checks see, and the sanitiser still drops
    // the handler the build's own HTML would have put inside it.
    let site = Site::new();
    site.edit("courses/python-foundations/loops.md", |text| {
        format!(
            "{text}\n\n<p>Press <kbd>Ctrl</kbd>+<kbd>C</kbd></p>\n\n\
             <details><summary>Hint</summary>Use <code>range</code>.</details>\n\n\
             <div title=\"\n\n```text\n\" onmouseover=\"xss9()\n```\n\n\">x</div>\n\n\
             ```quiz\n[[questions]]\nprompt = \"Which? <b>bold</b>\"\nchoices = [\"a\", \"b\"]\nanswer = 0\n```\n"
        )
    });
    build_ok(&site.content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let html = String::from_utf8(object(store.path(), &manifest, "/courses/python-foundations/loops/"))
        .expect("utf-8");
    assert!(!html.contains("onmouseover=\""), "the handler survived");
    for kept in ["<kbd>Ctrl</kbd>", "<details><summary>Hint</summary>", "<b>bold</b>", "class=\"quiz"] {
        assert!(html.contains(kept), "{kept} was lost");
    }
    // The lab frames and code highlighting the build generates are untouched.
    assert!(html.contains("<pre") && html.contains("<span"), "highlighted code stays");
}

/// Author files that a browser would run as code on the site (HTML, XML, JavaScript) are
/// never course media, and SVG, which pages show in `<img>`, is served with a sandbox so
/// opening it on its own runs nothing. Heading attributes cannot smuggle attributes the
/// theme's scripts read.
#[test]
fn author_files_cannot_run_code_on_the_site() {
    let site = Site::new();
    std::fs::write(site.path("courses/python-foundations/media/evil.html"), "<script src=x.js></script>")
        .expect("write");
    std::fs::write(site.path("courses/python-foundations/media/evil.js"), "alert(1)").expect("write");
    site.edit("courses/python-foundations/loops.md", |t| {
        format!("{t}\n[page](media/evil.html) [js](media/evil.js)\n")
    });
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("are not published as course media").count(), 2, "{stderr}");

    let site = Site::new();
    std::fs::write(site.path("courses/python-foundations/media/notes.html"), "<p>never linked</p>")
        .expect("write");
    site.edit("courses/python-foundations/loops.md", |t| {
        format!(
            "{t}\n## Recap {{DATA-LOTTIE-SRC=x data-lottie-player=/assets/evil.js onclick=alert(1) .note}}\n"
        )
    });
    build_ok(&site.content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    assert!(!manifest.routes.keys().any(|r| r.contains("notes")), "unused HTML is not published");
    let html = String::from_utf8(object(store.path(), &manifest, "/courses/python-foundations/loops/"))
        .expect("utf-8");
    let at = html.find("id=\"recap\"").expect("the heading");
    let tag = &html[html[..at].rfind('<').expect("tag start")..at + html[at..].find('>').expect("tag end")];
    assert!(!tag.contains("lottie") && !tag.contains("onclick"), "{tag}");
    assert!(tag.contains("class=\"note\""), "classes stay: {tag}");

    let origin = Origin::start(store.path(), &[]);
    let svg =
        manifest.routes.keys().find(|r| r.ends_with(".svg") && r.starts_with("/assets/")).expect("an svg");
    let response = get(&origin.url(svg), &[]);
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");
}

/// What the build ignores it says it ignores: stray Markdown, unknown folders and files.
#[test]
fn ignored_files_are_named_in_warnings() {
    let site = Site::new();
    std::fs::write(site.path("courses/data-structures/media/draft.md"), "+++\ntitle = \"x\"\n+++\n")
        .expect("write");
    std::fs::create_dir_all(site.path("drafts")).expect("mkdir");
    std::fs::write(site.path("notes.txt"), "todo").expect("write");
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in [
        "media/draft.md:1:1: the build ignores this file",
        "drafts:1:1: not part of the site",
        "notes.txt:1:1: not part of the site",
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with("warning: ") && l.contains(name)),
            "{name} in\n{stderr}"
        );
    }
}

/// A FIFO where a lesson should be would block a build forever: it is an error.
#[test]
fn a_fifo_is_an_error_not_a_hang() {
    let site = Site::new();
    std::fs::remove_file(site.path("courses/data-structures/stacks.md")).expect("rm");
    let made =
        Command::new("mkfifo").arg(site.path("courses/data-structures/stacks.md")).status().expect("mkfifo");
    assert!(made.success());
    let store = tempfile::tempdir().expect("tempdir");
    let output = course_build(&site.content(), store.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stacks.md:1:1: not a regular file"), "{stderr}");
}

/// `course sign` issues course-sized, short grants only.
#[test]
fn course_sign_refuses_site_wide_or_endless_grants() {
    let keys = Keys::new();
    let sign = |prefix: &str, ttl: &str| {
        e2e::course()
            .args(["sign", "--key-pair-id", "KTEST", "--url-prefix", prefix, "--ttl", ttl, "--key"])
            .arg(keys.dir.path().join("KTEST.pem"))
            .output()
            .expect("course sign")
    };
    assert!(sign("https://learn.test/courses/a/", "15m").status.success());
    assert!(!sign("https://learn.test/", "15m").status.success(), "a grant for the whole site");
    assert!(!sign("https://learn.test/courses/a/", "0s").status.success());
    assert!(!sign("https://learn.test/courses/a/", "100000y").status.success());
}
