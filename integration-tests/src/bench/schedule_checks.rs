//! Part 7 on the stack: the same checks under the fixed and the learned poll
//! schedule, side by side in one run. Each check's plan duration is drawn
//! around a typical duration; the same duration runs twice, in two
//! workspaces: one without history (the fixed schedule, and a workspace
//! lookup) and one whose history holds ten recent plans of the same spread
//! and its workspace id (the learned schedule). Everything else is the real
//! stack: the state machine, the Lambdas, the HCP Terraform emulator.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::checks::{self, CheckFigures};
use super::schedule;
use crate::history_seed::{PastCheck, seed_history};
use crate::tfc_emulator::Scenario;
use crate::{LocalStack, WorkspaceSpec};

/// Which schedule a workspace's check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Fixed,
    Learned,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Fixed => "fixed",
            Side::Learned => "learned",
        }
    }
}

/// One planned check: its workspace, the plan it will take, and its side.
#[derive(Debug, Clone)]
pub struct PlannedCheck {
    pub typical_seconds: u64,
    pub plan_seconds: u64,
    pub side: Side,
    pub workspace: String,
    pub account: String,
    /// The learned side's seeded history (plan seconds, newest first).
    pub history: Vec<u64>,
}

/// What one check measured.
#[derive(Debug, Clone)]
pub struct MeasuredCheck {
    pub planned: PlannedCheck,
    pub figures: CheckFigures,
    /// Plan ended (the emulator's clock) → summarize-drift invoked (the gateway's).
    pub lag_seconds: Option<f64>,
}

/// Plans drawn per typical duration: the same seed, the same plans.
///
/// Durations follow the simulation's log-normal spread (σ = 0.15); its slow
/// tail (one plan in 20 slowed 1.5–3×) is left to the 2,000 simulated
/// checks, because a handful of checks on the stack would rarely draw one
/// and a drawn one would stretch the run by up to half an hour.
pub fn plan(typicals: &[u64], per_typical: usize, seed: u64) -> Vec<PlannedCheck> {
    fastrand::seed(seed);
    let mut out = Vec::new();
    for &typical in typicals {
        for i in 0..per_typical {
            let t = typical as f64;
            let plan_seconds = schedule::plan_duration(t).clamp(0.7 * t, 1.4 * t).round() as u64;
            // The history keeps the slow tail: a workspace's past has its slow plans.
            let history: Vec<u64> = (0..schedule::HISTORY)
                .map(|_| schedule::plan_duration(t).round().max(1.0) as u64)
                .collect();
            for side in [Side::Fixed, Side::Learned] {
                let n = out.len();
                out.push(PlannedCheck {
                    typical_seconds: typical,
                    plan_seconds,
                    side,
                    workspace: format!("sched-{}-{typical}s-{i}", side.label()),
                    account: format!("32{n:010}"),
                    history: if side == Side::Learned {
                        history.clone()
                    } else {
                        vec![]
                    },
                });
            }
        }
    }
    out
}

/// The workspaces the checks use, each with its drawn plan duration.
pub fn workspace_specs(checks: &[PlannedCheck]) -> Vec<WorkspaceSpec> {
    checks
        .iter()
        .map(|c| {
            WorkspaceSpec::new(checks::ORG, &c.workspace)
                .accounts(&[&c.account])
                .scenario(Scenario {
                    plan_seconds: c.plan_seconds as f64,
                    ..Scenario::default()
                })
        })
        .collect()
}

/// Seeds the learned workspaces' history, then runs every check at once.
pub async fn run_all(
    stack: Arc<LocalStack>,
    planned: Vec<PlannedCheck>,
) -> Vec<(PlannedCheck, Result<MeasuredCheck>)> {
    let mut handles = Vec::new();
    for (i, check) in planned.into_iter().enumerate() {
        let stack = stack.clone();
        handles.push((
            check.clone(),
            tokio::spawn(async move {
                if check.side == Side::Learned {
                    let past: Vec<PastCheck> =
                        check.history.iter().map(|&s| PastCheck::plan(s)).collect();
                    seed_history(&stack, checks::ORG, &check.workspace, &past).await?;
                }
                // Events 0.7 s apart: the checks' requests do not all start together.
                tokio::time::sleep(Duration::from_millis(700 * i as u64)).await;
                measure(&stack, check, i).await
            }),
        ));
    }
    let mut out = Vec::new();
    for (check, h) in handles {
        let r = match h.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("task failed: {e}")),
        };
        match &r {
            Ok(m) => eprintln!(
                "[bench] part 7: {} {} s plan: {} polls, {} transitions, lag {:?}",
                check.side.label(),
                check.plan_seconds,
                m.figures.polls,
                m.figures.transitions,
                m.lag_seconds,
            ),
            Err(e) => eprintln!(
                "[bench] part 7: {} {}: {e:#}",
                check.side.label(),
                check.workspace
            ),
        }
        out.push((check, r));
    }
    out
}

async fn measure(stack: &LocalStack, check: PlannedCheck, index: usize) -> Result<MeasuredCheck> {
    let group = format!("sg-0d{index:015x}");
    let figures = checks::run_check_in(
        stack,
        &check.workspace,
        &check.account,
        &group,
        check.plan_seconds,
    )
    .await
    .with_context(|| format!("{} check of {}", check.side.label(), check.workspace))?;
    let plan_ended = stack
        .tfc
        .runs(checks::ORG, &check.workspace)
        .into_iter()
        .filter(|r| r.plan_only)
        .find_map(|r| r.plan_ended);
    // When summarize-drift was invoked, from the gateway's clock (the same
    // process as the emulator's): moto's history timestamps do not count
    // the time its Task states spend in the Lambda.
    let summarize = stack
        .gateway
        .invocations()
        .into_iter()
        .filter(|inv| inv.binary == "summarize-drift")
        .find(|inv| checks::payload_workspace(&inv.payload) == Some(check.workspace.as_str()))
        .map(|inv| inv.started);
    let lag_seconds = plan_ended.zip(summarize).map(|(ended, invoked)| {
        if invoked >= ended {
            (invoked - ended).as_secs_f64()
        } else {
            -(ended - invoked).as_secs_f64()
        }
    });
    Ok(MeasuredCheck {
        planned: check,
        figures,
        lag_seconds,
    })
}

/// One row of the measured table: a typical duration and a side.
#[derive(Debug, Clone, Default)]
pub struct SideFigures {
    pub checks: usize,
    pub plans: Vec<u64>,
    pub polls: f64,
    pub at_most_3_polls: usize,
    pub transitions: f64,
    pub invocations: f64,
    pub api_requests: f64,
    pub lags: Vec<f64>,
    pub lag_within_goal: usize,
    pub gb_s: f64,
}

/// Averages the measured checks of one typical duration and side. `gb_s` of
/// a check: its invocations at the release p50 handler times when part 1
/// measured them, else the simulation's figures.
pub fn summarize(
    measured: &[&MeasuredCheck],
    p50_ms: Option<&std::collections::BTreeMap<String, f64>>,
) -> SideFigures {
    let n = measured.len().max(1) as f64;
    let mut f = SideFigures {
        checks: measured.len(),
        ..Default::default()
    };
    for m in measured {
        let c = &m.figures;
        f.plans.push(m.planned.plan_seconds);
        f.polls += c.polls as f64 / n;
        f.at_most_3_polls += usize::from(c.polls <= 3);
        f.transitions += c.transitions as f64 / n;
        f.invocations += c.invocations_total() as f64 / n;
        f.api_requests += c.tfc_api_requests as f64 / n;
        let gb = p50_ms
            .and_then(|p| c.gb_s_release(p))
            .unwrap_or(schedule::FIXED_GB_S + schedule::GB_S_PER_POLL * c.polls as f64);
        f.gb_s += gb / n;
        if let Some(lag) = m.lag_seconds {
            f.lags.push(lag);
            if lag <= (0.1 * m.planned.plan_seconds as f64).max(5.0) {
                f.lag_within_goal += 1;
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_get_the_same_plans_and_only_the_learned_one_a_history() {
        let planned = plan(&[30, 120], 2, 5);
        assert_eq!(planned.len(), 8);
        for pair in planned.chunks(2) {
            assert_eq!(pair[0].plan_seconds, pair[1].plan_seconds);
            assert_eq!((pair[0].side, pair[1].side), (Side::Fixed, Side::Learned));
            assert!(pair[0].history.is_empty());
            assert_eq!(pair[1].history.len(), schedule::HISTORY);
            let t = pair[0].typical_seconds as f64;
            assert!((0.7 * t..=1.4 * t).contains(&(pair[0].plan_seconds as f64)));
        }
        let accounts: std::collections::BTreeSet<_> = planned.iter().map(|c| &c.account).collect();
        assert_eq!(
            accounts.len(),
            planned.len(),
            "each workspace has its own account"
        );
        assert_eq!(
            plan(&[30, 120], 2, 5)[3].plan_seconds,
            planned[3].plan_seconds
        );
    }
}
