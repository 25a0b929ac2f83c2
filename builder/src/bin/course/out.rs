//! Standard output that a closed pipe (`course releases | head`) cannot make panic: the
//! program ends quietly instead, as other Unix tools do.

use std::fmt::Display;
use std::io::Write as _;

/// Writes `text` as it is (reports end with their own newline).
pub(crate) fn print(text: impl Display) {
    let mut stdout = std::io::stdout().lock();
    if write!(stdout, "{text}").and_then(|()| stdout.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Writes `line` and a newline.
pub(crate) fn say(line: impl Display) {
    print(format_args!("{line}\n"));
}
