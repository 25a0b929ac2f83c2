//! `course publish` (the library behind it) against a real Garage S3: uploads only what
//! is missing, with SHA-256 checksums the store keeps; flips the channel last; a failure
//! at any step leaves the live channel alone and a re-run finishes the job; a concurrent
//! publish to the same channel fails clearly.
//!
//! The publisher reads AWS credentials and `COURSE_PUBLISH_FAIL_AFTER` from the process
//! environment, so the tests here take turns (one lock) and set them while holding it.

use std::path::Path;
use std::sync::MutexGuard;

use aws_sdk_s3::types::ChecksumMode;
use builder::release::publish::{
    checksum_of_key, flip_channel, publish, read_channel, PublishOptions, PublishReport, DEFAULT_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD, FAIL_AFTER_ENV, PAUSE_ENV,
};
use bundle::{Access, CacheClass, ObjectKey, ReleaseId};
use e2e::garage::{Garage, BUCKET, REGION};
use e2e::{build_ok, copy_tree, get, live_manifest, sample_content, Origin};
use store::{S3Options, StoreSpec};

fn start() -> (MutexGuard<'static, ()>, Garage, tokio::runtime::Runtime) {
    e2e::in_process_garage()
}

fn options(garage: &Garage, from: &Path, prefix: &str) -> PublishOptions {
    PublishOptions {
        from: from.to_owned(),
        store: StoreSpec::S3 { bucket: BUCKET.to_owned(), prefix: prefix.to_owned() },
        s3: S3Options { endpoint: Some(garage.endpoint.clone()), region: Some(REGION.to_owned()) },
        channel: "live".to_owned(),
        concurrency: DEFAULT_CONCURRENCY,
        multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
        dry_run: false,
        progress: false,
    }
}

/// A copy of the sample content with one lesson edited, built into a new store.
fn build_edited(line: &str) -> (tempfile::TempDir, tempfile::TempDir, String) {
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let lesson = content.path().join("courses/python-foundations/loops.md");
    let text = std::fs::read_to_string(&lesson).expect("lesson");
    std::fs::write(&lesson, format!("{text}\n{line}\n")).expect("edit");
    let store = tempfile::tempdir().expect("tempdir");
    let release = build_ok(content.path(), store.path());
    (content, store, release)
}

/// Every key under `prefix/objects/`.
async fn remote_objects(client: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let mut pages =
        client.list_objects_v2().bucket(BUCKET).prefix(format!("{prefix}/objects/")).into_paginator().send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("list");
        keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
    }
    keys
}

async fn live(client: &aws_sdk_s3::Client, prefix: &str) -> Option<String> {
    read_channel(client, BUCKET, prefix, "live")
        .await
        .expect("read channel")
        .map(|(c, _)| c.release.to_string())
}

/// The raw pointer JSON (to see its sequence).
async fn pointer_json(client: &aws_sdk_s3::Client, prefix: &str) -> serde_json::Value {
    let object = client
        .get_object()
        .bucket(BUCKET)
        .key(format!("{prefix}/channels/live.json"))
        .send()
        .await
        .expect("get");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    serde_json::from_slice(&bytes).expect("json")
}

fn summary(what: &str, report: &PublishReport) {
    eprintln!(
        "{what}: release {} uploaded {} objects ({} bytes), skipped {}, flipped {}, in {:.2?}",
        report.release,
        report.uploaded,
        report.bytes_uploaded,
        report.skipped,
        report.flipped,
        report.elapsed
    );
}

#[test]
fn publishes_only_what_is_missing_with_checksums() {
    let (_guard, garage, rt) = start();
    let first_store = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), first_store.path());
    rt.block_on(async {
        let client = garage.client().await;
        assert_eq!(live(&client, "site").await, None, "no channel yet");

        // A dry run changes nothing.
        let mut dry = options(&garage, first_store.path(), "site");
        dry.dry_run = true;
        let plan = publish(&dry).await.expect("dry run");
        assert!(!plan.flipped);
        assert_eq!(plan.uploaded, plan.manifest.objects().len());
        assert!(remote_objects(&client, "site").await.is_empty(), "a dry run uploads nothing");
        assert_eq!(live(&client, "site").await, None);

        // First publish: everything.
        let report = publish(&options(&garage, first_store.path(), "site")).await.expect("publish");
        summary("first publish", &report);
        assert_eq!(report.release.as_str(), first);
        assert!(report.flipped);
        assert_eq!(report.previous, None);
        let objects = report.manifest.objects();
        assert_eq!(report.uploaded, objects.len());
        assert_eq!(report.skipped, 0);
        assert_eq!(plan.bytes_uploaded, report.bytes_uploaded);
        let remote = remote_objects(&client, "site").await;
        for key in &objects {
            assert!(remote.contains(&format!("site/objects/{key}")), "object {key} uploaded");
        }
        assert_eq!(live(&client, "site").await.as_deref(), Some(first.as_str()));
        assert_eq!(pointer_json(&client, "site").await["sequence"], 1);
        let (channel, manifest) =
            read_channel(&client, BUCKET, "site", "live").await.expect("read").expect("channel");
        assert_eq!(channel.release.as_str(), first);
        assert_eq!(manifest, report.manifest);

        // Every object carries its SHA-256 checksum, type and caching.
        for key in &objects {
            let head = client
                .head_object()
                .bucket(BUCKET)
                .key(format!("site/objects/{key}"))
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .expect("head");
            assert_eq!(head.checksum_sha256(), Some(checksum_of_key(key).as_str()), "checksum of {key}");
            assert_eq!(head.cache_control(), Some("public, max-age=31536000, immutable"));
        }
        let page = &report.manifest.routes["/courses/python-foundations/"];
        let head = client
            .head_object()
            .bucket(BUCKET)
            .key(format!("site/objects/{}", page.object))
            .send()
            .await
            .expect("head");
        assert_eq!(head.content_type(), Some(page.content_type.as_str()));
        let (encoding, variant) = page.encodings.iter().next().expect("pages have variants");
        let head = client
            .head_object()
            .bucket(BUCKET)
            .key(format!("site/objects/{}", variant.object))
            .send()
            .await
            .expect("head");
        assert_eq!(head.content_type(), Some(page.content_type.as_str()));
        assert_eq!(head.content_encoding(), Some(encoding.token()));

        // Again: nothing to do.
        let again = publish(&options(&garage, first_store.path(), "site")).await.expect("publish again");
        summary("re-publish", &again);
        assert_eq!((again.uploaded, again.flipped), (0, false));
        assert_eq!(again.skipped, objects.len());
        assert_eq!(pointer_json(&client, "site").await["sequence"], 1, "no flip");

        // One lesson edited: only its page, its search scope's changed index files and its
        // course's save list go up.
        let (_content, second_store, second) = build_edited("One more sentence for the fix.");
        assert_ne!(second, first);
        let report = publish(&options(&garage, second_store.path(), "site")).await.expect("publish edit");
        summary("one-lesson publish", &report);
        assert!(report.flipped);
        // The page, its search scope's new entry, meta, fragment and index chunk, and the
        // course's save list, with their variants: about ten.
        assert!((1..=12).contains(&report.uploaded), "uploaded {} objects", report.uploaded);
        assert_eq!(report.previous.as_ref().map(ReleaseId::as_str), Some(first.as_str()));
        assert!(report.previous_manifest.is_some());
        assert_eq!(live(&client, "site").await.as_deref(), Some(second.as_str()));
        let pointer = pointer_json(&client, "site").await;
        assert_eq!(
            (pointer["sequence"].as_u64(), pointer["previous"].as_str()),
            (Some(2), Some(first.as_str()))
        );

        // Rollback through flip_channel, with its expectation checked.
        let first_id: ReleaseId = first.parse().expect("id");
        let second_id: ReleaseId = second.parse().expect("id");
        let stale = flip_channel(&client, BUCKET, "site", "live", &first_id, Some(&first_id), &[]).await;
        assert!(stale.expect_err("wrong expectation").to_string().contains("moved"));
        flip_channel(&client, BUCKET, "site", "live", &first_id, Some(&second_id), &[])
            .await
            .expect("rollback");
        assert_eq!(live(&client, "site").await.as_deref(), Some(first.as_str()));
        assert_eq!(pointer_json(&client, "site").await["sequence"], 3);
        let missing: ReleaseId = "00000000000000000000".parse().expect("id");
        assert!(flip_channel(&client, BUCKET, "site", "live", &missing, Some(&first_id), &[]).await.is_err());

        // Multipart (a low threshold sends the larger objects in parts), with checksums.
        let mut multipart = options(&garage, first_store.path(), "mp");
        multipart.multipart_threshold = 8 * 1024;
        multipart.concurrency = 4;
        let report = publish(&multipart).await.expect("multipart publish");
        summary("multipart publish", &report);
        let mut parted = 0;
        for key in report.manifest.objects() {
            let object = client
                .get_object()
                .bucket(BUCKET)
                .key(format!("mp/objects/{key}"))
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .expect("get");
            let checksum = object.checksum_sha256().map(str::to_owned).expect("a sha256 checksum");
            let bytes = object.body.collect().await.expect("body").into_bytes();
            assert!(key.matches(&bytes), "mp object {key} has its bytes");
            if bytes.len() > 8 * 1024 {
                parted += 1;
                // A multipart checksum is the checksum of the parts' checksums, "-<parts>".
                assert!(checksum.ends_with("-1"), "multipart checksum of {key}: {checksum}");
            } else {
                assert_eq!(checksum, checksum_of_key(key));
            }
        }
        assert!(parted > 0, "some objects went up in parts");
    });
}

#[test]
fn a_failure_at_any_step_leaves_the_channel_and_a_rerun_finishes() {
    let (_guard, garage, rt) = start();
    let first_store = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), first_store.path());
    let (_content, second_store, second) = build_edited("A fix that fails to publish at first.");
    rt.block_on(async {
        let client = garage.client().await;
        publish(&options(&garage, first_store.path(), "site")).await.expect("publish");
        let before = remote_objects(&client, "site").await.len();

        let mut uploaded = 0;
        for step in ["objects", "manifest", "verify"] {
            std::env::set_var(FAIL_AFTER_ENV, step);
            let err = publish(&options(&garage, second_store.path(), "site")).await.expect_err("injected");
            std::env::remove_var(FAIL_AFTER_ENV);
            assert!(format!("{err:#}").contains(step), "{err:#}");
            assert_eq!(live(&client, "site").await.as_deref(), Some(first.as_str()), "after `{step}`");
            assert_eq!(pointer_json(&client, "site").await["sequence"], 1);
            let manifest_there = client
                .head_object()
                .bucket(BUCKET)
                .key(format!("site/releases/{second}.json"))
                .send()
                .await
                .is_ok();
            assert_eq!(manifest_there, step != "objects", "manifest after `{step}`");
            uploaded = remote_objects(&client, "site").await.len() - before;
        }
        assert!((1..=12).contains(&uploaded), "the first attempt uploaded {uploaded} objects");

        let report = publish(&options(&garage, second_store.path(), "site")).await.expect("re-run");
        summary("re-run after faults", &report);
        assert_eq!((report.uploaded, report.flipped), (0, true), "nothing left but the flip");
        assert_eq!(live(&client, "site").await.as_deref(), Some(second.as_str()));
        assert_eq!(pointer_json(&client, "site").await["sequence"], 2);
    });
}

#[test]
fn a_concurrent_publish_fails_clearly() {
    let (_guard, garage, rt) = start();
    let first_store = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), first_store.path());
    let (_c2, b_store, b) = build_edited("Release B.");
    let (_c3, c_store, c) = build_edited("Release C, published at the same time.");
    rt.block_on(async {
        let client = garage.client().await;
        publish(&options(&garage, first_store.path(), "site")).await.expect("publish");

        // Someone else (a smaller release id) has claimed the next sequence number.
        let rival = "site/channels/live.claims/2/00000000000000000000.json";
        garage_put(&client, rival, b"{}").await;
        let err = publish(&options(&garage, b_store.path(), "site")).await.expect_err("lost the race");
        let message = format!("{err:#}");
        assert!(message.contains("another publish to channel live"), "{message}");
        assert!(message.contains("00000000000000000000"), "{message}");
        assert_eq!(live(&client, "site").await.as_deref(), Some(first.as_str()));
        client.delete_object().bucket(BUCKET).key(rival).send().await.expect("delete");

        // Two publishes of different releases at once: one wins, the other says so.
        let (opts_b, opts_c) =
            (options(&garage, b_store.path(), "site"), options(&garage, c_store.path(), "site"));
        let (rb, rc) = tokio::join!(publish(&opts_b), publish(&opts_c));
        let live_now = live(&client, "site").await.expect("a channel");
        match (&rb, &rc) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => {
                assert_eq!(live_now, won.release.as_str(), "the pointer names the winner");
                assert!(format!("{lost:#}").contains("another publish to channel live"), "{lost:#}");
                eprintln!("race: {} won; the other failed with: {lost:#}", won.release);
            }
            _ => panic!(
                "expected exactly one winner: {:?} / {:?}",
                rb.as_ref().map(|r| &r.release),
                rc.as_ref().err()
            ),
        }
        assert!(live_now == b || live_now == c);
        assert_eq!(pointer_json(&client, "site").await["sequence"], 2);

        // The loser re-runs on top of the winner.
        let loser = if live_now == b { &opts_c } else { &opts_b };
        let report = publish(loser).await.expect("re-run of the loser");
        assert!(report.flipped);
        assert_eq!(report.uploaded, 0, "its objects were already uploaded");
        assert_eq!(pointer_json(&client, "site").await["sequence"], 3);
    });
}

async fn garage_put(client: &aws_sdk_s3::Client, key: &str, bytes: &[u8]) {
    client.put_object().bucket(BUCKET).key(key).body(bytes.to_vec().into()).send().await.expect("put");
}

/// Waits (polling, at most a minute) until `path` exists.
async fn reached(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "the publish never reached {}", path.display());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A `course gc` running alongside deletes objects the publish found in its first listing
/// (so did not upload) before the publish flips: the publish must see that and upload them
/// again before the flip, or the new release answers 502 for them.
#[test]
fn objects_deleted_after_the_listing_are_uploaded_again_before_the_flip() {
    let (_guard, garage, rt) = start();
    let first_store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), first_store.path());
    let (_content, second_store, second) = build_edited("A fix published while gc runs.");
    let (_, first_manifest) = live_manifest(first_store.path());
    let (_, second_manifest) = live_manifest(second_store.path());

    // Objects the second release shares with the first (so its publish skips them): a
    // public page with its variants, and a public immutable asset.
    let unchanged = |cache: CacheClass, with_variants: bool| {
        second_manifest
            .routes
            .iter()
            .find(|(route, r)| {
                r.cache == cache
                    && r.access == Access::Public
                    && r.encodings.is_empty() != with_variants
                    && first_manifest.routes.get(*route) == Some(*r)
                    && **route != second_manifest.not_found
            })
            .map(|(route, _)| route.clone())
            .expect("an unchanged route")
    };
    let page = unchanged(CacheClass::Stable, true);
    let asset = unchanged(CacheClass::Immutable, false);
    let mut victims: Vec<ObjectKey> = vec![second_manifest.routes[&asset].object.clone()];
    victims.push(second_manifest.routes[&page].object.clone());
    victims.extend(second_manifest.routes[&page].encodings.values().map(|v| v.object.clone()));
    eprintln!("deleting the objects of {page} and {asset} while the publish is paused");

    let dir = tempfile::tempdir().expect("tempdir");
    let go = dir.path().join("go");
    let go_reached = dir.path().join("go.reached");
    rt.block_on(async {
        let client = garage.client().await;
        publish(&options(&garage, first_store.path(), "site")).await.expect("publish the first release");

        std::env::set_var(PAUSE_ENV, format!("listed:{}", go.display()));
        let opts = options(&garage, second_store.path(), "site");
        let meanwhile = async {
            reached(&go_reached).await;
            // As gc would: the objects are old and no kept release names them... but this one.
            for key in &victims {
                client
                    .delete_object()
                    .bucket(BUCKET)
                    .key(format!("site/objects/{key}"))
                    .send()
                    .await
                    .expect("delete");
            }
            std::fs::write(&go, b"go").expect("let the publish go on");
        };
        let (report, ()) = tokio::join!(publish(&opts), meanwhile);
        let report = report.expect("publish");
        std::env::remove_var(PAUSE_ENV);
        summary("publish with objects deleted under it", &report);
        assert!(report.flipped);
        assert_eq!(report.restored, victims.len(), "exactly the deleted objects went up again");
        assert_eq!(live(&client, "site").await.as_deref(), Some(second.as_str()));
        for key in &victims {
            let head = client.head_object().bucket(BUCKET).key(format!("site/objects/{key}")).send().await;
            assert!(head.is_ok(), "object {key} was uploaded again before the flip");
        }
    });

    // Every public route of the live release is served, in every encoding it has.
    let origin = Origin::start_with(
        &std::ffi::OsString::from(format!("s3://{BUCKET}/site")),
        &["--endpoint", &garage.endpoint, "--region", REGION],
        &garage.env(),
    );
    assert_eq!(
        get(&origin.url("/_origin/ready"), &[]).text().expect("ready").trim(),
        format!("ready {second}")
    );
    for (route, r) in &second_manifest.routes {
        if r.access != Access::Public || *route == second_manifest.not_found {
            continue;
        }
        assert_eq!(get(&origin.url(route), &[]).status(), 200, "{route}");
        for encoding in r.encodings.keys() {
            let response = get(&origin.url(route), &[("accept-encoding", encoding.token())]);
            assert_eq!(response.status(), 200, "{route} ({})", encoding.token());
        }
    }
}

/// An object of several parts (12 MiB with a 5 MiB threshold: 5 + 5 + 2) arrives whole,
/// with the checksum S3 gives a multipart upload, computed here independently of the
/// publisher: base64 SHA-256 of the parts' SHA-256 digests, then `-<parts>`.
#[test]
fn a_large_object_goes_up_in_several_checksummed_parts() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let (_guard, garage, rt) = start();
    let work = tempfile::tempdir().expect("tempdir");
    let (content, store) = (work.path().join("content"), work.path().join("dist"));
    copy_tree(&e2e::root().join("tests/fixtures/minimal"), &content);
    let big = e2e::pseudo_random(12 << 20, 0x9e37_79b9_7f4a_7c15);
    std::fs::write(content.join("animations/big.webm"), &big).expect("write media");
    let lesson = content.join("courses/demo/intro.md");
    let text =
        std::fs::read_to_string(&lesson).expect("lesson") + "\n```animation\nsrc = \"big.webm\"\n```\n";
    std::fs::write(&lesson, text).expect("write lesson");
    build_ok(&content, &store);

    const PART: usize = 5 << 20;
    let parts: Vec<&[u8]> = big.chunks(PART).collect();
    assert_eq!(parts.len(), 3);
    let digests: Vec<u8> = parts.iter().flat_map(|p| sha2::Sha256::digest(p).to_vec()).collect();
    let expected = format!(
        "{}-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&digests)),
        parts.len()
    );

    rt.block_on(async {
        let mut parted = options(&garage, &store, "parts");
        parted.multipart_threshold = PART as u64;
        publish(&parted).await.expect("publish");
        let client = garage.client().await;
        let object = client
            .get_object()
            .bucket(BUCKET)
            .key(format!("parts/objects/{}", ObjectKey::of(&big)))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("the large object is in the store");
        assert_eq!(object.checksum_sha256(), Some(expected.as_str()), "three parts, each checksummed");
        let bytes = object.body.collect().await.expect("body").into_bytes();
        assert!(bytes.as_ref() == big.as_slice(), "the parts make up the object's bytes, in order");
    });
}
