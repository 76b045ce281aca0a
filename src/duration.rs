//! Durations as people write them in `tiered.toml` and attributes: `"500ms"`,
//! `"30s"`, `"2m"`, `"1h"`.
//!
//! One whole number and one unit: anything else is an error that says what
//! was expected, so that `"5 parsecs"` is caught where it is written.

use std::time::Duration;

/// Parses `"500ms"`, `"30s"`, `"2m"` or `"1h"`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("`{text}` is not a duration; write e.g. \"500ms\", \"30s\" or \"2m\"")
    })?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n * 1_000,
        "m" | "min" => n * 60_000,
        "h" => n * 3_600_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h (e.g. \"30s\")"
            ))
        }
    };
    Ok(Duration::from_millis(ms))
}

/// Formats a duration in the unit a person would pick (`850ms`, `1.20s`).
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}
