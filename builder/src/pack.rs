//! `course pack <slug>`: one course of a built release as a zip that opens from disk (a
//! USB stick, a school's own server): the course's page, lessons, media, animations, lab
//! apps and the theme files they use (`build::course_files`), under one folder `<slug>/`,
//! every link between them made relative (`courses/<slug>/<lesson>/index.html`), with an
//! `index.html` that opens the course. Links to pages outside the course stay as they were.
//! The zip is deterministic: the same release gives the same bytes.
//!
//! It reads a local store (what `course build` wrote) and so is the author's tool: an
//! enrolled course's pack holds its enrolled lessons; hand it only to its students.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bundle::{Channel, Manifest, ReleaseId};
use lol_html::{element, text, HtmlRewriter, Settings};

use crate::build::course_files::{course_files, css_urls, quoted_links, site_path};
use crate::build::output::{Body, Output};

pub struct PackOptions<'a> {
    /// The local store `course build` wrote.
    pub store: &'a Path,
    pub channel: &'a str,
    pub course: &'a str,
    /// The zip to write (replaced if it exists).
    pub out: &'a Path,
}

#[derive(Debug)]
pub struct PackReport {
    pub path: PathBuf,
    pub release: ReleaseId,
    pub files: usize,
    /// Bytes of the files packed (before compression).
    pub bytes: u64,
    pub zip_bytes: u64,
}

impl std::fmt::Display for PackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "packed {} files ({}) of release {} into {} ({})",
            self.files,
            bundle::size::human_bytes(self.bytes),
            self.release,
            self.path.display(),
            bundle::size::human_bytes(self.zip_bytes)
        )
    }
}

/// Writes the pack of `options.course` from the release `options.channel` points at.
pub fn pack(options: &PackOptions<'_>) -> anyhow::Result<PackReport> {
    if !bundle::paths::is_slug(options.course) {
        bail!("bad course slug {:?}: lowercase letters, digits and '-' only", options.course);
    }
    let (release, manifest) = live_release(options.store, options.channel)?;
    let outputs: Vec<Output> = manifest
        .routes
        .iter()
        .map(|(route, r)| Output {
            route: route.clone(),
            key: r.object.clone(),
            size: r.size,
            body: Body::File(options.store.join(bundle::paths::object_path(&r.object))),
            content_type: r.content_type.clone(),
            cache: r.cache,
            access: r.access.clone(),
        })
        .collect();
    // Written as it is made, into a file renamed into place when whole: a course's
    // videos are not held in memory, and a failed pack leaves no partial zip.
    let tmp = options.out.with_extension("zip.partial");
    // A new file, never one a link there points at (a planted `x.zip.partial` link would
    // have had its target overwritten): a stale one is removed (a link, not its target).
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", tmp.display()));
        }
        _ => {}
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    let packed = match zip_course(&outputs, options.course, std::io::BufWriter::new(file)) {
        Ok(Some(packed)) => packed,
        other => {
            let _ = std::fs::remove_file(&tmp);
            other?.with_context(|| format!("release {release} has no course {:?}", options.course))?
        }
    };
    let finished = packed
        .zip
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::metadata(&tmp))
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|meta| {
            std::fs::rename(&tmp, options.out)
                .with_context(|| format!("writing {}", options.out.display()))?;
            Ok(meta.len())
        });
    // Whatever failed, no partial zip is left behind.
    let zip_bytes = finished.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(PackReport {
        path: options.out.to_owned(),
        release,
        files: packed.files,
        bytes: packed.bytes,
        zip_bytes,
    })
}

fn live_release(store: &Path, channel: &str) -> anyhow::Result<(ReleaseId, Manifest)> {
    let pointer =
        bundle::paths::channel_path(channel).with_context(|| format!("bad channel name {channel:?}"))?;
    let pointer_path = store.join(pointer);
    let bytes = std::fs::read(&pointer_path).with_context(|| {
        format!("reading {} (build the content into this store first)", pointer_path.display())
    })?;
    let channel =
        Channel::from_bytes(&bytes).with_context(|| format!("reading {}", pointer_path.display()))?;
    let manifest_path = store.join(bundle::paths::release_path(&channel.release));
    let bytes =
        std::fs::read(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::verified(&bytes, &channel.release)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    Ok((channel.release, manifest))
}

pub struct Packed<W> {
    /// Where the zip was written.
    pub zip: W,
    pub files: usize,
    pub bytes: u64,
}

/// The file a route is in the pack: `/a/b/` -> `a/b/index.html`, `/a/b.css` -> `a/b.css`.
fn file_of(route: &str) -> String {
    let rel = route.trim_start_matches('/');
    if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_owned()
    }
}

/// The relative URL from the file `from` to the file `to` (both pack-relative).
fn relative(from: &str, to: &str) -> String {
    let from_dirs: Vec<&str> = from.split('/').collect();
    let from_dirs = &from_dirs[..from_dirs.len() - 1];
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from_dirs.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut out = "../".repeat(from_dirs.len() - common);
    out.push_str(&to_parts[common..].join("/"));
    out
}

/// `value` (a URL in the file `from`) made relative when it names a packed route.
fn rewrite(value: &str, from: &str, packed: &BTreeSet<String>) -> Option<String> {
    let path = site_path(value)?;
    if !packed.contains(&path) {
        return None;
    }
    let suffix = &value.trim()[path.len()..];
    Some(format!("{}{suffix}", relative(from, &file_of(&path))))
}

fn rewrite_html(html: &[u8], from: &str, packed: &BTreeSet<String>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(html.len());
    let mut rewriter = HtmlRewriter::new(
        Settings::new()
            .append_element_content_handler(element!("*", |el| {
                let mut changes = Vec::new();
                for attr in el.attributes() {
                    let name = attr.name();
                    let linked = matches!(name.as_str(), "href" | "src" | "poster" | "data" | "action")
                        || name.starts_with("data-");
                    let value = html_escape::decode_html_entities(&attr.value()).into_owned();
                    if let Some(new) = linked.then(|| rewrite(&value, from, packed)).flatten() {
                        changes.push((name, new));
                    }
                }
                for (name, value) in changes {
                    el.set_attribute(&name, &value)?;
                }
                Ok(())
            }))
            // A <noscript>'s markup is text to the parser: its links are rewritten in it.
            .append_element_content_handler(text!("noscript", |t| {
                let text = t.as_str().to_owned();
                let rewritten = rewrite_noscript(&text, from, packed);
                if rewritten != text {
                    t.replace(&rewritten, lol_html::html_content::ContentType::Html);
                }
                Ok(())
            })),
        |chunk: &[u8]| out.extend_from_slice(chunk),
    );
    rewriter.write(html).map_err(std::io::Error::other)?;
    rewriter.end().map_err(std::io::Error::other)?;
    Ok(out)
}

/// The links in a <noscript>'s text, rewritten.
fn rewrite_noscript(text: &str, from: &str, packed: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (range, value) in quoted_links(text) {
        if let Some(new) = rewrite(&value, from, packed) {
            out.push_str(&text[copied..range.start]);
            out.push_str(&new);
            copied = range.end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn rewrite_css(css: &str, from: &str, packed: &BTreeSet<String>) -> String {
    let mut text = css.to_owned();
    let urls: BTreeSet<String> = css_urls(css).into_iter().collect();
    for url in urls {
        if let Some(new) = rewrite(&url, from, packed) {
            for (open, close) in [("(", ")"), ("(\"", "\")"), ("('", "')"), ("\"", "\"")] {
                text = text.replace(&format!("{open}{url}{close}"), &format!("{open}{new}{close}"));
            }
        }
    }
    text
}

/// Media that is compressed already (video, audio, most images, fonts, zips): stored, not
/// deflated again for nothing (a course's videos were most of a pack's time).
fn is_compressed(content_type: &str) -> bool {
    let ty = content_type.split(';').next().unwrap_or_default().trim();
    ty.starts_with("video/")
        || ty.starts_with("audio/")
        || matches!(ty, "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif")
        || matches!(ty, "font/woff" | "font/woff2" | "application/zip" | "application/gzip")
}

/// The pack of course `slug` from a release's `outputs`, written to `sink`, if the
/// release has that course.
pub fn zip_course<W: std::io::Write + std::io::Seek>(
    outputs: &[Output],
    slug: &str,
    sink: W,
) -> anyhow::Result<Option<Packed<W>>> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let refs = crate::build::course_files::ReferenceCache::default();
    let Some(files) = course_files(outputs, slug, &refs).context("reading the course's pages")? else {
        return Ok(None);
    };
    let by_route: std::collections::BTreeMap<&str, &Output> =
        outputs.iter().map(|o| (o.route.as_str(), o)).collect();
    let mut writer = zip::ZipWriter::new(sink);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let course_page = file_of(&bundle::paths::course_prefix(slug));
    let index = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0; url={course_page}\"><title>{slug}</title></head>\
         <body><p><a href=\"{course_page}\">Open the course</a></p></body></html>\n"
    );
    writer.start_file(format!("{slug}/index.html"), options)?;
    writer.write_all(index.as_bytes())?;
    let mut bytes = 0;
    for route in &files {
        let output = by_route[route.as_str()];
        let file = file_of(route);
        if is_compressed(&output.content_type) {
            let stored =
                options.compression_method(zip::CompressionMethod::Stored).large_file(output.size >= 1 << 32);
            writer.start_file(format!("{slug}/{file}"), stored)?;
            bytes += match &output.body {
                Body::File(path) => {
                    let mut from = std::fs::File::open(path).with_context(|| format!("reading {route}"))?;
                    std::io::copy(&mut from, &mut writer).with_context(|| format!("reading {route}"))?
                }
                Body::Bytes(body) => {
                    writer.write_all(body)?;
                    body.len() as u64
                }
            };
            continue;
        }
        let body = output.bytes().with_context(|| format!("reading {route}"))?;
        let body = if output.content_type.starts_with("text/html") {
            rewrite_html(&body, &file, &files).with_context(|| format!("rewriting {route}"))?
        } else if output.content_type.starts_with("text/css") {
            rewrite_css(&String::from_utf8_lossy(&body), &file, &files).into_bytes()
        } else {
            body.into_owned()
        };
        bytes += body.len() as u64;
        writer.start_file(format!("{slug}/{file}"), options)?;
        writer.write_all(&body)?;
    }
    let zip = writer.finish()?;
    Ok(Some(Packed { zip, files: files.len(), bytes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_between_packed_files() {
        assert_eq!(file_of("/courses/a/b/"), "courses/a/b/index.html");
        assert_eq!(file_of("/assets/x.1.css"), "assets/x.1.css");
        assert_eq!(relative("courses/a/b/index.html", "assets/x.css"), "../../../assets/x.css");
        assert_eq!(relative("courses/a/b/index.html", "courses/a/c/index.html"), "../c/index.html");
        assert_eq!(relative("courses/a/index.html", "courses/a/b/index.html"), "b/index.html");
        assert_eq!(relative("assets/x.css", "assets/y.svg"), "y.svg");
        let packed: BTreeSet<String> = ["/courses/a/b/".to_owned(), "/assets/x.css".to_owned()].into();
        assert_eq!(
            rewrite("/courses/a/b/#quiz-1", "courses/a/index.html", &packed).as_deref(),
            Some("b/index.html#quiz-1")
        );
        assert_eq!(rewrite("/courses/z/", "courses/a/index.html", &packed), None, "not packed: left alone");
        let html = rewrite_html(b"<a href=\"/courses/a/b/\">b</a><link href=\"/assets/x.css\"><a href=\"/\">home</a><noscript><link href=\"&#x2f;assets&#x2f;x.css\"></noscript>", "courses/a/index.html", &packed)
            .expect("rewrite");
        assert_eq!(
            String::from_utf8(html).expect("utf8"),
            "<a href=\"b/index.html\">b</a><link href=\"../../assets/x.css\"><a href=\"/\">home</a><noscript><link href=\"../../assets/x.css\"></noscript>"
        );
        assert_eq!(
            rewrite_css("a{background:url(/assets/x.css)}", "assets/y.css", &packed),
            "a{background:url(x.css)}"
        );
    }
}
