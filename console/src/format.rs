//! Human formatting shared by the subcommands and the interactive console.

use idoctor_protocol::QuotaType;

/// Bytes in binary units (`1.5 GiB`), to one decimal.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An amount in the quota's unit.
pub fn amount(quota_type: QuotaType, n: i64) -> String {
    match quota_type.unit() {
        "bytes" => bytes(n),
        _ => n.to_string(),
    }
}

/// A UTC time as `YYYY-MM-DD HH:MM`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// How long ago, compactly (`5s`, `3m`, `2h`, `4d`).
pub fn age(now_ms: i64, then_ms: i64) -> String {
    let s = ((now_ms - then_ms) / 1000).max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
        assert_eq!(amount(QuotaType::PatientCases, 7), "7");
        assert_eq!(age(100_000, 40_000), "1m");
        assert_eq!(time(0), "1970-01-01 00:00");
    }
}
