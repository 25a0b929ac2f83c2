//! Lab folders: lab.toml, instructions, a small web app and starter files.

use super::code;
use super::rng::Rng;
use super::words;
use super::{toml_string, GenFile, LabPlan};

pub(crate) fn lab_files(rng: &mut Rng, lab: &LabPlan) -> Vec<GenFile> {
    let dir = format!("labs/{}", lab.slug);
    let mut files = Vec::new();
    let mut add = |rel: &str, text: String| files.push(GenFile::text(format!("{dir}/{rel}"), text));

    add(
        "lab.toml",
        format!("title = {}\nsummary = {}\n", toml_string(&lab.title), toml_string(&lab.summary)),
    );

    let lang = rng.pick(&["python", "javascript", "bash"]);
    let mut steps = String::new();
    for n in 1..=rng.range(3, 5) {
        steps += &format!("{n}. {}\n", words::sentence(rng));
    }
    add(
        "instructions.md",
        format!(
            "{}\n\n## Steps\n\n{steps}\n```{lang}\n{}```\n\n{}\n",
            words::paragraph(rng, None),
            code::sample(rng, lang),
            words::paragraph(rng, None)
        ),
    );

    let field = rng.pick(words::NOUNS).replace(' ', "-");
    add(
        "app/index.html",
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n  \
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n  \
             <title>{title}</title>\n  <link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n  \
             <main class=\"lab\">\n    <h1>{title}</h1>\n    <label for=\"input\">Your {field}</label>\n    \
             <textarea id=\"input\" rows=\"8\" spellcheck=\"false\"></textarea>\n    \
             <button id=\"run\" type=\"button\">Run</button>\n    <output id=\"result\" for=\"input\"></output>\n  \
             </main>\n  <script src=\"app.js\" defer></script>\n</body>\n</html>\n",
            title = lab.title
        ),
    );
    add(
        "app/app.js",
        format!(
            "'use strict';\n// {}\nconst input = document.getElementById('input');\n\
             const result = document.getElementById('result');\n\n\
             function analyse(text) {{\n  const words = text.split(/\\s+/).filter(Boolean);\n  \
             const unique = new Set(words);\n  return `${{words.length}} words, ${{unique.size}} distinct, limit {}`;\n}}\n\n\
             document.getElementById('run').addEventListener('click', () => {{\n  \
             result.textContent = analyse(input.value);\n}});\n",
            words::plain_sentence(rng),
            rng.range(10, 500)
        ),
    );
    add(
        "app/style.css",
        format!(
            "body {{ font-family: system-ui, sans-serif; margin: 0; background: #f7f8fc; }}\n\
             .lab {{ max-width: 48rem; margin: 0 auto; padding: 1.5rem; display: grid; gap: 0.75rem; }}\n\
             textarea {{ font-family: ui-monospace, monospace; padding: 0.5rem; }}\n\
             button {{ justify-self: start; padding: 0.4rem 1.2rem; background: {}; color: #fff; border: 0; border-radius: 4px; }}\n\
             output {{ font-weight: 600; }}\n",
            rng.pick(&["#2b6cb0", "#2f855a", "#6b46c1", "#c05621"])
        ),
    );

    add("starter/readme.md", format!("# {}\n\n{}\n", lab.title, words::paragraph(rng, None)));
    let (name, lang) = rng.pick(&[("main.py", "python"), ("index.js", "javascript"), ("run.sh", "bash")]);
    add(&format!("starter/{name}"), code::sample(rng, lang));
    if rng.percent(60) {
        add("starter/data.json", code::sample(rng, "json"));
    }
    files
}
