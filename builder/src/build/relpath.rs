//! Content-relative paths (always `/`-separated, no leading slash).

/// Joins `reference` (relative, `/`-separated) onto the directory `base_dir` and
/// normalises `.` and `..`. `None` when it climbs above the root.
pub(crate) fn join(base_dir: &str, reference: &str) -> Option<String> {
    let mut parts: Vec<&str> = base_dir.split('/').filter(|s| !s.is_empty()).collect();
    for seg in reference.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(seg),
        }
    }
    Some(parts.join("/"))
}

/// The directory part of a content-relative file path (`a/b/c.md` -> `a/b`).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Splits `x.md#frag` / `x.css?v=1` into the path and its suffix (`#frag`, `?v=1`).
pub(crate) fn split_suffix(reference: &str) -> (&str, &str) {
    let cut = reference.find(['#', '?']).unwrap_or(reference.len());
    reference.split_at(cut)
}

/// Whether a reference leaves the site or stays in the page (and so is not ours to resolve).
pub(crate) fn is_external(reference: &str) -> bool {
    let lower = reference.to_ascii_lowercase();
    reference.starts_with('#')
        || reference.starts_with("//")
        || ["http:", "https:", "mailto:", "data:", "tel:"].iter().any(|p| lower.starts_with(p))
}

/// The scheme of a URL (`javascript` in ` Java\tScript:x`), lowercased, read as a browser
/// does: leading spaces and control characters dropped, tabs and newlines ignored.
pub(crate) fn scheme(reference: &str) -> Option<String> {
    let cleaned: String = reference
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let end = cleaned.find([':', '/', '?', '#'])?;
    let candidate = &cleaned[..end];
    let valid = cleaned[end..].starts_with(':')
        && candidate.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && candidate.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| candidate.to_ascii_lowercase())
}

/// File names that are served as-is must be safe in a URL without escaping.
pub(crate) fn is_url_safe(rel: &str) -> bool {
    rel.split('/').all(|seg| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_normalises() {
        assert_eq!(join("courses/py", "loops.md").as_deref(), Some("courses/py/loops.md"));
        assert_eq!(join("courses/py", "../js/a.md").as_deref(), Some("courses/js/a.md"));
        assert_eq!(join("courses/py", "./media/x.png").as_deref(), Some("courses/py/media/x.png"));
        assert_eq!(join("a", "../../x"), None);
        assert_eq!(parent("a/b/c.md"), "a/b");
        assert_eq!(parent("c.md"), "");
        assert_eq!(split_suffix("x.md#y"), ("x.md", "#y"));
        assert!(is_external("https://x") && is_external("#top") && !is_external("x.md"));
        assert_eq!(scheme("https://x").as_deref(), Some("https"));
        assert_eq!(scheme(" Java\tScript:alert(1)").as_deref(), Some("javascript"));
        assert_eq!(scheme("\u{1}vbscript:x").as_deref(), Some("vbscript"));
        assert_eq!(scheme("media/x.png"), None);
        assert_eq!(scheme("x.md#a:b"), None);
        assert_eq!(scheme("./a:b"), None);
        assert!(is_url_safe("img/logo-2.svg") && !is_url_safe("my file.png") && !is_url_safe("a/../b"));
    }
}
