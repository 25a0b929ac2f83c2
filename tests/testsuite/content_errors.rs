//! Each bad-content fixture under `tests/fixtures/bad/<case>/` overlays the minimal good
//! site (`tests/fixtures/minimal/`) and lists in `expect.txt` the exact errors the build
//! must report (`file:line:col: message`, paths relative to the content root), and in
//! `expect-warnings.txt` the exact warnings (none when it is missing). With errors, the
//! build must fail with all of them and leave the store's channel and releases untouched.
//! With warnings only, it must succeed and count them, and fail the same way with
//! `--deny-warnings`.

use std::fs;
use std::path::{Path, PathBuf};

use e2e::{copy_tree, snapshot};

fn fixtures() -> PathBuf {
    e2e::root().join("tests/fixtures")
}

fn course(content: &Path, out: &Path) -> std::process::Output {
    course_with(content, out, &[])
}

fn course_with(content: &Path, out: &Path, flags: &[&str]) -> std::process::Output {
    e2e::course()
        .arg("build")
        .arg("--content")
        .arg(content)
        .arg("--out")
        .arg(out)
        .args(flags)
        .output()
        .expect("run course")
}

/// The lines of an expectation file with `CONTENT/` (and the start of each line) made the
/// content root; none when the file is missing.
fn expected(file: &Path, root: &str) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines().map(|l| format!("{root}{}", l.replace("CONTENT/", root))).collect()
}

/// What stderr reports with `prefix` (`error: `, `warning: `), in order.
fn reported<'s>(stderr: &'s str, prefix: &str) -> Vec<&'s str> {
    stderr.lines().filter_map(|l| l.strip_prefix(prefix)).collect()
}

fn check_case(case: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    let content = work.path().join("content");
    let out = work.path().join("dist");
    copy_tree(&fixtures().join("minimal"), &content);
    let good = course(&content, &out);
    let good_stderr = String::from_utf8_lossy(&good.stderr);
    assert!(good.status.success(), "the minimal fixture builds: {good_stderr}");
    assert!(!good_stderr.contains("warning"), "the minimal fixture has no warnings: {good_stderr}");
    let channels_before = snapshot(&out.join("channels"));
    let releases_before = snapshot(&out.join("releases"));
    assert_eq!(channels_before.len(), 1);

    let case_dir = fixtures().join("bad").join(case);
    copy_tree(&case_dir, &content);
    // The expected messages are the test's, not content.
    let _ = fs::remove_file(content.join("expect.txt"));
    let _ = fs::remove_file(content.join("expect-warnings.txt"));
    let root = format!("{}/", content.display());
    let errors = expected(&case_dir.join("expect.txt"), &root);
    let warnings = expected(&case_dir.join("expect-warnings.txt"), &root);
    assert!(!errors.is_empty() || !warnings.is_empty(), "{case}: expect.txt or expect-warnings.txt");

    // With errors the build fails; with warnings only, --deny-warnings makes it fail.
    let flags: &[&str] = if errors.is_empty() { &["--deny-warnings"] } else { &[] };
    let bad = course_with(&content, &out, flags);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{case}: content errors exit 1; stderr:\n{stderr}");
    assert_eq!(reported(&stderr, "error: "), errors, "{case}: every error, each exactly once, in order");
    assert_eq!(
        reported(&stderr, "warning: "),
        warnings,
        "{case}: every warning, each exactly once, in order"
    );
    assert!(stderr.contains("no release written"), "{case}: {stderr}");
    assert_eq!(snapshot(&out.join("channels")), channels_before, "{case}: channel untouched");
    assert_eq!(snapshot(&out.join("releases")), releases_before, "{case}: no release written");

    if errors.is_empty() {
        // Warnings alone never fail a build: it publishes, shows and counts them.
        let ok = course(&content, &out);
        let (stdout, stderr) = (String::from_utf8_lossy(&ok.stdout), String::from_utf8_lossy(&ok.stderr));
        assert!(ok.status.success(), "{case}: warnings do not fail the build: {stderr}");
        assert_eq!(reported(&stderr, "warning: "), warnings, "{case}: the same warnings");
        let count = match warnings.len() {
            1 => "1 warning".to_owned(),
            n => format!("{n} warnings"),
        };
        assert!(stdout.lines().any(|l| l == count), "{case}: the report counts them ({count}): {stdout}");
        assert!(stdout.lines().any(|l| l.starts_with("release ")), "{case}: {stdout}");
    }
}

#[test]
fn every_bad_fixture_fails_with_its_messages_and_writes_nothing() {
    let mut cases: Vec<String> = fs::read_dir(fixtures().join("bad"))
        .expect("fixtures/bad")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(cases.len() >= 27, "fixtures present: {cases:?}");
    for case in &cases {
        check_case(case);
    }
}

#[test]
fn missing_content_dir_is_a_clear_error() {
    let work = tempfile::tempdir().expect("tempdir");
    let result = course(&work.path().join("nope"), &work.path().join("dist"));
    assert_eq!(result.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&result.stderr).contains("content directory not found"));
    assert!(!work.path().join("dist").exists());
}
