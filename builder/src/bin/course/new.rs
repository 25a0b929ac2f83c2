//! `course new`: scaffold a course (a draft) in the content root.

use std::path::PathBuf;

use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The new course's slug (its folder and URL): a-z, 0-9 and -.
    slug: String,
    /// The content root (the folder with site.toml).
    #[arg(long, default_value = "content")]
    content: PathBuf,
    /// The course's title (default: from the slug).
    #[arg(long)]
    title: Option<String>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    crate::out::say(builder::scaffold::new_course(&args.content, &args.slug, args.title.as_deref())?);
    Ok(())
}
