//! The run as one HTML file (`run --html`, `report --run --html`): readable offline and
//! attachable to a CI job, so nothing is loaded from anywhere (inline CSS and SVG, no
//! script). Every text in it comes from the run (plugins' check names and values
//! included) and is escaped. A load of thousands of requests shows the waterfalls of its
//! failed requests and of its first ones; the JSON report has them all.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::analysis::step_latencies;
use super::model::{
    FaultRecord, RequestResult, RequestStatus, RunReport, ScenarioReport, ServiceHealth, Status,
    time,
};
use aura_services::trace::{StepStatus, WorkflowTrace};

/// Waterfalls drawn per scenario; the rest are counted.
const WATERFALLS: usize = 40;
/// Checks listed per validator (failures first); the rest are counted.
const CHECKS: usize = 200;
/// Upper bounds (ms) of the latency histograms' buckets; the last is open.
const BUCKETS: [u64; 11] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1em}
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
.passed{color:#176f2c}.failed,.aborted,.incomplete{color:#b00020}.not_run,.skipped{color:#777}.flaky{color:#a15c00}
.badge{font-weight:bold;padding:1px 6px;border-radius:3px;background:#eee}
.changed{background:#fff3c4}.fail td{background:#fdecee}
svg{display:block;margin:.3em 0}svg text{font:11px system-ui,sans-serif}
details{margin:.3em 0}summary{cursor:pointer}
figure{display:inline-block;margin:.3em 1em .3em 0}figcaption{font-weight:bold;font-size:12px}
";

/// `text` safe inside HTML elements and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Aborted => "aborted",
        Status::Incomplete => "incomplete",
        Status::NotRun => "not_run",
        Status::Skipped => "skipped",
        Status::Flaky => "flaky",
    }
}

fn badge(s: Status) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        status_word(s),
        s.word()
    )
}

/// The whole report.
pub fn render(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>aura-host run {} {}</title><style>{STYLE}</style></head><body>",
        esc(&r.run_id),
        r.status.word()
    );
    header(&mut out, r);
    timeline(&mut out, r);
    for s in &r.scenarios {
        scenario(&mut out, r, s);
    }
    histograms(&mut out, r);
    health(&mut out, r);
    if !r.recommendations.is_empty() {
        out.push_str("<h2>Recommendations</h2><ul>");
        for rec in &r.recommendations {
            let _ = write!(out, "<li>{}</li>", esc(rec));
        }
        out.push_str("</ul>");
    }
    if let Some(c) = &r.cleanup {
        let _ = write!(out, "<h2>Data</h2><p>{}</p>", esc(c));
    }
    out.push_str("</body></html>\n");
    out
}

fn header(out: &mut String, r: &RunReport) {
    let _ = write!(
        out,
        "<h1>aura-host run <code>{}</code> {}</h1><p>started {} UTC · {:.1} s · {}</p>",
        esc(&r.run_id),
        badge(r.status),
        esc(&time(r.started_at)),
        r.duration_ms as f64 / 1000.0,
        esc(&super::summary::counts(&r.summary))
    );
    let _ = write!(out, "<h3>Reproduce</h3><pre>{}", esc(&r.command));
    for s in &r.scenarios {
        if let Some(c) = &s.chaos {
            let _ = write!(
                out,
                "\n# {}: chaos seed {} (`run --seed {}` draws the same faults)",
                esc(&s.id),
                c.seed,
                c.seed
            );
        }
    }
    out.push_str("</pre>");
    if let Some(why) = &r.aborted {
        let _ = write!(out, "<p class=\"aborted\">aborted: {}</p>", esc(why));
    }
    if let Some(e) = &r.journal_error {
        let _ = write!(
            out,
            "<p class=\"failed\">journal incomplete, a write failed: {}</p>",
            esc(e)
        );
    }
}

/// When a scenario's requests ran: from its first step to its last, from the run's start.
fn span(s: &ScenarioReport) -> Option<(i64, i64)> {
    let steps = s
        .requests
        .iter()
        .filter_map(|r| r.trace.as_ref())
        .flat_map(|t| &t.steps);
    let start = steps.clone().map(|x| x.start_time).min()?;
    let end = steps.filter_map(|x| x.end_time).max().unwrap_or(start);
    Some((start, end.max(start)))
}

fn timeline(out: &mut String, r: &RunReport) {
    let spans: Vec<(&ScenarioReport, Option<(i64, i64)>)> =
        r.scenarios.iter().map(|s| (s, span(s))).collect();
    let end = spans
        .iter()
        .filter_map(|(_, sp)| sp.map(|(_, e)| e))
        .max()
        .unwrap_or(r.started_at)
        .max(r.started_at + 1);
    let total = (end - r.started_at) as f64;
    let (width, row) = (1000.0, 18.0);
    let _ = write!(
        out,
        "<h2>Timeline</h2><svg width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"scenario timeline\">",
        row * spans.len() as f64 + 4.0
    );
    for (i, (s, sp)) in spans.iter().enumerate() {
        let y = i as f64 * row;
        let label = format!("{} {}", s.id, s.status.word());
        if let Some((a, b)) = sp {
            let x = 300.0 + (a - r.started_at) as f64 / total * (width - 310.0);
            let w = ((b - a) as f64 / total * (width - 310.0)).max(2.0);
            let fill = if s.status == Status::Passed {
                "#5cb85c"
            } else {
                "#d9534f"
            };
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\"><title>{} ms</title></rect>",
                y + 3.0,
                row - 6.0,
                b - a
            );
        }
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{:.1}\">{}</text>",
            y + row - 5.0,
            esc(&label)
        );
    }
    out.push_str("</svg>");
}

fn scenario(out: &mut String, r: &RunReport, s: &ScenarioReport) {
    let _ = write!(
        out,
        "<h2 id=\"{}\">{} {} <small>{} · {} · {:.1} s</small></h2>",
        esc(&s.id),
        badge(s.status),
        esc(&s.id),
        esc(&s.name),
        esc(&s.suite),
        s.elapsed_ms as f64 / 1000.0
    );
    if let Some(note) = &s.note {
        let _ = write!(out, "<p>{}</p>", esc(note));
    }
    if s.known_flaky {
        out.push_str("<p class=\"flaky\">known flaky: flaky in an earlier run (<code>aura-host flakes</code>)</p>");
    }
    for r in &s.reruns {
        let _ = write!(
            out,
            "<p class=\"{}\">rerun {}: {}</p>",
            status_word(r.status),
            esc(&r.run_id),
            r.status.word()
        );
    }
    if let Some(l) = &s.load {
        let _ = write!(out, "<pre>{}</pre>", esc(l.lines().trim_start()));
    }
    facts(
        out,
        "System state",
        &super::state::scenario(s.state_before.as_ref(), s.state_after.as_ref()),
    );
    for f in &s.faults {
        let class = if f.held() { "passed" } else { "failed" };
        let _ = write!(out, "<p class=\"{class}\">fault {}</p>", esc(&f.describe()));
    }
    let failures = s.failures();
    if !failures.is_empty() {
        out.push_str("<h3>Failures</h3><ul>");
        for f in failures.iter().take(CHECKS) {
            let _ = write!(out, "<li class=\"failed\">{}</li>", esc(f));
        }
        if failures.len() > CHECKS {
            let _ = write!(out, "<li>… and {} more</li>", failures.len() - CHECKS);
        }
        out.push_str("</ul>");
    }
    let thresholds: Vec<_> = s
        .invariants
        .iter()
        .filter(|c| c.name.starts_with("threshold "))
        .collect();
    if !thresholds.is_empty() {
        out.push_str(
            "<h3>Thresholds</h3><table><tr><th></th><th>threshold</th><th>measured</th></tr>",
        );
        for c in thresholds {
            let _ = write!(
                out,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
                if c.passed { "" } else { " class=\"fail\"" },
                if c.passed { "PASS" } else { "FAIL" },
                esc(c.name.trim_start_matches("threshold ")),
                esc(&c.actual)
            );
        }
        out.push_str("</table>");
    }
    validators(out, s);
    waterfalls(out, r, s);
}

fn validators(out: &mut String, s: &ScenarioReport) {
    if s.validators.is_empty() {
        return;
    }
    out.push_str("<h3>Validators</h3>");
    let mut ordered: Vec<_> = s.validators.iter().collect();
    ordered.sort_by_key(|v| v.passed);
    for v in ordered {
        let passed = v.checks.iter().filter(|c| c.passed).count();
        let _ = write!(
            out,
            "<details{}><summary><span class=\"{}\">{}</span> {} · {passed}/{} checks · {} request(s) in {} call(s), {:.0} ms</summary>",
            if v.passed { "" } else { " open" },
            if v.passed { "passed" } else { "failed" },
            if v.passed { "PASS" } else { "FAIL" },
            esc(&v.validator),
            v.checks.len(),
            v.requests,
            v.calls,
            v.wall_ms
        );
        if let Some(e) = &v.error {
            let _ = write!(out, "<p class=\"failed\">{}</p>", esc(e));
        }
        let mut checks: Vec<_> = v.checks.iter().collect();
        checks.sort_by_key(|c| c.passed);
        out.push_str("<table><tr><th>check</th><th>expected</th><th>actual</th></tr>");
        for c in checks.iter().take(CHECKS) {
            let _ = write!(
                out,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
                if c.passed { "" } else { " class=\"fail\"" },
                esc(&c.name),
                esc(&c.expected),
                esc(&c.actual)
            );
        }
        out.push_str("</table>");
        if checks.len() > CHECKS {
            let _ = write!(
                out,
                "<p>… and {} more (all passed or listed above); the JSON report has every one</p>",
                checks.len() - CHECKS
            );
        }
        out.push_str("</details>");
    }
}

fn waterfalls(out: &mut String, r: &RunReport, s: &ScenarioReport) {
    if s.requests.is_empty() {
        return;
    }
    let mut ordered: Vec<&RequestResult> = s.requests.iter().collect();
    ordered.sort_by_key(|q| q.status != RequestStatus::Failed);
    let _ = write!(out, "<h3>Requests ({})</h3>", s.requests.len());
    // A few requests are shown open; of many, the failed ones.
    let few = s.requests.len() <= 5;
    for q in ordered.iter().take(WATERFALLS) {
        request(out, q, &s.faults, few);
    }
    if ordered.len() > WATERFALLS {
        let _ = write!(
            out,
            "<p>… {} more request(s), all in the JSON report (`aura-host report --run {} --json FILE`)</p>",
            ordered.len() - WATERFALLS,
            esc(&r.run_id)
        );
    }
}

fn request(out: &mut String, q: &RequestResult, faults: &[FaultRecord], open: bool) {
    let outcome = match (&q.decision, &q.error) {
        (Some(d), _) => d.outcome.name().to_string(),
        (None, Some(e)) => format!("no decision: {e}"),
        (None, None) => "no decision".into(),
    };
    let _ = write!(
        out,
        "<details{}><summary><span class=\"{}\">{:?}</span> {} · {} · {} ms · {} attempt(s)</summary>",
        if open || q.status == RequestStatus::Failed {
            " open"
        } else {
            ""
        },
        if q.status == RequestStatus::Failed {
            "failed"
        } else {
            "passed"
        },
        q.status,
        esc(&q.request_id),
        esc(&outcome),
        q.latency_ms,
        q.attempts
    );
    match &q.trace {
        Some(t) => waterfall(out, t, faults),
        None => out.push_str("<p>no trace</p>"),
    }
    out.push_str("</details>");
}

/// A request's steps as bars on its own time axis, fault windows shaded behind them.
fn waterfall(out: &mut String, t: &WorkflowTrace, faults: &[FaultRecord]) {
    let Some(start) = t.steps.iter().map(|s| s.start_time).min() else {
        out.push_str("<p>no step started</p>");
        return;
    };
    let end = t
        .steps
        .iter()
        .filter_map(|s| s.end_time)
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let total = (end - start) as f64;
    let (left, width, row) = (170.0, 960.0, 16.0);
    let plot = width - left - 60.0;
    let x = |ms: i64| left + ((ms - start) as f64 / total).clamp(0.0, 1.0) * plot;
    let height = row * t.steps.len() as f64 + 4.0;
    let _ = write!(
        out,
        "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"waterfall of {}\">",
        esc(&t.request_id)
    );
    for f in faults {
        let (Some(a), Some(b)) = (f.injected_at, f.healed_at.or(Some(end))) else {
            continue;
        };
        if b < start || a > end {
            continue;
        }
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height}\" fill=\"#f0ad4e\" opacity=\".25\"><title>fault {}</title></rect>",
            x(a),
            (x(b) - x(a)).max(1.0),
            esc(&f.describe())
        );
    }
    for (i, step) in t.steps.iter().enumerate() {
        let y = i as f64 * row;
        let until = step.end_time.unwrap_or(end);
        let fill = match step.status {
            StepStatus::Completed => "#5cb85c",
            StepStatus::Failed => "#d9534f",
            StepStatus::Skipped => "#bbb",
            StepStatus::Pending | StepStatus::Running => "#5bc0de",
        };
        let attempt = step
            .input_data
            .get("attempt")
            .and_then(serde_json::Value::as_u64)
            .map(|a| format!(" · attempt {a}"))
            .unwrap_or_default();
        let error = step
            .error_details
            .as_deref()
            .map(|e| format!(" · {e}"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{fill}\"><title>{}: {:?}, {} ms{}{}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{} ms</text>",
            y + row - 4.0,
            esc(&step.step_name),
            x(step.start_time),
            y + 2.0,
            (x(until) - x(step.start_time)).max(1.5),
            row - 4.0,
            esc(&step.step_name),
            step.status,
            until - step.start_time,
            esc(&attempt),
            esc(&error),
            x(until) + 4.0,
            y + row - 4.0,
            until - step.start_time
        );
    }
    out.push_str("</svg>");
}

/// Per step, how many runs took how long, on buckets that widen with the time.
fn histograms(out: &mut String, r: &RunReport) {
    let steps = step_latencies(r.scenarios.iter().flat_map(|s| &s.requests));
    if steps.is_empty() {
        return;
    }
    out.push_str("<h2>Step latency</h2>");
    for (step, values) in steps {
        let mut counts = [0u64; BUCKETS.len() + 1];
        for v in &values {
            let k = BUCKETS.iter().position(|b| v < b).unwrap_or(BUCKETS.len());
            counts[k] += 1;
        }
        let most = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let (bar, height) = (44.0, 40.0);
        let _ = write!(
            out,
            "<figure><figcaption>{} ({} runs, ms)</figcaption><svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"latency of {}\">",
            esc(&step),
            values.len(),
            bar * counts.len() as f64,
            height + 30.0,
            esc(&step)
        );
        for (k, n) in counts.iter().enumerate() {
            let h = *n as f64 / most * height;
            let label = match (k.checked_sub(1).map(|i| BUCKETS[i]), BUCKETS.get(k)) {
                (None, Some(hi)) => format!("&lt;{hi}"),
                (Some(lo), Some(_)) => format!("{lo}+"),
                (Some(lo), None) => format!("≥{lo}"),
                (None, None) => String::new(),
            };
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#428bca\"><title>{label} ms: {n}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{label}</text><text x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
                k as f64 * bar + 4.0,
                height - h,
                bar - 8.0,
                k as f64 * bar + 4.0,
                height + 14.0,
                k as f64 * bar + 4.0,
                height + 27.0
            );
        }
        out.push_str("</svg></figure>");
    }
}

fn health(out: &mut String, r: &RunReport) {
    let after: BTreeMap<&str, &ServiceHealth> = r
        .health_after
        .iter()
        .map(|h| (h.service.as_str(), h))
        .collect();
    out.push_str("<h2>Services before and after</h2><table><tr><th>service</th><th>before</th><th>after</th></tr>");
    let cell = |h: Option<&ServiceHealth>| {
        h.map_or_else(
            || "-".to_string(),
            |h| {
                format!(
                    "{} {} · {} ms{}",
                    h.status,
                    h.version.as_deref().unwrap_or(""),
                    h.latency_ms
                        .map_or_else(|| "-".to_string(), |l| format!("{l:.1}")),
                    h.error
                        .as_deref()
                        .map(|e| format!(" · {e}"))
                        .unwrap_or_default()
                )
            },
        )
    };
    for b in &r.health_before {
        let a = after.get(b.service.as_str()).copied();
        let changed = a.is_some_and(|a| a.status != b.status || a.version != b.version);
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
            if changed { " class=\"changed\"" } else { "" },
            esc(&b.service),
            esc(&cell(Some(b))),
            esc(&cell(a))
        );
    }
    out.push_str("</table>");
    facts(
        out,
        "System state before and after the run",
        &super::state::services(&r.health_before, &r.health_after),
    );
}

/// Facts before and after, the changed ones marked (`class="changed"`).
fn facts(out: &mut String, title: &str, facts: &[super::state::Fact]) {
    if facts.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h3>{}</h3><table class=\"state\"><tr><th>fact</th><th>before</th><th>after</th></tr>",
        esc(title)
    );
    for f in facts {
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
            if f.changed() {
                " class=\"changed\""
            } else {
                ""
            },
            esc(&f.name),
            esc(&f.before),
            esc(&f.after)
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
