//! Animated GIFs with a fixed palette.
//!
//! Frames are drawn into an RGB buffer (plotters' bitmap backend) and mapped to one global
//! palette built from the colours plots use: white, a grey ramp, every [`PALETTE`] colour and the
//! contour-line ramp, each also blended with white (anti-aliasing, translucent paths). A
//! per-frame adaptive quantizer (what plotters' own GIF backend does, NeuQuant) drops colours
//! that cover few pixels — a legend entry, the first steps of a path — and greys them out; a
//! fixed palette keeps every method's colour exact in every frame, and is fast (each distinct
//! RGB value is matched to its nearest palette entry once).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use gif::{Encoder, Frame, Repeat};

use super::{PALETTE, PlotError};

/// Writes frames (RGB buffers of a fixed size) to a looping GIF.
pub(crate) struct GifWriter {
    encoder: Encoder<BufWriter<File>>,
    palette: Vec<[u8; 3]>,
    cache: HashMap<[u8; 3], u8>,
    size: (u16, u16),
    delay_cs: u16,
    file: String,
    indices: Vec<u8>,
}

impl GifWriter {
    /// A GIF of `size` pixels, each frame shown `delay_ms` milliseconds, looping forever.
    pub(crate) fn new(path: &Path, size: (u32, u32), delay_ms: u32) -> Result<Self, PlotError> {
        let file = path.display().to_string();
        let err = |m: String| PlotError::Backend {
            file: file.clone(),
            message: m,
        };
        let (w, h) = (
            u16::try_from(size.0).map_err(|_| err("width above 65535".into()))?,
            u16::try_from(size.1).map_err(|_| err("height above 65535".into()))?,
        );
        let palette = palette();
        let flat: Vec<u8> = palette.iter().flatten().copied().collect();
        let f = File::create(path).map_err(|e| err(e.to_string()))?;
        let mut encoder =
            Encoder::new(BufWriter::new(f), w, h, &flat).map_err(|e| err(e.to_string()))?;
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(|e| err(e.to_string()))?;
        Ok(GifWriter {
            encoder,
            palette,
            cache: HashMap::new(),
            size: (w, h),
            delay_cs: u16::try_from(delay_ms.div_ceil(10)).unwrap_or(u16::MAX),
            file,
            indices: Vec::new(),
        })
    }

    /// Appends a frame given as RGB bytes, row-major (`3 · width · height` bytes).
    pub(crate) fn frame(&mut self, rgb: &[u8]) -> Result<(), PlotError> {
        self.indices.clear();
        for px in rgb.chunks_exact(3) {
            let c = [px[0], px[1], px[2]];
            let i = match self.cache.get(&c) {
                Some(&i) => i,
                None => {
                    let i = nearest(&self.palette, c);
                    self.cache.insert(c, i);
                    i
                }
            };
            self.indices.push(i);
        }
        let mut frame = Frame::from_indexed_pixels(self.size.0, self.size.1, &self.indices, None);
        frame.delay = self.delay_cs;
        self.encoder
            .write_frame(&frame)
            .map_err(|e| PlotError::Backend {
                file: self.file.clone(),
                message: e.to_string(),
            })
    }
}

/// Index of the palette colour nearest to `c` (squared RGB distance).
fn nearest(palette: &[[u8; 3]], c: [u8; 3]) -> u8 {
    let d = |p: &[u8; 3]| {
        (0..3)
            .map(|k| (i32::from(p[k]) - i32::from(c[k])).pow(2))
            .sum::<i32>()
    };
    palette
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| d(p))
        .map_or(0, |(i, _)| i as u8)
}

/// `c` blended with white: `t·c + (1 − t)·white`.
fn blend(c: [f64; 3], t: f64) -> [u8; 3] {
    let m = |v: f64| (t * v + (1.0 - t) * 255.0).round().clamp(0.0, 255.0) as u8;
    [m(c[0]), m(c[1]), m(c[2])]
}

/// The global palette (at most 256 colours).
fn palette() -> Vec<[u8; 3]> {
    let mut p: Vec<[u8; 3]> = Vec::with_capacity(256);
    // greys, white and black included
    for k in 0..=24 {
        let v = (k as f64 * 255.0 / 24.0).round() as u8;
        p.push([v, v, v]);
    }
    // the method colours, pure and blended with white
    for c in PALETTE {
        let c = [f64::from(c.0), f64::from(c.1), f64::from(c.2)];
        for t in [1.0, 0.8, 0.6, 0.45, 0.3, 0.18, 0.08] {
            p.push(blend(c, t));
        }
    }
    // the contour ramp (see contour.rs), pure and blended with white
    for k in 0..=20 {
        let t = k as f64 / 20.0;
        let c = [40.0 + 160.0 * t, 70.0 + 140.0 * t, 120.0 + 105.0 * t];
        for a in [1.0, 0.6, 0.3] {
            p.push(blend(c, a));
        }
    }
    p.dedup();
    p.truncate(256);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_keeps_method_colours_exact() {
        let p = palette();
        assert!(p.len() <= 256 && p.len() > 100, "{}", p.len());
        for c in PALETTE {
            let rgb = [c.0, c.1, c.2];
            assert_eq!(p[nearest(&p, rgb) as usize], rgb);
        }
        assert_eq!(p[nearest(&p, [255, 255, 255]) as usize], [255, 255, 255]);
        assert_eq!(p[nearest(&p, [0, 0, 0]) as usize], [0, 0, 0]);
    }
}
