//! `course generate`: the same seed gives the same bytes, the counts match the spec, the
//! catalogue builds without content errors, and a directory we did not make is refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use generate::{generate, GenerateOptions, Size, MARKER};
use sha2::{Digest, Sha256};

fn theme() -> PathBuf {
    e2e::root().join("content/theme")
}

fn options(out: &Path, seed: u64, size: Size) -> GenerateOptions {
    GenerateOptions { out: out.to_owned(), seed, size, theme: theme(), hugo: None, mdbook: None }
}

/// Every file of a tree (relative path -> SHA-256), including hidden ones.
fn tree(root: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            (rel, hex::encode(Sha256::digest(fs::read(e.path()).expect("read"))))
        })
        .collect()
}

/// All lesson files of a generated tree, concatenated.
fn all_lessons(root: &Path, tree: &BTreeMap<String, String>) -> String {
    tree.keys()
        .filter(|rel| rel.starts_with("courses/") && rel.ends_with(".md"))
        .map(|rel| fs::read_to_string(root.join(rel)).expect("lesson"))
        .collect()
}

#[test]
fn quick_size_is_deterministic_and_matches_the_spec() {
    let work = tempfile::tempdir().expect("tempdir");
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    let summary = generate(&options(&a, 7, Size::Quick)).expect("generate a");
    generate(&options(&b, 7, Size::Quick)).expect("generate b");
    let (tree_a, tree_b) = (tree(&a), tree(&b));
    assert_eq!(tree_a, tree_b, "same seed, same bytes");
    assert_eq!(summary.files, tree_a.len());

    let lessons = tree_a.keys().filter(|r| r.starts_with("courses/") && r.ends_with(".md")).count();
    assert_eq!(lessons, 200);
    let courses = tree_a.keys().filter(|r| r.ends_with("/course.toml")).count();
    assert_eq!(courses, 4);
    let top_level_animations: std::collections::BTreeSet<&str> = tree_a
        .keys()
        .filter_map(|r| r.strip_prefix("animations/"))
        .map(|r| r.split('/').next().expect("name"))
        .collect();
    assert_eq!(top_level_animations.len(), 950);
    let text = all_lessons(&a, &tree_a);
    assert_eq!(text.matches("```quiz\n").count(), 100);
    assert_eq!(text.matches("```animation\n").count(), 950, "each animation shown once");
    let labs: Vec<&str> =
        tree_a.keys().filter_map(|r| r.strip_prefix("labs/")?.strip_suffix("/lab.toml")).collect();
    assert_eq!(labs.len(), 8);
    assert_eq!(text.matches("```lab\n").count(), 8);
    for name in top_level_animations.iter().chain(&labs) {
        assert!(text.contains(&format!("src = \"{name}\"\n")), "{name} is referenced by a lesson");
    }

    // Another seed gives another catalogue (written over the generated tree).
    generate(&options(&a, 8, Size::Quick)).expect("regenerate");
    assert_ne!(tree(&a), tree_b);
}

#[test]
fn generated_catalogue_builds_without_content_errors() {
    let work = tempfile::tempdir().expect("tempdir");
    let content = work.path().join("content");
    generate(&options(&content, 42, Size::Tiny)).expect("generate");
    let options = builder::BuildOptions::new(content, work.path().join("dist"));
    match builder::build(&options) {
        Ok(report) => assert_eq!(report.pages, 20 + 2 + 3, "lessons, courses, index and error pages"),
        Err(builder::BuildError::Content { errors, .. }) => {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("content errors:\n{}", shown.join("\n"));
        }
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn refuses_a_directory_it_did_not_make() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("precious");
    fs::create_dir_all(&out).expect("mkdir");
    fs::write(out.join("notes.md"), "mine").expect("write");
    let err = generate(&options(&out, 1, Size::Tiny)).expect_err("refused");
    assert!(err.to_string().contains(MARKER), "{err}");
    assert_eq!(fs::read_to_string(out.join("notes.md")).expect("untouched"), "mine");

    // An empty directory is fine, and a generated one may be generated over.
    let empty = work.path().join("empty");
    fs::create_dir_all(&empty).expect("mkdir");
    generate(&options(&empty, 1, Size::Tiny)).expect("empty dir");
    fs::write(empty.join("stale.txt"), "x").expect("write");
    generate(&options(&empty, 1, Size::Tiny)).expect("regenerate");
    assert!(!empty.join("stale.txt").exists(), "a generated dir is cleared first");
}

#[test]
fn peers_carry_the_same_lessons() {
    let work = tempfile::tempdir().expect("tempdir");
    let (content, hugo, book) = (work.path().join("c"), work.path().join("hugo"), work.path().join("book"));
    let mut options = options(&content, 5, Size::Tiny);
    options.hugo = Some(hugo.clone());
    options.mdbook = Some(book.clone());
    generate(&options).expect("generate");

    let summary = fs::read_to_string(book.join("src/SUMMARY.md")).expect("SUMMARY.md");
    let mut lessons = 0;
    for (rel, _) in tree(&content).iter().filter(|(r, _)| r.starts_with("courses/") && r.ends_with(".md")) {
        lessons += 1;
        let ours = fs::read_to_string(content.join(rel)).expect("lesson");
        let body = ours.splitn(3, "+++\n").nth(2).and_then(|b| b.strip_prefix('\n')).expect("front matter");
        let under = rel.strip_prefix("courses/").expect("course");
        assert_eq!(fs::read_to_string(book.join("src").join(under)).expect("mdbook page"), body);
        assert!(summary.contains(&format!("]({under})")), "{under} in SUMMARY.md");
        let theirs = fs::read_to_string(hugo.join("content").join(under)).expect("hugo page");
        assert!(theirs.ends_with(body), "{under}: same Markdown body in Hugo");
        assert!(theirs.starts_with(&ours[..ours.len() - body.len() - "+++\n\n".len()]), "same front matter");
    }
    assert_eq!(lessons, 20);
    assert!(hugo.join("hugo.toml").is_file() && book.join("book.toml").is_file());
    assert!(tree(&hugo).keys().any(|r| r.starts_with("static/animations/")));
}
