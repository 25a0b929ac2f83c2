//! CDN invalidation after `course publish`, `rollback` and `promote` (DESIGN.md, "Publish"
//! step 4).
//!
//! [`plan`] diffs the old and new manifests: only *stable* routes (pages) that changed or
//! were removed are invalidated, each in its `/dir`, `/dir/` and `/dir/index.html` forms;
//! immutable routes (fingerprinted assets, tree-hash bundles) never are, since their URLs
//! change with their bytes. Past a budget, the paths collapse into the narrowest wildcards
//! that cover them. [`plan_since`] does the same for the union of the diffs from several
//! old releases (caches may hold pages of each while an earlier invalidation is
//! unfinished, see the publish module's `pending`). [`invalidate`] then sends the plan to each
//! [`Target`]:
//!
//! - origins first ([`Target::Notify`]: `POST /_origin/invalidate`), so they serve the
//!   new release before any cache refetches from them;
//! - then self-hosted edges ([`Target::Purge`]: one `PURGE <url>` per path, wildcards
//!   expanded to the changed routes they stand for, since Varnish purges per URL);
//! - then CloudFront ([`Target::CloudFront`]): batches of at most 3,000 paths and 15
//!   wildcards, CallerReference `<release>-<chunk>` so a re-run never doubles the work,
//!   `TooManyInvalidationsInProgress` retried with backoff.
//!
//! Routes *added* by a release are not invalidated: before the release they were the 404
//! page, which edge-origin lets shared caches keep for only 60 s (`s-maxage=60`).

use std::time::Duration;

use anyhow::{bail, Context};
use bundle::ReleaseId;

mod cloudfront;
mod notify;
mod plan;
mod purge;

pub use cloudfront::{
    caller_reference, cloudfront_batches, cloudfront_client, cost_usd, cost_usd_after, CLOUDFRONT_FREE_PATHS,
    CLOUDFRONT_MAX_PATHS, CLOUDFRONT_MAX_WILDCARDS, CLOUDFRONT_PRICE_PER_PATH,
};
pub use plan::{plan, plan_since, route_forms, Old, Plan};
pub use purge::purge_paths;

/// Where invalidations are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A CloudFront distribution, through the standard AWS configuration (environment,
    /// profile, instance metadata; `AWS_ENDPOINT_URL_CLOUDFRONT` overrides the endpoint).
    CloudFront { distribution_id: String },
    /// A self-hosted Varnish edge (base URL) running the repo's VCL, which accepts `PURGE`.
    Purge { edge: String },
    /// An edge-origin (base URL): reload the channel now through its admin endpoint.
    Notify { origin: String, token: String },
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::CloudFront { distribution_id } => format!("cloudfront:{distribution_id}"),
            Target::Purge { edge } => format!("purge:{edge}"),
            Target::Notify { origin, .. } => format!("notify:{origin}"),
        }
    }

    /// How a pending-invalidation record names this target: `cloudfront:<id>`,
    /// `purge:<edge>` or `notify:<origin>`, base URLs without a trailing `/` (never the
    /// notify token).
    pub fn key(&self) -> String {
        match self {
            Target::CloudFront { distribution_id } => format!("cloudfront:{distribution_id}"),
            Target::Purge { edge } => format!("purge:{}", edge.trim_end_matches('/')),
            Target::Notify { origin, .. } => format!("notify:{}", origin.trim_end_matches('/')),
        }
    }

    /// Origins reload first, then edges in front of them, then the CDN in front of those.
    fn order(&self) -> u8 {
        match self {
            Target::Notify { .. } => 0,
            Target::Purge { .. } => 1,
            Target::CloudFront { .. } => 2,
        }
    }
}

/// What was sent to one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidationReport {
    /// `cloudfront:<id>`, `purge:<edge>` or `notify:<origin>`.
    pub target: String,
    /// Requests that did the work (CloudFront invalidations, PURGEs, admin calls).
    pub requests: usize,
    /// Paths invalidated (CloudFront: wildcards count one; PURGE: URLs purged).
    pub paths: usize,
    /// CloudFront invalidation ids; for an origin, the release it now serves.
    pub ids: Vec<String>,
}

/// Sends `plan` to every target (origins, then edges, then CloudFront, whatever the order
/// given). Every target is tried; if any fails, the error names each failure and what
/// the others did ([`failure_summary`]). An empty plan still notifies origins, and sends
/// nothing else.
pub async fn invalidate(
    plan: &Plan,
    release: &ReleaseId,
    targets: &[Target],
    wait: bool,
) -> anyhow::Result<Vec<InvalidationReport>> {
    let outcomes = invalidate_each(plan, release, targets, wait).await;
    if let Some(summary) = failure_summary(&outcomes) {
        bail!("{summary}");
    }
    Ok(outcomes.into_iter().filter_map(|(_, result)| result.ok()).collect())
}

/// Like [`invalidate`], with what each target did (in the order they were sent to).
pub async fn invalidate_each<'t>(
    plan: &Plan,
    release: &ReleaseId,
    targets: &'t [Target],
    wait: bool,
) -> Vec<(&'t Target, anyhow::Result<InvalidationReport>)> {
    let mut ordered: Vec<&Target> = targets.iter().collect();
    ordered.sort_by_key(|t| t.order());
    let mut outcomes = Vec::new();
    for target in ordered {
        let result = match target {
            Target::Notify { origin, token } => notify::notify(origin, token, release).await,
            Target::Purge { edge } => purge::purge(edge, plan).await,
            Target::CloudFront { distribution_id } => {
                cloudfront::cloudfront(distribution_id, plan, release, wait).await
            }
        };
        outcomes
            .push((target, result.map(|report| InvalidationReport { target: target.describe(), ..report })));
    }
    outcomes
}

/// `invalidation failed for <target>: <error>; ...; done: <target> (<n> paths), ...`, or
/// `None` when every target succeeded.
pub fn failure_summary(outcomes: &[(&Target, anyhow::Result<InvalidationReport>)]) -> Option<String> {
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|(target, result)| {
            result.as_ref().err().map(|err| format!("{}: {err:#}", target.describe()))
        })
        .collect();
    if failures.is_empty() {
        return None;
    }
    let done: Vec<String> = outcomes
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .map(|r| format!("{} ({} paths)", r.target, r.paths))
        .collect();
    Some(format!(
        "invalidation failed for {}; done: {}",
        failures.join("; "),
        if done.is_empty() { "nothing".to_owned() } else { done.join(", ") }
    ))
}

/// The command-line flags that send an invalidation to the target a record names
/// ([`Target::key`]), shell-quoted: `--cdn cloudfront:<id>`, `--purge <edge>`, `--notify
/// <origin> --notify-token <token>`. `None` for anything else (records are store
/// contents: what they name is checked before it is suggested as a command).
pub fn target_flags(key: &str) -> Option<String> {
    let (kind, value) = key.split_once(':')?;
    let url_ok = |url: &str| {
        (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= 2048
            && url.bytes().all(|b| b.is_ascii_graphic() && !b"'\"`\\$;|&<>(){}".contains(&b))
    };
    match kind {
        "cloudfront"
            if !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Some(format!("--cdn cloudfront:{value}"))
        }
        "purge" if url_ok(value) => Some(format!("--purge {value}")),
        "notify" if url_ok(value) => Some(format!("--notify {value} --notify-token <token>")),
        _ => None,
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

/// Sends a request built by `make`, retrying connection errors and 5xx answers a few times.
async fn send_with_retry(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<reqwest::Response> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let outcome = make().send().await;
        let retry = match &outcome {
            Ok(response) => response.status().is_server_error(),
            Err(err) => err.is_connect() || err.is_timeout(),
        };
        if !retry || attempt == 4 {
            return outcome.with_context(|| what.to_owned());
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}
