//! Issuing grants: `POST /_origin/grants` (for the LMS, authenticated with an API key)
//! answers a signed URL and cookies for a student on the course's roster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bundle::grant::{sign_custom, HashAlgorithm, Policy, SigningKey};
use serde::Deserialize;

/// Longest grant the endpoint issues.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Enrollment rosters, from a TOML file (`[courses] <slug> = ["student", ...]`),
/// re-read whenever the file changes so a removed student gets no new grant.
pub(crate) struct Rosters {
    path: PathBuf,
    /// The file's modification time when read, and course -> students.
    loaded: Mutex<(Option<SystemTime>, Enrollments)>,
}

type Enrollments = BTreeMap<String, BTreeSet<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    courses: BTreeMap<String, Vec<String>>,
}

impl Rosters {
    pub(crate) fn new(path: PathBuf) -> Self {
        Rosters { path, loaded: Mutex::new((None, BTreeMap::new())) }
    }

    /// Reads the file now (at start: a broken roster is a configuration error, not a 503
    /// on the first grant request).
    pub(crate) fn check(&self) -> Result<(), String> {
        self.is_enrolled("", "").map(|_| ())
    }

    /// Whether `student` is enrolled in `course`, reading the file again if it changed.
    pub(crate) fn is_enrolled(&self, course: &str, student: &str) -> Result<bool, String> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("roster file {}: {e}", self.path.display()))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.0 != Some(modified) {
            let text = std::fs::read_to_string(&self.path).map_err(|e| format!("roster file: {e}"))?;
            let file: RosterFile = toml::from_str(&text).map_err(|e| roster_error(&self.path, &text, &e))?;
            let courses = file.courses.into_iter().map(|(c, s)| (c, s.into_iter().collect())).collect();
            *loaded = (Some(modified), courses);
        }
        Ok(loaded.1.get(course).is_some_and(|students| students.contains(student)))
    }
}

/// A roster parse error by line and column, without toml's echo of the line (it would
/// print students' names into the log).
fn roster_error(path: &std::path::Path, text: &str, err: &toml::de::Error) -> String {
    let offset = err.span().map_or(0, |span| span.start.min(text.len()));
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    let message = err.message().split('"').step_by(2).collect::<Vec<_>>().join("\"…\"");
    format!("roster file {}: line {line}, column {column}: {message}", path.display())
}

pub(crate) struct Issuer {
    pub api_key: String,
    pub key: SigningKey,
    pub key_pair_id: String,
    pub rosters: Rosters,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRequest {
    pub student: String,
    pub course: String,
    /// Seconds, or a duration such as "15m"; default one hour, at most a day.
    #[serde(default)]
    pub ttl: Option<serde_json::Value>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IssueError {
    BadRequest(String),
    NotEnrolled,
    UnknownCourse,
    Unavailable(String),
}

/// What the endpoint answers: the signed URL, its query, and cookies to set.
pub(crate) struct IssuedGrant {
    pub url: String,
    pub query: String,
    pub cookies: Vec<String>,
    pub expires: u64,
}

pub(crate) fn parse_ttl(ttl: Option<&serde_json::Value>) -> Result<Duration, IssueError> {
    let ttl = match ttl {
        None => DEFAULT_TTL,
        Some(serde_json::Value::Number(n)) => Duration::from_secs(
            n.as_u64()
                .ok_or_else(|| IssueError::BadRequest("ttl must be a whole number of seconds".into()))?,
        ),
        Some(serde_json::Value::String(s)) => {
            humantime::parse_duration(s).map_err(|e| IssueError::BadRequest(format!("ttl: {e}")))?
        }
        Some(_) => return Err(IssueError::BadRequest("ttl must be seconds or a duration string".into())),
    };
    // Whole seconds: a grant's expiry and its cookies' Max-Age have no smaller unit.
    if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
        return Err(IssueError::BadRequest(format!("ttl must be between 1s and {}s", MAX_TTL.as_secs())));
    }
    Ok(ttl)
}

impl Issuer {
    /// Signs a grant for the whole course prefix `<base>/courses/<course>/*`.
    pub(crate) fn issue(
        &self,
        request: &GrantRequest,
        base: &str,
        course_exists: bool,
    ) -> Result<IssuedGrant, IssueError> {
        if !bundle::paths::is_slug(&request.course) || !course_exists {
            return Err(IssueError::UnknownCourse);
        }
        let ttl = parse_ttl(request.ttl.as_ref())?;
        match self.rosters.is_enrolled(&request.course, &request.student) {
            Ok(true) => {}
            Ok(false) => return Err(IssueError::NotEnrolled),
            Err(err) => return Err(IssueError::Unavailable(err)),
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let expires = now + ttl.as_secs();
        let prefix = format!("{base}{}", bundle::paths::course_prefix(&request.course));
        let policy = Policy {
            resource: format!("{prefix}*"),
            date_less_than: expires,
            date_greater_than: None,
            ip_address: None,
        };
        let issued = sign_custom(&policy, &self.key, &self.key_pair_id, HashAlgorithm::Sha256);
        let path = bundle::paths::course_prefix(&request.course);
        let mut cookies: Vec<String> = issued
            .cookies
            .iter()
            .map(|(name, value)| {
                format!(
                    "{name}={value}; Path={path}; Max-Age={}; Secure; HttpOnly; SameSite=Lax",
                    ttl.as_secs()
                )
            })
            .collect();
        cookies.push(bundle::paths::grant_hint_cookie(&request.course, ttl.as_secs(), true));
        Ok(IssuedGrant { url: format!("{prefix}?{}", issued.query), query: issued.query, cookies, expires })
    }
}
