//! Grants for enrolled courses: who may ask (`POST /_origin/grants` with the LMS's API
//! key), for which students, and putting the cookies it answers into a student's jar for
//! every edge (the grant endpoint is usually another host than the edges).

use std::collections::BTreeMap;

use reqwest::cookie::Jar;
use url::Url;

/// Where and how students get grants, and who is on each enrolled course's roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    /// Base URL of an origin that issues grants (`http://127.0.0.1:8080`).
    pub endpoint: String,
    /// Its `--api-key`.
    pub api_key: String,
    /// Course slug -> the students on its roster; a student of the course is one of these.
    pub rosters: BTreeMap<String, Vec<String>>,
    /// The grant's `ttl` (`"15m"`).
    pub ttl: String,
}

impl Grants {
    /// `per_course` students named `<slug>-s<n>` on the roster of each course.
    pub fn numbered<'a>(
        endpoint: &str,
        api_key: &str,
        courses: impl IntoIterator<Item = &'a str>,
        per_course: usize,
    ) -> Grants {
        let rosters = courses
            .into_iter()
            .map(|slug| (slug.to_owned(), (0..per_course).map(|n| format!("{slug}-s{n}")).collect()))
            .collect();
        Grants { endpoint: endpoint.to_owned(), api_key: api_key.to_owned(), rosters, ttl: "15m".into() }
    }

    /// The rosters as the origin's `--rosters` file reads them.
    pub fn rosters_toml(&self) -> String {
        let mut out = String::from("[courses]\n");
        for (slug, students) in &self.rosters {
            let names: Vec<String> = students.iter().map(|s| format!("{s:?}")).collect();
            out.push_str(&format!("{slug:?} = [{}]\n", names.join(", ")));
        }
        out
    }

    /// The JSON body asking for `student`'s grant to `course`.
    pub(crate) fn request_body(&self, student: &str, course: &str) -> String {
        serde_json::json!({ "student": student, "course": course, "ttl": self.ttl }).to_string()
    }
}

/// Stores each `Set-Cookie` value for `/courses/<slug>/` of every edge. A grant's cookies
/// are `Secure` when the public URL is https; an edge spoken to over plain http (the
/// benchmark's loopback Varnish) gets them without `Secure`, as a TLS-terminating CDN
/// would have them sent.
pub(crate) fn store_cookies<'a>(
    jar: &Jar,
    set_cookies: impl IntoIterator<Item = &'a str> + Clone,
    edges: &[Url],
    slug: &str,
) {
    for edge in edges {
        let Ok(scope) = edge.join(&format!("/courses/{slug}/")) else { continue };
        for cookie in set_cookies.clone() {
            let cookie = if edge.scheme() == "http" { without_secure(cookie) } else { cookie.to_owned() };
            jar.add_cookie_str(&cookie, &scope);
        }
    }
}

fn without_secure(cookie: &str) -> String {
    cookie.split(';').filter(|part| !part.trim().eq_ignore_ascii_case("secure")).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::cookie::CookieStore;

    #[test]
    fn cookies_go_to_every_edge_under_the_course_only() {
        let jar = Jar::default();
        let edges = [
            Url::parse("http://127.0.0.1:6081").expect("url"),
            Url::parse("http://127.0.0.1:6082").expect("url"),
        ];
        let set = [
            "CloudFront-Policy=abc; Path=/courses/ds/; Secure; HttpOnly; SameSite=Lax",
            "CloudFront-Signature=sig; Path=/courses/ds/; HttpOnly",
        ];
        store_cookies(&jar, set, &edges, "ds");
        for edge in &edges {
            let lesson = edge.join("/courses/ds/stacks/").expect("url");
            let header = jar.cookies(&lesson).expect("cookies for the course");
            let header = header.to_str().expect("ascii");
            assert!(
                header.contains("CloudFront-Policy=abc") && header.contains("CloudFront-Signature=sig"),
                "{header}"
            );
            assert!(jar.cookies(&edge.join("/courses/other/").expect("url")).is_none());
            assert!(jar.cookies(&edge.join("/").expect("url")).is_none());
        }
    }

    #[test]
    fn numbered_rosters() {
        let g = Grants::numbered("http://o", "k", ["ds", "py"], 2);
        assert_eq!(g.rosters["ds"], ["ds-s0", "ds-s1"]);
        assert_eq!(
            g.rosters_toml(),
            "[courses]\n\"ds\" = [\"ds-s0\", \"ds-s1\"]\n\"py\" = [\"py-s0\", \"py-s1\"]\n"
        );
        let body: serde_json::Value = serde_json::from_str(&g.request_body("ds-s1", "ds")).expect("json");
        assert_eq!(body, serde_json::json!({"student": "ds-s1", "course": "ds", "ttl": "15m"}));
    }
}
