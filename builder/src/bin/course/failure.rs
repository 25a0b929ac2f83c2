//! How a subcommand fails, and the one place a failure becomes a message and an exit code.

use std::process::ExitCode;

use builder::ContentError;

pub(crate) enum Failure {
    /// The content has errors (exit 1): each names its `file:line:col`, as do the warnings
    /// shown with them.
    Content { errors: Vec<ContentError>, warnings: Vec<ContentError> },
    /// The content has warnings, and `--deny-warnings` makes them fatal (exit 1).
    Warnings(Vec<ContentError>),
    /// Anything else (exit 2): bad flags, I/O, the store, the network.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Failure::Other(err)
    }
}

impl Failure {
    /// Prints the failure on stderr and gives the exit code.
    pub(crate) fn report(self) -> ExitCode {
        match self {
            Failure::Content { errors, warnings } => {
                for warning in &warnings {
                    eprintln!("warning: {warning}");
                }
                for error in &errors {
                    eprintln!("error: {error}");
                }
                match warnings.len() {
                    0 => eprintln!("{} content error(s); no release written", errors.len()),
                    w => {
                        eprintln!("{} content error(s) and {w} warning(s); no release written", errors.len())
                    }
                }
                ExitCode::from(1)
            }
            Failure::Warnings(warnings) => {
                for warning in &warnings {
                    eprintln!("warning: {warning}");
                }
                eprintln!("{} warning(s), and --deny-warnings: no release written", warnings.len());
                ExitCode::from(1)
            }
            Failure::Other(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            }
        }
    }
}

/// Runs a remote command on a new runtime.
pub(crate) fn block_on<T>(
    command: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, Failure> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from)?;
    Ok(runtime.block_on(command)?)
}
