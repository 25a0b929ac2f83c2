//! The same lessons as a Hugo site, for comparing builds: identical front matter (plus a
//! `weight` for module order) and identical Markdown bodies, a minimal theme in layouts/,
//! course media and animations under static/.

use super::{toml_string, GenFile, LessonText, Plan};

const CONFIG: &str = r#"baseURL = "/"
title = "@title@"
# Pages at /<course>/<lesson>.html, so lesson-relative media/ and ../<course>/ links resolve
# as they do in our release.
uglyURLs = true
disableKinds = ["taxonomy", "term", "RSS", "sitemap"]

[markup.goldmark.renderer]
unsafe = true

[markup.highlight]
# Chroma, Hugo's default highlighter, for fenced code.
codeFences = true
"#;

const BASEOF: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ if not .IsHome }}{{ .Title }} | {{ end }}{{ site.Title }}</title>
  <link rel="stylesheet" href="/css/site.css">
</head>
<body>
  <header class="site-header"><a href="{{ site.Home.RelPermalink }}">{{ site.Title }}</a></header>
  <div class="layout">
    {{ block "main" . }}{{ end }}
  </div>
</body>
</html>
"#;

/// Hugo's `NextInSection` walks towards the start of the weight order, hence the swap.
const SINGLE: &str = r#"{{ define "main" }}
<nav class="sidebar">
  <h2><a href="{{ .CurrentSection.RelPermalink }}">{{ .CurrentSection.Title }}</a></h2>
  <ol>
    {{ $current := . }}
    {{ range .CurrentSection.Pages.ByWeight }}
    <li{{ if eq . $current }} class="current"{{ end }}><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>
    {{ end }}
  </ol>
</nav>
<main class="lesson">
  <p class="meta">{{ with .Params.duration }}{{ . }} min{{ end }}</p>
  <aside class="toc">{{ .TableOfContents }}</aside>
  <article>{{ .Content }}</article>
  <nav class="pager">
    {{ with .PrevInSection }}<a href="{{ .RelPermalink }}">Next: {{ .Title }}</a>{{ end }}
    {{ with .NextInSection }}<a href="{{ .RelPermalink }}">Previous: {{ .Title }}</a>{{ end }}
  </nav>
</main>
{{ end }}
"#;

const LIST: &str = r#"{{ define "main" }}
<main class="course">
  <h1>{{ .Title }}</h1>
  {{ .Content }}
  <ol class="lessons">
    {{ range .Pages.ByWeight }}
    <li><a href="{{ .RelPermalink }}">{{ .Title }}</a> <span>{{ .Summary | plainify }}</span></li>
    {{ end }}
  </ol>
</main>
{{ end }}
"#;

const INDEX: &str = r#"{{ define "main" }}
<main class="index">
  <h1>{{ site.Title }}</h1>
  {{ .Content }}
  <ul class="courses">
    {{ range .Sections.ByWeight }}
    <li><a href="{{ .RelPermalink }}">{{ .Title }}</a> ({{ len .Pages }} lessons)</li>
    {{ end }}
  </ul>
</main>
{{ end }}
"#;

/// Lesson links are written as `other.md`; pages are `other.html`.
const RENDER_LINK: &str = r#"{{- $dest := .Destination -}}
{{- if and (not (strings.Contains $dest "://")) (strings.HasSuffix $dest ".md") -}}
{{- $dest = printf "%s.html" (strings.TrimSuffix ".md" $dest) -}}
{{- end -}}
<a href="{{ $dest | safeURL }}"{{ with .Title }} title="{{ . }}"{{ end }}>{{ .Text | safeHTML }}</a>
{{- /* keep */ -}}
"#;

/// The rich blocks, rendered from their TOML like our theme's partials.
const RENDER_ANIMATION: &str = r#"{{- $a := transform.Unmarshal .Inner -}}
{{- $src := printf "/animations/%s" $a.src -}}
<figure class="animation">
{{- if strings.HasSuffix $a.src ".svg" }}
  <img src="{{ $src }}" alt="{{ $a.caption | default "Animation" }}" loading="lazy">
{{- else if or (strings.HasSuffix $a.src ".webm") (strings.HasSuffix $a.src ".mp4") }}
  <video controls muted playsinline preload="metadata" src="{{ $src }}"></video>
{{- else if strings.HasSuffix $a.src ".json" }}
  <div class="lottie" data-lottie-src="{{ $src }}"></div>
{{- else }}
  <div class="lottie" data-lottie-src="{{ $src }}/animation.json"></div>
{{- end }}
{{- with $a.caption }}
  <figcaption>{{ . }}</figcaption>
{{- end }}
</figure>
"#;

const RENDER_QUIZ: &str = r#"{{- $quiz := transform.Unmarshal .Inner -}}
<section class="quiz">
  {{ with $quiz.title }}<h3>{{ . }}</h3>{{ end }}
  <ol>
  {{- range $quiz.questions }}
    <li><p>{{ .prompt | markdownify }}</p>
      <ul>{{ range .choices }}<li>{{ . | markdownify }}</li>{{ end }}</ul>
      {{ with .explanation }}<details><summary>Explanation</summary>{{ . | markdownify }}</details>{{ end }}
    </li>
  {{- end }}
  </ol>
</section>
"#;

const RENDER_LAB: &str = r#"{{- $lab := transform.Unmarshal .Inner -}}
<section class="lab">
  <iframe src="/labs/{{ $lab.src }}/app/index.html" height="{{ $lab.height | default 520 }}" title="Lab"></iframe>
</section>
"#;

const CSS: &str = "body { font-family: system-ui, sans-serif; margin: 0; color: #1a202c; }\n\
.site-header { padding: 0.75rem 1.5rem; background: #2b6cb0; }\n.site-header a { color: #fff; }\n\
.layout { display: flex; gap: 2rem; padding: 1.5rem; }\n.sidebar { flex: 0 0 16rem; }\n\
.sidebar .current a { font-weight: 700; }\n.lesson, .course, .index { flex: 1; max-width: 48rem; }\n\
pre { overflow-x: auto; padding: 0.75rem; }\nimg, video, iframe { max-width: 100%; }\n\
table { border-collapse: collapse; }\ntd, th { border: 1px solid #cbd5e0; padding: 0.25rem 0.5rem; }\n";

/// Inserts `weight = n` before the closing `+++` of our front matter.
fn with_weight(front: &str, weight: usize) -> String {
    let mut lines: Vec<&str> = front.trim_end().lines().collect();
    let close = lines.pop().unwrap_or("+++");
    let weight_line = format!("weight = {weight}");
    lines.push(&weight_line);
    lines.push(close);
    lines.join("\n") + "\n\n"
}

pub(crate) fn site(plan: &Plan, lessons: &[LessonText], content: &[GenFile]) -> Vec<GenFile> {
    let text = |rel: &str, body: String| GenFile::text(rel.to_owned(), body);
    let mut files = vec![
        text("hugo.toml", CONFIG.replace("@title@", &plan.title.replace('"', "\\\""))),
        text("layouts/_default/baseof.html", BASEOF.into()),
        text("layouts/_default/single.html", SINGLE.into()),
        text("layouts/_default/list.html", LIST.into()),
        text("layouts/index.html", INDEX.into()),
        text("layouts/_default/_markup/render-link.html", RENDER_LINK.into()),
        text("layouts/_default/_markup/render-codeblock-animation.html", RENDER_ANIMATION.into()),
        text("layouts/_default/_markup/render-codeblock-quiz.html", RENDER_QUIZ.into()),
        text("layouts/_default/_markup/render-codeblock-lab.html", RENDER_LAB.into()),
        text("static/css/site.css", CSS.into()),
        text(
            "content/_index.md",
            format!("+++\ntitle = {}\n+++\n\n{}\n", toml_string(&plan.title), plan.tagline),
        ),
    ];
    for (c, course) in plan.courses.iter().enumerate() {
        files.push(text(
            &format!("content/{}/_index.md", course.slug),
            format!(
                "+++\ntitle = {}\nweight = {}\n+++\n\n{}\n",
                toml_string(&course.title),
                c + 1,
                course.summary
            ),
        ));
    }
    for lesson in lessons {
        let course = &plan.courses[lesson.course];
        let rel = format!("content/{}/{}.md", course.slug, course.lessons[lesson.lesson].slug);
        files.push(GenFile::text(
            rel,
            format!("{}{}", with_weight(&lesson.front, lesson.lesson + 1), lesson.body),
        ));
    }
    for file in content {
        let static_rel = if file.rel.starts_with("courses/") && file.rel.contains("/media/") {
            file.rel.strip_prefix("courses/").map(str::to_owned)
        } else if file.rel.starts_with("animations/")
            || file.rel.starts_with("labs/") && file.rel.contains("/app/")
        {
            Some(file.rel.clone())
        } else {
            None
        };
        if let Some(rel) = static_rel {
            files.push(GenFile { rel: format!("static/{rel}"), bytes: file.bytes.clone() });
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_goes_inside_the_front_matter() {
        let front = "+++\ntitle = \"A\"\nduration = 5\n+++\n\n";
        assert_eq!(with_weight(front, 3), "+++\ntitle = \"A\"\nduration = 5\nweight = 3\n+++\n\n");
    }
}
