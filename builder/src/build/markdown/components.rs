//! The rich fenced blocks of lessons (` ```quiz `, ` ```animation `, ` ```lab `): TOML in,
//! HTML out through the theme's partials.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bundle::Access;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::build::assets::{AssetId, Assets, Uses};
use crate::build::catalogue::SourceFile;
use crate::build::diagnostics::Diagnostics;
use crate::build::frontmatter::{parse_toml_checked, Toml};
use crate::build::links::LinkRef;
use crate::build::markdown::{inline_html_with, lint, raw_html_of_inline, MarkdownEnv, Page};
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

/// A quiz block, read key by key (see [`read_quiz`]).
struct QuizBlock {
    title: Option<String>,
    questions: Vec<QuestionBlock>,
}

struct QuestionBlock {
    /// Counted from 1.
    number: usize,
    prompt: Spanned<String>,
    choices: Vec<Spanned<String>>,
    answer: usize,
    explanation: Option<Spanned<String>>,
}

const QUIZ_KEYS: [&str; 2] = ["title", "questions"];
const QUESTION_KEYS: [&str; 4] = ["prompt", "choices", "answer", "explanation"];

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

/// What a TOML value is, in an author's words.
fn kind_of(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(true) => "`true`",
        DeValue::Boolean(false) => "`false`",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The value of `key` in `table`.
fn get<'a, 't>(table: &'a DeTable<'t>, key: &str) -> Option<&'a Spanned<DeValue<'t>>> {
    table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

/// The text of a string value, or an error saying that `name` must be text.
fn text(toml: &Toml<'_>, context: &str, name: &str, value: &Spanned<DeValue<'_>>) -> Option<Spanned<String>> {
    match value.get_ref() {
        DeValue::String(text) => Some(Spanned::new(value.span(), text.to_string())),
        other => {
            let msg = format!("{context}{name} must be text in quotes, not {}", kind_of(other));
            toml.error(value.span().start, msg);
            None
        }
    }
}

/// Reads a quiz block, reporting every mistake at its key and question (counted from 1,
/// as authors count) in the words of someone who writes TOML: the questions that could be
/// read (their Markdown is still to check), and whether there was no mistake. A misspelt
/// key is reported once: not also as the key that is then missing.
fn read_quiz(toml: &Toml<'_>, table: &DeTable<'_>) -> Option<(QuizBlock, bool)> {
    let meant = toml.unknown_keys(table, &QUIZ_KEYS, None);
    let mut ok = table.keys().all(|k| QUIZ_KEYS.contains(&k.get_ref().as_ref()));
    let title = match get(table, "title") {
        None => None,
        Some(title) => {
            let title = text(toml, "the quiz's ", "`title`", title);
            ok &= title.is_some();
            title.map(Spanned::into_inner)
        }
    };
    let Some(questions) = get(table, "questions") else {
        if !meant.contains(&"questions") {
            toml.error(
                0,
                "a quiz needs at least one [[questions]] (each with `prompt`, `choices` and `answer`)",
            );
        }
        return None;
    };
    let list = match questions.get_ref() {
        DeValue::Array(list) if !list.is_empty() => list,
        other => {
            let msg = format!(
                "`questions` must be [[questions]] tables, one for each question, not {}",
                kind_of(other)
            );
            toml.error(questions.span().start, msg);
            return None;
        }
    };
    let mut read = Vec::new();
    for (i, question) in list.iter().enumerate() {
        let n = i + 1;
        let at = question.span().start;
        let DeValue::Table(q) = question.get_ref() else {
            let msg =
                format!("question {n} must be a [[questions]] table, not {}", kind_of(question.get_ref()));
            toml.error(at, msg);
            ok = false;
            continue;
        };
        let context = format!("question {n}: ");
        let meant = toml.unknown_keys(q, &QUESTION_KEYS, Some(&format!("question {n}")));
        ok &= q.keys().all(|k| QUESTION_KEYS.contains(&k.get_ref().as_ref()));
        let required = |key: &str, what: &str| {
            let value = get(q, key);
            if value.is_none() && !meant.contains(&key) {
                toml.error(at, format!("question {n}: missing `{key}` ({what})"));
            }
            value
        };
        let prompt = required("prompt", "the question, as text in quotes");
        let choices = required("choices", "a list of the answers to choose from, like `[\"2\", \"3\"]`");
        let answer = required("answer", "the number of the right choice, counting from 0");
        let prompt = prompt.and_then(|p| text(toml, &context, "`prompt`", p));
        let explanation = match get(q, "explanation") {
            None => Some(None),
            Some(e) => text(toml, &context, "`explanation`", e).map(Some),
        };
        let choices = choices.and_then(|c| read_choices(toml, &context, c));
        let answer = answer.and_then(|a| read_answer(toml, &context, a, choices.as_ref().map(Vec::len)));
        ok &= answer.is_some() && explanation.is_some();
        // Read as far as it goes, so the Markdown of its texts is checked too.
        let explanation = explanation.flatten();
        ok &= choices.is_some();
        match prompt {
            Some(prompt) => {
                let (choices, answer) = (choices.unwrap_or_default(), answer.unwrap_or(0));
                read.push(QuestionBlock { number: n, prompt, choices, answer, explanation });
            }
            None => ok = false,
        }
    }
    Some((QuizBlock { title, questions: read }, ok))
}

/// A question's `choices`: a list of two texts or more.
fn read_choices(
    toml: &Toml<'_>,
    context: &str,
    value: &Spanned<DeValue<'_>>,
) -> Option<Vec<Spanned<String>>> {
    let DeValue::Array(list) = value.get_ref() else {
        let msg = format!(
            "{context}`choices` must be a list of text in quotes, like `[\"2\", \"3\"]`, not {}",
            kind_of(value.get_ref())
        );
        toml.error(value.span().start, msg);
        return None;
    };
    let texts: Vec<Option<Spanned<String>>> =
        list.iter().enumerate().map(|(j, c)| text(toml, context, &format!("choice {}", j + 1), c)).collect();
    let texts: Vec<Spanned<String>> = texts.into_iter().collect::<Option<_>>()?;
    if texts.len() < 2 {
        toml.error(value.span().start, format!("{context}a question needs at least two choices"));
        return None;
    }
    Some(texts)
}

/// A question's `answer`: the index of one of its `choices` (when they could be read).
fn read_answer(
    toml: &Toml<'_>,
    context: &str,
    value: &Spanned<DeValue<'_>>,
    choices: Option<usize>,
) -> Option<usize> {
    let what = "a whole number: the number of the right choice, counting from 0";
    let msg = match value.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) if v < 0 => format!("{context}`answer` must be {what}, not {v}"),
            Ok(v) => match (usize::try_from(v), choices) {
                (Ok(v), Some(len)) if v < len => return Some(v),
                (Ok(v), None) => return Some(v),
                (_, len) => format!(
                    "{context}`answer` = {v}, but the choices are numbered 0 to {}",
                    len.unwrap_or(1).saturating_sub(1)
                ),
            },
            Err(_) => format!("{context}`answer` must be {what}"),
        },
        DeValue::String(s) if s.trim().parse::<u64>().is_ok() => {
            format!("{context}`answer` must be {what}, written without quotes (`answer = {}`)", s.trim())
        }
        other => format!("{context}`answer` must be {what}, not {}", kind_of(other)),
    };
    toml.error(value.span().start, msg);
    None
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
                let toml = Toml { diags: self.diags, file, file_text: text, offset: at, what: &what };
                let table = toml.parse(code)?;
                let (block, ok) = read_quiz(&toml, table.get_ref())?;
                let mut questions = Vec::new();
                for q in block.questions {
                    // Links and images in quiz text are resolved and checked as in the
                    // lesson (each reported at the start of its TOML string).
                    let env = self.instructions;
                    let mut inline = |key: &str, text: &Spanned<String>| {
                        let context = format!("question {}, `{key}`: ", q.number);
                        let at = at + text.span().start;
                        for html in raw_html_of_inline(text.get_ref()) {
                            lint::raw_html_in_value(self.diags, source, at, &context, &html);
                        }
                        inline_html_with(text.get_ref(), &mut |dest, what| match what {
                            "image" => env.resolve_file(dest, source, at, what, page),
                            _ => env.resolve_link(dest, source, at, page),
                        })
                    };
                    let prompt = inline("prompt", &q.prompt);
                    let choices = q.choices.iter().map(|c| inline("choices", c)).collect();
                    let explanation = q.explanation.as_ref().map(|e| inline("explanation", e));
                    questions.push(QuestionView { prompt, choices, answer: q.answer, explanation });
                }
                if !ok {
                    return None;
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
