//! `course serve` as an author uses it, in Debian's chromium: a saved lesson shows in its
//! open page without any action while unrelated pages stay as they are; content and
//! template errors appear over every open page with `file:line:col` and the source line,
//! and go away when fixed; lessons added and deleted; stylesheet edits applied in place;
//! the last good release served when the content is broken; and none of the reload
//! machinery in what `course build` writes or `course publish` uploads.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::live::{Browser, Serving};
use e2e::{copy_tree, eventually, get, sample_content};

const WAIT: Duration = Duration::from_secs(20);
const LOOPS: &str = "/courses/python-foundations/loops/";
const CONDITIONS: &str = "/courses/python-foundations/conditions/";
const OTHER_COURSE: &str = "/courses/web-animation/css-transitions/";

/// A copy of the sample content and a store for it.
struct Work {
    _dir: tempfile::TempDir,
    content: PathBuf,
    out: PathBuf,
}

fn work() -> Work {
    let dir = tempfile::tempdir().expect("tempdir");
    let (content, out) = (dir.path().join("content"), dir.path().join("dist"));
    copy_tree(&sample_content(), &content);
    Work { _dir: dir, content, out }
}

fn replace_in(file: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    fs::write(file, text.replacen(from, to, 1)).expect("write");
}

/// Marks a page's JS world: a reload loses the mark.
const MARK: &str = "window.__notReloaded = true";
const STILL_MARKED: &str = "window.__notReloaded === true";
const OVERLAY: &str = "document.querySelector('[data-course-live-overlay]')";

fn overlay_text(browser: &mut Browser, page: &str) -> String {
    browser
        .eval(page, &format!("{OVERLAY} ? {OVERLAY}.textContent : ''"))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_saved_lesson_shows_in_its_open_page_and_unrelated_pages_do_not_reload() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let mut browser = Browser::start(&serving.base);
    for (page, path) in [("loops", LOOPS), ("conditions", CONDITIONS), ("other", OTHER_COURSE)] {
        assert_eq!(browser.open(page, path), 200);
        browser.eval(page, MARK);
    }
    browser.eval("loops", "window.scrollTo(0, 300)");
    let scrolled = browser.eval("loops", "window.scrollY").as_f64().unwrap_or_default();
    assert!(scrolled > 250.0, "the lesson is long enough to scroll: {scrolled}");

    // Saved as vim does: the write probe `4913`, a swap file, the old file renamed to a
    // backup `~`, the new one written in two chunks, the backup removed.
    let lesson = w.content.join("courses/python-foundations/loops.md");
    let dir = lesson.parent().expect("dir");
    let text = fs::read_to_string(&lesson).expect("lesson");
    let edited = text.replacen("A loop runs the same block", "A loop (edited live) runs the same block", 1);
    fs::write(dir.join("4913"), "").expect("probe");
    fs::remove_file(dir.join("4913")).expect("probe");
    fs::write(dir.join(".loops.md.swp"), "swap").expect("swap");
    fs::rename(&lesson, dir.join("loops.md~")).expect("backup");
    {
        use std::io::Write;
        let mut file = fs::File::create(&lesson).expect("create");
        let (first, rest) = edited.split_at(edited.len() / 2);
        file.write_all(first.as_bytes()).expect("write");
        file.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(5));
        file.write_all(rest.as_bytes()).expect("write");
    }
    fs::remove_file(dir.join("loops.md~")).expect("backup");

    assert!(
        browser.wait("loops", "document.body.textContent.includes('(edited live)')", WAIT),
        "the open lesson shows the saved text; serve said:\n{:?}\n{}",
        serving.stdout(),
        serving.stderr()
    );
    assert!(
        browser.wait("loops", "Math.abs(window.scrollY - 300) < 8", WAIT),
        "the reload keeps the scroll position"
    );
    for page in ["conditions", "other"] {
        assert_eq!(browser.eval(page, STILL_MARKED), serde_json::json!(true), "{page} did not reload");
        assert_eq!(browser.reloads(page), 0, "{page}");
    }
    // One save re-renders that page only, once; the editor's own files started no rebuild.
    // (A loaded machine may see the chunks in two batches: the second renders nothing.)
    let rebuilds = serving.rebuilds();
    assert!(
        !rebuilds.is_empty()
            && rebuilds.iter().all(|r| r.starts_with("courses/python-foundations/loops.md changed")),
        "{rebuilds:?}"
    );
    let rendered: usize = rebuilds
        .iter()
        .filter_map(|r| r.split(", ").nth(1)?.strip_suffix(" page(s) rendered")?.parse::<usize>().ok())
        .sum();
    assert_eq!(rendered, 1, "{rebuilds:?}");
    for page in ["loops", "conditions", "other"] {
        assert_eq!(browser.problems(page), Vec::<String>::new(), "{page}");
    }
}

#[test]
fn errors_show_over_every_open_page_until_they_are_fixed() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let mut browser = Browser::start(&serving.base);
    for (page, path) in [("loops", LOOPS), ("other", OTHER_COURSE)] {
        assert_eq!(browser.open(page, path), 200);
    }
    let lesson = w.content.join("courses/python-foundations/loops.md");
    replace_in(&lesson, "duration = 18", "duration = \"long\"");
    let shown = format!("{}:4:12:", lesson.display());
    for page in ["loops", "other"] {
        assert!(
            browser.wait(page, &format!("{OVERLAY} && {OVERLAY}.textContent.includes({shown:?})"), WAIT),
            "{page} shows the error at its place: {:?}\n{}",
            overlay_text(&mut browser, page),
            serving.stderr()
        );
        let text = overlay_text(&mut browser, page);
        assert!(text.contains("front matter"), "the reason: {text}");
        assert!(
            text.contains("4 | duration = \"long\"") && text.contains("^"),
            "the source line and a caret: {text}"
        );
    }
    // The terminal shows the same, and the last good release is still served underneath.
    eventually("the terminal shows the error", WAIT, || {
        let stderr = serving.stderr();
        stderr.contains(&format!("error: {shown}")) && stderr.contains(" 4 | duration = \"long\"")
    });
    let page = get(&serving.url(LOOPS), &[]);
    assert_eq!(page.status(), 200);
    assert!(page.text().expect("page").contains("A loop runs the same block"));

    replace_in(&lesson, "duration = \"long\"", "duration = 18");
    for page in ["loops", "other"] {
        assert!(browser.wait(page, &format!("!{OVERLAY}"), WAIT), "{page}: fixed, the overlay goes");
    }

    // A template error names the template file and its line.
    let template = w.content.join("theme/templates/lesson.html");
    let original = fs::read_to_string(&template).expect("template");
    fs::write(&template, format!("{{{{ broken( }}}}\n{original}")).expect("break the template");
    let at = format!("{}:1:", template.display());
    assert!(
        browser.wait("other", &format!("{OVERLAY} && {OVERLAY}.textContent.includes({at:?})"), WAIT),
        "the template error is shown: {:?}",
        overlay_text(&mut browser, "other")
    );
    fs::write(&template, original).expect("fix the template");
    assert!(browser.wait("other", &format!("!{OVERLAY}"), WAIT));
    assert_eq!(browser.problems("other"), Vec::<String>::new());
}

#[test]
fn lessons_added_and_deleted_change_navigation_and_links_while_serving() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let mut browser = Browser::start(&serving.base);
    assert_eq!(browser.open("course", "/courses/python-foundations/"), 200);
    assert_eq!(browser.open("conditions", CONDITIONS), 200);

    let course = w.content.join("courses/python-foundations");
    fs::write(
        course.join("while-loops.md"),
        "+++\ntitle = \"While loops, live\"\n+++\n\n# While loops\n\nRepeat while a condition holds.\n",
    )
    .expect("new lesson");
    replace_in(
        &course.join("course.toml"),
        "lessons = [\"conditions\", \"loops\"]",
        "lessons = [\"conditions\", \"loops\", \"while-loops\"]",
    );
    let link = "document.querySelector('a[href=\"/courses/python-foundations/while-loops/\"]')";
    for page in ["course", "conditions"] {
        assert!(browser.wait(page, link, WAIT), "{page} lists the new lesson: {}", serving.stderr());
    }
    assert_eq!(get(&serving.url("/courses/python-foundations/while-loops/"), &[]).status(), 200);

    // A lesson links to it; then it is deleted: the link is the content error it is in a build.
    let conditions = course.join("conditions.md");
    let text = fs::read_to_string(&conditions).expect("lesson");
    fs::write(&conditions, format!("{text}\nNext, [while loops](while-loops.md).\n")).expect("link");
    assert!(browser.wait("conditions", "document.body.textContent.includes('Next, while loops')", WAIT));
    let line = text.lines().count() + 2;
    fs::remove_file(course.join("while-loops.md")).expect("delete");
    let at = format!("{}:{line}:", conditions.display());
    assert!(
        browser.wait("conditions", &format!("{OVERLAY} && {OVERLAY}.textContent.includes({at:?})"), WAIT),
        "the dangling link is reported at its place: {:?}",
        overlay_text(&mut browser, "conditions")
    );
    let built = e2e::course_build(&w.content, &w.out.with_file_name("separate-build"));
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success() && stderr.contains(&at), "course build reports the same: {stderr}");
}

#[test]
fn a_stylesheet_edit_is_applied_without_reloading() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let mut browser = Browser::start(&serving.base);
    assert_eq!(browser.open("loops", LOOPS), 200);
    browser.eval("loops", MARK);
    let before =
        browser.eval("loops", "document.querySelector('link[href^=\"/assets/site.\"]').getAttribute('href')");
    let css = w.content.join("theme/static/css/site.css");
    let text = fs::read_to_string(&css).expect("css");
    fs::write(&css, format!("{text}\nbody {{ outline: 3px solid rgb(1, 2, 3); }}\n")).expect("edit css");
    assert!(
        browser.wait("loops", "getComputedStyle(document.body).outlineColor === 'rgb(1, 2, 3)'", WAIT),
        "the new stylesheet applies: {}",
        serving.stderr()
    );
    assert_eq!(browser.eval("loops", STILL_MARKED), serde_json::json!(true), "no reload");
    assert_eq!(browser.reloads("loops"), 0);
    let after =
        browser.eval("loops", "document.querySelector('link[href^=\"/assets/site.\"]').getAttribute('href')");
    assert_ne!(before, after, "the link points at the new fingerprinted stylesheet");
    assert_eq!(browser.problems("loops"), Vec::<String>::new());
}

#[test]
fn serve_starts_from_the_last_good_release_when_the_content_is_broken() {
    let w = work();
    e2e::build_ok(&w.content, &w.out);
    let lesson = w.content.join("courses/python-foundations/loops.md");
    replace_in(&lesson, "title = \"Loops\"", "title = ");
    let serving = Serving::start(&w.content, &w.out, &[]);
    let page = get(&serving.url(LOOPS), &[]);
    assert_eq!(page.status(), 200, "the last good release is served");
    assert!(page.text().expect("page").contains("/_live/client.js"));
    eventually("the error is printed", WAIT, || {
        serving.stderr().contains(&format!("error: {}:2:", lesson.display()))
    });

    // With no good release at all, every page is the waiting page (with the client).
    let fresh = work();
    replace_in(&fresh.content.join("courses/python-foundations/loops.md"), "title = \"Loops\"", "title = ");
    let waiting = Serving::start(&fresh.content, &fresh.out, &[]);
    let page = get(&waiting.url(LOOPS), &[]);
    assert_eq!(page.status(), 503);
    assert!(page.text().expect("page").contains("/_live/client.js"));
    replace_in(&fresh.content.join("courses/python-foundations/loops.md"), "title = ", "title = \"Loops\"");
    eventually("the fixed content is served", WAIT, || get(&waiting.url(LOOPS), &[]).status() == 200);
}

/// Every object of a local store, as text.
fn store_texts(store: &Path) -> Vec<(PathBuf, String)> {
    walkdir::WalkDir::new(store)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (e.path().to_owned(), String::from_utf8_lossy(&fs::read(e.path()).expect("read")).into_owned())
        })
        .collect()
}

#[test]
fn no_reload_client_in_a_built_or_published_release() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let served = get(&serving.url(LOOPS), &[]).text().expect("page");
    assert!(
        served.contains("/_live/client.js"),
        "served pages carry the client (the check below is not vacuous)"
    );
    let lesson = w.content.join("courses/python-foundations/loops.md");
    replace_in(&lesson, "A loop runs the same block", "A loop (edited) runs the same block");
    eventually("the edit is served", WAIT, || {
        get(&serving.url(LOOPS), &[]).text().expect("page").contains("(edited)")
    });
    drop(serving);
    let pointer = std::fs::read(w.out.join("channels/live.json")).expect("pointer");
    let previewed = bundle::Channel::from_bytes(&pointer).expect("pointer").release;
    let manifest = std::fs::read(w.out.join(format!("releases/{previewed}.json"))).expect("manifest");
    let manifest = bundle::Manifest::from_bytes(&manifest).expect("manifest");
    assert!(manifest.preview, "the served release is marked a preview");
    assert!(manifest.routes.values().all(|r| r.encodings.is_empty()), "a preview compresses nothing");

    let built = w.out.with_file_name("built");
    e2e::build_ok(&w.content, &built);
    for store in [&w.out, &built] {
        let objects = store_texts(store);
        assert!(objects.len() > 20, "{}", store.display());
        for (path, text) in objects {
            assert!(!text.contains("/_live/"), "{} has the reload client", path.display());
        }
    }

    // What `course publish` uploads from the store `course serve` wrote: nothing, its
    // release is a preview (no compressed variants); once `course build` has written the
    // store's release, that one, the same as a clean build's.
    let garage = e2e::garage::Garage::start();
    let publish = || {
        e2e::course()
            .args([
                "publish",
                "--store",
                &format!("s3://{}/site", e2e::garage::BUCKET),
                "--endpoint",
                &garage.endpoint,
            ])
            .args(["--region", e2e::garage::REGION, "--from"])
            .arg(&w.out)
            .envs(garage.env())
            .output()
            .expect("course publish")
    };
    let refused = publish();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("is a preview built by `course serve`"), "{stderr}");
    assert!(stderr.contains("nothing was uploaded"), "{stderr}");
    e2e::build_ok(&w.content, &w.out);
    let live = |store: &Path| std::fs::read_to_string(store.join("channels/live.json")).expect("pointer");
    let release =
        |store: &Path| bundle::Channel::from_bytes(live(store).as_bytes()).expect("pointer").release;
    assert_eq!(release(&w.out), release(&built), "the serve store's build is a clean build's release");
    let output = publish();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let uploaded = rt.block_on(async {
        let client = garage.client().await;
        let mut bodies = Vec::new();
        let listed = client
            .list_objects_v2()
            .bucket(e2e::garage::BUCKET)
            .prefix("site/")
            .max_keys(1000)
            .send()
            .await
            .expect("list");
        for object in listed.contents() {
            let key = object.key().unwrap_or_default().to_owned();
            let body = client.get_object().bucket(e2e::garage::BUCKET).key(&key).send().await.expect("get");
            let bytes = body.body.collect().await.expect("body").into_bytes();
            bodies.push((key, String::from_utf8_lossy(&bytes).into_owned()));
        }
        bodies
    });
    assert!(uploaded.len() > 100, "{} objects uploaded", uploaded.len());
    for (key, text) in uploaded {
        assert!(!text.contains("/_live/"), "{key} was uploaded with the reload client");
    }
}

/// Waits until the page at `path` answers `status` with a body containing `text`.
fn served(serving: &Serving, path: &str, status: u16, text: &str) {
    eventually(&format!("{path} answers {status} with {text:?}"), WAIT, || {
        let response = get(&serving.url(path), &[]);
        response.status() == status && response.text().is_ok_and(|body| body.contains(text))
    });
}

#[test]
fn every_kind_of_change_is_picked_up_without_a_restart() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let course = w.content.join("courses/python-foundations");

    // site.toml
    replace_in(&w.content.join("site.toml"), "Open Course Academy", "Open Course Academy, live");
    served(&serving, "/", 200, "Open Course Academy, live");

    // A partial of the theme (the quiz block's).
    let partial = w.content.join("theme/templates/partials/quiz.html");
    let text = fs::read_to_string(&partial).expect("partial");
    fs::write(&partial, format!("<p class=\"quiz-intro\">Quiz, edited live</p>\n{text}")).expect("partial");
    served(&serving, "/courses/python-foundations/hello-python/", 200, "Quiz, edited live");

    // A static file of the theme: pages link its new fingerprinted URL, which serves the edit.
    let js = w.content.join("theme/static/js/site.js");
    let text = fs::read_to_string(&js).expect("js");
    fs::write(&js, format!("{text}\n// edited live\n")).expect("js");
    eventually("the new site.js is linked and served", WAIT, || {
        let page = get(&serving.url(LOOPS), &[]).text().expect("page");
        let Some(url) =
            page.split('"').find(|s| s.starts_with("&#x2f;assets&#x2f;site.") && s.ends_with(".js"))
        else {
            return false;
        };
        get(&serving.url(&url.replace("&#x2f;", "/")), &[])
            .text()
            .is_ok_and(|body| body.contains("// edited live"))
    });

    // A media file added and used, then deleted with its use.
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"><rect width=\"4\" height=\"4\"/></svg>";
    fs::write(course.join("media/live-square.svg"), svg).expect("media");
    let lesson = course.join("loops.md");
    let original = fs::read_to_string(&lesson).expect("lesson");
    fs::write(&lesson, format!("{original}\n![A square](media/live-square.svg)\n")).expect("use it");
    served(&serving, LOOPS, 200, "live-square.");
    fs::write(&lesson, &original).expect("drop the use");
    fs::remove_file(course.join("media/live-square.svg")).expect("delete the media");
    eventually("the page no longer uses it", WAIT, || {
        !get(&serving.url(LOOPS), &[]).text().expect("page").contains("live-square.")
    });

    // A lesson renamed (with the places that name it).
    fs::rename(course.join("loops.md"), course.join("loops-renamed.md")).expect("rename");
    replace_in(&course.join("course.toml"), "\"loops\"]", "\"loops-renamed\"]");
    replace_in(&course.join("conditions.md"), "(loops.md)", "(loops-renamed.md)");
    replace_in(&course.join("strings-and-regex.md"), "(loops.md#", "(loops-renamed.md#");
    replace_in(&w.content.join("courses/data-structures/stacks.md"), "loops.md#", "loops-renamed.md#");
    served(&serving, "/courses/python-foundations/loops-renamed/", 200, "A loop runs the same block");
    eventually("the old URL is gone", WAIT, || get(&serving.url(LOOPS), &[]).status() == 404);

    // A new course.
    let new_course = w.content.join("courses/live-course");
    fs::create_dir_all(&new_course).expect("mkdir");
    fs::write(
        new_course.join("course.toml"),
        "title = \"A live course\"\nsummary = \"Added while serving.\"\nlevel = \"Beginner\"\naccess = \"public\"\n\n[[modules]]\ntitle = \"One\"\nlessons = [\"first\"]\n",
    )
    .expect("course.toml");
    fs::write(new_course.join("first.md"), "+++\ntitle = \"First live lesson\"\n+++\n\n# First\n\nHello.\n")
        .expect("lesson");
    replace_in(&w.content.join("site.toml"), "\"data-structures\"]", "\"data-structures\", \"live-course\"]");
    served(&serving, "/courses/live-course/first/", 200, "First live lesson");
    served(&serving, "/", 200, "A live course");
}

/// The text of `path`'s event stream (for `route`, shown from `release`) over `within`.
fn events_during(
    serving: &Serving,
    route: &str,
    release: &str,
    within: Duration,
    act: impl FnOnce(),
) -> String {
    use std::io::Read;
    let url = serving.url(&format!("/_live/events?route={route}&release={release}"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder().timeout(None).build().expect("client");
        let Ok(mut response) = client.get(&url).send() else { return };
        let mut buf = [0u8; 4096];
        while let Ok(n) = response.read(&mut buf) {
            if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                break;
            }
        }
    });
    // The stream's first frames (its view on connect) arrive before the change.
    let mut text = rx.recv_timeout(WAIT).expect("the stream opens");
    act();
    let deadline = std::time::Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(chunk) => text.push_str(&chunk),
            Err(_) => break,
        }
        if text.contains("event: release") || text.contains("event: reload") {
            break;
        }
    }
    text
}

#[test]
fn live_pages_are_revalidated_per_release_and_unchanged_404s_do_not_reload() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let page = get(&serving.url(LOOPS), &[]);
    let etag = page.headers()["etag"].to_str().expect("etag").to_owned();
    let release = page.headers()["x-release"].to_str().expect("release").to_owned();
    assert_eq!(get(&serving.url(LOOPS), &[("if-none-match", &etag)]).status(), 304);

    // An edit elsewhere leaves the page's bytes alone but not its client's release: a
    // 304 would keep a page asking for a release the origin may have forgotten.
    let stacks = w.content.join("courses/data-structures/stacks.md");
    let text = fs::read_to_string(&stacks).expect("lesson");
    let events = events_during(&serving, "/no/such/page/", &release, WAIT, || {
        fs::write(&stacks, format!("{text}\nAn unrelated edit.\n")).expect("edit");
    });
    assert!(
        events.contains("event: release") && !events.contains("event: reload"),
        "the 404 page is unchanged: {events}"
    );
    let again = get(&serving.url(LOOPS), &[("if-none-match", &etag)]);
    assert_eq!(again.status(), 200, "a new release revalidates to the new body");
    assert_ne!(again.headers()["x-release"].to_str().expect("release"), release);
    assert!(again.text().expect("page").contains("data-release=\""));
}

#[test]
fn editor_leftovers_fifos_and_an_out_dir_inside_the_content_do_not_break_the_loop() {
    let w = work();
    let lesson = w.content.join("courses/python-foundations/loops.md");
    replace_in(&lesson, "title = \"Loops\"", "title = ");
    // The store inside the content tree, not there yet: the first build fails.
    let out = w.content.join("dist");
    let serving = Serving::start(&w.content, &out, &[]);
    eventually("the error is printed", WAIT, || serving.stderr().contains("1 content error(s)"));
    replace_in(&lesson, "title = ", "title = \"Loops\"");
    eventually("the fix is served", WAIT, || get(&serving.url(LOOPS), &[]).status() == 200);
    // Its own writes into `dist/` start no more rebuilds (this was an endless loop).
    std::thread::sleep(Duration::from_millis(1500));
    let settled = serving.rebuilds().len();
    assert!(settled <= 2, "{:?}", serving.rebuilds());

    // What editors leave beside a lesson is not content: no error, no rebuild of its own.
    let dir = lesson.parent().expect("dir");
    fs::copy(&lesson, dir.join("loops.md~")).expect("backup");
    fs::copy(&lesson, dir.join("#loops.md#")).expect("autosave");
    std::os::unix::fs::symlink("user@host.1234:1700000000", dir.join(".#loops.md")).expect("lock");
    // A FIFO is an error of its own; showing it must not block the loop.
    let fifo = dir.join("media/pipe.svg");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    replace_in(&lesson, "A loop runs the same block", "A loop (after the leftovers) runs the same block");
    eventually("the FIFO is reported", WAIT, || serving.stderr().contains("pipe.svg"));
    fs::remove_file(&fifo).expect("remove the FIFO");
    served(&serving, LOOPS, 200, "(after the leftovers)");
    let stderr = serving.stderr();
    for leftover in ["loops.md~", "#loops.md#", ".#loops.md"] {
        assert!(!stderr.contains(leftover), "{leftover} is not content: {stderr}");
    }
}

#[test]
fn the_preview_answers_only_to_local_names() {
    let w = work();
    let serving = Serving::start(&w.content, &w.out, &[]);
    let port = serving.base.rsplit(':').next().expect("port").to_owned();
    assert_eq!(get(&serving.url(LOOPS), &[]).status(), 200);
    assert_eq!(get(&serving.url(LOOPS), &[("host", &format!("localhost:{port}"))]).status(), 200);
    // A name re-pointed at this address (DNS rebinding) reads neither pages nor events.
    for path in [LOOPS, "/_live/events?route=/&release=x"] {
        assert_eq!(
            get(&serving.url(path), &[("host", &format!("evil.example:{port}"))]).status(),
            403,
            "{path}"
        );
    }
}
