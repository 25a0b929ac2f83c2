//! CloudFront: batches within its limits, idempotent CallerReferences, backoff while too
//! many invalidations are in progress, and what the paths cost.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use bundle::ReleaseId;

use super::plan::Plan;
use super::InvalidationReport;

/// CloudFront's price per invalidation path past the monthly free tier (a wildcard is one path).
pub const CLOUDFRONT_PRICE_PER_PATH: f64 = 0.005;
/// Invalidation paths per month that CloudFront does not charge for.
pub const CLOUDFRONT_FREE_PATHS: u64 = 1000;
/// Most paths one CloudFront invalidation batch (and all batches in flight) may hold.
pub const CLOUDFRONT_MAX_PATHS: usize = 3000;
/// Most wildcard paths CloudFront allows in flight at once.
pub const CLOUDFRONT_MAX_WILDCARDS: usize = 15;

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

pub(super) async fn cloudfront(
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
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
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
}
