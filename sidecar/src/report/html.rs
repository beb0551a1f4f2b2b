//! The report as one self-contained page: inline CSS and inline SVG charts (events per day by
//! kind, bans per day per jail), no script, no external reference of any kind. Every text that
//! comes from a log (jail names, paths, addresses) goes through [`esc`], so hostile bytes stay
//! text. The page is well-formed XML too (every element closed), which the tests check.

use std::fmt::Write as _;

use super::text::{duration, plural};
use super::{Report, Summary};

/// Text for element content and attribute values: the five markup characters as entities,
/// control characters (which XML forbids) as U+FFFD.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Distinct colours for the series of a chart (kinds, jails), reused in turn.
const COLOURS: [&str; 10] =
    ["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left;white-space:nowrap}td.l{text-align:left}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}\
.muted{color:#777}svg text{font:11px system-ui,sans-serif}";

/// A bar chart: one group per day; `stacked` stacks the series, else they stand side by side.
fn chart(title: &str, days: &[String], series: &[(String, Vec<u64>)], stacked: bool) -> String {
    let (w, h, left, bottom, top) = (760.0_f64, 260.0_f64, 48.0_f64, 40.0_f64, 12.0_f64);
    let legend_h = 18.0 * ((series.len() as f64) / 4.0).ceil();
    let plot_h = h - bottom - top;
    let n = days.len().max(1) as f64;
    let slot = (w - left - 10.0) / n;
    let max = (0..days.len())
        .map(|i| {
            let vals = series.iter().map(|(_, v)| v.get(i).copied().unwrap_or(0));
            if stacked {
                vals.sum::<u64>()
            } else {
                vals.max().unwrap_or(0)
            }
        })
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\">",
        h + legend_h,
        h + legend_h,
        esc(title)
    );
    // Axis: zero, the maximum and its half.
    for v in [0.0, max / 2.0, max] {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - 10.0,
            left - 4.0,
            y(v) + 4.0,
            if v.fract() == 0.0 { format!("{v}") } else { format!("{v:.1}") },
            yy = y(v)
        );
    }
    let every = (days.len() / 14).max(1);
    for (i, d) in days.iter().enumerate() {
        let x0 = left + slot * i as f64;
        let bar_w = if stacked { slot * 0.7 } else { slot * 0.8 / series.len().max(1) as f64 };
        let mut acc = 0.0;
        for (k, (name, vals)) in series.iter().enumerate() {
            let v = vals.get(i).copied().unwrap_or(0) as f64;
            if v == 0.0 {
                continue;
            }
            let (x, y1, y2) = if stacked {
                let r = (x0 + slot * 0.15, y(acc + v), y(acc));
                acc += v;
                r
            } else {
                (x0 + slot * 0.1 + bar_w * k as f64, y(v), y(0.0))
            };
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}: {}</title></rect>",
                (y2 - y1).max(0.5),
                COLOURS[k % COLOURS.len()],
                esc(d),
                esc(name),
                v
            );
        }
        if i % every == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x0 + slot / 2.0,
                h - bottom + 16.0,
                esc(d.get(5..).unwrap_or(d))
            );
        }
    }
    for (k, (name, _)) in series.iter().enumerate() {
        let (lx, ly) = (left + 180.0 * (k % 4) as f64, h + 18.0 * (k / 4) as f64 - 6.0);
        let shown: String = name.chars().take(24).collect();
        let _ = write!(
            s,
            "<rect x=\"{lx}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{ly:.1}\">{}</text>",
            ly - 9.0,
            COLOURS[k % COLOURS.len()],
            lx + 14.0,
            esc(&shown)
        );
    }
    s.push_str("</svg>");
    s
}

fn summary_html(out: &mut String, s: &Summary) {
    let mut any = false;
    for (name, j) in &s.jails {
        if j.bans + j.unbans + j.restored == 0 {
            continue;
        }
        any = true;
        let delay = j
            .ban_delay
            .as_ref()
            .map(|d| {
                format!(
                    "; ban after the first failure: median {}, max {}",
                    duration(d.median_seconds),
                    duration(d.max_seconds)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li>{}: {}, {}{}{}{}</li>",
            esc(name),
            plural(j.bans, "ban", "bans"),
            plural(j.unbans, "unban", "unbans"),
            if j.restored > 0 { format!(", {} restored", j.restored) } else { String::new() },
            if j.repeat_bans > 0 { format!(", {} repeat", j.repeat_bans) } else { String::new() },
            esc(&delay)
        );
    }
    if !s.top_addresses.is_empty() {
        any = true;
        let list: Vec<String> = s
            .top_addresses
            .iter()
            .map(|a| {
                format!("{} ({}, {})", esc(&a.addr), plural(a.events, "event", "events"), plural(a.bans, "ban", "bans"))
            })
            .collect();
        let _ = write!(out, "<li>top addresses: {}</li>", list.join(", "));
    }
    if !s.repeat_offenders.is_empty() {
        any = true;
        let list: Vec<String> = s
            .repeat_offenders
            .iter()
            .map(|r| format!("{} ({}, banned again {}×)", esc(&r.addr), esc(&r.jail), r.repeat_bans))
            .collect();
        let _ = write!(out, "<li>repeat offenders: {}</li>", list.join(", "));
    }
    if !any {
        out.push_str("<li class=\"muted\">no bans, no events</li>");
    }
}

pub fn render(r: &Report) -> String {
    let p = &r.period;
    let title = format!("banlog report, {} to {}", p.first_day, p.last_day);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>{t}</title><style>{CSS}</style></head><body><h1>{t}</h1>",
        t = esc(&title)
    );
    let _ = write!(o, "<p class=\"muted\">{} days, time zone {}. Read:</p><ul>", p.days, esc(&p.time_zone));
    for s in &r.sources {
        let _ = write!(o, "<li>{} ({}): {} lines, {} records</li>", esc(&s.path), s.role, s.lines, s.records);
    }
    for n in &r.notes {
        let _ = write!(o, "<li class=\"muted\">{}</li>", esc(n));
    }
    o.push_str("</ul>");
    let dates: Vec<String> = r.days.iter().map(|d| d.date.clone()).collect();
    let kinds: Vec<(String, Vec<u64>)> = r
        .kinds
        .iter()
        .filter(|k| r.totals.events.get(*k).copied().unwrap_or(0) > 0)
        .map(|k| ((*k).to_owned(), r.days.iter().map(|d| d.summary.events.get(k).copied().unwrap_or(0)).collect()))
        .collect();
    let jails: Vec<(String, Vec<u64>)> = r
        .jails
        .iter()
        .filter(|j| r.totals.jails.get(*j).is_some_and(|t| t.bans > 0))
        .map(|j| (j.clone(), r.days.iter().map(|d| d.summary.jails.get(j).map_or(0, |x| x.bans)).collect()))
        .collect();
    o.push_str("<h2>Events per day, by kind</h2>");
    o.push_str(&chart("events per day by kind", &dates, &kinds, true));
    o.push_str("<h2>Bans per day, per jail</h2>");
    o.push_str(&chart("bans per day per jail", &dates, &jails, false));

    // The figures of both charts as tables.
    o.push_str("<h2>Events</h2><table><tr><th>day</th>");
    for (k, _) in &kinds {
        let _ = write!(o, "<th>{}</th>", esc(k));
    }
    o.push_str("</tr>");
    for d in &r.days {
        let _ = write!(o, "<tr><td>{}</td>", esc(&d.date));
        for (k, _) in &kinds {
            let _ = write!(o, "<td>{}</td>", d.summary.events.get(k.as_str()).copied().unwrap_or(0));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table><h2>Bans and unbans</h2><table><tr><th>day</th>");
    for j in &r.jails {
        let _ = write!(o, "<th>{} bans</th><th>unbans</th>", esc(j));
    }
    o.push_str("</tr>");
    for d in &r.days {
        let _ = write!(o, "<tr><td>{}</td>", esc(&d.date));
        for j in &r.jails {
            let js = d.summary.jails.get(j).cloned().unwrap_or_default();
            let _ = write!(o, "<td>{}</td><td>{}</td>", js.bans, js.unbans);
        }
        o.push_str("</tr>");
    }
    o.push_str("</table><h2>Per day</h2>");
    for d in r.days.iter().rev() {
        let _ = write!(o, "<h3>{}</h3><ul>", esc(&d.date));
        summary_html(&mut o, &d.summary);
        o.push_str("</ul>");
    }
    o.push_str("<h2>The whole period</h2><ul>");
    summary_html(&mut o, &r.totals);
    o.push_str("</ul><p class=\"muted\">Made by banlog report.</p></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(esc("a\u{0}b\u{1b}c\u{85}"), "a\u{fffd}b\u{fffd}c\u{fffd}");
    }

    #[test]
    fn a_chart_escapes_its_series_names() {
        let svg = chart("t", &["2026-11-30".into()], &[("<script>x</script>".into(), vec![3])], false);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
    }
}
