//! Plausible code samples for fenced blocks, in languages the highlighter knows.

use super::rng::Rng;
use super::words::{self, ADJECTIVES, NOUNS, VERBS};

pub(crate) const LANGUAGES: &[&str] = &["python", "rust", "javascript", "sql", "bash", "json"];

/// Replaces each `@key@` of `template` (templates avoid `{}` escaping this way).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_owned();
    for (key, value) in values {
        text = text.replace(&format!("@{key}@"), value);
    }
    text
}

/// Two-word snake_case name (`sorted_buffer`), never a keyword.
fn snake(rng: &mut Rng) -> String {
    let adj = rng.pick(ADJECTIVES).replace('-', "_");
    format!("{adj}_{}", rng.pick(NOUNS).replace(' ', "_"))
}

fn verb_snake(rng: &mut Rng) -> String {
    format!("{}_{}", rng.pick(VERBS), rng.pick(NOUNS).replace(' ', "_"))
}

fn camel(snake: &str) -> String {
    let mut parts = snake.split('_');
    let first = parts.next().unwrap_or_default().to_owned();
    first + &parts.map(words::capitalize).collect::<String>()
}

fn pascal(snake: &str) -> String {
    snake.split('_').map(words::capitalize).collect()
}

fn numbers(rng: &mut Rng, count: usize, max: usize) -> String {
    (0..count).map(|_| rng.below(max).to_string()).collect::<Vec<_>>().join(", ")
}

fn word_list(rng: &mut Rng, count: usize) -> String {
    (0..count).map(|_| rng.pick(NOUNS).replace(' ', "-")).collect::<Vec<_>>().join(" ")
}

/// Fresh names and numbers every template may use.
fn values(rng: &mut Rng) -> Vec<(&'static str, String)> {
    let class = snake(rng);
    let nums = rng.range(4, 9);
    vec![
        ("fn", verb_snake(rng)),
        ("items", words::plural(&snake(rng))),
        ("item", rng.pick(NOUNS).replace(' ', "_")),
        ("result", snake(rng)),
        ("var", snake(rng)),
        ("field", words::plural(rng.pick(NOUNS)).replace(' ', "_")),
        ("Class", pascal(&class)),
        ("table", words::plural(rng.pick(NOUNS)).replace(' ', "_")),
        ("table2", words::plural(&snake(rng))),
        ("col", rng.pick(NOUNS).replace(' ', "_") + "_name"),
        ("word", rng.pick(NOUNS).replace(' ', "-")),
        ("words", word_list(rng, 12)),
        ("ext", (rng.pick(&["txt", "md", "log", "csv", "json"])).to_owned()),
        ("cls", rng.pick(NOUNS).replace(' ', "-")),
        ("n", rng.range(2, 99).to_string()),
        ("m", rng.range(2, 9).to_string()),
        ("ms", (rng.range(2, 20) * 100).to_string()),
        ("nums", numbers(rng, nums, 100)),
        ("doc", words::plain_sentence(rng).replace('?', ".")),
    ]
}

const PYTHON: &[&str] = &[
    r#"def @fn@(@items@, limit=@n@):
    """@doc@"""
    @result@ = []
    for @item@ in @items@:
        if @item@ < limit:
            @result@.append(@item@ * @m@)
    return sorted(@result@)


if __name__ == "__main__":
    print(@fn@([@nums@]))
"#,
    r#"from dataclasses import dataclass, field


@dataclass
class @Class@:
    name: str
    @field@: list[int] = field(default_factory=list)

    def push(self, value: int) -> None:
        self.@field@.append(value)

    def total(self) -> int:
        return sum(self.@field@)


@var@ = @Class@("@word@")
for value in [@nums@]:
    @var@.push(value)
print(@var@.total(), len(@var@.@field@))
"#,
    r#"from collections import Counter

@var@ = "@words@".split()
counts = Counter(@var@)
for word, n in counts.most_common(@m@):
    print(f"{word:>12} {n}")
"#,
    r#"def @fn@(@items@):
    # @doc@
    if len(@items@) <= 1:
        return @items@
    pivot = @items@[len(@items@) // 2]
    smaller = [x for x in @items@ if x < pivot]
    equal = [x for x in @items@ if x == pivot]
    larger = [x for x in @items@ if x > pivot]
    return @fn@(smaller) + equal + @fn@(larger)


assert @fn@([@nums@]) == sorted([@nums@])
"#,
];

const RUST: &[&str] = &[
    r#"#[derive(Debug, Clone)]
struct @Class@ {
    @field@: Vec<u32>,
    limit: usize,
}

impl @Class@ {
    fn new(limit: usize) -> Self {
        Self { @field@: Vec::new(), limit }
    }

    /// @doc@
    fn push(&mut self, value: u32) -> bool {
        if self.@field@.len() >= self.limit {
            return false;
        }
        self.@field@.push(value);
        true
    }
}

fn main() {
    let mut @var@ = @Class@::new(@m@);
    for value in [@nums@] {
        if !@var@.push(value) {
            println!("full at {value}");
        }
    }
    println!("{:?}", @var@);
}
"#,
    r#"fn @fn@(@items@: &[i64]) -> Option<i64> {
    // @doc@
    @items@.iter().copied().filter(|x| x % @m@ == 0).max()
}

fn main() {
    let @var@ = vec![@nums@];
    match @fn@(&@var@) {
        Some(best) => println!("best: {best}"),
        None => println!("nothing matched"),
    }
}
"#,
    r#"use std::collections::HashMap;

fn main() {
    let text = "@words@";
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    let mut sorted: Vec<(&str, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (word, n) in sorted.iter().take(@m@) {
        println!("{word:>12} {n}");
    }
}
"#,
];

const JAVASCRIPT: &[&str] = &[
    r#"export function @fnc@(@itemsc@, limit = @n@) {
  const @resultc@ = [];
  for (const @item@ of @itemsc@) {
    if (@item@.score >= limit) {
      @resultc@.push({ ...@item@, rank: @resultc@.length + 1 });
    }
  }
  return @resultc@;
}

console.log(@fnc@([@objs@]));
"#,
    r#"const @varc@ = document.querySelector(".@cls@");
let start = null;

// @doc@
function step(time) {
  if (start === null) start = time;
  const progress = Math.min((time - start) / @ms@, 1);
  @varc@.style.transform = `translateX(${progress * @n@}px)`;
  if (progress < 1) requestAnimationFrame(step);
}

requestAnimationFrame(step);
"#,
    r#"async function @fnc@(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`request failed: ${response.status}`);
  }
  const @varc@ = await response.json();
  return @varc@.filter((@item@) => @item@.@field@ > @n@);
}

@fnc@("/api/@field@").then((rows) => console.table(rows));
"#,
];

const SQL: &[&str] = &[
    r#"CREATE TABLE @table@ (
    id INTEGER PRIMARY KEY,
    @col@ TEXT NOT NULL,
    score INTEGER DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX @table@_@col@_idx ON @table@ (@col@);

INSERT INTO @table@ (@col@, score, created_at)
VALUES ('@word@', @n@, CURRENT_TIMESTAMP);
"#,
    r#"SELECT s.@col@, COUNT(*) AS total, AVG(r.score) AS average
FROM @table@ AS s
JOIN @table2@ AS r ON r.@table@_id = s.id
WHERE r.score > @n@
GROUP BY s.@col@
HAVING COUNT(*) >= @m@
ORDER BY total DESC
LIMIT 10;
"#,
    r#"BEGIN;

UPDATE @table@
SET score = score + @m@
WHERE @col@ IN (SELECT @col@ FROM @table2@ WHERE score < @n@);

SELECT @col@,
       score,
       RANK() OVER (ORDER BY score DESC) AS place
FROM @table@;

COMMIT;
"#,
];

const BASH: &[&str] = &[
    r#"#!/usr/bin/env bash
set -euo pipefail

dir="${1:-@word@}"
count=0
for file in "$dir"/*.@ext@; do
  [ -e "$file" ] || continue
  lines=$(wc -l < "$file")
  echo "$file: $lines lines"
  count=$((count + 1))
done
echo "checked $count files"
"#,
    r#"# @doc@
grep -rn "@word@" src/ \
  | cut -d: -f1 \
  | sort \
  | uniq -c \
  | sort -rn \
  | head -n @m@
"#,
    r#"mkdir -p build/@word@
cp -r assets/ build/@word@/
tar -czf @word@-@n@.tar.gz -C build @word@
sha256sum @word@-@n@.tar.gz > @word@-@n@.sha256
ls -lh build/@word@ | tail -n +2
"#,
];

/// A code block's body in `lang` (one of [`LANGUAGES`]).
pub(crate) fn sample(rng: &mut Rng, lang: &str) -> String {
    let mut values = values(rng);
    let camel_of = |key: &str, values: &[(&str, String)]| {
        values.iter().find(|(k, _)| *k == key).map(|(_, v)| camel(v)).unwrap_or_default()
    };
    let extra: Vec<(&str, String)> = vec![
        ("fnc", camel_of("fn", &values)),
        ("itemsc", camel_of("items", &values)),
        ("resultc", camel_of("result", &values)),
        ("varc", camel_of("var", &values)),
    ];
    values.extend(extra);
    let objs = (0..rng.range(3, 6))
        .map(|i| format!("{{ id: {}, score: {} }}", i + 1, rng.below(100)))
        .collect::<Vec<_>>()
        .join(", ");
    values.push(("objs", objs));
    let templates = match lang {
        "python" => PYTHON,
        "rust" => RUST,
        "javascript" => JAVASCRIPT,
        "sql" => SQL,
        "bash" => BASH,
        _ => return json(rng),
    };
    fill(rng.pick(templates), &values)
}

fn json(rng: &mut Rng) -> String {
    let mut limits = serde_json::Map::new();
    for _ in 0..rng.range(2, 5) {
        limits.insert(rng.pick(NOUNS).replace(' ', "_"), rng.range(1, 500).into());
    }
    let tags: Vec<String> = (0..rng.range(1, 4)).map(|_| rng.pick(ADJECTIVES).to_string()).collect();
    let value = serde_json::json!({
        "name": words::ident(rng, "-"),
        "version": format!("{}.{}.{}", rng.below(4), rng.below(20), rng.below(10)),
        "enabled": rng.percent(70),
        "limits": limits,
        "tags": tags,
        "retry": { "attempts": rng.range(1, 6), "backoff_ms": rng.range(1, 20) * 50 },
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let mut rng = Rng::new(3);
        for _ in 0..300 {
            for lang in LANGUAGES {
                let code = sample(&mut rng, lang);
                let unfilled = code
                    .split('@')
                    .skip(1)
                    .step_by(2)
                    .any(|key| !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()));
                assert!(!unfilled, "{code}");
                assert!(!code.contains("```") && !code.contains("{{"), "{code}");
            }
        }
    }
}
