//! What one release change invalidates: the stable routes that changed or were removed,
//! each in the URL forms caches hold it under, collapsed into wildcards past a budget.

use std::collections::BTreeSet;

use bundle::{CacheClass, Manifest};

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

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use bundle::{Access, ObjectKey, Route};

    use super::*;

    pub(crate) fn route(bytes: &str, cache: CacheClass) -> Route {
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
    pub(crate) fn catalogue() -> Manifest {
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

    pub(crate) fn edit(m: &mut Manifest, r: &str) {
        let cache = m.routes[r].cache;
        m.routes.insert(r.to_owned(), route(&format!("{r} edited"), cache));
    }

    pub(crate) fn strings(v: &[&str]) -> Vec<String> {
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
}
