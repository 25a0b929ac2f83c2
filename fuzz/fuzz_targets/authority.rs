//! The public origin a grant is checked against (`edge_origin::authority`): an accepted
//! `host[:port]` has no `/ ? # @`, whitespace, control or non-ASCII character, is its own
//! lowercase and is accepted again as itself; the same for `--public-url` and for the
//! authority of a whole request (absolute-form target or Host header).
#![no_main]

use course_fuzz::two_texts;
use edge_origin::authority::{normalise, of_request, parse_public_url};
use libfuzzer_sys::fuzz_target;

fn assert_clean(authority: &str, from: &str) {
    assert!(
        !authority
            .chars()
            .any(|c| "/?#@\\%".contains(c) || c.is_whitespace() || c.is_control() || !c.is_ascii()),
        "{from:?} -> {authority:?}"
    );
    assert_eq!(authority, authority.to_ascii_lowercase(), "{from:?}");
    assert_eq!(normalise(authority).as_deref(), Some(authority), "{from:?} is not a fixed point");
}

fuzz_target!(|data: &[u8]| {
    let (first, second) = two_texts(data);
    if let Some(authority) = normalise(&first) {
        assert_clean(&authority, &first);
    }
    if let Ok(url) = parse_public_url(&first) {
        let authority = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let authority = authority.unwrap_or_else(|| panic!("{first:?} -> {url:?} has no http(s) scheme"));
        assert_clean(authority, &first);
        assert_eq!(parse_public_url(&url).as_deref(), Ok(url.as_str()));
    }
    // A request: the first text as its target, the second as its Host header.
    let Ok(request) = http::Request::get(first.as_str()).header(http::header::HOST, second.as_str()).body(())
    else {
        return;
    };
    if let Ok(Some(authority)) = of_request(&request) {
        assert_clean(&authority, &format!("{first} / Host: {second}"));
    }
});
