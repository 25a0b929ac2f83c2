//! One markdown table per scenario run, from its [`ScenarioReport`].

use std::fmt::Write;

use crate::replay::Cause;
use crate::scenario::ScenarioReport;

/// Seconds (indices into the timeline) of the scenario's peak and of its baseline.
fn windows(report: &ScenarioReport) -> (Vec<usize>, Vec<usize>) {
    let len = report.replay.timeline.len();
    let seconds = |(from, to): (u64, u64)| (from as usize..(to as usize).min(len)).collect::<Vec<_>>();
    (seconds(report.peak), seconds(report.baseline))
}

fn mean_rate(samples: &[(f64, f64)], seconds: &[usize]) -> Option<f64> {
    let (&first, &last) = (seconds.first()?, seconds.last()?);
    let at = |t: f64| samples.iter().find(|(s, _)| *s >= t).or(samples.last()).map(|(_, v)| *v);
    let (from, to) = (at(first as f64)?, at(last as f64 + 1.0)?);
    Some((to - from) / (last + 1 - first) as f64)
}

pub fn markdown(report: &ScenarioReport) -> String {
    let r = &report.replay;
    let (peak, baseline) = windows(report);
    let hits: u64 = peak.iter().map(|&i| r.timeline[i].cache_hits).sum();
    let misses: u64 = peak.iter().map(|&i| r.timeline[i].cache_misses).sum();
    let hit_ratio = if hits + misses > 0 { 100.0 * hits as f64 / (hits + misses) as f64 } else { 0.0 };
    let student_rate = |seconds: &[usize]| {
        let n = seconds.len().max(1) as f64;
        seconds.iter().map(|&i| r.timeline[i].requests).sum::<u64>() as f64 / n
    };
    let store_503 = r.errors_by_cause.get(&Cause::StoreUnavailable).copied().unwrap_or(0);
    let visible = r.errors_total - store_503;
    let causes: Vec<String> = r
        .errors_by_cause
        .iter()
        .filter(|(c, _)| **c != Cause::StoreUnavailable)
        .map(|(c, n)| format!("{c:?} {n}"))
        .collect();
    let mixed = r.errors_by_cause.get(&Cause::MixedRelease).copied().unwrap_or(0);
    let origin_peak = mean_rate(&report.origin_requests, &peak);
    let origin_base = mean_rate(&report.origin_requests, &baseline);

    let mut t = String::new();
    let _ = writeln!(t, "### Scenario `{}`\n", report.scenario);
    let _ = writeln!(t, "Plan (goose users over time): `{}`; {:.0} s.\n", report.plan, r.duration_s);
    let _ = writeln!(t, "| measure | value |");
    let _ = writeln!(t, "|---|---|");
    let _ = writeln!(t, "| students (returning) | {} ({}) |", r.students.total, r.students.returning);
    let _ = writeln!(t, "| requests | {} |", r.requests_total);
    let cause_text = if causes.is_empty() { String::new() } else { format!(": {}", causes.join(", ")) };
    let _ = writeln!(t, "| student-visible errors | {visible}{cause_text} |");
    let _ = writeln!(t, "| 503 store unavailable (cold objects during the store outage) | {store_503} |");
    let _ = writeln!(t, "| mixed-release responses (a page's sub-resource 404) | {mixed} |");
    let _ = writeln!(t, "| edge hit ratio over the peak ({} s) | {hit_ratio:.2} % |", peak.len());
    let _ = writeln!(
        t,
        "| student requests/s: baseline, peak | {:.0}, {:.0} |",
        student_rate(&baseline),
        student_rate(&peak)
    );
    let rate = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
    let ratio = match (origin_peak, origin_base) {
        (Some(p), Some(b)) if b > 0.0 => format!(" ({:.2}x)", p / b),
        _ => String::new(),
    };
    let _ = writeln!(
        t,
        "| origin requests/s: baseline, peak | {}, {}{ratio} |",
        rate(origin_base),
        rate(origin_peak)
    );
    for (what, samples) in [
        ("of which content (cache fills, warm fetches)", &report.origin_content_requests),
        ("of which grants and edge verdicts", &report.origin_grant_requests),
    ] {
        let (base, peak) = (mean_rate(samples, &baseline), mean_rate(samples, &peak));
        let ratio = match (peak, base) {
            (Some(p), Some(b)) if b > 0.0 => format!(" ({:.2}x)", p / b),
            _ => String::new(),
        };
        let _ = writeln!(t, "| {what}: baseline, peak | {}, {}{ratio} |", rate(base), rate(peak));
    }
    let _ = writeln!(t, "| store requests (origins' fetches) | {:.0} |", report.store_fetches);
    let _ = writeln!(
        t,
        "| student latency p50 / p99 / max (all requests) | {:.1} / {:.1} / {:.0} ms |",
        r.latency_all.p50_ms, r.latency_all.p99_ms, r.latency_all.max_ms
    );
    let _ = writeln!(
        t,
        "| page latency p50 / p99 | {:.1} / {:.1} ms |",
        r.latency_pages.p50_ms, r.latency_pages.p99_ms
    );
    let _ = writeln!(
        t,
        "| enrolled visits, grants issued, enrolled pages opened | {}, {}, {} |",
        r.students.enrolled_visits, r.students.grants_issued, r.students.enrolled_pages_opened
    );
    let _ = writeln!(
        t,
        "| quizzes taken, labs opened | {}, {} |",
        r.students.quizzes_taken, r.students.labs_opened
    );
    let _ = writeln!(
        t,
        "| GETs resent after an edge closed an idle kept-alive connection (as browsers do; not errors) | {} |",
        r.students.resent
    );
    let _ = writeln!(
        t,
        "\n| at | event | command | served by every edge and origin after | errors in its window | note |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|");
    for event in &report.events {
        let secs = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2} s"));
        let window = (event.at_secs as usize)..(event.at_secs + event.window_secs + 5.0) as usize;
        let errors: u64 =
            r.timeline.iter().filter(|s| window.contains(&(s.second as usize))).map(|s| s.errors).sum();
        let _ = writeln!(
            t,
            "| {:.0} s | {} | {} | {} | {errors} | {} |",
            event.at_secs,
            event.what,
            secs(event.command_secs),
            secs(event.served_everywhere_secs),
            event.note
        );
    }
    t
}
