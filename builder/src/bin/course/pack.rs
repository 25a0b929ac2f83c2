//! `course pack`: one course of the built release as a zip that opens from disk.

use std::path::PathBuf;

use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The course's slug (its folder under content/courses/).
    course: String,
    /// The local store `course build` wrote.
    #[arg(long, default_value = "dist")]
    out: PathBuf,
    /// The channel whose release is packed.
    #[arg(long, default_value = "live")]
    channel: String,
    /// The zip to write (default `<course>.zip`).
    #[arg(long, short = 'o')]
    to: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let to = args.to.clone().unwrap_or_else(|| PathBuf::from(format!("{}.zip", args.course)));
    let options = builder::pack::PackOptions {
        store: &args.out,
        channel: &args.channel,
        course: &args.course,
        out: &to,
    };
    crate::out::print(builder::pack::pack(&options)?);
    Ok(())
}
