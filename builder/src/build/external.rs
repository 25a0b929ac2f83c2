//! `course build --check-external`: every `http:`/`https:` link of the release (of pages
//! rendered now and of pages reused from the page cache, which keeps their links) is
//! fetched once per build, whatever number of pages link to it: a HEAD, and a GET when the
//! server refuses HEAD (405 Method Not Allowed, 501 Not Implemented). A few at a time,
//! each within a time limit, and at most so many URLs per build, so the check ends in
//! bounded time whatever the links and the servers do.
//!
//! As in `zola check` (and lychee), a link that answers an error status, does not answer in
//! time or cannot be reached is an error at each place it is written: the build fails and
//! writes nothing, but only when the check was asked for. A 429 (Too Many Requests) says
//! nothing about the link, so it is a warning, as are the URLs over the count limit (not
//! checked). Fragments are not sent: `page#a` and `page#b` are one URL.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::build::diagnostics::ContentError;
use crate::build::links::{LinkRef, LinkTo, PageLinks};

/// How `--check-external` checks.
#[derive(Debug, Clone)]
pub struct ExternalCheck {
    /// Longest wait for one URL's answer (for the HEAD, and again for a GET after a refused HEAD).
    pub timeout: Duration,
    /// Most distinct URLs checked in one build; those over it are not checked (a warning).
    pub max_urls: usize,
    /// URLs checked at once.
    pub concurrency: usize,
}

impl Default for ExternalCheck {
    fn default() -> Self {
        ExternalCheck { timeout: Duration::from_secs(10), max_urls: 1000, concurrency: 8 }
    }
}

/// What fetching one URL gave.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// A status that is no success (after redirects), as `404 Not Found`.
    Status(String),
    RateLimited,
    TimedOut,
    Unreachable(String),
}

/// Checks the external links of `pages` (files shown under `root`): the errors (broken
/// links, each place it is linked from) and the warnings (not checked).
pub(crate) fn check(
    check: &ExternalCheck,
    root: &Path,
    pages: &[PageLinks],
) -> (Vec<ContentError>, Vec<ContentError>) {
    let mut by_url: BTreeMap<&str, Vec<&LinkRef>> = BTreeMap::new();
    for link in pages.iter().flat_map(|p| &p.out).filter(|l| l.to == LinkTo::External) {
        let url = link.dest.split_once('#').map_or(link.dest.as_str(), |(url, _)| url);
        by_url.entry(url).or_default().push(link);
    }
    let urls: Vec<&str> = by_url.keys().copied().collect();
    let (checked, over) = urls.split_at(urls.len().min(check.max_urls));
    let outcomes = fetch_all(check, checked);

    let at = |link: &LinkRef, message: String| ContentError {
        file: root.join(&link.file),
        line: link.line,
        col: link.col,
        message,
    };
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for (url, outcome) in checked.iter().zip(outcomes) {
        for link in &by_url[url] {
            let dest = &link.dest;
            match &outcome {
                Outcome::Ok => {}
                Outcome::Status(status) => errors.push(at(link, format!("external link `{dest}` is broken: {status}"))),
                Outcome::TimedOut => {
                    let limit = humantime::format_duration(check.timeout);
                    let msg = format!("external link `{dest}` did not answer within {limit} (--external-timeout)");
                    errors.push(at(link, msg));
                }
                Outcome::Unreachable(why) => {
                    errors.push(at(link, format!("external link `{dest}` could not be reached: {why}")))
                }
                Outcome::RateLimited => {
                    let msg = format!("external link `{dest}` not checked: the site answered 429 Too Many Requests");
                    warnings.push(at(link, msg));
                }
            }
        }
    }
    for url in over {
        let msg = format!(
            "external link `{}` not checked: the build checks at most {} URLs (--external-max)",
            by_url[url][0].dest, check.max_urls
        );
        warnings.push(at(by_url[url][0], msg));
    }
    errors.sort();
    warnings.sort();
    (errors, warnings)
}

/// Fetches `urls`, `concurrency` at a time, on a runtime of its own (on a thread of its own,
/// so a caller inside another runtime is no problem): one outcome per URL, in order.
fn fetch_all(check: &ExternalCheck, urls: &[&str]) -> Vec<Outcome> {
    if urls.is_empty() {
        return Vec::new();
    }
    // reqwest's TLS takes the process's default provider: the AWS SDK's aws-lc-rs (an
    // error only says one is installed already).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .user_agent(concat!("course-build/", env!("CARGO_PKG_VERSION"), " (link check)"))
        .redirect(reqwest::redirect::Policy::limited(10))
        .timeout(check.timeout)
        .connect_timeout(check.timeout)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(err) => return vec![Outcome::Unreachable(format!("no HTTP client: {err}")); urls.len()],
    };
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(err) => return vec![Outcome::Unreachable(format!("no runtime: {err}")); urls.len()],
            };
            runtime.block_on(
                stream::iter(urls.iter().map(|url| fetch(&client, url)))
                    .buffered(check.concurrency.max(1))
                    .collect::<Vec<_>>(),
            )
        });
        run.join().unwrap_or_else(|_| vec![Outcome::Unreachable("the link checker failed".into()); urls.len()])
    })
}

/// HEAD, then GET if the server refuses HEAD.
async fn fetch(client: &reqwest::Client, url: &str) -> Outcome {
    let mut answer = client.head(url).send().await;
    if let Ok(response) = &answer {
        let status = response.status().as_u16();
        if status == 405 || status == 501 {
            answer = client.get(url).send().await;
        }
    }
    match answer {
        Ok(response) if response.status().is_success() => Outcome::Ok,
        Ok(response) if response.status().as_u16() == 429 => Outcome::RateLimited,
        Ok(response) => Outcome::Status(response.status().to_string()),
        Err(err) if err.is_timeout() => Outcome::TimedOut,
        Err(err) if err.is_redirect() => Outcome::Unreachable("too many redirects".into()),
        Err(err) => Outcome::Unreachable(innermost(&err)),
    }
}

/// The innermost cause of an error (`Connection refused (os error 111)`, not a chain of
/// "error sending request for url" wrappers).
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
