//! Replays students against edges with goose: each goose user is a stream of students,
//! one goose transaction per student's visit (arrive, pick a course and lessons by Zipf
//! popularity, load each page and its sub-resources as a browser would, take a quiz or
//! open a lab on some visits, leave). The test plan ramps the number of users.
//!
//! ```no_run
//! # async fn example(manifest: bundle::Manifest) -> Result<(), String> {
//! use fleet::replay::{self, Catalogue, ReplayConfig};
//! let config = ReplayConfig::new(
//!     vec!["http://127.0.0.1:6081".into()],
//!     Catalogue::from_manifest(&manifest),
//!     "20,2s;200,3s;200,20s;20,3s",
//! );
//! let report = replay::run(config).await?;
//! println!("{} requests, {} errors", report.requests_total, report.errors_total);
//! # Ok(()) }
//! ```
//!
//! goose keeps one load test per process at a time (its stop switch is global) and
//! installs a Ctrl-C handler of its own while a test runs.

mod catalogue;
mod grants;
pub mod page;
mod report;
mod student;
pub mod zipf;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::config::GooseConfiguration;
use goose::prelude::*;
use url::Url;

pub use catalogue::{Catalogue, Course};
pub use grants::Grants;
pub use report::{
    cause_of, Answer, Cause, ErrorSample, Event, Kind, KindCounts, Latency, Observation, Recorder,
    ReleaseSeen, ReplayReport, Second, Seen, Stale, Students, ERROR_SAMPLES,
};

/// What to replay, against which edges.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    /// Base URLs (`http://127.0.0.1:6081`); each student picks one at random.
    pub edges: Vec<String>,
    pub catalogue: Catalogue,
    /// goose test plan, `users,ramp-duration;...` (e.g. `"20,2s;200,3s;200,20s;20,3s"`):
    /// the run ends when the plan does (a last step above 0 users is followed by `0,0s`).
    pub plan: String,
    /// How enrolled students get their grant; `None`: they visit without one (and see 403s).
    pub grants: Option<Grants>,
    /// Share of arriving students who are a returning one, with the previous student's
    /// browser cache and cookies (immutable files kept, pages revalidated with `If-None-Match`).
    pub returning_share: f64,
    pub seed: u64,
    /// Zipf exponent of course and lesson popularity.
    pub zipf_exponent: f64,
    /// A student reads each page for a uniformly random time in this range.
    pub think: (Duration, Duration),
    /// Per request (connect, head and body).
    pub timeout: Duration,
    /// Share of visits to a page with a quiz that take it.
    pub quiz_share: f64,
    /// Share of visits to a page embedding a lab that open it.
    pub lab_share: f64,
}

impl ReplayConfig {
    /// A run with the defaults: no grants, 30 % returning students, seed 1, Zipf 1.0, a
    /// 0.2-1 s read per page, 10 s timeout, half the quizzes taken, a third of labs opened.
    pub fn new(edges: Vec<String>, catalogue: Catalogue, plan: &str) -> ReplayConfig {
        ReplayConfig {
            edges,
            catalogue,
            plan: plan.to_owned(),
            grants: None,
            returning_share: 0.3,
            seed: 1,
            zipf_exponent: 1.0,
            think: (Duration::from_millis(200), Duration::from_millis(1000)),
            timeout: Duration::from_secs(10),
            quiz_share: 0.5,
            lab_share: 0.35,
        }
    }
}

/// What every user shares: the parsed configuration, popularity tables and the recorder.
pub(crate) struct Shared {
    pub(crate) config: ReplayConfig,
    pub(crate) edges: Vec<Url>,
    pub(crate) grant_url: Option<Url>,
    pub(crate) courses: zipf::Zipf,
    pub(crate) lessons: Vec<zipf::Zipf>,
    pub(crate) started: Instant,
    pub(crate) recorder: Mutex<Recorder>,
}

impl Shared {
    pub(crate) fn record(&self, observation: &Observation<'_>) {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner()).record(observation);
    }

    pub(crate) fn event(&self, event: Event) {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner()).event(event);
    }
}

fn check(config: &ReplayConfig) -> Result<(Vec<Url>, Option<Url>), String> {
    if config.edges.is_empty() {
        return Err("no edge to replay against".into());
    }
    if config.catalogue.is_empty() {
        return Err("the catalogue has no course".into());
    }
    for (name, share) in [
        ("returning_share", config.returning_share),
        ("quiz_share", config.quiz_share),
        ("lab_share", config.lab_share),
    ] {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("{name} {share} is not within 0..=1"));
        }
    }
    if config.think.0 > config.think.1 {
        return Err("think time: the minimum is above the maximum".into());
    }
    let parse = |base: &str| {
        let url = Url::parse(base).map_err(|e| format!("bad base URL {base:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("bad base URL {base:?}: expected http(s)://host[:port]"));
        }
        Ok(url)
    };
    let edges = config.edges.iter().map(|e| parse(e)).collect::<Result<Vec<_>, _>>()?;
    let grant_url = match &config.grants {
        Some(g) => Some(parse(&g.endpoint)?.join("/_origin/grants").map_err(|e| e.to_string())?),
        None => None,
    };
    Ok((edges, grant_url))
}

/// The plan, stopping every user at its end: goose ends a run only once a plan's last
/// step is at 0 users, and otherwise holds the last step's users until stopped.
fn ending_at_zero(plan: &str) -> String {
    let plan = plan.trim().trim_end_matches(';');
    let last_users = plan.rsplit(';').next().and_then(|step| step.split(',').next()).map(str::trim);
    if last_users == Some("0") {
        plan.to_owned()
    } else {
        format!("{plan};0,0s")
    }
}

/// Runs the test plan against the edges and reports what the students saw.
pub async fn run(config: ReplayConfig) -> Result<ReplayReport, String> {
    let (edges, grant_url) = check(&config)?;
    let lessons =
        config.catalogue.courses.iter().map(|c| zipf::Zipf::new(c.lessons.len(), config.zipf_exponent));
    let shared = Arc::new(Shared {
        courses: zipf::Zipf::new(config.catalogue.courses.len(), config.zipf_exponent),
        lessons: lessons.collect(),
        edges,
        grant_url,
        started: Instant::now(),
        recorder: Mutex::new(Recorder::new()),
        config,
    });

    let on_start: TransactionFunction = Arc::new(|user| Box::pin(student::arrive_first(user)));
    let visit: TransactionFunction = {
        let shared = shared.clone();
        Arc::new(move |user| {
            let shared = shared.clone();
            Box::pin(async move { student::visit(user, &shared).await })
        })
    };
    let scenario = scenario!("students")
        .register_transaction(Transaction::new(on_start).set_name("arrive").set_on_start())
        .register_transaction(Transaction::new(visit).set_name("visit"));

    let goose_error = |e: GooseError| format!("goose: {e:?}");
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(goose_error)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, shared.config.edges[0].as_str())
        .and_then(|a| a.set_default(GooseDefault::TestPlan, ending_at_zero(&shared.config.plan).as_str()))
        .and_then(|a| a.set_default(GooseDefault::Quiet, 1))
        .and_then(|a| a.set_default(GooseDefault::NoPrintMetrics, true))
        .and_then(|a| a.set_default(GooseDefault::NoErrorSummary, true))
        .and_then(|a| a.set_default(GooseDefault::NoTelnet, true))
        .map_err(goose_error)?;
    attack.execute().await.map_err(goose_error)?;

    let recorder = shared.recorder.lock().unwrap_or_else(|p| p.into_inner());
    let c = &shared.config;
    let edges: Vec<String> = shared.edges.iter().map(|e| e.origin().ascii_serialization()).collect();
    Ok(recorder.finish(&c.plan, &edges, c.seed, shared.started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plan_ends_at_zero_users() {
        assert_eq!(ending_at_zero("20,2s;200,3s;200,20s;20,3s"), "20,2s;200,3s;200,20s;20,3s;0,0s");
        assert_eq!(ending_at_zero("10,1m;10,5m;0,30s"), "10,1m;10,5m;0,30s");
        assert_eq!(ending_at_zero("4,1s;"), "4,1s;0,0s");
        assert!(ending_at_zero("20,2s;200,3s").parse::<goose::test_plan::TestPlan>().is_ok());
    }

    #[test]
    fn bad_configs_are_refused_before_anything_runs() {
        let catalogue = Catalogue {
            courses: vec![Course {
                slug: "c".into(),
                page: Some("/courses/c/".into()),
                lessons: vec![],
                enrolled: false,
            }],
            ..Catalogue::default()
        };
        let config = ReplayConfig::new(vec!["http://127.0.0.1:1".into()], catalogue, "1,1s");
        assert!(check(&config).is_ok());
        assert!(check(&ReplayConfig { edges: vec![], ..config.clone() }).is_err());
        assert!(check(&ReplayConfig { edges: vec!["127.0.0.1:1".into()], ..config.clone() }).is_err());
        assert!(check(&ReplayConfig { returning_share: 1.5, ..config.clone() }).is_err());
        assert!(check(&ReplayConfig { catalogue: Catalogue::default(), ..config }).is_err());
    }
}
