//! Each bad-content fixture under `tests/fixtures/bad/<case>/` overlays the minimal good
//! site (`tests/fixtures/minimal/`) and lists in `expect.txt` the exact errors the build
//! must report (`file:line:col: message`, paths relative to the content root). The build
//! must fail with all of them and leave the store's channel and releases untouched.

use std::fs;
use std::path::{Path, PathBuf};

use e2e::copy_tree;

fn fixtures() -> PathBuf {
    e2e::root().join("tests/fixtures")
}

fn course(content: &Path, out: &Path) -> std::process::Output {
    e2e::course()
        .arg("build")
        .arg("--content")
        .arg(content)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run course")
}

/// Files of a store directory (names and bytes), for before/after comparison.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_owned(), fs::read(e.path()).expect("read")))
        .collect();
    files.sort();
    files
}

fn check_case(case: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    let content = work.path().join("content");
    let out = work.path().join("dist");
    copy_tree(&fixtures().join("minimal"), &content);
    let good = course(&content, &out);
    assert!(good.status.success(), "the minimal fixture builds: {}", String::from_utf8_lossy(&good.stderr));
    let channels_before = snapshot(&out.join("channels"));
    let releases_before = snapshot(&out.join("releases"));
    assert_eq!(channels_before.len(), 1);

    let case_dir = fixtures().join("bad").join(case);
    copy_tree(&case_dir, &content);
    // The expected messages are the test's, not content.
    let _ = fs::remove_file(content.join("expect.txt"));
    let bad = course(&content, &out);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{case}: content errors exit 1; stderr:\n{stderr}");

    let expected = fs::read_to_string(case_dir.join("expect.txt")).expect("expect.txt");
    let root = format!("{}/", content.display());
    let reported: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("error: ")).collect();
    let wanted: Vec<String> =
        expected.lines().map(|l| format!("{root}{}", l.replace("CONTENT/", &root))).collect();
    assert_eq!(reported, wanted, "{case}: every error, each exactly once, in order");
    assert!(stderr.contains("no release written"), "{case}: {stderr}");

    assert_eq!(snapshot(&out.join("channels")), channels_before, "{case}: channel untouched");
    assert_eq!(snapshot(&out.join("releases")), releases_before, "{case}: no release written");
}

#[test]
fn every_bad_fixture_fails_with_its_messages_and_writes_nothing() {
    let mut cases: Vec<String> = fs::read_dir(fixtures().join("bad"))
        .expect("fixtures/bad")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "fixtures present: {cases:?}");
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
