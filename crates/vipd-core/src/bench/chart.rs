//! A small grouped bar chart as SVG text, so docs/BENCHMARKS.md's chart is made by
//! code in the repository (no plotting tool to install).

use std::fmt::Write as _;

/// Bar colours by series index (colour-blind safe, Okabe-Ito).
const COLOURS: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
];

/// One data series: a name and one value per category (NaN: no bar, "n/a").
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// A value per category.
    pub values: Vec<f64>,
}

/// A vertical grouped bar chart: one group per category, one bar per series.
pub fn grouped_bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
) -> String {
    let (w, h) = (760.0, 380.0);
    let (left, right, top, bottom) = (80.0, 20.0, 56.0, 56.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (step, top_value) = nice_axis(max);
    let y = |v: f64| top + plot_h - (v / top_value) * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    // Grid and y axis labels.
    let mut v = 0.0;
    while v <= top_value + step * 0.01 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - right,
            left - 6.0,
            yy + 4.0,
            short(v)
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        esc(y_label)
    );
    // Bars.
    let groups = categories.len().max(1) as f64;
    let group_w = plot_w / groups;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (ci, cat) in categories.iter().enumerate() {
        let gx = left + group_w * ci as f64 + group_w * 0.1;
        for (si, ser) in series.iter().enumerate() {
            let x = gx + bar_w * si as f64;
            let colour = COLOURS[si % COLOURS.len()];
            match ser.values.get(ci).copied().filter(|v| v.is_finite()) {
                Some(val) => {
                    let val = val.max(0.0);
                    let yy = y(val);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}: {}</title></rect>"#,
                        bar_w - 2.0,
                        top + plot_h - yy,
                        esc(&ser.name),
                        short(val)
                    );
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                        x + (bar_w - 2.0) / 2.0,
                        yy - 4.0,
                        short(val)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#888">n/a</text>"##,
                        x + (bar_w - 2.0) / 2.0,
                        top + plot_h - 4.0
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            top + plot_h + 20.0,
            esc(cat)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#333"/>"##,
        top + plot_h,
        w - right,
        top + plot_h
    );
    // Legend: items side by side, each as wide as its text needs.
    let mut lx = 20.0;
    for (si, ser) in series.iter().enumerate() {
        let ly = 38.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{}">{}</text>"#,
            ly - 10.0,
            COLOURS[si % COLOURS.len()],
            lx + 16.0,
            ly,
            esc(&ser.name)
        );
        lx += 28.0 + 6.5 * ser.name.chars().count() as f64;
    }
    s.push_str("</svg>\n");
    s
}

/// A tick step of 1, 2 or 5 x 10^k giving about five ticks, and the axis top.
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 5.0);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

/// 48213 -> "48.2k"; 118.4 -> "118"; 3.25 -> "3.3".
fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_a_bar_per_value_and_marks_missing_ones() {
        let cats = vec![
            "direct".to_string(),
            "haproxy".to_string(),
            "vipd".to_string(),
        ];
        let series = vec![
            Series {
                name: "keep-alive".into(),
                values: vec![48000.0, 36000.0, f64::NAN],
            },
            Series {
                name: "new conn".into(),
                values: vec![18000.0, 8300.0, f64::NAN],
            },
        ];
        let svg = grouped_bars("Requests/s", "req/s", &cats, &series);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            4 + 2,
            "4 bars + 2 legend boxes"
        );
        assert_eq!(svg.matches(">n/a<").count(), 2);
        assert!(svg.contains(">48.0k<") && svg.contains(">haproxy<"));
    }

    #[test]
    fn axis_is_round() {
        assert_eq!(nice_axis(48000.0), (10000.0, 50000.0));
        assert_eq!(nice_axis(118.0), (50.0, 150.0));
        assert_eq!(nice_axis(0.0), (1.0, 5.0));
        assert_eq!(short(118.4), "118");
    }
}
