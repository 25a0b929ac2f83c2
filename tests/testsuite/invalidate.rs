//! `builder::release::invalidate` against real targets: CloudFront (moto's server), Varnish with the
//! repo's VCL, and edge-origin's admin endpoint.

use std::collections::BTreeSet;

use builder::release::invalidate::{self, Plan, Target};
use e2e::moto::{create_distribution, invalidations, Moto};
use e2e::varnish::Varnish;
use e2e::{build_ok, copy_tree, get, live_manifest, sample_content, Origin};

const LESSON: &str = "/courses/python-foundations/hello-python/";
const OTHER: &str = "/courses/python-foundations/";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// The plan for `store`'s release after editing one lesson's body, with the edited store.
fn edited_lesson(store: &std::path::Path) -> (bundle::Manifest, bundle::Manifest, String, tempfile::TempDir) {
    build_ok(&sample_content(), store);
    let (_, old) = live_manifest(store);
    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let lesson = content.path().join("courses/python-foundations/hello-python.md");
    let text = std::fs::read_to_string(&lesson).expect("lesson source");
    std::fs::write(&lesson, format!("{text}\n\nOne more paragraph, added by the invalidation test.\n"))
        .expect("edit lesson");
    let release = build_ok(content.path(), store);
    let (_, new) = live_manifest(store);
    (old, new, release, content)
}

#[test]
fn one_edited_lesson_invalidates_its_three_forms() {
    let store = tempfile::tempdir().expect("tempdir");
    let (old, new, _, _content) = edited_lesson(store.path());
    let plan = invalidate::plan(Some(&old), &new, 100);
    println!("one edited lesson: {} paths: {:?}", plan.paths.len(), plan.paths);
    // Besides the page: the public search scope's segment list (it now names a delta
    // index holding the page; the delta's files are new routes) and the course's save list
    // (the page's new object key); both stable, one form each.
    let (entry, list) =
        ("/_search/segments.json".to_owned(), "/courses/python-foundations/_offline.json".to_owned());
    assert_eq!(plan.changed_routes, vec![entry.clone(), list.clone(), LESSON.to_owned()]);
    let mut expected = vec![
        LESSON.trim_end_matches('/').to_owned(),
        LESSON.to_owned(),
        format!("{LESSON}index.html"),
        entry,
        list,
    ];
    expected.sort();
    let mut paths = plan.paths.clone();
    paths.sort();
    assert_eq!(paths, expected);
    assert_eq!(invalidate::cost_usd(plan.paths.len()), 0.0);
}

/// Points this process's AWS environment at moto; the guard keeps other tests' variables
/// out until the test ends.
fn cloudfront_env(moto: &Moto) -> std::sync::MutexGuard<'static, ()> {
    let guard = e2e::lock_process_env();
    std::env::set_var("AWS_ENDPOINT_URL_CLOUDFRONT", &moto.endpoint);
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    guard
}

#[test]
fn cloudfront_gets_the_planned_paths_once_per_release() {
    let moto = Moto::start();
    let _env = cloudfront_env(&moto);
    let store = tempfile::tempdir().expect("tempdir");
    let (old, new, release, _content) = edited_lesson(store.path());
    let release: bundle::ReleaseId = release.parse().expect("release id");
    let plan = invalidate::plan(Some(&old), &new, 100);
    assert_eq!(plan.paths.len(), 5, "the lesson's three forms, the search entry, the save list");

    runtime().block_on(async {
        let client = invalidate::cloudfront_client().await;
        let distribution = create_distribution(&client).await;
        let targets = [Target::CloudFront { distribution_id: distribution.clone() }];

        let reports = invalidate::invalidate(&plan, &release, &targets, true).await.expect("invalidate");
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].target, format!("cloudfront:{distribution}"));
        assert_eq!((reports[0].requests, reports[0].paths, reports[0].ids.len()), (1, 5, 1));
        let first = invalidations(&client, &distribution).await;
        assert_eq!(first.len(), 1, "{first:?}");
        let (id, reference, paths) = &first[0];
        assert_eq!(id, &reports[0].ids[0]);
        assert_eq!(reference, &format!("{release}-0"));
        assert_eq!(paths, &plan.paths.iter().cloned().collect::<BTreeSet<_>>());

        // A re-run (a retried publish) does not invalidate again.
        let again = invalidate::invalidate(&plan, &release, &targets, true).await.expect("invalidate again");
        assert_eq!(again[0].requests, 0, "nothing new was sent: {again:?}");
        assert_eq!(again[0].ids, reports[0].ids);
        assert_eq!(invalidations(&client, &distribution).await, first);

        // The same release later with another diff (a rollback to it) still invalidates.
        let other = Plan { paths: vec!["/courses/*".into()], changed_routes: Vec::new(), wildcards: 1 };
        let rollback = invalidate::invalidate(&other, &release, &targets, false).await.expect("rollback");
        assert_eq!(rollback[0].requests, 1);
        let after = invalidations(&client, &distribution).await;
        assert_eq!(after.len(), 2, "{after:?}");
        assert!(after
            .iter()
            .any(|(_, r, p)| r.starts_with(&format!("{release}-0-")) && p.contains("/courses/*")));

        // An unknown distribution is an error naming it.
        let bad = [Target::CloudFront { distribution_id: "ENOSUCH".into() }];
        let err =
            invalidate::invalidate(&plan, &release, &bad, false).await.expect_err("unknown distribution");
        assert!(format!("{err:#}").contains("ENOSUCH"), "{err:#}");
    });
}

fn x_cache(path: &str, varnish: &Varnish) -> String {
    let response = get(&varnish.url(path), &[]);
    assert_eq!(response.status(), 200, "{path}");
    response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[test]
fn varnish_purge_drops_exactly_the_planned_pages() {
    let store = tempfile::tempdir().expect("tempdir");
    let (old, new, release, _content) = edited_lesson(store.path());
    let origin = Origin::start(store.path(), &[]);
    let varnish = Varnish::start(&origin.base);
    for path in [LESSON, OTHER] {
        x_cache(path, &varnish);
        assert_eq!(x_cache(path, &varnish), "HIT", "{path} is cached");
    }

    let plan = invalidate::plan(Some(&old), &new, 100);
    let targets = [Target::Purge { edge: varnish.base.clone() }];
    let release: bundle::ReleaseId = release.parse().expect("release id");
    let reports =
        runtime().block_on(invalidate::invalidate(&plan, &release, &targets, false)).expect("purge");
    assert_eq!((reports[0].requests, reports[0].paths), (5, 5), "{reports:?}");

    assert_eq!(x_cache(LESSON, &varnish), "MISS", "the purged lesson is fetched again");
    assert_eq!(x_cache(OTHER, &varnish), "HIT", "another page stays cached");

    // A collapsed plan purges the same URLs: Varnish has no wildcard purge.
    let collapsed = invalidate::plan(Some(&old), &new, 1);
    assert_eq!(collapsed.wildcards, 1, "{collapsed:?}");
    assert_eq!(x_cache(LESSON, &varnish), "HIT");
    let reports =
        runtime().block_on(invalidate::invalidate(&collapsed, &release, &targets, false)).expect("purge");
    assert_eq!(reports[0].paths, 5);
    assert_eq!(x_cache(LESSON, &varnish), "MISS");
    assert_eq!(x_cache(OTHER, &varnish), "HIT");
}

fn x_release(origin: &Origin) -> String {
    let response = get(&origin.url(LESSON), &[]);
    response.headers().get("x-release").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[test]
fn notify_makes_the_origin_serve_the_new_release_at_once() {
    let store = tempfile::tempdir().expect("tempdir");
    let first = build_ok(&sample_content(), store.path());
    let (_, old) = live_manifest(store.path());
    let origin = Origin::start(store.path(), &["--admin-token", "t", "--poll", "1h"]);
    assert_eq!(x_release(&origin), first);

    let content = tempfile::tempdir().expect("tempdir");
    copy_tree(&sample_content(), content.path());
    let lesson = content.path().join("courses/python-foundations/hello-python.md");
    let text = std::fs::read_to_string(&lesson).expect("lesson");
    std::fs::write(&lesson, format!("{text}\n\nEdited for notify.\n")).expect("edit");
    let second = build_ok(content.path(), store.path());
    assert_ne!(first, second);
    assert_eq!(x_release(&origin), first, "with --poll 1h the origin has not seen it yet");

    let (_, new) = live_manifest(store.path());
    let plan = invalidate::plan(Some(&old), &new, 100);
    let release: bundle::ReleaseId = second.parse().expect("release id");
    let rt = runtime();

    let wrong = [Target::Notify { origin: origin.base.clone(), token: "wrong".into() }];
    let err = rt.block_on(invalidate::invalidate(&plan, &release, &wrong, false)).expect_err("bad token");
    assert!(format!("{err:#}").contains("401"), "{err:#}");

    let targets = [Target::Notify { origin: origin.base.clone(), token: "t".into() }];
    let reports = rt.block_on(invalidate::invalidate(&plan, &release, &targets, false)).expect("notify");
    assert_eq!(reports[0].ids, vec![second.clone()]);
    assert_eq!(x_release(&origin), second, "served at once");
}
