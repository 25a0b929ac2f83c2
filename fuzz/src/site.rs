//! The builder's Markdown pipeline set up as `course build` sets it up, from the sample
//! content in `content/` (`builder::fuzzing::Site`). Loaded once per fuzzing process and
//! shared by every input.

use std::path::Path;
use std::sync::OnceLock;

use builder::fuzzing::Site;

/// The sample course whose directory fuzzed lessons pretend to live in (so relative links
/// to its media and lessons resolve).
pub const COURSE: &str = "python-foundations";

pub fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        crate::html::assert_checker_works();
        let content = Path::new(env!("CARGO_MANIFEST_DIR")).join("../content");
        Site::load(&content, COURSE).unwrap_or_else(|errors| panic!("the sample content has errors: {errors:?}"))
    })
}
