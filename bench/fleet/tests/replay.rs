//! The replayer against one real `edge-origin` (no Varnish) serving the sample catalogue.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bundle::Access;
use e2e::{build_ok, live_manifest, sample_content, Origin};
use fleet::replay::{self, page, Catalogue, Cause, Grants, Kind, ReplayConfig, ReplayReport};
use url::Url;

/// goose runs one load test per process at a time (its stop switch is global).
static ONE_LOAD_TEST: Mutex<()> = Mutex::new(());

const API_KEY: &str = "fleet-test-api-key";

fn run(config: ReplayConfig) -> ReplayReport {
    let _one = ONE_LOAD_TEST.lock().unwrap_or_else(|p| p.into_inner());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(replay::run(config)).expect("the replay runs")
}

fn quick(config: &mut ReplayConfig) {
    config.think = (Duration::from_millis(20), Duration::from_millis(120));
    config.timeout = Duration::from_secs(5);
}

/// An origin issuing grants for every enrolled course of the store, and the grants setup.
fn origin_with_grants(store: &Path, keys: &Path, catalogue: &Catalogue) -> (Origin, Grants) {
    let out = e2e::course()
        .args(["keys", "new", "--id", "KFLEET", "--out"])
        .arg(keys)
        .output()
        .expect("course keys new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let enrolled = catalogue.courses.iter().filter(|c| c.enrolled).map(|c| c.slug.as_str());
    let mut grants = Grants::numbered("http://set-below", API_KEY, enrolled, 3);
    assert!(!grants.rosters.is_empty(), "the sample has an enrolled course");
    let rosters = keys.join("rosters.toml");
    std::fs::write(&rosters, grants.rosters_toml()).expect("rosters");
    let path = |p: &Path| p.display().to_string();
    let trusted = format!("KFLEET={}", path(&keys.join("KFLEET.pub.pem")));
    let (signing, rosters) = (path(&keys.join("KFLEET.pem")), path(&rosters));
    let origin = Origin::start(
        store,
        &[
            "--trusted-key",
            &trusted,
            "--api-key",
            API_KEY,
            "--signing-key",
            &signing,
            "--signing-key-pair-id",
            "KFLEET",
            "--rosters",
            &rosters,
        ],
    );
    grants.endpoint = origin.base.clone();
    (origin, grants)
}

fn failures(report: &ReplayReport) -> String {
    serde_json::to_string_pretty(&(&report.errors_by_cause, &report.error_samples)).expect("json")
}

#[test]
fn the_sample_catalogue_and_its_pages_as_a_browser_sees_them() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let catalogue = Catalogue::from_manifest(&manifest);
    let slugs: Vec<_> =
        catalogue.courses.iter().map(|c| (c.slug.as_str(), c.lessons.len(), c.enrolled)).collect();
    assert_eq!(
        slugs,
        [("data-structures", 5, true), ("python-foundations", 5, false), ("web-animation", 5, false)]
    );
    assert!(catalogue.courses.iter().all(|c| c.page.as_deref() == Some(&*format!("/courses/{}/", c.slug))));
    assert_eq!(catalogue.labs.len(), 2);

    let base = Url::parse("http://edge.test:6081/").expect("url");
    let (mut quizzes, mut ranges, mut lottie, mut labs) = (0, 0, 0, 0);
    for (route, entry) in manifest.routes.iter().filter(|(_, r)| r.content_type.starts_with("text/html")) {
        let html =
            std::fs::read_to_string(store.path().join("objects").join(entry.object.as_str())).expect("page");
        let url = base.join(route).expect("url");
        let doc = page::parse(&html, &url);
        for (resource, _) in &doc.resources {
            let target = manifest.routes.get(resource.path());
            assert!(target.is_some(), "{route} names {resource}, not a route of its release");
            if entry.access == Access::Public {
                assert_eq!(target.map(|t| &t.access), Some(&Access::Public), "{route}: {resource}");
            }
        }
        if !route.starts_with("/labs/") {
            assert!(
                doc.resources.iter().any(|(u, _)| u.path().starts_with("/assets/site.")),
                "{route} has its stylesheet"
            );
        }
        quizzes += usize::from(doc.quiz);
        ranges += doc.resources.iter().filter(|(_, f)| *f == page::Fetch::Range).count();
        lottie += doc.resources.iter().filter(|(u, _)| u.path().ends_with("animation.json")).count();
        for frame in &doc.frames {
            let (prefix, files) = catalogue.lab_of(frame.path()).expect("every frame is a lab");
            assert!(files.iter().all(|f| f.starts_with(prefix)) && files.len() >= 3, "{prefix}: {files:?}");
            labs += 1;
        }
    }
    assert!(quizzes >= 3 && ranges >= 1 && lottie >= 1 && labs >= 2, "{quizzes} {ranges} {lottie} {labs}");
}

#[test]
fn students_load_pages_assets_revalidate_and_open_enrolled_courses_with_grants() {
    let (store, keys) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let release = build_ok(&sample_content(), store.path());
    let (_, manifest) = live_manifest(store.path());
    let catalogue = Catalogue::from_manifest(&manifest);
    let (origin, grants) = origin_with_grants(store.path(), keys.path(), &catalogue);

    let mut config = ReplayConfig::new(vec![origin.base.clone()], catalogue, "4,1s;4,4s");
    config.grants = Some(grants);
    config.returning_share = 0.6;
    config.seed = 42;
    quick(&mut config);
    let report = run(config);

    assert_eq!(report.errors_total, 0, "{}", failures(&report));
    let pages = report.by_kind[&Kind::Page];
    let assets = report.by_kind[&Kind::Asset];
    assert!(pages.requests >= 10 && assets.ok >= 10, "{pages:?} {assets:?}");
    assert!(report.students.returning > 0 && pages.not_modified > 0, "{:?} {pages:?}", report.students);
    assert!(report.students.grants_issued > 0, "{:?}", report.students);
    assert!(report.students.enrolled_pages_opened > 0, "{:?}", report.students);
    assert!(!report.responses_by_status.contains_key("403"), "{:?}", report.responses_by_status);
    assert!(report.students.labs_opened > 0 || report.students.quizzes_taken > 0, "{:?}", report.students);
    assert_eq!(report.pages_without_release, 0);
    assert_eq!(report.releases.len(), 1);
    assert_eq!(report.releases[0].release, release);
    assert!(report.stale_after_newer.is_empty());
    assert!((4.0..20.0).contains(&report.duration_s), "the plan's end stops it: {}", report.duration_s);
    let timeline_total: u64 = report.timeline.iter().map(|s| s.requests).sum();
    assert_eq!(timeline_total, report.requests_total);
    assert!(report.latency_pages.count == pages.requests && report.latency_pages.p99_ms > 0.0);
}

/// A page naming an asset its origin does not have (the page of one release, the assets
/// of another): every such 404 is a mixed-release error; enrolled pages without a grant
/// are 403s, student-visible 4xx.
#[test]
fn an_asset_missing_from_the_release_is_a_mixed_release_error() {
    let store = tempfile::tempdir().expect("tempdir");
    build_ok(&sample_content(), store.path());
    let (_, mut manifest) = live_manifest(store.path());
    let catalogue = Catalogue::from_manifest(&manifest);
    let css = manifest
        .routes
        .keys()
        .find(|r| r.starts_with("/assets/site.") && r.ends_with(".css"))
        .cloned()
        .expect("the site css");
    manifest.routes.remove(&css);
    let id = manifest.release_id();
    std::fs::write(store.path().join(format!("releases/{id}.json")), manifest.to_bytes()).expect("manifest");
    let channel = bundle::Channel {
        release: id,
        previous: None,
        published_at: "2026-12-01T00:00:00Z".into(),
        sequence: 0,
    };
    std::fs::write(store.path().join("channels/live.json"), channel.to_bytes()).expect("channel");
    let origin = Origin::start(store.path(), &[]);

    let mut config = ReplayConfig::new(vec![origin.base.clone()], catalogue, "3,1s;3,2s");
    config.seed = 7;
    quick(&mut config);
    let report = run(config);

    let mixed = report.errors_by_cause.get(&Cause::MixedRelease).copied().unwrap_or(0);
    assert!(mixed > 0, "{}", failures(&report));
    for sample in report.error_samples.iter().filter(|s| s.cause == Some(Cause::MixedRelease)) {
        assert_eq!((sample.path.as_str(), sample.status), (css.as_str(), Some(404)));
    }
    let other: u64 = report
        .errors_by_cause
        .iter()
        .filter(|(c, _)| !matches!(c, Cause::MixedRelease | Cause::Client4xx))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(other, 0, "{}", failures(&report));
    if report.students.enrolled_visits > 0 {
        assert!(
            report.errors_by_cause.get(&Cause::Client4xx).is_some_and(|n| *n > 0),
            "{}",
            failures(&report)
        );
    }
    assert_eq!(report.students.grants_issued, 0);
}
