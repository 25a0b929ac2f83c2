//! The rich fenced blocks of lessons (` ```quiz `, ` ```animation `, ` ```lab `): TOML in,
//! HTML out through the theme's partials.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bundle::Access;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::build::assets::{AssetId, Assets, Uses};
use crate::build::catalogue::SourceFile;
use crate::build::diagnostics::Diagnostics;
use crate::build::frontmatter::parse_toml_checked;
use crate::build::links::LinkRef;
use crate::build::markdown::{inline_html, MarkdownEnv, Page};
use crate::build::theme::Theme;

/// The kinds of rich fenced blocks.
pub(crate) const BLOCKS: [&str; 3] = ["quiz", "animation", "lab"];

pub(crate) fn is_block(lang: &str) -> bool {
    BLOCKS.contains(&lang)
}

/// What a lab block shows, prepared once per build.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LabView {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub instructions: String,
    pub app_url: String,
    pub starter_url: Option<String>,
    pub starter_name: Option<String>,
    pub starter_files: Vec<String>,
    pub height: u32,
}

/// A lab as lessons show it. Its instructions are rendered the first time a page of a
/// scope needs them (once per scope: their media URLs depend on it), so a rebuild that
/// renders one lesson does not render every lab.
pub(crate) struct LabEntry<'a> {
    pub slug: String,
    pub title: String,
    pub summary: Option<String>,
    pub instructions: &'a SourceFile,
    rendered: Mutex<BTreeMap<Access, Arc<RenderedInstructions>>>,
}

/// A lab's instructions as the pages of one scope show them.
struct RenderedInstructions {
    html: String,
    uses: Uses,
    /// Their links that are checked after rendering (on the page that shows the lab).
    links: Vec<LinkRef>,
}

impl<'a> LabEntry<'a> {
    pub(crate) fn new(
        slug: String,
        title: String,
        summary: Option<String>,
        instructions: &'a SourceFile,
    ) -> Self {
        LabEntry { slug, title, summary, instructions, rendered: Mutex::default() }
    }

    /// The lab as a page of `scope` shows it, what it uses there (its bundle, starter
    /// and the media of its instructions) and the links of its instructions to check on
    /// that page; `None` when the lab has no app bundle.
    pub(crate) fn view(
        &self,
        assets: &Assets,
        markdown: &MarkdownEnv<'_>,
        scope: &Access,
    ) -> Option<(LabView, Uses, Vec<LinkRef>)> {
        let bundle = assets.lab(scope, &self.slug)?;
        let cached = self.rendered.lock().unwrap_or_else(|e| e.into_inner()).get(scope).cloned();
        let rendered = match cached {
            Some(rendered) => rendered,
            None => {
                let page = markdown.render(self.instructions, 0, scope);
                let rendered =
                    Arc::new(RenderedInstructions { html: page.html, uses: page.uses, links: page.links });
                self.rendered
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(scope.clone(), rendered.clone());
                rendered
            }
        };
        let mut uses = rendered.uses.clone();
        uses.insert(AssetId::Lab(self.slug.clone()));
        let view = LabView {
            slug: self.slug.clone(),
            title: self.title.clone(),
            summary: self.summary.clone(),
            instructions: rendered.html.clone(),
            app_url: bundle.app_url,
            starter_url: bundle.starter_url,
            starter_name: bundle.starter_name,
            starter_files: bundle.starter_files,
            height: DEFAULT_LAB_HEIGHT,
        };
        Some((view, uses, rendered.links.clone()))
    }
}

/// Height of a lab's frame unless its block sets one.
const DEFAULT_LAB_HEIGHT: u32 = 520;

pub(crate) struct Components<'a> {
    pub diags: &'a Diagnostics,
    pub theme: &'a Theme,
    pub assets: &'a Assets,
    pub labs: &'a BTreeMap<String, LabEntry<'a>>,
    /// Renders lab instructions (plain Markdown: no components inside).
    pub instructions: &'a MarkdownEnv<'a>,
}

/// Numbers blocks within one page so their ids are unique.
#[derive(Default)]
pub(crate) struct Counters {
    quiz: usize,
    animation: usize,
}

/// Unknown keys of the blocks are reported one by one (`parse_toml_checked`), so the
/// blocks' own structs do not deny them.
#[derive(Deserialize)]
struct QuizBlock {
    #[serde(default)]
    title: Option<String>,
    questions: Vec<Spanned<QuestionBlock>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionBlock {
    prompt: String,
    choices: Vec<String>,
    answer: usize,
    #[serde(default)]
    explanation: Option<String>,
}

#[derive(Serialize)]
struct QuizView {
    id: String,
    title: Option<String>,
    questions: Vec<QuestionView>,
}

#[derive(Serialize)]
struct QuestionView {
    prompt: String,
    choices: Vec<String>,
    answer: usize,
    explanation: Option<String>,
}

#[derive(Deserialize)]
struct AnimationBlock {
    src: Spanned<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default, rename = "loop")]
    looping: Option<bool>,
}

#[derive(Serialize)]
struct AnimationView {
    id: String,
    kind: &'static str,
    url: String,
    mime: String,
    caption: Option<String>,
    #[serde(rename = "loop")]
    looping: bool,
}

#[derive(Deserialize)]
struct LabBlock {
    src: Spanned<String>,
    #[serde(default)]
    height: Option<u32>,
}

impl Components<'_> {
    /// Renders the block whose TOML `code` starts at byte `at` of `source`, on `page`.
    pub(crate) fn render(
        &self,
        kind: &str,
        code: &str,
        source: &SourceFile,
        at: usize,
        counters: &mut Counters,
        page: &mut Page<'_>,
    ) -> Option<String> {
        let (file, text) = (&source.shown, &source.text);
        let what = format!("```{kind} block");
        let err = |offset: usize, msg: String| self.diags.at_offset(file, text, at + offset, msg);
        let html = match kind {
            "quiz" => {
                let block: QuizBlock =
                    parse_toml_checked(self.diags, file, text, code, at, &what, &["title", "questions"])?;
                if block.questions.is_empty() {
                    err(0, "a quiz needs at least one [[questions]]".into());
                    return None;
                }
                let mut questions = Vec::new();
                for q in block.questions {
                    let offset = q.span().start;
                    let q = q.into_inner();
                    if q.choices.len() < 2 {
                        err(offset, "a question needs at least two choices".into());
                    } else if q.answer >= q.choices.len() {
                        let msg = format!(
                            "answer = {} but choices are numbered 0 to {}",
                            q.answer,
                            q.choices.len() - 1
                        );
                        err(offset, msg);
                    }
                    let mut inline = |text: &str| {
                        inline_html(text).unwrap_or_else(|msg| {
                            err(offset, msg);
                            String::new()
                        })
                    };
                    let prompt = inline(&q.prompt);
                    let choices = q.choices.iter().map(|c| inline(c)).collect();
                    let explanation = q.explanation.as_deref().map(&mut inline);
                    questions.push(QuestionView { prompt, choices, answer: q.answer, explanation });
                }
                counters.quiz += 1;
                let quiz = QuizView { id: counters.quiz.to_string(), title: block.title, questions };
                self.theme.render("partials/quiz.html", minijinja::context! { quiz })
            }
            "animation" => {
                let block: AnimationBlock =
                    parse_toml_checked(self.diags, file, text, code, at, &what, &["src", "caption", "loop"])?;
                let Some(found) = self.assets.animation(page.scope, block.src.get_ref()) else {
                    let msg = format!("animation `{}` does not exist in animations/", block.src.get_ref());
                    err(block.src.span().start, msg);
                    return None;
                };
                page.uses.insert(AssetId::Animation(block.src.get_ref().clone()));
                counters.animation += 1;
                let animation = AnimationView {
                    id: counters.animation.to_string(),
                    kind: found.kind,
                    url: found.url,
                    mime: found.mime,
                    caption: block.caption,
                    looping: block.looping.unwrap_or(true),
                };
                self.theme.render("partials/animation.html", minijinja::context! { animation })
            }
            "lab" => {
                let block: LabBlock =
                    parse_toml_checked(self.diags, file, text, code, at, &what, &["src", "height"])?;
                let found = self
                    .labs
                    .get(block.src.get_ref())
                    .and_then(|l| l.view(self.assets, self.instructions, page.scope));
                let Some((mut lab, uses, links)) = found else {
                    let msg = format!("lab `{}` does not exist in labs/", block.src.get_ref());
                    err(block.src.span().start, msg);
                    return None;
                };
                page.uses.extend(uses);
                page.links.extend(links);
                if let Some(height) = block.height {
                    lab.height = height;
                }
                self.theme.render("partials/lab.html", minijinja::context! { lab })
            }
            _ => return None,
        };
        html.map_err(|e| self.diags.push(e)).ok()
    }
}
