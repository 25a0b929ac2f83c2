//! Animations (animated SVG, Lottie JSON and bundles, opaque video) and course figures.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::rng::Rng;
use super::words;

const PALETTE: &[&str] =
    &["#2b6cb0", "#c05621", "#2f855a", "#b83280", "#6b46c1", "#d69e2e", "#319795", "#e53e3e"];

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An animated SVG of 1-4 KB: shapes moved by SMIL `<animate>`, or by a CSS animation.
pub(crate) fn animated_svg(rng: &mut Rng, title: &str) -> String {
    let target = rng.range(1000, 4000);
    let (w, h) = (rng.range(24, 48) * 10, rng.range(16, 32) * 10);
    let css = rng.percent(30);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\">\n\
         <title>{}</title>\n<rect width=\"{w}\" height=\"{h}\" fill=\"#f7f8fc\"/>\n",
        xml_escape(title)
    );
    if css {
        let dur = rng.range(2, 9);
        svg += &format!(
            "<style>\n@keyframes slide {{ from {{ transform: translateX(0); }} to {{ transform: translateX({}px); }} }}\n\
             @keyframes pulse {{ 0%, 100% {{ opacity: 1; }} 50% {{ opacity: 0.3; }} }}\n\
             .mover {{ animation: slide {dur}s ease-in-out infinite alternate; }}\n\
             .pulse {{ animation: pulse {}s linear infinite; }}\n</style>\n",
            w / 3,
            rng.range(1, 4)
        );
    }
    let mut i = 0;
    while svg.len() + 7 < target || i < 2 {
        let fill = rng.pick(PALETTE);
        let (x, y) = (rng.below(w * 2 / 3), rng.below(h * 2 / 3));
        let size = rng.range(12, 60);
        let dur = format!("{}.{}s", rng.range(1, 6), rng.below(10));
        if css {
            let class = if rng.percent(50) { "mover" } else { "pulse" };
            let _ = writeln!(
                svg,
                "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{size}\" height=\"{size}\" rx=\"4\" fill=\"{fill}\"/>"
            );
        } else if rng.percent(50) {
            let to = rng.below(w);
            let _ = writeln!(
                svg,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"{}\" fill=\"{fill}\">\n  <animate attributeName=\"cx\" values=\"{x};{to};{x}\" dur=\"{dur}\" repeatCount=\"indefinite\"/>\n</circle>",
                size / 2
            );
        } else {
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{size}\" height=\"{size}\" fill=\"{fill}\">\n  <animate attributeName=\"opacity\" values=\"1;0.2;1\" dur=\"{dur}\" repeatCount=\"indefinite\"/>\n  <animateTransform attributeName=\"transform\" type=\"rotate\" from=\"0 {x} {y}\" to=\"360 {x} {y}\" dur=\"{dur}\" repeatCount=\"indefinite\"/>\n</rect>"
            );
        }
        i += 1;
    }
    svg + "</svg>\n"
}

/// A static course figure: labelled boxes joined by arrows.
pub(crate) fn figure_svg(rng: &mut Rng, title: &str) -> String {
    let boxes = rng.range(3, 6);
    let w = boxes * 130 + 20;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} 160\" width=\"{w}\" height=\"160\" role=\"img\">\n\
         <title>{}</title>\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#4a5568\"/></marker></defs>\n\
         <rect width=\"{w}\" height=\"160\" fill=\"#ffffff\"/>\n",
        xml_escape(title)
    );
    for i in 0..boxes {
        let x = 20 + i * 130;
        let fill = rng.pick(PALETTE);
        let label = rng.pick(words::NOUNS);
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"50\" width=\"100\" height=\"60\" rx=\"8\" fill=\"{fill}\" fill-opacity=\"0.15\" stroke=\"{fill}\" stroke-width=\"2\"/>\n\
             <text x=\"{}\" y=\"85\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"14\">{label}</text>",
            x + 50
        );
        if i + 1 < boxes {
            let _ = writeln!(
                svg,
                "<line x1=\"{}\" y1=\"80\" x2=\"{}\" y2=\"80\" stroke=\"#4a5568\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>",
                x + 102,
                x + 128
            );
        }
    }
    svg + "</svg>\n"
}

fn colour(rng: &mut Rng) -> Value {
    json!([rng.below(101) as f64 / 100.0, rng.below(101) as f64 / 100.0, rng.below(101) as f64 / 100.0, 1])
}

fn static_prop(k: Value) -> Value {
    json!({ "a": 0, "k": k })
}

/// One shape layer: an ellipse or rectangle moving between a few keyframes.
fn shape_layer(rng: &mut Rng, index: usize, w: usize, h: usize, frames: usize) -> Value {
    let keyframes = rng.range(2, 5);
    let mut position = Vec::new();
    for k in 0..=keyframes {
        let t = k * frames / keyframes;
        let point = json!([rng.below(w), rng.below(h), 0]);
        position.push(if k == keyframes {
            json!({ "t": t, "s": point })
        } else {
            json!({ "t": t, "s": point, "o": { "x": 0.33, "y": 0 }, "i": { "x": 0.67, "y": 1 }, "to": [0, 0, 0], "ti": [0, 0, 0] })
        });
    }
    let size = rng.range(10, 80);
    let shape = if rng.percent(50) {
        json!({ "ty": "el", "nm": "Ellipse", "d": 1, "s": static_prop(json!([size, size])), "p": static_prop(json!([0, 0])) })
    } else {
        json!({ "ty": "rc", "nm": "Rect", "d": 1, "s": static_prop(json!([size, size / 2 + 5])), "p": static_prop(json!([0, 0])), "r": static_prop(json!(4)) })
    };
    json!({
        "ddd": 0, "ind": index, "ty": 4, "nm": format!("Shape {index}"), "sr": 1,
        "ks": {
            "o": static_prop(json!(100)),
            "r": { "a": 1, "k": [
                { "t": 0, "s": [0], "o": { "x": [0.33], "y": [0] }, "i": { "x": [0.67], "y": [1] } },
                { "t": frames, "s": [rng.below(4) * 90] }
            ] },
            "p": { "a": 1, "k": position },
            "a": static_prop(json!([0, 0, 0])),
            "s": static_prop(json!([100, 100, 100])),
        },
        "ao": 0,
        "shapes": [{ "ty": "gr", "nm": "Group", "np": 2, "it": [
            shape,
            { "ty": "fl", "nm": "Fill", "c": static_prop(colour(rng)), "o": static_prop(json!(100)), "r": 1 },
            { "ty": "tr", "nm": "Transform", "p": static_prop(json!([0, 0])), "a": static_prop(json!([0, 0])),
              "s": static_prop(json!([100, 100])), "r": static_prop(json!(0)), "o": static_prop(json!(100)),
              "sk": static_prop(json!(0)), "sa": static_prop(json!(0)) }
        ] }],
        "ip": 0, "op": frames, "st": 0, "bm": 0
    })
}

/// A Lottie animation of about `3..20` KB; with `image`, its first layer shows
/// `images/img_0.png` (a bundle).
pub(crate) fn lottie(rng: &mut Rng, name: &str, image: bool) -> String {
    let target = rng.range(3_000, 20_000);
    let (w, h) = (rng.range(20, 50) * 10, rng.range(20, 40) * 10);
    let frames = rng.range(2, 8) * 15;
    let mut layers = Vec::new();
    let mut assets = Vec::new();
    if image {
        assets.push(json!({ "id": "img_0", "w": 64, "h": 64, "u": "images/", "p": "img_0.png", "e": 0 }));
        layers.push(json!({
            "ddd": 0, "ind": 1, "ty": 2, "nm": "Picture", "refId": "img_0", "sr": 1,
            "ks": { "o": static_prop(json!(100)), "r": static_prop(json!(0)),
                    "p": static_prop(json!([w / 2, h / 2, 0])), "a": static_prop(json!([32, 32, 0])),
                    "s": static_prop(json!([100, 100, 100])) },
            "ao": 0, "ip": 0, "op": frames, "st": 0, "bm": 0
        }));
    }
    let mut size = 200;
    while size < target {
        let layer = shape_layer(rng, layers.len() + 1, w, h, frames);
        size += layer.to_string().len() + 1;
        layers.push(layer);
    }
    let doc = json!({
        "v": "5.7.4", "fr": 30, "ip": 0, "op": frames, "w": w, "h": h, "nm": name, "ddd": 0,
        "assets": assets, "layers": layers
    });
    doc.to_string()
}

/// A small valid RGB PNG (stored as one zlib stream): a two-colour checker pattern.
pub(crate) fn png(rng: &mut Rng, width: u32, height: u32) -> Vec<u8> {
    use std::io::Write as _;
    let (a, b): ([u8; 3], [u8; 3]) = (
        [rng.below(256) as u8, rng.below(256) as u8, 200],
        [255, rng.below(256) as u8, rng.below(256) as u8],
    );
    let cell = rng.range(4, 16) as u32;
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(if (x / cell + y / cell).is_multiple_of(2) { &a } else { &b });
        }
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(&raw);
    let compressed = encoder.finish().unwrap_or_default();

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &compressed);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A video-shaped file: a real container header, then seeded noise (the builder treats
/// videos as opaque bytes; only the extension and a plausible start matter).
pub(crate) fn video(rng: &mut Rng, webm: bool) -> Vec<u8> {
    let len = rng.range(100, 450) * 1024;
    let mut bytes = if webm {
        // EBML header declaring DocType "webm", then a Segment of unknown size.
        let mut head = vec![0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81, 0x01];
        head.extend_from_slice(&[0x42, 0xf2, 0x81, 0x04, 0x42, 0xf3, 0x81, 0x08, 0x42, 0x82, 0x84]);
        head.extend_from_slice(b"webm");
        head.extend_from_slice(&[0x42, 0x87, 0x81, 0x02, 0x42, 0x85, 0x81, 0x02]);
        head.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        head
    } else {
        // ftyp box (isom), then one mdat box holding the rest.
        let mut head = vec![0, 0, 0, 0x20];
        head.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
        let mdat = (len - head.len()) as u32;
        head.extend_from_slice(&mdat.to_be_bytes());
        head.extend_from_slice(b"mdat");
        head
    };
    let start = bytes.len();
    bytes.resize(len, 0);
    rng.fill_bytes(&mut bytes[start..]);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_well_formed() {
        let mut rng = Rng::new(9);
        for _ in 0..20 {
            let svg = animated_svg(&mut rng, "A & B");
            assert!((1000..4400).contains(&svg.len()), "{}", svg.len());
            assert!(svg.contains("<animate") || svg.contains("@keyframes"));
            assert!(svg.ends_with("</svg>\n") && svg.contains("A &amp; B"));
            let lottie = lottie(&mut rng, "x", false);
            assert!((3000..21_500).contains(&lottie.len()), "{}", lottie.len());
            let doc: Value = serde_json::from_str(&lottie).expect("lottie is JSON");
            for key in ["v", "fr", "ip", "op", "w", "h", "layers"] {
                assert!(doc.get(key).is_some(), "{key}");
            }
        }
        let png = png(&mut rng, 64, 64);
        assert!(png.starts_with(b"\x89PNG") && png.ends_with(&[0xae, 0x42, 0x60, 0x82]));
        let mp4 = video(&mut rng, false);
        assert_eq!(&mp4[4..8], b"ftyp");
        assert!(video(&mut rng, true).windows(4).any(|w| w == b"webm"));
    }
}
