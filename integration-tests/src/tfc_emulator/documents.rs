//! The JSON:API documents the emulator answers with, following the HCP
//! Terraform API documents' sample responses (kebab-case attributes,
//! `relationships.<name>.data`, `links.self`).

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::timeline::{CANCELABLE, DISCARDABLE};
use super::{Policy, Run, RunTask, State, TERRAFORM_VERSION, Workspace};

/// A JSON:API error document with one error object.
pub fn error(status: u16, title: &str, detail: Option<&str>) -> Value {
    let mut object = json!({ "status": status.to_string(), "title": title });
    if let Some(detail) = detail {
        object["detail"] = json!(detail);
    }
    json!({ "errors": [object] })
}

/// `GET /account/details`: the token's user.
pub fn account(user_id: &str) -> Value {
    let username = user_id.trim_start_matches("user-").to_ascii_lowercase();
    json!({
        "data": {
            "id": user_id,
            "type": "users",
            "attributes": {
                "username": username,
                "is-service-account": false,
                "auth-method": "tfc",
                "avatar-url": "https://www.gravatar.com/avatar/00000000000000000000000000000000?s=100&d=mm",
                "v2-only": false,
                "is-site-admin": false,
                "is-sso-login": false,
                "email": format!("{username}@example.com"),
                "unconfirmed-email": null,
                "permissions": {
                    "can-create-organizations": true,
                    "can-change-email": true,
                    "can-change-username": true
                }
            },
            "relationships": {
                "authentication-tokens": {
                    "links": { "related": format!("/api/v2/users/{user_id}/authentication-tokens") }
                },
                "authenticated-resource": {
                    "data": { "id": user_id, "type": "users" },
                    "links": { "related": format!("/api/v2/users/{user_id}") }
                }
            },
            "links": { "self": format!("/api/v2/users/{user_id}") }
        }
    })
}

pub fn workspace(state: &State, workspace: &Workspace) -> Value {
    let now = Instant::now();
    // The current run: the oldest normal run not final yet, else the newest run.
    let normal_open = state.runs.iter().find(|r| {
        r.workspace_id == workspace.id
            && !r.plan_only
            && state.timeline(r, now).final_at().is_none()
    });
    let current_run = normal_open.or_else(|| {
        state
            .runs
            .iter()
            .rev()
            .find(|r| r.workspace_id == workspace.id)
    });
    let latest = |run: Option<&Run>| match run {
        Some(run) => json!({ "data": { "id": run.id, "type": "runs" } }),
        None => json!({ "data": null }),
    };
    let locked = normal_open.is_some_and(|r| state.timeline(r, now).status() != "pending");
    let access = workspace.scenario.token_access;
    let execution_mode = if workspace.scenario.agent_pickup_seconds.is_some() {
        "agent"
    } else {
        "remote"
    };
    json!({
        "data": {
            "id": workspace.id,
            "type": "workspaces",
            "attributes": {
                "name": workspace.name,
                "allow-destroy-plan": true,
                "auto-apply": false,
                "auto-apply-run-trigger": false,
                "created-at": workspace.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "description": null,
                "environment": "default",
                "execution-mode": execution_mode,
                "file-triggers-enabled": true,
                "global-remote-state": false,
                "locked": locked,
                "operations": true,
                "queue-all-runs": false,
                "resource-count": 6,
                "source": "tfe-api",
                "speculative-enabled": true,
                "terraform-version": TERRAFORM_VERSION,
                "trigger-prefixes": [],
                "updated-at": workspace.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "vcs-repo": if workspace.scenario.vcs_fetch_seconds > 0.0 {
                    json!({"identifier": "acme/infrastructure", "branch": "main", "ingress-submodules": false})
                } else {
                    Value::Null
                },
                "working-directory": null,
                "permissions": {
                    "can-destroy": access >= super::Access::Admin,
                    "can-queue-apply": access >= super::Access::Write,
                    "can-queue-destroy": access >= super::Access::Admin,
                    "can-queue-run": access >= super::Access::Plan,
                    "can-read-settings": access >= super::Access::Admin,
                    "can-update": access >= super::Access::Admin,
                    "can-update-variable": access >= super::Access::Write
                },
                "actions": { "is-destroyable": true }
            },
            "relationships": {
                "organization": { "data": { "id": workspace.organization, "type": "organizations" } },
                "current-configuration-version": {
                    "data": { "id": workspace.current_configuration_version(), "type": "configuration-versions" },
                    "links": { "related": format!("/api/v2/configuration-versions/{}", workspace.current_configuration_version()) }
                },
                "current-run": latest(current_run),
                "latest-run": latest(current_run),
            },
            "links": {
                "self": format!("/api/v2/organizations/{}/workspaces/{}", workspace.organization, workspace.name),
                "self-html": format!("/app/{}/workspaces/{}", workspace.organization, workspace.name)
            }
        }
    })
}

/// The resource object of a run (`data` of `GET /runs/:id`).
pub fn run_resource(state: &State, run: &Run, now: Instant) -> Value {
    let timeline = state.timeline(run, now);
    let status = timeline.status();
    let mut timestamps = Map::new();
    for (reached, at) in &timeline.events {
        let key = match *reached {
            "pending" => "plan-queueable-at".to_string(),
            other => format!("{}-at", other.replace('_', "-")),
        };
        timestamps.insert(key, json!(state.rfc3339(*at)));
    }
    let canceled_at = run
        .canceled_at
        .filter(|at| *at <= now)
        .map(|at| state.rfc3339(at));
    let access = state
        .workspace_by_id(&run.workspace_id)
        .map_or(super::Access::Admin, |w| w.scenario.token_access);
    let policy_checks: Vec<Value> = if run.stages.policy != Policy::None {
        vec![json!({ "id": format!("polchk-{}", &run.id[4..]), "type": "policy-checks" })]
    } else {
        vec![]
    };
    let cost_estimate = if run.stages.cost_estimation {
        json!({ "id": format!("ce-{}", &run.id[4..]), "type": "cost-estimates" })
    } else {
        Value::Null
    };
    let task_stages: Vec<Value> = if run.stages.post_plan_task != RunTask::None {
        vec![json!({ "id": format!("ts-{}", &run.id[4..]), "type": "task-stages" })]
    } else {
        vec![]
    };
    json!({
        "id": run.id,
        "type": "runs",
        "attributes": {
            "actions": {
                "is-cancelable": CANCELABLE.contains(&status),
                "is-confirmable": timeline.confirmable,
                "is-discardable": !run.plan_only && DISCARDABLE.contains(&status),
                "is-force-cancelable": false
            },
            "allow-config-generation": false,
            "allow-empty-apply": false,
            "auto-apply": run.auto_apply,
            "canceled-at": canceled_at,
            "created-at": state.rfc3339(run.created),
            "has-changes": timeline.has_changes(),
            "is-destroy": false,
            "message": run.message,
            "plan-only": run.plan_only,
            "position-in-queue": timeline.position_in_queue.unwrap_or(0),
            "refresh": true,
            "refresh-only": run.refresh_only,
            "replace-addrs": null,
            "save-plan": false,
            "source": "tfe-api",
            "status-timestamps": timestamps,
            "status": status,
            "target-addrs": run.target_addrs,
            "trigger-reason": "manual",
            "terraform-version": TERRAFORM_VERSION,
            "permissions": {
                "can-apply": access >= super::Access::Write,
                "can-cancel": access >= super::Access::Write,
                "can-comment": access >= super::Access::Plan,
                "can-discard": access >= super::Access::Write,
                "can-force-execute": access >= super::Access::Write,
                "can-force-cancel": access >= super::Access::Admin,
                "can-override-policy-check": false
            },
            "variables": []
        },
        "relationships": {
            "workspace": { "data": { "id": run.workspace_id, "type": "workspaces" } },
            "apply": {
                "data": { "id": run.apply_id, "type": "applies" },
                "links": { "related": format!("/api/v2/runs/{}/apply", run.id) }
            },
            "configuration-version": {
                "data": { "id": run.configuration_version, "type": "configuration-versions" },
                "links": { "related": format!("/api/v2/runs/{}/configuration-version", run.id) }
            },
            "cost-estimate": {
                "data": cost_estimate,
                "links": { "related": format!("/api/v2/runs/{}/cost-estimate", run.id) }
            },
            "created-by": {
                "data": { "id": run.created_by, "type": "users" },
                "links": { "related": format!("/api/v2/runs/{}/created-by", run.id) }
            },
            "plan": {
                "data": { "id": run.plan_id, "type": "plans" },
                "links": { "related": format!("/api/v2/runs/{}/plan", run.id) }
            },
            "run-events": { "links": { "related": format!("/api/v2/runs/{}/run-events", run.id) } },
            "policy-checks": { "data": policy_checks, "links": { "related": format!("/api/v2/runs/{}/policy-checks", run.id) } },
            "task-stages": { "data": task_stages, "links": { "related": format!("/api/v2/runs/{}/task-stages", run.id) } },
            "comments": { "data": [], "links": { "related": format!("/api/v2/runs/{}/comments", run.id) } }
        },
        "links": { "self": format!("/api/v2/runs/{}", run.id) }
    })
}

pub fn run(state: &State, run: &Run) -> Value {
    json!({ "data": run_resource(state, run, Instant::now()) })
}

/// The operation of a run, as `filter[operation]` names it.
pub fn operation(run: &Run) -> &'static str {
    if run.plan_only {
        "plan_only"
    } else if run.refresh_only {
        "refresh_only"
    } else {
        "plan_and_apply"
    }
}

/// `GET /workspaces/:id/runs`: newest first, paginated. Runs whose operation
/// is not in `operations` are left out (by default `plan_only` runs, as the
/// API documents); `search` keeps runs whose message or id contains it.
pub fn run_list(
    state: &State,
    workspace_id: &str,
    page_number: usize,
    page_size: usize,
    operations: &[String],
    search: Option<&str>,
) -> Value {
    let now = Instant::now();
    let search = search.map(str::to_lowercase);
    let runs: Vec<&Run> = state
        .runs
        .iter()
        .rev()
        .filter(|r| r.workspace_id == workspace_id)
        .filter(|r| operations.iter().any(|o| o == operation(r)))
        .filter(|r| {
            search.as_deref().is_none_or(|term| {
                r.message.to_lowercase().contains(term) || r.id.to_lowercase() == term
            })
        })
        .collect();
    let total = runs.len();
    let total_pages = total.div_ceil(page_size).max(1);
    let data: Vec<Value> = runs
        .iter()
        .skip((page_number - 1) * page_size)
        .take(page_size)
        .map(|r| run_resource(state, r, now))
        .collect();
    let page_link = |n: usize| {
        format!(
            "/api/v2/workspaces/{workspace_id}/runs?page%5Bnumber%5D={n}&page%5Bsize%5D={page_size}"
        )
    };
    let prev = (page_number > 1).then(|| page_number - 1);
    let next = (page_number < total_pages).then(|| page_number + 1);
    json!({
        "data": data,
        "links": {
            "self": page_link(page_number),
            "first": page_link(1),
            "prev": prev.map(page_link),
            "next": next.map(page_link),
            "last": page_link(total_pages)
        },
        "meta": {
            "pagination": {
                "current-page": page_number,
                "page-size": page_size,
                "prev-page": prev,
                "next-page": next,
                "total-pages": total_pages,
                "total-count": total
            }
        }
    })
}

/// `GET /plans/:id`. `log_read_url` is a signed link to the plan's log.
pub fn plan(state: &State, run: &Run, log_read_url: &str) -> Value {
    let now = Instant::now();
    let timeline = state.timeline(run, now);
    let run_status = timeline.status();
    let finished = timeline.plan.as_ref();
    let status = match (run_status, finished) {
        ("pending", _) => "pending",
        ("fetching" | "fetching_completed" | "plan_queued", _) => "queued",
        ("planning", _) => "running",
        (_, Some((_, outcome))) if !outcome.ok => "errored",
        (_, Some(_)) => "finished",
        ("canceled", None) => "canceled",
        (_, None) => "unreachable",
    };
    let mut timestamps = Map::new();
    timestamps.insert("queued-at".into(), json!(state.rfc3339(run.created)));
    if run_status != "pending" {
        timestamps.insert(
            "pending-at".into(),
            json!(state.rfc3339(run.created + super::QUEUE_STEP)),
        );
    }
    if let Some(started) = timeline.planning_at {
        timestamps.insert("started-at".into(), json!(state.rfc3339(started)));
    }
    match (status, finished) {
        ("finished", Some((at, _))) => {
            timestamps.insert("finished-at".into(), json!(state.rfc3339(*at)));
        }
        ("errored", Some((at, _))) => {
            timestamps.insert("errored-at".into(), json!(state.rfc3339(*at)));
        }
        ("canceled", _) => {
            if let Some(at) = run.canceled_at {
                timestamps.insert("canceled-at".into(), json!(state.rfc3339(at)));
            }
        }
        _ => {}
    }
    let (additions, changes, destructions) = match finished.and_then(|(_, o)| o.json.as_ref()) {
        Some(json) if status == "finished" => super::plan_json::counts(json),
        _ => (0, 0, 0),
    };
    let execution_details = if run.stages.agent_pickup.is_some() {
        json!({
            "mode": "agent",
            "agent-id": "agent-S1Y7tcKxXPJDQAvq",
            "agent-name": "agent_01",
            "agent-pool-id": "apool-Zigq2VGreKq7nwph",
            "agent-pool-name": "private-network"
        })
    } else {
        json!({ "mode": "remote" })
    };
    json!({
        "data": {
            "id": run.plan_id,
            "type": "plans",
            "attributes": {
                "execution-details": execution_details,
                "generated-configuration": false,
                "has-changes": status == "finished" && timeline.has_changes(),
                "resource-additions": additions,
                "resource-changes": changes,
                "resource-destructions": destructions,
                "resource-imports": 0,
                "status": status,
                "status-timestamps": timestamps,
                "log-read-url": log_read_url
            },
            "relationships": {
                "state-versions": { "data": [] }
            },
            "links": {
                "self": format!("/api/v2/plans/{}", run.plan_id),
                "json-output": format!("/api/v2/plans/{}/json-output", run.plan_id)
            }
        }
    })
}
