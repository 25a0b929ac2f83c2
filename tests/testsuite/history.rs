//! Release history and garbage collection (`builder::release::history`) against a real Garage S3:
//! the claims every flip leaves are listed as each channel's history, newest first; gc
//! deletes exactly the objects that only old releases name, never the live or another
//! channel's release, and a dry run, the `max_delete` guard and the grace period delete
//! nothing.
//!
//! The publisher reads AWS credentials from the process environment, so the tests here
//! take turns (one lock) and set them while holding it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::MutexGuard;
use std::time::Duration;

use builder::release::history::{gc, releases, GcPlan, ReleaseEntry};
use builder::release::publish::{
    publish, PublishOptions, DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD, FAIL_AFTER_ENV, PAUSE_ENV,
};
use bundle::{Manifest, ReleaseId};
use e2e::garage::{Garage, BUCKET, REGION};
use e2e::{build_ok, copy_tree, live_manifest, sample_content};
use store::{S3Options, StoreSpec};

const PREFIX: &str = "site";

fn start() -> (MutexGuard<'static, ()>, Garage, tokio::runtime::Runtime) {
    e2e::in_process_garage()
}

fn options(garage: &Garage, from: &Path, channel: &str) -> PublishOptions {
    PublishOptions {
        from: from.to_owned(),
        store: StoreSpec::S3 { bucket: BUCKET.to_owned(), prefix: PREFIX.to_owned() },
        s3: S3Options { endpoint: Some(garage.endpoint.clone()), region: Some(REGION.to_owned()) },
        channel: channel.to_owned(),
        concurrency: DEFAULT_CONCURRENCY,
        multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
        dry_run: false,
        progress: false,
    }
}

/// A release of the sample content with one lesson edited (`None`: unedited), built into
/// its own store: (store, release id, manifest).
fn build(edit: Option<&str>) -> (tempfile::TempDir, ReleaseId, Manifest) {
    build_lesson("loops", edit)
}

/// Like [`build`], editing the python-foundations lesson `lesson`.
fn build_lesson(lesson: &str, edit: Option<&str>) -> (tempfile::TempDir, ReleaseId, Manifest) {
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    if let Some(line) = edit {
        let lesson = content.path().join(format!("courses/python-foundations/{lesson}.md"));
        let text = std::fs::read_to_string(&lesson).expect("lesson");
        std::fs::write(&lesson, format!("{text}\n{line}\n")).expect("edit");
    }
    let store = tempfile::tempdir().expect("tempdir");
    let release = build_ok(content.path(), store.path());
    let (live, manifest) = live_manifest(store.path());
    assert_eq!(live, release);
    (store, release.parse().expect("release id"), manifest)
}

/// Every store-relative key under `objects/`.
async fn remote_objects(client: &aws_sdk_s3::Client) -> BTreeSet<String> {
    let mut pages =
        client.list_objects_v2().bucket(BUCKET).prefix(format!("{PREFIX}/objects/")).into_paginator().send();
    let mut keys = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("list");
        for key in page.contents().iter().filter_map(|o| o.key()) {
            keys.insert(key.strip_prefix(&format!("{PREFIX}/")).expect("under the prefix").to_owned());
        }
    }
    keys
}

async fn has_manifest(client: &aws_sdk_s3::Client, release: &ReleaseId) -> bool {
    client.head_object().bucket(BUCKET).key(format!("{PREFIX}/releases/{release}.json")).send().await.is_ok()
}

fn keys_of(manifest: &Manifest) -> BTreeSet<String> {
    manifest.objects().into_iter().map(|k| format!("objects/{k}")).collect()
}

fn channel<'a>(entries: &'a [ReleaseEntry], name: &str) -> Vec<&'a ReleaseEntry> {
    entries.iter().filter(|e| e.channel == name).collect()
}

fn show(what: &str, plan: &GcPlan) {
    eprintln!(
        "{what}: keep {:?}, delete {} objects ({} bytes), {} too young, manifests {:?}",
        plan.keep.iter().map(ReleaseId::as_str).collect::<Vec<_>>(),
        plan.delete.len(),
        plan.bytes,
        plan.too_young,
        plan.manifests.iter().map(ReleaseId::as_str).collect::<Vec<_>>()
    );
}

#[test]
fn history_lists_every_flip_and_gc_deletes_only_what_old_releases_name() {
    let (_guard, garage, rt) = start();
    let (first_store, first, first_m) = build(None);
    let (second_store, second, second_m) = build(Some("A second release."));
    let (third_store, third, third_m) = build(Some("A third release."));
    let (preview_store, preview, preview_m) = build(Some("A preview of something else."));
    std::fs::copy(
        preview_store.path().join("channels/live.json"),
        preview_store.path().join("channels/preview.json"),
    )
    .expect("preview channel");
    let distinct: BTreeSet<&ReleaseId> = [&first, &second, &third, &preview].into_iter().collect();
    assert_eq!(distinct.len(), 4, "four different releases");

    rt.block_on(async {
        let client = garage.client().await;
        assert!(releases(&client, BUCKET, PREFIX).await.expect("empty history").is_empty());

        for store in [&first_store, &second_store, &third_store] {
            let report = publish(&options(&garage, store.path(), "live")).await.expect("publish live");
            assert!(report.flipped);
        }
        let report =
            publish(&options(&garage, preview_store.path(), "preview")).await.expect("publish preview");
        assert!(report.flipped);

        // History: newest first, sequences from the claims, the live one marked.
        let entries = releases(&client, BUCKET, PREFIX).await.expect("releases");
        for entry in &entries {
            eprintln!("{entry:?}");
        }
        let live = channel(&entries, "live");
        assert_eq!(live.iter().map(|e| e.sequence).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(live.iter().map(|e| &e.release).collect::<Vec<_>>(), [&third, &second, &first]);
        assert_eq!(live.iter().map(|e| e.live).collect::<Vec<_>>(), [true, false, false]);
        for (entry, manifest) in live.iter().zip([&third_m, &second_m, &first_m]) {
            assert_eq!(entry.routes, manifest.routes.len());
            assert_eq!(entry.objects, manifest.objects().len());
            let at = entry.published_at.as_deref().expect("a publication time");
            aws_sdk_s3::primitives::DateTime::from_str(at, aws_sdk_s3::primitives::DateTimeFormat::DateTime)
                .unwrap_or_else(|e| panic!("{at:?} is not RFC 3339: {e}"));
        }
        let on_preview = channel(&entries, "preview");
        assert_eq!(on_preview.len(), 1);
        assert_eq!((on_preview[0].sequence, &on_preview[0].release, on_preview[0].live), (1, &preview, true));
        assert_eq!(entries.len(), 4);

        // The plan: objects only the two older live releases name.
        let kept: BTreeSet<String> = keys_of(&third_m).union(&keys_of(&preview_m)).cloned().collect();
        let old: BTreeSet<String> = keys_of(&first_m).union(&keys_of(&second_m)).cloned().collect();
        let expected: Vec<String> = old.difference(&kept).cloned().collect();
        assert!(!expected.is_empty(), "the edits left objects behind");
        let before = remote_objects(&client).await;
        assert!(before.is_superset(&old) && before.is_superset(&kept));

        let dry = gc(&client, BUCKET, PREFIX, 1, Duration::ZERO, usize::MAX, true).await.expect("dry run");
        show("dry run", &dry);
        assert_eq!(dry.delete, expected);
        let mut keep = vec![third.clone(), preview.clone()];
        keep.sort();
        assert_eq!(dry.keep, keep);
        assert_eq!(dry.too_young, 0);
        let mut manifests = vec![first.clone(), second.clone()];
        manifests.sort();
        assert_eq!(dry.manifests, manifests, "the old releases lose objects");
        assert!(dry.bytes > 0);
        assert_eq!(remote_objects(&client).await, before, "a dry run deletes nothing");

        // The guard: one object over the limit aborts the whole run.
        let err = gc(&client, BUCKET, PREFIX, 1, Duration::ZERO, expected.len() - 1, false)
            .await
            .expect_err("over max_delete");
        eprintln!("guard: {err:#}");
        assert!(format!("{err:#}").contains("nothing was deleted"), "{err:#}");
        assert_eq!(remote_objects(&client).await, before, "the guard deletes nothing");
        assert!(has_manifest(&client, &first).await && has_manifest(&client, &second).await);

        // A long grace period spares everything just uploaded.
        let young = gc(&client, BUCKET, PREFIX, 1, Duration::from_secs(3600), usize::MAX, false)
            .await
            .expect("grace");
        show("long grace", &young);
        assert!(young.delete.is_empty() && young.manifests.is_empty() && young.bytes == 0);
        assert_eq!(remote_objects(&client).await, before, "nothing is older than the grace period");

        // The real run.
        let plan = gc(&client, BUCKET, PREFIX, 1, Duration::ZERO, expected.len(), false).await.expect("gc");
        show("gc", &plan);
        assert_eq!(plan, dry, "the run does what the dry run planned");
        let after = remote_objects(&client).await;
        let removed: Vec<String> = before.difference(&after).cloned().collect();
        assert_eq!(removed, expected, "exactly the planned objects are gone");
        assert!(after.is_superset(&kept), "every object of the kept releases is still there");
        assert!(has_manifest(&client, &third).await && has_manifest(&client, &preview).await);
        assert!(!has_manifest(&client, &first).await && !has_manifest(&client, &second).await);

        // The history is still whole; collected releases show no counts.
        let entries = releases(&client, BUCKET, PREFIX).await.expect("releases after gc");
        let live = channel(&entries, "live");
        assert_eq!(live.iter().map(|e| e.sequence).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(live[0].objects, third_m.objects().len());
        assert_eq!((live[1].routes, live[1].objects, live[2].objects), (0, 0, 0));

        // Again: nothing left to collect.
        let again = gc(&client, BUCKET, PREFIX, 1, Duration::ZERO, 0, false).await.expect("gc again");
        assert!(again.delete.is_empty() && again.manifests.is_empty());
        assert_eq!(remote_objects(&client).await, after);
    });
}

/// Publishes `first` then `second` to `live`, starts a real gc (keep 0, no grace) and,
/// while it is paused after planning, runs a publish of `during` that stops after its
/// manifest (as if gc had caught it mid-publish); returns the gc's plan and the objects
/// in the store after it.
fn gc_while_publishing(
    garage: &Garage,
    rt: &tokio::runtime::Runtime,
    stores: [&Path; 3],
    planned: &BTreeSet<String>,
) -> (GcPlan, BTreeSet<String>) {
    let [first, second, during] = stores;
    let dir = tempfile::tempdir().expect("tempdir");
    let (go, go_reached) = (dir.path().join("go"), dir.path().join("go.reached"));
    rt.block_on(async {
        let client = garage.client().await;
        for store in [first, second] {
            publish(&options(garage, store, "live")).await.expect("publish");
        }
        let dry = gc(&client, BUCKET, PREFIX, 0, Duration::ZERO, usize::MAX, true).await.expect("dry run");
        assert!(planned.iter().all(|k| dry.delete.contains(k)), "gc plans to delete {planned:?}");

        std::env::set_var(PAUSE_ENV, format!("gc-planned:{}", go.display()));
        let gc_client = client.clone();
        let collecting = tokio::spawn(async move {
            gc(&gc_client, BUCKET, PREFIX, 0, Duration::ZERO, usize::MAX, false).await
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !go_reached.exists() {
            assert!(std::time::Instant::now() < deadline, "gc never finished planning");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::env::set_var(FAIL_AFTER_ENV, "manifest");
        let err = publish(&options(garage, during, "live")).await.expect_err("injected");
        std::env::remove_var(FAIL_AFTER_ENV);
        assert!(format!("{err:#}").contains("manifest"), "{err:#}");
        std::fs::write(&go, b"go").expect("let gc go on");
        let plan = collecting.await.expect("the gc task").expect("gc");
        std::env::remove_var(PAUSE_ENV);
        show("gc while a publish uploaded", &plan);
        (plan, remote_objects(&client).await)
    })
}

/// gc plans, then (before it deletes anything) a publish uploads a new release whose
/// manifest names objects the plan would delete: old objects that only an old release
/// named (here: the unedited `loops` page, which the new release has again). gc re-lists
/// `releases/` right before deleting and spares every object such a release names.
#[test]
fn gc_spares_what_a_release_uploaded_while_it_planned_names() {
    let (_guard, garage, rt) = start();
    let (first_store, _first, first_m) = build(None);
    let (second_store, _second, second_m) = build(Some("A second release."));
    // Unedited loops (as in the first release), another lesson edited.
    let (third_store, third, third_m) = build_lesson("conditions", Some("A third release."));
    let (second_keys, third_keys) = (keys_of(&second_m), keys_of(&third_m));
    let revived: BTreeSet<String> = keys_of(&first_m)
        .into_iter()
        .filter(|k| !second_keys.contains(k) && third_keys.contains(k))
        .collect();
    assert!(!revived.is_empty(), "the third release names objects only the first one had");

    let stores = [first_store.path(), second_store.path(), third_store.path()];
    let (plan, after) = gc_while_publishing(&garage, &rt, stores, &revived);
    let lost: Vec<String> = third_keys.difference(&after).cloned().collect();
    assert!(lost.is_empty(), "gc deleted objects the new release names: {lost:?}");
    assert!(revived.iter().all(|k| !plan.delete.contains(k)), "the plan spared them");
    assert!(plan.spared >= revived.len(), "spared {} of {}", plan.spared, revived.len());
    assert!(after.is_superset(&second_keys), "the live release is whole");
    rt.block_on(async { assert!(has_manifest(&garage.client().await, &third).await) });
}

/// Like the above, with an old release published again (a manifest already in the store,
/// which gc planned to delete along with the objects only it names): the publish writes
/// its manifest again, so gc sees it as new, and spares both.
#[test]
fn gc_spares_an_old_release_published_again_while_it_planned() {
    let (_guard, garage, rt) = start();
    let (first_store, first, first_m) = build(None);
    let (second_store, _second, second_m) = build(Some("A second release."));
    let second_keys = keys_of(&second_m);
    let only_first: BTreeSet<String> = keys_of(&first_m).difference(&second_keys).cloned().collect();
    assert!(!only_first.is_empty());

    let stores = [first_store.path(), second_store.path(), first_store.path()];
    let (plan, after) = gc_while_publishing(&garage, &rt, stores, &only_first);
    let lost: Vec<String> = keys_of(&first_m).difference(&after).cloned().collect();
    assert!(lost.is_empty(), "gc deleted objects of the release being published again: {lost:?}");
    assert!(!plan.manifests.contains(&first), "its manifest stays: {:?}", plan.manifests);
    rt.block_on(async { assert!(has_manifest(&garage.client().await, &first).await) });
}

/// A corrupt manifest of an old release (bytes that do not hash to its id) shows as an empty
/// history entry; `course releases` and gc go on (before: both refused the whole store).
#[test]
fn a_corrupt_old_manifest_neither_hides_the_history_nor_stops_gc() {
    let (_guard, garage, rt) = start();
    let (first_store, first, _) = build(None);
    let (second_store, second, _) = build(Some("A second release."));
    rt.block_on(async {
        let client = garage.client().await;
        for store in [first_store.path(), second_store.path()] {
            publish(&options(&garage, store, "live")).await.expect("publish");
        }
        client
            .put_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}/releases/{first}.json"))
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{\"format\":1}"))
            .send()
            .await
            .expect("corrupt the old manifest");
        let entries =
            releases(&client, BUCKET, PREFIX).await.expect("the history despite a corrupt manifest");
        let old = entries.iter().find(|e| e.release == first).expect("the corrupt release is listed");
        assert_eq!((old.routes, old.objects, old.live), (0, 0, false));
        assert!(entries.iter().any(|e| e.release == second && e.live && e.routes > 0));
        let plan = gc(&client, BUCKET, PREFIX, 1, Duration::ZERO, usize::MAX, true).await.expect("gc plans");
        assert_eq!(plan.keep, vec![second.clone()]);
    });
}
