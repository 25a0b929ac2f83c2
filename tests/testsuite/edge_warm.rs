//! `course warm` and `--warm`: the edges are filled with the live release before students
//! come and after each release, never with another release's page, never with an
//! enrolled page (Garage, an origin, a Varnish edge with the repo's VCL).

use std::path::PathBuf;

use e2e::fleet::{Fleet, FleetOptions};

const LESSON: &str = "/courses/python-foundations/loops/";
const ENROLLED: &str = "/courses/data-structures/stacks/";

/// A copy of the sample content (the tests edit it) on one origin and one edge.
fn sample_fleet() -> (tempfile::TempDir, PathBuf, Fleet) {
    let work = tempfile::tempdir().expect("tempdir");
    let site = work.path().join("content");
    e2e::copy_tree(&e2e::sample_content(), &site);
    let options = FleetOptions { origins: 1, edges: 1, warm: true, ..FleetOptions::default() };
    let fleet = Fleet::start(&site, &options);
    (work, site, fleet)
}

/// (status, X-Cache, X-Release, body) of a student's GET through the edge.
fn get(fleet: &Fleet, path: &str) -> (u16, String, String, String) {
    let response = e2e::client().get(format!("{}{path}", fleet.edge_bases()[0])).send().expect("GET");
    let header = |name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let (cache, release) = (header("x-cache"), header("x-release"));
    (response.status().as_u16(), cache, release, response.text().expect("body"))
}

fn stdout(shipped: &e2e::fleet::Shipped) -> String {
    String::from_utf8_lossy(&shipped.output.stdout).into_owned()
}

#[test]
fn warmed_edges_answer_the_first_student_from_cache_but_never_an_enrolled_page() {
    let (_work, site, fleet) = sample_fleet();
    let warmed = fleet.warm_edges();
    assert!(warmed.ok(), "course warm: {}", warmed.stderr());
    let (release, manifest) = e2e::live_manifest(&fleet.dist);
    let public = manifest.routes.values().filter(|r| r.access == bundle::Access::Public).count();
    assert!(
        stdout(&warmed).contains(&format!("{public} routes")) && stdout(&warmed).contains("0 not warmed"),
        "every public route is warmed: {}",
        stdout(&warmed)
    );
    let (status, cache, served, _) = get(&fleet, LESSON);
    assert_eq!(
        (status, cache.as_str(), served.as_str()),
        (200, "HIT", release.as_str()),
        "the first student hits"
    );
    let asset =
        manifest.routes.keys().find(|r| r.starts_with("/assets/") && r.ends_with(".css")).expect("css");
    assert_eq!(get(&fleet, asset).1, "HIT", "{asset} was warmed too");
    // An enrolled page was never fetched for anyone: without a grant it is the 403.
    let (status, _, _, body) = get(&fleet, ENROLLED);
    assert_eq!(status, 403, "{body}");

    // A lesson fix with --warm: the first student after it hits the new page.
    let lesson = site.join("courses/python-foundations/loops.md");
    let text = std::fs::read_to_string(&lesson).expect("lesson");
    std::fs::write(&lesson, format!("{text}\nWarmed after the fix.\n")).expect("edit");
    let shipped = fleet.ship(&site);
    assert!(shipped.ok(), "publish --warm: {}", shipped.stderr());
    assert!(stdout(&shipped).contains("warm:"), "publish reports the warming: {}", stdout(&shipped));
    let (fixed, _) = e2e::live_manifest(&fleet.dist);
    let (status, cache, served, body) = get(&fleet, LESSON);
    assert_eq!((status, cache.as_str(), served.as_str()), (200, "HIT", fixed.as_str()));
    assert!(body.contains("Warmed after the fix."), "the cached page is the fixed one");
}

#[test]
fn warming_through_an_origin_that_has_not_switched_yet_waits_for_the_new_release() {
    let (_work, site, fleet) = sample_fleet();
    assert!(fleet.warm_edges().ok());
    let (_, old_cache, old, _) = get(&fleet, LESSON);
    assert_eq!(old_cache, "HIT");

    // Published without purging the edge or telling the origin: the edge holds the old
    // page and the origin serves the old release until its next poll (2 s).
    let lesson = site.join("courses/python-foundations/loops.md");
    let text = std::fs::read_to_string(&lesson).expect("lesson");
    std::fs::write(&lesson, format!("{text}\nA fix the origin has not seen yet.\n")).expect("edit");
    let shipped = fleet.ship_without_targets(&site);
    assert!(shipped.ok(), "publish: {}", shipped.stderr());
    let warmed = fleet.warm_edges();
    assert!(warmed.ok(), "course warm: {} {}", stdout(&warmed), warmed.stderr());
    assert!(
        !stdout(&warmed).contains(" 0 warmed on a later try"),
        "the old answers were purged and fetched again: {}",
        stdout(&warmed)
    );
    let (new, _) = e2e::live_manifest(&fleet.dist);
    assert_ne!(new, old);
    let (status, cache, served, body) = get(&fleet, LESSON);
    assert_eq!(
        (status, cache.as_str(), served.as_str()),
        (200, "HIT", new.as_str()),
        "never the old page ({old}); course warm said: {}",
        stdout(&warmed)
    );
    assert!(body.contains("A fix the origin has not seen yet."));
}
