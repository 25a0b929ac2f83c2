//! What students can visit, from a release manifest: courses (their page and lessons, in
//! the manifest's route order), which courses need a grant, and the lab bundles.

use std::collections::BTreeMap;

use bundle::{Access, Manifest};

/// The courses and labs of one release.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// In the manifest's (sorted) route order, which is also their popularity rank.
    pub courses: Vec<Course>,
    /// Lab bundle prefix (`/labs/<hash>/` or `/courses/<slug>/_/labs/<hash>/`) -> its routes.
    pub labs: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Course {
    pub slug: String,
    /// `/courses/<slug>/`, when the release has it.
    pub page: Option<String>,
    /// Lesson pages `/courses/<slug>/<lesson>/`, in route order (rank for popularity).
    pub lessons: Vec<String>,
    /// Some route under `/courses/<slug>/` needs a grant for the course.
    pub enrolled: bool,
}

impl Catalogue {
    pub fn from_manifest(manifest: &Manifest) -> Catalogue {
        let mut courses: BTreeMap<&str, Course> = BTreeMap::new();
        let mut labs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (route, entry) in &manifest.routes {
            if let Some(prefix) = lab_prefix(route) {
                labs.entry(prefix.to_owned()).or_default().push(route.clone());
            }
            let Some(rest) = route.strip_prefix("/courses/") else { continue };
            let Some((slug, tail)) = rest.split_once('/') else { continue };
            if slug.is_empty() {
                continue;
            }
            let course = courses.entry(slug).or_insert_with(|| Course {
                slug: slug.to_owned(),
                page: None,
                lessons: Vec::new(),
                enrolled: false,
            });
            if matches!(&entry.access, Access::Course(s) if s == slug) {
                course.enrolled = true;
            }
            let is_html = entry.content_type.starts_with("text/html");
            if manifest.drafts.contains(route) || !is_html {
                continue;
            }
            if tail.is_empty() {
                course.page = Some(route.clone());
            } else if let Some(lesson) = tail.strip_suffix('/') {
                if !lesson.contains('/') && lesson != "_" {
                    course.lessons.push(route.clone());
                }
            }
        }
        let courses = courses.into_values().filter(|c| c.page.is_some() || !c.lessons.is_empty()).collect();
        Catalogue { courses, labs }
    }

    /// The lab bundle a path (`/labs/<hash>/index.html`) belongs to: its prefix and routes.
    pub fn lab_of(&self, path: &str) -> Option<(&str, &[String])> {
        let prefix = lab_prefix(path)?;
        self.labs.get_key_value(prefix).map(|(p, routes)| (p.as_str(), routes.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.courses.is_empty()
    }
}

/// `/labs/<hash>/` or `/courses/<slug>/_/labs/<hash>/` of a route inside a lab bundle.
fn lab_prefix(route: &str) -> Option<&str> {
    let start = if route.starts_with("/labs/") {
        0
    } else {
        let rest = route.strip_prefix("/courses/")?;
        let (slug, tail) = rest.split_once('/')?;
        if !tail.starts_with("_/labs/") {
            return None;
        }
        "/courses/".len() + slug.len() + "/_".len()
    };
    // `start` points at `/labs/<hash>/`.
    let after = &route[start + "/labs/".len()..];
    let hash_len = after.find('/')?;
    (hash_len > 0).then(|| &route[..start + "/labs/".len() + hash_len + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_prefixes() {
        assert_eq!(lab_prefix("/labs/28d3ff742b/app.js"), Some("/labs/28d3ff742b/"));
        assert_eq!(lab_prefix("/courses/ds/_/labs/abc/x/y.css"), Some("/courses/ds/_/labs/abc/"));
        assert_eq!(lab_prefix("/courses/ds/labs/abc/"), None);
        assert_eq!(lab_prefix("/labs//x"), None);
        assert_eq!(lab_prefix("/assets/x.js"), None);
    }
}
