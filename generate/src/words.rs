//! A fixed vocabulary of computing and teaching words, and prose made from it: titles,
//! sentences of varying length, paragraphs with **bold** and `inline code`.

use super::rng::Rng;

// The word lists below are #[rustfmt::skip]: one word per line would be 500 lines.

#[rustfmt::skip]
pub(crate) const NOUNS: &[&str] = &[
    "array", "stack", "queue", "heap", "tree", "graph", "node", "edge", "pointer", "reference",
    "buffer", "cache", "index", "key", "value", "record", "table", "column", "row", "query", "schema",
    "function", "closure", "iterator", "generator", "loop", "branch", "condition", "variable",
    "constant", "type", "struct", "enum", "trait", "interface", "module", "package", "library",
    "compiler", "interpreter", "parser", "lexer", "token", "grammar", "expression", "statement",
    "scope", "lifetime", "borrow", "owner", "thread", "process", "lock", "mutex", "channel", "message",
    "request", "response", "server", "client", "socket", "protocol", "header", "payload", "stream",
    "file", "directory", "path", "permission", "signal", "event", "callback", "promise", "future",
    "task", "scheduler", "deadline", "timeout", "retry", "transaction", "commit", "rollback",
    "migration", "backup", "replica", "shard", "partition", "cluster", "container", "image", "layer",
    "volume", "network", "route", "endpoint", "session", "cookie", "hash", "checksum", "signature",
    "certificate", "secret", "algorithm", "invariant", "recursion", "base case", "search", "sort",
    "merge", "pivot", "window", "frame", "keyframe", "transition", "easing curve", "timeline", "sprite",
    "shader", "pixel", "canvas", "layout", "grid", "component", "template", "selector", "property",
    "attribute", "element", "document", "tag", "style", "animation", "benchmark", "profile", "test",
    "assertion", "fixture", "mock", "coverage", "regression", "bug", "patch", "release", "version",
    "dependency", "build", "pipeline", "artifact", "log", "metric", "trace", "alert", "dashboard",
    "exercise", "example", "lesson", "quiz", "project", "student", "mentor", "review", "feedback",
    "notebook", "sketch", "diagram", "model", "dataset", "feature", "label", "vector", "matrix",
    "tensor", "gradient", "loss", "batch", "epoch", "prediction",
];

#[rustfmt::skip]
pub(crate) const VERBS: &[&str] = &[
    "store", "return", "compute", "compare", "swap", "insert", "remove", "update", "traverse", "visit",
    "split", "merge", "sort", "filter", "map", "reduce", "collect", "borrow", "own", "move", "copy",
    "clone", "parse", "validate", "render", "schedule", "cancel", "retry", "measure", "profile",
    "cache", "invalidate", "serialize", "encode", "decode", "compress", "hash", "sign", "verify",
    "lock", "release", "spawn", "join", "await", "yield", "emit", "handle", "route", "match", "bind",
    "resolve", "allocate", "free", "grow", "shrink", "balance", "rotate", "index", "scan", "fetch",
    "load", "read", "write", "flush", "append", "truncate", "log", "trace", "test", "mock", "refactor",
    "document", "explain", "reveal", "hide", "simplify", "guarantee", "prevent", "detect", "recover",
    "replace", "combine",
];

#[rustfmt::skip]
pub(crate) const ADJECTIVES: &[&str] = &[
    "small", "large", "empty", "full", "sorted", "unsorted", "stable", "mutable", "immutable", "shared",
    "private", "public", "generic", "concrete", "abstract", "lazy", "eager", "recursive", "iterative",
    "parallel", "concurrent", "atomic", "durable", "consistent", "fast", "slow", "cheap", "expensive",
    "linear", "logarithmic", "quadratic", "constant-time", "balanced", "nested", "flat", "sparse",
    "dense", "valid", "invalid", "optional", "required", "default", "explicit", "implicit", "typed",
    "dynamic", "static", "local", "global", "remote", "cached", "fresh", "stale", "hidden", "visible",
    "smooth", "predictable", "careful", "naive", "robust", "fragile", "idempotent", "deterministic",
    "readable", "compact", "verbose",
];

#[rustfmt::skip]
pub(crate) const ADVERBS: &[&str] = &[
    "quickly", "safely", "carefully", "eventually", "always", "rarely", "usually", "only", "exactly",
    "roughly", "lazily", "eagerly", "silently", "explicitly", "implicitly", "twice",
];

#[rustfmt::skip]
const OPENERS: &[&str] = &[
    "In practice", "Most of the time", "For example", "As a rule", "In this lesson", "By contrast",
    "At first", "In the exercise", "Under load", "On a small input", "Later in the course",
    "In a real project", "When in doubt", "Put simply", "Step by step", "With a little care",
];

#[rustfmt::skip]
const TAILS: &[&str] = &[
    "before the next step begins",
    "without touching the rest of the program",
    "so the result stays predictable",
    "even when the input is empty",
    "which is exactly what the tests check",
    "and nothing else changes",
    "as long as the invariant holds",
    "in a single pass",
    "at the cost of a little extra memory",
    "when the input grows large",
    "because every step is cheap",
    "until the loop reaches its base case",
];

/// Snippets shown as `inline code` in prose and quizzes.
#[rustfmt::skip]
pub(crate) const IDENTS: &[&str] = &[
    "len()", "push", "pop()", "HashMap", "Vec<T>", "Option<T>", "SELECT", "GROUP BY", "git commit",
    "O(n)", "O(log n)", "O(1)", "O(n log n)", "async fn", "map()", "filter()", "JOIN", "fetch()",
    "await", "None", "null", "i32", "dict", "list.sort()", "std::mem::swap", "Array.from", "grep -r",
    "EXPLAIN", "--release", "self", "const", "let mut", "yield", "try/except", "Result<T, E>", "?",
    "&str", "String", "JSON.parse", "@keyframes", "transform", "opacity", "requestAnimationFrame",
    "CREATE INDEX", "set -e", "xargs", "range(10)", "enumerate()",
];

pub(crate) fn third_person(verb: &str) -> String {
    let bytes = verb.as_bytes();
    let consonant_y = verb.ends_with('y') && bytes.len() > 1 && !b"aeiou".contains(&bytes[bytes.len() - 2]);
    if consonant_y {
        format!("{}ies", &verb[..verb.len() - 1])
    } else if ["s", "sh", "ch", "x", "z"].iter().any(|end| verb.ends_with(end)) {
        format!("{verb}es")
    } else {
        format!("{verb}s")
    }
}

pub(crate) fn plural(noun: &str) -> String {
    match noun {
        "epoch" => "epochs".to_owned(),
        "matrix" => "matrices".to_owned(),
        "index" => "indexes".to_owned(),
        "quiz" => "quizzes".to_owned(),
        _ => third_person(noun),
    }
}

/// `a` or `an`, by the first letter of `word`.
pub(crate) fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Upper-cases the first letter (after any leading `**` of a bold span).
pub(crate) fn capitalize(text: &str) -> String {
    let markup = text.len() - text.trim_start_matches('*').len();
    let (lead, rest) = text.split_at(markup);
    let mut chars = rest.chars();
    match chars.next() {
        Some(first) => lead.chars().chain(first.to_uppercase()).chain(chars).collect(),
        None => text.to_owned(),
    }
}

/// `a-z`, `0-9` and single `-` between words.
pub(crate) fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// A short title such as "Working with sorted buffers".
pub(crate) fn title(rng: &mut Rng) -> String {
    let noun = rng.pick(NOUNS);
    let other = rng.pick(NOUNS);
    let adj = rng.pick(ADJECTIVES);
    let verb = rng.pick(VERBS);
    let text = match rng.below(9) {
        0 => format!("{} and {}", plural(noun), plural(other)),
        1 => format!("working with {adj} {}", plural(noun)),
        2 => format!("{adj} {}", plural(noun)),
        3 => format!("understanding the {noun}"),
        4 => format!("{} in practice", plural(noun)),
        5 => format!("from {noun} to {other}"),
        6 => format!("how to {verb} {} {noun}", article(noun)),
        7 => format!("the {adj} {noun} {other}"),
        _ => format!("{verb} every {noun}"),
    };
    capitalize(&text)
}

/// An identifier made of one or two vocabulary words, joined by `sep` (`_` or `-`).
pub(crate) fn ident(rng: &mut Rng, sep: &str) -> String {
    let first = rng.pick(NOUNS).replace(' ', sep);
    if rng.percent(50) {
        format!("{}{sep}{first}", rng.pick(ADJECTIVES).replace('-', sep))
    } else {
        first
    }
}

/// A noun phrase and whether it is plural (for the verb that follows).
fn noun_phrase(rng: &mut Rng, markup: bool) -> (String, bool) {
    let noun = rng.pick(NOUNS);
    let (phrase, plural_phrase) = match rng.below(6) {
        0 => (format!("the {} {noun}", rng.pick(ADJECTIVES)), false),
        1 => (format!("{} {noun}", article(noun)), false),
        2 => (format!("each {noun}"), false),
        3 => (format!("the {noun} of the {}", rng.pick(NOUNS)), false),
        4 => (format!("{} {}", rng.pick(ADJECTIVES), plural(noun)), true),
        _ => (format!("the {noun}"), false),
    };
    let phrase = match rng.below(100) {
        0..=6 if markup => format!("**{phrase}**"),
        7..=12 if markup => format!("{phrase} (`{}`)", rng.pick(IDENTS)),
        _ => phrase,
    };
    (phrase, plural_phrase)
}

fn verb_for(rng: &mut Rng, plural_subject: bool) -> String {
    let verb = rng.pick(VERBS);
    if plural_subject {
        verb.to_owned()
    } else {
        third_person(verb)
    }
}

/// One sentence of 5 to about 30 words, with **bold** and `code` spans when `markup`.
pub(crate) fn sentence_with(rng: &mut Rng, markup: bool) -> String {
    let mut text = String::new();
    if rng.percent(25) {
        text.push_str(rng.pick(OPENERS));
        text.push_str(", ");
    }
    let question = rng.percent(8);
    let (subject, plural_subject) = noun_phrase(rng, markup);
    if question {
        let does = if plural_subject { "do" } else { "does" };
        let (object, _) = noun_phrase(rng, markup);
        text.push_str(&format!("why {does} {subject} {} {object}", rng.pick(VERBS)));
    } else {
        let adverb = if rng.percent(20) { format!("{} ", rng.pick(ADVERBS)) } else { String::new() };
        let verb = verb_for(rng, plural_subject);
        let (object, _) = noun_phrase(rng, markup);
        text.push_str(&format!("{subject} {adverb}{verb} {object}"));
    }
    match rng.below(6) {
        0 => text.push_str(&format!(" {}", rng.pick(TAILS))),
        1 if !question => {
            let (second, plural_second) = noun_phrase(rng, markup);
            let verb = verb_for(rng, plural_second);
            let (object, _) = noun_phrase(rng, markup);
            text.push_str(&format!(", and {second} {verb} {object}"));
        }
        2 => {
            let (other, plural_other) = noun_phrase(rng, markup);
            let is = if plural_other { "are" } else { "is" };
            text.push_str(&format!(" when {other} {is} {}", rng.pick(ADJECTIVES)));
        }
        3 if markup && !question => text.push_str(&format!(" with `{}`", rng.pick(IDENTS))),
        _ => {}
    }
    text.push(if question { '?' } else { '.' });
    capitalize(&text)
}

pub(crate) fn sentence(rng: &mut Rng) -> String {
    sentence_with(rng, true)
}

/// A sentence without Markdown, for summaries, captions and titles shown as text.
pub(crate) fn plain_sentence(rng: &mut Rng) -> String {
    sentence_with(rng, false)
}

/// 2 to 6 sentences; `extra` (a sentence with a link, say) is woven in when given.
pub(crate) fn paragraph(rng: &mut Rng, extra: Option<String>) -> String {
    let count = rng.range(2, 6);
    let mut sentences: Vec<String> = (0..count).map(|_| sentence(rng)).collect();
    if let Some(extra) = extra {
        let at = rng.range(1, sentences.len());
        sentences.insert(at, extra);
    }
    sentences.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_slugs() {
        assert_eq!(third_person("copy"), "copies");
        assert_eq!(third_person("match"), "matches");
        assert_eq!(third_person("play"), "plays");
        assert_eq!(third_person("store"), "stores");
        assert_eq!(plural("matrix"), "matrices");
        assert_eq!(article("epoch"), "an");
        assert_eq!(slugify("From node to base case!"), "from-node-to-base-case");
        assert_eq!(capitalize("why"), "Why");
        assert_eq!(capitalize("**a cache** grows"), "**A cache** grows");
    }

    #[test]
    fn prose_has_no_template_braces() {
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let text = paragraph(&mut rng, None);
            assert!(!text.contains("{{") && !text.contains('"') && !text.contains('\\'), "{text}");
            let plain = plain_sentence(&mut rng);
            assert!(!plain.contains(['*', '`']), "{plain}");
        }
    }
}
