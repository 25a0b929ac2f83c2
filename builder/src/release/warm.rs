//! Refilling self-hosted edges after a release (`--warm`): once an edge has purged what
//! changed, every public route the new release answers differently (changed or added) is
//! fetched through it, so the first students after a release, and before an event, find
//! it cached instead of each being the miss that refills it.
//!
//! A warm fetch must leave only the new release cached. An edge can fetch from an origin
//! that has not switched yet (its notify failed, or it is polling): a page it answers from
//! another release, or a new route it does not have yet (a 404 the edge keeps for a
//! minute), is purged again and fetched again after a pause; one still wrong after the
//! last try is purged and left to the students. Enrolled routes are never warmed: only a
//! student's grant opens them. Warming is an optimisation, so its failures are reported,
//! never a failed publish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use bundle::{Access, CacheClass, Manifest, ReleaseId};
use futures::stream::{self, StreamExt};

use super::invalidate::{route_forms, Target};

/// Fetches in flight at one edge.
const IN_FLIGHT: usize = 8;
/// Routes an edge may fail (every try) before the rest are skipped: an edge that is down
/// or hangs must not hold the command for 30 s a request over a whole catalogue.
const GIVE_UP_AFTER: usize = 20;
/// Tries of a route whose answer is not yet the new release's: the pauses between them
/// (0.1 s, doubling) add up to 3.1 s, past an origin's usual `--poll` of 2 s.
const TRIES: u32 = 6;
/// The `Accept-Encoding` values warmed, one per copy the VCL keeps (`normalise_encoding`):
/// browsers' (`br`), gzip-only clients' (HTTP libraries, older tools) and none (identity).
const ENCODINGS: [Option<&str>; 3] = [Some("gzip, deflate, br, zstd"), Some("gzip"), None];

/// What warming one edge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WarmReport {
    pub edge: String,
    pub routes: usize,
    /// GETs sent (every encoding of every route, with the retries).
    pub requests: usize,
    /// Routes an edge first answered from another release, warmed on a later try.
    pub retried: usize,
    /// Routes still wrong after the last try (purged again): `route: what was wrong`.
    pub failed: Vec<String>,
}

/// The public routes of `new` whose answer differs from `old`'s, sorted: every public
/// route when there is no old release.
pub fn routes_to_warm(old: Option<&Manifest>, new: &Manifest) -> Vec<String> {
    new.routes
        .iter()
        .filter(|(_, route)| route.access == Access::Public)
        .filter(|(path, route)| old.and_then(|old| old.routes.get(*path)) != Some(*route))
        .map(|(path, _)| path.clone())
        .collect()
}

/// After `release` went live in place of `old`: warms what changed at every self-hosted
/// edge among `targets` (the `--purge` ones).
pub async fn after_release(
    targets: &[Target],
    old: Option<&Manifest>,
    new: &Manifest,
    release: &ReleaseId,
) -> Vec<WarmReport> {
    let edges: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Purge { edge } => Some(edge.clone()),
            _ => None,
        })
        .collect();
    if edges.is_empty() {
        return Vec::new();
    }
    warm_edges(&edges, new, release, &routes_to_warm(old, new)).await
}

/// `course warm`: every public route of the release `channel` serves, through each of
/// `edges` (before an event, or for edges that started empty). Returns that release.
pub async fn warm_live(
    store: &store::StoreSpec,
    s3: &store::S3Options,
    channel: &str,
    edges: &[String],
) -> anyhow::Result<(ReleaseId, Vec<WarmReport>)> {
    let store::StoreSpec::S3 { bucket, prefix } = store else {
        anyhow::bail!("--store must be s3://bucket/prefix");
    };
    let client = super::publish::upload_client(s3).await;
    let (pointer, manifest) = super::publish::read_channel(&client, bucket, prefix, channel)
        .await?
        .ok_or_else(|| anyhow::anyhow!("channel {channel} does not exist"))?;
    let routes = routes_to_warm(None, &manifest);
    let reports = warm_edges(edges, &manifest, &pointer.release, &routes).await;
    Ok((pointer.release, reports))
}

/// One line per edge, for the command's report.
pub fn describe(reports: &[WarmReport]) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!(
            "  warm:{}: {} routes, {} requests, {} warmed on a later try, {} not warmed\n",
            r.edge.trim_end_matches('/'),
            r.routes,
            r.requests,
            r.retried,
            r.failed.len()
        ));
        for failure in r.failed.iter().take(5) {
            out.push_str(&format!("    not warmed: {failure}\n"));
        }
    }
    out
}

/// Warms `routes` of `manifest` (release `release`) at every edge, one edge after another.
pub async fn warm_edges(
    edges: &[String],
    manifest: &Manifest,
    release: &ReleaseId,
    routes: &[String],
) -> Vec<WarmReport> {
    let mut reports = Vec::new();
    for edge in edges {
        reports.push(match warm(edge, manifest, release, routes).await {
            Ok(report) => report,
            Err(err) => WarmReport {
                edge: edge.clone(),
                routes: routes.len(),
                failed: vec![format!("{err:#}")],
                ..WarmReport::default()
            },
        });
    }
    reports
}

async fn warm(
    edge: &str,
    manifest: &Manifest,
    release: &ReleaseId,
    routes: &[String],
) -> anyhow::Result<WarmReport> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let base = edge.trim_end_matches('/');
    let failures = AtomicUsize::new(0);
    let outcomes: Vec<Outcome> = stream::iter(routes)
        .map(|route| {
            let stable = manifest.routes.get(route).is_some_and(|r| r.cache == CacheClass::Stable);
            let (failures, http) = (&failures, &http);
            async move {
                if failures.load(Ordering::Relaxed) >= GIVE_UP_AFTER {
                    let failed =
                        Some(format!("{route}: skipped, {GIVE_UP_AFTER} routes failed at this edge"));
                    return Outcome { requests: 0, tries: 0, failed };
                }
                let outcome = warm_route(http, base, route, stable, release).await;
                if outcome.failed.is_some() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                outcome
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut report = WarmReport { edge: edge.to_owned(), routes: routes.len(), ..WarmReport::default() };
    for outcome in outcomes {
        report.requests += outcome.requests;
        report.retried += usize::from(outcome.tries > 1 && outcome.failed.is_none());
        report.failed.extend(outcome.failed);
    }
    report.failed.sort();
    Ok(report)
}

struct Outcome {
    requests: usize,
    tries: u32,
    failed: Option<String>,
}

/// Fetches every encoding of `route` until each is the new release's answer.
async fn warm_route(
    http: &reqwest::Client,
    base: &str,
    route: &str,
    stable: bool,
    release: &ReleaseId,
) -> Outcome {
    let url = format!("{base}{route}");
    let mut outcome = Outcome { requests: 0, tries: 0, failed: None };
    let mut pause = Duration::from_millis(100);
    loop {
        outcome.tries += 1;
        let mut wrong = None;
        for encoding in ENCODINGS {
            outcome.requests += 1;
            if let Err(why) = fetch(http, &url, encoding, stable, release).await {
                wrong = Some(why);
                break;
            }
        }
        let Some(why) = wrong else { return outcome };
        // Whatever the edge kept of that answer must go before the next try (or for good).
        purge(http, base, route).await;
        if outcome.tries == TRIES {
            outcome.failed = Some(format!("{route}: {why}"));
            return outcome;
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// One GET, read to the end: `Err` says why it is not the new release's answer.
async fn fetch(
    http: &reqwest::Client,
    url: &str,
    encoding: Option<&str>,
    stable: bool,
    release: &ReleaseId,
) -> Result<(), String> {
    let mut request = http.get(url);
    if let Some(encoding) = encoding {
        request = request.header(reqwest::header::ACCEPT_ENCODING, encoding);
    }
    let response = request.send().await.map_err(|err| format!("{err}"))?;
    let status = response.status();
    let served = response.headers().get("x-release").and_then(|v| v.to_str().ok()).map(str::to_owned);
    response.bytes().await.map_err(|err| format!("reading the body: {err}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("answered {status}"));
    }
    // An immutable route's bytes are the same in every release that has it.
    match served {
        Some(served) if stable && served != release.as_str() => Err(format!("served release {served}")),
        None if stable => Err("no X-Release header".to_owned()),
        _ => Ok(()),
    }
}

/// PURGEs every form of `route`; a failure only means the next try may see the same.
async fn purge(http: &reqwest::Client, base: &str, route: &str) {
    let method = reqwest::Method::from_bytes(b"PURGE").expect("PURGE is a valid method token");
    for form in route_forms(route) {
        if let Err(err) = http.request(method.clone(), format!("{base}{form}")).send().await {
            tracing::warn!(url = %format!("{base}{form}"), error = %err, "PURGE after a wrong warm answer failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(routes: &[(&str, &str, Access)]) -> Manifest {
        let mut m = Manifest::new("/404.html".into());
        for (path, object, access) in routes {
            let cache = if path.ends_with('/') { CacheClass::Stable } else { CacheClass::Immutable };
            m.routes.insert(
                (*path).to_owned(),
                bundle::Route {
                    object: bundle::ObjectKey::of(object.as_bytes()),
                    size: 1,
                    content_type: "text/html".into(),
                    cache,
                    access: access.clone(),
                    encodings: Default::default(),
                },
            );
        }
        m
    }

    #[test]
    fn warms_public_routes_that_changed_or_are_new_and_never_enrolled_ones() {
        let enrolled = || Access::Course("py".into());
        let old = manifest(&[
            ("/a/", "aa", Access::Public),
            ("/b/", "bb", Access::Public),
            ("/gone/", "cc", Access::Public),
            ("/courses/py/l1/", "dd", enrolled()),
        ]);
        let new = manifest(&[
            ("/a/", "aa", Access::Public),
            ("/b/", "b2", Access::Public),
            ("/c.1234.css", "ee", Access::Public),
            ("/courses/py/l1/", "d2", enrolled()),
        ]);
        assert_eq!(routes_to_warm(Some(&old), &new), ["/b/", "/c.1234.css"]);
        assert_eq!(
            routes_to_warm(None, &new),
            ["/a/", "/b/", "/c.1234.css"],
            "no old release: every public route"
        );
    }

    #[test]
    fn an_edge_that_is_down_is_given_up_on_after_a_few_routes() {
        let routes: Vec<String> = (0..200).map(|i| format!("/r{i}/")).collect();
        let table: Vec<(&str, &str, Access)> =
            routes.iter().map(|r| (r.as_str(), "x", Access::Public)).collect();
        let new = manifest(&table);
        // A port nothing listens on: every connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let edges = [format!("http://127.0.0.1:{port}")];
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let reports = runtime.block_on(warm_edges(&edges, &new, &new.release_id(), &routes));
        let report = &reports[0];
        assert_eq!(report.failed.len(), 200, "every route is reported");
        let skipped = report.failed.iter().filter(|f| f.contains("skipped")).count();
        assert!(skipped >= 200 - GIVE_UP_AFTER - IN_FLIGHT, "the rest were skipped: {skipped}");
        assert!(
            report.requests <= (GIVE_UP_AFTER + IN_FLIGHT) * TRIES as usize,
            "{} requests",
            report.requests
        );
    }
}
