//! `course publish` end to end, as an author runs it: build, publish to S3 (Garage), a
//! student request through Varnish in front of edge-origin; then a one-lesson fix is
//! rebuilt and published: only its objects upload, only its paths are purged, the origin
//! reloads at once, and Varnish serves the new page while still hitting everything else.

use std::ffi::OsString;
use std::process::Command;

use e2e::garage::{Garage, BUCKET, REGION};
use e2e::varnish::Varnish;
use e2e::{bin, build_ok, copy_tree, get, sample_content, Origin};

fn publish(garage: &Garage, dist: &std::path::Path, extra: &[&str]) -> String {
    let from = ["--from", dist.to_str().expect("utf-8 path")];
    course(garage, "publish", &[&from[..], extra].concat())
}

/// Runs `course <command> --store s3://courses/site --endpoint .. --region ..` with Garage's credentials.
fn course(garage: &Garage, command: &str, extra: &[&str]) -> String {
    let output = Command::new(bin("course"))
        .args([command, "--store", &format!("s3://{BUCKET}/site"), "--endpoint", &garage.endpoint])
        .args(["--region", REGION])
        .args(extra)
        .envs(garage.env())
        .output()
        .expect("run course publish");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "course {command} failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn x_cache(url: &str) -> String {
    get(url, &[]).headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[test]
fn a_one_lesson_fix_reaches_the_edge_and_nothing_else_moves() {
    let garage = Garage::start();
    let work = tempfile::tempdir().expect("tempdir");
    let (content, dist) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&sample_content(), &content);
    let first = build_ok(&content, &dist);
    let out = publish(&garage, &dist, &[]);
    assert!(out.contains(&format!("release {first} (was nothing): now live")), "{out}");

    let origin = Origin::start_with(
        &OsString::from(format!("s3://{BUCKET}/site")),
        &["--endpoint", &garage.endpoint, "--region", REGION, "--poll", "1h", "--admin-token", "admin-t"],
        &garage.env(),
    );
    let varnish = Varnish::start(&origin.base);
    let lesson = "/courses/python-foundations/loops/";
    let other = "/courses/python-foundations/conditions/";
    for page in [lesson, other] {
        assert_eq!(get(&varnish.url(page), &[]).status(), 200);
        assert_eq!(x_cache(&varnish.url(page)), "HIT");
    }

    // A dry run plans and changes nothing.
    let loops = content.join("courses/python-foundations/loops.md");
    let text = std::fs::read_to_string(&loops).expect("lesson");
    std::fs::write(&loops, format!("{text}\nA sentence added by the one-lesson fix.\n")).expect("edit");
    let second = build_ok(&content, &dist);
    let dry = publish(&garage, &dist, &["--dry-run"]);
    assert!(dry.contains("dry run: nothing changed") && dry.contains("invalidation: 3 paths"), "{dry}");
    assert_eq!(
        get(&origin.url("/_origin/ready"), &[]).text().expect("ready").trim(),
        format!("ready {first}")
    );

    let edge = varnish.url("");
    let origin_base = origin.base.clone();
    let out = publish(
        &garage,
        &dist,
        &["--purge", edge.trim_end_matches('/'), "--notify", &origin_base, "--notify-token", "admin-t"],
    );
    assert!(out.contains(&format!("release {second} (was {first}): now live")), "{out}");
    let uploaded: usize = out
        .split_whitespace()
        .skip_while(|w| *w != "uploaded")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("upload count in {out}"));
    assert!(
        (1..=5).contains(&uploaded),
        "a one-lesson fix uploads a handful of objects, not {uploaded}: {out}"
    );
    assert!(out.contains("invalidation: 3 paths"), "exactly the lesson's three forms: {out}");
    for form in [
        "/courses/python-foundations/loops",
        "/courses/python-foundations/loops/",
        "/courses/python-foundations/loops/index.html",
    ] {
        assert!(out.contains(&format!(" {form}")), "{form} in {out}");
    }

    let page = get(&varnish.url(lesson), &[]);
    assert_eq!(page.headers()["x-cache"], "MISS", "the fixed lesson was purged");
    assert!(page.text().expect("page").contains("A sentence added by the one-lesson fix."));
    assert_eq!(x_cache(&varnish.url(other)), "HIT", "everything else stays cached");
    assert_eq!(x_cache(&varnish.url(lesson)), "HIT");

    // Rollback restores the old page at every layer: channel, origin, edge.
    let out = course(
        &garage,
        "rollback",
        &["--purge", edge.trim_end_matches('/'), "--notify", &origin_base, "--notify-token", "admin-t"],
    );
    assert!(out.contains(&format!("channel live: {second} -> {first} (no upload)")), "{out}");
    assert_eq!(
        get(&origin.url("/_origin/ready"), &[]).text().expect("ready").trim(),
        format!("ready {first}")
    );
    let page = get(&varnish.url(lesson), &[]);
    assert_eq!(page.headers()["x-cache"], "MISS");
    assert!(!page.text().expect("page").contains("A sentence added by the one-lesson fix."));
    assert_eq!(x_cache(&varnish.url(other)), "HIT");

    // Promote copies a channel's release to another channel, without uploading.
    let out = course(&garage, "promote", &["--from", "live", "--to", "staging"]);
    assert!(out.contains(&format!("channel staging: nothing -> {first}")), "{out}");

    // History and garbage collection from the CLI.
    let history = course(&garage, "releases", &[]);
    let live: Vec<&str> = history.lines().filter(|l| l.starts_with("live ")).collect();
    assert_eq!(live.len(), 3, "publish, publish, rollback: {history}");
    assert!(live[0].contains(first.as_str()) && live[0].ends_with("(live)"), "{history}");
    let gc = course(&garage, "gc", &["--keep", "0", "--grace", "0s", "--dry-run"]);
    assert!(gc.starts_with("would delete "), "{gc}");
    assert!(!gc.starts_with("would delete 0 "), "the fixed lesson's objects are unreferenced now: {gc}");
}

#[test]
fn the_store_going_down_mid_upload_leaves_the_old_release_live() {
    let mut garage = Garage::start();
    let work = tempfile::tempdir().expect("tempdir");
    let (content, dist) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&e2e::root().join("tests/fixtures/minimal"), &content);
    let first = build_ok(&content, &dist);
    publish(&garage, &dist, &[]);

    // A release with large media, so the upload is still running when the store goes away.
    let lesson = content.join("courses/demo/intro.md");
    let mut text = std::fs::read_to_string(&lesson).expect("lesson");
    for n in 0..4 {
        let big = e2e::pseudo_random(24 << 20, 0x2545_f491_4f6c_dd1d + n);
        std::fs::write(content.join(format!("animations/big-{n}.webm")), big).expect("write media");
        // Only what a page uses is published.
        text.push_str(&format!("\n```animation\nsrc = \"big-{n}.webm\"\n```\n"));
    }
    std::fs::write(&lesson, text).expect("write lesson");
    let second = build_ok(&content, &dist);
    let child = Command::new(bin("course"))
        .args(["publish", "--store", &format!("s3://{BUCKET}/site"), "--endpoint", &garage.endpoint])
        .args(["--region", REGION, "--concurrency", "1", "--from"])
        .arg(&dist)
        .envs(garage.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start publish");
    std::thread::sleep(std::time::Duration::from_millis(700));
    garage.stop();
    let output = child.wait_with_output().expect("publish ends");
    assert!(!output.status.success(), "the publish fails when the store is unreachable");

    garage.restart();
    let origin = Origin::start_with(
        &OsString::from(format!("s3://{BUCKET}/site")),
        &["--endpoint", &garage.endpoint, "--region", REGION],
        &garage.env(),
    );
    assert_eq!(
        get(&origin.url("/_origin/ready"), &[]).text().expect("ready").trim(),
        format!("ready {first}")
    );
    assert_eq!(get(&origin.url("/courses/demo/intro/"), &[]).status(), 200, "the old release is still whole");

    // Re-running finishes the job, and does not upload again what already arrived.
    let out = publish(&garage, &dist, &[]);
    assert!(out.contains(&format!("release {second} (was {first}): now live")), "{out}");
    let skipped: usize = out
        .split(", ")
        .find_map(|part| part.strip_suffix(" already there").and_then(|n| n.trim().parse().ok()))
        .unwrap_or_else(|| panic!("skipped count in {out}"));
    assert!(skipped > 0, "objects uploaded before the outage are not sent again: {out}");
}
