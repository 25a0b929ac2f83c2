//! `course publish` end to end, as an author runs it: build, publish to S3 (Garage), a
//! student request through Varnish in front of edge-origin; then a one-lesson fix is
//! rebuilt and published: only its objects upload, only its paths are purged, the origin
//! reloads at once, and Varnish serves the new page while still hitting everything else.

use std::ffi::OsString;

use e2e::garage::{free_port, Garage, BUCKET, REGION};
use e2e::moto::{create_distribution, invalidations, Moto};
use e2e::varnish::Varnish;
use e2e::{build_ok, copy_tree, get, sample_content, Origin};

fn publish(garage: &Garage, dist: &std::path::Path, extra: &[&str]) -> String {
    let from = ["--from", dist.to_str().expect("utf-8 path")];
    course(garage, "publish", &[&from[..], extra].concat())
}

/// Runs `course <command> --store s3://courses/site --endpoint .. --region ..` with Garage's credentials.
fn course(garage: &Garage, command: &str, extra: &[&str]) -> String {
    let (ok, stdout, stderr) = course_with(garage, command, extra, &[]);
    assert!(ok, "course {command} failed:\n{stdout}{stderr}");
    stdout
}

/// Like [`course`], with more environment, returning (success, stdout, stderr).
fn course_with(
    garage: &Garage,
    command: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let output = e2e::course()
        .args([command, "--store", &format!("s3://{BUCKET}/site"), "--endpoint", &garage.endpoint])
        .args(["--region", REGION])
        .args(extra)
        .envs(garage.env())
        .envs(env.iter().copied())
        .output()
        .expect("run course");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// Appends `line` to a lesson of the content tree.
fn edit(content: &std::path::Path, lesson: &str, line: &str) {
    let path = content.join(format!("courses/python-foundations/{lesson}.md"));
    let text = std::fs::read_to_string(&path).expect("lesson");
    std::fs::write(&path, format!("{text}\n{line}\n")).expect("edit");
}

/// Whether the store holds `key` (relative to the `site` prefix).
fn has_key(garage: &Garage, key: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        client.head_object().bucket(BUCKET).key(format!("site/{key}")).send().await.is_ok()
    })
}

/// The three URL forms of a lesson's page.
fn forms(lesson: &str) -> [String; 3] {
    let page = format!("/courses/python-foundations/{lesson}/");
    [page.trim_end_matches('/').to_owned(), page.clone(), format!("{page}index.html")]
}

/// What else a fix of a public lesson of python-foundations changes: the public search
/// scope's segment list (it names the delta index that now holds the lesson) and the
/// course's save list; and the delta's entry when the release before had a delta too.
fn derived(delta_before: bool) -> Vec<String> {
    let mut routes =
        vec!["/_search/segments.json".to_owned(), "/courses/python-foundations/_offline.json".to_owned()];
    if delta_before {
        routes.push("/_search/delta/pagefind-entry.json".to_owned());
    }
    routes
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
    assert!(dry.contains("dry run: nothing changed") && dry.contains("invalidation: 5 paths"), "{dry}");
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
        (1..=12).contains(&uploaded),
        "a one-lesson fix uploads its page, its search scope's changed index files and its course's save list (with variants), not {uploaded}: {out}"
    );
    assert!(
        out.contains("invalidation: 5 paths"),
        "exactly the lesson's three forms and its two derived routes: {out}"
    );
    for form in [
        "/courses/python-foundations/loops",
        "/courses/python-foundations/loops/",
        "/courses/python-foundations/loops/index.html",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(derived(false))
    {
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
    let mut big_keys = std::collections::BTreeSet::new();
    for n in 0..4 {
        let big = e2e::pseudo_random(24 << 20, 0x2545_f491_4f6c_dd1d + n);
        big_keys.insert(bundle::ObjectKey::of(&big).to_string());
        std::fs::write(content.join(format!("animations/big-{n}.webm")), big).expect("write media");
        // Only what a page uses is published.
        text.push_str(&format!("\n```animation\nsrc = \"big-{n}.webm\"\n```\n"));
    }
    std::fs::write(&lesson, text).expect("write lesson");
    let second = build_ok(&content, &dist);
    let (_, second_manifest) = e2e::live_manifest(&dist);
    let needed: std::collections::BTreeSet<String> =
        second_manifest.objects().into_iter().map(ToString::to_string).collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(garage.client());
    let stored = || rt.block_on(stored_objects(&client));
    let child = e2e::course()
        .args(["publish", "--store", &format!("s3://{BUCKET}/site"), "--endpoint", &garage.endpoint])
        .args(["--region", REGION, "--concurrency", "1", "--from"])
        .arg(&dist)
        .envs(garage.env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start publish");
    // The store goes away once the first large object has arrived, mid-upload of the rest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while stored().is_disjoint(&big_keys) {
        assert!(std::time::Instant::now() < deadline, "no large object arrived within 120 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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

    // Re-running finishes the job and uploads exactly what had not arrived: nothing that
    // did (a large object among it) is sent again.
    let client = rt.block_on(garage.client());
    let arrived: std::collections::BTreeSet<String> =
        rt.block_on(stored_objects(&client)).intersection(&needed).cloned().collect();
    assert!(!arrived.is_disjoint(&big_keys) && !big_keys.is_subset(&arrived), "the outage came mid-upload");
    let out = publish(&garage, &dist, &[]);
    assert!(out.contains(&format!("release {second} (was {first}): now live")), "{out}");
    let count = |suffix: &str| -> usize {
        out.split([',', '\n'])
            .find_map(|part| part.trim().strip_prefix("uploaded ").unwrap_or(part).strip_suffix(suffix))
            .and_then(|n| n.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no `{suffix}` count in {out}"))
    };
    assert_eq!(count(" already there"), arrived.len(), "{out}");
    let uploaded: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("uploaded ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no upload count in {out}"));
    assert_eq!(uploaded, needed.len() - arrived.len(), "{out}");
}

/// The objects under the test store's `site/objects/`, by store-relative key's last part.
async fn stored_objects(client: &aws_sdk_s3::Client) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    let mut pages = client.list_objects_v2().bucket(BUCKET).prefix("site/objects/").into_paginator().send();
    while let Some(page) = pages.next().await {
        let Ok(page) = page else { return keys };
        keys.extend(
            page.contents().iter().filter_map(|o| o.key()?.strip_prefix("site/objects/")).map(str::to_owned),
        );
    }
    keys
}

/// The invalidation after a flip fails (the origin refuses the notify token, so it keeps
/// serving the old release and the purged edge fetches the old page again): the channel
/// is on the new release, and the edge serves the old page. Re-running the same publish
/// finds the release live and must still finish the invalidation (before: "already live",
/// nothing planned, the edge kept the old page for s-maxage + stale); a further re-run
/// invalidates nothing.
#[test]
fn a_failed_invalidation_is_finished_by_a_rerun() {
    let garage = Garage::start();
    let work = tempfile::tempdir().expect("tempdir");
    let (content, dist) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&sample_content(), &content);
    let first = build_ok(&content, &dist);
    publish(&garage, &dist, &[]);
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

    const FIX: &str = "A sentence added by a fix whose invalidation fails.";
    edit(&content, "loops", FIX);
    let second = build_ok(&content, &dist);
    let edge = varnish.url("");
    let edge = edge.trim_end_matches('/');
    let from = dist.to_str().expect("utf-8 path");
    let targets = |token: &'static str| {
        vec!["--from", from, "--purge", edge, "--notify", origin.base.as_str(), "--notify-token", token]
    };
    let (ok, stdout, stderr) = course_with(&garage, "publish", &targets("wrong-token"), &[]);
    assert!(!ok, "the invalidation failed, so the publish reports failure:\n{stdout}{stderr}");
    assert!(stderr.contains("invalidation failed") && stderr.contains("401"), "{stderr}");
    let history = course(&garage, "releases", &[]);
    assert!(
        history.lines().any(|l| l.starts_with("live ") && l.contains(&second) && l.ends_with("(live)")),
        "{history}"
    );
    assert_eq!(
        get(&origin.url("/_origin/ready"), &[]).text().expect("ready").trim(),
        format!("ready {first}")
    );
    assert!(
        !get(&varnish.url(lesson), &[]).text().expect("page").contains(FIX),
        "the edge still has the old page"
    );

    // The re-run: the release is live, and the invalidation it still owes is sent.
    let out = publish(&garage, &dist, &targets("admin-t")[2..]);
    eprintln!("re-run:\n{out}");
    assert!(out.contains(&format!("release {second} (was {second}): already live")), "{out}");
    assert!(out.contains("invalidation: 5 paths"), "the re-run invalidates the missed paths: {out}");
    for form in forms("loops") {
        assert!(out.contains(&format!(" {form}")), "{form} in {out}");
    }
    assert_eq!(
        get(&origin.url("/_origin/ready"), &[]).text().expect("ready").trim(),
        format!("ready {second}")
    );
    let page = get(&varnish.url(lesson), &[]);
    assert_eq!(page.headers()["x-cache"], "MISS", "purged again");
    assert!(page.text().expect("page").contains(FIX), "the edge serves the fix");
    assert_eq!(x_cache(&varnish.url(other)), "HIT", "nothing else was purged");
    assert!(!has_key(&garage, &format!("channels/live.pending/{second}.json")), "the record is cleared");

    // Nothing is owed any more.
    let out = publish(&garage, &dist, &targets("admin-t")[2..]);
    assert!(out.contains("already live") && out.contains("invalidation: 0 paths"), "{out}");
    assert_eq!(x_cache(&varnish.url(lesson)), "HIT", "not purged again");
}

/// CloudFront unreachable during a publish: the next publish (of another fix) invalidates
/// what both changed, once; a re-run sends nothing more. A rollback whose invalidation
/// failed is finished by `course rollback --to <the live release>`.
#[test]
fn invalidations_that_failed_are_carried_into_the_next_flip_and_reruns() {
    let garage = Garage::start();
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (cloudfront, distribution) = rt.block_on(async {
        let client = moto.client().await;
        let distribution = create_distribution(&client).await;
        (client, distribution)
    });
    let listed = || rt.block_on(invalidations(&cloudfront, &distribution));
    let cdn = format!("cloudfront:{distribution}");
    let down = format!("http://127.0.0.1:{}", free_port());
    let (up_env, down_env) = (
        [("AWS_ENDPOINT_URL_CLOUDFRONT", moto.endpoint.as_str())],
        [("AWS_ENDPOINT_URL_CLOUDFRONT", down.as_str())],
    );

    let work = tempfile::tempdir().expect("tempdir");
    let (content, dist) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&sample_content(), &content);
    build_ok(&content, &dist);
    publish(&garage, &dist, &[]);
    let from = dist.to_str().expect("utf-8 path");
    let args = ["--from", from, "--cdn", cdn.as_str()];

    // A fix of `loops`, published while CloudFront is unreachable.
    edit(&content, "loops", "The first fix.");
    let second = build_ok(&content, &dist);
    let (ok, stdout, stderr) = course_with(&garage, "publish", &args, &down_env);
    assert!(!ok, "{stdout}{stderr}");
    assert!(stderr.contains("invalidation failed"), "{stderr}");
    assert!(listed().is_empty());

    // A fix of `conditions` on top: its invalidation covers both lessons.
    edit(&content, "conditions", "The second fix.");
    let third = build_ok(&content, &dist);
    let (ok, stdout, stderr) = course_with(&garage, "publish", &args, &up_env);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("release {third} (was {second}): now live")), "{stdout}");
    let sent = listed();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let expected: std::collections::BTreeSet<String> =
        forms("loops").into_iter().chain(forms("conditions")).chain(derived(true)).collect();
    assert_eq!(sent[0].1, format!("{third}-0"));
    assert_eq!(sent[0].2, expected, "what the failed invalidation missed, and what this fix changed");

    // Re-run: nothing is owed.
    let (ok, stdout, stderr) = course_with(&garage, "publish", &args, &up_env);
    assert!(ok && stdout.contains("invalidation: 0 paths"), "{stdout}{stderr}");
    assert_eq!(listed(), sent, "no new invalidation");

    // A rollback (to the second release) whose invalidation fails, then finished.
    let (ok, stdout, stderr) = course_with(&garage, "rollback", &["--cdn", cdn.as_str()], &down_env);
    assert!(!ok, "{stdout}{stderr}");
    assert!(stderr.contains("invalidation failed"), "{stderr}");
    let (ok, stdout, stderr) =
        course_with(&garage, "rollback", &["--cdn", cdn.as_str(), "--to", second.as_str()], &up_env);
    assert!(ok, "{stdout}{stderr}");
    eprintln!("rollback re-run:\n{stdout}");
    let sent = listed();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let rollback =
        sent.iter().find(|(_, reference, _)| reference.starts_with(second.as_str())).expect("rollback's");
    let diff: std::collections::BTreeSet<String> =
        forms("conditions").into_iter().chain(derived(true)).collect();
    assert_eq!(rollback.2, diff, "the rollback's diff");
    let (ok, stdout, stderr) =
        course_with(&garage, "rollback", &["--cdn", cdn.as_str(), "--to", second.as_str()], &up_env);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(listed().len(), 2, "nothing more to invalidate: {stdout}");
}

/// The remote pointer of channel `live` as JSON.
fn pointer_json(garage: &Garage) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let object = client
            .get_object()
            .bucket(BUCKET)
            .key("site/channels/live.json")
            .send()
            .await
            .expect("get the pointer");
        serde_json::from_slice(&object.body.collect().await.expect("body").into_bytes())
            .expect("pointer json")
    })
}

/// Writes `bytes` at `key` (relative to the `site` prefix).
fn put_key(garage: &Garage, key: &str, bytes: Vec<u8>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let body = aws_sdk_s3::primitives::ByteStream::from(bytes);
        client.put_object().bucket(BUCKET).key(format!("site/{key}")).body(body).send().await.expect("put");
    });
}

fn get_key(garage: &Garage, key: &str) -> Vec<u8> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = garage.client().await;
        let object = client.get_object().bucket(BUCKET).key(format!("site/{key}")).send().await.expect("get");
        object.body.collect().await.expect("body").into_bytes().to_vec()
    })
}

/// The command a failed invalidation says finishes it (the line after "finish it with:").
fn finishing_command(stderr: &str) -> String {
    let after =
        stderr.split("finish it with:").nth(1).unwrap_or_else(|| panic!("no finishing command in {stderr}"));
    after.trim_start().lines().next().unwrap_or_default().trim().to_owned()
}

/// A content tree published once to Garage, an origin on it and Varnish in front.
struct Site {
    garage: Garage,
    _work: tempfile::TempDir,
    content: std::path::PathBuf,
    dist: std::path::PathBuf,
    first: String,
    origin: Origin,
    varnish: Varnish,
}

impl Site {
    fn start() -> Site {
        let garage = Garage::start();
        let work = tempfile::tempdir().expect("tempdir");
        let (content, dist) = (work.path().join("content"), work.path().join("dist"));
        copy_tree(&sample_content(), &content);
        let first = build_ok(&content, &dist);
        publish(&garage, &dist, &[]);
        let origin = Origin::start_with(
            &OsString::from(format!("s3://{BUCKET}/site")),
            &["--endpoint", &garage.endpoint, "--region", REGION, "--poll", "1h", "--admin-token", "admin-t"],
            &garage.env(),
        );
        let varnish = Varnish::start(&origin.base);
        Site { garage, _work: work, content, dist, first, origin, varnish }
    }

    fn edge(&self) -> String {
        self.varnish.url("").trim_end_matches('/').to_owned()
    }

    fn from(&self) -> &str {
        self.dist.to_str().expect("utf-8 path")
    }

    fn ready(&self) -> String {
        get(&self.origin.url("/_origin/ready"), &[]).text().expect("ready").trim().to_owned()
    }
}

/// F6: a rollback whose invalidation failed said "re-run the same command", and running
/// `course rollback` again flipped once more, back to the release the operator rolled
/// away from. Now the error names `course rollback --to <the live release>`, which flips
/// nothing and finishes the invalidation.
#[test]
fn a_failed_rollback_invalidation_names_a_command_that_does_not_flip_again() {
    let site = Site::start();
    edit(&site.content, "loops", "A fix that is rolled back.");
    let second = build_ok(&site.content, &site.dist);
    publish(&site.garage, &site.dist, &[]);

    let down = format!("http://127.0.0.1:{}", free_port());
    let (ok, stdout, stderr) = course_with(&site.garage, "rollback", &["--purge", &down], &[]);
    assert!(!ok, "{stdout}{stderr}");
    assert_eq!(pointer_json(&site.garage)["release"], site.first.as_str(), "the rollback flipped");
    let command = finishing_command(&stderr);
    eprintln!("rollback failed:\n{stderr}\nfinish with: {command}");
    assert!(command.starts_with("course rollback "), "{command}");
    assert!(
        command.contains(&format!("--to {}", site.first)),
        "the command names the live release: {command}"
    );
    assert!(command.contains(&format!("--purge {down}")), "and the target that owes it: {command}");
    assert!(!stderr.contains("re-run the same command"), "{stderr}");

    // The command (with the edge that is up) finishes the job and does not flip.
    let sequence = pointer_json(&site.garage)["sequence"].clone();
    let edge = site.edge();
    let out = course(&site.garage, "rollback", &["--to", &site.first, "--purge", &edge]);
    eprintln!("finished:\n{out}");
    assert_eq!(pointer_json(&site.garage)["release"], site.first.as_str(), "not flipped back to {second}");
    assert_eq!(pointer_json(&site.garage)["sequence"], sequence, "no flip at all");
    // The page's three forms, the save list, the segment list, and the delta's entry
    // (the release rolled back to has no delta).
    assert!(out.contains("invalidation: 6 paths"), "the rollback's paths are purged: {out}");
    assert!(
        out.contains(&format!("channel live: already serves {} (this run flipped nothing)", site.first)),
        "a run that flipped nothing does not report a flip: {out}"
    );
    assert!(out.contains(&format!("purge {edge}")) || out.contains(&edge), "{out}");
}

/// F7 (a): `publish --purge <down>` fails; a later `publish` with no targets printed
/// "finishing the invalidation... 3 paths", sent nothing and deleted the record, so
/// `publish --purge <edge>` then invalidated 0 paths. Now a run without targets keeps
/// the record and says what is still owed; the run with the edge purges the 5 paths.
#[test]
fn a_run_without_targets_never_drops_an_owed_invalidation() {
    let site = Site::start();
    const FIX: &str = "A fix whose purge failed.";
    edit(&site.content, "loops", FIX);
    let second = build_ok(&site.content, &site.dist);
    let lesson = "/courses/python-foundations/loops/";
    assert_eq!(x_cache(&site.varnish.url(lesson)), "MISS");
    assert_eq!(x_cache(&site.varnish.url(lesson)), "HIT");

    let down = format!("http://127.0.0.1:{}", free_port());
    let (ok, stdout, stderr) =
        course_with(&site.garage, "publish", &["--from", site.from(), "--purge", &down], &[]);
    assert!(!ok && stderr.contains("invalidation failed"), "{stdout}{stderr}");
    let record = format!("channels/live.pending/{second}.json");
    assert!(has_key(&site.garage, &record));

    let (ok, stdout, stderr) = course_with(&site.garage, "publish", &["--from", site.from()], &[]);
    eprintln!("without targets:\n{stdout}{stderr}");
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("already live"), "{stdout}");
    assert!(stdout.contains("still owed by") && stdout.contains(&format!("purge:{down}")), "{stdout}");
    assert!(has_key(&site.garage, &record), "a run that sent nothing keeps the record");
    assert_eq!(x_cache(&site.varnish.url(lesson)), "HIT", "nothing was purged");

    let edge = site.edge();
    let out = publish(&site.garage, &site.dist, &["--purge", &edge]);
    eprintln!("with the edge:\n{out}");
    assert!(out.contains("invalidation: 5 paths"), "the owed paths are sent: {out}");
    let page = get(&site.varnish.url(lesson), &[]);
    assert_eq!(page.headers()["x-cache"], "MISS", "purged");
    assert!(out.contains(&format!("purge:{down}")), "the down edge still owes it: {out}");
    assert!(has_key(&site.garage, &record), "the down edge was never reached: the record stays");
}

/// F7 (b): `publish --purge <edge> --notify <origin> --notify-token WRONG` fails at the
/// origin; `publish --purge <edge>` then succeeded and cleared the record, and the origin
/// stayed on the old release for good. Now the record keeps the notify owed until a run
/// that notifies succeeds.
#[test]
fn a_run_with_other_targets_clears_only_its_own() {
    let site = Site::start();
    const FIX: &str = "A fix whose notify failed.";
    edit(&site.content, "loops", FIX);
    let second = build_ok(&site.content, &site.dist);
    let edge = site.edge();
    let origin = site.origin.base.clone();
    let targets = |token: &'static str| {
        vec!["--purge", edge.as_str(), "--notify", origin.as_str(), "--notify-token", token]
    };

    let wrong = [&["--from", site.from()][..], &targets("wrong-token")[..]].concat();
    let (ok, stdout, stderr) = course_with(&site.garage, "publish", &wrong, &[]);
    assert!(!ok && stderr.contains("401"), "{stdout}{stderr}");
    let command = finishing_command(&stderr);
    assert!(command.contains(&format!("--notify {origin}")) && !command.contains("--purge"), "{command}");
    let record = format!("channels/live.pending/{second}.json");

    let out = publish(&site.garage, &site.dist, &["--purge", &edge]);
    eprintln!("purge only:\n{out}");
    assert!(out.contains("still owed by") && out.contains(&format!("notify:{origin}")), "{out}");
    assert!(has_key(&site.garage, &record), "the origin was never told: the record stays");
    assert_eq!(site.ready(), format!("ready {}", site.first));

    let right = [&["--from", site.from()][..], &targets("admin-t")[..]].concat();
    let (ok, stdout, stderr) = course_with(&site.garage, "publish", &right, &[]);
    eprintln!("all targets:\n{stdout}{stderr}");
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(site.ready(), format!("ready {second}"), "the origin serves the fix");
    let page = get(&site.varnish.url("/courses/python-foundations/loops/"), &[]);
    assert!(page.text().expect("page").contains(FIX), "the edge serves the fix");
    assert!(!has_key(&site.garage, &record), "every target is done: the record is gone");
}

/// F12: a pointer whose sequence is the largest u64 made publish and rollback panic
/// (overflow, exit 101). Now both refuse it with an error.
#[test]
fn a_pointer_at_the_largest_sequence_is_refused_not_a_panic() {
    let garage = Garage::start();
    let work = tempfile::tempdir().expect("tempdir");
    let (content, dist) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&sample_content(), &content);
    build_ok(&content, &dist);
    publish(&garage, &dist, &[]);
    edit(&content, "loops", "A second release.");
    build_ok(&content, &dist);
    publish(&garage, &dist, &[]);
    let mut pointer = pointer_json(&garage);
    pointer["sequence"] = serde_json::json!(u64::MAX);
    put_key(&garage, "channels/live.json", serde_json::to_vec(&pointer).expect("json"));

    edit(&content, "loops", "A third release.");
    build_ok(&content, &dist);
    let from = dist.to_str().expect("utf-8 path");
    for (command, args) in [("publish", vec!["--from", from]), ("rollback", vec![])] {
        let (ok, stdout, stderr) = course_with(&garage, command, &args, &[]);
        eprintln!("{command}:\n{stdout}{stderr}");
        assert!(!ok, "{command}: {stdout}{stderr}");
        assert!(!stderr.contains("panicked"), "{command} panicked: {stderr}");
        assert!(stderr.contains("the largest there is"), "{command}: {stderr}");
    }
    assert_eq!(pointer_json(&garage), pointer, "nothing was changed");
}

/// F15: a pending record whose `since` lists 200,000 releases made a publish read each
/// one's manifest in turn (minutes). Above 64 the plan is "everything", read from nothing.
#[test]
fn a_huge_pending_record_does_not_stall_a_publish() {
    let garage = Garage::start();
    let work = tempfile::tempdir().expect("tempdir");
    let (content, dist) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&sample_content(), &content);
    build_ok(&content, &dist);
    publish(&garage, &dist, &[]);
    edit(&content, "loops", "A fix.");
    let second = build_ok(&content, &dist);
    let down = format!("http://127.0.0.1:{}", free_port());
    let from = dist.to_str().expect("utf-8 path");
    let (ok, stdout, stderr) = course_with(&garage, "publish", &["--from", from, "--purge", &down], &[]);
    assert!(!ok, "{stdout}{stderr}");
    let since: Vec<String> = (0..200_000u64).map(|i| format!("{i:020x}")).collect();
    // And far more targets than any deployment has (a damaged or hostile record): they are
    // not copied into every later record and command.
    let mut targets: Vec<String> = (0..5_000).map(|i| format!("purge:http://127.0.0.1:1/e{i:04}")).collect();
    targets.insert(0, format!("purge:{down}"));
    let record = serde_json::json!({ "release": second, "since": since, "targets": targets });
    put_key(
        &garage,
        &format!("channels/live.pending/{second}.json"),
        serde_json::to_vec(&record).expect("json"),
    );

    let started = std::time::Instant::now();
    let args = [
        "publish",
        "--store",
        "s3://courses/site",
        "--endpoint",
        garage.endpoint.as_str(),
        "--region",
        REGION,
        "--from",
        from,
    ];
    let out = e2e::publishing::Running::start("publish", &args, &garage.env())
        .finish(std::time::Duration::from_secs(60));
    let took = started.elapsed();
    eprintln!("took {took:?}:\n{}{}", out.stdout, out.stderr);
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("already live"), "{}", out.stdout);
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    assert!(out.stderr.contains("too many earlier releases"), "{}", out.stderr);
    assert!(out.stdout.len() + out.stderr.len() < 200_000, "the output stays bounded");
    assert!(out.stderr.contains("more targets than any deployment has"), "{}", out.stderr);

    // A further release's record carries at most the bound of the old targets.
    edit(&content, "loops", "Another fix.");
    let third = build_ok(&content, &dist);
    let (_ok, _stdout, _stderr) = course_with(&garage, "publish", &["--from", from, "--purge", &down], &[]);
    let record: serde_json::Value =
        serde_json::from_slice(&get_key(&garage, &format!("channels/live.pending/{third}.json")))
            .expect("the third release's record");
    let carried = record["targets"].as_array().expect("targets").len();
    assert!(carried <= builder::release::publish::pending::MAX_TARGETS + 1, "{carried} targets carried");
}
