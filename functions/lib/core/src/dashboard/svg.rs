//! The trend chart as inline SVG (custom widgets render HTML, CSS and SVG,
//! no JavaScript): checks per day by outcome, stacked, above the drift
//! episodes open at the end of each day.

use std::fmt::Write;

use super::html::esc;
use super::stats::DayPoint;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const BARS_TOP: f64 = 26.0;
const BARS_HEIGHT: f64 = 110.0;
const LINE_TOP: f64 = 182.0;
const LINE_HEIGHT: f64 = 70.0;
const HEIGHT: f64 = 280.0;

/// Outcome series: label, CSS class, count.
const SERIES: [(&str, &str); 4] = [
    ("no drift", "s-ok"),
    ("drift", "s-drift"),
    ("remediated", "s-fixed"),
    ("check failed", "s-failed"),
];

fn counts(day: &DayPoint) -> [usize; 4] {
    [day.no_drift, day.drift, day.remediated, day.failed]
}

/// A round upper bound for an axis (at least 1).
fn nice_max(max: usize) -> usize {
    match max {
        0..=4 => max.max(1),
        5..=10 => 10,
        _ => {
            let magnitude = 10usize.pow((max as f64).log10().floor() as u32);
            let step = (magnitude / 2).max(1);
            max.div_ceil(step) * step
        }
    }
}

pub fn trend_chart(days: &[DayPoint]) -> String {
    let mut out = String::new();
    if days.is_empty() {
        return out;
    }
    let plot_width = WIDTH - LEFT - RIGHT;
    let slot = plot_width / days.len() as f64;
    let bar = (slot * 0.7).max(1.0);
    let checks_max = nice_max(days.iter().map(DayPoint::checks).max().unwrap_or(0));
    let open_max = nice_max(days.iter().map(|d| d.open_at_end).max().unwrap_or(0));
    let total: usize = days.iter().map(DayPoint::checks).sum();
    let first = days[0].date;
    let last = days[days.len() - 1].date;
    let now_open = days[days.len() - 1].open_at_end;
    let _ = write!(
        out,
        r#"<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="trend-title trend-desc" xmlns="http://www.w3.org/2000/svg"><title id="trend-title">Checks per day and open drift, {first} to {last}</title><desc id="trend-desc">{total} checks in {n} days; {now_open} drift episodes open now.</desc>"#,
        n = days.len()
    );
    // Panel titles and y axes.
    let _ = write!(
        out,
        r#"<text class="panel" x="{LEFT}" y="{y}">Checks per day</text>"#,
        y = BARS_TOP - 10.0
    );
    let _ = write!(
        out,
        r#"<text class="panel" x="{LEFT}" y="{y}">Drift episodes open at the end of the day</text>"#,
        y = LINE_TOP - 10.0
    );
    for (top, height, max) in [
        (BARS_TOP, BARS_HEIGHT, checks_max),
        (LINE_TOP, LINE_HEIGHT, open_max),
    ] {
        let bottom = top + height;
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{x2}" y2="{bottom}"/><line class="grid" x1="{LEFT}" y1="{top}" x2="{x2}" y2="{top}"/><text class="tick" x="{tx}" y="{ty}" text-anchor="end">{max}</text><text class="tick" x="{tx}" y="{by}" text-anchor="end">0</text>"#,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = top + 4.0,
            by = bottom + 4.0,
        );
    }
    // Stacked bars, one per day.
    for (i, day) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = BARS_TOP + BARS_HEIGHT;
        let parts: Vec<String> = SERIES
            .iter()
            .zip(counts(day))
            .filter(|(_, n)| *n > 0)
            .map(|((label, _), n)| format!("{n} {label}"))
            .collect();
        let tip = if parts.is_empty() {
            format!("{}: no checks", day.date)
        } else {
            format!("{}: {}", day.date, parts.join(", "))
        };
        let _ = write!(out, "<g><title>{}</title>", esc(&tip));
        for ((_, class), n) in SERIES.iter().zip(counts(day)) {
            if n == 0 {
                continue;
            }
            let h = BARS_HEIGHT * n as f64 / checks_max as f64;
            y -= h;
            let _ = write!(
                out,
                r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}"/>"#
            );
        }
        let _ = write!(out, "</g>");
    }
    // Open episodes: a step line with points.
    let point = |i: usize, n: usize| {
        (
            LEFT + slot * i as f64 + slot / 2.0,
            LINE_TOP + LINE_HEIGHT - LINE_HEIGHT * n as f64 / open_max as f64,
        )
    };
    let path: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (x, y) = point(i, d.open_at_end);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        out,
        r#"<polyline class="s-open" fill="none" points="{}"/>"#,
        path.join(" ")
    );
    for (i, d) in days.iter().enumerate() {
        let (x, y) = point(i, d.open_at_end);
        let _ = write!(
            out,
            r#"<circle class="s-open-dot" cx="{x:.1}" cy="{y:.1}" r="2.5"><title>{}: {} open</title></circle>"#,
            d.date, d.open_at_end
        );
    }
    // Date labels: first, last and about every week.
    let step = (days.len() / 5).max(1);
    for (i, d) in days.iter().enumerate() {
        if i % step != 0 && i != days.len() - 1 {
            continue;
        }
        if i != days.len() - 1 && days.len() - 1 - i < step / 2 {
            continue;
        }
        let (x, _) = point(i, 0);
        let _ = write!(
            out,
            r#"<text class="tick" x="{x:.1}" y="{y}" text-anchor="middle">{}</text>"#,
            d.date.format("%b %-d"),
            y = HEIGHT - 8.0
        );
    }
    out.push_str("</svg>");
    out
}

/// The chart's legend (HTML, so it reads as text).
pub fn legend() -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (label, class) in SERIES {
        let _ = write!(
            out,
            r#"<li><span class="swatch {class}"></span>{label}</li>"#
        );
    }
    out.push_str(r#"<li><span class="swatch s-open"></span>open drift episodes</li></ul>"#);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(3), 3);
        assert_eq!(nice_max(7), 10);
        assert!(nice_max(37) >= 37 && nice_max(37) <= 50, "{}", nice_max(37));
        assert!(
            nice_max(420) >= 420 && nice_max(420) <= 500,
            "{}",
            nice_max(420)
        );
    }
}
