//! Policy JSON (`bundle::grant::Policy::from_json`) and resource matching
//! (`bundle::grant::resource_matches`).
//!
//! A parsed policy written back with `to_json` parses to the same policy and the same
//! bytes. Matching agrees with a plain dynamic-programming matcher on short inputs and stays
//! O(pattern x url) on long ones (the script runs libFuzzer with `-timeout`, so a blow-up
//! is a reported crash).
#![no_main]

use bundle::grant::{resource_matches, Policy};
use course_fuzz::two_texts;
use libfuzzer_sys::fuzz_target;

/// The reference: `*` any run (none included), `?` one character, scheme and host (the URL
/// up to the first `/` after `://`) compared ignoring ASCII case, the rest exactly.
fn reference(pattern: &str, url: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let u: Vec<char> = url.chars().collect();
    let fold_end = url.find("://").map_or(0, |i| {
        let path = url[i + 3..].find('/').map_or(url.len(), |j| i + 3 + j);
        url[..path].chars().count()
    });
    // matches[i][j]: p[i..] matches u[j..].
    let mut matches = vec![vec![false; u.len() + 1]; p.len() + 1];
    matches[p.len()][u.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=u.len()).rev() {
            matches[i][j] = match p[i] {
                '*' => matches[i + 1][j] || (j < u.len() && matches[i][j + 1]),
                '?' => j < u.len() && matches[i + 1][j + 1],
                c => {
                    j < u.len()
                        && (if j < fold_end { c.eq_ignore_ascii_case(&u[j]) } else { c == u[j] })
                        && matches[i + 1][j + 1]
                }
            };
        }
    }
    matches[0][0]
}

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = Policy::from_json(data) {
        let json = policy.to_json();
        let again =
            Policy::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{json} does not parse: {e}"));
        assert_eq!(again, policy);
        assert_eq!(again.to_json(), json);
        let _ = resource_matches(&policy.resource, "https://h/courses/py1/lesson/");
    }
    let (pattern, url) = two_texts(data);
    let matched = resource_matches(&pattern, &url);
    if pattern.len() + url.len() <= 512 {
        assert_eq!(matched, reference(&pattern, &url), "{pattern:?} vs {url:?}");
    }
});
