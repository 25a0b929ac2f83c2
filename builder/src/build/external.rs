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
    pages: &[std::sync::Arc<PageLinks>],
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
                Outcome::Status(status) => {
                    errors.push(at(link, format!("external link `{dest}` is broken: {status}")))
                }
                Outcome::TimedOut => {
                    let limit = humantime::format_duration(check.timeout);
                    let msg =
                        format!("external link `{dest}` did not answer within {limit} (--external-timeout)");
                    errors.push(at(link, msg));
                }
                Outcome::Unreachable(why) => {
                    errors.push(at(link, format!("external link `{dest}` could not be reached: {why}")))
                }
                Outcome::RateLimited => {
                    let msg = format!(
                        "external link `{dest}` not checked: the site answered 429 Too Many Requests"
                    );
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

/// Redirects followed before a link counts as broken.
const MAX_REDIRECTS: usize = 10;

const USER_AGENT: &str = concat!("course-build/", env!("CARGO_PKG_VERSION"), " (link check)");

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<bytes::Bytes>,
>;

/// Fetches `urls`, `concurrency` at a time, on a runtime of its own (on a thread of its own,
/// so a caller inside another runtime is no problem): one outcome per URL, in order.
fn fetch_all(check: &ExternalCheck, urls: &[&str]) -> Vec<Outcome> {
    if urls.is_empty() {
        return Vec::new();
    }
    let failed = |why: String| vec![Outcome::Unreachable(why); urls.len()];
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => return failed(format!("no runtime: {err}")),
            };
            // The connector needs the runtime (its DNS resolver runs on it).
            let _entered = runtime.enter();
            let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let https =
                match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider) {
                    Ok(https) => https.https_or_http().enable_http1().build(),
                    Err(err) => return failed(format!("no TLS roots: {err}")),
                };
            let client: Client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build(https);
            runtime.block_on(
                stream::iter(urls.iter().map(|url| fetch(&client, url, check.timeout)))
                    .buffered(check.concurrency.max(1))
                    .collect::<Vec<_>>(),
            )
        });
        run.join().unwrap_or_else(|_| failed("the link checker failed".into()))
    })
}

/// HEAD, then GET if the server refuses HEAD (405, 501); each within `timeout`.
async fn fetch(client: &Client, url: &str, timeout: Duration) -> Outcome {
    let within = |method| tokio::time::timeout(timeout, status(client, method, url));
    let mut answer = within(http::Method::HEAD).await;
    if let Ok(Ok(status)) = &answer {
        if *status == http::StatusCode::METHOD_NOT_ALLOWED || *status == http::StatusCode::NOT_IMPLEMENTED {
            answer = within(http::Method::GET).await;
        }
    }
    match answer {
        Err(_elapsed) => Outcome::TimedOut,
        Ok(Err(why)) => Outcome::Unreachable(why),
        Ok(Ok(status)) if status.is_success() => Outcome::Ok,
        Ok(Ok(status)) if status == http::StatusCode::TOO_MANY_REQUESTS => Outcome::RateLimited,
        Ok(Ok(status)) => Outcome::Status(status.to_string()),
    }
}

/// The status `url` answers `method` with, after following redirects.
async fn status(client: &Client, method: http::Method, url: &str) -> Result<http::StatusCode, String> {
    let mut url = url::Url::parse(url).map_err(|err| format!("not a valid URL ({err})"))?;
    for _ in 0..=MAX_REDIRECTS {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(url.as_str())
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "*/*")
            .body(http_body_util::Empty::new())
            .map_err(|err| format!("not a valid URL ({err})"))?;
        let response = client.request(request).await.map_err(|err| innermost(&err))?;
        let status = response.status();
        let location = response.headers().get(http::header::LOCATION).and_then(|l| l.to_str().ok());
        match location.filter(|_| status.is_redirection()) {
            Some(location) => {
                url = url.join(location).map_err(|err| format!("a redirect to a bad URL ({err})"))?
            }
            None => return Ok(status),
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// The innermost cause of an error (`Connection refused (os error 111)`, not a chain of
/// "client error (Connect)" wrappers).
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
