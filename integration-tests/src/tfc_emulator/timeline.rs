//! A run's statuses over time, computed from its instants when read.
//!
//! The order follows the run states and stages page: pending (until the
//! workspace's earlier normal runs are final: a workspace applies one run at a
//! time; speculative plans do not queue), fetching (VCS workspaces), plan
//! queued (an agent workspace waits here for an agent), planning, then the
//! post-plan stages HCP Terraform runs in order: post-plan run tasks, cost
//! estimation, policy checks. A normal run with changes then rests, waiting
//! for confirmation, at the last status it reached (`planned`,
//! `post_plan_completed`, `cost_estimated` or `policy_checked`: only there is
//! it `is-confirmable`), or stops at `policy_override` (a failed
//! soft-mandatory policy waits for a person's override) or `errored` (a failed
//! hard-mandatory policy or mandatory run task). A plan-only run goes through
//! the same checks and ends `planned_and_finished`, or `policy_soft_failed`
//! (final). After a confirmation: confirmed, apply queued (Terraform
//! Enterprise may keep it there), applying, applied or errored. A discard or
//! cancel cuts the timeline where it happened.

use std::time::{Duration, Instant};

use super::{Outcome, Policy, QUEUE_STEP, Run, RunTask, State};

/// Statuses in which a run can be canceled (`actions.is-cancelable`).
pub const CANCELABLE: &[&str] = &[
    "pending",
    "fetching",
    "fetching_completed",
    "plan_queued",
    "planning",
    "post_plan_running",
    "cost_estimating",
    "policy_checking",
    "confirmed",
    "apply_queued",
    "applying",
];

/// The API's "discardable" run status group (and pending, which the discard
/// action's documents name): normal runs only.
pub const DISCARDABLE: &[&str] = &[
    "pending",
    "planned",
    "planned_and_saved",
    "cost_estimated",
    "policy_checked",
    "policy_override",
    "post_plan_running",
    "post_plan_completed",
];

/// Statuses a normal run with changes can rest in, waiting for confirmation.
const CONFIRMABLE_RESTS: &[&str] = &[
    "planned",
    "post_plan_completed",
    "cost_estimated",
    "policy_checked",
];

const FINAL: &[&str] = &[
    "applied",
    "errored",
    "canceled",
    "force_canceled",
    "discarded",
    "planned_and_finished",
    "policy_soft_failed",
];

/// What a run went through up to now.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Every status reached, with when; the last one is the current status.
    pub events: Vec<(&'static str, Instant)>,
    /// The run rests at its current status waiting for confirmation.
    pub confirmable: bool,
    /// Earlier normal runs still in the workspace's queue (pending runs).
    pub position_in_queue: Option<u32>,
    /// When planning started, once it did.
    pub planning_at: Option<Instant>,
    /// When the plan ended and how, once it ended.
    pub plan: Option<(Instant, Outcome)>,
    /// When applying started, once it did.
    pub applying_at: Option<Instant>,
}

impl Timeline {
    pub fn status(&self) -> &'static str {
        self.events.last().map_or("pending", |(s, _)| s)
    }

    /// When the run reached a final status, if it has.
    pub fn final_at(&self) -> Option<Instant> {
        self.events
            .last()
            .filter(|(s, _)| FINAL.contains(s))
            .map(|(_, at)| *at)
    }

    pub fn has_changes(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|(_, o)| o.ok && o.has_changes)
    }
}

/// Appends statuses while they lie before the horizon (now, or the run's
/// discard or cancel); `None` once one does not, which ends the timeline.
struct Builder {
    timeline: Timeline,
    horizon: Instant,
}

impl Builder {
    fn at(&mut self, status: &'static str, at: Instant) -> Option<()> {
        if at > self.horizon {
            return None;
        }
        self.timeline.events.push((status, at));
        Some(())
    }
}

impl State {
    /// The timeline of `run` as of `now`.
    pub(crate) fn timeline(&self, run: &Run, now: Instant) -> Timeline {
        let (queue_free, ahead) = self.queue_free(run, now);
        let mut timeline = self.timeline_with(run, queue_free, now);
        if timeline.status() == "pending" && ahead > 0 {
            timeline.position_in_queue = Some(ahead);
        }
        timeline
    }

    /// When the workspace's queue lets `run` start (`None`: not yet), and how
    /// many earlier normal runs are still in it. Plan-only runs do not queue.
    fn queue_free(&self, run: &Run, now: Instant) -> (Option<Instant>, u32) {
        if run.plan_only {
            return (Some(run.created), 0);
        }
        let mut finals: Vec<Option<Instant>> = Vec::new();
        for earlier in self
            .runs
            .iter()
            .take_while(|r| r.id != run.id)
            .filter(|r| r.workspace_id == run.workspace_id && !r.plan_only)
        {
            let free = combine(earlier.created, &finals);
            finals.push(self.timeline_with(earlier, free, now).final_at());
        }
        let ahead = finals.iter().filter(|f| f.is_none()).count() as u32;
        (combine(run.created, &finals), ahead)
    }

    fn timeline_with(&self, run: &Run, queue_free: Option<Instant>, now: Instant) -> Timeline {
        let stop = run
            .canceled_at
            .map(|at| ("canceled", at))
            .or(run.discarded_at.map(|at| ("discarded", at)))
            .filter(|(_, at)| *at <= now);
        let mut b = Builder {
            timeline: Timeline::default(),
            horizon: stop.map_or(now, |(_, at)| at),
        };
        b.timeline.events.push(("pending", run.created));
        let _ = progress(run, queue_free, &mut b);
        let mut timeline = b.timeline;
        if let Some((status, at)) = stop {
            timeline.confirmable = false;
            timeline.events.push((status, at));
        }
        timeline
    }
}

/// The latest of `start` and the earlier runs' final times; `None` while one
/// of them is not final.
fn combine(start: Instant, finals: &[Option<Instant>]) -> Option<Instant> {
    finals
        .iter()
        .try_fold(start, |latest, f| f.map(|at| latest.max(at)))
}

/// The statuses of one run, up to the builder's horizon.
fn progress(run: &Run, queue_free: Option<Instant>, b: &mut Builder) -> Option<()> {
    let stages = &run.stages;
    let mut t = (run.created + QUEUE_STEP).max(queue_free?);
    if !stages.fetch.is_zero() {
        b.at("fetching", t)?;
        t += stages.fetch;
        b.at("fetching_completed", t)?;
    }
    b.at("plan_queued", t)?;
    t += QUEUE_STEP + stages.agent_pickup.unwrap_or(Duration::ZERO);
    b.at("planning", t)?;
    b.timeline.planning_at = Some(t);
    let (finished, outcome) = run.plan.finished(t)?;
    let finished = finished.max(t);
    if finished > b.horizon {
        return None;
    }
    b.timeline.plan = Some((finished, outcome.clone()));
    if !outcome.ok {
        return b.at("errored", finished);
    }
    t = finished;
    if !run.plan_only && !outcome.has_changes {
        return b.at("planned_and_finished", t);
    }
    if !run.plan_only {
        b.at("planned", t)?;
    }
    // Post-plan run tasks, cost estimation, policy checks, in that order.
    // Each later stage starts a moment after the one before ends.
    if run.stages.post_plan_task != RunTask::None {
        t += QUEUE_STEP;
        b.at("post_plan_running", t)?;
        t += stages.stage;
        if run.stages.post_plan_task == RunTask::MandatoryFail {
            return b.at("errored", t);
        }
        b.at("post_plan_completed", t)?;
    }
    if stages.cost_estimation {
        t += QUEUE_STEP;
        b.at("cost_estimating", t)?;
        t += stages.stage;
        b.at("cost_estimated", t)?;
    }
    if stages.policy != Policy::None {
        t += QUEUE_STEP;
        b.at("policy_checking", t)?;
        t += stages.stage;
        match stages.policy {
            Policy::HardMandatoryFail => return b.at("errored", t),
            Policy::SoftMandatoryFail if run.plan_only => return b.at("policy_soft_failed", t),
            Policy::SoftMandatoryFail => return b.at("policy_override", t),
            // An advisory failure is a warning: the run goes on.
            Policy::AdvisoryFail | Policy::Pass | Policy::None => b.at("policy_checked", t)?,
        }
    }
    if run.plan_only {
        return b.at("planned_and_finished", t);
    }
    let resting = b.timeline.status();
    let confirm = if run.auto_apply {
        Some(t)
    } else {
        run.confirmed_at.map(|c| c.max(t))
    };
    match confirm.filter(|c| *c <= b.horizon) {
        None => {
            b.timeline.confirmable = CONFIRMABLE_RESTS.contains(&resting);
            None
        }
        Some(confirmed) => {
            b.at("confirmed", confirmed)?;
            t = confirmed + QUEUE_STEP;
            b.at("apply_queued", t)?;
            t += QUEUE_STEP + stages.apply_queue + stages.agent_pickup.unwrap_or(Duration::ZERO);
            b.at("applying", t)?;
            b.timeline.applying_at = Some(t);
            let (applied, outcome) = run.apply.finished(t)?;
            let applied = applied.max(t);
            b.at(if outcome.ok { "applied" } else { "errored" }, applied)
        }
    }
}
