//! Grid operations the tissue segmenter and the L3 localiser are built from: Gaussian
//! smoothing, connected components, hole filling, Euclidean distance transforms, disc and
//! cross morphology, box means and polygon rasterisation.
//!
//! They live here rather than in a crate because the pipeline needs only these few, on
//! small cropped slices, with radii in millimetres on possibly anisotropic pixels. Every
//! function is O(pixels) (or O(pixels × kernel) for the blur) so one 512² slice stays
//! within a few milliseconds. Indexing is `[y, x]`, masks are `Array2<bool>`.

use ndarray::Array2;

/// A binary image.
pub(crate) type Mask = Array2<bool>;

/// Pixel spacing `[row (y), column (x)]` in millimetres.
pub(crate) type Spacing = [f64; 2];

/// A rectangular part of a grid, for work that only concerns a neighbourhood.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// First row.
    pub y0: usize,
    /// First column.
    pub x0: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl Window {
    /// The window of half-extent `half_mm` `[y, x]` around `centre`, clipped to `shape`.
    pub fn around(
        centre: (f64, f64),
        half_mm: [f64; 2],
        spacing: Spacing,
        shape: (usize, usize),
    ) -> Self {
        let clip = |c: f64, half_px: f64, n: usize| -> (usize, usize) {
            let lo = (c - half_px).floor().clamp(0.0, n.saturating_sub(1) as f64) as usize;
            let hi = (c + half_px).ceil().clamp(0.0, n.saturating_sub(1) as f64) as usize;
            (lo, hi.max(lo))
        };
        let (y0, y1) = clip(centre.0, half_mm[0] / spacing[0], shape.0);
        let (x0, x1) = clip(centre.1, half_mm[1] / spacing[1], shape.1);
        Self {
            y0,
            x0,
            h: (y1 - y0 + 1).min(shape.0),
            w: (x1 - x0 + 1).min(shape.1),
        }
    }

    /// Whether global pixel `(y, x)` lies inside.
    pub fn contains(&self, y: usize, x: usize) -> bool {
        y >= self.y0 && x >= self.x0 && y < self.y0 + self.h && x < self.x0 + self.w
    }

    /// A copy of the window's part of `a`.
    pub fn cut<T: Clone>(&self, a: &Array2<T>) -> Array2<T> {
        a.slice(ndarray::s![
            self.y0..self.y0 + self.h,
            self.x0..self.x0 + self.w
        ])
        .to_owned()
    }

    /// ORs a window-sized mask into the full-size `full`.
    pub fn paste_or(&self, local: &Mask, full: &mut Mask) {
        let mut part = full.slice_mut(ndarray::s![
            self.y0..self.y0 + self.h,
            self.x0..self.x0 + self.w
        ]);
        ndarray::Zip::from(&mut part)
            .and(local)
            .for_each(|f, &l| *f = *f || l);
    }
}

/// Separable Gaussian blur, sigma per axis in pixels, edges clamped.
///
/// A sigma under 0.3 px leaves that axis untouched: such a kernel is a delta in practice.
pub(crate) fn gaussian(img: &Array2<f32>, sigma_px: [f64; 2]) -> Array2<f32> {
    let (h, w) = img.dim();
    if h == 0 || w == 0 {
        return img.clone();
    }
    let src: Vec<f32> = img.iter().copied().collect();
    let kx = kernel(sigma_px[1]);
    let ky = kernel(sigma_px[0]);
    let mut tmp = vec![0f32; h * w];
    let rx = kx.len() / 2;
    // Each row padded with its edge values, so the inner loop needs no clamping.
    let mut padded = vec![0f32; w + 2 * rx];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        padded[..rx].fill(row[0]);
        padded[rx..rx + w].copy_from_slice(row);
        padded[rx + w..].fill(row[w - 1]);
        let out = &mut tmp[y * w..(y + 1) * w];
        for (k, &wk) in kx.iter().enumerate() {
            for (o, &v) in out.iter_mut().zip(&padded[k..k + w]) {
                *o += wk * v;
            }
        }
    }
    let ry = (ky.len() / 2) as isize;
    let mut out = vec![0f32; h * w];
    for y in 0..h {
        let dst = &mut out[y * w..(y + 1) * w];
        for (k, &wk) in ky.iter().enumerate() {
            let yy = (y as isize + k as isize - ry).clamp(0, h as isize - 1) as usize;
            let srow = &tmp[yy * w..(yy + 1) * w];
            for (d, &s) in dst.iter_mut().zip(srow) {
                *d += wk * s;
            }
        }
    }
    Array2::from_shape_vec((h, w), out).unwrap_or_else(|_| img.clone())
}

fn kernel(sigma: f64) -> Vec<f32> {
    // NaN falls through to the delta as well.
    if sigma.is_nan() || sigma < 0.3 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as isize;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Size and extent of one connected component.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Component {
    /// Number of pixels.
    pub area: usize,
    /// Inclusive bounding box `[y0, y1, x0, x1]`.
    pub bbox: [usize; 4],
    /// Sum of row indices (centroid = sum / area).
    pub sum_y: f64,
    /// Sum of column indices.
    pub sum_x: f64,
}

impl Component {
    /// Centroid `(y, x)`.
    pub fn centroid(&self) -> (f64, f64) {
        let a = self.area.max(1) as f64;
        (self.sum_y / a, self.sum_x / a)
    }
}

/// Connected components of `mask`; labels start at 1 (0 = background) and
/// `components[k - 1]` describes label `k`.
pub(crate) fn components(mask: &Mask, eight: bool) -> (Array2<u32>, Vec<Component>) {
    let (h, w) = mask.dim();
    let m = flat(mask);
    let mut lab = vec![0u32; h * w];
    let mut comps = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for start in 0..h * w {
        if !m[start] || lab[start] != 0 {
            continue;
        }
        let id = comps.len() as u32 + 1;
        let (y0, x0) = (start / w, start % w);
        let mut c = Component {
            area: 0,
            bbox: [y0, y0, x0, x0],
            sum_y: 0.0,
            sum_x: 0.0,
        };
        lab[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (y, x) = (i / w, i % w);
            c.area += 1;
            c.sum_y += y as f64;
            c.sum_x += x as f64;
            c.bbox = [
                c.bbox[0].min(y),
                c.bbox[1].max(y),
                c.bbox[2].min(x),
                c.bbox[3].max(x),
            ];
            neighbours(i, w, h, eight, |j| {
                if m[j] && lab[j] == 0 {
                    lab[j] = id;
                    stack.push(j);
                }
            });
        }
        comps.push(c);
    }
    let lab = Array2::from_shape_vec((h, w), lab).unwrap_or_else(|_| Array2::zeros((h, w)));
    (lab, comps)
}

/// The mask's values in row-major order (a copy only when the mask is not contiguous).
fn flat(mask: &Mask) -> std::borrow::Cow<'_, [bool]> {
    match mask.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(mask.iter().copied().collect()),
    }
}

/// Calls `f` with the flat index of each 4- or 8-neighbour of flat index `i`.
#[inline]
pub(crate) fn neighbours(i: usize, w: usize, h: usize, eight: bool, mut f: impl FnMut(usize)) {
    let (y, x) = (i / w, i % w);
    let (up, down, left, right) = (y > 0, y + 1 < h, x > 0, x + 1 < w);
    if up {
        f(i - w);
    }
    if down {
        f(i + w);
    }
    if left {
        f(i - 1);
    }
    if right {
        f(i + 1);
    }
    if eight {
        if up && left {
            f(i - w - 1);
        }
        if up && right {
            f(i - w + 1);
        }
        if down && left {
            f(i + w - 1);
        }
        if down && right {
            f(i + w + 1);
        }
    }
}

/// The 4-neighbours of `(y, x)` inside an image of `dim` `(h, w)`, in the order above,
/// below, left, right.
#[inline]
pub(crate) fn neighbours4(
    (y, x): (usize, usize),
    (h, w): (usize, usize),
) -> impl Iterator<Item = (usize, usize)> {
    [
        (y.wrapping_sub(1), x),
        (y + 1, x),
        (y, x.wrapping_sub(1)),
        (y, x + 1),
    ]
    .into_iter()
    .filter(move |&(yy, xx)| yy < h && xx < w)
}

/// The pixels of the component of `mask` (8-connected) that contains `seed`.
pub(crate) fn component_at(mask: &Mask, seed: (usize, usize)) -> Mask {
    let (h, w) = mask.dim();
    let mut out = vec![false; h * w];
    if seed.0 < h && seed.1 < w && mask[seed] {
        let m = flat(mask);
        let s = seed.0 * w + seed.1;
        let mut stack = vec![s];
        out[s] = true;
        while let Some(i) = stack.pop() {
            neighbours(i, w, h, true, |j| {
                if m[j] && !out[j] {
                    out[j] = true;
                    stack.push(j);
                }
            });
        }
    }
    Mask::from_shape_vec((h, w), out).unwrap_or_else(|_| Mask::from_elem((h, w), false))
}

/// Fills every background region not 4-connected to the image border.
pub(crate) fn fill_holes(mask: &Mask) -> Mask {
    let (h, w) = mask.dim();
    if h == 0 || w == 0 {
        return mask.clone();
    }
    let m = flat(mask);
    let mut outside = vec![false; h * w];
    let mut stack: Vec<usize> = Vec::new();
    let border = (0..w)
        .chain((h - 1) * w..h * w)
        .chain((0..h).map(|y| y * w))
        .chain((0..h).map(|y| y * w + w - 1));
    for i in border {
        if !m[i] && !outside[i] {
            outside[i] = true;
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        neighbours(i, w, h, false, |j| {
            if !m[j] && !outside[j] {
                outside[j] = true;
                stack.push(j);
            }
        });
    }
    let filled: Vec<bool> = outside.iter().map(|&o| !o).collect();
    Mask::from_shape_vec((h, w), filled).unwrap_or_else(|_| mask.clone())
}

/// For every `true` pixel, the distance in mm to the nearest `false` pixel (0 on `false`
/// pixels). Pixels beyond the border count as `false` when `border_false`, otherwise a mask
/// with no `false` pixel gets `f32::INFINITY` everywhere.
///
/// Exact Euclidean distances by the Felzenszwalb–Huttenlocher lower-envelope method, one
/// pass per axis, weighted by the pixel spacing.
pub(crate) fn edt(mask: &Mask, spacing: Spacing, border_false: bool) -> Array2<f32> {
    let (h, w) = mask.dim();
    let big = 1e20f64;
    let mut d = vec![0f64; h * w];
    for ((y, x), &m) in mask.indexed_iter() {
        d[y * w + x] = if m { big } else { 0.0 };
    }
    let (sy2, sx2) = (spacing[0] * spacing[0], spacing[1] * spacing[1]);
    // Columns (along y), then rows (along x).
    let mut scratch = Scratch::new(h.max(w) + 2);
    scratch.pass(&mut d, w, h, |x, y| y * w + x, sy2, border_false);
    scratch.pass(&mut d, h, w, |y, x| y * w + x, sx2, border_false);
    let vals: Vec<f32> = d
        .iter()
        .map(|&s| {
            if s >= big * 0.5 {
                f32::INFINITY
            } else {
                s.sqrt() as f32
            }
        })
        .collect();
    Array2::from_shape_vec((h, w), vals).unwrap_or_else(|_| Array2::zeros((h, w)))
}

/// Work buffers of the distance transform, long enough for the longest line plus the two
/// border samples.
struct Scratch {
    f: Vec<f64>,
    out: Vec<f64>,
    v: Vec<usize>,
    z: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Self {
            f: vec![0.0; n],
            out: vec![0.0; n],
            v: vec![0; n],
            z: vec![0.0; n + 1],
        }
    }

    /// Transforms `lines` lines of `len` samples of `d` in place, sample `i` of line `l`
    /// being `d[at(l, i)]`, with squared spacing `s2`. With `border_false` each line gets
    /// a zero (a `false` pixel) before and after it.
    fn pass(
        &mut self,
        d: &mut [f64],
        lines: usize,
        len: usize,
        at: impl Fn(usize, usize) -> usize,
        s2: f64,
        border_false: bool,
    ) {
        let pad = usize::from(border_false);
        let n = len + 2 * pad;
        for l in 0..lines {
            self.f[..n].fill(0.0);
            for i in 0..len {
                self.f[i + pad] = d[at(l, i)];
            }
            dt1d(
                &self.f[..n],
                s2,
                &mut self.out[..n],
                &mut self.v,
                &mut self.z,
            );
            for i in 0..len {
                d[at(l, i)] = self.out[i + pad];
            }
        }
    }
}

/// One-dimensional squared distance transform of sampled function `f` with squared sample
/// spacing `s2` (Felzenszwalb & Huttenlocher 2012).
fn dt1d(f: &[f64], s2: f64, out: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let big = 1e20f64;
    // Only finite sites take part; a run with none stays "infinite".
    let mut k: isize = -1;
    for q in 0..n {
        if f[q] >= big * 0.5 {
            continue;
        }
        loop {
            if k < 0 {
                k = 0;
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                break;
            }
            let p = v[k as usize];
            let s = ((f[q] + s2 * (q * q) as f64) - (f[p] + s2 * (p * p) as f64))
                / (2.0 * s2 * (q as f64 - p as f64));
            if s <= z[k as usize] {
                k -= 1;
                continue;
            }
            k += 1;
            v[k as usize] = q;
            z[k as usize] = s;
            z[k as usize + 1] = f64::INFINITY;
            break;
        }
    }
    if k < 0 {
        out[..n].iter_mut().for_each(|o| *o = big);
        return;
    }
    let mut j = 0usize;
    for (q, o) in out.iter_mut().enumerate().take(n) {
        while z[j + 1] < q as f64 {
            j += 1;
        }
        let p = v[j];
        let dq = q as f64 - p as f64;
        *o = s2 * dq * dq + f[p];
    }
}

/// Distance (mm) from each pixel of `win` to the nearest `true` pixel of `mask` inside `win`;
/// infinite outside the window. Enough wherever only short distances near a known place
/// matter, at a fraction of a full transform's cost.
pub(crate) fn distance_to_within(mask: &Mask, win: Window, spacing: Spacing) -> Array2<f32> {
    let local = win.cut(mask).mapv(|m| !m);
    let d = edt(&local, spacing, false);
    let mut out = Array2::from_elem(mask.dim(), f32::INFINITY);
    out.slice_mut(ndarray::s![win.y0..win.y0 + win.h, win.x0..win.x0 + win.w])
        .assign(&d);
    out
}

/// Dilation by a disc of `radius_mm`.
pub(crate) fn dilate_disc(mask: &Mask, radius_mm: f64, spacing: Spacing) -> Mask {
    let inv = mask.mapv(|m| !m);
    let d = edt(&inv, spacing, false);
    let r = radius_mm as f32 + 1e-3;
    let mut out = mask.clone();
    ndarray::Zip::from(&mut out)
        .and(&d)
        .for_each(|o, &dd| *o = *o || dd <= r);
    out
}

/// Closing (dilation then erosion) by a disc. The erosion treats the border as foreground
/// so that shapes touching the edge are not eaten.
pub(crate) fn close_disc(mask: &Mask, radius_mm: f64, spacing: Spacing) -> Mask {
    let dil = dilate_disc(mask, radius_mm, spacing);
    let d = edt(&dil, spacing, false);
    let r = radius_mm as f32 + 1e-3;
    d.mapv(|dd| dd > r)
}

/// Dilation by the 3×3 cross (`eight = false`) or square (`eight = true`).
pub(crate) fn dilate3(mask: &Mask, eight: bool) -> Mask {
    let (h, w) = mask.dim();
    let m = flat(mask);
    let mut out = m.to_vec();
    for (i, _) in m.iter().enumerate().filter(|(_, v)| **v) {
        neighbours(i, w, h, eight, |j| out[j] = true);
    }
    Mask::from_shape_vec((h, w), out).unwrap_or_else(|_| mask.clone())
}

/// Erosion by the 3×3 cross; outside the image counts as background.
pub(crate) fn erode_cross(mask: &Mask) -> Mask {
    let (h, w) = mask.dim();
    let mut out = Mask::from_elem((h, w), false);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            out[[y, x]] = mask[[y, x]]
                && mask[[y - 1, x]]
                && mask[[y + 1, x]]
                && mask[[y, x - 1]]
                && mask[[y, x + 1]];
        }
    }
    out
}

/// Opening by a `(2 ry + 1) × (2 rx + 1)` rectangle, computed with running counts so that
/// the cost does not depend on the radius. Outside the image counts as background.
pub(crate) fn open_rect(mask: &Mask, ry: usize, rx: usize) -> Mask {
    let eroded = rect_pass(mask, ry, rx, true);
    rect_pass(&eroded, ry, rx, false)
}

/// Dilation by a `(2 ry + 1) × (2 rx + 1)` rectangle.
pub(crate) fn dilate_rect(mask: &Mask, ry: usize, rx: usize) -> Mask {
    rect_pass(mask, ry, rx, false)
}

/// One erosion (`erode`) or dilation by a rectangle, separably along x then y, with running
/// counts so the cost does not depend on the radius.
fn rect_pass(mask: &Mask, ry: usize, rx: usize, erode: bool) -> Mask {
    let (h, w) = mask.dim();
    let m = flat(mask);
    let decide = |cnt: u32, full: usize, inside: bool| {
        if erode {
            inside && cnt as usize == full
        } else {
            cnt > 0
        }
    };
    // Along x, one row at a time.
    let mut tmp = vec![false; h * w];
    let mut pre = vec![0u32; w + 1];
    for y in 0..h {
        let row = &m[y * w..(y + 1) * w];
        for x in 0..w {
            pre[x + 1] = pre[x] + row[x] as u32;
        }
        let out = &mut tmp[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            let lo = x.saturating_sub(rx);
            let hi = (x + rx + 1).min(w);
            *o = decide(pre[hi] - pre[lo], 2 * rx + 1, x >= rx && x + rx < w);
        }
    }
    // Along y: per-column running counts, updated a row at a time (cache friendly).
    let mut out = vec![false; h * w];
    let mut count = vec![0u32; w];
    // count[x] = number of true in rows [y - ry, y + ry] ∩ [0, h).
    for y in 0..(ry + 1).min(h) {
        for (c, &t) in count.iter_mut().zip(&tmp[y * w..(y + 1) * w]) {
            *c += t as u32;
        }
    }
    for y in 0..h {
        let inside = y >= ry && y + ry < h;
        for (x, o) in out[y * w..(y + 1) * w].iter_mut().enumerate() {
            *o = decide(count[x], 2 * ry + 1, inside);
        }
        // Slide the window down one row.
        if y + ry + 1 < h {
            for (c, &t) in count
                .iter_mut()
                .zip(&tmp[(y + ry + 1) * w..(y + ry + 2) * w])
            {
                *c += t as u32;
            }
        }
        if y >= ry {
            for (c, &t) in count.iter_mut().zip(&tmp[(y - ry) * w..(y - ry + 1) * w]) {
                *c -= t as u32;
            }
        }
    }
    Mask::from_shape_vec((h, w), out).unwrap_or_else(|_| Mask::from_elem((h, w), false))
}

/// Mean of `vals` over a `size × size` box (size odd) centred on each pixel; the box is
/// clipped at the border and the mean taken over the pixels inside.
pub(crate) fn box_mean(vals: &Array2<f32>, size: usize) -> Array2<f32> {
    let (h, w) = vals.dim();
    let r = size / 2;
    let mut integ = vec![0f64; (h + 1) * (w + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += vals[[y, x]] as f64;
            integ[(y + 1) * (w + 1) + x + 1] = integ[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = Array2::<f32>::zeros((h, w));
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s = integ[y1 * (w + 1) + x1] - integ[y0 * (w + 1) + x1] - integ[y1 * (w + 1) + x0]
                + integ[y0 * (w + 1) + x0];
            out[[y, x]] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
    out
}

/// Rasterises a closed polygon given as `(y, x)` vertices in pixel coordinates: pixels whose
/// centre lies inside (even–odd rule) plus every pixel the outline passes through.
pub(crate) fn fill_polygon(shape: (usize, usize), pts: &[(f64, f64)]) -> Mask {
    let (h, w) = shape;
    let mut out = Mask::from_elem((h, w), false);
    let n = pts.len();
    if n < 3 || h == 0 || w == 0 {
        return out;
    }
    let mut xs = Vec::with_capacity(16);
    // Only the rows the polygon spans.
    let (ymin, ymax) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let row0 = ymin.ceil().max(0.0) as usize;
    let row1 = (ymax.floor().max(-1.0) + 1.0).min(h as f64) as usize;
    for y in row0..row1.max(row0) {
        let yc = y as f64;
        xs.clear();
        for i in 0..n {
            let (ya, xa) = pts[i];
            let (yb, xb) = pts[(i + 1) % n];
            if (ya <= yc && yb > yc) || (yb <= yc && ya > yc) {
                xs.push(xa + (yc - ya) * (xb - xa) / (yb - ya));
            }
        }
        xs.sort_by(|a, b| a.total_cmp(b));
        for pair in xs.chunks_exact(2) {
            let x0 = pair[0].ceil().max(0.0);
            let x1 = pair[1].floor().min(w as f64 - 1.0);
            if x1 < x0 {
                continue;
            }
            for x in x0 as usize..=x1 as usize {
                out[[y, x]] = true;
            }
        }
    }
    for i in 0..n {
        let (ya, xa) = pts[i];
        let (yb, xb) = pts[(i + 1) % n];
        let steps = ((yb - ya).abs().max((xb - xa).abs()) * 2.0).ceil().max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (y, x) = ((ya + t * (yb - ya)).round(), (xa + t * (xb - xa)).round());
            if y >= 0.0 && x >= 0.0 && (y as usize) < h && (x as usize) < w {
                out[[y as usize, x as usize]] = true;
            }
        }
    }
    out
}

/// The convex hull of a mask's pixel centres as `(y, x)` vertices in order (Andrew's
/// monotone chain); empty for an empty mask. Only pixels on a row's ends can be vertices.
pub(crate) fn convex_hull(mask: &Mask) -> Vec<(f64, f64)> {
    let mut pts: Vec<(i64, i64)> = Vec::new();
    for (y, row) in mask.rows().into_iter().enumerate() {
        let mut on = row.indexed_iter().filter(|(_, m)| **m).map(|(x, _)| x);
        if let Some(first) = on.next() {
            let last = on.last().unwrap_or(first);
            pts.push((y as i64, first as i64));
            if last != first {
                pts.push((y as i64, last as i64));
            }
        }
    }
    pts.sort_unstable();
    if pts.len() < 3 {
        return pts.iter().map(|&(y, x)| (y as f64, x as f64)).collect();
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(i64, i64)>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull.iter().map(|&(y, x)| (y as f64, x as f64)).collect()
}

/// Median of a non-empty slice (upper median for even lengths), or `None`.
pub(crate) fn median(vals: &mut [f32]) -> Option<f32> {
    if vals.is_empty() {
        return None;
    }
    let mid = vals.len() / 2;
    let (_, m, _) = vals.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    Some(*m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_edt(mask: &Mask, sp: Spacing) -> Array2<f32> {
        let (h, w) = mask.dim();
        let mut out = Array2::<f32>::zeros((h, w));
        for ((y, x), &m) in mask.indexed_iter() {
            if !m {
                continue;
            }
            let mut best = f64::INFINITY;
            for ((yy, xx), &mm) in mask.indexed_iter() {
                if !mm {
                    let d = ((y as f64 - yy as f64) * sp[0]).hypot((x as f64 - xx as f64) * sp[1]);
                    best = best.min(d);
                }
            }
            out[[y, x]] = best as f32;
        }
        out
    }

    #[test]
    fn edt_matches_brute_force_on_anisotropic_pixels() {
        let mut m = Mask::from_elem((13, 17), true);
        m[[0, 0]] = false;
        m[[6, 9]] = false;
        m[[12, 3]] = false;
        let sp = [0.7, 1.3];
        let a = edt(&m, sp, false);
        let b = brute_edt(&m, sp);
        for (x, y) in a.iter().zip(b.iter()) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    /// The hull of an L shape is the triangle-cut square; filled, it adds exactly the
    /// pixels on or under the diagonal between the arms' ends.
    #[test]
    fn convex_hull_of_an_l_shape_fills_its_notch() {
        let l = Mask::from_shape_fn((10, 10), |(y, x)| (x <= 2 || y >= 7) && y >= 1 && x <= 8);
        let hull = convex_hull(&l);
        let filled = fill_polygon(l.dim(), &hull);
        for ((y, x), &inside) in filled.indexed_iter() {
            // The hull runs from (1, 0)…(1, 2) down to (7, 8)…(9, 8).
            let under = y >= 1 && x <= 8 && (x <= 2 || (y as f64 - 1.0) >= (x as f64 - 2.0));
            assert_eq!(inside, under, "pixel ({y}, {x})");
        }
        assert!(convex_hull(&Mask::from_elem((4, 4), false)).is_empty());
    }

    #[test]
    fn edt_without_background_is_infinite_or_border_limited() {
        let m = Mask::from_elem((5, 5), true);
        assert!(edt(&m, [1.0, 1.0], false)[[2, 2]].is_infinite());
        assert_eq!(edt(&m, [1.0, 1.0], true)[[2, 2]], 3.0);
    }

    #[test]
    fn components_and_holes() {
        let mut m = Mask::from_elem((7, 7), false);
        for y in 1..6 {
            for x in 1..6 {
                m[[y, x]] = y == 1 || y == 5 || x == 1 || x == 5;
            }
        }
        m[[0, 6]] = true;
        let (_, comps) = components(&m, false);
        assert_eq!(comps.len(), 2);
        assert_eq!(comps.iter().map(|c| c.area).max(), Some(16));
        let filled = fill_holes(&m);
        assert!(filled[[3, 3]]);
        assert!(!filled[[0, 0]]);
        // Diagonal neighbours join only under 8-connectivity.
        let mut d = Mask::from_elem((3, 3), false);
        d[[0, 0]] = true;
        d[[1, 1]] = true;
        assert_eq!(components(&d, false).1.len(), 2);
        assert_eq!(components(&d, true).1.len(), 1);
    }

    #[test]
    fn disc_morphology_and_opening() {
        let mut m = Mask::from_elem((21, 21), false);
        m[[10, 10]] = true;
        let d = dilate_disc(&m, 3.0, [1.0, 1.0]);
        assert_eq!(d.iter().filter(|&&v| v).count(), 29);
        // Closing bridges a 2 px gap between two blocks but adds nothing far away.
        let mut blocks = Mask::from_elem((21, 31), false);
        for y in 6..15 {
            for x in 7..14 {
                blocks[[y, x]] = true;
                blocks[[y, x + 9]] = true;
            }
        }
        let c = close_disc(&blocks, 3.0, [1.0, 1.0]);
        assert!(c[[10, 14]] && c[[10, 15]] && !c[[1, 15]] && !c[[10, 24]]);
        // A one-pixel bridge between two blocks disappears under opening.
        let mut two = Mask::from_elem((20, 40), false);
        for y in 5..15 {
            for x in 2..15 {
                two[[y, x]] = true;
                two[[y, x + 22]] = true;
            }
        }
        for x in 15..24 {
            two[[10, x]] = true;
        }
        let op = open_rect(&two, 2, 2);
        assert!(!op[[10, 18]] && op[[10, 8]]);
    }

    #[test]
    fn polygon_covers_square() {
        let m = fill_polygon((10, 10), &[(2.0, 2.0), (2.0, 6.0), (6.0, 6.0), (6.0, 2.0)]);
        assert_eq!(m.iter().filter(|&&v| v).count(), 25);
    }

    #[test]
    fn gaussian_keeps_constant_and_mass() {
        let img = Array2::from_elem((9, 11), 5.0f32);
        let g = gaussian(&img, [1.5, 0.8]);
        assert!(g.iter().all(|v| (v - 5.0).abs() < 1e-4));
        let mut spike = Array2::<f32>::zeros((31, 31));
        spike[[15, 15]] = 1.0;
        let g = gaussian(&spike, [2.0, 2.0]);
        assert!((g.sum() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn neighbours4_stay_inside_the_image() {
        let n: Vec<_> = neighbours4((0, 0), (3, 4)).collect();
        assert_eq!(n, vec![(1, 0), (0, 1)]);
        let n: Vec<_> = neighbours4((1, 1), (3, 4)).collect();
        assert_eq!(n, vec![(0, 1), (2, 1), (1, 0), (1, 2)]);
        let n: Vec<_> = neighbours4((2, 3), (3, 4)).collect();
        assert_eq!(n, vec![(1, 3), (2, 2)]);
    }

    #[test]
    fn box_mean_of_ones_is_one() {
        let img = Array2::from_elem((6, 7), 1.0f32);
        assert!(box_mean(&img, 5).iter().all(|v| (v - 1.0).abs() < 1e-6));
    }
}
