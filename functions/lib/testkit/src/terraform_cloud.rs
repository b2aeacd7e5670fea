//! An in-memory [`TerraformCloud`] for tests of the steps.
//!
//! - Workspaces are added with [`InMemoryTerraformCloud::add_workspace`].
//! - Created runs get ids `run-fake-1`, `run-fake-2`, … and plan ids
//!   `plan-fake-1`, …; they start `pending`.
//! - A run's status follows a script: each `read_run` takes the next status
//!   (the last one stays). Script a run by id ([`script_run`]) or script the
//!   next created runs ([`script_next_run`]). The `actions` flags follow the
//!   status as the API sets them: a normal run is confirmable only where it
//!   rests, i.e. at the last status of its script when that status awaits
//!   confirmation (`planned` followed by `cost_estimating` is a passing status).
//! - Apply, discard and cancel answer as the API's 409 does when the run's
//!   flags do not allow them (an action already done is fine).
//! - [`set_plan_log`] gives a plan a log (what an errored plan says).
//! - Plan JSON is set per plan id; [`set_plan_not_ready`] makes `plan_json`
//!   answer `None` (HCP Terraform's 204) a number of times first.
//! - Created runs and run actions are recorded for assertions.
//! - [`fail_next`] makes the next N calls (of any method) fail with an error.
//!
//! [`script_run`]: InMemoryTerraformCloud::script_run
//! [`script_next_run`]: InMemoryTerraformCloud::script_next_run
//! [`set_plan_not_ready`]: InMemoryTerraformCloud::set_plan_not_ready
//! [`fail_next`]: InMemoryTerraformCloud::fail_next
//! [`set_plan_log`]: InMemoryTerraformCloud::set_plan_log

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde_json::Value;

use driftguard_core::error::{Error, Result};
use driftguard_core::model::CheckRef;
use driftguard_core::ports::{PlanJsonStream, RunSpec, TerraformCloud, TfcRun, TfcWorkspace};
use driftguard_core::tfc::{RunAction, status};

/// A run action a test can assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAction {
    pub run_id: String,
    pub action: RunAction,
    pub comment: String,
}

#[derive(Debug, Default)]
struct PlanScript {
    not_ready: usize,
    json: Option<Value>,
    log: Option<String>,
}

/// Statuses a normal run can rest in, waiting for confirmation.
const CONFIRMABLE_WHEN_RESTING: &[&str] = &[
    "planned",
    "cost_estimated",
    "policy_checked",
    "post_plan_completed",
    "planned_and_saved",
];
/// The API's "discardable" status group, and pending.
const DISCARDABLE: &[&str] = &[
    "pending",
    "planned",
    "planned_and_saved",
    "cost_estimated",
    "policy_checked",
    "policy_override",
    "post_plan_running",
    "post_plan_completed",
    "post_plan_awaiting_decision",
];

/// A new pending run of `workspace_id` queued by `user`, planning the
/// workspace's current configuration version.
fn new_run(state: &mut State, user: &str, workspace_id: &str, spec: &RunSpec) -> TfcRun {
    state.next_id += 1;
    let number = state.next_id;
    let configuration_version_id = state
        .workspaces
        .iter()
        .find(|w| w.id == workspace_id)
        .and_then(|w| w.current_configuration_version_id.clone());
    let mut run = TfcRun {
        id: format!("run-fake-{number}"),
        status: "pending".to_string(),
        message: spec.message.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        has_changes: None,
        plan_only: spec.plan_only,
        plan_id: Some(format!("plan-fake-{number}")),
        workspace_id: Some(workspace_id.to_string()),
        target_addrs: spec.target_addrs.clone(),
        is_confirmable: false,
        is_discardable: false,
        is_cancelable: true,
        position_in_queue: None,
        status_changed_at: None,
        created_by: Some(user.to_string()),
        configuration_version_id,
    };
    set_actions(&mut run, false);
    run
}

/// Sets the run's `actions` flags for its status, as the API does.
fn set_actions(run: &mut TfcRun, resting: bool) {
    let s = run.status.as_str();
    run.is_confirmable = !run.plan_only && resting && CONFIRMABLE_WHEN_RESTING.contains(&s);
    run.is_discardable = !run.plan_only && DISCARDABLE.contains(&s);
    run.is_cancelable = !status::is_final(s)
        && !matches!(s, "policy_override" | "post_plan_awaiting_decision")
        && !(run.is_confirmable);
}

#[derive(Debug, Default)]
struct State {
    workspaces: Vec<TfcWorkspace>,
    /// In creation order.
    runs: Vec<TfcRun>,
    scripts: HashMap<String, VecDeque<String>>,
    next_run_scripts: VecDeque<Vec<String>>,
    plans: HashMap<String, PlanScript>,
    created: Vec<(String, RunSpec)>,
    actions: Vec<RecordedAction>,
    failures: VecDeque<Error>,
    next_id: u64,
    run_list_reads: usize,
    account_reads: usize,
    /// The token's user; [`DEFAULT_TOKEN_USER`] unless set.
    token_user: Option<String>,
}

/// The user the fake's token belongs to, unless [`InMemoryTerraformCloud::set_token_user`] says otherwise.
pub const DEFAULT_TOKEN_USER: &str = "user-DriftGuard";

impl State {
    fn token_user(&self) -> &str {
        self.token_user.as_deref().unwrap_or(DEFAULT_TOKEN_USER)
    }
}

/// In-memory HCP Terraform. Cheap to build; share it with `Arc`.
#[derive(Debug)]
pub struct InMemoryTerraformCloud {
    address: String,
    state: Mutex<State>,
}

impl Default for InMemoryTerraformCloud {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryTerraformCloud {
    pub fn new() -> Self {
        Self {
            address: driftguard_core::config::DEFAULT_TFC_ADDRESS.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a workspace (id `ws-<name>`) and returns it.
    pub fn add_workspace(&self, organization: &str, name: &str) -> TfcWorkspace {
        let workspace = TfcWorkspace {
            id: format!("ws-{name}"),
            name: name.to_string(),
            organization: organization.to_string(),
            execution_mode: Some("remote".to_string()),
            current_configuration_version_id: Some(format!("cv-{name}")),
        };
        self.state().workspaces.push(workspace.clone());
        workspace
    }

    /// Adds an existing run (e.g. one a previous attempt created, or one
    /// somebody else queued: set its `created_by`).
    pub fn add_run(&self, run: TfcRun) {
        self.state().runs.push(run);
    }

    /// Queues a run as another user of the workspace would (`created_by`
    /// that user; the workspace's current configuration version), e.g. one
    /// with DriftGuard's tag planted in its message. Returns it.
    pub fn queue_run_as(&self, user: &str, workspace_id: &str, spec: &RunSpec) -> TfcRun {
        let mut state = self.state();
        let run = new_run(&mut state, user, workspace_id, spec);
        state.runs.push(run.clone());
        run
    }

    /// The token belongs to `user` from now on.
    pub fn set_token_user(&self, user: &str) {
        self.state().token_user = Some(user.to_string());
    }

    /// A new configuration version becomes the workspace's current one
    /// (runs created from now on plan it). Returns its id.
    pub fn push_configuration(&self, workspace_id: &str) -> Option<String> {
        let mut state = self.state();
        state.next_id += 1;
        let id = format!("cv-fake-{}", state.next_id);
        let workspace = state.workspaces.iter_mut().find(|w| w.id == workspace_id)?;
        workspace.current_configuration_version_id = Some(id.clone());
        Some(id)
    }

    /// How many times the token's user was read (`GET /account/details`).
    pub fn account_reads(&self) -> usize {
        self.state().account_reads
    }

    /// The statuses the next `read_run`s of `run_id` return, one per read.
    pub fn script_run(&self, run_id: &str, statuses: &[&str]) {
        let script = statuses.iter().map(|s| s.to_string()).collect();
        self.state().scripts.insert(run_id.to_string(), script);
    }

    /// The status script of the next run created (scripts queue up, one per run).
    pub fn script_next_run(&self, statuses: &[&str]) {
        let script = statuses.iter().map(|s| s.to_string()).collect();
        self.state().next_run_scripts.push_back(script);
    }

    /// The plan JSON `plan_json(plan_id)` returns.
    pub fn set_plan_json(&self, plan_id: &str, json: Value) {
        self.state()
            .plans
            .entry(plan_id.to_string())
            .or_default()
            .json = Some(json);
    }

    /// The log `plan_log_tail(plan_id, …)` reads.
    pub fn set_plan_log(&self, plan_id: &str, log: &str) {
        self.state()
            .plans
            .entry(plan_id.to_string())
            .or_default()
            .log = Some(log.to_string());
    }

    /// `plan_json(plan_id)` answers `None` (not ready) this many times first.
    pub fn set_plan_not_ready(&self, plan_id: &str, times: usize) {
        self.state()
            .plans
            .entry(plan_id.to_string())
            .or_default()
            .not_ready = times;
    }

    /// Changes a stored run (status, has_changes, created_at…). False if unknown.
    pub fn update_run(&self, run_id: &str, change: impl FnOnce(&mut TfcRun)) -> bool {
        match self.state().runs.iter_mut().find(|r| r.id == run_id) {
            Some(run) => {
                change(run);
                true
            }
            None => false,
        }
    }

    /// The next `calls` calls of any method fail with `error`.
    pub fn fail_next(&self, calls: usize, error: Error) {
        let mut state = self.state();
        state.failures.extend(std::iter::repeat_n(error, calls));
    }

    /// A stored run as it is now, without advancing its script.
    pub fn run(&self, run_id: &str) -> Option<TfcRun> {
        self.state().runs.iter().find(|r| r.id == run_id).cloned()
    }

    /// Every `create_run` call: (workspace id, spec).
    pub fn created_runs(&self) -> Vec<(String, RunSpec)> {
        self.state().created.clone()
    }

    /// How many times the runs list was read (`find_run_by_tag`): the API
    /// allows 30 per minute.
    pub fn run_list_reads(&self) -> usize {
        self.state().run_list_reads
    }

    /// Every apply, discard and cancel, in order.
    pub fn actions(&self) -> Vec<RecordedAction> {
        self.state().actions.clone()
    }

    fn take_failure(&self) -> Result<()> {
        match self.state().failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn act(&self, run_id: &str, action: RunAction, comment: &str) -> Result<()> {
        self.take_failure()?;
        let mut state = self.state();
        let run = state
            .runs
            .iter_mut()
            .find(|r| r.id == run_id)
            .ok_or_else(|| not_found_run(run_id))?;
        let allowed = match action {
            RunAction::Apply => run.is_confirmable,
            RunAction::Discard => run.is_discardable,
            RunAction::Cancel => run.is_cancelable,
        };
        if !allowed {
            // What the real client makes of the API's 409.
            if action.is_settled_by(run) {
                return Ok(());
            }
            return Err(Error::TfcProtocol(format!(
                "cannot {action} run {run_id}: it is '{}' (409 transition not allowed)",
                run.status
            )));
        }
        // The status right after HCP Terraform accepts the action; a script
        // (for apply) takes over on the next reads.
        run.status = match action {
            RunAction::Apply => "confirmed",
            RunAction::Discard => "discarded",
            RunAction::Cancel => "canceled",
        }
        .to_string();
        set_actions(run, true);
        if action != RunAction::Apply {
            state.scripts.remove(run_id);
        }
        state.actions.push(RecordedAction {
            run_id: run_id.to_string(),
            action,
            comment: comment.to_string(),
        });
        Ok(())
    }
}

fn not_found_run(run_id: &str) -> Error {
    Error::TfcNotFound {
        what: format!("run {run_id}"),
    }
}

#[async_trait]
impl TerraformCloud for InMemoryTerraformCloud {
    async fn workspace(&self, check: &CheckRef) -> Result<TfcWorkspace> {
        self.take_failure()?;
        self.state()
            .workspaces
            .iter()
            .find(|w| w.organization == check.organization && w.name == check.workspace)
            .cloned()
            .ok_or_else(|| Error::TfcNotFound {
                what: format!("workspace '{check}'"),
            })
    }

    async fn find_runs_by_tag(&self, workspace_id: &str, tag: &str) -> Result<Vec<TfcRun>> {
        self.take_failure()?;
        let mut state = self.state();
        state.run_list_reads += 1;
        Ok(state
            .runs
            .iter()
            .rev()
            .filter(|r| r.workspace_id.as_deref() == Some(workspace_id) && r.message.contains(tag))
            .cloned()
            .collect())
    }

    async fn token_user(&self) -> Result<String> {
        self.take_failure()?;
        let mut state = self.state();
        state.account_reads += 1;
        Ok(state.token_user().to_string())
    }

    async fn create_run(&self, workspace_id: &str, spec: &RunSpec) -> Result<TfcRun> {
        self.take_failure()?;
        let mut state = self.state();
        if !state.workspaces.iter().any(|w| w.id == workspace_id) {
            return Err(Error::TfcNotFound {
                what: format!("workspace '{workspace_id}'"),
            });
        }
        let token_user = state.token_user().to_string();
        let run = new_run(&mut state, &token_user, workspace_id, spec);
        if let Some(script) = state.next_run_scripts.pop_front() {
            state.scripts.insert(run.id.clone(), script.into());
        }
        state.created.push((workspace_id.to_string(), spec.clone()));
        state.runs.push(run.clone());
        Ok(run)
    }

    async fn read_run(&self, run_id: &str) -> Result<TfcRun> {
        self.take_failure()?;
        let mut state = self.state();
        let next_status = match state.scripts.get_mut(run_id) {
            // The last status of a script stays: the run rests there.
            Some(script) if script.len() > 1 => script.pop_front().map(|s| (s, false)),
            Some(script) => script.front().cloned().map(|s| (s, true)),
            None => None,
        };
        let run = state
            .runs
            .iter_mut()
            .find(|r| r.id == run_id)
            .ok_or_else(|| not_found_run(run_id))?;
        if let Some((status, resting)) = next_status {
            run.status = status;
            set_actions(run, resting);
        }
        Ok(run.clone())
    }

    async fn plan_json_stream(&self, plan_id: &str) -> Result<Option<PlanJsonStream>> {
        self.take_failure()?;
        let mut state = self.state();
        if let Some(plan) = state.plans.get_mut(plan_id) {
            if plan.not_ready > 0 {
                plan.not_ready -= 1;
                return Ok(None);
            }
            // Small chunks, so tests go through the same streaming as a download.
            return Ok(plan.json.as_ref().map(|json| {
                driftguard_core::plan::memory_stream(json.to_string().into_bytes(), 4096)
            }));
        }
        // A plan of a known run without JSON yet is simply not ready.
        if state
            .runs
            .iter()
            .any(|r| r.plan_id.as_deref() == Some(plan_id))
        {
            return Ok(None);
        }
        Err(Error::TfcNotFound {
            what: format!("plan {plan_id}"),
        })
    }

    async fn plan_log_tail(&self, plan_id: &str, lines: usize) -> Result<Option<String>> {
        self.take_failure()?;
        let state = self.state();
        Ok(state
            .plans
            .get(plan_id)
            .and_then(|p| p.log.as_deref())
            .map(|log| driftguard_core::tfc::log_tail(log.as_bytes(), lines)))
    }

    async fn apply_run(&self, run_id: &str, comment: &str) -> Result<()> {
        self.act(run_id, RunAction::Apply, comment)
    }

    async fn discard_run(&self, run_id: &str, comment: &str) -> Result<()> {
        self.act(run_id, RunAction::Discard, comment)
    }

    async fn cancel_run(&self, run_id: &str, comment: &str) -> Result<()> {
        self.act(run_id, RunAction::Cancel, comment)
    }

    fn run_url(&self, check: &CheckRef, run_id: &str) -> String {
        format!(
            "{}/app/{}/workspaces/{}/runs/{run_id}",
            self.address, check.organization, check.workspace
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check() -> CheckRef {
        CheckRef {
            organization: "acme".into(),
            workspace: "prod".into(),
        }
    }

    fn spec(message: &str, plan_only: bool) -> RunSpec {
        RunSpec {
            message: message.into(),
            plan_only,
            target_addrs: vec![],
        }
    }

    #[tokio::test]
    async fn scripted_run_advances_one_status_per_read_and_keeps_the_last() {
        let tfc = InMemoryTerraformCloud::new();
        let ws = tfc.add_workspace("acme", "prod");
        tfc.script_next_run(&["planning", "planned_and_finished"]);
        let run = tfc
            .create_run(&ws.id, &spec("drift [dg:e1]", true))
            .await
            .unwrap();
        assert_eq!(run.status, "pending");
        assert_eq!(tfc.read_run(&run.id).await.unwrap().status, "planning");
        assert_eq!(
            tfc.read_run(&run.id).await.unwrap().status,
            "planned_and_finished"
        );
        assert_eq!(
            tfc.read_run(&run.id).await.unwrap().status,
            "planned_and_finished"
        );
    }

    #[tokio::test]
    async fn finds_the_newest_run_with_the_tag() {
        let tfc = InMemoryTerraformCloud::new();
        let ws = tfc.add_workspace("acme", "prod");
        tfc.create_run(&ws.id, &spec("first [dg:e1]", true))
            .await
            .unwrap();
        let second = tfc
            .create_run(&ws.id, &spec("second [dg:e1]", true))
            .await
            .unwrap();
        tfc.create_run(&ws.id, &spec("other [dg:e2]", true))
            .await
            .unwrap();
        let found = tfc
            .find_run_by_tag(&ws.id, "[dg:e1]")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, second.id);
        assert!(
            tfc.find_run_by_tag(&ws.id, "[dg:e3]")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(tfc.created_runs().len(), 3);
    }

    #[tokio::test]
    async fn plan_json_is_not_ready_the_given_number_of_times() {
        let tfc = InMemoryTerraformCloud::new();
        let ws = tfc.add_workspace("acme", "prod");
        let run = tfc.create_run(&ws.id, &spec("m", true)).await.unwrap();
        let plan_id = run.plan_id.unwrap();
        assert_eq!(tfc.plan_json(&plan_id).await.unwrap(), None);
        tfc.set_plan_json(&plan_id, json!({"format_version": "1.2"}));
        tfc.set_plan_not_ready(&plan_id, 1);
        assert_eq!(tfc.plan_json(&plan_id).await.unwrap(), None);
        assert_eq!(
            tfc.plan_json(&plan_id).await.unwrap(),
            Some(json!({"format_version": "1.2"}))
        );
        assert!(matches!(
            tfc.plan_json("plan-nope").await,
            Err(Error::TfcNotFound { .. })
        ));
    }

    #[tokio::test]
    async fn records_actions_and_refuses_to_apply_a_plan_only_run() {
        let tfc = InMemoryTerraformCloud::new();
        let ws = tfc.add_workspace("acme", "prod");
        tfc.script_next_run(&["planning", "planned"]);
        let normal = tfc.create_run(&ws.id, &spec("fix", false)).await.unwrap();
        let speculative = tfc.create_run(&ws.id, &spec("drift", true)).await.unwrap();
        let err = tfc.apply_run(&normal.id, "too early").await.unwrap_err();
        assert_eq!(err.error_type(), "TfcProtocol");
        let planning = tfc.read_run(&normal.id).await.unwrap();
        assert!(!planning.is_confirmable && planning.is_cancelable);
        let rested = tfc.read_run(&normal.id).await.unwrap();
        assert!(rested.is_confirmable, "{rested:?}");
        tfc.apply_run(&normal.id, "apply it").await.unwrap();
        tfc.cancel_run(&speculative.id, "too slow").await.unwrap();
        assert_eq!(tfc.run(&speculative.id).unwrap().status, "canceled");
        assert_eq!(
            tfc.actions(),
            vec![
                RecordedAction {
                    run_id: normal.id.clone(),
                    action: RunAction::Apply,
                    comment: "apply it".into()
                },
                RecordedAction {
                    run_id: speculative.id.clone(),
                    action: RunAction::Cancel,
                    comment: "too slow".into()
                },
            ]
        );
        let err = tfc.apply_run(&speculative.id, "no").await.unwrap_err();
        assert_eq!(err.error_type(), "TfcProtocol");
    }

    #[tokio::test]
    async fn fails_the_next_calls_then_recovers() {
        let tfc = InMemoryTerraformCloud::new();
        tfc.add_workspace("acme", "prod");
        tfc.fail_next(2, Error::TfcUnavailable("503".into()));
        assert!(matches!(
            tfc.workspace(&check()).await,
            Err(Error::TfcUnavailable(_))
        ));
        assert!(matches!(
            tfc.workspace(&check()).await,
            Err(Error::TfcUnavailable(_))
        ));
        assert_eq!(tfc.workspace(&check()).await.unwrap().id, "ws-prod");
    }

    #[tokio::test]
    async fn unknown_workspace_and_run_are_not_found() {
        let tfc = InMemoryTerraformCloud::new();
        assert!(matches!(
            tfc.workspace(&check()).await,
            Err(Error::TfcNotFound { .. })
        ));
        assert!(matches!(
            tfc.read_run("run-x").await,
            Err(Error::TfcNotFound { .. })
        ));
        assert_eq!(
            tfc.run_url(&check(), "run-1"),
            "https://app.terraform.io/app/acme/workspaces/prod/runs/run-1"
        );
    }
}
