//! The catalogue's shape, decided before any file is written: courses and their modules
//! and lessons, the animations and labs, which lesson shows which animation, quiz and lab,
//! and which lessons link to which. Drawn sequentially from one stream, so it is cheap and
//! the same for the same seed.

use super::rng::Rng;
use super::{words, Counts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnimationKind {
    Svg,
    Lottie,
    LottieBundle,
    Webm,
    Mp4,
}

#[derive(Debug)]
pub struct AnimationPlan {
    /// What a block's `src` names: `x.svg`, `x.json`, `x` (bundle folder), `x.webm`.
    pub src: String,
    pub kind: AnimationKind,
}

#[derive(Debug)]
pub struct LabPlan {
    pub slug: String,
    pub title: String,
    pub summary: String,
}

#[derive(Debug)]
pub struct LinkPlan {
    pub title: String,
    pub href: String,
}

#[derive(Debug)]
pub struct LessonPlan {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub duration: u32,
    /// Position among all lessons of the catalogue (seeds its text).
    pub global: usize,
    pub animations: Vec<usize>,
    pub lab: Option<usize>,
    pub quiz: bool,
    pub links: Vec<LinkPlan>,
    /// `media/fig-<n>.svg` of its course.
    pub figure: usize,
}

#[derive(Debug)]
pub struct ModulePlan {
    pub title: String,
    pub lessons: std::ops::Range<usize>,
}

#[derive(Debug)]
pub struct CoursePlan {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub level: &'static str,
    pub enrolled: bool,
    /// The language most of its code samples are in.
    pub language: &'static str,
    pub modules: Vec<ModulePlan>,
    pub lessons: Vec<LessonPlan>,
    pub figures: usize,
}

#[derive(Debug)]
pub struct Plan {
    pub seed: u64,
    pub title: String,
    pub tagline: String,
    pub courses: Vec<CoursePlan>,
    pub animations: Vec<AnimationPlan>,
    pub labs: Vec<LabPlan>,
}

const TOPICS: &[(&str, &str)] = &[
    ("Python Foundations", "python"),
    ("Rust Ownership", "rust"),
    ("JavaScript in the Browser", "javascript"),
    ("SQL for Analysts", "sql"),
    ("Shell Scripting", "bash"),
    ("Data Structures", "python"),
    ("Algorithms and Complexity", "python"),
    ("Web Animation", "javascript"),
    ("Concurrency Patterns", "rust"),
    ("Database Internals", "sql"),
    ("Networking Basics", "bash"),
    ("Operating Systems", "rust"),
    ("Compilers and Interpreters", "rust"),
    ("Functional Programming", "javascript"),
    ("Testing and Debugging", "python"),
    ("Version Control with Git", "bash"),
    ("Web APIs and JSON", "json"),
    ("Machine Learning Basics", "python"),
    ("Linear Algebra for Coders", "python"),
    ("Security Fundamentals", "bash"),
    ("Cloud Deployment", "bash"),
    ("Containers and Orchestration", "bash"),
    ("Async Rust", "rust"),
    ("Node.js Services", "javascript"),
    ("Data Visualization", "javascript"),
    ("Query Optimization", "sql"),
    ("Distributed Systems", "rust"),
    ("Graph Algorithms", "python"),
    ("Text Processing", "python"),
    ("Embedded Rust", "rust"),
    ("Frontend Performance", "javascript"),
    ("Data Modeling", "sql"),
    ("Observability", "json"),
    ("Computer Graphics", "javascript"),
    ("Game Loops and Physics", "rust"),
    ("Accessibility on the Web", "javascript"),
    ("Configuration as Code", "json"),
    ("Numerical Methods", "python"),
    ("Systems Programming", "rust"),
    ("Teaching with Code", "python"),
];

/// `base`, or `base-2`, `base-3`, ... whichever is not taken yet.
fn unique(base: String, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut candidate = base.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// Splits `n` lessons into modules of 5 to 10 (fewer only when `n` is under 5).
fn module_sizes(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = n;
    while left > 0 {
        let take = if left <= 10 { left } else { rng.range(5, 10).min(left - 5) };
        sizes.push(take);
        left -= take;
    }
    sizes
}

pub fn plan(seed: u64, counts: Counts) -> Plan {
    let mut rng = Rng::derive(seed, "plan", 0);
    let lessons_total = counts.lessons();

    let mut animation_kinds = Vec::with_capacity(counts.animations);
    let videos = counts.animations * 5 / 100;
    let bundles = (counts.animations / 100).max(1);
    let lotties = counts.animations * 34 / 100;
    animation_kinds.extend((0..videos).map(|i| {
        if i % 2 == 0 {
            AnimationKind::Webm
        } else {
            AnimationKind::Mp4
        }
    }));
    animation_kinds.extend(std::iter::repeat_n(AnimationKind::LottieBundle, bundles));
    animation_kinds.extend(std::iter::repeat_n(AnimationKind::Lottie, lotties));
    animation_kinds.resize(counts.animations, AnimationKind::Svg);
    rng.shuffle(&mut animation_kinds);
    let animations: Vec<AnimationPlan> = animation_kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let stem = format!("{}-{:05}", words::ident(&mut rng, "-"), i + 1);
            let src = match kind {
                AnimationKind::Svg => format!("{stem}.svg"),
                AnimationKind::Lottie => format!("{stem}.json"),
                AnimationKind::LottieBundle => stem,
                AnimationKind::Webm => format!("{stem}.webm"),
                AnimationKind::Mp4 => format!("{stem}.mp4"),
            };
            AnimationPlan { src, kind }
        })
        .collect();

    let mut lab_slugs = std::collections::BTreeSet::new();
    let labs: Vec<LabPlan> = (0..counts.labs)
        .map(|_| {
            let title = format!("{} lab", words::title(&mut rng));
            let slug = unique(words::slugify(&title), &mut lab_slugs);
            LabPlan { slug, title, summary: words::plain_sentence(&mut rng) }
        })
        .collect();

    // Deal the shuffled animations round-robin, so each appears once and every lesson
    // shows 4 or 5 of them; spread the labs evenly over the catalogue.
    let mut animation_order: Vec<usize> = (0..counts.animations).collect();
    rng.shuffle(&mut animation_order);
    let mut animations_of: Vec<Vec<usize>> = vec![Vec::new(); lessons_total];
    for (position, animation) in animation_order.into_iter().enumerate() {
        animations_of[position % lessons_total].push(animation);
    }
    let mut lab_of: Vec<Option<usize>> = vec![None; lessons_total];
    for lab in 0..counts.labs {
        lab_of[(lab * lessons_total + lessons_total / 2) / counts.labs] = Some(lab);
    }

    let mut courses: Vec<CoursePlan> = Vec::with_capacity(counts.courses);
    for c in 0..counts.courses {
        let (title, language) = TOPICS[c % TOPICS.len()];
        let title =
            if c < TOPICS.len() { title.to_owned() } else { format!("{title} {}", c / TOPICS.len() + 1) };
        let mut slugs = std::collections::BTreeSet::new();
        let mut lessons: Vec<LessonPlan> = (0..counts.lessons_per_course)
            .map(|l| {
                let global = c * counts.lessons_per_course + l;
                let title = words::title(&mut rng);
                LessonPlan {
                    slug: unique(words::slugify(&title), &mut slugs),
                    summary: words::plain_sentence(&mut rng),
                    title,
                    duration: rng.range(5, 30) as u32,
                    global,
                    animations: std::mem::take(&mut animations_of[global]),
                    lab: lab_of[global],
                    quiz: global.is_multiple_of(2),
                    links: Vec::new(),
                    figure: 0,
                }
            })
            .collect();
        let figures = counts.lessons_per_course.div_ceil(5);
        for (l, lesson) in lessons.iter_mut().enumerate() {
            lesson.figure = l % figures + 1;
        }
        let mut modules = Vec::new();
        let mut start = 0;
        for size in module_sizes(&mut rng, lessons.len()) {
            modules.push(ModulePlan { title: words::title(&mut rng), lessons: start..start + size });
            start += size;
        }
        courses.push(CoursePlan {
            slug: words::slugify(&title),
            summary: words::plain_sentence(&mut rng),
            title,
            level: rng.pick(&["Beginner", "Intermediate", "Advanced"]),
            // Every fifth course; a catalogue of fewer still has one (its last), so the quick
            // size exercises grants too (`bench/fleet.sh --quick` replays enrolled students).
            enrolled: c % 5 == 4 || (counts.courses < 5 && c + 1 == counts.courses),
            language,
            modules,
            lessons,
            figures,
        });
    }

    // Links: a few lessons of the same course, sometimes one of another course.
    for c in 0..courses.len() {
        for l in 0..courses[c].lessons.len() {
            let n = courses[c].lessons.len();
            let mut links = Vec::new();
            let wanted = rng.range(2, 4);
            for other in rng.sample(n, wanted + 1).into_iter().filter(|&o| o != l).take(wanted) {
                let target = &courses[c].lessons[other];
                links.push(LinkPlan { title: target.title.clone(), href: format!("{}.md", target.slug) });
            }
            if courses.len() > 1 && rng.percent(30) {
                let oc = (c + 1 + rng.below(courses.len() - 1)) % courses.len();
                let target = &courses[oc].lessons[rng.below(courses[oc].lessons.len())];
                links.push(LinkPlan {
                    title: target.title.clone(),
                    href: format!("../{}/{}.md", courses[oc].slug, target.slug),
                });
            }
            courses[c].lessons[l].links = links;
        }
    }

    Plan {
        seed,
        title: "Synthetic Course Academy".to_owned(),
        tagline: words::plain_sentence(&mut rng),
        courses,
        animations,
        labs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Size;

    #[test]
    fn full_plan_keeps_its_promises() {
        let counts = Size::Full.counts();
        let plan = plan(42, counts);
        assert_eq!(plan.courses.len(), 40);
        let lessons: Vec<&LessonPlan> = plan.courses.iter().flat_map(|c| &c.lessons).collect();
        assert_eq!(lessons.len(), 2_000);
        assert_eq!(lessons.iter().filter(|l| l.quiz).count(), 1_000);
        assert_eq!(plan.courses.iter().filter(|c| c.enrolled).count(), 8);
        let quick = super::plan(42, Size::Quick.counts());
        assert_eq!(quick.courses.iter().filter(|c| c.enrolled).count(), 1, "the quick size has one too");

        let mut shown = vec![0; plan.animations.len()];
        for lesson in &lessons {
            assert!((4..=5).contains(&lesson.animations.len()));
            lesson.animations.iter().for_each(|&a| shown[a] += 1);
        }
        assert!(shown.iter().all(|&n| n == 1), "every animation shown exactly once");
        let mut labs: Vec<usize> = lessons.iter().filter_map(|l| l.lab).collect();
        labs.sort_unstable();
        assert_eq!(labs, (0..75).collect::<Vec<_>>());

        let kinds = |kind| plan.animations.iter().filter(|a| a.kind == kind).count();
        assert_eq!(kinds(AnimationKind::Webm) + kinds(AnimationKind::Mp4), 475);
        assert_eq!(kinds(AnimationKind::LottieBundle), 95);
        assert_eq!(kinds(AnimationKind::Lottie), 3_230);
        assert_eq!(kinds(AnimationKind::Svg), 5_700);

        for course in &plan.courses {
            let mut covered = 0;
            for module in &course.modules {
                assert!((5..=10).contains(&module.lessons.len()), "{}", module.lessons.len());
                assert_eq!(module.lessons.start, covered);
                covered = module.lessons.end;
            }
            assert_eq!(covered, course.lessons.len());
            for lesson in &course.lessons {
                assert!((2..=5).contains(&lesson.links.len()));
                for link in &lesson.links {
                    let (dir, slug) = match link.href.strip_prefix("../") {
                        Some(rest) => rest.split_once('/').expect("course/slug"),
                        None => (course.slug.as_str(), link.href.as_str()),
                    };
                    let slug = slug.strip_suffix(".md").expect(".md");
                    let target = plan.courses.iter().find(|c| c.slug == dir).expect("course exists");
                    assert!(target.lessons.iter().any(|l| l.slug == slug && l.title == link.title));
                }
            }
        }
    }
}
