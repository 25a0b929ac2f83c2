//! The same lessons as an mdBook: one chapter per course with its lessons nested, the
//! bodies without front matter, course media and animations copied under src/.

use super::{GenFile, LessonText, Plan};

pub(crate) fn book(plan: &Plan, lessons: &[LessonText], content: &[GenFile]) -> Vec<GenFile> {
    let mut files = vec![
        GenFile::text(
            "book.toml".into(),
            format!(
                "[book]\ntitle = {}\nlanguage = \"en\"\nsrc = \"src\"\n\n[output.html]\n",
                super::toml_string(&plan.title)
            ),
        ),
        GenFile::text("src/README.md".into(), format!("# {}\n\n{}\n", plan.title, plan.tagline)),
    ];
    let mut summary = String::from("# Summary\n\n[Introduction](README.md)\n\n");
    for course in &plan.courses {
        summary += &format!("- [{}]({}/README.md)\n", course.title, course.slug);
        let mut intro = format!("# {}\n\n{}\n", course.title, course.summary);
        for module in &course.modules {
            intro += &format!("\n## {}\n\n", module.title);
            for lesson in &course.lessons[module.lessons.clone()] {
                summary += &format!("  - [{}]({}/{}.md)\n", lesson.title, course.slug, lesson.slug);
                intro += &format!("- [{}]({}.md)\n", lesson.title, lesson.slug);
            }
        }
        files.push(GenFile::text(format!("src/{}/README.md", course.slug), intro));
    }
    files.push(GenFile::text("src/SUMMARY.md".into(), summary));
    for lesson in lessons {
        let course = &plan.courses[lesson.course];
        let rel = format!("src/{}/{}.md", course.slug, course.lessons[lesson.lesson].slug);
        files.push(GenFile::text(rel, lesson.body.clone()));
    }
    for file in content {
        if file.rel.starts_with("animations/")
            || file.rel.starts_with("courses/") && file.rel.contains("/media/")
        {
            let rel = file.rel.strip_prefix("courses/").unwrap_or(&file.rel);
            files.push(GenFile { rel: format!("src/{rel}"), bytes: file.bytes.clone() });
        }
    }
    files
}
