//! A table's view state: which rows pass the `/` filter (or its `!` inverse), in which
//! order, and which one is selected. The visible order is computed when data, filter or
//! sort change — never while drawing — so a 10,000-row table draws only its visible rows.

use std::cell::Cell;

/// The filter typed after `/`; a leading `!` keeps the rows that do *not* match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Lowercased needle.
    pub needle: String,
    /// Keep non-matching rows.
    pub inverse: bool,
}

impl Filter {
    /// Parses `text` or `!text`.
    pub fn parse(text: &str) -> Self {
        let (inverse, needle) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        Self {
            needle: needle.trim().to_lowercase(),
            inverse,
        }
    }

    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }

    /// Whether a row with this (lowercased) text passes.
    pub fn keeps(&self, haystack: &str) -> bool {
        self.needle.is_empty() || haystack.contains(&self.needle) != self.inverse
    }

    /// `/text` or `/!text` for the breadcrumb.
    pub fn describe(&self) -> String {
        format!("/{}{}", if self.inverse { "!" } else { "" }, self.needle)
    }
}

/// Selection, filter and visible order of one table.
#[derive(Debug, Default)]
pub struct Listing {
    /// Indices into the data, in display order.
    pub order: Vec<usize>,
    /// Position in `order`.
    pub selected: usize,
    /// The active filter.
    pub filter: Filter,
    /// First visible row (kept between frames so the view does not jump).
    pub offset: Cell<usize>,
}

impl Listing {
    /// Recomputes the order from each row's lowercased text and an optional sort,
    /// keeping the selection on the same data row when it is still visible.
    pub fn rebuild<F>(&mut self, haystacks: impl Iterator<Item = String>, sort: Option<F>)
    where
        F: FnMut(&usize, &usize) -> std::cmp::Ordering,
    {
        let previous = self.selected_index();
        self.order = haystacks
            .enumerate()
            .filter(|(_, text)| self.filter.keeps(text))
            .map(|(i, _)| i)
            .collect();
        if let Some(cmp) = sort {
            self.order.sort_by(cmp);
        }
        self.selected = previous
            .and_then(|p| self.order.iter().position(|&i| i == p))
            .unwrap_or(self.selected)
            .min(self.order.len().saturating_sub(1));
    }

    /// The selected data row.
    pub fn selected_index(&self) -> Option<usize> {
        self.order.get(self.selected).copied()
    }

    /// Moves the selection by `delta` rows, clamped.
    pub fn step(&mut self, delta: isize) {
        let last = self.order.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }

    /// Selects a display position.
    pub fn select(&mut self, pos: usize) {
        self.selected = pos.min(self.order.len().saturating_sub(1));
    }

    /// The first display position at or after the selection (wrapping) whose data row
    /// satisfies `pred`.
    pub fn jump(&mut self, pred: impl Fn(usize) -> bool) -> bool {
        let n = self.order.len();
        for k in 1..=n {
            let pos = (self.selected + k) % n;
            if pred(self.order[pos]) {
                self.selected = pos;
                return true;
            }
        }
        false
    }

    /// The rows visible in `height` lines: adjusts the kept offset so the selection shows.
    pub fn window(&self, height: usize) -> std::ops::Range<usize> {
        let height = height.max(1);
        let mut offset = self.offset.get();
        if self.selected < offset {
            offset = self.selected;
        } else if self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        offset = offset.min(self.order.len().saturating_sub(height));
        self.offset.set(offset);
        offset..(offset + height).min(self.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<String> {
        [
            "alpha done",
            "beta held",
            "gamma done",
            "delta awaiting_review",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn filter_inverse_sort_selection_and_window() {
        let mut l = Listing::default();
        l.rebuild(
            rows().into_iter(),
            None::<fn(&usize, &usize) -> std::cmp::Ordering>,
        );
        assert_eq!(l.order, vec![0, 1, 2, 3]);
        l.select(2);
        l.filter = Filter::parse("done");
        l.rebuild(
            rows().into_iter(),
            None::<fn(&usize, &usize) -> std::cmp::Ordering>,
        );
        assert_eq!(l.order, vec![0, 2]);
        assert_eq!(l.selected_index(), Some(2), "selection follows its row");
        l.filter = Filter::parse("!done");
        l.rebuild(rows().into_iter(), Some(|a: &usize, b: &usize| b.cmp(a)));
        assert_eq!(l.order, vec![3, 1]);
        l.filter = Filter::default();
        l.rebuild(
            rows().into_iter(),
            None::<fn(&usize, &usize) -> std::cmp::Ordering>,
        );
        l.select(0);
        assert!(l.jump(|i| rows()[i].contains("awaiting")));
        assert_eq!(l.selected_index(), Some(3));
        assert_eq!(l.window(2), 2..4);
        l.step(-10);
        assert_eq!(l.window(2), 0..2);
        l.step(100);
        assert_eq!(l.selected, 3);
    }
}
