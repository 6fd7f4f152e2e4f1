//! Small server-rendered charts (SVG, no script, no front-end build): outcomes per hour over
//! the last day, as stacked bars.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// One hour's outcomes.
#[derive(Debug, Clone, Copy)]
pub struct HourBar {
    pub hour: DateTime<Utc>,
    pub ok: i64,
    pub failed: i64,
}

const HOURS: i64 = 24;
const BAR: i64 = 6;
const GAP: i64 = 2;
const HEIGHT: i64 = 40;

/// 24 stacked bars, oldest first, the last one the current hour: successes below in green,
/// failures above in red, each with a tooltip. `label` (ours, never user data) names the chart
/// for screen readers.
pub fn hourly_outcomes(bars: &[HourBar], now: DateTime<Utc>, label: &str) -> String {
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let slots: Vec<HourBar> = (0..HOURS)
        .map(|i| {
            let hour = this_hour - Duration::hours(HOURS - 1 - i);
            bars.iter()
                .find(|b| b.hour == hour)
                .copied()
                .unwrap_or(HourBar {
                    hour,
                    ok: 0,
                    failed: 0,
                })
        })
        .collect();
    let most = slots
        .iter()
        .map(|s| s.ok + s.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = HOURS * (BAR + GAP);
    let mut svg = format!(
        "<svg class=\"hourly-chart\" role=\"img\" aria-label=\"{label}\" viewBox=\"0 0 {width} {HEIGHT}\" width=\"{width}\" height=\"{HEIGHT}\">"
    );
    for (i, slot) in slots.iter().enumerate() {
        let x = i as i64 * (BAR + GAP);
        let ok_height = slot.ok * HEIGHT / most;
        let failed_height = slot.failed * HEIGHT / most;
        svg.push_str(&format!(
            "<g><title>{} UTC: {} ok, {} failed</title><rect x=\"{x}\" y=\"0\" width=\"{BAR}\" height=\"{HEIGHT}\" class=\"slot\"/>",
            slot.hour.format("%H:00"),
            slot.ok,
            slot.failed
        ));
        if ok_height > 0 {
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"{BAR}\" height=\"{ok_height}\" class=\"ok\"/>",
                HEIGHT - ok_height
            ));
        }
        if failed_height > 0 {
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"{BAR}\" height=\"{failed_height}\" class=\"failed\"/>",
                HEIGHT - ok_height - failed_height
            ));
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_busiest_hour_and_the_last_is_now() {
        let now = "2026-11-30T10:30:00Z".parse::<DateTime<Utc>>().unwrap();
        let bars = [
            HourBar {
                hour: "2026-11-30T10:00:00Z".parse().unwrap(),
                ok: 3,
                failed: 1,
            },
            HourBar {
                hour: "2026-11-30T09:00:00Z".parse().unwrap(),
                ok: 0,
                failed: 2,
            },
        ];
        let svg = hourly_outcomes(&bars, now, "Deliveries per hour");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<g>").count(), 24);
        assert!(svg.contains("<title>10:00 UTC: 3 ok, 1 failed</title>"));
        // The busiest hour (4) fills the height: 30 px ok, 10 px failed on top.
        assert!(
            svg.contains("x=\"184\" y=\"10\" width=\"6\" height=\"30\" class=\"ok\""),
            "{svg}"
        );
        assert!(
            svg.contains("x=\"184\" y=\"0\" width=\"6\" height=\"10\" class=\"failed\""),
            "{svg}"
        );
        assert!(svg.contains("<title>09:00 UTC: 0 ok, 2 failed</title>"));
    }
}
