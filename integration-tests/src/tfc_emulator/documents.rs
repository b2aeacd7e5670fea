//! The JSON:API documents the emulator answers with, following the HCP
//! Terraform API documents' sample responses (kebab-case attributes,
//! `relationships.<name>.data`, `links.self`).

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::{CANCELABLE, Run, State, TERRAFORM_VERSION, Workspace};

/// A JSON:API error document with one error object.
pub fn error(status: u16, title: &str, detail: Option<&str>) -> Value {
    let mut object = json!({ "status": status.to_string(), "title": title });
    if let Some(detail) = detail {
        object["detail"] = json!(detail);
    }
    json!({ "errors": [object] })
}

pub fn workspace(state: &State, workspace: &Workspace) -> Value {
    let now = Instant::now();
    let current_run = state
        .runs
        .iter()
        .rev()
        .find(|r| r.workspace_id == workspace.id);
    let latest = |run: Option<&Run>| match run {
        Some(run) => json!({ "data": { "id": run.id, "type": "runs" } }),
        None => json!({ "data": null }),
    };
    let locked = current_run.is_some_and(|r| {
        matches!(
            r.status(now),
            "confirmed" | "apply_queued" | "applying" | "planning" | "planned"
        ) && !r.plan_only
    });
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
                "execution-mode": "remote",
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
                "vcs-repo": null,
                "working-directory": null,
                "permissions": {
                    "can-destroy": true,
                    "can-queue-apply": true,
                    "can-queue-destroy": true,
                    "can-queue-run": true,
                    "can-read-settings": true,
                    "can-update": true,
                    "can-update-variable": true
                },
                "actions": { "is-destroyable": true }
            },
            "relationships": {
                "organization": { "data": { "id": workspace.organization, "type": "organizations" } },
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
    let timeline = run.timeline(now);
    let status = timeline.last().map_or("pending", |(s, _)| *s);
    let mut timestamps = Map::new();
    for (reached, at) in &timeline {
        let key = match *reached {
            "pending" => "plan-queueable-at".to_string(),
            other => format!("{}-at", other.replace('_', "-")),
        };
        timestamps.insert(key, json!(state.rfc3339(*at)));
    }
    let plan_done =
        !matches!(status, "pending" | "plan_queued" | "planning") && run.plan_is_finished(now);
    let canceled_at = run
        .canceled_at
        .filter(|at| *at <= now)
        .map(|at| state.rfc3339(at));
    json!({
        "id": run.id,
        "type": "runs",
        "attributes": {
            "actions": {
                "is-cancelable": CANCELABLE.contains(&status),
                "is-confirmable": status == "planned",
                "is-discardable": status == "planned",
                "is-force-cancelable": false
            },
            "allow-config-generation": false,
            "allow-empty-apply": false,
            "auto-apply": run.auto_apply,
            "canceled-at": canceled_at,
            "created-at": state.rfc3339(run.created),
            "has-changes": plan_done && run.has_changes,
            "is-destroy": false,
            "message": run.message,
            "plan-only": run.plan_only,
            "refresh": true,
            "refresh-only": false,
            "replace-addrs": null,
            "save-plan": false,
            "source": "tfe-api",
            "status-timestamps": timestamps,
            "status": status,
            "target-addrs": run.target_addrs,
            "trigger-reason": "manual",
            "terraform-version": TERRAFORM_VERSION,
            "permissions": {
                "can-apply": true,
                "can-cancel": true,
                "can-comment": true,
                "can-discard": true,
                "can-force-execute": true,
                "can-force-cancel": true,
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
                "data": { "id": format!("cv-{}", run.workspace_id.trim_start_matches("ws-")), "type": "configuration-versions" },
                "links": { "related": format!("/api/v2/runs/{}/configuration-version", run.id) }
            },
            "created-by": {
                "data": { "id": "user-DriftGuardEmu0001", "type": "users" },
                "links": { "related": format!("/api/v2/runs/{}/created-by", run.id) }
            },
            "plan": {
                "data": { "id": run.plan_id, "type": "plans" },
                "links": { "related": format!("/api/v2/runs/{}/plan", run.id) }
            },
            "run-events": { "links": { "related": format!("/api/v2/runs/{}/run-events", run.id) } },
            "policy-checks": { "data": [], "links": { "related": format!("/api/v2/runs/{}/policy-checks", run.id) } },
            "comments": { "data": [], "links": { "related": format!("/api/v2/runs/{}/comments", run.id) } }
        },
        "links": { "self": format!("/api/v2/runs/{}", run.id) }
    })
}

pub fn run(state: &State, run: &Run) -> Value {
    json!({ "data": run_resource(state, run, Instant::now()) })
}

/// `GET /workspaces/:id/runs`: newest first, paginated.
pub fn run_list(state: &State, workspace_id: &str, page_number: usize, page_size: usize) -> Value {
    let now = Instant::now();
    let runs: Vec<&Run> = state
        .runs
        .iter()
        .rev()
        .filter(|r| r.workspace_id == workspace_id)
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

/// `GET /plans/:id`.
pub fn plan(state: &State, run: &Run) -> Value {
    let now = Instant::now();
    let run_status = run.status(now);
    let finished = run.plan_is_finished(now);
    let status = match run_status {
        "pending" => "pending",
        "plan_queued" => "queued",
        "planning" => "running",
        "errored" if !finished => "errored",
        "canceled" if !finished => "canceled",
        "discarded" if !finished => "unreachable",
        _ => "finished",
    };
    let mut timestamps = Map::new();
    timestamps.insert("queued-at".into(), json!(state.rfc3339(run.created)));
    if run_status != "pending" {
        timestamps.insert(
            "pending-at".into(),
            json!(state.rfc3339(run.created + super::QUEUE_STEP)),
        );
    }
    if !matches!(status, "pending" | "queued" | "unreachable") {
        timestamps.insert(
            "started-at".into(),
            json!(state.rfc3339(run.plan_started())),
        );
    }
    match status {
        "finished" => {
            timestamps.insert(
                "finished-at".into(),
                json!(state.rfc3339(run.plan_finished())),
            );
        }
        "errored" => {
            timestamps.insert(
                "errored-at".into(),
                json!(state.rfc3339(run.plan_finished())),
            );
        }
        "canceled" => {
            if let Some(at) = run.canceled_at {
                timestamps.insert("canceled-at".into(), json!(state.rfc3339(at)));
            }
        }
        _ => {}
    }
    let (additions, changes, destructions) = if finished {
        super::plan_json::counts(&run.plan_json)
    } else {
        (0, 0, 0)
    };
    json!({
        "data": {
            "id": run.plan_id,
            "type": "plans",
            "attributes": {
                "execution-details": { "mode": "remote" },
                "generated-configuration": false,
                "has-changes": finished && run.has_changes,
                "resource-additions": additions,
                "resource-changes": changes,
                "resource-destructions": destructions,
                "resource-imports": 0,
                "status": status,
                "status-timestamps": timestamps,
                "log-read-url": format!("{}/_archivist/v1/object/log-{}", state.archivist_url, run.plan_id)
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
