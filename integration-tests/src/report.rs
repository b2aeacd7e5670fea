//! Plain-text reports for the demo and for test failure messages: the states an
//! execution passed (as the console graph shows them) with timings, and history
//! records.

use driftguard_core::history::HistoryRecord;

use crate::executions::ExecutionReport;

fn secs(d: Option<std::time::Duration>) -> String {
    match d {
        Some(d) => format!("{:>6.2} s", d.as_secs_f64()),
        None => "    —   ".to_string(),
    }
}

/// The states an execution passed, in order, with their start offset and duration.
pub fn states_table(report: &ExecutionReport) -> String {
    let mut lines = vec![format!(
        "execution {} — {}{} ({})",
        report.name,
        report.status,
        report
            .error
            .as_ref()
            .map(|e| format!(" with {e}"))
            .unwrap_or_default(),
        secs(report.duration()).trim()
    )];
    for s in &report.states {
        let offset = (s.entered - report.start)
            .to_std()
            .map(|d| format!("+{:>6.2} s", d.as_secs_f64()))
            .unwrap_or_else(|_| "         ".into());
        let indent = match s.iteration {
            Some(i) => format!("    [{i}] "),
            None => String::new(),
        };
        let name = format!("{indent}{}", s.name);
        let mut note = String::new();
        if s.attempts > 1 {
            note.push_str(&format!("  {} attempts", s.attempts));
        }
        if let Some((error, _)) = s.errors.last() {
            note.push_str(&format!("  last error {error}"));
        }
        if s.exited.is_none() && s.state_type != "Succeed" && s.state_type != "Fail" {
            note.push_str("  (did not finish)");
        }
        lines.push(format!(
            "  {offset}  {name:<40} {:<7} {}{note}",
            s.state_type,
            secs(s.duration())
        ));
    }
    if let Some(cause) = &report.cause {
        lines.push(format!("  cause: {cause}"));
    }
    lines.join("\n")
}

/// A history record in a few lines.
pub fn record_text(record: &HistoryRecord) -> String {
    let mut lines = vec![
        format!(
            "{} {}  (pk {}, sk {})",
            record.status,
            record.organization.clone() + "/" + &record.workspace,
            record.pk,
            record.sk
        ),
        format!("  execution   {}", record.execution_id),
        format!(
            "  started     {}   recorded {}   expires_at {}",
            record.started_at, record.recorded_at, record.expires_at
        ),
    ];
    if let Some(run) = &record.run_id {
        lines.push(format!(
            "  run         {run}  {}",
            record.run_url.as_deref().unwrap_or("")
        ));
    }
    lines.push(format!(
        "  changes     {}{}",
        record.changes.len(),
        if record.changes_omitted > 0 {
            format!(" (+{} omitted)", record.changes_omitted)
        } else {
            String::new()
        }
    ));
    for c in record.changes.iter().take(5) {
        lines.push(format!(
            "                {} {} by {}",
            c.event_source,
            c.event_name,
            c.actor.arn.as_deref().unwrap_or(&c.actor.actor_type)
        ));
    }
    if record.changes.len() > 5 {
        lines.push(format!(
            "                … {} more",
            record.changes.len() - 5
        ));
    }
    if let Some(drift) = &record.drift {
        lines.push(format!(
            "  drift       {} resource(s), fingerprint {}",
            drift.resource_count,
            if drift.fingerprint.is_empty() {
                "—"
            } else {
                &drift.fingerprint
            }
        ));
        for r in &drift.resources {
            lines.push(format!(
                "                {} {:?} [{}]",
                r.address,
                r.actions,
                r.changed_attributes.join(", ")
            ));
        }
    }
    if let Some(failure) = &record.failure {
        lines.push(format!(
            "  failure     {} at {}: {}",
            failure.error,
            failure.failed_state.as_deref().unwrap_or("?"),
            failure.cause
        ));
    }
    lines.join("\n")
}

/// Indents every line of a text.
pub fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
