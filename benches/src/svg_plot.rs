//! [`render_svg`]: a dependency-free SVG of a [`Report`]: per workload, latency percentiles per
//! system (log scale) and throughput per system.

use std::fmt::Write as _;

use crate::{Report, Summary, System};

const WIDTH: f64 = 960.0;
const ROW_HEIGHT: f64 = 320.0;
const TOP: f64 = 40.0;
/// Plot areas inside a row: latency panel on the left, throughput panel on the right.
const LAT_X: f64 = 70.0;
const LAT_W: f64 = 500.0;
const TPUT_X: f64 = 680.0;
const TPUT_W: f64 = 240.0;
const PLOT_H: f64 = 220.0;

const PERCENTILES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

fn color(system: System) -> &'static str {
    match system {
        System::Orderstore => "#1b7837",
        System::Etcd => "#2166ac",
        System::Postgres => "#b2182b",
    }
}

fn points(s: &Summary) -> [f64; 5] {
    [s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms]
}

/// Renders every workload of `report` as one row. Systems without a summary are left out of the
/// plots (the Markdown says why). Always returns a well-formed SVG document, also for an empty
/// report.
pub fn render_svg(report: &Report) -> String {
    let rows = report.workloads.len().max(1) as f64;
    let height = TOP + rows * ROW_HEIGHT;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LAT_X}" y="22" font-size="15" font-weight="bold">order-bench: latency percentiles (ms, log scale) and throughput (ops/s)</text>"#
    );
    for (row, w) in report.workloads.iter().enumerate() {
        let y0 = TOP + row as f64 * ROW_HEIGHT + 30.0;
        let measured: Vec<(System, &Summary)> = w
            .systems
            .iter()
            .filter_map(|r| r.summary.as_ref().map(|s| (r.system, s)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<text x="{LAT_X}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            y0 - 10.0,
            escape(w.workload.as_str())
        );
        latency_panel(&mut svg, &measured, y0);
        throughput_panel(&mut svg, &measured, y0);
    }
    svg.push_str("</svg>\n");
    svg
}

fn latency_panel(svg: &mut String, measured: &[(System, &Summary)], y0: f64) {
    let values = measured.iter().flat_map(|(_, s)| points(s));
    let lo = values.clone().fold(f64::INFINITY, f64::min).max(0.01);
    let hi = values.fold(0.0, f64::max).max(lo * 10.0);
    let (log_lo, log_hi) = (lo.log10().floor(), hi.log10().ceil());
    let y_of = |v: f64| {
        let t = (v.max(0.001).log10() - log_lo) / (log_hi - log_lo);
        y0 + PLOT_H - t.clamp(0.0, 1.0) * PLOT_H
    };
    axes(svg, LAT_X, y0, LAT_W);
    let mut decade = log_lo;
    while decade <= log_hi {
        let v = 10f64.powf(decade);
        let y = y_of(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{LAT_X}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LAT_X + LAT_W,
            LAT_X - 6.0,
            y + 4.0,
            format_ms(v)
        );
        decade += 1.0;
    }
    let step = LAT_W / PERCENTILES.len() as f64;
    let x_of = |i: usize| LAT_X + step * (i as f64 + 0.5);
    for (i, label) in PERCENTILES.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x_of(i),
            y0 + PLOT_H + 18.0
        );
    }
    for (k, (system, s)) in measured.iter().enumerate() {
        let pts: Vec<String> = points(s)
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
            .collect();
        let c = color(*system);
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(svg, r#"<circle cx="{x}" cy="{y}" r="3" fill="{c}"/>"#);
        }
        let ly = y0 + 14.0 + k as f64 * 16.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{c}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LAT_X + 10.0,
            ly - 9.0,
            LAT_X + 24.0,
            ly,
            system
        );
    }
}

fn throughput_panel(svg: &mut String, measured: &[(System, &Summary)], y0: f64) {
    axes(svg, TPUT_X, y0, TPUT_W);
    let max = measured
        .iter()
        .map(|(_, s)| s.throughput)
        .fold(0.0, f64::max)
        .max(1.0);
    let slot = TPUT_W / measured.len().max(1) as f64;
    for (i, (system, s)) in measured.iter().enumerate() {
        let h = s.throughput / max * (PLOT_H - 20.0);
        let x = TPUT_X + slot * i as f64 + slot * 0.15;
        let bw = slot * 0.7;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{h:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{:.0}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            y0 + PLOT_H - h,
            color(*system),
            x + bw / 2.0,
            y0 + PLOT_H - h - 4.0,
            s.throughput,
            x + bw / 2.0,
            y0 + PLOT_H + 18.0,
            system
        );
    }
}

fn axes(svg: &mut String, x: f64, y0: f64, w: f64) {
    let _ = writeln!(
        svg,
        r#"<polyline fill="none" stroke="black" points="{x:.1},{y0:.1} {x:.1},{:.1} {:.1},{:.1}"/>"#,
        y0 + PLOT_H,
        x + w,
        y0 + PLOT_H
    );
}

fn format_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    /// The plot is one SVG document with a line per measured system (orderstore, etcd; not the
    /// failed postgres) and a bar per measured system.
    #[test]
    fn plots_measured_systems_only() {
        let svg = render_svg(&sample_report());
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline fill=\"none\" stroke=\"#").count(), 2);
        assert!(svg.contains(">orderstore</text>") && svg.contains(">etcd</text>"));
        assert!(!svg.contains(">postgres</text>"));
        assert!(svg.contains(">2500</text>"), "throughput label");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn empty_report_is_still_a_document() {
        let mut r = sample_report();
        r.workloads.clear();
        let svg = render_svg(&r);
        assert!(svg.starts_with("<svg ") && svg.contains("</svg>"));
    }
}
