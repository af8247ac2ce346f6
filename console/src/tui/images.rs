//! Pictures in the terminal: one slot per image of the job detail, holding the decoded
//! image, what is being fetched, and the encoded terminal protocol for the last area it
//! was drawn in (kitty or sixel where the terminal has them, halfblocks otherwise), so
//! redrawing an unchanged image costs nothing.

use super::action::{ImageKey, Picture};
use image::imageops::FilterType;
use image::{DynamicImage, Rgba};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui_image::picker::Picker;
use ratatui_image::protocol::Protocol;
use ratatui_image::{Image, Resize};
use std::cell::RefCell;

/// One image on screen.
#[derive(Default)]
pub struct ImageSlot {
    /// The picture shown.
    pub shown: Option<Picture>,
    /// The request in flight.
    pub inflight: Option<ImageKey>,
    /// The request that failed last, with why (not retried until something changes).
    pub failed: Option<(ImageKey, String)>,
    cache: RefCell<Option<(Rect, Option<f64>, Protocol)>>,
}

impl std::fmt::Debug for ImageSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSlot")
            .field("shown", &self.shown.as_ref().map(|p| p.key))
            .field("inflight", &self.inflight)
            .field("failed", &self.failed)
            .finish()
    }
}

impl ImageSlot {
    /// Whether `key` should be requested now (not shown, not in flight, not failed).
    /// Only one request per slot is in flight; a newer wish waits for it.
    pub fn wants(&self, key: ImageKey) -> bool {
        self.inflight.is_none()
            && self.shown.as_ref().map(|p| p.key) != Some(key)
            && self.failed.as_ref().map(|f| f.0) != Some(key)
    }

    /// A picture (or failure) arrived.
    pub fn arrived(&mut self, key: ImageKey, result: Result<Picture, String>) {
        if self.inflight == Some(key) {
            self.inflight = None;
        }
        match result {
            Ok(p) => {
                self.shown = Some(p);
                self.failed = None;
                self.cache.replace(None);
            }
            Err(e) => self.failed = Some((key, e)),
        }
    }

    /// Draws the picture fitted into `area`; `line` is a fraction (0 = top) at which to
    /// draw a horizontal marker (the L3 cursor on the sagittal). Returns whether it drew.
    pub fn draw(&self, frame: &mut Frame, area: Rect, picker: &Picker, line: Option<f64>) -> bool {
        let Some(picture) = &self.shown else {
            return false;
        };
        if area.width < 2 || area.height < 2 {
            return false;
        }
        let mut cache = self.cache.borrow_mut();
        let fresh = matches!(&*cache, Some((a, l, _)) if *a == area && *l == line);
        if !fresh {
            let image = match line {
                Some(f) => with_line(&picture.image, f),
                None => picture.image.clone(),
            };
            match picker.new_protocol(
                image,
                area.as_size(),
                Resize::Scale(Some(FilterType::Triangle)),
            ) {
                Ok(p) => *cache = Some((area, line, p)),
                Err(_) => return false,
            }
        }
        if let Some((_, _, protocol)) = &*cache {
            frame.render_widget(Image::new(protocol), area);
        }
        true
    }
}

/// A copy of `image` with a 2-px green line at `fraction` of its height.
fn with_line(image: &DynamicImage, fraction: f64) -> DynamicImage {
    let mut rgba = image.to_rgba8();
    let h = rgba.height();
    if h == 0 {
        return DynamicImage::ImageRgba8(rgba);
    }
    let y = ((fraction.clamp(0.0, 1.0)) * f64::from(h - 1)).round() as u32;
    for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
        for x in 0..rgba.width() {
            rgba.put_pixel(x, yy, Rgba([0, 255, 0, 255]));
        }
    }
    DynamicImage::ImageRgba8(rgba)
}
