//! `course generate`: a deterministic synthetic catalogue (and its Hugo and mdBook peers).

use std::path::PathBuf;

use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Where to write the content tree (cleared only if empty or generated before).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value = "full")]
    size: generate::Size,
    /// The theme copied into the tree.
    #[arg(long, default_value = "content/theme")]
    theme: PathBuf,
    /// Also write the same lessons as a Hugo site here.
    #[arg(long)]
    hugo: Option<PathBuf>,
    /// Also write the same lessons as an mdBook here.
    #[arg(long)]
    mdbook: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let options = generate::GenerateOptions {
        out: args.out.clone(),
        seed: args.seed,
        size: args.size,
        theme: args.theme.clone(),
        hugo: args.hugo.clone(),
        mdbook: args.mdbook.clone(),
    };
    crate::out::say(generate::generate(&options)?);
    Ok(())
}
