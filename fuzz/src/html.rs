//! What published HTML must never carry: script elements, event-handler attributes, and
//! URLs a browser would run (`javascript:`, `vbscript:`, and `data:` outside images).
//!
//! The checker reads tags as a browser's tokenizer would in the parts that matter here:
//! attribute values in quotes may hold `>`, names are case-insensitive, and a URL's scheme
//! is read after entity decoding with tabs and newlines removed.

/// Elements whose mere presence runs or embeds code from the page's origin.
const FORBIDDEN_ELEMENTS: [&str; 6] = ["script", "object", "embed", "base", "meta", "frameset"];

/// Attributes whose value is a URL.
const URL_ATTRIBUTES: [&str; 8] =
    ["href", "src", "action", "formaction", "xlink:href", "poster", "data", "srcset"];

/// Returns the first danger found in `html`, or `None`. `allow_lab_frames`: the theme's lab
/// partial frames the lab app, `<iframe src="/.../labs/...">` (generated, not author input).
pub fn danger(html: &str, allow_lab_frames: bool) -> Option<String> {
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let name_len =
            after.find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/').unwrap_or(after.len());
        let name = after[..name_len].to_ascii_lowercase();
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            rest = after;
            continue;
        }
        let (attributes, consumed) = attributes(&after[name_len..]);
        let lab_frame = || {
            attributes.iter().any(|(attr, value)| {
                let value = decode_entities(value);
                attr == "src" && value.starts_with('/') && value.contains("/labs/")
            })
        };
        if FORBIDDEN_ELEMENTS.contains(&name.as_str())
            || (name == "iframe" && !(allow_lab_frames && lab_frame()))
        {
            return Some(format!("<{name}> element"));
        }
        for (attr, value) in attributes {
            let attr = attr.to_ascii_lowercase();
            if attr.starts_with("on") {
                return Some(format!("event handler {attr}= on <{name}>"));
            }
            if attr == "style" && value.to_ascii_lowercase().contains("url(") {
                return Some(format!("style with url() on <{name}>"));
            }
            if URL_ATTRIBUTES.contains(&attr.as_str()) {
                if let Some(scheme) = url_scheme(&value) {
                    let image = name == "img" && attr == "src";
                    if scheme == "javascript" || scheme == "vbscript" || (scheme == "data" && !image) {
                        return Some(format!("{scheme}: URL in {attr}= on <{name}>: {value:?}"));
                    }
                }
            }
        }
        rest = &after[name_len + consumed..];
    }
    None
}

/// Attributes of a tag up to its `>`: (name, raw value), and the bytes consumed.
fn attributes(tag: &str) -> (Vec<(String, String)>, usize) {
    let bytes = tag.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' {
            return (out, (i + 1).min(bytes.len()));
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = tag[start..i].to_owned();
        // The name may be followed by `=` after spaces; otherwise the attribute has no value.
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b'=' {
            out.push((name, String::new()));
            if i == start {
                i += 1; // a stray character such as `=`
            }
            continue;
        }
        i = j + 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let end = tag[i + 1..].find(quote as char).map_or(tag.len(), |e| i + 1 + e);
                let value = tag[i + 1..end].to_owned();
                i = (end + 1).min(bytes.len());
                value
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                tag[start..i].to_owned()
            }
        };
        out.push((name, value));
    }
}

/// The scheme a browser would read from an attribute value, lowercased.
fn url_scheme(raw: &str) -> Option<String> {
    let decoded = decode_entities(raw);
    let cleaned: String = decoded
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let end = cleaned.find([':', '/', '?', '#'])?;
    let candidate = &cleaned[..end];
    let valid = cleaned[end..].starts_with(':')
        && candidate.starts_with(|c: char| c.is_ascii_alphabetic())
        && candidate.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| candidate.to_ascii_lowercase())
}

/// Numeric character references and the named ones that can spell a scheme.
fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '#')).unwrap_or(after.len());
        let entity = &after[..end];
        let decoded = if let Some(num) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
            u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
        } else if let Some(num) = entity.strip_prefix('#') {
            num.parse::<u32>().ok().and_then(char::from_u32)
        } else {
            match entity {
                "colon" => Some(':'),
                "Tab" => Some('\t'),
                "NewLine" => Some('\n'),
                "amp" => Some('&'),
                _ => None,
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                let skip = end + usize::from(after[end..].starts_with(';'));
                rest = &after[skip..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The checker's own check, run once per fuzzing process (see the site module): it
/// finds what it must find and passes what it must pass.
pub fn assert_checker_works() {
    for bad in [
        "<script>x</script>",
        "<SCRIPT src=x>",
        "<img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"java&#x9;script&colon;x\">x</a>",
        "<a title=\"a>b\" href=' JavaScript:x'>",
        "<a href=\"data:text/html,x\">",
        "<iframe src=\"https://e\">",
        "<iframe src=\"&#x2f;evil\">",
    ] {
        assert!(danger(bad, true).is_some(), "the checker misses {bad}");
    }
    for fine in [
        "<p>javascript: is a scheme; a onclick= b</p>",
        "<img src=\"data:image/png;base64,AA\">",
        "<a href=\"https://x/?a=javascript:1\">x</a>",
        "<p>1 &lt; 2 and 3 > 2</p>",
        "<form class=\"quiz\" novalidate><input type=\"radio\" name=\"q\" value=\"0\"></form>",
        "<iframe src=\"&#x2f;labs&#x2f;28d3ff742b&#x2f;index.html\" title=\"a\"></iframe>",
    ] {
        assert_eq!(danger(fine, true), None, "the checker flags {fine}");
    }
}
