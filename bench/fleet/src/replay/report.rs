//! Aggregating responses as they come into the report: counters, latency histograms, a
//! per-second timeline and per-release sightings. Memory is bounded by the run's length
//! in seconds, the number of releases and edges seen, and [`ERROR_SAMPLES`].

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// How many failed requests are kept as examples.
pub const ERROR_SAMPLES: usize = 50;
/// Misses kept in [`ReplayReport::miss_samples`].
const MISS_SAMPLES: usize = 200;

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A page a student opens (site index, course page, lesson).
    Page,
    /// A sub-resource a page names (stylesheet, script, image, media, animation data).
    Asset,
    /// A lab's page and its files.
    Lab,
    /// A lab starter downloaded.
    Download,
    /// `POST /_origin/grants`.
    Grant,
}

/// Why a student saw something go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Connecting failed, or the connection broke before the whole response arrived.
    Connection,
    Timeout,
    /// A 503 whose body is the origin's "store unavailable" answer.
    StoreUnavailable,
    /// Any other 5xx.
    Server5xx,
    /// A 4xx of a page or lab (403 without a working grant, 404 of a page).
    Client4xx,
    /// A sub-resource a page names answered 404: the page and its assets are of different
    /// releases.
    MixedRelease,
    /// The grant endpoint refused or failed (the student cannot open the course).
    Grant,
    /// A status no browser would accept here (e.g. 304 to a request without a validator).
    Unexpected,
}

/// What a request ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// No whole answer: the cause, and the client's error with its sources (for the
    /// report's samples: "connection closed before message completed", ...).
    Failed(Cause, String),
}

impl Answer {
    /// Marks a failure that came after the answer's status line (a cut body).
    pub fn after_headers(self, status: u16) -> Answer {
        match self {
            Answer::Failed(cause, detail) => Answer::Failed(cause, format!("body of a {status}: {detail}")),
            answer => answer,
        }
    }
}

/// The cause of a response a student sees as an error, if it is one. `revalidating`:
/// the request carried a validator (`If-None-Match`), so 304 is a good answer.
pub fn cause_of(kind: Kind, status: u16, revalidating: bool, store_unavailable: bool) -> Option<Cause> {
    match status {
        200 => None,
        206 if kind != Kind::Grant => None,
        304 if revalidating => None,
        503 if store_unavailable => Some(Cause::StoreUnavailable),
        500..=599 => Some(Cause::Server5xx),
        404 if matches!(kind, Kind::Asset | Kind::Download) => Some(Cause::MixedRelease),
        _ if kind == Kind::Grant => Some(Cause::Grant),
        400..=499 => Some(Cause::Client4xx),
        _ => Some(Cause::Unexpected),
    }
}

/// One response (or failure), as the recorder takes it.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// Since the run started.
    pub at: Duration,
    pub kind: Kind,
    pub edge: &'a str,
    pub path: &'a str,
    pub answer: Answer,
    /// `Some(cause)` when the student sees an error.
    pub cause: Option<Cause>,
    pub latency: Duration,
    /// `X-Cache` of the edge: `Some(true)` for HIT.
    pub cache_hit: Option<bool>,
    /// `X-Release` of a page.
    pub release: Option<&'a str>,
}

/// Student-level events, counted apart from requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Student {
        returning: bool,
    },
    EnrolledVisit,
    GrantIssued,
    /// An enrolled-only page answered 200 or 304 to a student holding a grant.
    EnrolledPageOpened,
    QuizTaken,
    LabOpened,
    /// A GET sent again, as a browser does, after the edge closed a kept-alive connection
    /// just as the request went out (before any answer).
    Resent,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    pub plan: String,
    pub edges: Vec<String>,
    pub seed: u64,
    pub duration_s: f64,
    pub requests_total: u64,
    /// By HTTP status ("200", "304", ...); failures without a status are in `errors_by_cause`.
    pub responses_by_status: BTreeMap<String, u64>,
    pub errors_total: u64,
    pub errors_by_cause: BTreeMap<Cause, u64>,
    /// The first [`ERROR_SAMPLES`] errors.
    pub error_samples: Vec<ErrorSample>,
    /// The first misses 20 s into the run (`at kind status path`), past the edges' first fill.
    pub miss_samples: Vec<String>,
    pub by_kind: BTreeMap<Kind, KindCounts>,
    pub students: Students,
    pub latency_pages: Latency,
    pub latency_all: Latency,
    /// One entry per second of the run, from 0.
    pub timeline: Vec<Second>,
    /// Pages without an `X-Release` header.
    pub pages_without_release: u64,
    /// Every release seen on a page, in the order they first appeared.
    pub releases: Vec<ReleaseSeen>,
    /// An older release served by an edge after a newer one had appeared on any edge.
    pub stale_after_newer: Vec<Stale>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ErrorSample {
    pub at_s: f64,
    pub kind: Option<Kind>,
    pub edge: String,
    pub path: String,
    pub status: Option<u16>,
    pub cause: Option<Cause>,
    /// The client's error, for failures without a whole answer.
    pub detail: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    pub requests: u64,
    pub ok: u64,
    pub not_modified: u64,
    pub errors: u64,
    /// Answers the edge marked `X-Cache: MISS` (where the cause of a low hit ratio is).
    pub cache_misses: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Students {
    pub total: u64,
    /// Came back with their browser cache (and cookies).
    pub returning: u64,
    pub enrolled_visits: u64,
    pub grants_issued: u64,
    pub enrolled_pages_opened: u64,
    pub quizzes_taken: u64,
    pub labs_opened: u64,
    /// GETs resent on a new connection (see [`Event::Resent`]); not errors, as for a browser.
    pub resent: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Second {
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Pages by `X-Release`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pages_by_release: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Seen {
    pub first_s: f64,
    pub last_s: f64,
    pub pages: u64,
}

impl Seen {
    fn at(at: f64) -> Seen {
        Seen { first_s: at, last_s: at, pages: 0 }
    }

    fn add(&mut self, at: f64) {
        self.first_s = self.first_s.min(at);
        self.last_s = self.last_s.max(at);
        self.pages += 1;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReleaseSeen {
    pub release: String,
    #[serde(flatten)]
    pub seen: Seen,
    pub edges: BTreeMap<String, Seen>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stale {
    pub edge: String,
    pub older: String,
    pub newer: String,
    /// When `newer` first appeared (on any edge).
    pub newer_first_s: f64,
    /// The last time `edge` served `older`.
    pub older_last_s: f64,
}

/// Takes observations while the run goes; [`Recorder::finish`] makes the report.
pub struct Recorder {
    report: ReplayReport,
    pages: Histogram<u64>,
    all: Histogram<u64>,
    releases: BTreeMap<String, ReleaseSeen>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        // 1 µs .. 10 min, 3 significant digits: a few tens of KiB each.
        #[allow(clippy::expect_used)]
        let histogram = || Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
        Recorder {
            report: ReplayReport::default(),
            pages: histogram(),
            all: histogram(),
            releases: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, o: &Observation<'_>) {
        let r = &mut self.report;
        r.requests_total += 1;
        let kind = r.by_kind.entry(o.kind).or_default();
        kind.requests += 1;
        let status = match o.answer {
            Answer::Status(s) => {
                *r.responses_by_status.entry(s.to_string()).or_default() += 1;
                match s {
                    304 => kind.not_modified += 1,
                    200..=299 => kind.ok += 1,
                    _ => {}
                }
                Some(s)
            }
            Answer::Failed(..) => None,
        };
        let second = self.second(o.at);
        second.requests += 1;
        match o.cache_hit {
            Some(true) => second.cache_hits += 1,
            Some(false) => second.cache_misses += 1,
            None => {}
        }
        if let Some(cause) = o.cause {
            second.errors += 1;
            let r = &mut self.report;
            r.errors_total += 1;
            *r.errors_by_cause.entry(cause).or_default() += 1;
            r.by_kind.entry(o.kind).or_default().errors += 1;
            if r.error_samples.len() < ERROR_SAMPLES {
                r.error_samples.push(ErrorSample {
                    at_s: secs(o.at),
                    kind: Some(o.kind),
                    edge: o.edge.to_owned(),
                    path: o.path.to_owned(),
                    status,
                    cause: Some(cause),
                    detail: match &o.answer {
                        Answer::Failed(_, detail) => Some(detail.clone()),
                        Answer::Status(_) => None,
                    },
                });
            }
        }
        if o.cache_hit == Some(false) {
            let r = &mut self.report;
            r.by_kind.entry(o.kind).or_default().cache_misses += 1;
            if r.miss_samples.len() < MISS_SAMPLES && o.at.as_secs() >= 20 {
                r.miss_samples.push(format!("{:.1}s {:?} {:?} {}", secs(o.at), o.kind, status, o.path));
            }
        }
        let micros = u64::try_from(o.latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.all.saturating_record(micros);
        if o.kind == Kind::Page {
            self.pages.saturating_record(micros);
            match o.release {
                Some(release) if status.is_some_and(|s| s == 200 || s == 304) => {
                    let at = secs(o.at);
                    *self.second(o.at).pages_by_release.entry(release.to_owned()).or_default() += 1;
                    let seen = self.releases.entry(release.to_owned()).or_insert_with(|| ReleaseSeen {
                        release: release.to_owned(),
                        seen: Seen::at(at),
                        edges: BTreeMap::new(),
                    });
                    seen.seen.add(at);
                    seen.edges.entry(o.edge.to_owned()).or_insert_with(|| Seen::at(at)).add(at);
                }
                Some(_) => {}
                None => self.report.pages_without_release += 1,
            }
        }
    }

    pub fn event(&mut self, event: Event) {
        let s = &mut self.report.students;
        match event {
            Event::Student { returning } => {
                s.total += 1;
                s.returning += u64::from(returning);
            }
            Event::EnrolledVisit => s.enrolled_visits += 1,
            Event::GrantIssued => s.grants_issued += 1,
            Event::EnrolledPageOpened => s.enrolled_pages_opened += 1,
            Event::QuizTaken => s.quizzes_taken += 1,
            Event::LabOpened => s.labs_opened += 1,
            Event::Resent => s.resent += 1,
        }
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let index = at.as_secs() as usize;
        let timeline = &mut self.report.timeline;
        while timeline.len() <= index {
            let second = timeline.len() as u64;
            timeline.push(Second { second, ..Second::default() });
        }
        &mut timeline[index]
    }

    /// The report so far, with what the run was.
    pub fn finish(&self, plan: &str, edges: &[String], seed: u64, duration: Duration) -> ReplayReport {
        let mut report = self.report.clone();
        report.plan = plan.to_owned();
        report.edges = edges.to_vec();
        report.seed = seed;
        report.duration_s = secs(duration);
        report.latency_pages = latency(&self.pages);
        report.latency_all = latency(&self.all);
        let mut releases: Vec<ReleaseSeen> = self.releases.values().cloned().collect();
        releases.sort_by(|a, b| a.seen.first_s.total_cmp(&b.seen.first_s).then(a.release.cmp(&b.release)));
        report.stale_after_newer = stale(&releases);
        report.releases = releases;
        report
    }
}

/// For each release, every older release (first seen before it) an edge still served
/// after it first appeared.
fn stale(releases: &[ReleaseSeen]) -> Vec<Stale> {
    let mut out = Vec::new();
    for (i, newer) in releases.iter().enumerate() {
        for older in &releases[..i] {
            for (edge, seen) in &older.edges {
                if seen.last_s > newer.seen.first_s {
                    out.push(Stale {
                        edge: edge.clone(),
                        older: older.release.clone(),
                        newer: newer.release.clone(),
                        newer_first_s: newer.seen.first_s,
                        older_last_s: seen.last_s,
                    });
                }
            }
        }
    }
    out
}

fn latency(h: &Histogram<u64>) -> Latency {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Latency {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<'a>(at_ms: u64, edge: &'a str, release: &'a str) -> Observation<'a> {
        Observation {
            at: Duration::from_millis(at_ms),
            kind: Kind::Page,
            edge,
            path: "/",
            answer: Answer::Status(200),
            cause: None,
            latency: Duration::from_millis(2),
            cache_hit: Some(true),
            release: Some(release),
        }
    }

    #[test]
    fn causes() {
        assert_eq!(cause_of(Kind::Page, 200, false, false), None);
        assert_eq!(cause_of(Kind::Page, 304, true, false), None);
        assert_eq!(cause_of(Kind::Page, 304, false, false), Some(Cause::Unexpected));
        assert_eq!(cause_of(Kind::Asset, 206, false, false), None);
        assert_eq!(cause_of(Kind::Asset, 404, false, false), Some(Cause::MixedRelease));
        assert_eq!(cause_of(Kind::Page, 404, false, false), Some(Cause::Client4xx));
        assert_eq!(cause_of(Kind::Page, 403, false, false), Some(Cause::Client4xx));
        assert_eq!(cause_of(Kind::Asset, 503, false, true), Some(Cause::StoreUnavailable));
        assert_eq!(cause_of(Kind::Asset, 503, false, false), Some(Cause::Server5xx));
        assert_eq!(cause_of(Kind::Grant, 403, false, false), Some(Cause::Grant));
        assert_eq!(cause_of(Kind::Grant, 502, false, false), Some(Cause::Server5xx));
    }

    #[test]
    fn aggregates_counts_timeline_latency_and_releases() {
        let mut rec = Recorder::new();
        rec.record(&page(100, "a", "r1"));
        rec.record(&page(1_500, "b", "r1"));
        rec.record(&page(2_000, "a", "r2"));
        // Edge b still serves r1 after r2 appeared on a.
        rec.record(&page(3_200, "b", "r1"));
        rec.record(&page(3_900, "b", "r2"));
        rec.record(&Observation {
            kind: Kind::Asset,
            path: "/assets/x.css",
            answer: Answer::Status(404),
            cause: Some(Cause::MixedRelease),
            cache_hit: Some(false),
            release: None,
            latency: Duration::from_millis(40),
            ..page(3_950, "b", "")
        });
        rec.record(&Observation {
            answer: Answer::Failed(Cause::Timeout, "operation timed out".into()),
            cause: Some(Cause::Timeout),
            cache_hit: None,
            release: None,
            ..page(5_100, "a", "")
        });
        rec.event(Event::Student { returning: true });
        rec.event(Event::Student { returning: false });
        let report = rec.finish("1,1s", &["a".into(), "b".into()], 9, Duration::from_secs(6));

        assert_eq!(report.requests_total, 7);
        assert_eq!(report.responses_by_status.get("200"), Some(&5));
        assert_eq!(report.responses_by_status.get("404"), Some(&1));
        assert_eq!(report.errors_total, 2);
        assert_eq!(report.errors_by_cause.get(&Cause::MixedRelease), Some(&1));
        assert_eq!(report.errors_by_cause.get(&Cause::Timeout), Some(&1));
        assert_eq!(report.error_samples.len(), 2);
        assert_eq!(report.by_kind[&Kind::Page].requests, 6);
        assert_eq!(report.by_kind[&Kind::Asset].errors, 1);
        assert_eq!((report.students.total, report.students.returning), (2, 1));
        assert_eq!(report.pages_without_release, 1, "the timed-out page");

        assert_eq!(report.timeline.len(), 6);
        assert_eq!(report.timeline[3].requests, 3);
        assert_eq!((report.timeline[3].cache_hits, report.timeline[3].cache_misses), (2, 1));
        assert_eq!(report.timeline[3].errors, 1);
        assert_eq!(report.timeline[4].requests, 0);
        assert_eq!(report.timeline[3].pages_by_release.get("r1"), Some(&1));

        assert_eq!(report.latency_all.count, 7);
        assert_eq!(report.latency_pages.count, 6);
        assert!((report.latency_pages.p50_ms - 2.0).abs() < 0.01, "{:?}", report.latency_pages);
        assert!((report.latency_all.max_ms - 40.0).abs() < 0.1, "{:?}", report.latency_all);

        let names: Vec<_> = report.releases.iter().map(|r| r.release.as_str()).collect();
        assert_eq!(names, ["r1", "r2"]);
        assert_eq!(report.releases[0].edges["b"].last_s, 3.2);
        assert_eq!(report.releases[1].seen.first_s, 2.0);
        assert_eq!(
            report.stale_after_newer,
            [Stale {
                edge: "b".into(),
                older: "r1".into(),
                newer: "r2".into(),
                newer_first_s: 2.0,
                older_last_s: 3.2
            }]
        );
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["errors_by_cause"]["mixed_release"], 1);
        assert_eq!(json["releases"][1]["first_s"], 2.0);
    }
}
