//! Contract tests for the state machine definition `statemachine/drift-guard.asl.json`.
//!
//! The definition is a Terraform `templatefile()`; these tests render it with
//! sample values (and write the rendered file to `target/asl/` for
//! `asl-validator`), then prove:
//!
//! - every Lambda Task's `Parameters`, evaluated against realistic state
//!   documents, deserialize into the function's input type from
//!   `driftguard_core::model` — by simulating executions of every outcome
//!   (a small JSONPath interpreter: `$`, `$.a.b`, `$$.Execution.Id`,
//!   `$$.Execution.StartTime`, `$$.Map.Item.Value`, `$$.Task.Token`,
//!   `States.Format`, `States.StringToJson`; anything else fails the test),
//!   including the approval branch: `.waitForTaskToken`, `TimeoutSecondsPath`
//!   and its one `Catch` (`States.Timeout` → the expiry records);
//! - every path a state reads is written on every path reaching it;
//! - no step writes a key another step wrote on the same path (except the
//!   documented poll loops);
//! - Retry names only errors that exist; no Catch but the approval's timeout;
//!   timeouts, backoff, jitter;
//! - the graph is well formed (reachable states, existing targets, ends);
//! - the state document stays far below the 256 KiB limit;
//! - the Mermaid graph in `docs/state-machine.md` is generated from the ASL
//!   (`DRIFTGUARD_UPDATE_DOCS=1` rewrites it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use driftguard_core::Error;
use driftguard_core::model::{
    Actor, Admission, AdmitRequest, ApplyRequested, ApprovalDecision, AwaitDecisionRequest, Change,
    CheckOutcome, CheckRef, CheckStatus, CreateRunRequest, Decision, DriftDecision, DriftReport,
    DriftedResource, Informational, MAX_CHANGES_IN_STATE, MAX_RESOURCES_IN_STATE,
    MAX_SIDE_LIST_IN_STATE, NO_RECORDED_DECISION, Notification, NotifyRequest, PendingChange,
    PendingChanges, Phase, PollRequest, PollState, ReadDecisionRequest, RecordRequest,
    RecordResult, RemediateRequest, RemediationAction, RemediationCreated, RemediationMode,
    ResourcePaths, RunInfo, SafetyAssessment, SlackUser, SummarizeRequest, ThreadRef, WarningNoted,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------
// Template and rendering
// ---------------------------------------------------------------------------

/// The template variables, exactly (Terraform's `templatefile` fails on a missing one).
const TEMPLATE_VARS: &[&str] = &[
    "admit_event_arn",
    "create_run_arn",
    "poll_run_arn",
    "summarize_drift_arn",
    "remediate_arn",
    "record_arn",
    "notify_arn",
    "settle_seconds",
    "remediation_mode",
    "approval_timeout_seconds",
    "email_enabled",
    "sns_topic_arn",
];

/// Lambda ARN template variables and the function each one names.
const FUNCTIONS: &[(&str, &str)] = &[
    ("admit_event_arn", "admit-event"),
    ("create_run_arn", "create-run"),
    ("poll_run_arn", "poll-run"),
    ("summarize_drift_arn", "summarize-drift"),
    ("remediate_arn", "remediate"),
    ("record_arn", "record"),
    ("notify_arn", "notify"),
];

const SNS_PUBLISH: &str = "arn:aws:states:::sns:publish";
/// What Step Functions reports when SNS refuses the e-mail alert.
const SNS_FAILURE: (&str, &str) = (
    "SNS.AuthorizationErrorException",
    "User is not authorized to perform: SNS:Publish on resource (Service: Sns, Status Code: 403)",
);
/// Lambda through the optimized integration, waiting for a task token.
const WAIT_FOR_TOKEN: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";
/// The one state that waits for a person, and the only one with a Catch.
const WAIT_FOR_APPROVAL: &str = "Wait for approval";
/// Reads the decision the callback receiver recorded, after the wake-up.
const READ_THE_DECISION: &str = "Read the decision";
const TASK_TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAVd0ZXN0LXRhc2stdG9rZW4tZm9yLXRoZS1zaW11bGF0b3I=";
const SNS_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:driftguard-alerts";
const EXECUTION_ID: &str = "arn:aws:states:eu-west-1:123456789012:execution:driftguard:0f6c1c1e-4c1a-4a43-9d5e-2b0c1e7f5a10";
const START_TIME: &str = "2025-05-01T10:00:03.123Z";
const PLAN_RUN_ID: &str = "run-PlanAbCdEfGh1234";
const FIX_RUN_ID: &str = "run-FixAbCdEfGh5678";

/// Transient error names that Retry may name (each must be in `Error::ALL_TYPES`).
const TRANSIENT: &[&str] = &[
    "TfcRateLimited",
    "TfcUnavailable",
    "SlackRateLimited",
    "SlackUnavailable",
    "AwsUnavailable",
];
/// Lambda service errors (Step Functions names them `Lambda.<exception>`).
const LAMBDA_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];
/// A function cut off at its timeout (`Sandbox.Timedout`) or a Task past its
/// `TimeoutSeconds` (`States.Timeout`): every step is safe to run twice, so
/// both are retried.
const TIMEOUT_ERRORS: &[&str] = &["Sandbox.Timedout", "States.Timeout"];
/// Step Functions' own error names.
const STATES_ERRORS: &[&str] = &[
    "States.ALL",
    "States.TaskFailed",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "States.Permissions",
    "States.Runtime",
];
/// Amazon SNS `Publish` exceptions as the optimized integration names them.
const SNS_ERRORS: &[&str] = &[
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.KMSThrottlingException",
    "SNS.SdkClientException",
];
/// Keys written twice on purpose: the "queued" Pass sets the initial poll state,
/// the poll Task then rewrites it on every loop.
const POLL_KEYS: &[&str] = &["poll", "remediation_poll", "apply_poll"];
/// Keys the outcome after a decision writes again in approval mode: the
/// drift's record and alert came before `Wait for approval`, and the outcome
/// replaces them (its history record replaces the DriftDetected one too).
const DECISION_KEYS: &[&str] = &["record", "notification"];

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn raw_template() -> String {
    let path = workspace_root().join("statemachine/drift-guard.asl.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn lambda_arn(var: &str) -> String {
    let (_, name) = FUNCTIONS
        .iter()
        .find(|(v, _)| *v == var)
        .unwrap_or_else(|| panic!("not a function variable: {var}"));
    format!("arn:aws:lambda:eu-west-1:123456789012:function:driftguard-{name}")
}

/// The function variable for a rendered `Resource`, if it is one of ours.
fn function_of(resource: &str) -> Option<&'static str> {
    FUNCTIONS
        .iter()
        .map(|(v, _)| *v)
        .find(|v| lambda_arn(v) == resource)
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    settle_seconds: u64,
    remediation_mode: RemediationMode,
    approval_timeout_seconds: u64,
    email_enabled: bool,
}

const DEFAULT_SETTINGS: Settings = Settings {
    settle_seconds: 30,
    remediation_mode: RemediationMode::Approval,
    approval_timeout_seconds: 86_400,
    email_enabled: true,
};

fn mode_name(mode: RemediationMode) -> String {
    to_json(&mode).as_str().unwrap().to_string()
}

/// Names of the `${...}` template variables used in the text.
fn template_variables(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let j = after.find('}').expect("unterminated ${ in the template");
        names.insert(after[..j].to_string());
        rest = &after[j + 1..];
    }
    names
}

/// Renders the template as Terraform's `templatefile()` would with these values.
fn render(raw: &str, s: Settings) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find('}').expect("unterminated ${ in the template");
        let value = match &after[..j] {
            "settle_seconds" => s.settle_seconds.to_string(),
            "remediation_mode" => mode_name(s.remediation_mode),
            "approval_timeout_seconds" => s.approval_timeout_seconds.to_string(),
            "email_enabled" => s.email_enabled.to_string(),
            "sns_topic_arn" => SNS_TOPIC.to_string(),
            var if FUNCTIONS.iter().any(|(v, _)| *v == var) => lambda_arn(var),
            other => panic!("unknown template variable ${{{other}}}"),
        };
        out.push_str(&value);
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

fn rendered(s: Settings) -> Value {
    serde_json::from_str(&render(&raw_template(), s)).expect("rendered template is JSON")
}

// ---------------------------------------------------------------------------
// Walking the definition
// ---------------------------------------------------------------------------

/// One `States` object: the top level or a Map's ItemProcessor.
struct Scope<'a> {
    name: String,
    start: &'a str,
    states: &'a Map<String, Value>,
    /// Keys of the scope's input document known on entry (ItemSelector keys for a Map).
    initial: BTreeSet<String>,
}

fn scopes(doc: &Value) -> Vec<Scope<'_>> {
    fn walk<'a>(
        name: String,
        machine: &'a Value,
        initial: BTreeSet<String>,
        out: &mut Vec<Scope<'a>>,
    ) {
        let states = machine["States"].as_object().expect("States");
        out.push(Scope {
            name,
            start: machine["StartAt"].as_str().expect("StartAt"),
            states,
            initial,
        });
        for (state_name, st) in states {
            if st["Type"] == "Map" {
                assert!(
                    st.get("Iterator").is_none(),
                    "{state_name}: use ItemProcessor"
                );
                assert!(
                    st.get("Parameters").is_none(),
                    "{state_name}: use ItemSelector"
                );
                let keys = st["ItemSelector"]
                    .as_object()
                    .map(|m| m.keys().map(|k| output_key(k).to_string()).collect())
                    .unwrap_or_default();
                walk(state_name.clone(), &st["ItemProcessor"], keys, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("(top level)".into(), doc, BTreeSet::new(), &mut out);
    out
}

fn all_states(doc: &Value) -> Vec<(String, Value)> {
    scopes(doc)
        .iter()
        .flat_map(|s| s.states.iter().map(|(n, v)| (n.clone(), v.clone())))
        .collect()
}

fn output_key(k: &str) -> &str {
    k.strip_suffix(".$").unwrap_or(k)
}

fn ty(st: &Value) -> &str {
    st["Type"].as_str().expect("Type")
}

/// Every transition target of a state (Next, Choices[].Next, Default).
fn targets(st: &Value) -> Vec<String> {
    let mut t = Vec::new();
    if let Some(n) = st.get("Next").and_then(Value::as_str) {
        t.push(n.to_string());
    }
    if let Some(choices) = st.get("Choices").and_then(Value::as_array) {
        for c in choices {
            t.push(c["Next"].as_str().expect("Choice rule Next").to_string());
        }
    }
    if let Some(d) = st.get("Default").and_then(Value::as_str) {
        t.push(d.to_string());
    }
    for c in catches(st) {
        t.push(c.next);
    }
    t
}

/// One `Catch` rule: where it goes and the key it writes the error to.
struct Catcher {
    errors: Vec<String>,
    next: String,
    result_key: String,
    assign: Option<Value>,
}

fn catches(st: &Value) -> Vec<Catcher> {
    st.get("Catch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| Catcher {
            errors: c["ErrorEquals"]
                .as_array()
                .expect("ErrorEquals")
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect(),
            next: c["Next"].as_str().expect("Catch Next").to_string(),
            result_key: c["ResultPath"]
                .as_str()
                .and_then(|p| p.strip_prefix("$."))
                .expect("a Catch writes its error to its own key (ResultPath $.key)")
                .to_string(),
            assign: c.get("Assign").cloned(),
        })
        .collect()
}

/// The Lambda function a Task calls: its Resource, or the FunctionName of the
/// optimized integration.
fn task_function(st: &Value) -> Option<&'static str> {
    let resource = st["Resource"].as_str()?;
    if resource == WAIT_FOR_TOKEN {
        return st["Parameters"]["FunctionName"]
            .as_str()
            .and_then(function_of);
    }
    function_of(resource)
}

fn is_terminal(st: &Value) -> bool {
    matches!(ty(st), "Succeed" | "Fail") || st.get("End") == Some(&Value::Bool(true))
}

/// The variable a path reads (`$name` or `$name.key`), `None` for document
/// and context paths.
fn variable_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('$')?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    Some(rest.split('.').next().unwrap_or(rest))
}

/// The top-level key a state-document path reads, `None` for `$`, context
/// paths and variables.
fn top_key(path: &str) -> Option<&str> {
    if path.starts_with("$$") || path == "$" || variable_of(path).is_some() {
        return None;
    }
    let rest = path
        .strip_prefix("$.")
        .unwrap_or_else(|| panic!("unsupported path {path}"));
    Some(rest.split('.').next().unwrap())
}

/// Paths a state reads from its input document.
fn reads(st: &Value) -> Vec<String> {
    let mut r = Vec::new();
    for field in ["Parameters", "ItemSelector"] {
        if let Some(p) = st.get(field) {
            template_reads(p, &mut r);
        }
    }
    for field in [
        "SecondsPath",
        "TimestampPath",
        "ItemsPath",
        "InputPath",
        "TimeoutSecondsPath",
    ] {
        if let Some(p) = st.get(field).and_then(Value::as_str) {
            r.push(p.to_string());
        }
    }
    fn rule_reads(rule: &Value, r: &mut Vec<String>) {
        if let Some(v) = rule.get("Variable").and_then(Value::as_str) {
            r.push(v.to_string());
        }
        for k in ["And", "Or"] {
            for sub in rule.get(k).and_then(Value::as_array).into_iter().flatten() {
                rule_reads(sub, r);
            }
        }
        if let Some(n) = rule.get("Not") {
            rule_reads(n, r);
        }
    }
    for rule in st
        .get("Choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        rule_reads(rule, &mut r);
        if let Some(a) = rule.get("Assign") {
            template_reads(a, &mut r);
        }
    }
    // A Task's Assign reads its result (and variables); the others' read the
    // state input.
    if let Some(a) = st.get("Assign") {
        let mut assign_reads = Vec::new();
        template_reads(a, &mut assign_reads);
        r.extend(
            assign_reads
                .into_iter()
                .filter(|p| ty(st) != "Task" || variable_of(p).is_some()),
        );
    }
    r
}

/// The variables assigned on the edge from a state to `to` (`$name` keys).
fn assigned_on_edge(st: &Value, to: &str) -> BTreeSet<String> {
    let keys = |a: Option<&Value>| -> BTreeSet<String> {
        a.and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| format!("${}", output_key(k)))
            .collect()
    };
    if let Some(c) = catches(st).into_iter().find(|c| c.next == to) {
        return keys(c.assign.as_ref());
    }
    if ty(st) != "Choice" {
        return keys(st.get("Assign"));
    }
    // Every edge to `to`: the rules that lead there and the Default.
    let mut edges: Vec<BTreeSet<String>> = st["Choices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["Next"] == to)
        .map(|r| keys(r.get("Assign")))
        .collect();
    if st.get("Default").and_then(Value::as_str) == Some(to) {
        edges.push(keys(st.get("Assign")));
    }
    edges
        .into_iter()
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap_or_default()
}

fn template_reads(t: &Value, out: &mut Vec<String>) {
    match t {
        Value::Object(m) => {
            for (k, v) in m {
                if k.ends_with(".$") {
                    let s = v.as_str().expect("path value is a string");
                    if s.starts_with("States.") {
                        let (_, args) = parse_intrinsic(s).expect("intrinsic");
                        for a in args {
                            if let Arg::Path(p) = a {
                                out.push(p);
                            }
                        }
                    } else {
                        out.push(s.to_string());
                    }
                } else {
                    template_reads(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| template_reads(v, out)),
        _ => {}
    }
}

/// The key this state writes into the state document.
enum Write {
    /// The state passes its input on unchanged.
    Nothing,
    /// `ResultPath: "$.key"`.
    Key(String),
    /// The output replaces the whole document (a Pass with Parameters and no ResultPath).
    Replace(BTreeSet<String>),
}

fn write_of(name: &str, st: &Value) -> Write {
    for f in ["InputPath", "OutputPath"] {
        assert!(
            st.get(f).is_none(),
            "{name}: {f} is not used in DriftGuard's contracts"
        );
    }
    match ty(st) {
        "Choice" | "Wait" | "Succeed" | "Fail" => Write::Nothing,
        "Task" | "Pass" | "Map" => match st.get("ResultPath") {
            // The first step takes the raw execution input, which need not be
            // an object, and starts the document from its result.
            Some(Value::String(p)) if p == "$" && st.get("ResultSelector").is_some() => {
                Write::Replace(
                    st["ResultSelector"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .map(|k| output_key(k).into())
                        .collect(),
                )
            }
            Some(Value::String(p)) => {
                let key = p
                    .strip_prefix("$.")
                    .unwrap_or_else(|| panic!("{name}: ResultPath {p}"));
                assert!(
                    is_snake(key),
                    "{name}: ResultPath {p} must be one snake_case key"
                );
                Write::Key(key.to_string())
            }
            None if ty(st) == "Pass" && st.get("Parameters").is_some() => Write::Replace(
                st["Parameters"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| output_key(k).into())
                    .collect(),
            ),
            other => panic!("{name}: every step writes only its own key; ResultPath is {other:?}"),
        },
        other => panic!("{name}: state type {other} is not used"),
    }
}

fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn predecessors(states: &Map<String, Value>) -> BTreeMap<&str, Vec<&str>> {
    let mut preds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, st) in states {
        for t in targets(st) {
            let (k, _) = states.get_key_value(&t).expect("target exists");
            preds.entry(k.as_str()).or_default().push(name.as_str());
        }
    }
    preds
}

/// The key an edge from `from` to `to` writes when it is a Catch edge (the
/// error instead of the state's result).
fn catch_key(st: &Value, to: &str) -> Option<String> {
    catches(st)
        .into_iter()
        .find(|c| c.next == to)
        .map(|c| c.result_key)
}

/// States reachable from `start` (not counting `start`), by Next, Choices and Catch.
fn reachable_from<'a>(states: &'a Map<String, Value>, start: &str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(n) = todo.pop() {
        for t in targets(&states[&n]) {
            let (k, _) = states.get_key_value(&t).expect("target exists");
            if seen.insert(k.as_str()) {
                todo.push(t);
            }
        }
    }
    seen
}

/// Keys written on the way into each state: `must` = on every path, else on
/// some path. Edges into `cut` are left out: one pass between two visits of it.
fn written_on_entry(
    scope: &Scope<'_>,
    must: bool,
    cut: Option<&str>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut preds = predecessors(scope.states);
    if let Some(cut) = cut {
        preds.remove(cut);
    }
    let universe: BTreeSet<String> = scope
        .states
        .iter()
        .flat_map(|(n, st)| {
            let written = match write_of(n, st) {
                Write::Key(k) => Some(k),
                _ => None,
            };
            written
                .into_iter()
                .chain(catches(st).into_iter().map(|c| c.result_key))
        })
        .chain(scope.initial.iter().cloned())
        .chain(
            scope
                .states
                .values()
                .flat_map(|st| catches(st).into_iter().map(|c| c.result_key)),
        )
        .chain(scope.states.values().flat_map(|st| {
            targets(st)
                .into_iter()
                .flat_map(|t| assigned_on_edge(st, &t))
                .collect::<Vec<_>>()
        }))
        .collect();
    let out_of = |name: &str, to: &str, entry: &BTreeSet<String>| -> BTreeSet<String> {
        let st = &scope.states[name];
        let mut s = if let Some(k) = catch_key(st, to) {
            let mut s = entry.clone();
            s.insert(k);
            s
        } else {
            match write_of(name, st) {
                Write::Nothing => entry.clone(),
                Write::Key(k) => {
                    let mut s = entry.clone();
                    s.insert(k);
                    s
                }
                Write::Replace(keys) => keys
                    .into_iter()
                    .chain(entry.iter().filter(|k| k.starts_with('$')).cloned())
                    .collect(),
            }
        };
        s.extend(assigned_on_edge(st, to));
        s
    };
    let mut entry: BTreeMap<String, BTreeSet<String>> = scope
        .states
        .keys()
        .map(|n| {
            (
                n.clone(),
                if must {
                    universe.clone()
                } else {
                    BTreeSet::new()
                },
            )
        })
        .collect();
    loop {
        let mut changed = false;
        for name in scope.states.keys() {
            let mut acc: Option<BTreeSet<String>> =
                (name == scope.start).then(|| scope.initial.clone());
            for p in preds.get(name.as_str()).into_iter().flatten() {
                let o = out_of(p, name, &entry[*p]);
                acc = Some(match acc {
                    None => o,
                    Some(a) if must => a.intersection(&o).cloned().collect(),
                    Some(a) => a.union(&o).cloned().collect(),
                });
            }
            let new = acc.unwrap_or_default();
            if entry[name] != new {
                entry.insert(name.clone(), new);
                changed = true;
            }
        }
        if !changed {
            return entry;
        }
    }
}

// ---------------------------------------------------------------------------
// JSONPath subset and intrinsic functions
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Context {
    item: Option<Value>,
    /// Inside a `.waitForTaskToken` Task's Parameters.
    task_token: bool,
    /// The scope's variables (`Assign`), read as `$name`.
    vars: Map<String, Value>,
}

fn eval_path(path: &str, doc: &Value, ctx: &Context) -> Result<Value, String> {
    if let Some(rest) = path.strip_prefix("$$.") {
        return match rest {
            "Execution.Id" => Ok(json!(EXECUTION_ID)),
            "Execution.StartTime" => Ok(json!(START_TIME)),
            "Map.Item.Value" => ctx
                .item
                .clone()
                .ok_or_else(|| format!("{path} outside ItemSelector")),
            "Task.Token" if ctx.task_token => Ok(json!(TASK_TOKEN)),
            "Task.Token" => Err(format!("{path} outside a .waitForTaskToken Task")),
            _ => Err(format!("unsupported context path {path}")),
        };
    }
    if path == "$" {
        return Ok(doc.clone());
    }
    if let Some(var) = variable_of(path) {
        let mut cur = ctx
            .vars
            .get(var)
            .ok_or_else(|| format!("States.Runtime: variable ${var} is not assigned"))?;
        for seg in path[1 + var.len()..].split('.').skip(1) {
            cur = cur
                .get(seg)
                .ok_or_else(|| format!("States.Runtime: {path} not found"))?;
        }
        return Ok(cur.clone());
    }
    let rest = path
        .strip_prefix("$.")
        .ok_or_else(|| format!("unsupported JSONPath {path}"))?;
    let mut cur = doc;
    for seg in rest.split('.') {
        if seg.is_empty() || !seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "unsupported JSONPath {path} (only $.a.b with plain keys)"
            ));
        }
        cur = cur
            .get(seg)
            .ok_or_else(|| format!("States.Runtime: {path} not found in the state document"))?;
    }
    Ok(cur.clone())
}

#[derive(Debug)]
enum Arg {
    Lit(String),
    Path(String),
}

fn parse_intrinsic(expr: &str) -> Result<(String, Vec<Arg>), String> {
    let open = expr
        .find('(')
        .ok_or_else(|| format!("not an intrinsic: {expr}"))?;
    let inner = expr[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("intrinsic must end with ')': {expr}"))?;
    let mut args = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some('\'') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated string in {expr}")),
                        Some('\\') => s.push(chars.next().ok_or("dangling escape")?),
                        Some('\'') => break,
                        Some(c) => s.push(c),
                    }
                }
                args.push(Arg::Lit(s));
            }
            Some(_) => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                let s = s.trim().to_string();
                if !s.starts_with('$') || s.contains('(') {
                    return Err(format!("unsupported intrinsic argument {s} in {expr}"));
                }
                args.push(Arg::Path(s));
            }
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected {c} in {expr}")),
        }
    }
    Ok((expr[..open].to_string(), args))
}

fn eval_intrinsic(expr: &str, doc: &Value, ctx: &Context) -> Result<Value, String> {
    let (name, args) = parse_intrinsic(expr)?;
    match (name.as_str(), args.as_slice()) {
        ("States.StringToJson", [Arg::Lit(s)]) => {
            serde_json::from_str(s).map_err(|e| format!("{expr}: {e}"))
        }
        ("States.Format", [Arg::Lit(template), rest @ ..]) => {
            let pieces: Vec<&str> = template.split("{}").collect();
            if pieces.len() != rest.len() + 1 {
                return Err(format!(
                    "{expr}: {} placeholders, {} arguments",
                    pieces.len() - 1,
                    rest.len()
                ));
            }
            let mut out = pieces[0].to_string();
            for (arg, piece) in rest.iter().zip(&pieces[1..]) {
                let v = match arg {
                    Arg::Path(p) => eval_path(p, doc, ctx)?,
                    Arg::Lit(s) => json!(s),
                };
                match v {
                    Value::String(s) => out.push_str(&s),
                    Value::Number(_) | Value::Bool(_) | Value::Null => out.push_str(&v.to_string()),
                    other => return Err(format!("{expr}: States.Format cannot print {other}")),
                }
                out.push_str(piece);
            }
            Ok(json!(out))
        }
        _ => Err(format!("unsupported intrinsic {expr}")),
    }
}

/// Evaluates a Parameters / ItemSelector / ResultSelector template.
fn eval_template(t: &Value, doc: &Value, ctx: &Context, intrinsics: bool) -> Result<Value, String> {
    Ok(match t {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let Some(key) = k.strip_suffix(".$") {
                    let s = v
                        .as_str()
                        .ok_or_else(|| format!("{k}: path must be a string"))?;
                    let val = if s.starts_with("States.") {
                        if !intrinsics {
                            return Err(format!("{k}: intrinsic functions are not expected here"));
                        }
                        eval_intrinsic(s, doc, ctx)?
                    } else {
                        eval_path(s, doc, ctx)?
                    };
                    out.insert(key.to_string(), val);
                } else {
                    out.insert(k.clone(), eval_template(v, doc, ctx, intrinsics)?);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| eval_template(v, doc, ctx, intrinsics))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn eval_rule(rule: &Value, doc: &Value, ctx: &Context) -> Result<bool, String> {
    if let Some(all) = rule.get("And").and_then(Value::as_array) {
        for r in all {
            if !eval_rule(r, doc, ctx)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = rule.get("Or").and_then(Value::as_array) {
        for r in any {
            if eval_rule(r, doc, ctx)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(n) = rule.get("Not") {
        return Ok(!eval_rule(n, doc, ctx)?);
    }
    let var = rule["Variable"]
        .as_str()
        .ok_or("Choice rule without Variable")?;
    if let Some(present) = rule.get("IsPresent") {
        return Ok(eval_path(var, doc, ctx).is_ok() == (present == &json!(true)));
    }
    let v = eval_path(var, doc, ctx)?;
    if let Some(s) = rule.get("StringEquals") {
        return Ok(v.as_str() == s.as_str());
    }
    if let Some(b) = rule.get("BooleanEquals") {
        return Ok(v.as_bool() == b.as_bool());
    }
    Err(format!("unsupported Choice rule {rule}"))
}

/// Evaluates a state's `Assign` against `base` (the state input, or a Task's
/// raw result) and sets the variables, all from the values before the state.
fn assign(ctx: &mut Context, assign: Option<&Value>, base: &Value) -> Result<(), String> {
    let Some(a) = assign else {
        return Ok(());
    };
    let values = eval_template(a, base, ctx, true)?;
    for (k, v) in values.as_object().ok_or("Assign is an object")? {
        ctx.vars.insert(k.clone(), v.clone());
    }
    Ok(())
}

fn apply_result_path(
    name: &str,
    st: &Value,
    mut doc: Value,
    result: Value,
) -> Result<Value, String> {
    match st.get("ResultPath") {
        None => Ok(result),
        Some(Value::String(p)) if p == "$" => Ok(result),
        Some(Value::String(p)) => {
            let key = p
                .strip_prefix("$.")
                .ok_or_else(|| format!("{name}: ResultPath {p}"))?;
            doc.as_object_mut()
                .ok_or_else(|| format!("{name}: state document is not an object"))?
                .insert(key.to_string(), result);
            Ok(doc)
        }
        Some(other) => Err(format!("{name}: unsupported ResultPath {other}")),
    }
}

// ---------------------------------------------------------------------------
// Simulated executions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Succeeded { state: String, output: Value },
    Failed { state: String, error: String },
}

/// What happens in `Wait for approval`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// Alice decides: the receiver records it and wakes the wait.
    Decides(DriftDecision),
    /// Nobody decides: the Task times out.
    TimesOut,
    /// Someone with `GetExecutionHistory` and `SendTaskSuccess` wakes the wait
    /// with a decision of their own (`says`, by U0MALLORY); the decision
    /// request holds what the receiver recorded (`recorded`, by Alice), if anything.
    Forged {
        says: DriftDecision,
        recorded: Option<DriftDecision>,
    },
}

/// A decision as the receiver records it (or, `by` Mallory, as a forger sends it).
fn decision_by(decision: DriftDecision, user: &str) -> ApprovalDecision {
    ApprovalDecision {
        decision,
        automatic: false,
        by: Some(SlackUser {
            id: user.into(),
            name: user.to_lowercase(),
        }),
        decided_at: Some(START_TIME.into()),
        reason: (decision == DriftDecision::Accept)
            .then(|| "vendor hot-fix, reverted next release".into()),
        until: (decision == DriftDecision::Accept).then(|| "2025-06-30".into()),
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    settings: Settings,
    decision: Decision,
    /// Whether the drift's Notify outcome asked for a decision (approval mode only).
    approval_requested: bool,
    answer: Answer,
    checks: usize,
    plan_phases: Vec<Phase>,
    drifted: bool,
    remediation_phases: Vec<Phase>,
    safe: bool,
    apply_phases: Vec<Phase>,
    /// Worst-case sizes: capped lists full, long strings.
    big: bool,
    /// SNS refuses the e-mail alert (after its retries).
    email_fails: bool,
    /// remediate refuses this action (the deployed remediation_mode forbids
    /// it now, or the run is not DriftGuard's assessed one).
    refused: Option<RemediationAction>,
}

impl Scenario {
    fn new(remediation_mode: RemediationMode, email_enabled: bool) -> Self {
        Scenario {
            settings: Settings {
                settle_seconds: 30,
                remediation_mode,
                approval_timeout_seconds: 86_400,
                email_enabled,
            },
            decision: Decision::Admit,
            approval_requested: true,
            answer: Answer::Decides(DriftDecision::Fix),
            checks: 1,
            plan_phases: vec![Phase::Running, Phase::Running, Phase::Planned],
            drifted: true,
            remediation_phases: vec![Phase::Running, Phase::AwaitingApply],
            safe: true,
            apply_phases: vec![Phase::Running, Phase::AwaitingApply, Phase::Applied],
            big: false,
            email_fails: false,
            refused: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Call {
    state: String,
    /// The template variable of the function, or `SNS_PUBLISH`.
    target: String,
    input: Value,
    output: Value,
}

struct Sim {
    sc: Scenario,
    calls: Vec<Call>,
    trace: Vec<String>,
    polls: BTreeMap<String, usize>,
    largest_document: usize,
    largest_payload: usize,
}

fn size(v: &Value) -> usize {
    serde_json::to_vec(v).unwrap().len()
}

/// Deserializes a Task's input into the function's type and checks that no field was
/// silently ignored (a misspelt key in Parameters).
fn decode<T: DeserializeOwned + Serialize>(state: &str, input: &Value) -> T {
    let decoded: T = serde_json::from_value(input.clone()).unwrap_or_else(|e| {
        panic!("state '{state}': Parameters do not deserialize into the function's input: {e}\n{input:#}")
    });
    let back = serde_json::to_value(&decoded).unwrap();
    fn known(input: &Value, back: &Value, at: &str, state: &str) {
        if let (Value::Object(i), Value::Object(b)) = (input, back) {
            for (k, v) in i {
                if v.is_null() && !b.contains_key(k) {
                    // An optional field left empty (`"approval": null`).
                    continue;
                }
                let bv = b.get(k).unwrap_or_else(|| {
                    panic!(
                        "state '{state}': field {at}.{k} is not part of the function's input type"
                    )
                });
                known(v, bv, &format!("{at}.{k}"), state);
            }
        }
    }
    known(input, &back, "$", state);
    decoded
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn sample_change(i: usize, big: bool) -> Change {
    Change {
        event_id: format!("6f1c2a9e-0b7d-4c55-9a3e-{i:012}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2025-05-01T09:59:58Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        actor: Actor {
            actor_type: "AssumedRole".into(),
            arn: Some(
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com"
                    .into(),
            ),
            principal_id: Some("AROAEXAMPLEID0123456:alice@example.com".into()),
        },
        source_ip: Some("203.0.113.7".into()),
        user_agent: Some(if big {
            "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1017-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#ec2.authorize-security-group-ingress".into()
        } else {
            "aws-cli/2.15.30".into()
        }),
        resources: (0..if big { 5 } else { 1 })
            .map(|r| format!("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0{r}23456789abcdef0"))
            .collect(),
    }
}

fn sample_check(i: usize) -> CheckRef {
    CheckRef {
        organization: "example-org".into(),
        workspace: if i == 0 {
            "network-prod".into()
        } else {
            format!("network-prod-{i}")
        },
    }
}

fn sample_address(i: usize, big: bool) -> String {
    if big {
        format!(
            "module.network.module.endpoints.aws_security_group_rule.interface_endpoint_ingress[\"com.amazonaws.eu-west-1.secretsmanager-{i:03}\"]"
        )
    } else {
        format!("aws_security_group.web[{i}]")
    }
}

fn sample_drift(drifted: bool, big: bool) -> DriftReport {
    let total = if !drifted {
        0
    } else if big {
        180
    } else {
        2
    };
    let listed = total.min(MAX_RESOURCES_IN_STATE);
    DriftReport {
        drifted,
        resource_count: total,
        resources: (0..listed)
            .map(|i| DriftedResource {
                address: sample_address(i, big),
                resource_type: "aws_security_group_rule".into(),
                actions: vec!["update".into()],
                changed_attributes: (0..if big { 12 } else { 2 })
                    .map(|a| format!("ingress[{a}].cidr_blocks"))
                    .collect(),
                also_pending_code: big && i % 2 == 0,
                ..DriftedResource::default()
            })
            .collect(),
        truncated: total > listed,
        omitted: total - listed,
        ignored: 1,
        fingerprint: if drifted {
            "9f2c4b1e0a7d5c3b9f2c4b1e0a7d5c3b9f2c4b1e0a7d5c3b9f2c4b1e0a7d5c3b".into()
        } else {
            String::new()
        },
        pending_changes: sample_pending(big),
        informational: sample_informational(big),
        ..DriftReport::default()
    }
}

/// Unapplied code changes: full capped list when `big`.
fn sample_pending(big: bool) -> PendingChanges {
    let total = if big { 300 } else { 1 };
    let listed = total.min(MAX_SIDE_LIST_IN_STATE);
    PendingChanges {
        count: total,
        resources: (0..listed)
            .map(|i| PendingChange {
                address: sample_address(1000 + i, big),
                resource_type: "aws_security_group_rule".into(),
                actions: vec!["update".into()],
                changed_attributes: (0..if big { 12 } else { 1 })
                    .map(|a| format!("ingress[{a}].description"))
                    .collect(),
                previous_address: None,
            })
            .collect(),
        omitted: total - listed,
    }
}

/// Changes outside that are not drift: full capped lists when `big`.
fn sample_informational(big: bool) -> Informational {
    let total = if big { 300 } else { 1 };
    let listed = total.min(MAX_SIDE_LIST_IN_STATE);
    Informational {
        count: total,
        addresses: (0..listed).map(|i| sample_address(2000 + i, big)).collect(),
        omitted: total - listed,
        possibly_managed: (0..if big { listed } else { 0 })
            .map(|i| ResourcePaths {
                address: sample_address(3000 + i, big),
                paths: (0..12).map(|a| format!("tags.Key{a}")).collect(),
            })
            .collect(),
        possibly_managed_count: if big { total } else { 0 },
    }
}

/// The simulated workspace's learned schedule: create-run expects the plan
/// to finish after PLAN_SECONDS and asks for the first poll after FIRST_WAIT_SECONDS.
const PLAN_SECONDS: u64 = 118;
const FIRST_WAIT_SECONDS: u64 = 117;
/// The remediation's learned first waits: remediate asks for the first poll
/// of the remediation plan and of the apply after these.
const FIX_PLAN_FIRST_WAIT_SECONDS: u64 = 43;
const APPLY_FIRST_WAIT_SECONDS: u64 = 29;

fn sample_run(run_id: &str, big: bool, changes: Vec<Change>, targets: Vec<String>) -> RunInfo {
    let _ = big;
    RunInfo {
        run_id: run_id.into(),
        run_url: format!(
            "https://app.terraform.io/app/example-org/workspaces/network-prod/runs/{run_id}"
        ),
        workspace_id: "ws-AbCdEfGh12345678".into(),
        plan_id: Some("plan-AbCdEfGh12345678".into()),
        created_at: "2025-05-01T10:00:35Z".into(),
        changes,
        target_addrs: targets,
        execution_mode: Some("remote".into()),
        ..RunInfo::default()
    }
}

fn phase_name(p: Phase) -> String {
    to_json(&p).as_str().unwrap().to_string()
}

impl Sim {
    fn new(sc: Scenario) -> Self {
        Sim {
            sc,
            calls: Vec::new(),
            trace: Vec::new(),
            polls: BTreeMap::new(),
            largest_document: 0,
            largest_payload: 0,
        }
    }

    fn event(&self) -> Value {
        json!({
            "version": "0",
            "id": "2d1f1e6c-6a3c-4f8e-9d6d-0c1b2a3e4f5a",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2025-05-01T09:59:58Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.09",
                "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLEID0123456:alice@example.com"},
                "eventTime": "2025-05-01T09:59:58Z",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "AuthorizeSecurityGroupIngress",
                "awsRegion": "eu-west-1",
                "sourceIPAddress": "203.0.113.7",
                "userAgent": "aws-cli/2.15.30",
                "requestParameters": {"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
                "responseElements": {"_return": true},
                "eventID": "6f1c2a9e-0b7d-4c55-9a3e-000000000000",
                "eventType": "AwsApiCall",
                "recipientAccountId": "123456789012"
            }
        })
    }

    fn run(&mut self, doc: &Value) -> Result<Outcome, String> {
        let input = self.event();
        self.run_scope(
            doc,
            input,
            &Context {
                item: None,
                task_token: false,
                vars: Map::new(),
            },
        )
    }

    fn run_scope(
        &mut self,
        machine: &Value,
        mut doc: Value,
        ctx: &Context,
    ) -> Result<Outcome, String> {
        let mut scope_ctx = ctx.clone();
        let ctx = &mut scope_ctx;
        let states = machine["States"].as_object().unwrap();
        let mut name = machine["StartAt"].as_str().unwrap().to_string();
        for _ in 0..1000 {
            let st = states
                .get(&name)
                .ok_or_else(|| format!("no state {name}"))?;
            self.trace.push(name.clone());
            self.largest_document = self.largest_document.max(size(&doc));
            let next = match ty(st) {
                "Pass" => {
                    let result = if let Some(p) = st.get("Parameters") {
                        eval_template(p, &doc, ctx, true)?
                    } else if let Some(r) = st.get("Result") {
                        r.clone()
                    } else {
                        doc.clone()
                    };
                    assign(ctx, st.get("Assign"), &doc)?;
                    doc = apply_result_path(&name, st, doc, result)?;
                    st.get("Next").and_then(Value::as_str)
                }
                "Task" if st["Resource"] == WAIT_FOR_TOKEN => {
                    let token_ctx = Context {
                        task_token: true,
                        ..ctx.clone()
                    };
                    let params = eval_template(&st["Parameters"], &doc, &token_ctx, true)
                        .map_err(|e| format!("{name}: {e}"))?;
                    let timeout_path = st["TimeoutSecondsPath"].as_str().ok_or_else(|| {
                        format!("{name}: a wait for a person is bounded (TimeoutSecondsPath)")
                    })?;
                    let timeout = eval_path(timeout_path, &doc, ctx)?;
                    if timeout.as_u64().is_none_or(|t| t == 0) {
                        return Err(format!(
                            "{name}: {timeout_path} = {timeout} is not a timeout"
                        ));
                    }
                    let function = params["FunctionName"]
                        .as_str()
                        .ok_or_else(|| format!("{name}: FunctionName"))?
                        .to_string();
                    let payload = params["Payload"].clone();
                    self.largest_payload = self.largest_payload.max(size(&payload));
                    self.invoke(&name, &function, payload);
                    let woken = match self.sc.answer {
                        // What SendTaskSuccess hands over: the receiver's
                        // wake-up, or whatever a forger chose.
                        Answer::Decides(_) => Some(json!({"wake_up": true})),
                        Answer::Forged { says, .. } => {
                            Some(to_json(&decision_by(says, "U0MALLORY")))
                        }
                        Answer::TimesOut => None,
                    };
                    match woken {
                        Some(output) => {
                            assign(ctx, st.get("Assign"), &output)?;
                            doc = apply_result_path(&name, st, doc, output)?;
                            st.get("Next").and_then(Value::as_str)
                        }
                        None => {
                            let catcher = catches(st)
                                .into_iter()
                                .find(|c| c.errors.iter().any(|e| e == "States.Timeout"))
                                .ok_or_else(|| format!("{name}: States.Timeout is not caught"))?;
                            let error = json!({"Error": "States.Timeout", "Cause": ""});
                            assign(ctx, catcher.assign.as_ref(), &error)?;
                            doc.as_object_mut()
                                .ok_or("state document is not an object")?
                                .insert(catcher.result_key.clone(), error);
                            let next = catcher.next;
                            self.trace
                                .push(format!("(caught States.Timeout in {name})"));
                            name = next;
                            continue;
                        }
                    }
                }
                "Task" => {
                    let params = eval_template(&st["Parameters"], &doc, ctx, true)
                        .map_err(|e| format!("{name}: {e}"))?;
                    self.largest_payload = self.largest_payload.max(size(&params));
                    let resource = st["Resource"].as_str().unwrap();
                    if resource == SNS_PUBLISH && self.sc.email_fails {
                        // The error Step Functions reports after the retries; a
                        // matching Catch takes it, else the execution fails here.
                        let (error, cause) = SNS_FAILURE;
                        let rule = st
                            .get("Catch")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .find(|c| {
                                c["ErrorEquals"].as_array().is_some_and(|e| {
                                    e.contains(&json!(error)) || e.contains(&json!("States.ALL"))
                                })
                            });
                        let Some(rule) = rule else {
                            return Ok(Outcome::Failed {
                                state: name,
                                error: error.into(),
                            });
                        };
                        let caught = json!({"Error": error, "Cause": cause});
                        assign(ctx, rule.get("Assign"), &caught)?;
                        doc = apply_result_path(&name, rule, doc, caught)?;
                        name = rule["Next"].as_str().unwrap().to_string();
                        continue;
                    }
                    let result = self.invoke(&name, resource, params);
                    // Assign sees the Task's raw result, as ResultSelector does.
                    assign(ctx, st.get("Assign"), &result)?;
                    let result = match st.get("ResultSelector") {
                        Some(sel) => eval_template(sel, &result, ctx, false)?,
                        None => result,
                    };
                    doc = apply_result_path(&name, st, doc, result)?;
                    st.get("Next").and_then(Value::as_str)
                }
                "Choice" => {
                    let mut target = None;
                    for rule in st["Choices"].as_array().unwrap() {
                        if eval_rule(rule, &doc, ctx).map_err(|e| format!("{name}: {e}"))? {
                            assign(ctx, rule.get("Assign"), &doc)
                                .map_err(|e| format!("{name}: {e}"))?;
                            target = rule["Next"].as_str();
                            break;
                        }
                    }
                    if target.is_none() {
                        // The Choice state's own Assign goes with its Default.
                        assign(ctx, st.get("Assign"), &doc).map_err(|e| format!("{name}: {e}"))?;
                    }
                    Some(
                        target
                            .or(st.get("Default").and_then(Value::as_str))
                            .ok_or_else(|| format!("{name}: States.NoChoiceMatched"))?,
                    )
                }
                "Wait" => {
                    if let Some(p) = st.get("SecondsPath").and_then(Value::as_str) {
                        let v = eval_path(p, &doc, ctx)?;
                        let seconds = v.as_u64().ok_or_else(|| {
                            format!("{name}: {p} = {v} is not a number of seconds")
                        })?;
                        let first = ctx.vars.get("last_poll").is_none_or(Value::is_null);
                        let learned = match name.as_str() {
                            "Wait for plan" => Some(FIRST_WAIT_SECONDS),
                            "Wait for remediation plan" => Some(FIX_PLAN_FIRST_WAIT_SECONDS),
                            "Wait for apply" => Some(APPLY_FIRST_WAIT_SECONDS),
                            _ => None,
                        };
                        if let Some(expected) = learned.filter(|e| first && seconds != *e) {
                            return Err(format!(
                                "{name}: the first wait is the step's first_wait_seconds ({expected}), not {seconds}"
                            ));
                        }
                    }
                    assign(ctx, st.get("Assign"), &doc)?;
                    st.get("Next").and_then(Value::as_str)
                }
                "Map" => {
                    let items = eval_path(st["ItemsPath"].as_str().unwrap(), &doc, ctx)?;
                    let items = items
                        .as_array()
                        .ok_or_else(|| format!("{name}: items not an array"))?;
                    let mut outputs = Vec::new();
                    for item in items {
                        let ictx = Context {
                            item: Some(item.clone()),
                            task_token: false,
                            vars: Map::new(),
                        };
                        let input = eval_template(&st["ItemSelector"], &doc, &ictx, true)?;
                        match self.run_scope(
                            &st["ItemProcessor"],
                            input,
                            &Context {
                                item: None,
                                task_token: false,
                                vars: Map::new(),
                            },
                        )? {
                            Outcome::Succeeded { output, .. } => outputs.push(output),
                            failed => return Ok(failed),
                        }
                    }
                    doc = apply_result_path(&name, st, doc, Value::Array(outputs))?;
                    st.get("Next").and_then(Value::as_str)
                }
                "Succeed" => {
                    return Ok(Outcome::Succeeded {
                        state: name,
                        output: doc,
                    });
                }
                "Fail" => {
                    return Ok(Outcome::Failed {
                        state: name,
                        error: st["Error"].as_str().unwrap().into(),
                    });
                }
                other => return Err(format!("{name}: unsupported type {other}")),
            };
            match next {
                Some(n) => name = n.to_string(),
                None => {
                    return Ok(Outcome::Succeeded {
                        state: name,
                        output: doc,
                    });
                }
            }
        }
        Err("more than 1000 transitions".into())
    }

    fn invoke(&mut self, state: &str, resource: &str, input: Value) -> Value {
        let sc = self.sc.clone();
        let (target, output) = if resource == SNS_PUBLISH {
            assert_eq!(input["TopicArn"], json!(SNS_TOPIC), "{state}: TopicArn");
            let subject = input["Subject"].as_str().expect("Subject");
            assert!(
                subject.len() <= 100 && subject.is_ascii(),
                "{state}: SNS subject {subject:?}"
            );
            let message = input["Message"].as_str().expect("Message");
            assert!(
                message.contains(EXECUTION_ID),
                "{state}: message names the execution"
            );
            let obj = input.as_object().unwrap();
            assert!(
                obj.keys()
                    .all(|k| ["TopicArn", "Subject", "Message"].contains(&k.as_str()))
            );
            (
                SNS_PUBLISH.to_string(),
                json!({"MessageId": "5b2c1a3e-0000-4000-8000-000000000001", "SdkHttpMetadata": {"HttpStatusCode": 200}, "SdkResponseMetadata": {"RequestId": "r-1"}}),
            )
        } else {
            let var = function_of(resource)
                .unwrap_or_else(|| panic!("{state}: unknown Resource {resource}"));
            let out = match var {
                "admit_event_arn" => {
                    let req: AdmitRequest = decode(state, &input);
                    assert_eq!(req.execution_id, EXECUTION_ID);
                    assert_eq!(
                        req.event,
                        self.event(),
                        "{state}: the raw event is passed as delivered"
                    );
                    let admitted = sc.decision == Decision::Admit;
                    to_json(&Admission {
                        decision: sc.decision,
                        reason: "AuthorizeSecurityGroupIngress on sg-0123456789abcdef0 routes to example-org/network-prod".into(),
                        change: admitted.then(|| sample_change(0, sc.big)),
                        checks: if admitted { (0..sc.checks).map(sample_check).collect() } else { vec![] },
                        joined: vec![],
                    })
                }
                "create_run_arn" => {
                    let req: CreateRunRequest = decode(state, &input);
                    assert_eq!(req.execution_id, EXECUTION_ID);
                    assert_eq!(req.change, sample_change(0, sc.big));
                    let n = if sc.big { MAX_CHANGES_IN_STATE } else { 1 };
                    let mut run = sample_run(
                        PLAN_RUN_ID,
                        sc.big,
                        (0..n).map(|i| sample_change(i, sc.big)).collect(),
                        vec![],
                    );
                    run.changes_omitted = if sc.big { 975 } else { 0 };
                    run.expected_finish_seconds = Some(PLAN_SECONDS);
                    run.first_wait_seconds = Some(FIRST_WAIT_SECONDS);
                    to_json(&run)
                }
                "poll_run_arn" => {
                    let req: PollRequest = decode(state, &input);
                    let count = self
                        .polls
                        .entry(format!("{state} {}", req.check))
                        .or_default();
                    let (phases, run_id) = match state {
                        "Check plan status" => (&sc.plan_phases, PLAN_RUN_ID),
                        "Check remediation plan" => (&sc.remediation_phases, FIX_RUN_ID),
                        "Check apply status" => (&sc.apply_phases, FIX_RUN_ID),
                        other => panic!("unexpected poll state {other}"),
                    };
                    assert_eq!(req.run.run_id, run_id, "{state}: polls the right run");
                    assert_eq!(
                        req.apply.is_some(),
                        state == "Check apply status",
                        "{state}: the apply poll, and only it, gets the apply request"
                    );
                    // The first poll of a run has no previous state.
                    let (polls, elapsed) = match &req.poll {
                        None if *count == 0 => (0, 0),
                        None => panic!("{state}: the previous poll's state is passed on"),
                        Some(prev) => {
                            assert_eq!(
                                prev.polls as usize, *count,
                                "{state}: gets the previous poll's state"
                            );
                            (prev.polls, prev.elapsed_seconds)
                        }
                    };
                    let phase = phases[(*count).min(phases.len() - 1)];
                    *count += 1;
                    let plan_seconds = (state == "Check plan status" && phase == Phase::Planned)
                        .then_some(PLAN_SECONDS);
                    to_json(&PollState {
                        plan_seconds,
                        phase,
                        status: phase_name(phase),
                        has_changes: Some(sc.drifted),
                        next_wait_seconds: 5,
                        polls: polls + 1,
                        elapsed_seconds: elapsed + 5,
                        detail: Some("plan queued: waiting for capacity to start it".into()),
                        apply_seconds: None,
                    })
                }
                "summarize_drift_arn" => {
                    let req: SummarizeRequest = decode(state, &input);
                    assert_eq!(req.run.run_id, PLAN_RUN_ID);
                    to_json(&sample_drift(sc.drifted, sc.big))
                }
                "remediate_arn" => {
                    let req: RemediateRequest = decode(state, &input);
                    assert_eq!(req.execution_id, EXECUTION_ID);
                    if matches!(
                        req.action,
                        RemediationAction::Create | RemediationAction::Apply
                    ) {
                        let approval = req
                            .approval
                            .as_ref()
                            .expect("the remediation knows who approved it");
                        assert_eq!(approval.decision, DriftDecision::Fix, "{state}");
                        assert_eq!(
                            approval.automatic,
                            sc.settings.remediation_mode == RemediationMode::Auto,
                            "{state}"
                        );
                    }
                    match req.action {
                        RemediationAction::Create => {
                            let drift = req.drift.expect("create needs the drift report");
                            assert!(drift.drifted);
                            assert_eq!(
                                req.run
                                    .expect("create reads every drifted address from the check run")
                                    .run_id,
                                PLAN_RUN_ID
                            );
                            if sc.refused == Some(RemediationAction::Create) {
                                to_json(&RemediationCreated {
                                    run: RunInfo {
                                        first_wait_seconds: Some(0),
                                        ..RunInfo::default()
                                    },
                                    skipped: Some(SafetyAssessment {
                                        safe: false,
                                        reason: "remediation_mode is \"off\"".into(),
                                        ..SafetyAssessment::default()
                                    }),
                                })
                            } else {
                                let targets =
                                    drift.resources.iter().map(|r| r.address.clone()).collect();
                                let mut run = sample_run(FIX_RUN_ID, sc.big, vec![], targets);
                                run.first_wait_seconds = Some(FIX_PLAN_FIRST_WAIT_SECONDS);
                                to_json(&RemediationCreated { run, skipped: None })
                            }
                        }
                        RemediationAction::Assess => {
                            assert_eq!(
                                req.remediation.expect("assess needs the run").run_id,
                                FIX_RUN_ID
                            );
                            assert!(
                                req.drift
                                    .expect("assess compares with the approved drift report")
                                    .drifted
                            );
                            assert_eq!(
                                req.run
                                    .expect("assess reads a capped report's drift again")
                                    .run_id,
                                PLAN_RUN_ID
                            );
                            to_json(&SafetyAssessment {
                                safe: sc.safe,
                                reason: if sc.safe {
                                    "updates in place only".into()
                                } else {
                                    "would destroy 1 resource".into()
                                },
                                destructive_addresses: if sc.safe {
                                    vec![]
                                } else {
                                    vec![sample_address(0, sc.big)]
                                },
                                discarded: !sc.safe,
                                reverts: if sc.safe {
                                    (0..MAX_RESOURCES_IN_STATE)
                                        .map(|i| sample_address(i, sc.big))
                                        .collect()
                                } else {
                                    vec![]
                                },
                                reverts_count: if sc.safe { 180 } else { 0 },
                                ..SafetyAssessment::default()
                            })
                        }
                        RemediationAction::Apply => {
                            assert_eq!(
                                req.remediation.expect("apply needs the run").run_id,
                                FIX_RUN_ID
                            );
                            let refused = sc.refused == Some(RemediationAction::Apply);
                            let reason = "remediation_mode is \"off\"".to_string();
                            to_json(&ApplyRequested {
                                run_id: FIX_RUN_ID.into(),
                                requested: !refused,
                                requested_at: Some(START_TIME.into()),
                                reason: refused.then(|| reason.clone()),
                                plan_seconds: None,
                                expected_finish_seconds: None,
                                first_wait_seconds: Some(APPLY_FIRST_WAIT_SECONDS),
                                skipped: refused.then(|| SafetyAssessment {
                                    safe: false,
                                    reason,
                                    discarded: true,
                                    ..SafetyAssessment::default()
                                }),
                            })
                        }
                    }
                }
                "record_arn" => match decode::<RecordRequest>(state, &input) {
                    RecordRequest::Outcome(req) => {
                        check_outcome(state, &req, &sc);
                        assert_eq!(
                            req.poll.as_ref().and_then(|p| p.plan_seconds),
                            Some(PLAN_SECONDS),
                            "{state}: the plan's duration reaches the record, for the next schedule"
                        );
                        to_json(&RecordResult {
                            status: req.status,
                            stored: true,
                            previous_fingerprint: Some("0000aaaa".into()),
                            accepted: None,
                        })
                    }
                    RecordRequest::Warning(req) => {
                        assert!(sc.email_fails, "{state}: a warning only when e-mail failed");
                        assert_eq!(req.warning.kind, "email");
                        assert_eq!(req.warning.error, SNS_FAILURE.0);
                        assert_eq!(req.execution_id, EXECUTION_ID);
                        to_json(&WarningNoted { noted: true })
                    }
                },
                "notify_arn" if input.get("task_token").is_some() => {
                    assert_eq!(
                        state, WAIT_FOR_APPROVAL,
                        "only the approval waits for a token"
                    );
                    let req: AwaitDecisionRequest = decode(state, &input);
                    assert_eq!(req.task_token, TASK_TOKEN, "{state}: $$.Task.Token");
                    assert_eq!(req.execution_id, EXECUTION_ID);
                    assert_eq!(req.timeout_seconds, sc.settings.approval_timeout_seconds);
                    let asked = self
                        .calls
                        .iter()
                        .rev()
                        .find(|c| c.state == "Notify outcome")
                        .expect("the alert asked for the decision");
                    assert_eq!(
                        Some(req.approval_id.as_str()),
                        asked.output["approval_id"].as_str(),
                        "{state}: waits for the buttons the alert carries"
                    );
                    json!({"waiting": true})
                }
                "notify_arn" if input.get("action").is_some() => {
                    assert_eq!(
                        state, READ_THE_DECISION,
                        "only Read the decision reads the recorded decision"
                    );
                    let req: ReadDecisionRequest = decode(state, &input);
                    assert_eq!(req.execution_id, EXECUTION_ID);
                    let asked = self
                        .calls
                        .iter()
                        .rev()
                        .find(|c| c.state == "Notify outcome")
                        .expect("the alert asked for the decision");
                    assert_eq!(
                        Some(req.approval_id.as_str()),
                        asked.output["approval_id"].as_str(),
                        "{state}: reads the request of the buttons the alert carries"
                    );
                    let recorded = match self.sc.answer {
                        Answer::Decides(decision) => Some(decision),
                        Answer::Forged { recorded, .. } => recorded,
                        Answer::TimesOut => panic!("{state}: read after a timeout"),
                    };
                    match recorded {
                        Some(decision) => to_json(&decision_by(decision, "U0ALICE")),
                        None => json!({"decision": NO_RECORDED_DECISION, "status": "waiting"}),
                    }
                }
                "notify_arn" => {
                    let req: NotifyRequest = decode(state, &input);
                    check_outcome(state, &req.outcome, &sc);
                    let record = req.record.expect("notify gets record's result");
                    assert_eq!(
                        record.status, req.outcome.status,
                        "{state}: record and notify agree"
                    );
                    let first_alert = req.outcome.status == CheckStatus::DriftDetected
                        && req.outcome.approval.is_none();
                    // Every outcome's alert gets the mode (one Notify for all);
                    // only the drift's first alert may ask for a decision. The
                    // reply that a fix was approved gets none.
                    assert_eq!(
                        req.remediation_mode.is_some(),
                        state != "Notify fix approved",
                        "{state}: the mode goes to the outcome's alert"
                    );
                    if first_alert {
                        assert_eq!(req.remediation_mode, Some(sc.settings.remediation_mode));
                        assert_eq!(
                            req.approval_timeout_seconds,
                            Some(sc.settings.approval_timeout_seconds)
                        );
                    }
                    let asks = first_alert
                        && req.remediation_mode == Some(RemediationMode::Approval)
                        && sc.approval_requested;
                    to_json(&Notification {
                        sent: true,
                        suppressed_reason: None,
                        approval_requested: asks,
                        approval_id: asks.then(|| "3f2a9c1e8b7d6a5f4e3d2c1b0a998877".into()),
                        thread: Some(ThreadRef {
                            channel: "C0DRIFT".into(),
                            ts: "1714557603.000100".into(),
                        }),
                    })
                }
                other => panic!("no stub for {other}"),
            };
            (var.to_string(), out)
        };
        self.calls.push(Call {
            state: state.into(),
            target,
            input,
            output: output.clone(),
        });
        output
    }
}

/// What every record/notify input must carry, and which remediation details go with each status.
fn check_outcome(state: &str, o: &CheckOutcome, sc: &Scenario) {
    assert_eq!(o.execution_id, EXECUTION_ID, "{state}");
    assert_eq!(o.started_at, START_TIME, "{state}");
    assert_eq!(
        o.change.as_ref(),
        Some(&sample_change(0, sc.big)),
        "{state}"
    );
    assert_eq!(
        o.run.as_ref().map(|r| r.run_id.as_str()),
        Some(PLAN_RUN_ID),
        "{state}"
    );
    assert_eq!(
        o.drift.as_ref().map(|d| d.drifted),
        Some(sc.drifted),
        "{state}"
    );
    assert!(o.failure.is_none(), "{state}");
    // Who decided goes with every outcome that follows a decision.
    let mode = sc.settings.remediation_mode;
    match o.status {
        CheckStatus::NoDrift => assert!(o.approval.is_none(), "{state}"),
        CheckStatus::DriftDetected => {
            // The first alert has none; the "fix approved" reply has the person's.
            if let Some(a) = &o.approval {
                assert_eq!(state, "Notify fix approved");
                assert_eq!((a.decision, a.automatic), (DriftDecision::Fix, false));
            }
        }
        CheckStatus::ApprovalExpired => {
            assert_eq!(mode, RemediationMode::Approval);
            assert!(o.approval.is_none(), "{state}: nobody decided");
        }
        CheckStatus::DriftAccepted => {
            let a = o.approval.as_ref().expect("who accepted");
            assert_eq!(a.decision, DriftDecision::Accept);
            assert!(
                a.by.is_some() && a.reason.is_some() && a.until.is_some(),
                "{state}: {a:?}"
            );
        }
        CheckStatus::DriftDismissed => {
            let a = o.approval.as_ref().expect("who dismissed");
            assert_eq!(a.decision, DriftDecision::Dismiss);
        }
        _ => {
            let a = o.approval.as_ref().expect("who approved the remediation");
            assert_eq!(a.decision, DriftDecision::Fix);
            assert_eq!(a.automatic, mode == RemediationMode::Auto, "{state}");
            assert_eq!(a.by.is_some(), mode == RemediationMode::Approval, "{state}");
        }
    }
    let r = o.remediation.as_ref();
    match o.status {
        CheckStatus::NoDrift
        | CheckStatus::DriftDetected
        | CheckStatus::DriftAccepted
        | CheckStatus::DriftDismissed
        | CheckStatus::ApprovalExpired => assert!(r.is_none(), "{state}"),
        CheckStatus::RemediationSkipped => {
            let r = r.expect("remediation");
            if sc.refused == Some(RemediationAction::Create) {
                assert!(r.run.is_none(), "{state}: no run was created");
            } else {
                assert_eq!(r.run.as_ref().unwrap().run_id, FIX_RUN_ID);
            }
            assert!(!r.safety.as_ref().expect("safety").safe);
        }
        CheckStatus::Remediated => {
            let r = r.expect("remediation");
            assert!(r.safety.as_ref().expect("safety").safe);
            assert_eq!(
                r.final_poll.as_ref().expect("final poll").phase,
                Phase::Applied
            );
        }
        CheckStatus::RemediationFailed => {
            let r = r.expect("remediation");
            assert_eq!(r.run.as_ref().unwrap().run_id, FIX_RUN_ID);
            let p = r.final_poll.as_ref().expect("final poll").phase;
            assert!(
                !matches!(p, Phase::Applied | Phase::Running),
                "{state}: final phase {p:?}"
            );
        }
        CheckStatus::CheckFailed => panic!("{state}: CheckFailed is recorded by on-failure only"),
    }
}

struct Report {
    outcome: Outcome,
    sim: Sim,
}

impl Report {
    fn states_called(&self, target: &str) -> Vec<&str> {
        self.sim
            .calls
            .iter()
            .filter(|c| c.target == target)
            .map(|c| c.state.as_str())
            .collect()
    }
    fn statuses(&self) -> Vec<String> {
        self.sim
            .calls
            .iter()
            .filter(|c| c.target == "record_arn")
            .map(|c| c.input["status"].as_str().unwrap().to_string())
            .collect()
    }
    fn visited(&self, state: &str) -> bool {
        self.sim.trace.iter().any(|s| s == state)
    }
}

fn simulate(sc: Scenario) -> Report {
    let doc = rendered(sc.settings);
    let mut sim = Sim::new(sc.clone());
    let outcome = sim
        .run(&doc)
        .unwrap_or_else(|e| panic!("scenario {sc:?} failed to run: {e}"));
    // Record comes before every Notify (right before, but for the reply that
    // a fix was approved), and Notify gets the latest Record's result.
    let lambda_calls: Vec<&Call> = sim
        .calls
        .iter()
        .filter(|c| c.target != SNS_PUBLISH)
        .collect();
    for (i, c) in lambda_calls.iter().enumerate() {
        if c.target == "notify_arn" && c.state != WAIT_FOR_APPROVAL && c.state != READ_THE_DECISION
        {
            let prev = lambda_calls[i.checked_sub(1).expect("notify is not first")];
            if c.state != "Notify fix approved" {
                assert_eq!(
                    prev.target, "record_arn",
                    "{}: Record runs right before Notify",
                    c.state
                );
            }
            let record = lambda_calls[..i]
                .iter()
                .rev()
                .find(|p| p.target == "record_arn")
                .expect("a record before notify");
            assert_eq!(
                c.input["record"], record.output,
                "{}: gets Record's result",
                c.state
            );
            assert_eq!(c.input["status"], record.input["status"]);
        }
    }
    Report { outcome, sim }
}

fn succeeded(r: &Report) -> &Value {
    match &r.outcome {
        Outcome::Succeeded { state, output } => {
            assert_eq!(state, "Check each workspace", "the Map ends the execution");
            output
        }
        other => panic!("expected success, got {other:?}"),
    }
}

fn failed_at(r: &Report) -> (&str, &str) {
    match &r.outcome {
        Outcome::Failed { state, error } => (state.as_str(), error.as_str()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn template_uses_exactly_the_documented_variables_and_renders_to_json() {
    let raw = raw_template();
    // Valid JSON before rendering, so tools can read the file as it is.
    let _: Value = serde_json::from_str(&raw).expect("the un-rendered template is valid JSON");
    let expected: BTreeSet<String> = TEMPLATE_VARS.iter().map(|s| s.to_string()).collect();
    assert_eq!(template_variables(&raw), expected);
    assert!(!raw.contains("%{"), "no templatefile directives");
    assert!(!raw.contains("$${"), "no escaped interpolations");

    let doc = rendered(DEFAULT_SETTINGS);
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let dir = workspace_root().join("target/asl");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!("drift-guard.rendered.json.{}", std::process::id()));
    std::fs::write(&tmp, format!("{text}\n")).unwrap();
    std::fs::rename(&tmp, dir.join("drift-guard.rendered.json")).unwrap();

    assert!(doc.get("QueryLanguage").is_none_or(|q| q == "JSONPath"));
    for (name, st) in all_states(&doc) {
        assert!(
            st.get("QueryLanguage").is_none(),
            "{name}: JSONPath everywhere"
        );
        assert!(
            st.get("Arguments").is_none() && st.get("Output").is_none(),
            "{name}: JSONata field"
        );
    }
}

#[test]
fn graph_is_well_formed() {
    let doc = rendered(DEFAULT_SETTINGS);
    let mut names = BTreeSet::new();
    for scope in scopes(&doc) {
        let states = scope.states;
        assert!(
            states.contains_key(scope.start),
            "{}: StartAt {}",
            scope.name,
            scope.start
        );
        for (name, st) in states {
            assert!(names.insert(name.clone()), "state name {name} used twice");
            assert!(
                name.len() <= 80 && !name.contains(['$', '{', '}']),
                "{name}: readable state name"
            );
            for t in targets(st) {
                assert!(
                    states.contains_key(&t),
                    "{}: {name} goes to unknown state {t}",
                    scope.name
                );
            }
            match ty(st) {
                "Choice" => {
                    assert!(
                        st.get("Default").is_some(),
                        "{name}: a Choice always has a Default"
                    );
                    assert!(st.get("Next").is_none() && st.get("End").is_none());
                }
                "Succeed" | "Fail" => assert!(targets(st).is_empty(), "{name}"),
                _ => assert!(
                    st.get("Next").is_some() != (st.get("End") == Some(&Value::Bool(true))),
                    "{name}: exactly one of Next and End"
                ),
            }
        }
        // Every state reachable from StartAt.
        let mut seen = BTreeSet::from([scope.start.to_string()]);
        let mut todo = vec![scope.start.to_string()];
        while let Some(n) = todo.pop() {
            for t in targets(&states[&n]) {
                if seen.insert(t.clone()) {
                    todo.push(t);
                }
            }
        }
        let all: BTreeSet<String> = states.keys().cloned().collect();
        assert_eq!(seen, all, "{}: unreachable states", scope.name);
        // From every state an end (Succeed, Fail, End) is reachable: no trap loops.
        let preds = predecessors(states);
        let mut ends: BTreeSet<&str> = states
            .iter()
            .filter(|(_, st)| is_terminal(st))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut todo: Vec<&str> = ends.iter().copied().collect();
        while let Some(n) = todo.pop() {
            for p in preds.get(n).into_iter().flatten() {
                if ends.insert(p) {
                    todo.push(p);
                }
            }
        }
        assert_eq!(
            ends.len(),
            states.len(),
            "{}: some states cannot reach an end",
            scope.name
        );
    }
}

#[test]
fn every_read_is_written_on_every_path_and_no_key_is_written_twice() {
    let doc = rendered(DEFAULT_SETTINGS);
    for scope in scopes(&doc) {
        let must = written_on_entry(&scope, true, None);
        // One Record and one Notify serve the drift's alert and, in approval
        // mode, the outcome after the decision: the graph loops back through
        // `Wait for approval`, which the alert after a decision never asks for
        // again. Within one pass up to it, no key is written twice.
        let may = written_on_entry(&scope, false, Some(WAIT_FOR_APPROVAL));
        let mut writers: BTreeMap<String, Vec<(&str, &Value)>> = BTreeMap::new();
        for (name, st) in scope.states {
            for path in reads(st) {
                if let Some(var) = variable_of(&path) {
                    assert!(
                        must[name].contains(&format!("${var}")),
                        "{}: state '{name}' reads {path}, but ${var} is not assigned on every path reaching it",
                        scope.name
                    );
                }
                if let Some(key) = top_key(&path) {
                    assert!(
                        must[name].contains(key),
                        "{}: state '{name}' reads {path}, but ${key} is not written on every path reaching it (written: {:?})",
                        scope.name,
                        must[name]
                    );
                }
            }
            if let Write::Key(k) = write_of(name, st) {
                assert!(
                    !scope.initial.contains(&k),
                    "{name}: overwrites input key {k}"
                );
                writers.entry(k).or_default().push((name.as_str(), st));
            }
        }
        for (key, ws) in &writers {
            if POLL_KEYS.contains(&key.as_str()) {
                // Only the poll Task writes its key, again on each turn of its
                // loop; the previous poll travels in $last_poll.
                assert_eq!(
                    ws.len(),
                    1,
                    "${key} written by {:?}",
                    ws.iter().map(|w| w.0).collect::<Vec<_>>()
                );
                let (task, st) = ws[0];
                assert_eq!(st["Resource"], json!(lambda_arn("poll_run_arn")));
                assert_eq!(st["Parameters"]["poll.$"], json!("$last_poll"), "{task}");
                assert!(
                    reachable_from(scope.states, task).contains(task),
                    "{task}: polls in a loop"
                );
            } else {
                // After a decision the outcome's record and notification replace
                // the drift's (approval mode); nowhere else is a key written twice.
                let after_decision = if DECISION_KEYS.contains(&key.as_str())
                    && scope.states.contains_key(WAIT_FOR_APPROVAL)
                {
                    reachable_from(scope.states, WAIT_FOR_APPROVAL)
                } else {
                    BTreeSet::new()
                };
                for (name, _) in ws {
                    assert!(
                        !may[*name].contains(key) || after_decision.contains(name),
                        "{}: state '{name}' writes ${key}, which another step already wrote on a path reaching it",
                        scope.name
                    );
                }
            }
        }
    }
}

#[test]
fn retries_name_real_errors_with_backoff_and_jitter_and_nothing_is_caught() {
    let doc = rendered(DEFAULT_SETTINGS);
    for t in TRANSIENT {
        assert!(
            Error::ALL_TYPES.contains(t),
            "{t} is not an error our functions emit"
        );
    }
    // No Catch (a failed Task must fail the execution so a redrive resumes
    // there), except two: the approval wait (a wait nobody answered is an
    // outcome, ApprovalExpired, not a failure) and the best-effort e-mail (its
    // failure is noted on the record and the check ends as it was).
    for (name, st) in all_states(&doc) {
        if st.get("Catch").is_none() {
            continue;
        }
        let caught = catches(&st);
        assert_eq!(caught.len(), 1, "{name}: one Catch");
        if name == WAIT_FOR_APPROVAL {
            assert_eq!(
                caught[0].errors,
                ["States.Timeout"],
                "only the timeout is caught"
            );
            assert_eq!(caught[0].next, "Record outcome");
            assert_eq!(
                caught[0].assign.as_ref().map(|a| a["status"].clone()),
                Some(json!("ApprovalExpired"))
            );
            continue;
        }
        assert_eq!(
            st["Resource"],
            json!(SNS_PUBLISH),
            "{name}: no Catch (a failed Task must fail the execution so a redrive resumes there)"
        );
        assert_eq!(caught[0].errors, ["States.ALL"], "{name}");
        let next = caught[0].next.as_str();
        let (_, note) = all_states(&doc)
            .into_iter()
            .find(|(n, _)| n == next)
            .expect("the Catch target exists");
        assert_eq!(
            note["Resource"],
            json!(lambda_arn("record_arn")),
            "{name}: a caught e-mail failure is noted on the record"
        );
        assert!(
            note["Parameters"].get("warning").is_some(),
            "{next}: passes the warning"
        );
        assert_eq!(
            note["Next"], st["Next"],
            "{next}: the check ends as it would have"
        );
    }
    assert!(
        all_states(&doc).iter().any(|(n, _)| n == WAIT_FOR_APPROVAL),
        "the approval wait"
    );

    for (name, st) in all_states(&doc) {
        if ty(&st) != "Task" {
            assert!(st.get("Retry").is_none(), "{name}");
            continue;
        }
        let waits_for_a_person = st["Resource"] == WAIT_FOR_TOKEN;
        let timeout = if waits_for_a_person {
            // Waits for a person: bounded by approval_timeout_hours, not by a Lambda's time.
            assert_eq!(
                st["TimeoutSecondsPath"], "$.approval_timeout_seconds",
                "{name}: bounded by the approval timeout"
            );
            assert!(st.get("HeartbeatSeconds").is_none(), "{name}");
            None
        } else {
            let timeout = st["TimeoutSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: TimeoutSeconds"));
            assert!(
                (10..=900).contains(&timeout),
                "{name}: TimeoutSeconds {timeout}"
            );
            Some(timeout)
        };
        let retry = st["Retry"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: Retry"));
        assert!(!retry.is_empty(), "{name}: Retry");
        let resource = st["Resource"].as_str().unwrap();
        let function = task_function(&st);
        assert!(
            function.is_some() || resource == SNS_PUBLISH,
            "{name}: unknown Resource {resource}"
        );
        let mut named = BTreeSet::new();
        for r in retry {
            assert_eq!(r["JitterStrategy"], "FULL", "{name}: JitterStrategy FULL");
            let max_delay = r["MaxDelaySeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: MaxDelaySeconds"));
            assert!(
                (1..=120).contains(&max_delay),
                "{name}: MaxDelaySeconds {max_delay}"
            );
            let attempts = r["MaxAttempts"].as_u64().expect("MaxAttempts");
            assert!(
                (1..=8).contains(&attempts),
                "{name}: MaxAttempts {attempts}"
            );
            assert!(
                r["IntervalSeconds"].as_u64().is_some_and(|i| i >= 1),
                "{name}: IntervalSeconds"
            );
            assert!(
                r["BackoffRate"].as_f64().is_some_and(|b| b >= 1.0),
                "{name}: BackoffRate"
            );
            for e in r["ErrorEquals"].as_array().expect("ErrorEquals") {
                let e = e.as_str().unwrap();
                assert!(named.insert(e.to_string()), "{name}: {e} named twice");
                let ok = if function.is_some() {
                    // Only transient errors are retried: a wrong token or a missing
                    // workspace fails the step at once, to be redriven after the fix.
                    LAMBDA_SERVICE_ERRORS.contains(&e)
                        || TRANSIENT.contains(&e)
                        || TIMEOUT_ERRORS.contains(&e)
                } else {
                    SNS_ERRORS.contains(&e) || STATES_ERRORS.contains(&e)
                };
                assert!(ok, "{name}: Retry names {e}, which this step never reports");
            }
        }
        if let Some(f) = function {
            for e in LAMBDA_SERVICE_ERRORS {
                assert!(named.contains(*e), "{name}: retries {e}");
            }
            // The approval wait's timeout is its expiry (caught), never retried.
            if let Some(timeout) = timeout {
                for e in TIMEOUT_ERRORS {
                    assert!(named.contains(*e), "{name}: retries {e}");
                }
                let function_timeout = function_timeouts()[f];
                assert_eq!(
                    timeout,
                    function_timeout + 15,
                    "{name}: TimeoutSeconds sits 15 s above the function's timeout ({function_timeout} s in terraform/lambda.tf)"
                );
            } else {
                for e in TIMEOUT_ERRORS {
                    assert!(
                        !named.contains(*e),
                        "{name}: an expired wait is not retried ({e})"
                    );
                }
            }
            let mut needed = vec!["AwsUnavailable"];
            match f {
                "create_run_arn" | "poll_run_arn" | "summarize_drift_arn" | "remediate_arn" => {
                    needed.extend(["TfcRateLimited", "TfcUnavailable"])
                }
                // The approval wait only keeps the token (DynamoDB, Step Functions).
                "notify_arn" if st["Resource"] == WAIT_FOR_TOKEN => {}
                // Reading the recorded decision is DynamoDB only.
                "notify_arn" if name == READ_THE_DECISION => {}
                "notify_arn" => needed.extend(["SlackRateLimited", "SlackUnavailable"]),
                _ => {}
            }
            for e in needed {
                assert!(named.contains(e), "{name}: retries {e}");
            }
        }
    }
}

/// Each function's timeout in terraform/lambda.tf, by its template variable.
fn function_timeouts() -> BTreeMap<&'static str, u64> {
    let text = std::fs::read_to_string(workspace_root().join("terraform/lambda.tf"))
        .expect("read terraform/lambda.tf");
    let mut found = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix('"')
            .and_then(|l| l.strip_suffix("\" = {"))
        {
            current = Some(name);
        } else if let (Some(name), Some(value)) = (current, line.strip_prefix("timeout"))
            && let Some(seconds) = value.trim_start().strip_prefix('=')
        {
            let var = FUNCTIONS
                .iter()
                .find(|(_, crate_name)| *crate_name == name)
                .map(|(var, _)| *var);
            if let (Some(var), Ok(seconds)) = (var, seconds.trim().parse()) {
                found.insert(var, seconds);
            }
            current = None;
        }
    }
    found
}

#[test]
fn every_function_has_a_timeout_in_terraform() {
    let timeouts = function_timeouts();
    for (var, crate_name) in FUNCTIONS {
        let t = timeouts
            .get(var)
            .unwrap_or_else(|| panic!("no timeout for {crate_name} in terraform/lambda.tf"));
        assert!((10..=900).contains(t), "{crate_name}: timeout {t}");
    }
}

#[test]
fn definitive_failures_are_named_fail_states() {
    let doc = rendered(DEFAULT_SETTINGS);
    let fails: BTreeMap<String, Value> = all_states(&doc)
        .into_iter()
        .filter(|(_, st)| ty(st) == "Fail")
        .collect();
    let names: BTreeSet<&str> = fails.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "Plan errored",
            "Plan canceled",
            "Unexpected plan state",
            "Unexpected decision",
            "No recorded decision"
        ])
    );
    for (name, st) in &fails {
        let error = st["Error"].as_str().unwrap();
        assert!(
            !Error::ALL_TYPES.contains(&error),
            "{name}: a Fail state's Error is not a function error"
        );
        assert!(
            st["Cause"].as_str().is_some_and(|c| c.len() > 40),
            "{name}: a Cause that says what to do"
        );
    }
    assert_eq!(fails["Plan errored"]["Error"], "PlanErrored");
    assert_eq!(fails["Plan canceled"]["Error"], "PlanCanceled");
    let cause = fails["Plan errored"]["Cause"].as_str().unwrap();
    assert!(
        cause.contains("HCP Terraform") && cause.contains("new check") && cause.contains("redrive")
    );
}

#[test]
fn payloads_stay_small() {
    let raw = raw_template();
    // Step Functions takes up to 1 MiB; this budget keeps the graph a person
    // can read (one Record and one Notify for every outcome).
    assert!(raw.len() < 64 * 1024, "definition is {} bytes", raw.len());
    let doc = rendered(DEFAULT_SETTINGS);
    for (name, st) in all_states(&doc) {
        let mut r = Vec::new();
        if let Some(p) = st.get("Parameters") {
            template_reads(p, &mut r);
        }
        if let Some(p) = st.get("ItemSelector") {
            template_reads(p, &mut r);
        }
        for path in r {
            assert!(
                path != "$" || name == "Admit event",
                "{name}: passes the whole state document"
            );
            if path == "$.event" || path.starts_with("$.event.") {
                assert_eq!(name, "Admit event", "only admit-event reads the raw event");
            }
            assert!(
                path != "$.admission",
                "{name}: pass the parts of the admission it needs"
            );
        }
    }
    // Worst case: full capped lists, long strings, a decision then the
    // remediation, two workspaces.
    let mut sc = Scenario::new(RemediationMode::Approval, true);
    sc.big = true;
    sc.checks = 2;
    let r = simulate(sc);
    assert_eq!(
        r.statuses(),
        ["DriftDetected", "Remediated", "DriftDetected", "Remediated"]
    );
    let output = succeeded(&r);
    eprintln!(
        "worst case: largest state document {} bytes, largest task input {} bytes",
        r.sim.largest_document, r.sim.largest_payload
    );
    assert!(
        r.sim.largest_document < 128 * 1024,
        "largest state document {} bytes (limit 256 KiB)",
        r.sim.largest_document
    );
    assert!(
        r.sim.largest_payload < 128 * 1024,
        "largest task input {} bytes",
        r.sim.largest_payload
    );
    assert!(
        size(&output["results"]) < 1024,
        "Map results stay small: {}",
        output["results"]
    );
}

#[test]
fn ignored_and_coalesced_events_end_without_a_check() {
    for (decision, end) in [
        (Decision::Ignore, "Ignored"),
        (Decision::Coalesce, "Coalesced"),
    ] {
        let mut sc = Scenario::new(RemediationMode::Auto, true);
        sc.decision = decision;
        let r = simulate(sc);
        assert!(
            matches!(&r.outcome, Outcome::Succeeded { state, .. } if state == end),
            "{:?}",
            r.outcome
        );
        assert_eq!(r.sim.calls.len(), 1, "only admit-event ran");
        assert_eq!(
            r.sim.trace,
            ["Admit event", "Anything to check?", end],
            "three state transitions"
        );
    }
}

#[test]
fn any_execution_input_reaches_admit_event() {
    // A malformed event (an array, a string) is admit-event's to refuse with a
    // reason; the machine itself must not fail on it before that.
    let doc = rendered(DEFAULT_SETTINGS);
    let admit = &doc["States"][doc["StartAt"].as_str().unwrap()];
    assert_eq!(task_function(admit), Some("admit_event_arn"));
    let ctx = Context {
        item: None,
        task_token: false,
        vars: Map::new(),
    };
    for input in [json!([1, 2]), json!("just a string"), json!({})] {
        let params = eval_template(&admit["Parameters"], &input, &ctx, true).unwrap();
        assert_eq!(params["event"], input);
        let admission = json!({"decision": "ignore", "reason": "not a JSON object"});
        let result = eval_template(&admit["ResultSelector"], &admission, &ctx, false).unwrap();
        let out = apply_result_path("Admit event", admit, input.clone(), result).unwrap();
        assert_eq!(out, json!({"admission": admission}));
    }
}

#[test]
fn no_drift_is_recorded_then_notified_and_never_e_mailed() {
    for mode in [
        RemediationMode::Off,
        RemediationMode::Approval,
        RemediationMode::Auto,
    ] {
        let mut sc = Scenario::new(mode, true);
        sc.drifted = false;
        let r = simulate(sc);
        let out = succeeded(&r);
        assert_eq!(r.statuses(), ["NoDrift"]);
        assert_eq!(r.states_called("notify_arn"), ["Notify outcome"]);
        assert!(r.states_called(SNS_PUBLISH).is_empty());
        assert!(r.states_called("remediate_arn").is_empty());
        assert_eq!(
            out["results"],
            json!([{"organization": "example-org", "workspace": "network-prod", "status": "NoDrift", "notified": true}])
        );
        // Settle, then the plan loop: three polls with the adaptive wait before each.
        assert_eq!(
            r.sim.trace.iter().filter(|s| *s == "Wait for plan").count(),
            3
        );
        assert!(r.visited("Settle"));
        // Every state entered is a billed transition: 11 fixed, 3 per poll.
        assert_eq!(r.sim.trace.len(), 11 + 3 * 3, "{:?}", r.sim.trace);
    }
}

#[test]
fn drift_without_auto_remediation_is_recorded_notified_and_e_mailed() {
    for email in [true, false] {
        let r = simulate(Scenario::new(RemediationMode::Off, email));
        let out = succeeded(&r);
        assert_eq!(r.statuses(), ["DriftDetected"]);
        assert_eq!(r.states_called("notify_arn"), ["Notify outcome"]);
        assert_eq!(r.states_called(SNS_PUBLISH).len(), usize::from(email));
        assert!(
            r.states_called("remediate_arn").is_empty(),
            "no remediation in report mode"
        );
        assert_eq!(out["results"][0]["status"], "DriftDetected");
        if email {
            let sns = r
                .sim
                .calls
                .iter()
                .find(|c| c.target == SNS_PUBLISH)
                .unwrap();
            let msg = sns.input["Message"].as_str().unwrap();
            assert!(
                msg.contains("DriftDetected")
                    && msg.contains("example-org/network-prod")
                    && msg.contains(PLAN_RUN_ID)
                    && msg.contains("Unapplied code changes (not drift): 1"),
                "{msg}"
            );
        }
    }
}

#[test]
fn a_failed_e_mail_is_noted_and_the_check_ends_as_it_was() {
    for auto in [false, true] {
        let mode = if auto {
            RemediationMode::Auto
        } else {
            RemediationMode::Off
        };
        let r = simulate(Scenario {
            email_fails: true,
            ..Scenario::new(mode, true)
        });
        let out = succeeded(&r);
        let expected = if auto { "Remediated" } else { "DriftDetected" };
        assert_eq!(out["results"][0]["status"], expected, "the outcome stands");
        assert_eq!(out["results"][0]["notified"], true, "Slack was alerted");
        let record_calls = r.states_called("record_arn");
        assert_eq!(
            record_calls.last().copied(),
            Some("Note e-mail failure"),
            "{record_calls:?}"
        );
        let trace = &r.sim.trace;
        let noted = trace
            .iter()
            .position(|s| s == "Note e-mail failure")
            .unwrap();
        assert_eq!(trace[noted + 1], "Check done", "{trace:?}");
    }
}

#[test]
fn auto_remediation_outcomes() {
    // Applied.
    let r = simulate(Scenario::new(RemediationMode::Auto, true));
    succeeded(&r);
    assert_eq!(r.statuses(), ["Remediated"]);
    assert_eq!(
        r.states_called("remediate_arn"),
        [
            "Create remediation run",
            "Safety check",
            "Apply remediation"
        ]
    );
    assert_eq!(r.states_called(SNS_PUBLISH).len(), 1);

    // Remediation plan is a no-change plan ("planned"): still goes through the safety check.
    let mut sc = Scenario::new(RemediationMode::Auto, false);
    sc.remediation_phases = vec![Phase::Planned];
    let r = simulate(sc);
    assert!(r.visited("Safety check"));

    // A failed soft-mandatory policy: the safety check discards the run with the reason.
    let mut sc = Scenario::new(RemediationMode::Auto, false);
    sc.remediation_phases = vec![Phase::Running, Phase::NeedsOverride];
    sc.safe = false;
    let r = simulate(sc);
    succeeded(&r);
    assert!(r.visited("Safety check"));
    assert_eq!(r.statuses(), ["RemediationSkipped"]);

    // Unsafe: skipped, no apply.
    let mut sc = Scenario::new(RemediationMode::Auto, true);
    sc.safe = false;
    let r = simulate(sc);
    succeeded(&r);
    assert_eq!(r.statuses(), ["RemediationSkipped"]);
    assert_eq!(
        r.states_called("remediate_arn"),
        ["Create remediation run", "Safety check"]
    );

    // The deployed remediation_mode forbids it now (changed while the check
    // was in flight): refused at create (no run) or at apply, RemediationSkipped.
    let mut sc = Scenario::new(RemediationMode::Auto, true);
    sc.refused = Some(RemediationAction::Create);
    let r = simulate(sc);
    succeeded(&r);
    assert_eq!(r.statuses(), ["RemediationSkipped"]);
    assert_eq!(r.states_called("remediate_arn"), ["Create remediation run"]);
    assert!(!r.visited("Wait for remediation plan"));
    assert_eq!(r.states_called(SNS_PUBLISH).len(), 1);
    let mut sc = Scenario::new(RemediationMode::Auto, true);
    sc.refused = Some(RemediationAction::Apply);
    let r = simulate(sc);
    succeeded(&r);
    assert_eq!(r.statuses(), ["RemediationSkipped"]);
    assert_eq!(
        r.states_called("remediate_arn"),
        [
            "Create remediation run",
            "Safety check",
            "Apply remediation"
        ]
    );
    assert!(!r.visited("Wait for apply"));

    // Remediation plan fails: recorded as failed, no safety check.
    for phase in [Phase::Errored, Phase::Canceled, Phase::Discarded] {
        let mut sc = Scenario::new(RemediationMode::Auto, false);
        sc.remediation_phases = vec![Phase::Running, phase];
        let r = simulate(sc);
        succeeded(&r);
        assert_eq!(r.statuses(), ["RemediationFailed"], "{phase:?}");
        assert_eq!(r.states_called("notify_arn"), ["Notify outcome"]);
        assert!(!r.visited("Safety check"));
    }

    // Apply fails.
    for phase in [
        Phase::Errored,
        Phase::Canceled,
        Phase::Discarded,
        Phase::Planned,
        Phase::NeedsOverride,
    ] {
        let mut sc = Scenario::new(RemediationMode::Auto, true);
        sc.apply_phases = vec![Phase::Running, phase];
        let r = simulate(sc);
        succeeded(&r);
        assert_eq!(r.statuses(), ["RemediationFailed"], "{phase:?}");
        assert_eq!(r.states_called("notify_arn"), ["Notify outcome"]);
        assert_eq!(r.states_called(SNS_PUBLISH).len(), 1);
    }
}

#[test]
fn plan_failures_end_in_named_fail_states_before_any_record() {
    for (phase, state, error) in [
        (Phase::Errored, "Plan errored", "PlanErrored"),
        (Phase::Canceled, "Plan canceled", "PlanCanceled"),
        (Phase::Discarded, "Plan canceled", "PlanCanceled"),
        (
            Phase::AwaitingApply,
            "Unexpected plan state",
            "UnexpectedPlanState",
        ),
        (
            Phase::Applied,
            "Unexpected plan state",
            "UnexpectedPlanState",
        ),
    ] {
        let mut sc = Scenario::new(RemediationMode::Auto, true);
        sc.plan_phases = vec![Phase::Running, phase];
        let r = simulate(sc);
        assert_eq!(failed_at(&r), (state, error), "{phase:?}");
        assert!(
            r.statuses().is_empty(),
            "the on-failure handler records CheckFailed"
        );
    }
}

#[test]
fn approval_outcomes() {
    let approval = |answer: Answer| {
        let mut sc = Scenario::new(RemediationMode::Approval, true);
        sc.answer = answer;
        sc
    };
    // Fix: the drift's record and alert, the wait, a reply naming who approved,
    // then the remediation; its record replaces the drift's.
    let r = simulate(approval(Answer::Decides(DriftDecision::Fix)));
    succeeded(&r);
    assert_eq!(r.statuses(), ["DriftDetected", "Remediated"]);
    assert_eq!(
        r.states_called("notify_arn"),
        [
            "Notify outcome",
            WAIT_FOR_APPROVAL,
            READ_THE_DECISION,
            "Notify fix approved",
            "Notify outcome"
        ]
    );
    assert_eq!(
        r.states_called("remediate_arn"),
        [
            "Create remediation run",
            "Safety check",
            "Apply remediation"
        ]
    );
    assert_eq!(
        r.states_called(SNS_PUBLISH).len(),
        1,
        "one e-mail, about the outcome"
    );

    for (decision, status) in [
        (DriftDecision::Accept, "DriftAccepted"),
        (DriftDecision::Dismiss, "DriftDismissed"),
    ] {
        let r = simulate(approval(Answer::Decides(decision)));
        let out = succeeded(&r);
        assert_eq!(r.statuses(), ["DriftDetected", status]);
        assert_eq!(
            r.states_called("notify_arn"),
            [
                "Notify outcome",
                WAIT_FOR_APPROVAL,
                READ_THE_DECISION,
                "Notify outcome"
            ]
        );
        assert!(
            r.states_called("remediate_arn").is_empty(),
            "{status}: nothing is changed"
        );
        assert_eq!(out["results"][0]["status"], status);
    }

    // Nobody decides: the wait times out, caught into ApprovalExpired.
    let r = simulate(approval(Answer::TimesOut));
    let out = succeeded(&r);
    assert_eq!(r.statuses(), ["DriftDetected", "ApprovalExpired"]);
    assert!(r.visited("(caught States.Timeout in Wait for approval)"));
    assert_eq!(
        r.states_called("notify_arn"),
        ["Notify outcome", WAIT_FOR_APPROVAL, "Notify outcome"]
    );
    assert!(r.states_called("remediate_arn").is_empty());
    assert_eq!(out["results"][0]["status"], "ApprovalExpired");

    // The alert did not ask (no Slack app channel, or the same drift again,
    // or accepted): reported only, nothing waits.
    let mut sc = approval(Answer::Decides(DriftDecision::Fix));
    sc.approval_requested = false;
    let r = simulate(sc);
    succeeded(&r);
    assert_eq!(r.statuses(), ["DriftDetected"]);
    assert!(!r.visited(WAIT_FOR_APPROVAL));
}

#[test]
fn the_decision_acted_on_is_the_one_the_receiver_recorded_never_the_wake_up() {
    let forged = |says, recorded| {
        let mut sc = Scenario::new(RemediationMode::Approval, true);
        sc.answer = Answer::Forged { says, recorded };
        sc
    };
    // A forged "fix by Mallory" while Alice dismissed: dismissed, by Alice.
    let r = simulate(forged(DriftDecision::Fix, Some(DriftDecision::Dismiss)));
    let out = succeeded(&r);
    assert_eq!(r.statuses(), ["DriftDetected", "DriftDismissed"]);
    assert!(
        r.states_called("remediate_arn").is_empty(),
        "nothing is remediated"
    );
    let recorded = r
        .sim
        .calls
        .iter()
        .rfind(|c| c.target == "record_arn")
        .expect("the outcome is recorded");
    assert_eq!(recorded.input["approval"]["by"]["id"], "U0ALICE");
    assert_eq!(out["results"][0]["status"], "DriftDismissed");
    assert_eq!(
        r.states_called("notify_arn"),
        [
            "Notify outcome",
            WAIT_FOR_APPROVAL,
            READ_THE_DECISION,
            "Notify outcome"
        ]
    );

    // A forged wake-up before anyone decided: the check stops, nothing changes.
    let r = simulate(forged(DriftDecision::Fix, None));
    assert_eq!(
        failed_at(&r),
        ("No recorded decision", "NoRecordedDecision")
    );
    assert!(r.states_called("remediate_arn").is_empty());
    assert_eq!(r.statuses(), ["DriftDetected"]);

    // A forged dismissal while Alice approved the fix: her fix, named in the run.
    let r = simulate(forged(DriftDecision::Dismiss, Some(DriftDecision::Fix)));
    succeeded(&r);
    assert_eq!(r.statuses(), ["DriftDetected", "Remediated"]);
    let create = r
        .sim
        .calls
        .iter()
        .find(|c| c.state == "Create remediation run")
        .expect("the fix runs");
    assert_eq!(create.input["approval"]["by"]["id"], "U0ALICE");
}

#[test]
fn every_lambda_task_is_exercised_with_its_input_type() {
    // The scenarios above decode every Task's Parameters into the function's input
    // type; this proves together they cover every Lambda Task and every function.
    let mut scenarios = vec![
        Scenario::new(RemediationMode::Off, true),
        Scenario::new(RemediationMode::Auto, true),
    ];
    for answer in [
        Answer::Decides(DriftDecision::Fix),
        Answer::Decides(DriftDecision::Accept),
        Answer::Decides(DriftDecision::Dismiss),
        Answer::TimesOut,
    ] {
        let mut approval = Scenario::new(RemediationMode::Approval, true);
        approval.answer = answer;
        scenarios.push(approval);
    }
    let mut no_drift = Scenario::new(RemediationMode::Auto, true);
    no_drift.drifted = false;
    scenarios.push(no_drift);
    let mut unsafe_fix = Scenario::new(RemediationMode::Auto, true);
    unsafe_fix.safe = false;
    scenarios.push(unsafe_fix);
    let mut plan_fails = Scenario::new(RemediationMode::Auto, true);
    plan_fails.remediation_phases = vec![Phase::Errored];
    scenarios.push(plan_fails);
    let mut apply_fails = Scenario::new(RemediationMode::Auto, true);
    apply_fails.apply_phases = vec![Phase::Errored];
    scenarios.push(apply_fails);
    let mut email_fails = Scenario::new(RemediationMode::Off, true);
    email_fails.email_fails = true;
    scenarios.push(email_fails);

    let mut called = BTreeSet::new();
    for sc in scenarios {
        let r = simulate(sc);
        called.extend(r.sim.calls.iter().map(|c| c.state.clone()));
    }
    let doc = rendered(DEFAULT_SETTINGS);
    let tasks: BTreeSet<String> = all_states(&doc)
        .into_iter()
        .filter(|(_, st)| ty(st) == "Task")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(called, tasks, "every Task ran in some scenario");
    let functions: BTreeSet<&str> = all_states(&doc)
        .iter()
        .filter(|(_, st)| ty(st) == "Task")
        .filter_map(|(_, st)| task_function(st))
        .collect();
    assert_eq!(functions, FUNCTIONS.iter().map(|(v, _)| *v).collect());
}

#[test]
fn settings_are_typed_values_after_rendering() {
    for (mode, email, settle, approval) in [
        (RemediationMode::Auto, false, 0, 3600),
        (RemediationMode::Approval, true, 120, 86_400),
        (RemediationMode::Off, true, 5, 36),
    ] {
        let s = Settings {
            settle_seconds: settle,
            remediation_mode: mode,
            approval_timeout_seconds: approval,
            email_enabled: email,
        };
        let doc = rendered(s);
        let map = &doc["States"]["Check each workspace"];
        let ctx = Context {
            item: Some(to_json(&sample_check(0))),
            task_token: false,
            vars: Map::new(),
        };
        let state = json!({"admission": {"change": to_json(&sample_change(0, false))}});
        let item = eval_template(&map["ItemSelector"], &state, &ctx, true).unwrap();
        assert_eq!(item["settle_seconds"], json!(settle));
        assert_eq!(item["remediation_mode"], json!(mode_name(mode)));
        assert_eq!(item["approval_timeout_seconds"], json!(approval));
        assert_eq!(item["email_enabled"], json!(email));
        assert_eq!(item["started_at"], json!(START_TIME));
        let _: driftguard_core::model::CheckContext =
            serde_json::from_value(item).expect("CheckContext");
    }
}

// ---------------------------------------------------------------------------
// Mermaid graph in docs/state-machine.md
// ---------------------------------------------------------------------------

fn mermaid_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_matches('_').to_string()
}

fn rule_label(rule: &Value) -> String {
    fn atom(r: &Value) -> (String, String) {
        let var = r["Variable"].as_str().unwrap();
        let field = var.rsplit('.').next().unwrap().to_string();
        let value = r
            .get("StringEquals")
            .or_else(|| r.get("BooleanEquals"))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_else(|| panic!("unsupported rule {r}"));
        (field, value)
    }
    if let Some(any) = rule.get("Or").and_then(Value::as_array) {
        let atoms: Vec<(String, String)> = any.iter().map(atom).collect();
        let values: Vec<&str> = atoms.iter().map(|a| a.1.as_str()).collect();
        return format!("{} = {}", atoms[0].0, values.join(" or "));
    }
    if let Some(all) = rule.get("And").and_then(Value::as_array) {
        let parts: Vec<String> = all.iter().map(rule_label).collect();
        return parts.join(" and ");
    }
    if let Some(not) = rule.get("Not") {
        return rule_label(not)
            .replacen(" = ", " ≠ ", 1)
            .replace(" or ", " nor ");
    }
    if rule.get("IsPresent").is_some() {
        let var = rule["Variable"].as_str().unwrap();
        let field = var.rsplit('.').next().unwrap();
        return if rule["IsPresent"] == json!(true) {
            format!("{field} given")
        } else {
            format!("no {field}")
        };
    }
    let (f, v) = atom(rule);
    format!("{f} = {v}")
}

/// The outcome an edge into the single Record names (`Assign` of `status`).
fn status_label(assign: Option<&Value>) -> String {
    assign
        .and_then(|a| a.get("status"))
        .and_then(Value::as_str)
        .map(|s| format!(" → {s}"))
        .unwrap_or_default()
}

/// States in the order a reader follows them: breadth-first from StartAt.
fn flow_order(machine: &Value) -> Vec<(&String, &Value)> {
    let states = machine["States"].as_object().unwrap();
    let start = machine["StartAt"].as_str().unwrap();
    let mut order: Vec<(&String, &Value)> = Vec::new();
    let mut queue = std::collections::VecDeque::from([start.to_string()]);
    let mut seen = BTreeSet::from([start.to_string()]);
    while let Some(n) = queue.pop_front() {
        let (name, st) = states.get_key_value(&n).unwrap();
        order.push((name, st));
        for t in targets(st) {
            if seen.insert(t.clone()) {
                queue.push_back(t);
            }
        }
    }
    order
}

fn mermaid(doc: &Value) -> String {
    fn scope(
        out: &mut String,
        machine: &Value,
        depth: usize,
        fails: &mut Vec<String>,
        ids: &mut BTreeSet<String>,
    ) {
        let ind = "    ".repeat(depth);
        let ordered = flow_order(machine);
        for (name, st) in &ordered {
            let id = mermaid_id(name);
            assert!(ids.insert(id.clone()), "Mermaid id {id} is not unique");
            writeln!(out, "{ind}state \"{name}\" as {id}").unwrap();
            if ty(st) == "Map" {
                writeln!(out, "{ind}state {id} {{").unwrap();
                scope(out, &st["ItemProcessor"], depth + 1, fails, ids);
                writeln!(out, "{ind}}}").unwrap();
            }
            if ty(st) == "Fail" {
                fails.push(id);
            }
        }
        writeln!(
            out,
            "{ind}[*] --> {}",
            mermaid_id(machine["StartAt"].as_str().unwrap())
        )
        .unwrap();
        for (name, st) in &ordered {
            let id = mermaid_id(name);
            if let Some(choices) = st.get("Choices").and_then(Value::as_array) {
                for c in choices {
                    let to = mermaid_id(c["Next"].as_str().unwrap());
                    let status = status_label(c.get("Assign"));
                    writeln!(out, "{ind}{id} --> {to} : {}{status}", rule_label(c)).unwrap();
                }
                let to = mermaid_id(st["Default"].as_str().unwrap());
                let status = status_label(st.get("Assign"));
                writeln!(out, "{ind}{id} --> {to} : otherwise{status}").unwrap();
            } else if let Some(n) = st.get("Next").and_then(Value::as_str) {
                writeln!(out, "{ind}{id} --> {}", mermaid_id(n)).unwrap();
            }
            for c in catches(st) {
                writeln!(
                    out,
                    "{ind}{id} --> {} : on {}{}",
                    mermaid_id(&c.next),
                    c.errors.join(" or "),
                    status_label(c.assign.as_ref())
                )
                .unwrap();
            }
            if is_terminal(st) {
                writeln!(out, "{ind}{id} --> [*]").unwrap();
            }
        }
    }
    let mut out = String::from("stateDiagram-v2\n");
    let mut fails = Vec::new();
    scope(&mut out, doc, 1, &mut fails, &mut BTreeSet::new());
    out.push_str("    classDef failure fill:#fde2e2,stroke:#b91c1c,color:#7f1d1d\n");
    writeln!(out, "    class {} failure", fails.join(", ")).unwrap();
    out
}

#[test]
fn docs_graph_is_generated_from_the_definition() {
    // Labels use the un-rendered settings so the graph shows the real structure.
    let doc: Value = serde_json::from_str(&raw_template()).unwrap();
    let graph = mermaid(&doc);
    let path = workspace_root().join("docs/state-machine.md");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let start_marker = "```mermaid\n";
    let start = text
        .find(start_marker)
        .expect("docs/state-machine.md has a ```mermaid block")
        + start_marker.len();
    let end = start + text[start..].find("```").expect("closing ```");
    if std::env::var("DRIFTGUARD_UPDATE_DOCS").as_deref() == Ok("1") {
        let new = format!("{}{}{}", &text[..start], graph, &text[end..]);
        std::fs::write(&path, new).unwrap();
    } else {
        assert!(
            text[start..end] == graph,
            "docs/state-machine.md is out of date: run\n  DRIFTGUARD_UPDATE_DOCS=1 cargo test -p driftguard-core --test asl_contract\n--- expected ---\n{graph}"
        );
    }
}

/// on-failure discards a remediation run left behind only when the execution
/// failed in one of these states: a name the ASL does not have would never
/// match, and a renamed state would silently stop the clean-up.
#[test]
fn the_states_that_may_leave_a_remediation_run_are_states_of_the_asl() {
    let doc = rendered(DEFAULT_SETTINGS);
    let names: BTreeSet<String> = all_states(&doc).into_iter().map(|(n, _)| n).collect();
    let missing: Vec<&str> = driftguard_core::steps::REMEDIATION_STATES
        .iter()
        .copied()
        .filter(|s| !names.contains(*s))
        .collect();
    assert!(missing.is_empty(), "not states of the ASL: {missing:?}");
    for state in [
        "Create remediation run",
        "Safety check",
        "Apply remediation",
        "Wait for apply",
    ] {
        assert!(
            driftguard_core::steps::REMEDIATION_STATES.contains(&state),
            "{state}"
        );
    }
}
