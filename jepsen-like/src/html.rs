//! `report.html`: a small self-contained page (inline SVG, no scripts or external files) with
//! the verdict, a latency-over-time plot and a throughput plot with the fault windows shaded,
//! the fault log and the checkers' violations.

use std::fmt::Write;

use crate::history::History;
use crate::nemesis::NemesisEvent;
use crate::op::OpType;
use crate::register_checker::Verdict;
use crate::report::{CheckReport, Outcome};
use crate::runner::RunSummary;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 30.0;
/// At most this many points in the latency plot (evenly sampled beyond that).
const MAX_POINTS: usize = 8_000;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(t: OpType) -> &'static str {
    match t {
        OpType::Ok => "#2a9d4b",
        OpType::Fail => "#d62828",
        OpType::Info | OpType::Invoke => "#f0a202",
    }
}

/// The one-line verdict.
pub fn verdict_line(report: &CheckReport) -> String {
    match report.outcome {
        Outcome::Valid => "VALID: every checker passed".into(),
        Outcome::Invalid => "INVALID: a checker found a violation".into(),
        Outcome::Unknown => "UNKNOWN: no violation found, but a check was inconclusive".into(),
        Outcome::Malformed => format!(
            "MALFORMED history: {}",
            report.malformed.as_deref().unwrap_or("?")
        ),
    }
}

/// Renders the page.
pub fn render(
    history: &History,
    events: &[NemesisEvent],
    report: &CheckReport,
    summary: &RunSummary,
) -> String {
    let pairs = history.pairs();
    let end_ns = history
        .ops()
        .last()
        .map(|o| o.time_ns)
        .unwrap_or(1)
        .max(events.iter().map(|e| e.end_ns).max().unwrap_or(1))
        .max(1);
    let x = |ns: u64| LEFT + (ns as f64 / end_ns as f64) * (WIDTH - LEFT - 10.0);
    let shade = |out: &mut String| {
        for e in events {
            let (x0, x1) = (x(e.start_ns), x(e.end_ns).max(x(e.start_ns) + 2.0));
            let _ = write!(
                out,
                r##"<rect x="{x0:.1}" y="0" width="{:.1}" height="{:.1}" fill="#888" fill-opacity="0.18"><title>{}</title></rect>"##,
                x1 - x0,
                HEIGHT - BOTTOM,
                esc(&format!("{}: {}", e.kind, e.description))
            );
        }
    };
    let axis_x = |out: &mut String| {
        let secs = end_ns / 1_000_000_000;
        let step = (secs / 10).max(1);
        let mut s = 0;
        while s <= secs {
            let xs = x(s * 1_000_000_000);
            let _ = write!(
                out,
                r#"<text x="{xs:.1}" y="{:.1}" font-size="10" text-anchor="middle">{s}s</text>"#,
                HEIGHT - 12.0
            );
            s += step;
        }
    };

    // Latency plot: log scale from 1 ms to the slowest op.
    let completed: Vec<(u64, u64, OpType)> = pairs
        .iter()
        .filter_map(|p| {
            p.completion
                .map(|c| (p.invoke.time_ns, c.time_ns - p.invoke.time_ns, c.op_type))
        })
        .collect();
    let max_lat = completed
        .iter()
        .map(|c| c.1)
        .max()
        .unwrap_or(1)
        .max(10_000_000) as f64;
    let (lo, hi) = (1_000_000f64.ln(), max_lat.ln());
    let y_lat = |ns: u64| {
        let v = (ns.max(1_000_000) as f64).ln();
        (HEIGHT - BOTTOM) - (v - lo) / (hi - lo) * (HEIGHT - BOTTOM - 10.0)
    };
    let mut lat = String::new();
    shade(&mut lat);
    let stride = completed.len().div_ceil(MAX_POINTS).max(1);
    for (t, l, ty) in completed.iter().step_by(stride) {
        let _ = write!(
            lat,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{}"/>"#,
            x(*t),
            y_lat(*l),
            color(*ty)
        );
    }
    for ms in [1u64, 10, 100, 1_000, 10_000] {
        let ns = ms * 1_000_000;
        if (ns as f64) <= max_lat * 1.01 {
            let _ = write!(
                lat,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{ms} ms</text><line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                LEFT - 4.0,
                y_lat(ns) + 3.0,
                y = y_lat(ns)
            );
        }
    }
    axis_x(&mut lat);

    // Throughput plot: completions per second, one line per type.
    let buckets = (end_ns / 1_000_000_000 + 1) as usize;
    let mut rate = vec![[0u64; 3]; buckets];
    for (t, l, ty) in &completed {
        let b = ((t + l) / 1_000_000_000) as usize;
        let i = match ty {
            OpType::Ok => 0,
            OpType::Fail => 1,
            _ => 2,
        };
        if let Some(r) = rate.get_mut(b) {
            r[i] += 1;
        }
    }
    let max_rate = rate
        .iter()
        .flat_map(|r| r.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_rate = |v: u64| (HEIGHT - BOTTOM) - v as f64 / max_rate * (HEIGHT - BOTTOM - 10.0);
    let mut thr = String::new();
    shade(&mut thr);
    for (i, ty) in [OpType::Ok, OpType::Fail, OpType::Info]
        .into_iter()
        .enumerate()
    {
        let points: Vec<String> = rate
            .iter()
            .enumerate()
            .map(|(b, r)| {
                format!(
                    "{:.1},{:.1}",
                    x(b as u64 * 1_000_000_000 + 500_000_000),
                    y_rate(r[i])
                )
            })
            .collect();
        let _ = write!(
            thr,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            color(ty),
            points.join(" ")
        );
    }
    let _ = write!(
        thr,
        r#"<text x="{:.1}" y="14" font-size="10" text-anchor="end">{max_rate} ops/s</text>"#,
        LEFT - 4.0
    );
    axis_x(&mut thr);

    let mut body = String::new();
    let verdict_color = match report.outcome {
        Outcome::Valid => "#2a9d4b",
        Outcome::Invalid => "#d62828",
        _ => "#f0a202",
    };
    let _ = write!(
        body,
        r#"<h1>jepsen-like: {workload} under {nemesis}</h1><p class="verdict" style="background:{verdict_color}">{verdict}</p>"#,
        workload = esc(&summary.workload),
        nemesis = esc(&if summary.nemesis.is_empty() {
            "no faults".to_string()
        } else {
            summary.nemesis.join(", ")
        }),
        verdict = esc(&verdict_line(report)),
    );
    let o = &summary.ops;
    let _ = write!(
        body,
        "<p>{} nodes, {} shards, concurrency {}, seed {}, time limit {:.0} s, run took {:.1} s. \
         {} invocations: <b style=\"color:{}\">{} ok</b>, <b style=\"color:{}\">{} fail</b>, \
         <b style=\"color:{}\">{} info</b>, {} pending. {} fault windows. Recovered after the final heal: {}.</p>",
        summary.nodes,
        summary.shards,
        summary.concurrency,
        summary.seed,
        summary.time_limit_ms as f64 / 1000.0,
        summary.duration_ms as f64 / 1000.0,
        o.invocations,
        color(OpType::Ok),
        o.ok,
        color(OpType::Fail),
        o.fail,
        color(OpType::Info),
        o.info,
        o.pending,
        summary.fault_windows,
        summary.recovered
    );
    for s in &summary.skipped_nemeses {
        let _ = write!(body, "<p><b>{}</b></p>", esc(s));
    }
    let _ = write!(
        body,
        r#"<h2>Latency (by invocation time; faults shaded)</h2><svg width="{WIDTH}" height="{HEIGHT}">{lat}</svg>
<h2>Completions per second (green ok, red fail, orange info)</h2><svg width="{WIDTH}" height="{HEIGHT}">{thr}</svg>"#
    );

    body.push_str("<h2>Violations</h2>");
    let mut any = false;
    if let Some(lin) = &report.linearizability {
        for v in lin.keys.values() {
            if let Verdict::Violation(v) = v {
                any = true;
                let _ = write!(body, "<pre>{}</pre>", esc(&v.explanation));
            }
        }
    }
    if let Some(set) = &report.set {
        for v in &set.violations {
            any = true;
            let _ = write!(
                body,
                "<pre>{}</pre>",
                esc(&serde_json::to_string(v).unwrap_or_default())
            );
        }
    }
    if let Some(p) = &report.purchase {
        for v in &p.violations {
            any = true;
            let _ = write!(
                body,
                "<pre>{}</pre>",
                esc(&serde_json::to_string(v).unwrap_or_default())
            );
        }
    }
    if !any {
        body.push_str("<p>none</p>");
    }
    if let Some(p) = &report.purchase {
        let _ = write!(
            body,
            "<h2>Purchases</h2><p>{} purchases over {} keys; sagas: {} completed, {} compensated {}, \
             {} needs-attention, {} still open; captured {} (completed sagas {}); settled: {}.</p>\
             <table><tr><th>SKU</th><th>initial</th><th>available</th><th>held</th><th>committed</th>\
             <th>saga-committed</th></tr>",
            p.attempted,
            p.keys,
            p.completed,
            p.compensated,
            esc(&format!("{:?}", p.compensation_reasons)),
            p.needs_attention,
            p.still_open,
            p.captured_total,
            p.completed_amount_total,
            p.settled
        );
        for (sku, s) in &p.skus {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(sku),
                s.initial,
                s.available,
                s.held,
                s.committed,
                s.saga_committed
            );
        }
        body.push_str("</table>");
    }

    body.push_str("<h2>Faults</h2><table><tr><th>start</th><th>end</th><th>kind</th><th>what</th><th>errors</th></tr>");
    for e in events {
        let _ = write!(
            body,
            "<tr><td>{:.1} s</td><td>{:.1} s</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.start_ns as f64 / 1e9,
            e.end_ns as f64 / 1e9,
            esc(&e.kind),
            esc(&e.description),
            esc(&e.errors.join("; "))
        );
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<h2>Checker report</h2><pre>{}</pre>",
        esc(&serde_json::to_string_pretty(&strip_keys(report)).unwrap_or_default())
    );

    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>jepsen-like report</title>
<style>body{{font-family:sans-serif;margin:20px;max-width:1040px}} .verdict{{color:#fff;padding:8px;font-weight:bold}}
svg{{border:1px solid #ccc;background:#fff}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}
pre{{background:#f6f6f6;padding:6px;overflow-x:auto;font-size:12px}}</style></head><body>{body}</body></html>
"#
    )
}

/// The report without the per-key verdict map (which can be huge), for display.
fn strip_keys(report: &CheckReport) -> CheckReport {
    let mut r = report.clone();
    if let Some(l) = r.linearizability.as_mut() {
        l.keys.retain(|_, v| !matches!(v, Verdict::Ok));
    }
    r
}
