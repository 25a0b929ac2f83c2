//! Varnish edges: one `PURGE <url>` per path, wildcards expanded to the changed routes
//! they stand for (Varnish purges per URL).

use std::collections::BTreeSet;

use anyhow::bail;
use futures::stream::{self, StreamExt};

use super::plan::{route_forms, Plan};
use super::{http_client, send_with_retry, InvalidationReport};

/// The URLs to PURGE: every form of every changed route (wildcards do not exist for
/// Varnish's per-URL purge, and the plan's budget is a CloudFront cost, not Varnish's).
pub fn purge_paths(plan: &Plan) -> Vec<String> {
    let explicit = plan.paths.iter().filter(|p| !p.contains('*')).cloned();
    let expanded = plan.changed_routes.iter().flat_map(|r| route_forms(r));
    explicit.chain(expanded).collect::<BTreeSet<_>>().into_iter().collect()
}

/// PURGE requests in flight at one edge.
const PURGES_IN_FLIGHT: usize = 16;

pub(super) async fn purge(edge: &str, plan: &Plan) -> anyhow::Result<InvalidationReport> {
    let http = http_client()?;
    let method = reqwest::Method::from_bytes(b"PURGE").expect("PURGE is a valid method token");
    let base = edge.trim_end_matches('/');
    let paths = purge_paths(plan);
    // Several in flight: one after another, a release of 300 pages (900 URLs) took seconds
    // per edge, while its students met pages of the old release there.
    let mut sent = stream::iter(&paths)
        .map(|path| {
            let (http, method) = (&http, &method);
            async move {
                let url = format!("{base}{path}");
                let response =
                    send_with_retry(&format!("PURGE {url}"), || http.request(method.clone(), &url)).await?;
                let status = response.status();
                // Varnish answers 200 "Purged" whether or not it held the URL.
                if !status.is_success() {
                    bail!("PURGE {url}: {status}");
                }
                Ok(())
            }
        })
        .buffer_unordered(PURGES_IN_FLIGHT);
    while let Some(result) = sent.next().await {
        result?;
    }
    Ok(InvalidationReport {
        target: String::new(),
        requests: paths.len(),
        paths: paths.len(),
        ids: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use bundle::CacheClass;

    use super::super::plan::tests::{catalogue, edit, strings};
    use super::super::plan::{plan, plan_since, Old};
    use super::*;

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
}
