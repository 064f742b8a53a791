//! Renders a QR payload (opaque text, shown as given) as PNG, data URL or terminal blocks.

use base64::Engine as _;
use qrcode::{Color, QrCode};

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("QR payload does not fit a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// Pixels per module and the quiet zone (in modules) around the code, as scanners expect.
const SCALE: usize = 8;
const QUIET: usize = 4;

fn modules(text: &str) -> Result<(usize, Vec<bool>), QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let width = code.width();
    let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
    Ok((width, dark))
}

/// An 8-bit greyscale PNG of the code.
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let (width, dark) = modules(text)?;
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(out)
}

pub fn data_url(text: &str) -> Result<String, QrError> {
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png(text)?)
    ))
}

/// Two rows of modules per line with half blocks, light on dark terminals and dark on light ones
/// alike because the quiet zone is drawn too.
pub fn terminal(text: &str) -> Result<String, QrError> {
    let (width, dark) = modules(text)?;
    let side = width + 2 * QUIET;
    let is_dark = |x: usize, y: usize| {
        x >= QUIET
            && y >= QUIET
            && x < QUIET + width
            && y < QUIET + width
            && dark[(y - QUIET) * width + (x - QUIET)]
    };
    let mut out = String::new();
    for y in (0..side).step_by(2) {
        for x in 0..side {
            out.push(match (is_dark(x, y), is_dark(x, y + 1)) {
                (false, false) => '█',
                (false, true) => '▀',
                (true, false) => '▄',
                (true, true) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_png_decodes_back_to_the_text() {
        let text = "2@abc/def==,xyzPUBKEY+/=,IDENTITYKEY==,SECRET==";
        assert_eq!(decode(&png(text).unwrap()), text);
    }

    #[test]
    fn the_data_url_carries_the_same_png() {
        let url = data_url("hello").unwrap();
        let b64 = url.strip_prefix("data:image/png;base64,").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert_eq!(decode(&bytes), "hello");
    }
}
