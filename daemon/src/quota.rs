//! Quota policy on top of the store: monthly periods, which quota each job step
//! charges, idempotency keys.
//!
//! Periods are calendar months counted from the user's anchor (their creation time):
//! period k runs from anchor + k months to anchor + k + 1 months. A day that does not
//! exist in a shorter month is clamped to its last day.

use chrono::{DateTime, Months, Utc};

/// The monthly period containing `now_ms` for a user anchored at `anchor_ms`:
/// `(start_ms, end_ms)`, end exclusive.
pub fn period_bounds(anchor_ms: i64, now_ms: i64) -> (i64, i64) {
    let Some(anchor) = DateTime::<Utc>::from_timestamp_millis(anchor_ms) else {
        return (anchor_ms, anchor_ms + 30 * 86_400_000);
    };
    let at = |k: u32| {
        anchor
            .checked_add_months(Months::new(k))
            .map(|d| d.timestamp_millis())
            .unwrap_or(i64::MAX)
    };
    if now_ms < anchor_ms {
        return (anchor_ms, at(1));
    }
    // Jump close to the answer, then step; months are 28–31 days long.
    let mut k = ((now_ms - anchor_ms) / (31 * 86_400_000)).max(0) as u32;
    while at(k + 1) <= now_ms {
        k += 1;
    }
    (at(k), at(k + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ms(y: i32, m: u32, d: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn periods_are_calendar_months_from_the_anchor() {
        let anchor = ms(2026, 1, 31);
        assert_eq!(period_bounds(anchor, anchor), (anchor, ms(2026, 2, 28)));
        assert_eq!(
            period_bounds(anchor, ms(2026, 3, 1)),
            (ms(2026, 2, 28), ms(2026, 3, 31))
        );
        assert_eq!(
            period_bounds(anchor, ms(2027, 1, 31)),
            (ms(2027, 1, 31), ms(2027, 2, 28))
        );
        let (s, e) = period_bounds(anchor, ms(2026, 11, 25));
        assert!(s <= ms(2026, 11, 25) && ms(2026, 11, 25) < e);
    }
}
