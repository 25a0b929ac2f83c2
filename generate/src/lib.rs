//! `course generate`: a deterministic synthetic catalogue in our content format (and,
//! optionally, the same lessons as a Hugo site and an mdBook) for load and build tests.
//!
//! Everything is drawn from a seeded generator: first a sequential plan (courses,
//! lessons, which lesson shows which animation, quiz and lab, and which lessons link to
//! which), then the files, in parallel, each from its own derived stream. The same seed
//! and size give byte-identical trees.

mod code;
mod hugo;
mod labs;
mod lesson;
mod mdbook;
mod media;
mod plan;
mod rng;
mod words;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rayon::prelude::*;

pub use plan::{
    plan, AnimationKind, AnimationPlan, CoursePlan, LabPlan, LessonPlan, LinkPlan, ModulePlan, Plan,
};
use rng::Rng;

/// Written into every directory we generate; only such directories are ever cleared.
pub const MARKER: &str = ".generated-catalogue";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// 2,000 lessons in 40 courses, 9,500 animations, 1,000 quizzes, 75 labs.
    Full,
    /// One tenth of full.
    Quick,
    /// 20 lessons in 2 courses, for tests.
    #[value(hide = true)]
    Tiny,
}

/// How much of everything a size makes.
#[derive(Clone, Copy, Debug)]
pub struct Counts {
    pub courses: usize,
    pub lessons_per_course: usize,
    pub animations: usize,
    pub labs: usize,
}

impl Counts {
    pub fn lessons(&self) -> usize {
        self.courses * self.lessons_per_course
    }

    /// Every other lesson has one quiz.
    pub fn quizzes(&self) -> usize {
        self.lessons().div_ceil(2)
    }
}

impl Size {
    pub fn counts(self) -> Counts {
        match self {
            Size::Full => Counts { courses: 40, lessons_per_course: 50, animations: 9_500, labs: 75 },
            Size::Quick => Counts { courses: 4, lessons_per_course: 50, animations: 950, labs: 8 },
            Size::Tiny => Counts { courses: 2, lessons_per_course: 10, animations: 95, labs: 2 },
        }
    }
}

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub size: Size,
    /// The theme to copy into `out/theme` (the sample catalogue's).
    pub theme: PathBuf,
    pub hugo: Option<PathBuf>,
    pub mdbook: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Summary {
    pub counts: Counts,
    pub files: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    pub out: PathBuf,
    /// (what, where, files, bytes) per peer written.
    pub peers: Vec<(&'static str, PathBuf, usize, u64)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "generated {} lessons in {} courses, {} animations, {} quizzes, {} labs: {} files, {} in {:.2?} -> {}",
            c.lessons(),
            c.courses,
            c.animations,
            c.quizzes(),
            c.labs,
            self.files,
            bundle::size::human_bytes(self.bytes),
            self.elapsed,
            self.out.display()
        )?;
        for (what, dir, files, bytes) in &self.peers {
            write!(f, "; {what}: {files} files, {} -> {}", bundle::size::human_bytes(*bytes), dir.display())?;
        }
        Ok(())
    }
}

/// One file to write, relative to the tree's root.
#[derive(Clone, Debug)]
pub struct GenFile {
    pub rel: String,
    pub bytes: Vec<u8>,
}

impl GenFile {
    fn text(rel: String, text: String) -> Self {
        GenFile { rel, bytes: text.into_bytes() }
    }
}

/// A TOML basic string.
pub fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---- Files ------------------------------------------------------------------------------

/// A lesson's text, kept apart so the peers can reuse the front matter and body.
pub struct LessonText {
    pub course: usize,
    pub lesson: usize,
    pub front: String,
    pub body: String,
}

fn site_toml(plan: &Plan) -> String {
    let order: Vec<String> = plan.courses.iter().map(|c| toml_string(&c.slug)).collect();
    format!(
        "title = {}\ntagline = {}\ncourses = [{}]\n",
        toml_string(&plan.title),
        toml_string(&plan.tagline),
        order.join(", ")
    )
}

fn course_toml(course: &CoursePlan) -> String {
    let mut text = format!(
        "title = {}\nsummary = {}\nlevel = {}\naccess = \"{}\"\n",
        toml_string(&course.title),
        toml_string(&course.summary),
        toml_string(course.level),
        if course.enrolled { "enrolled" } else { "public" }
    );
    for module in &course.modules {
        let slugs: Vec<String> =
            course.lessons[module.lessons.clone()].iter().map(|l| toml_string(&l.slug)).collect();
        text += &format!(
            "\n[[modules]]\ntitle = {}\nlessons = [{}]\n",
            toml_string(&module.title),
            slugs.join(", ")
        );
    }
    text
}

fn animation_files(plan: &Plan, index: usize) -> Vec<GenFile> {
    let animation = &plan.animations[index];
    let mut rng = Rng::derive(plan.seed, "animation", index as u64);
    let rel = format!("animations/{}", animation.src);
    let title = words::capitalize(&words::title(&mut rng));
    match animation.kind {
        AnimationKind::Svg => vec![GenFile::text(rel, media::animated_svg(&mut rng, &title))],
        AnimationKind::Lottie => vec![GenFile::text(rel, media::lottie(&mut rng, &title, false))],
        AnimationKind::LottieBundle => vec![
            GenFile::text(format!("{rel}/animation.json"), media::lottie(&mut rng, &title, true)),
            GenFile { rel: format!("{rel}/images/img_0.png"), bytes: media::png(&mut rng, 64, 64) },
        ],
        AnimationKind::Webm => vec![GenFile { rel, bytes: media::video(&mut rng, true) }],
        AnimationKind::Mp4 => vec![GenFile { rel, bytes: media::video(&mut rng, false) }],
    }
}

fn figure_file(plan: &Plan, course: usize, figure: usize) -> GenFile {
    let mut rng = Rng::derive(plan.seed, &format!("figure-{course}"), figure as u64);
    let title = words::title(&mut rng);
    GenFile::text(
        format!("courses/{}/media/fig-{figure}.svg", plan.courses[course].slug),
        media::figure_svg(&mut rng, &title),
    )
}

/// Every lesson's text, in catalogue order.
pub fn lesson_texts(plan: &Plan) -> Vec<LessonText> {
    let keys: Vec<(usize, usize)> = plan
        .courses
        .iter()
        .enumerate()
        .flat_map(|(c, course)| (0..course.lessons.len()).map(move |l| (c, l)))
        .collect();
    keys.into_par_iter()
        .map(|(c, l)| {
            let (front, body) = lesson::lesson(plan, c, l);
            LessonText { course: c, lesson: l, front, body }
        })
        .collect()
}

/// The content tree, except the theme and the marker.
pub fn content_files(plan: &Plan, lessons: &[LessonText]) -> Vec<GenFile> {
    let mut files = vec![GenFile::text("site.toml".into(), site_toml(plan))];
    for (c, course) in plan.courses.iter().enumerate() {
        files.push(GenFile::text(format!("courses/{}/course.toml", course.slug), course_toml(course)));
        files.extend((1..=course.figures).map(|f| figure_file(plan, c, f)));
    }
    files.extend(lessons.iter().map(|text| {
        let course = &plan.courses[text.course];
        let rel = format!("courses/{}/{}.md", course.slug, course.lessons[text.lesson].slug);
        GenFile::text(rel, format!("{}{}", text.front, text.body))
    }));
    let animations: Vec<Vec<GenFile>> =
        (0..plan.animations.len()).into_par_iter().map(|i| animation_files(plan, i)).collect();
    files.extend(animations.into_iter().flatten());
    for (i, lab) in plan.labs.iter().enumerate() {
        files.extend(labs::lab_files(&mut Rng::derive(plan.seed, "lab", i as u64), lab));
    }
    files
}

/// The theme's files, read before anything is cleared (it may live under `out`).
fn theme_files(theme: &Path) -> anyhow::Result<Vec<GenFile>> {
    if !theme.join("templates").is_dir() {
        bail!("{} is not a theme (no templates/ inside); pass --theme", theme.display());
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(theme).sort_by_file_name() {
        let entry = entry.with_context(|| format!("reading {}", theme.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(theme).context("theme path")?;
        let rel: Vec<String> =
            rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let bytes =
            std::fs::read(entry.path()).with_context(|| format!("reading {}", entry.path().display()))?;
        files.push(GenFile { rel: format!("theme/{}", rel.join("/")), bytes });
    }
    Ok(files)
}

// ---- Writing ----------------------------------------------------------------------------

/// Makes `dir` an empty directory holding only our marker: creates it, or clears it when
/// it is empty or was generated before. Anything else is refused, so a user's real
/// content is never deleted.
pub fn prepare_dir(dir: &Path, marker_text: &str) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a directory", dir.display());
        }
        let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        if !entries.is_empty() && !dir.join(MARKER).is_file() {
            bail!(
                "{} is not empty and was not made by `course generate` (no {MARKER} inside); \
                 refusing to overwrite it",
                dir.display()
            );
        }
        for entry in entries {
            let path = entry.path();
            let removed = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.with_context(|| format!("removing {}", path.display()))?;
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // The marker goes first, so an interrupted run can still be regenerated over.
    std::fs::write(dir.join(MARKER), marker_text)
        .with_context(|| format!("writing into {}", dir.display()))?;
    Ok(())
}

/// Writes `files` under `root` in parallel; returns (files, bytes).
pub fn write_files(root: &Path, files: &[GenFile]) -> anyhow::Result<(usize, u64)> {
    let dirs: std::collections::BTreeSet<&str> =
        files.iter().filter_map(|f| f.rel.rsplit_once('/').map(|(dir, _)| dir)).collect();
    for dir in dirs {
        std::fs::create_dir_all(root.join(dir))
            .with_context(|| format!("creating {}/{dir}", root.display()))?;
    }
    files.par_iter().try_for_each(|file| {
        let path = root.join(&file.rel);
        std::fs::write(&path, &file.bytes).with_context(|| format!("writing {}", path.display()))
    })?;
    Ok((files.len(), files.iter().map(|f| f.bytes.len() as u64).sum()))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

pub fn generate(options: &GenerateOptions) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut outputs = vec![absolute(&options.out)?];
    outputs.extend(
        options.hugo.iter().chain(&options.mdbook).map(|p| absolute(p)).collect::<Result<Vec<_>, _>>()?,
    );
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[i + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                bail!("output directories must not overlap: {} and {}", a.display(), b.display());
            }
        }
    }

    let theme = theme_files(&options.theme)?;
    let counts = options.size.counts();
    let plan = plan(options.seed, counts);
    let lessons = lesson_texts(&plan);
    let mut files = content_files(&plan, &lessons);
    files.extend(theme);

    let size_name = format!("{:?}", options.size).to_lowercase();
    let marker = format!("made by `course generate --seed {} --size {size_name}`\n", options.seed);
    prepare_dir(&options.out, &marker)?;
    let (mut file_count, mut bytes) = write_files(&options.out, &files)?;
    file_count += 1;
    bytes += marker.len() as u64;

    let mut peers = Vec::new();
    if let Some(dir) = &options.hugo {
        prepare_dir(dir, &marker)?;
        let (n, b) = write_files(dir, &hugo::site(&plan, &lessons, &files))?;
        peers.push(("hugo", dir.clone(), n, b));
    }
    if let Some(dir) = &options.mdbook {
        prepare_dir(dir, &marker)?;
        let (n, b) = write_files(dir, &mdbook::book(&plan, &lessons, &files))?;
        peers.push(("mdbook", dir.clone(), n, b));
    }
    Ok(Summary {
        counts,
        files: file_count,
        bytes,
        elapsed: started.elapsed(),
        out: options.out.clone(),
        peers,
    })
}
