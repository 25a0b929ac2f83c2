//! One student's visit, as a goose transaction: arrive (a new browser, or a returning one
//! with its cache and cookies), get a grant for an enrolled course, open pages and their
//! sub-resources, maybe take the quiz or open the lab, leave.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::cookie::Jar;
use reqwest::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RANGE,
    SET_COOKIE,
};
use url::Url;

use super::grants::store_cookies;
use super::page::{self, Document, Fetch};
use super::report::{cause_of, Answer, Cause, Event, Kind, Observation};
use super::Shared;

/// Bytes of a media source a browser with `preload="metadata"` asks for first.
const MEDIA_RANGE: &str = "bytes=0-65535";

/// A browser: the cookie jar, the immutable files it keeps, the pages it can revalidate.
#[derive(Clone)]
struct Browser {
    rng: ChaCha8Rng,
    jar: Arc<Jar>,
    /// Immutable paths cached forever (see [`cache_key`]).
    immutable: HashSet<String>,
    /// Page path -> (ETag, what the page makes the browser fetch).
    pages: HashMap<String, (String, Arc<Document>)>,
    /// Students this user has been so far.
    students: u64,
}

/// goose session data: the browser, taken out while a visit runs.
#[derive(Clone)]
struct Slot(Option<Browser>);

/// The on-start transaction: every user starts without a browser.
pub(crate) async fn arrive_first(user: &mut GooseUser) -> TransactionResult {
    user.set_session_data(Slot(None));
    Ok(())
}

/// One student's visit.
pub(crate) async fn visit(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    let taken = user.get_session_data_mut::<Slot>().and_then(|s| s.0.take());
    let mut browser = match taken {
        Some(b) => b,
        None => {
            let seed = shared.config.seed
                ^ (user.weighted_users_index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            Browser {
                rng: ChaCha8Rng::seed_from_u64(seed),
                jar: Arc::new(Jar::default()),
                immutable: HashSet::new(),
                pages: HashMap::new(),
                students: 0,
            }
        }
    };
    let returning = browser.students > 0 && browser.rng.random_bool(shared.config.returning_share);
    if !returning {
        // A new student: a new browser, with an empty cache and cookie jar.
        browser.jar = Arc::new(Jar::default());
        browser.immutable.clear();
        browser.pages.clear();
        let builder = reqwest::Client::builder()
            .cookie_provider(browser.jar.clone())
            .timeout(shared.config.timeout)
            .connect_timeout(shared.config.timeout)
            // Below Varnish's `timeout_idle` (5 s): the client closes an idle connection
            // before the edge does, so a reused one is rarely closed under a request.
            .pool_idle_timeout(Duration::from_secs(4))
            .user_agent("fleet-replay (a student)");
        user.set_client_builder(builder).await?;
    }
    browser.students += 1;
    shared.event(Event::Student { returning });
    let result = Visit { user, shared, browser: &mut browser }.run().await;
    if let Some(slot) = user.get_session_data_mut::<Slot>() {
        slot.0 = Some(browser);
    } else {
        user.set_session_data(Slot(Some(browser)));
    }
    result
}

struct Visit<'a> {
    user: &'a mut GooseUser,
    shared: &'a Shared,
    browser: &'a mut Browser,
}

/// What came back for one GET.
struct Got {
    answer: Answer,
    etag: Option<String>,
    release: Option<String>,
    immutable: bool,
    body: Vec<u8>,
}

impl Visit<'_> {
    async fn run(mut self) -> TransactionResult {
        let config = &self.shared.config;
        let rng = &mut self.browser.rng;
        let edge = self.shared.edges[rng.random_range(0..self.shared.edges.len())].clone();
        let index = self.shared.courses.sample(rng);
        let course = &config.catalogue.courses[index];
        let mut pages: Vec<String> = Vec::new();
        // A quarter arrive through the course page (a fifth of those through the site's
        // index), the rest straight on a lesson (a bookmark, a link from the LMS).
        if rng.random_bool(0.25) || course.lessons.is_empty() {
            if rng.random_bool(0.2) {
                pages.push("/".into());
            }
            pages.extend(course.page.clone());
        }
        if !course.lessons.is_empty() {
            let zipf = &self.shared.lessons[index];
            let count = 1 + (0..7).take_while(|_| rng.random_bool(0.6)).count();
            let mut lesson = zipf.sample(rng);
            for _ in 0..count {
                pages.push(course.lessons[lesson].clone());
                // Mostly on to the next lesson, sometimes elsewhere in the course.
                lesson = if rng.random_bool(0.8) && lesson + 1 < course.lessons.len() {
                    lesson + 1
                } else {
                    zipf.sample(rng)
                };
            }
        }
        let mut with_grant = false;
        if course.enrolled {
            self.shared.event(Event::EnrolledVisit);
            with_grant = self.grant(&course.slug).await?;
        }
        let enrolled_prefix = format!("/courses/{}/", course.slug);
        for (n, path) in pages.iter().enumerate() {
            if n > 0 {
                self.think().await;
            }
            let Ok(url) = edge.join(path) else { continue };
            let opened = self.page(&edge, &url).await?;
            if opened && with_grant && path.starts_with(&enrolled_prefix) {
                self.shared.event(Event::EnrolledPageOpened);
            }
        }
        Ok(())
    }

    async fn think(&mut self) {
        let (low, high) = self.shared.config.think;
        let millis = self.browser.rng.random_range(low.as_millis()..=high.as_millis());
        tokio::time::sleep(Duration::from_millis(millis as u64)).await;
    }

    /// Asks for a grant to `slug` for a student on its roster; true when cookies were stored.
    async fn grant(&mut self, slug: &str) -> Result<bool, Box<TransactionError>> {
        let (Some(grants), Some(url)) = (&self.shared.config.grants, &self.shared.grant_url) else {
            return Ok(false);
        };
        let Some(roster) = grants.rosters.get(slug).filter(|r| !r.is_empty()) else { return Ok(false) };
        let student = &roster[self.browser.rng.random_range(0..roster.len())];
        let builder = self
            .user
            .get_request_builder(&GooseMethod::Post, url.as_str())?
            .header(AUTHORIZATION, format!("Bearer {}", grants.api_key))
            .header(CONTENT_TYPE, "application/json")
            .body(grants.request_body(student, slug));
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(url.as_str())
            .name("grant")
            .set_request_builder(builder)
            .build();
        let started = Instant::now();
        let response = self.user.request(request).await?.response;
        let (answer, cookies) = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                let cookies: Vec<String> = response
                    .headers()
                    .get_all(SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect();
                match response.bytes().await {
                    Ok(_) => (Answer::Status(status), cookies),
                    Err(e) => (failure(&e).after_headers(status), Vec::new()),
                }
            }
            Err(e) => (failure(&e), Vec::new()),
        };
        let cause = match answer {
            Answer::Status(s) => cause_of(Kind::Grant, s, false, false),
            Answer::Failed(c, _) => Some(c),
        };
        let cause = cause.or_else(|| cookies.is_empty().then_some(Cause::Grant));
        self.record(Kind::Grant, url, answer, cause, started.elapsed(), None, None);
        if cause.is_some() {
            return Ok(false);
        }
        store_cookies(&self.browser.jar, cookies.iter().map(String::as_str), &self.shared.edges, slug);
        self.shared.event(Event::GrantIssued);
        Ok(true)
    }

    /// Opens a page and everything it uses; true when the page itself answered 200/304.
    async fn page(&mut self, edge: &Url, url: &Url) -> Result<bool, Box<TransactionError>> {
        let cached = self.browser.pages.get(cache_key(url)).cloned();
        let validator = cached.as_ref().map(|(etag, _)| etag.clone());
        let (got, cache_hit, latency) = self.get(url, validator.as_deref(), None, "page").await?;
        let cause = match &got.answer {
            Answer::Status(s) => cause_of(Kind::Page, *s, validator.is_some(), store_unavailable(&got)),
            Answer::Failed(c, _) => Some(*c),
        };
        self.record(Kind::Page, url, got.answer.clone(), cause, latency, cache_hit, got.release.as_deref());
        let document = match (&got.answer, cached) {
            (Answer::Status(304), Some((_, doc))) => doc,
            (Answer::Status(200), _) => {
                let html = String::from_utf8_lossy(&got.body);
                let doc = Arc::new(page::parse(&html, url));
                if let Some(etag) = got.etag {
                    self.browser.pages.insert(cache_key(url).to_owned(), (etag, doc.clone()));
                }
                doc
            }
            _ => return Ok(false),
        };
        if cause.is_some() {
            return Ok(false);
        }
        self.resources(&document, Kind::Asset).await?;
        if document.quiz && self.browser.rng.random_bool(self.shared.config.quiz_share) {
            // Scored in the browser by the quiz script (a sub-resource above).
            self.shared.event(Event::QuizTaken);
        }
        for frame in &document.frames {
            let lab =
                self.shared.config.catalogue.lab_of(frame.path()).map(|(p, r)| (p.to_owned(), r.to_vec()));
            match lab {
                Some((prefix, routes)) => {
                    if self.browser.rng.random_bool(self.shared.config.lab_share) {
                        self.lab(edge, frame, &prefix, &routes, &document.downloads).await?;
                    }
                }
                None => {
                    self.asset(frame, Fetch::Whole, Kind::Asset).await?;
                }
            }
        }
        Ok(true)
    }

    async fn resources(&mut self, document: &Document, kind: Kind) -> Result<(), Box<TransactionError>> {
        for (url, fetch) in &document.resources {
            self.asset(url, *fetch, kind).await?;
        }
        Ok(())
    }

    /// Fetches a sub-resource unless the browser keeps it; the document it is, if it is HTML.
    async fn asset(
        &mut self,
        url: &Url,
        fetch: Fetch,
        kind: Kind,
    ) -> Result<Option<Got>, Box<TransactionError>> {
        if self.browser.immutable.contains(cache_key(url)) {
            return Ok(None);
        }
        let range = (fetch == Fetch::Range).then_some(MEDIA_RANGE);
        let (got, cache_hit, latency) = self.get(url, None, range, "asset").await?;
        let cause = match &got.answer {
            Answer::Status(s) => cause_of(kind, *s, false, store_unavailable(&got)),
            Answer::Failed(c, _) => Some(*c),
        };
        self.record(kind, url, got.answer.clone(), cause, latency, cache_hit, None);
        if cause.is_none() && got.immutable {
            self.browser.immutable.insert(cache_key(url).to_owned());
        }
        Ok(Some(got))
    }

    /// Opens a lab: its page, what the page names, then the bundle's other files (what
    /// the lab's script fetches), and the starter download on some visits.
    async fn lab(
        &mut self,
        edge: &Url,
        frame: &Url,
        prefix: &str,
        routes: &[String],
        downloads: &[Url],
    ) -> Result<(), Box<TransactionError>> {
        self.shared.event(Event::LabOpened);
        let key = cache_key(frame).to_owned();
        let document = match self.asset(frame, Fetch::Whole, Kind::Lab).await? {
            Some(got) if matches!(got.answer, Answer::Status(200)) => {
                let doc = Arc::new(page::parse(&String::from_utf8_lossy(&got.body), frame));
                self.browser.pages.insert(key, (String::new(), doc.clone()));
                Some(doc)
            }
            Some(_) => None,
            None => self.browser.pages.get(&key).map(|(_, doc)| doc.clone()),
        };
        let mut named: Vec<Url> = vec![frame.clone()];
        if let Some(document) = &document {
            self.resources(document, Kind::Lab).await?;
            named.extend(document.resources.iter().map(|(u, _)| u.clone()));
        }
        for route in routes {
            let Ok(url) = edge.join(route) else { continue };
            if route.starts_with(prefix) && !named.contains(&url) {
                self.asset(&url, Fetch::Whole, Kind::Lab).await?;
            }
        }
        for download in downloads {
            if self.browser.rng.random_bool(0.3) {
                self.asset(download, Fetch::Whole, Kind::Download).await?;
            }
        }
        Ok(())
    }

    /// Sends one GET through goose (which records it), up to the answer's headers.
    async fn send_get(
        &mut self,
        url: &Url,
        if_none_match: Option<&str>,
        range: Option<&str>,
        name: &str,
    ) -> Result<Result<reqwest::Response, reqwest::Error>, Box<TransactionError>> {
        let mut builder = self.user.get_request_builder(&GooseMethod::Get, url.as_str())?;
        if let Some(etag) = if_none_match {
            builder = builder.header(IF_NONE_MATCH, etag);
        }
        if let Some(range) = range {
            builder = builder.header(RANGE, range);
        }
        let request = GooseRequest::builder()
            .method(GooseMethod::Get)
            .path(url.as_str())
            .name(name)
            .set_request_builder(builder)
            .build();
        Ok(self.user.request(request).await?.response)
    }

    /// One GET through goose, its body read whole: what came back, `X-Cache`, latency.
    async fn get(
        &mut self,
        url: &Url,
        if_none_match: Option<&str>,
        range: Option<&str>,
        name: &str,
    ) -> Result<(Got, Option<bool>, Duration), Box<TransactionError>> {
        let started = Instant::now();
        let mut response = self.send_get(url, if_none_match, range, name).await?;
        if response.as_ref().is_err_and(closed_before_answer) {
            self.shared.event(Event::Resent);
            response = self.send_get(url, if_none_match, range, name).await?;
        }
        let mut got = Got {
            answer: Answer::Failed(Cause::Connection, String::new()),
            etag: None,
            release: None,
            immutable: false,
            body: Vec::new(),
        };
        let mut cache_hit = None;
        match response {
            Ok(response) => {
                let headers = response.headers();
                let text = |name: &HeaderName| {
                    headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned)
                };
                got.etag = text(&ETAG);
                got.release = text(&HeaderName::from_static("x-release"));
                got.immutable = text(&CACHE_CONTROL).is_some_and(|c| c.contains("immutable"));
                cache_hit = text(&HeaderName::from_static("x-cache"))
                    .map(|c| c.to_ascii_uppercase().starts_with("HIT"));
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => {
                        got.answer = Answer::Status(status);
                        got.body = body.to_vec();
                    }
                    Err(e) => got.answer = failure(&e).after_headers(status),
                }
            }
            Err(e) => got.answer = failure(&e),
        }
        Ok((got, cache_hit, started.elapsed()))
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        kind: Kind,
        url: &Url,
        answer: Answer,
        cause: Option<Cause>,
        latency: Duration,
        cache_hit: Option<bool>,
        release: Option<&str>,
    ) {
        let edge = url.origin().ascii_serialization();
        self.shared.record(&Observation {
            at: self.shared.started.elapsed().saturating_sub(latency),
            kind,
            edge: &edge,
            path: url.path(),
            answer,
            cause,
            latency,
            cache_hit,
            release,
        });
    }
}

/// What a browser's cache is keyed by: the path and query, since every edge serves the
/// same site (students reach one public host name, whichever edge answers).
fn cache_key(url: &Url) -> &str {
    &url[url::Position::BeforePath..url::Position::AfterQuery]
}

fn store_unavailable(got: &Got) -> bool {
    matches!(got.answer, Answer::Status(503)) && got.body.starts_with(b"store unavailable")
}

/// The failure a browser hides by sending the request again on a new connection: a
/// kept-alive connection the server closed (its idle timeout) just as the request went
/// out, before any byte of an answer (Chromium: `ShouldResendRequest`). A refused
/// connection or a timeout is not this, and is the student's error.
fn closed_before_answer(error: &reqwest::Error) -> bool {
    if error.is_timeout() || error.is_connect() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if inner.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message) {
            return true;
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            return matches!(io.kind(), ConnectionReset | BrokenPipe | ConnectionAborted);
        }
        source = inner.source();
    }
    false
}

/// A request that got no whole answer, and why, with the error's sources.
fn failure(error: &reqwest::Error) -> Answer {
    let cause = if error.is_timeout() { Cause::Timeout } else { Cause::Connection };
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    Answer::Failed(cause, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// The error a GET to a server that answers with `reply` (then closes) ends with.
    async fn error_of(reply: &'static [u8], timeout: Duration) -> reqwest::Error {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(reply).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let client = reqwest::Client::builder().timeout(timeout).build().expect("client");
        let response = client.get(format!("http://{addr}/")).send().await;
        response.expect_err("no answer")
    }

    #[tokio::test]
    async fn only_a_connection_closed_before_any_answer_is_resent() {
        // Closed with nothing said: what a kept-alive connection the edge timed out gives.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.expect("accept");
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
            });
            reqwest::get(format!("http://{addr}/")).await.expect_err("closed")
        };
        assert!(closed_before_answer(&closed), "{closed:?}");
        // A refused connection (the edge is down) and a timeout are the student's errors.
        let refused = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            drop(listener);
            reqwest::get(format!("http://{addr}/")).await.expect_err("refused")
        };
        assert!(!closed_before_answer(&refused), "{refused:?}");
        let timed_out = error_of(b"", Duration::from_millis(200)).await;
        assert!(!closed_before_answer(&timed_out), "{timed_out:?}");
        // An answer that is not HTTP is not resent either.
        let garbage = error_of(b"garbage\r\n\r\n", Duration::from_secs(5)).await;
        assert!(!closed_before_answer(&garbage), "{garbage:?}");
    }
}
