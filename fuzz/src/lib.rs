//! Shared pieces of the fuzz targets: the properties they assert and the fixtures they run
//! against (a deterministic trusted key, the sample content's theme and assets).

pub mod grants;
pub mod html;
pub mod positions;
pub mod site;

/// Splits an input at its first NUL byte into two strings (invalid UTF-8 replaced), so one
/// fuzz input can carry two texts (a pattern and a URL, a header and an ETag).
pub fn two_texts(data: &[u8]) -> (String, String) {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let second = data.get(cut + 1..).unwrap_or_default();
    (String::from_utf8_lossy(&data[..cut]).into_owned(), String::from_utf8_lossy(second).into_owned())
}
