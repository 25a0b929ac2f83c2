//! The theme: minijinja templates with strict undefined, and the `asset()` function.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde::Serialize;

use crate::build::diagnostics::{ContentError, Diagnostics, LineIndex};
use crate::build::tree::ContentRoot;

/// Templates the build renders; a theme must provide them all.
pub(crate) const REQUIRED: [&str; 8] = [
    "index.html",
    "course.html",
    "lesson.html",
    "404.html",
    "403.html",
    "partials/quiz.html",
    "partials/animation.html",
    "partials/lab.html",
];

pub(crate) struct Theme {
    env: Environment<'static>,
    /// Template name -> (path shown in errors, source), to place errors.
    sources: BTreeMap<String, (PathBuf, String)>,
}

impl Theme {
    /// Loads `theme/templates`; `asset_urls` maps `theme/static` paths to their URLs.
    pub(crate) fn load(
        diags: &Diagnostics,
        root: &ContentRoot,
        asset_urls: BTreeMap<String, String>,
    ) -> Option<Theme> {
        let dir = root.shown.join("theme/templates");
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let asset_urls = Arc::new(asset_urls);
        env.add_function("asset", move |path: String| -> Result<String, minijinja::Error> {
            asset_urls.get(&path).cloned().ok_or_else(|| {
                let msg = format!("asset(\"{path}\"): no such file in theme/static");
                minijinja::Error::new(ErrorKind::InvalidOperation, msg)
            })
        });
        let mut theme = Theme { env, sources: BTreeMap::new() };
        let mut ok = true;
        for (name, path) in root.files_under(diags, &dir) {
            let Some(source) = root.read_text(diags, &path) else {
                ok = false;
                continue;
            };
            theme.sources.insert(name.clone(), (path, source.clone()));
            if let Err(err) = theme.env.add_template_owned(name, source) {
                diags.push(theme.error(&err));
                ok = false;
            }
        }
        for name in REQUIRED {
            if !theme.sources.contains_key(name) {
                diags.at(&dir.join(name), 1, 1, "the theme has no such template, and the build needs it");
                ok = false;
            }
        }
        ok.then_some(theme)
    }

    /// A hash of every template's name and source.
    pub(crate) fn fingerprint(&self) -> String {
        let listing: String =
            self.sources.iter().map(|(name, (_, source))| format!("{name}\0{source}\0")).collect();
        bundle::sha256_hex(listing.as_bytes())
    }

    pub(crate) fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, ContentError> {
        let template = self.env.get_template(name).map_err(|e| self.error(&e))?;
        template.render(ctx).map_err(|e| self.error(&e))
    }

    /// Places a minijinja error at `file:line:col` of the template it happened in.
    fn error(&self, err: &minijinja::Error) -> ContentError {
        let name = err.name().unwrap_or_default();
        let (file, source) = match self.sources.get(name) {
            Some((path, source)) => (path.clone(), source.as_str()),
            None => (PathBuf::from(format!("theme/templates/{name}")), ""),
        };
        let index = LineIndex::new(source);
        let (line, col) = match (err.range(), err.line()) {
            (Some(range), _) => index.line_col(range.start),
            (None, Some(line)) => (line, 1),
            (None, None) => (1, 1),
        };
        let mut message = match err.kind() {
            ErrorKind::UndefinedError => "undefined variable or attribute".to_owned(),
            ErrorKind::SyntaxError => "template syntax error".to_owned(),
            kind => kind.to_string(),
        };
        if let Some(detail) = err.detail() {
            message = format!("{message}: {detail}");
        }
        if let Some(snippet) = err.range().and_then(|r| source.get(r)) {
            message = format!("{message} (`{snippet}`)");
        }
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        ContentError { file, line, col, message }
    }
}
