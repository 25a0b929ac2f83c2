//! Scenarios on a [`Fleet`]: students replayed through the edges while releases and faults
//! happen on a schedule. `spike` is an event week (a baseline, ten times that within
//! seconds, held, then back) with a fix, a 300-page release, a rollback, an origin killed,
//! the store gone for a while and purge storms at the peak; `day` is a school day's shape
//! (a morning peak) with two releases.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::fleet::{enrolled_courses, Fleet, FleetOptions, Shipped, API_KEY};
use serde::Serialize;

use crate::replay::{self, Catalogue, Grants, ReplayConfig, ReplayReport};

/// One thing that happens during a run, `at` seconds after the students start.
#[derive(Clone, Debug)]
pub enum Event {
    /// Edit `lessons` lessons and publish.
    Publish { lessons: usize },
    /// `course rollback` to the release before the last one.
    Rollback,
    /// `kill -9` of an origin, started again after `down`.
    KillOrigin { origin: usize, down: Duration },
    /// Garage stopped for `down`.
    StoreOutage { down: Duration },
    /// `purges` PURGE requests (every page of the catalogue, over and over) at every edge.
    PurgeStorm { purges: usize },
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    /// The goose test plan: `users,ramp;users,hold;...`.
    pub plan: String,
    pub events: Vec<(Duration, Event)>,
    pub fleet: FleetOptions,
    /// Seconds (from, to) of the plan's baseline and of its peak, for the report.
    pub baseline: (u64, u64),
    pub peak: (u64, u64),
}

impl Scenario {
    /// The event-week spike: `base` students' users, ten times that at the peak.
    pub fn spike(base: usize, hold: Duration, short: bool) -> Scenario {
        let secs = hold.as_secs().max(1);
        let peak = base * 10;
        let plan = format!("{base},2s;{base},10s;{peak},3s;{peak},{secs}s;{base},3s;{base},10s");
        let at = |s: u64| Duration::from_secs(15 + s);
        let mut events = vec![(at(2), Event::Publish { lessons: 1 })];
        if short {
            events.push((at(secs / 2), Event::KillOrigin { origin: 0, down: Duration::from_secs(4) }));
        } else {
            events.extend([
                (at(secs / 6), Event::Publish { lessons: 300 }),
                (at(secs / 6 + 15), Event::Rollback),
                (at(secs / 3), Event::KillOrigin { origin: 0, down: Duration::from_secs(10) }),
                (at(secs / 2), Event::StoreOutage { down: Duration::from_secs(30) }),
                (at(secs * 3 / 4), Event::PurgeStorm { purges: 2_000 }),
            ]);
        }
        let fleet = scenario_fleet();
        Scenario { name: "spike".into(), plan, events, fleet, baseline: (3, 12), peak: (16, 15 + secs) }
    }

    /// A school day in `length`: users rise to a morning peak, dip, a smaller afternoon
    /// bump, then evening; two releases during it.
    pub fn day(peak: usize, length: Duration) -> Scenario {
        let step = (length.as_secs() / 8).max(2);
        let users = |share: f64| ((peak as f64 * share).round() as usize).max(1);
        let shape = [0.1, 0.5, 1.0, 0.8, 0.5, 0.7, 0.4, 0.1];
        let plan: Vec<String> = shape.iter().map(|s| format!("{},{step}s", users(*s))).collect();
        let events = vec![
            (Duration::from_secs(step * 2 + step / 2), Event::Publish { lessons: 1 }),
            (Duration::from_secs(step * 5), Event::Publish { lessons: 20 }),
        ];
        let fleet = scenario_fleet();
        // The first step ramps to 10 %; the third reaches the morning peak and the fourth holds near it.
        let (baseline, peak) = ((step / 2, step), (step * 2 + step / 2, step * 3));
        Scenario { name: "day".into(), plan: plan.join(";"), events, fleet, baseline, peak }
    }
}

/// The fleet the scenarios run on: edges sized as `deploy/varnish.vcl` advises (1g; the
/// tests' 64m holds less than the full catalogue's media), warmed before the students
/// and after each release.
fn scenario_fleet() -> FleetOptions {
    FleetOptions { warm: true, edge_storage: Some("1g".into()), ..FleetOptions::default() }
}

/// What happened to one release or fault.
#[derive(Debug, Serialize)]
pub struct EventOutcome {
    pub at_secs: f64,
    pub what: String,
    /// For a publish or rollback: how long the command took, and the time from its return
    /// until every edge and origin served the changed pages from the new release.
    pub command_secs: Option<f64>,
    pub served_everywhere_secs: Option<f64>,
    /// How long the event lasted (a fault's outage, a command's run).
    pub window_secs: f64,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub plan: String,
    pub baseline: (u64, u64),
    pub peak: (u64, u64),
    pub events: Vec<EventOutcome>,
    pub replay: ReplayReport,
    /// Store requests made by the origins during the run (their metrics, summed).
    pub store_fetches: f64,
    /// (seconds since the start, origin requests so far, summed over origins), each second.
    pub origin_requests: Vec<(f64, f64)>,
    /// The same for the origins' content requests alone (the edges' cache fills and the
    /// releases' warm fetches): `edge_origin_endpoint_requests_total{endpoint="content"}`.
    pub origin_content_requests: Vec<(f64, f64)>,
    /// The same for grants and the edges' verdicts on them, which grow with arriving
    /// enrolled students rather than with cache misses.
    pub origin_grant_requests: Vec<(f64, f64)>,
}

/// Runs `scenario` on a fleet serving `content` (copied: the releases edit the copy).
pub fn run(scenario: &Scenario, content: &Path) -> Result<ScenarioReport, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let site = work.path().join("content");
    e2e::copy_tree(content, &site);
    eprintln!("[{}] starting the fleet", scenario.name);
    let mut fleet = Fleet::start(&site, &scenario.fleet);
    // Edges that served the catalogue before the event hold it: warm them as an operator
    // does before one (`course warm`), not with the first students of the rise.
    let mut outcomes = Vec::new();
    if scenario.fleet.warm {
        let warmed = fleet.warm_edges();
        if !warmed.ok() {
            return Err(format!("course warm failed: {}", warmed.stderr()));
        }
        let stdout = String::from_utf8_lossy(&warmed.output.stdout).into_owned();
        let routes = stdout.lines().filter(|l| l.trim_start().starts_with("warm:")).count();
        outcomes.push(EventOutcome {
            at_secs: 0.0,
            what: format!("`course warm` of {routes} edge(s) before the students"),
            command_secs: Some(warmed.took.as_secs_f64()),
            served_everywhere_secs: None,
            window_secs: 0.0,
            note: stdout
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("warm:"))
                .unwrap_or_default()
                .to_owned(),
        });
    }
    let (_, manifest) = e2e::live_manifest(&fleet.dist);
    let catalogue = Catalogue::from_manifest(&manifest);
    let students: Vec<String> = (0..scenario.fleet.students).map(|i| format!("student-{i}")).collect();
    let rosters = enrolled_courses(&site).into_iter().map(|slug| (slug, students.clone())).collect();
    let mut config = ReplayConfig::new(fleet.edge_bases(), catalogue, &scenario.plan);
    // Grants come through an edge, as a learning platform's backend would reach the site.
    config.grants = Some(Grants {
        endpoint: fleet.edge_bases()[0].clone(),
        api_key: API_KEY.to_owned(),
        rosters,
        ttl: "1h".into(),
    });
    config.returning_share = 0.5;
    config.seed = 42;
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (bases, done) = (fleet.origin_bases(), done.clone());
        std::thread::spawn(move || sample_origins(&bases, started, &done))
    };
    let replayer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime.block_on(replay::run(config))
    });
    let mut edits = 0;
    // (release, a page it changed) of each publish, for the rollback to check against.
    let mut shipped_releases: Vec<(String, String)> = vec![(e2e::live_manifest(&fleet.dist).0, "/".into())];
    for (at, event) in &scenario.events {
        if let Some(wait) = at.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        let at_secs = started.elapsed().as_secs_f64();
        eprintln!("[{}] {at_secs:.1}s: {event:?}", scenario.name);
        let outcome = match event {
            Event::Publish { lessons } => {
                edits += 1;
                let changed = edit_lessons(&site, *lessons, edits);
                let old = e2e::live_manifest(&fleet.dist).1;
                let shipped = fleet.ship(&site);
                let (release, new) = e2e::live_manifest(&fleet.dist);
                let route = changed_page(&old, &new).unwrap_or_else(|| "/".into());
                shipped_releases.push((release.clone(), route.clone()));
                released(
                    &fleet,
                    at_secs,
                    format!("publish {lessons} lesson(s), {changed} file(s)"),
                    &shipped,
                    &route,
                    &release,
                )
            }
            Event::Rollback => {
                let shipped = fleet.rollback();
                // Back to the release before the last publish; checked on a page that publish changed.
                let (_, route) = shipped_releases.pop().unwrap_or_default();
                let target = shipped_releases.last().map(|(r, _)| r.clone()).unwrap_or_default();
                released(&fleet, at_secs, "rollback".into(), &shipped, &route, &target)
            }
            Event::KillOrigin { origin, down } => {
                fleet.kill_origin(*origin);
                std::thread::sleep(*down);
                fleet.restart_origin(*origin);
                EventOutcome {
                    at_secs,
                    what: format!("kill -9 origin {origin}, restarted after {}s", down.as_secs()),
                    command_secs: None,
                    served_everywhere_secs: None,
                    window_secs: down.as_secs_f64(),
                    note: String::new(),
                }
            }
            Event::StoreOutage { down } => {
                fleet.stop_store();
                std::thread::sleep(*down);
                fleet.start_store();
                EventOutcome {
                    at_secs,
                    what: format!("store stopped for {}s", down.as_secs()),
                    command_secs: None,
                    served_everywhere_secs: None,
                    window_secs: down.as_secs_f64(),
                    note: String::new(),
                }
            }
            Event::PurgeStorm { purges } => {
                let (_, manifest) = e2e::live_manifest(&fleet.dist);
                let pages: Vec<&String> =
                    manifest.routes.iter().filter(|(r, _)| r.ends_with('/')).map(|(r, _)| r).collect();
                let storm = Instant::now();
                let mut failed = 0;
                for i in 0..*purges {
                    for edge in &fleet.edges {
                        if edge.purge(pages[i % pages.len()]) != 200 {
                            failed += 1;
                        }
                    }
                }
                EventOutcome {
                    at_secs,
                    what: format!("purge storm: {purges} PURGEs at each edge"),
                    command_secs: Some(storm.elapsed().as_secs_f64()),
                    served_everywhere_secs: None,
                    window_secs: storm.elapsed().as_secs_f64(),
                    note: format!("{failed} purges not answered 200"),
                }
            }
        };
        outcomes.push(outcome);
    }
    let replay = replayer.join().map_err(|_| "the replayer panicked".to_owned())??;
    done.store(true, Ordering::Relaxed);
    let origins = sampler.join().map_err(|_| "the sampler panicked".to_owned())?;
    Ok(ScenarioReport {
        scenario: scenario.name.clone(),
        plan: scenario.plan.clone(),
        baseline: scenario.baseline,
        peak: scenario.peak,
        events: outcomes,
        replay,
        store_fetches: origins.store_fetches,
        origin_requests: origins.requests,
        origin_content_requests: origins.content,
        origin_grant_requests: origins.grants,
    })
}

/// What [`sample_origins`] read: cumulative counts over time, summed over the origins.
struct OriginSamples {
    requests: Vec<(f64, f64)>,
    content: Vec<(f64, f64)>,
    grants: Vec<(f64, f64)>,
    store_fetches: f64,
}

/// The origins' counters sampled, in `OriginSamples`' order: all requests, content,
/// grants and verdicts, store fetches (each summed over the lines it names).
const SAMPLED: [&[&str]; 4] = [
    &["edge_origin_requests_total"],
    &["edge_origin_endpoint_requests_total{endpoint=\"content\"}"],
    &[
        "edge_origin_endpoint_requests_total{endpoint=\"grant\"}",
        "edge_origin_endpoint_requests_total{endpoint=\"grant_check\"}",
    ],
    &["edge_origin_store_fetches_total"],
];

/// Reads every origin's request and store-fetch counters each second until `done`. A
/// restarted origin starts its counters at 0 again, so what is added is each origin's
/// growth since its last read.
fn sample_origins(bases: &[String], started: Instant, done: &AtomicBool) -> OriginSamples {
    let http = e2e::client();
    let mut last = vec![[0.0; SAMPLED.len()]; bases.len()];
    let mut totals = [0.0; SAMPLED.len()];
    let mut samples = OriginSamples { requests: vec![], content: vec![], grants: vec![], store_fetches: 0.0 };
    while !done.load(Ordering::Relaxed) {
        for (i, base) in bases.iter().enumerate() {
            let Some(text) = http.get(format!("{base}/metrics")).send().ok().and_then(|r| r.text().ok())
            else {
                continue;
            };
            // Summed over labels (`edge_origin_requests_total{status="200"} 5`).
            let value = |name: &str| -> f64 {
                text.lines()
                    .filter_map(|l| l.strip_prefix(name))
                    .filter(|rest| rest.starts_with([' ', '{']))
                    .filter_map(|rest| rest.rsplit(' ').next()?.trim().parse::<f64>().ok())
                    .sum()
            };
            for (n, names) in SAMPLED.iter().enumerate() {
                let now: f64 = names.iter().map(|name| value(name)).sum();
                let then = last[i][n];
                totals[n] += if now >= then { now - then } else { now };
                last[i][n] = now;
            }
        }
        let at = started.elapsed().as_secs_f64();
        samples.requests.push((at, totals[0]));
        samples.content.push((at, totals[1]));
        samples.grants.push((at, totals[2]));
        std::thread::sleep(Duration::from_secs(1));
    }
    samples.store_fetches = totals[3];
    samples
}

fn released(
    fleet: &Fleet,
    at_secs: f64,
    what: String,
    shipped: &Shipped,
    route: &str,
    release: &str,
) -> EventOutcome {
    if !shipped.ok() {
        return EventOutcome {
            at_secs,
            what,
            command_secs: Some(shipped.took.as_secs_f64()),
            served_everywhere_secs: None,
            window_secs: shipped.took.as_secs_f64(),
            note: format!("failed: {}", shipped.stderr().trim()),
        };
    }
    let served = fleet.time_until_serving(route, release, shipped.returned, Duration::from_secs(30));
    EventOutcome {
        at_secs,
        what,
        command_secs: Some(shipped.took.as_secs_f64()),
        served_everywhere_secs: served.map(|d| d.as_secs_f64()),
        window_secs: shipped.took.as_secs_f64() + served.map_or(30.0, |d| d.as_secs_f64()),
        note: if served.is_some() {
            format!("checked on {route}")
        } else {
            format!("{route} not served everywhere in 30 s")
        },
    }
}

/// Appends a sentence to `count` lessons of public courses (spread over them, so the
/// fix can be checked at every edge without a grant); returns how many.
fn edit_lessons(content: &Path, count: usize, edit: usize) -> usize {
    let enrolled = enrolled_courses(content);
    let courses = content.join("courses");
    let mut lessons: Vec<PathBuf> = walkdir::WalkDir::new(&courses)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .filter(|e| {
            let course = e.path().strip_prefix(&courses).ok().and_then(|p| p.iter().next());
            !course.is_some_and(|c| enrolled.iter().any(|slug| c == slug.as_str()))
        })
        .map(|e| e.into_path())
        .collect();
    lessons.sort();
    let step = (lessons.len() / count.max(1)).max(1);
    let mut edited = 0;
    for lesson in lessons.iter().step_by(step).take(count) {
        let mut text = std::fs::read_to_string(lesson).unwrap_or_default();
        text.push_str(&format!("\n\nA fix shipped during the rush (edit {edit}).\n"));
        if std::fs::write(lesson, text).is_ok() {
            edited += 1;
        }
    }
    edited
}

/// A page whose object differs between two manifests.
fn changed_page(old: &bundle::Manifest, new: &bundle::Manifest) -> Option<String> {
    new.routes
        .iter()
        .filter(|(route, r)| {
            route.ends_with('/') && old.routes.get(*route).is_none_or(|o| o.object != r.object)
        })
        .map(|(route, _)| route.clone())
        .min_by_key(|route| route.len())
}
