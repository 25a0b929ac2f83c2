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

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use bundle::{CacheClass, Manifest, ReleaseId};

/// CloudFront's price per invalidation path past the monthly free tier (a wildcard is one path).
pub const CLOUDFRONT_PRICE_PER_PATH: f64 = 0.005;
/// Invalidation paths per month that CloudFront does not charge for.
pub const CLOUDFRONT_FREE_PATHS: u64 = 1000;
/// Most paths one CloudFront invalidation batch (and all batches in flight) may hold.
pub const CLOUDFRONT_MAX_PATHS: usize = 3000;
/// Most wildcard paths CloudFront allows in flight at once.
pub const CLOUDFRONT_MAX_WILDCARDS: usize = 15;

/// What one release change invalidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// URL paths to invalidate, sorted; wildcards (`/courses/py/*`) count as one path each.
    pub paths: Vec<String>,
    /// The stable routes that changed or were removed, sorted (what the paths stand for).
    pub changed_routes: Vec<String>,
    /// How many of `paths` are wildcards.
    pub wildcards: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
}

/// The URL forms a route is reachable (or cached) under: a directory route `/a/b/` as
/// `/a/b` (the origin's redirect), `/a/b/` and `/a/b/index.html`; `/` as `/` and
/// `/index.html`; a file route such as `/404.html` as itself.
pub fn route_forms(route: &str) -> Vec<String> {
    match route.strip_suffix('/') {
        Some("") => vec!["/".to_owned(), "/index.html".to_owned()],
        Some(bare) => vec![bare.to_owned(), route.to_owned(), format!("{route}index.html")],
        None => vec![route.to_owned()],
    }
}

/// Diffs two releases: the paths a CDN must drop so it serves `new`, at most `budget` of
/// them (a budget of 0 is taken as 1). `old` is `None` on a channel's first publish, when
/// no cache can hold anything of it: nothing to invalidate.
pub fn plan(old: Option<&Manifest>, new: &Manifest, budget: usize) -> Plan {
    match old {
        Some(old) => plan_since(&[Old::Release(old)], new, budget),
        None => Plan::default(),
    }
}

/// A release whose pages caches may still hold.
#[derive(Clone, Copy, Debug)]
pub enum Old<'a> {
    Release(&'a Manifest),
    /// Its manifest is gone (collected): any page may differ from it.
    Unknown,
}

/// The paths a CDN must drop so it serves `new`, whichever of `olds` its caches hold
/// pages of: the union of the diffs, collapsed past `budget` as [`plan`] does. An
/// [`Old::Unknown`] makes it `/*`, standing for every stable route of `new` (what a purge
/// sends, since Varnish has no wildcard purge).
pub fn plan_since(olds: &[Old<'_>], new: &Manifest, budget: usize) -> Plan {
    let mut changed: BTreeSet<String> = BTreeSet::new();
    for old in olds {
        match old {
            Old::Release(old) => changed.extend(changed_routes(old, new)),
            Old::Unknown => {
                changed.extend(
                    new.routes
                        .iter()
                        .filter(|(_, r)| r.cache == CacheClass::Stable)
                        .map(|(route, _)| route.clone()),
                );
                let changed_routes: Vec<String> = changed.into_iter().collect();
                return Plan { paths: vec!["/*".to_owned()], changed_routes, wildcards: 1 };
            }
        }
    }
    let changed_routes: Vec<String> = changed.into_iter().collect();
    let groups = collapse(&changed_routes, budget.max(1));
    let paths: BTreeSet<String> = groups.iter().flat_map(Group::paths).collect();
    let wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
    Plan { paths: paths.into_iter().collect(), changed_routes, wildcards }
}

/// The routes the caches may hold an outdated answer for: stable pages of `old` that are
/// gone from `new` or answered differently (other bytes, type, access or encodings).
fn changed_routes<'a>(old: &'a Manifest, new: &'a Manifest) -> impl Iterator<Item = String> + 'a {
    old.routes
        .iter()
        .filter(|(_, was)| was.cache == CacheClass::Stable)
        .filter(|(route, was)| new.routes.get(*route) != Some(*was))
        .map(|(route, _)| route.clone())
}

/// A set of changed routes and how they are invalidated.
#[derive(Clone, Debug)]
enum Group {
    /// One route, by its explicit forms.
    Route(String),
    /// Every route under a directory (ending in `/`): `<dir>*`, plus the bare `<dir>`
    /// redirect form when the directory's own page is among the routes.
    Wild { dir: String, has_own_page: bool },
}

impl Group {
    /// The directory that places this group in the tree (and sorts it).
    fn dir(&self) -> &str {
        match self {
            Group::Route(route) => dir_of(route),
            Group::Wild { dir, .. } => dir,
        }
    }

    fn paths(&self) -> Vec<String> {
        match self {
            Group::Route(route) => route_forms(route),
            Group::Wild { dir, has_own_page } => {
                let mut paths = vec![format!("{dir}*")];
                if *has_own_page && dir != "/" {
                    paths.push(dir.trim_end_matches('/').to_owned());
                }
                paths
            }
        }
    }

    fn cost(&self) -> usize {
        self.paths().len()
    }

    /// Whether the route is one this group's own page (`route == dir`).
    fn has_own_page(&self, dir: &str) -> bool {
        match self {
            Group::Route(route) => route == dir,
            Group::Wild { dir: d, has_own_page } => *has_own_page && d == dir,
        }
    }
}

/// The directory a route lives in: itself for `/a/b/`, the parent for `/a/b.html`.
fn dir_of(route: &str) -> &str {
    if route.ends_with('/') {
        route
    } else {
        route.rfind('/').map_or("/", |i| &route[..=i])
    }
}

/// The parent directory of a directory (`/a/b/` -> `/a/`; `/` stays `/`).
fn parent_dir(dir: &str) -> &str {
    let trimmed = dir.trim_end_matches('/');
    trimmed.rfind('/').map_or("/", |i| &dir[..=i])
}

/// The longest directory both directories are under.
fn common_dir<'a>(a: &'a str, b: &str) -> &'a str {
    let mut end = 1; // "/" is common to all
    for (i, (x, y)) in a.bytes().zip(b.bytes()).enumerate() {
        if x != y {
            break;
        }
        if x == b'/' {
            end = i + 1;
        }
    }
    &a[..end]
}

fn depth(dir: &str) -> usize {
    dir.matches('/').count()
}

/// Starts with one group per route and, while the paths exceed `budget`, merges the two
/// neighbouring groups with the deepest common directory into that directory's wildcard
/// (absorbing every group under it); a lone group left over budget widens to its parent.
fn collapse(routes: &[String], budget: usize) -> Vec<Group> {
    let mut groups: Vec<Group> = routes.iter().cloned().map(Group::Route).collect();
    loop {
        groups.sort_by(|a, b| (a.dir(), a.paths()).cmp(&(b.dir(), b.paths())));
        if groups.iter().map(Group::cost).sum::<usize>() <= budget {
            return groups;
        }
        let target = if groups.len() == 1 {
            match &groups[0] {
                Group::Route(route) => dir_of(route).to_owned(),
                Group::Wild { dir, .. } => parent_dir(dir).to_owned(),
            }
        } else {
            // Adjacent in sorted order is enough: the deepest common directory of any pair
            // is also that of some neighbours. Among equally deep ones, the merge that
            // saves the most paths wins, then the first.
            let candidates: BTreeSet<String> =
                groups.windows(2).map(|pair| common_dir(pair[0].dir(), pair[1].dir()).to_owned()).collect();
            candidates
                .into_iter()
                .map(|dir| {
                    let saved = savings(&groups, &dir);
                    (depth(&dir), saved, std::cmp::Reverse(dir))
                })
                .max()
                .map(|(_, _, std::cmp::Reverse(dir))| dir)
                .unwrap_or_else(|| "/".to_owned())
        };
        let (inside, outside): (Vec<Group>, Vec<Group>) =
            groups.into_iter().partition(|g| g.dir().starts_with(target.as_str()));
        let has_own_page = inside.iter().any(|g| g.has_own_page(&target));
        groups = outside;
        groups.push(Group::Wild { dir: target, has_own_page });
    }
}

/// How many paths merging every group under `dir` into its wildcard saves (may be < 0).
fn savings(groups: &[Group], dir: &str) -> isize {
    let inside: Vec<&Group> = groups.iter().filter(|g| g.dir().starts_with(dir)).collect();
    let before: usize = inside.iter().map(|g| g.cost()).sum();
    let has_own_page = inside.iter().any(|g| g.has_own_page(dir));
    let after = Group::Wild { dir: dir.to_owned(), has_own_page }.cost();
    before as isize - after as isize
}

/// What invalidating `paths` costs at CloudFront's price past the free tier, assuming no
/// path was used yet this month.
pub fn cost_usd(paths: usize) -> f64 {
    cost_usd_after(paths, 0)
}

/// Like [`cost_usd`], given the paths already invalidated this month.
pub fn cost_usd_after(paths: usize, used_this_month: u64) -> f64 {
    let free_left = CLOUDFRONT_FREE_PATHS.saturating_sub(used_this_month);
    (paths as u64).saturating_sub(free_left) as f64 * CLOUDFRONT_PRICE_PER_PATH
}

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

/// The CloudFront batches of a plan: at most [`CLOUDFRONT_MAX_PATHS`] paths and
/// [`CLOUDFRONT_MAX_WILDCARDS`] wildcards each, in the plan's order.
pub fn cloudfront_batches(plan: &Plan) -> Vec<Vec<String>> {
    let mut batches: Vec<Vec<String>> = Vec::new();
    let mut wildcards = 0;
    for path in &plan.paths {
        let wild = path.contains('*');
        let full = match batches.last() {
            None => true,
            Some(b) => b.len() >= CLOUDFRONT_MAX_PATHS || (wild && wildcards >= CLOUDFRONT_MAX_WILDCARDS),
        };
        if full {
            batches.push(Vec::new());
            wildcards = 0;
        }
        batches.last_mut().expect("a batch was just ensured").push(path.clone());
        wildcards += usize::from(wild);
    }
    batches
}

/// The CallerReference of batch `chunk` of a release: the same on every retry, so
/// CloudFront returns the invalidation it already has instead of making another.
pub fn caller_reference(release: &ReleaseId, chunk: usize) -> String {
    format!("{release}-{chunk}")
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
            Target::Notify { origin, token } => notify(origin, token, release).await,
            Target::Purge { edge } => purge(edge, plan).await,
            Target::CloudFront { distribution_id } => cloudfront(distribution_id, plan, release, wait).await,
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

async fn notify(origin: &str, token: &str, release: &ReleaseId) -> anyhow::Result<InvalidationReport> {
    let url = format!("{}/_origin/invalidate", origin.trim_end_matches('/'));
    let http = http_client()?;
    let response = send_with_retry(&format!("POST {url}"), || http.post(&url).bearer_auth(token)).await?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status}: {}", body.trim());
    }
    let answer: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("POST {url}: unexpected answer {body:?}"))?;
    let serving = answer.get("release").and_then(|r| r.as_str()).unwrap_or_default().to_owned();
    if serving != release.as_str() {
        bail!(
            "{origin} reloaded but serves release {serving:?}, not {release} (is it following this channel?)"
        );
    }
    Ok(InvalidationReport { target: String::new(), requests: 1, paths: 0, ids: vec![serving] })
}

/// The URLs to PURGE: every form of every changed route (wildcards do not exist for
/// Varnish's per-URL purge, and the plan's budget is a CloudFront cost, not Varnish's).
pub fn purge_paths(plan: &Plan) -> Vec<String> {
    let explicit = plan.paths.iter().filter(|p| !p.contains('*')).cloned();
    let expanded = plan.changed_routes.iter().flat_map(|r| route_forms(r));
    explicit.chain(expanded).collect::<BTreeSet<_>>().into_iter().collect()
}

async fn purge(edge: &str, plan: &Plan) -> anyhow::Result<InvalidationReport> {
    let http = http_client()?;
    let method = reqwest::Method::from_bytes(b"PURGE").expect("PURGE is a valid method token");
    let base = edge.trim_end_matches('/');
    let paths = purge_paths(plan);
    for path in &paths {
        let url = format!("{base}{path}");
        let response =
            send_with_retry(&format!("PURGE {url}"), || http.request(method.clone(), &url)).await?;
        let status = response.status();
        // Varnish answers 200 "Purged" whether or not it held the URL.
        if !status.is_success() {
            bail!("PURGE {url}: {status}");
        }
    }
    Ok(InvalidationReport {
        target: String::new(),
        requests: paths.len(),
        paths: paths.len(),
        ids: Vec::new(),
    })
}

/// A CloudFront client from the standard AWS configuration; CloudFront is global, so the
/// region defaults to us-east-1 when none is configured.
pub async fn cloudfront_client() -> aws_sdk_cloudfront::Client {
    let region = aws_config::meta::region::RegionProviderChain::default_provider().or_else("us-east-1");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(region).load().await;
    aws_sdk_cloudfront::Client::new(&config)
}

/// How long to back off on `TooManyInvalidationsInProgress`, and to wait for completion.
const BACKOFF_START: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const GIVE_UP_AFTER: Duration = Duration::from_secs(30 * 60);
/// How far back existing invalidations are checked for a CallerReference already used.
const RECENT: Duration = Duration::from_secs(24 * 3600);

async fn cloudfront(
    distribution_id: &str,
    plan: &Plan,
    release: &ReleaseId,
    wait: bool,
) -> anyhow::Result<InvalidationReport> {
    let batches = cloudfront_batches(plan);
    let mut report = InvalidationReport { target: String::new(), requests: 0, paths: 0, ids: Vec::new() };
    if batches.is_empty() {
        return Ok(report);
    }
    let client = cloudfront_client().await;
    // CloudFront itself answers a repeated CallerReference with the invalidation it has;
    // looking first also keeps re-runs idempotent where that is not implemented (moto).
    let existing = recent_invalidations(&client, distribution_id).await?;
    for (chunk, paths) in batches.iter().enumerate() {
        let wanted: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
        let mut reference = caller_reference(release, chunk);
        if let Some((id, had)) = existing.get(&reference) {
            if had.iter().map(String::as_str).collect::<BTreeSet<_>>() == wanted {
                report.ids.push(id.clone());
                report.paths += paths.len();
                continue;
            }
            // The release was published before with another diff (a rollback to it).
            reference = distinct_reference(release, chunk, paths);
            if let Some((id, _)) = existing.get(&reference) {
                report.ids.push(id.clone());
                report.paths += paths.len();
                continue;
            }
        }
        let id = create_invalidation(&client, distribution_id, &reference, paths, release, chunk).await?;
        report.requests += 1;
        report.paths += paths.len();
        report.ids.push(id);
    }
    if wait {
        for id in &report.ids {
            wait_completed(&client, distribution_id, id).await?;
        }
    }
    Ok(report)
}

/// A CallerReference for a batch whose plain reference was used for other paths.
fn distinct_reference(release: &ReleaseId, chunk: usize, paths: &[String]) -> String {
    let digest = bundle::sha256_hex(paths.join("\n").as_bytes());
    format!("{}-{}", caller_reference(release, chunk), &digest[..12])
}

/// CallerReference -> (id, paths) of the invalidations created in the last [`RECENT`].
async fn recent_invalidations(
    client: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
) -> anyhow::Result<HashMap<String, (String, Vec<String>)>> {
    let since = std::time::SystemTime::now() - RECENT;
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    // Newest first on CloudFront; a few pages are plenty for one day of publishing.
    for _page in 0..5 {
        let out = client
            .list_invalidations()
            .distribution_id(distribution_id)
            .set_marker(marker.clone())
            .max_items(100)
            .send()
            .await
            .map_err(|e| anyhow!("ListInvalidations {distribution_id}: {}", sdk_message(&e)))?;
        let Some(list) = out.invalidation_list() else { break };
        for summary in list.items() {
            let recent = std::time::SystemTime::try_from(*summary.create_time()).map_or(true, |t| t >= since);
            if recent {
                ids.push(summary.id().to_owned());
            }
        }
        match list.next_marker() {
            Some(next) if list.is_truncated() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    let mut found = HashMap::new();
    for id in ids {
        let out = client
            .get_invalidation()
            .distribution_id(distribution_id)
            .id(&id)
            .send()
            .await
            .map_err(|e| anyhow!("GetInvalidation {id}: {}", sdk_message(&e)))?;
        if let Some(batch) = out.invalidation().and_then(|i| i.invalidation_batch()) {
            let paths = batch.paths().and_then(|p| p.items.clone()).unwrap_or_default();
            found.entry(batch.caller_reference().to_owned()).or_insert((id, paths));
        }
    }
    Ok(found)
}

async fn create_invalidation(
    client: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
    reference: &str,
    paths: &[String],
    release: &ReleaseId,
    chunk: usize,
) -> anyhow::Result<String> {
    let mut reference = reference.to_owned();
    let mut delay = BACKOFF_START;
    let started = std::time::Instant::now();
    loop {
        let batch = InvalidationBatch::builder()
            .caller_reference(&reference)
            .paths(
                Paths::builder()
                    .quantity(i32::try_from(paths.len()).context("batch size")?)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .context("building the invalidation paths")?,
            )
            .build()
            .context("building the invalidation batch")?;
        let sent = client
            .create_invalidation()
            .distribution_id(distribution_id)
            .invalidation_batch(batch)
            .send()
            .await;
        match sent {
            Ok(out) => {
                return out
                    .invalidation()
                    .map(|i| i.id().to_owned())
                    .ok_or_else(|| anyhow!("CreateInvalidation answered without an invalidation"));
            }
            Err(err) => {
                let busy = matches!(
                    err.as_service_error(),
                    Some(CreateInvalidationError::TooManyInvalidationsInProgress(_))
                );
                let reused =
                    err.as_service_error().and_then(|e| e.code()) == Some("InvalidationBatchAlreadyExists");
                if reused && reference == caller_reference(release, chunk) {
                    reference = distinct_reference(release, chunk, paths);
                    continue;
                }
                if busy && started.elapsed() < GIVE_UP_AFTER {
                    tracing::info!(?delay, "CloudFront: too many invalidations in progress; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(BACKOFF_MAX);
                    continue;
                }
                bail!("CreateInvalidation {distribution_id} ({reference}): {}", sdk_message(&err));
            }
        }
    }
}

async fn wait_completed(
    client: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
    id: &str,
) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(500);
    let started = std::time::Instant::now();
    loop {
        let out = client
            .get_invalidation()
            .distribution_id(distribution_id)
            .id(id)
            .send()
            .await
            .map_err(|e| anyhow!("GetInvalidation {id}: {}", sdk_message(&e)))?;
        let status = out.invalidation().map(|i| i.status().to_owned()).unwrap_or_default();
        if status.eq_ignore_ascii_case("completed") {
            return Ok(());
        }
        if started.elapsed() > GIVE_UP_AFTER {
            bail!("invalidation {id} still {status:?} after {GIVE_UP_AFTER:?}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

/// An SDK error with the service's code and message, not just "service error".
fn sdk_message<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err.as_service_error() {
        Some(service) => {
            format!("{}: {}", service.code().unwrap_or("error"), service.message().unwrap_or("(no message)"))
        }
        None => format!("{}", aws_sdk_cloudfront::error::DisplayErrorContext(err)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bundle::{Access, ObjectKey, Route};

    use super::*;

    fn route(bytes: &str, cache: CacheClass) -> Route {
        Route {
            object: ObjectKey::of(bytes.as_bytes()),
            size: bytes.len() as u64,
            content_type: "text/html; charset=utf-8".into(),
            cache,
            access: Access::Public,
            encodings: BTreeMap::new(),
        }
    }

    /// The sample catalogue's shape: 3 courses of 5 lessons, assets, a lab.
    fn catalogue() -> Manifest {
        let mut m = Manifest::new("/404.html".into());
        let mut page = |r: &str| {
            m.routes.insert(r.to_owned(), route(r, CacheClass::Stable));
        };
        page("/");
        page("/404.html");
        for course in ["py", "ds", "web"] {
            page(&format!("/courses/{course}/"));
            for lesson in 1..=5 {
                page(&format!("/courses/{course}/l{lesson}/"));
            }
        }
        m.routes.insert("/assets/site.0123456789.css".into(), route("css", CacheClass::Immutable));
        m.routes.insert("/labs/abc/index.html".into(), route("lab", CacheClass::Immutable));
        m
    }

    fn edit(m: &mut Manifest, r: &str) {
        let cache = m.routes[r].cache;
        m.routes.insert(r.to_owned(), route(&format!("{r} edited"), cache));
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn unchanged_release_invalidates_nothing() {
        let old = catalogue();
        assert_eq!(plan(Some(&old), &old.clone(), 100), Plan::default());
    }

    #[test]
    fn first_publish_invalidates_nothing() {
        assert!(plan(None, &catalogue(), 100).is_empty());
    }

    #[test]
    fn a_changed_page_is_invalidated_in_its_three_forms() {
        let old = catalogue();
        let mut new = old.clone();
        edit(&mut new, "/courses/py/l2/");
        let p = plan(Some(&old), &new, 100);
        assert_eq!(p.paths, strings(&["/courses/py/l2", "/courses/py/l2/", "/courses/py/l2/index.html"]));
        assert_eq!(p.changed_routes, strings(&["/courses/py/l2/"]));
        assert_eq!(p.wildcards, 0);
    }

    #[test]
    fn root_and_file_routes_have_their_own_forms() {
        assert_eq!(route_forms("/"), strings(&["/", "/index.html"]));
        assert_eq!(route_forms("/404.html"), strings(&["/404.html"]));
        let old = catalogue();
        let mut new = old.clone();
        edit(&mut new, "/404.html");
        edit(&mut new, "/");
        assert_eq!(plan(Some(&old), &new, 100).paths, strings(&["/", "/404.html", "/index.html"]));
    }

    #[test]
    fn immutable_changes_are_never_invalidated() {
        let old = catalogue();
        let mut new = old.clone();
        edit(&mut new, "/assets/site.0123456789.css");
        new.routes.remove("/labs/abc/index.html");
        new.routes.insert("/labs/def/index.html".into(), route("lab2", CacheClass::Immutable));
        assert!(plan(Some(&old), &new, 100).is_empty());
    }

    #[test]
    fn removed_pages_are_invalidated_and_added_ones_are_not() {
        let old = catalogue();
        let mut new = old.clone();
        new.routes.remove("/courses/ds/l5/");
        new.routes.insert("/courses/ds/l6/".into(), route("new", CacheClass::Stable));
        let p = plan(Some(&old), &new, 100);
        assert_eq!(p.paths, strings(&["/courses/ds/l5", "/courses/ds/l5/", "/courses/ds/l5/index.html"]));
        assert_eq!(p.changed_routes, strings(&["/courses/ds/l5/"]));
    }

    #[test]
    fn a_change_of_access_or_type_counts_as_a_change() {
        let old = catalogue();
        let mut new = old.clone();
        new.routes.get_mut("/courses/web/").expect("route").access = Access::Course("web".into());
        assert_eq!(plan(Some(&old), &new, 100).changed_routes, strings(&["/courses/web/"]));
    }

    #[test]
    fn over_budget_collapses_to_course_wildcards() {
        let old = catalogue();
        let mut new = old.clone();
        for lesson in 1..=5 {
            edit(&mut new, &format!("/courses/py/l{lesson}/"));
        }
        edit(&mut new, "/courses/ds/l1/");
        edit(&mut new, "/courses/ds/l3/");
        // 7 routes, 21 paths.
        assert_eq!(plan(Some(&old), &new, 21).paths.len(), 21);
        let p = plan(Some(&old), &new, 10);
        assert!(p.paths.len() <= 10, "{:?}", p.paths);
        assert!(p.paths.contains(&"/courses/py/*".to_owned()), "{:?}", p.paths);
        // ds still fits explicitly once py collapsed: 1 + 6.
        assert_eq!(p.paths.len(), 7, "{:?}", p.paths);
        assert_eq!(p.wildcards, 1);
        let p = plan(Some(&old), &new, 2);
        assert_eq!(p.paths, strings(&["/courses/ds/*", "/courses/py/*"]));
        assert_eq!(p.wildcards, 2);
        assert_eq!(p.changed_routes.len(), 7);
        // The narrowest cover of both is /courses/*.
        assert_eq!(plan(Some(&old), &new, 1).paths, strings(&["/courses/*"]));
        // Deterministic.
        assert_eq!(plan(Some(&old), &new, 10), plan(Some(&old), &new, 10));
    }

    #[test]
    fn a_course_page_in_a_wildcard_keeps_its_bare_redirect_form() {
        let old = catalogue();
        let mut new = old.clone();
        edit(&mut new, "/courses/py/");
        edit(&mut new, "/courses/py/l1/");
        edit(&mut new, "/courses/py/l2/");
        let p = plan(Some(&old), &new, 3);
        assert_eq!(p.paths, strings(&["/courses/py", "/courses/py/*"]));
        // Everything changed: the root's pages and /courses/*, then one wildcard.
        let mut all = old.clone();
        for r in old.routes.keys() {
            edit(&mut all, r);
        }
        assert_eq!(
            plan(Some(&old), &all, 5).paths,
            strings(&["/", "/404.html", "/courses/*", "/index.html"])
        );
        assert_eq!(plan(Some(&old), &all, 3).paths, strings(&["/*"]));
    }

    #[test]
    fn a_lone_page_over_budget_widens_to_its_directory() {
        let old = catalogue();
        let mut new = old.clone();
        edit(&mut new, "/courses/py/l1/");
        assert_eq!(plan(Some(&old), &new, 2).paths, strings(&["/courses/py/l1", "/courses/py/l1/*"]));
        assert_eq!(plan(Some(&old), &new, 1).paths, strings(&["/courses/py/*"]));
    }

    #[test]
    fn a_plan_since_several_releases_is_the_union_of_their_diffs() {
        let a = catalogue();
        let mut b = a.clone();
        edit(&mut b, "/courses/py/l1/");
        let mut c = b.clone();
        edit(&mut c, "/courses/ds/l2/");
        let p = plan_since(&[Old::Release(&a), Old::Release(&b)], &c, 100);
        assert_eq!(p.changed_routes, strings(&["/courses/ds/l2/", "/courses/py/l1/"]));
        assert_eq!(p.paths.len(), 6);
        assert_eq!(p, plan(Some(&a), &c, 100), "here b's diff is part of a's");
        assert!(plan_since(&[], &c, 100).is_empty());
    }

    #[test]
    fn an_unknown_old_release_invalidates_every_page() {
        let a = catalogue();
        let mut b = a.clone();
        edit(&mut b, "/courses/py/l1/");
        let p = plan_since(&[Old::Release(&a), Old::Unknown], &b, 100);
        assert_eq!(p.paths, strings(&["/*"]));
        assert_eq!(p.wildcards, 1);
        let stable = b.routes.values().filter(|r| r.cache == CacheClass::Stable).count();
        assert_eq!(p.changed_routes.len(), stable, "a purge sends every page");
        // "/" and "/404.html" have two forms and one; every other page three.
        assert_eq!(purge_paths(&p).len(), 3 + 3 * (stable - 2), "every form of every page");
    }

    #[test]
    fn cost_counts_past_the_free_tier() {
        assert_eq!(cost_usd(0), 0.0);
        assert_eq!(cost_usd(1000), 0.0);
        assert!((cost_usd(1200) - 1.0).abs() < 1e-9);
        assert!((cost_usd_after(10, 995) - 0.025).abs() < 1e-9);
    }

    fn plan_of(paths: Vec<String>) -> Plan {
        let wildcards = paths.iter().filter(|p| p.contains('*')).count();
        Plan { paths, changed_routes: Vec::new(), wildcards }
    }

    #[test]
    fn cloudfront_batches_hold_at_most_3000_paths() {
        let paths: Vec<String> = (0..3001).map(|i| format!("/p/{i:05}/")).collect();
        let batches = cloudfront_batches(&plan_of(paths.clone()));
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].len(), 3000);
        assert_eq!(batches[1].len(), 1);
        assert_eq!(batches.concat(), paths);
        assert!(cloudfront_batches(&Plan::default()).is_empty());
    }

    #[test]
    fn cloudfront_batches_hold_at_most_15_wildcards() {
        let mut paths: Vec<String> = (0..20).map(|i| format!("/c{i:02}/*")).collect();
        paths.extend((0..10).map(|i| format!("/x/{i}/")));
        let batches = cloudfront_batches(&plan_of(paths.clone()));
        assert_eq!(batches.len(), 2);
        for batch in &batches {
            assert!(batch.iter().filter(|p| p.contains('*')).count() <= CLOUDFRONT_MAX_WILDCARDS);
        }
        assert_eq!(batches.concat(), paths);
    }

    #[test]
    fn caller_references_are_stable_per_release_and_chunk() {
        let release: ReleaseId = "0123456789abcdef0123".parse().expect("id");
        assert_eq!(caller_reference(&release, 0), "0123456789abcdef0123-0");
        assert_eq!(caller_reference(&release, 1), caller_reference(&release, 1));
        assert_ne!(caller_reference(&release, 0), caller_reference(&release, 1));
        let paths = strings(&["/a/"]);
        assert_eq!(distinct_reference(&release, 0, &paths), distinct_reference(&release, 0, &paths));
        assert_ne!(
            distinct_reference(&release, 0, &paths),
            distinct_reference(&release, 0, &strings(&["/b/"]))
        );
    }

    #[test]
    fn purge_expands_wildcards_to_the_changed_routes() {
        let old = catalogue();
        let mut new = old.clone();
        edit(&mut new, "/courses/py/l1/");
        edit(&mut new, "/courses/py/l2/");
        edit(&mut new, "/404.html");
        let p = plan(Some(&old), &new, 2);
        assert!(p.wildcards > 0, "{:?}", p.paths);
        let urls = purge_paths(&p);
        assert!(urls.iter().all(|u| !u.contains('*')));
        assert_eq!(urls.len(), 7, "{urls:?}");
        assert!(urls.contains(&"/courses/py/l2/".to_owned()));
    }
}
