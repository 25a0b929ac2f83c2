//! Precompressed variants of text objects.

use std::io::Write;

use bundle::Encoding;

/// Below this size a compressed variant saves too little to be worth an object.
pub(crate) const MIN_SIZE: usize = 256;

/// Brotli quality. Measured on the generated catalogue's pages, SVGs and Lottie JSON:
/// 5 gives output within 0.6 % of 9's size at a twentieth of the time (from 7 up the
/// encoder zeroes tables of tens of MiB on every call, which dominates for small files);
/// 11 is about 15 % smaller on pages but some 40 times slower than 9.
const BROTLI_QUALITY: u32 = 5;
/// The window grows with the input up to 4 MiB: a small file does not pay for zeroing a
/// big ring buffer. Below 2^17 the encoder picks slower hashers, so that is the floor.
const BROTLI_WINDOW: std::ops::RangeInclusive<u32> = 17..=22;

fn brotli_window(len: usize) -> u32 {
    let bits = usize::BITS - len.max(1).leading_zeros();
    bits.clamp(*BROTLI_WINDOW.start(), *BROTLI_WINDOW.end())
}

pub(crate) fn compress(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
    match encoding {
        Encoding::Gzip => {
            // Level 3: gzip is the fallback for the few clients without br. On the generated
            // catalogue it is 2.5 % bigger than level 6 and cuts a cold build's CPU by 12 %.
            // GzBuilder writes mtime 0 and no file name: the output depends only on the input.
            let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::new(3));
            gz.write_all(bytes).expect("writing to memory cannot fail");
            gz.finish().expect("writing to memory cannot fail")
        }
        Encoding::Br => {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: BROTLI_QUALITY as i32,
                lgwin: brotli_window(bytes.len()) as i32,
                size_hint: bytes.len(),
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)
                .expect("writing to memory cannot fail");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn round_trips_and_is_deterministic() {
        let text = "lesson ".repeat(200);
        let gz = compress(Encoding::Gzip, text.as_bytes());
        assert_eq!(gz, compress(Encoding::Gzip, text.as_bytes()));
        let mut back = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut back).expect("gunzip");
        assert_eq!(back, text);
        let br = compress(Encoding::Br, text.as_bytes());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).expect("unbrotli");
        assert_eq!(back, text.as_bytes());
        assert!(br.len() < text.len() / 10);
    }
}
