//! The sample catalogue, built and served through edge-origin as the README's run command
//! does, loads in headless chromium: the site index, lessons with a quiz, each kind of
//! animation and a lab, with no console errors and no failed sub-resource (frames
//! included), and their interactive parts work.

use std::path::Path;
use std::process::Command;

use e2e::{build_ok, live_manifest, require_tool, root, sample_content, Origin};
use serde_json::{json, Value};

/// The first lesson page whose HTML contains `marker`.
fn page_with(store: &Path, marker: &str) -> String {
    let (_, manifest) = live_manifest(store);
    manifest
        .routes
        .iter()
        .filter(|(route, r)| route.starts_with("/courses/") && r.content_type.starts_with("text/html"))
        .find(|(_, r)| {
            let html = std::fs::read_to_string(store.join("objects").join(r.object.as_str())).expect("page");
            html.contains(marker)
        })
        .map(|(route, _)| route.clone())
        .unwrap_or_else(|| panic!("no lesson contains {marker:?}"))
}

/// The `answer = N` of each question of the lesson's (first) quiz block, in order.
fn quiz_answers(lesson: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(lesson).expect("lesson");
    let block =
        text.split("```quiz").nth(1).and_then(|rest| rest.split("\n```").next()).expect("a quiz block");
    block.lines().filter_map(|line| line.trim().strip_prefix("answer = ")?.trim().parse().ok()).collect()
}

/// JS that clicks choice `answers[i]` of question `i` of the page's quiz and submits it.
fn answer_with(answers: &[usize]) -> String {
    format!(
        "(() => {{ const answers = {answers:?}; const form = document.querySelector('form.quiz'); \
         form.querySelectorAll('fieldset.quiz-question').forEach((q, i) => \
         q.querySelector(`input[value=\"${{answers[i]}}\"]`).click()); form.requestSubmit(); }})()"
    )
}

#[test]
fn sample_pages_load_cleanly_in_chromium() {
    require_tool("chromium", "apt-get install -y chromium");
    require_tool("node", "apt-get install -y nodejs npm");
    let browser_dir = root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing; install it with: (cd tests/browser && npm ci) (or run scripts/test)"
    );

    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    // As `course serve` does: a local preview, where enrolled courses open without a grant.
    let origin = Origin::start(store.path(), &["--preview"]);

    // The quiz is answered from its source (the lesson's TOML), not from the page the
    // scorer reads: a page that marked the wrong choice as the answer fails.
    let quiz = "/courses/python-foundations/hello-python/";
    let right = quiz_answers(&sample_content().join("courses/python-foundations/hello-python.md"));
    assert_eq!(right.len(), 3, "the sample quiz has three questions");
    let mut one_wrong = right.clone();
    one_wrong[0] = if right[0] == 0 { 1 } else { 0 };
    let lottie = page_with(store.path(), "data-lottie-src");
    let video = page_with(store.path(), "<video");
    let svg = page_with(store.path(), "class=\"animation animation-svg\"");
    let lab = page_with(store.path(), "<iframe");
    let enrolled = page_with(store.path(), "/courses/data-structures/");

    let spec = json!([
        { "path": "/", "checks": { "lists courses": "document.querySelectorAll('a[href^=\"/courses/\"]').length >= 3" } },
        { "path": "/courses/python-foundations/", "checks": { "lists lessons": "document.querySelectorAll('a[href^=\"/courses/python-foundations/\"]').length >= 3" } },
        {
            "path": "/courses/data-structures/sorting-basics/",
            "checks": {
                "a right-aligned column, by the theme's class": "getComputedStyle(document.querySelector('td.align-right')).textAlign === 'right'",
                "a centred one": "getComputedStyle(document.querySelector('th.align-center')).textAlign === 'center'"
            }
        },
        {
            "path": quiz,
            "actions": [answer_with(&right)],
            "checks": {
                "the source's questions": format!("document.querySelectorAll('form.quiz fieldset.quiz-question').length === {}", right.len()),
                "feedback shown": "[...document.querySelectorAll('.quiz-feedback')].every(p => p.textContent.trim().length > 0)",
                "full score": format!("document.querySelector('.quiz-score').textContent.includes('{n} of {n} correct')", n = right.len()),
                "every question marked right": format!("document.querySelectorAll('fieldset.quiz-question.is-correct').length === {}", right.len())
            }
        },
        {
            "path": quiz,
            "actions": [answer_with(&one_wrong)],
            "checks": {
                "one short": format!("document.querySelector('.quiz-score').textContent.includes('{} of {} correct')", right.len() - 1, right.len()),
                "the wrong one is marked": "document.querySelector('fieldset.quiz-question').classList.contains('is-incorrect')"
            }
        },
        {
            "path": lottie,
            "settle_ms": 1500,
            "checks": { "lottie rendered": "document.querySelectorAll('[data-lottie-src] svg').length === document.querySelectorAll('[data-lottie-src]').length" }
        },
        {
            "path": video,
            "settle_ms": 1500,
            "checks": { "video metadata loaded": "[...document.querySelectorAll('video')].every(v => v.readyState >= 1 && v.duration > 0)" }
        },
        {
            "path": svg,
            "checks": { "svg decoded": "[...document.querySelectorAll('.animation-svg img')].every(i => i.complete && i.naturalWidth > 0)" }
        },
        {
            "path": lab,
            "settle_ms": 1000,
            "actions": ["document.querySelectorAll('iframe').forEach(f => f.scrollIntoView())"],
            "checks": { "lab app loaded": "[...document.querySelectorAll('.lab iframe')].every(f => f.contentDocument && f.contentDocument.readyState === 'complete' && f.contentDocument.body.children.length > 0)" }
        },
        { "path": enrolled, "checks": { "has content": "document.querySelector('main') !== null" } },
        { "path": "/no/such/page/", "checks": { "theme 404": "document.body.textContent.length > 100" } }
    ]);
    let spec_file = store.path().join("browser-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec_pretty(&spec).expect("json")).expect("write spec");

    let output = Command::new("node")
        .current_dir(&browser_dir)
        .arg("check-pages.mjs")
        .arg(&origin.base)
        .arg(&spec_file)
        .output()
        .expect("run node");
    assert!(output.status.success(), "browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Value = serde_json::from_slice(&output.stdout).expect("browser results are JSON");
    let pages = results.as_array().expect("array");
    assert_eq!(pages.len(), spec.as_array().expect("spec").len(), "a result for every page asked for");
    let mut failures = Vec::new();
    for page in pages {
        let path = page["path"].as_str().unwrap_or_default();
        let status = page["status"].as_u64().unwrap_or_default();
        let expected = if path == "/no/such/page/" { 404 } else { 200 };
        if status != expected {
            failures.push(format!("{path}: status {status}, expected {expected}"));
        }
        for problem in page["problems"].as_array().expect("problems") {
            let problem = problem.as_str().unwrap_or_default();
            // The deliberately missing page itself answers 404 (chromium logs that to the
            // console too); a sub-resource 404 would still show as its own `HTTP 404: <url>`.
            let the_page_itself = expected == 404
                && ((problem.starts_with("HTTP 404") && problem.ends_with(path))
                    || problem
                        .contains("Failed to load resource: the server responded with a status of 404"));
            if !the_page_itself {
                failures.push(format!("{path}: {problem}"));
            }
        }
        for (check, ok) in page["checks"].as_object().expect("checks") {
            if ok != &Value::Bool(true) {
                failures.push(format!("{path}: check failed: {check}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "browser problems:\n{}\n(origin log:\n{})",
        failures.join("\n"),
        origin.log()
    );
    // The lab page embeds the lab app from its bundle.
    let lab_page = results.as_array().expect("array").iter().find(|p| p["path"] == lab).expect("lab page");
    assert!(lab_page["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .any(|f| f.as_str().unwrap_or("").contains("/labs/")));
}

/// A signed URL opened in a browser: the first page sets the grant as cookies for the course
/// and drops it from the address bar, so the page's own links (which never carry the query)
/// keep working, with their images, while grants are enforced as in production.
#[test]
fn a_signed_url_opens_the_whole_course_in_chromium() {
    require_tool("chromium", "apt-get install -y chromium");
    let browser_dir = root().join("tests/browser");
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let keys = tempfile::tempdir().expect("tempdir");
    let made = e2e::course()
        .args(["keys", "new", "--id", "KBROWSER", "--out"])
        .arg(keys.path())
        .output()
        .expect("course keys new");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let trust = format!("KBROWSER={}", keys.path().join("KBROWSER.pub.pem").display());
    let origin = Origin::start(store.path(), &["--trusted-key", &trust]);
    let signed = e2e::course()
        .args(["sign", "--key-pair-id", "KBROWSER", "--ttl", "10m", "--key"])
        .arg(keys.path().join("KBROWSER.pem"))
        .arg("--url-prefix")
        .arg(format!("{}/courses/data-structures/", origin.base))
        .output()
        .expect("course sign");
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let url = String::from_utf8_lossy(&signed.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("url: ").map(str::to_owned))
        .expect("a signed URL");
    let query = url.split_once('?').expect("query").1.to_owned();
    let start = "/courses/data-structures/stacks/";
    let next = "/courses/data-structures/queues/";

    let spec = json!([{
        "path": format!("{start}?{query}"),
        "actions": ["location.href = document.querySelector('link[rel=next]').href"],
        "settle_ms": 1500,
        "checks": {
            "the next lesson opened from its plain link": format!("location.pathname === '{next}' && location.search === ''"),
            "its content is there": "document.querySelector('main h1') !== null",
            "its images loaded": "[...document.images].length > 0 && [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        }
    }]);
    let spec_file = store.path().join("signed-spec.json");
    std::fs::write(&spec_file, serde_json::to_vec_pretty(&spec).expect("json")).expect("write spec");
    let output = Command::new("node")
        .current_dir(&browser_dir)
        .arg("check-pages.mjs")
        .arg(&origin.base)
        .arg(&spec_file)
        .output()
        .expect("run node");
    assert!(output.status.success(), "browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Value = serde_json::from_slice(&output.stdout).expect("browser results are JSON");
    let page = &results[0];
    assert_eq!(page["status"], 200, "{page:#}");
    assert_eq!(page["problems"], json!([]), "{page:#}\n{}", origin.log());
    for (check, ok) in page["checks"].as_object().expect("checks") {
        assert_eq!(ok, &Value::Bool(true), "{check}: {page:#}\n{}", origin.log());
    }
}
