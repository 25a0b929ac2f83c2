//! Precompressed variants of text objects.

use std::io::Write;

use bundle::Encoding;

/// Below this size a compressed variant saves too little to be worth an object.
pub const MIN_SIZE: usize = 256;

/// Brotli quality: 11 is the smallest output, but several times slower to build.
const BROTLI_QUALITY: u32 = 9;
const BROTLI_WINDOW: u32 = 22;

pub fn compress(encoding: Encoding, bytes: &[u8]) -> Vec<u8> {
    match encoding {
        Encoding::Gzip => {
            // GzBuilder writes mtime 0 and no file name: the output depends only on the input.
            let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
            gz.write_all(bytes).expect("writing to memory cannot fail");
            gz.finish().expect("writing to memory cannot fail")
        }
        Encoding::Br => {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: BROTLI_QUALITY as i32,
                lgwin: BROTLI_WINDOW as i32,
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
