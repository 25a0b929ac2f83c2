//! One lesson: TOML front matter and 6-12 KB of Markdown with headings, emphasis, links,
//! code, a table, a figure, animations and, for some, a quiz and a lab.

use super::code::{self, LANGUAGES};
use super::rng::Rng;
use super::words::{self, IDENTS, NOUNS};
use super::{toml_string, AnimationKind, Plan};

enum Item {
    Code(&'static str),
    Table,
    Figure,
    Animation(usize),
    Lab(usize),
}

fn table(rng: &mut Rng) -> String {
    const COSTS: &[&str] = &["O(1)", "O(log n)", "O(n)", "O(n log n)", "O(n²)", "amortised O(1)"];
    let columns = rng.range(3, 4);
    let mut text = String::from("| Operation | Typical cost | Worst case |");
    let mut rule = String::from("|---|---|---|");
    if columns == 4 {
        text += " Notes |";
        rule += "---|";
    }
    text += "\n";
    text += &rule;
    text += "\n";
    for _ in 0..rng.range(3, 7) {
        text += &format!("| `{}` | {} | {} |", rng.pick(IDENTS), rng.pick(COSTS), rng.pick(COSTS));
        if columns == 4 {
            text += &format!(" {} {} |", rng.pick(words::ADJECTIVES), rng.pick(NOUNS));
        }
        text += "\n";
    }
    text
}

fn quiz(rng: &mut Rng) -> String {
    let mut text = String::from("```quiz\ntitle = \"Check yourself\"\n");
    for _ in 0..rng.range(2, 4) {
        let noun = rng.pick(NOUNS);
        let prompt = match rng.below(3) {
            0 => format!("What does `{}` do to {} {noun}?", rng.pick(IDENTS), words::article(noun)),
            1 => format!("Which {noun} stays {} after the loop?", rng.pick(words::ADJECTIVES)),
            _ => {
                format!("What does one `{}` cost on {} {noun}?", rng.pick(words::VERBS), words::article(noun))
            }
        };
        let choices: Vec<String> = (0..rng.range(2, 4))
            .map(|_| {
                let choice = match rng.below(3) {
                    0 => format!("`{}`", rng.pick(IDENTS)),
                    1 => format!("The {} {}", rng.pick(words::ADJECTIVES), rng.pick(NOUNS)),
                    _ => words::capitalize(&format!("{} every {}", rng.pick(words::VERBS), rng.pick(NOUNS))),
                };
                toml_string(&choice)
            })
            .collect();
        text += &format!(
            "\n[[questions]]\nprompt = {}\nchoices = [{}]\nanswer = {}\n",
            toml_string(&prompt),
            choices.join(", "),
            rng.below(choices.len())
        );
        if rng.percent(70) {
            text += &format!("explanation = {}\n", toml_string(&words::sentence(rng)));
        }
    }
    text + "```\n"
}

/// A sentence carrying one link.
fn link_sentence(rng: &mut Rng, title: &str, href: &str) -> String {
    let link = format!("[{title}]({href})");
    match rng.below(4) {
        0 => format!("See {link} for a closer look at {}.", words::plural(rng.pick(NOUNS))),
        1 => format!("This builds on {link}."),
        2 => format!("If the {} feels new, revisit {link} first.", rng.pick(NOUNS)),
        _ => format!("We come back to this in {link}."),
    }
}

fn heading(rng: &mut Rng) -> String {
    words::title(rng)
}

/// The lesson's front matter (with its `+++` lines) and its Markdown body.
pub(crate) fn lesson(plan: &Plan, course_index: usize, lesson_index: usize) -> (String, String) {
    let course = &plan.courses[course_index];
    let lesson = &course.lessons[lesson_index];
    let mut rng = Rng::derive(plan.seed, "lesson", lesson.global as u64);
    let front = format!(
        "+++\ntitle = {}\nsummary = {}\nduration = {}\n+++\n\n",
        toml_string(&lesson.title),
        toml_string(&lesson.summary),
        lesson.duration
    );

    let mut items = vec![Item::Code(course.language), Item::Table, Item::Figure];
    for _ in 0..rng.range(0, 2) {
        items.push(Item::Code(rng.pick(LANGUAGES)));
    }
    items.extend(lesson.animations.iter().map(|&a| Item::Animation(a)));
    items.extend(lesson.lab.map(Item::Lab));
    rng.shuffle(&mut items);

    let mut links: Vec<String> =
        lesson.links.iter().map(|link| link_sentence(&mut rng, &link.title, &link.href)).collect();
    links.reverse(); // popped from the end, in plan order
    let target = rng.range(6_000, 12_000);

    let mut body = format!("# {}\n\n{}\n\n", lesson.title, words::paragraph(&mut rng, links.pop()));
    let sections = rng.range(4, 7).min(items.len());
    let per_section = items.len().div_ceil(sections);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        body += &format!("## {}\n\n{}\n\n", heading(&mut rng), words::paragraph(&mut rng, links.pop()));
        for (n, item) in items.by_ref().take(per_section).enumerate() {
            if n > 0 && rng.percent(40) {
                body += &format!("### {}\n\n", heading(&mut rng));
            }
            body += &render_item(&mut rng, plan, course_index, lesson_index, item);
            body += "\n";
            body += &words::paragraph(&mut rng, links.pop());
            body += "\n\n";
        }
    }
    while body.len() < target {
        body += &format!("## {}\n\n", heading(&mut rng));
        for _ in 0..rng.range(1, 3) {
            body += &words::paragraph(&mut rng, links.pop());
            body += "\n\n";
        }
        if rng.percent(40) {
            body += &format!("### {}\n\n{}\n\n", heading(&mut rng), words::paragraph(&mut rng, links.pop()));
        }
        if rng.percent(25) {
            body += &format!("> {}\n\n", words::sentence(&mut rng));
        }
    }
    body += "## Summary\n\n";
    for _ in 0..rng.range(3, 5) {
        body += &format!("- {}\n", words::sentence(&mut rng));
    }
    body += "\n";
    for rest in links.into_iter().rev() {
        body += &rest;
        body += "\n\n";
    }
    if lesson.quiz {
        body += &format!("## Practice\n\n{}\n\n", words::sentence(&mut rng));
        body += &quiz(&mut rng);
    }
    (front, body)
}

fn render_item(rng: &mut Rng, plan: &Plan, course_index: usize, lesson_index: usize, item: Item) -> String {
    let course = &plan.courses[course_index];
    match item {
        Item::Code(lang) => format!("```{lang}\n{}```\n", code::sample(rng, lang)),
        Item::Table => table(rng),
        Item::Figure => {
            let figure = course.lessons[lesson_index].figure;
            let alt =
                format!("Diagram: {} and {}", words::plural(rng.pick(NOUNS)), words::plural(rng.pick(NOUNS)));
            format!("![{alt}](media/fig-{figure}.svg)\n")
        }
        Item::Animation(index) => {
            let animation = &plan.animations[index];
            let mut block = format!("```animation\nsrc = {}\n", toml_string(&animation.src));
            if rng.percent(80) {
                let caption = words::plain_sentence(rng);
                block += &format!("caption = {}\n", toml_string(&caption));
            }
            if animation.kind != AnimationKind::Svg && rng.percent(20) {
                block += "loop = false\n";
            }
            block + "```\n"
        }
        Item::Lab(index) => {
            let mut block = format!("```lab\nsrc = {}\n", toml_string(&plan.labs[index].slug));
            if rng.percent(30) {
                block += &format!("height = {}\n", rng.range(10, 16) * 40);
            }
            block + "```\n"
        }
    }
}
