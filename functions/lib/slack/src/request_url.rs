//! The Slack Request URL: button clicks on DriftGuard's alerts.
//!
//! A click reaches [`handle_callback`] through a Lambda function URL: the
//! request is verified as Slack's before anything of it is parsed, the click
//! must come from the configured Slack workspace and app, the person must be
//! an approver of the workspace, the decision is recorded once (a second
//! click is a no-op) and delivered with `SendTaskSuccess` (a wake-up only:
//! `Read the decision` reads the recorded one). A click after the wait timed
//! out answers "this check has expired".

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::interaction::{self, BlockActions, Interaction, action_ids};
use crate::signature::{self, Rejection};
use driftguard_core::approval::{MAX_ACCEPT_DAYS, MAX_REASON_CHARS, is_approval_id, wake_up};
use driftguard_core::config::Config;
use driftguard_core::error::{Error, Result};
use driftguard_core::model::{ApprovalDecision, CheckRef, DriftDecision, SlackUser};
use driftguard_core::ports::{
    ApprovalRequest, ApprovalStatus, ApprovalStore, ChatApi, DecisionRecorded, SecretSource,
    TaskCallbacks, TaskDelivery,
};
use driftguard_core::secrets::{SecretShape, secret_field};

/// An HTTP request as the function URL delivers it (headers lower-case, the
/// body decoded from base64 when it was).
#[derive(Debug, Clone, Default)]
pub struct CallbackRequest {
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// The HTTP answer to Slack.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackResponse {
    pub status: u16,
    /// JSON `{"ok", "text"}`: Slack ignores it for button clicks; people
    /// debugging with curl and the tests read it.
    pub body: Value,
}

impl CallbackResponse {
    fn new(status: u16, ok: bool, text: impl Into<String>) -> Self {
        CallbackResponse {
            status,
            body: json!({"ok": ok, "text": text.into()}),
        }
    }

    fn ack() -> Self {
        CallbackResponse {
            status: 200,
            body: json!({"ok": true}),
        }
    }

    pub fn text(&self) -> &str {
        self.body.get("text").and_then(Value::as_str).unwrap_or("")
    }
}

/// The app's signing secret, from Secrets Manager. A value read is trusted
/// for [`SIGNING_SECRET_TTL_SECONDS`], then read again, so a warm container
/// stops accepting a rotated (leaked) secret within that time. After a
/// mismatch it is also re-read early (it may just have been rotated), at most
/// every five minutes, so forged requests cannot make the receiver hammer
/// Secrets Manager.
pub struct SigningSecret {
    secrets: Arc<dyn SecretSource>,
    name: String,
    last_refresh: Mutex<Option<i64>>,
    /// The key and when it was read (epoch seconds).
    cached: Mutex<Option<(i64, Vec<u8>)>>,
}

const SECRET_REFRESH_SECONDS: i64 = 300;
/// How long a signing secret read from Secrets Manager is trusted before it
/// is read again, so a rotated (leaked) secret stops verifying within this time.
pub const SIGNING_SECRET_TTL_SECONDS: i64 = 60;

impl SigningSecret {
    pub fn new(secrets: Arc<dyn SecretSource>, name: impl Into<String>) -> Self {
        SigningSecret {
            secrets,
            name: name.into(),
            last_refresh: Mutex::new(None),
            cached: Mutex::new(None),
        }
    }

    /// The key, read again from Secrets Manager once the cached one is older
    /// than its time to live. When it cannot be read, the request fails (503)
    /// rather than being verified with a key past its time.
    async fn key(&self, now_epoch: i64) -> Result<Vec<u8>> {
        let fresh_enough = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| (0..SIGNING_SECRET_TTL_SECONDS).contains(&(now_epoch - at)))
            .map(|(_, key)| key.clone());
        if let Some(key) = fresh_enough {
            return Ok(key);
        }
        let key = self.parse(&self.secrets.refresh(&self.name).await?)?;
        self.remember(&key, now_epoch);
        Ok(key)
    }

    fn remember(&self, key: &[u8], now_epoch: i64) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((now_epoch, key.to_vec()));
    }

    fn parse(&self, value: &str) -> Result<Vec<u8>> {
        let expected = format!(
            "secret '{}' must hold the Slack app's signing secret (Basic Information → App Credentials), as plain text or as JSON {{\"signing_secret\": \"…\"}}",
            self.name
        );
        let secret = secret_field(value, "signing_secret").map_err(|shape| {
            Error::ConfigError(match shape {
                SecretShape::InvalidJson => {
                    format!("{expected}; it holds JSON that does not parse")
                }
                SecretShape::MissingField => {
                    format!("{expected}; its JSON has no string \"signing_secret\"")
                }
            })
        })?;
        if secret.is_empty() {
            return Err(Error::ConfigError(format!("{expected}; it is empty")));
        }
        Ok(secret.into_bytes())
    }

    /// Verifies a request: `Ok(Err(_))` is a request that is not Slack's.
    pub async fn verify(
        &self,
        request: &CallbackRequest,
        now_epoch: i64,
    ) -> Result<std::result::Result<(), Rejection>> {
        let timestamp = request
            .headers
            .get("x-slack-request-timestamp")
            .map(String::as_str);
        let signature_header = request.headers.get("x-slack-signature").map(String::as_str);
        let key = self.key(now_epoch).await?;
        let verdict =
            signature::verify(&key, timestamp, signature_header, &request.body, now_epoch);
        if verdict != Err(Rejection::BadSignature) {
            return Ok(verdict);
        }
        let may_refresh = {
            let mut last = self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| now_epoch - t >= SECRET_REFRESH_SECONDS);
            if due {
                *last = Some(now_epoch);
            }
            due
        };
        if !may_refresh {
            return Ok(verdict);
        }
        let fresh = self.parse(&self.secrets.refresh(&self.name).await?)?;
        self.remember(&fresh, now_epoch);
        if fresh == key {
            return Ok(verdict);
        }
        Ok(signature::verify(
            &fresh,
            timestamp,
            signature_header,
            &request.body,
            now_epoch,
        ))
    }
}

/// User groups' members, kept a minute (the receiver answers within 3 seconds).
#[derive(Default)]
pub struct GroupCache {
    groups: Mutex<HashMap<String, (i64, Vec<String>)>>,
}

const GROUP_CACHE_SECONDS: i64 = 60;

impl GroupCache {
    async fn members(
        &self,
        chat: &dyn ChatApi,
        group: &str,
        now_epoch: i64,
    ) -> Result<Vec<String>> {
        if let Some((at, members)) = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(group)
            .cloned()
        {
            if now_epoch - at < GROUP_CACHE_SECONDS {
                return Ok(members);
            }
        }
        let members = chat.user_group_members(group).await?;
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group.to_string(), (now_epoch, members.clone()));
        Ok(members)
    }
}

/// What the receiver uses, built once per container.
pub struct Receiver<'a> {
    pub signing_secret: &'a SigningSecret,
    pub chat: &'a dyn ChatApi,
    pub approvals: &'a dyn ApprovalStore,
    pub tasks: &'a dyn TaskCallbacks,
    pub groups: &'a GroupCache,
    pub config: &'a Config,
}

/// Answers one request to the Slack Request URL. Never fails: every problem
/// is an HTTP answer (a 5xx when a dependency is down, so Slack shows an error
/// and the person can click again).
pub async fn handle_callback(
    request: &CallbackRequest,
    receiver: &Receiver<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> CallbackResponse {
    match handle(request, receiver, now).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error_type = e.error_type(), error = %e, "the click could not be handled");
            CallbackResponse::new(
                if e.is_transient() { 503 } else { 500 },
                false,
                format!(
                    "DriftGuard could not handle the click ({}); try again in a minute",
                    e.error_type()
                ),
            )
        }
    }
}

async fn handle(
    request: &CallbackRequest,
    receiver: &Receiver<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CallbackResponse> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Ok(CallbackResponse::new(
            405,
            false,
            "only POST requests from Slack are accepted",
        ));
    }
    // Verified before anything of the request is read.
    if let Err(rejection) = receiver
        .signing_secret
        .verify(request, now.timestamp())
        .await?
    {
        tracing::warn!(reason = %rejection, "refused a request that is not Slack's");
        return Ok(CallbackResponse::new(
            401,
            false,
            format!("not a request signed by Slack: {rejection}"),
        ));
    }
    let actions = match interaction::parse(&request.body) {
        Ok(Interaction::BlockActions(actions)) => actions,
        Ok(Interaction::Other(kind)) => {
            tracing::info!(kind, "acknowledged an interaction DriftGuard does not use");
            return Ok(CallbackResponse::ack());
        }
        Err(problem) => {
            tracing::warn!(problem, "a signed request without an interaction payload");
            return Ok(CallbackResponse::new(400, false, problem));
        }
    };
    let decision = actions.actions.iter().find_map(|a| {
        let decision = match a.action_id.as_str() {
            action_ids::FIX => DriftDecision::Fix,
            action_ids::ACCEPT => DriftDecision::Accept,
            action_ids::DISMISS => DriftDecision::Dismiss,
            _ => return None,
        };
        Some((decision, a.value.clone().unwrap_or_default()))
    });
    // Link buttons and the date picker: acknowledged (Slack warns the person otherwise).
    let Some((decision, id)) = decision else {
        return Ok(CallbackResponse::ack());
    };
    if let Some(refused) = foreign_click(&actions, receiver.config) {
        tracing::warn!(team_id = ?actions.team_id, api_app_id = ?actions.api_app_id, user = %actions.user.id, "refused a click from another Slack workspace or app");
        return Ok(refused);
    }
    let answer = decide(&actions, decision, &id, receiver, now).await?;
    if let Some(url) = actions.response_url.as_deref() {
        let ephemeral = json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": answer.text(),
        });
        if let Err(e) = receiver.chat.respond(url, &ephemeral).await {
            tracing::warn!(error = %e, "could not answer the person through response_url");
        }
    }
    Ok(answer)
}

/// A click that is not from the configured Slack workspace and app (when
/// they are configured): 403, nothing is read or decided.
fn foreign_click(actions: &BlockActions, config: &Config) -> Option<CallbackResponse> {
    let app = &config.slack_app;
    if let Some(team) = app.team_id.as_deref()
        && actions.team_id.as_deref() != Some(team)
    {
        return Some(CallbackResponse::new(
            403,
            false,
            "This click comes from another Slack workspace than the one DriftGuard's app is installed in; nothing was changed.",
        ));
    }
    if let Some(app_id) = app.app_id.as_deref()
        && actions.api_app_id.as_deref() != Some(app_id)
    {
        return Some(CallbackResponse::new(
            403,
            false,
            "This click is for another Slack app than DriftGuard's; nothing was changed.",
        ));
    }
    None
}

async fn decide(
    actions: &BlockActions,
    decision: DriftDecision,
    id: &str,
    receiver: &Receiver<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CallbackResponse> {
    let user = &actions.user;
    let expired = || {
        CallbackResponse::new(
            200,
            false,
            "This check has expired: its decision time ran out (or the check ended), so nothing was changed. A new check alerts again if the drift is still there.",
        )
    };
    if !is_approval_id(id) {
        return Ok(expired());
    }
    let Some(request) = receiver.approvals.get(id).await? else {
        return Ok(expired());
    };
    if !is_approver(user, &request.check, receiver, now.timestamp()).await? {
        tracing::warn!(user = %user.id, workspace = %request.check, "a click by someone who is not an approver");
        return Ok(CallbackResponse::new(
            403,
            false,
            format!(
                "You are not an approver of {}: ask someone on its slack.approvers list, or have them add you.",
                request.check
            ),
        ));
    }
    if let Some(earlier) = request.decision.as_ref() {
        return Ok(already_decided(earlier));
    }
    if request.status == ApprovalStatus::Expired
        || request.deadline.is_some_and(|d| now.timestamp() >= d)
    {
        return Ok(expired());
    }
    let decided = match decision_of(actions, decision, now) {
        Ok(decided) => decided,
        Err(instruction) => return Ok(CallbackResponse::new(200, false, instruction)),
    };
    match receiver
        .approvals
        .decide(id, &decided, now.timestamp())
        .await?
    {
        DecisionRecorded::AlreadyDecided(earlier) => Ok(already_decided(&earlier)),
        DecisionRecorded::Expired | DecisionRecorded::Unknown => Ok(expired()),
        DecisionRecorded::Decided { task_token: None } => {
            // The execution has not reached `Wait for approval` yet; that step delivers it.
            tracing::info!(approval_id = id, user = %user.id, decision = decision.as_str(), "decision recorded before the wait began");
            Ok(CallbackResponse::new(
                200,
                true,
                confirmation(&decided, &request),
            ))
        }
        DecisionRecorded::Decided {
            task_token: Some(token),
        } => {
            let delivery = receiver.tasks.send_success(&token, &wake_up()).await;
            let confirmed = || CallbackResponse::new(200, true, confirmation(&decided, &request));
            let taken_over = || {
                tracing::info!(approval_id = id, execution_id = %request.execution_id, user = %user.id, decision = decision.as_str(), "a newer attempt of the wait holds the decision and delivers it");
                Ok(confirmed())
            };
            match delivery {
                Ok(TaskDelivery::Delivered) => {
                    tracing::info!(approval_id = id, execution_id = %request.execution_id, workspace = %request.check, user = %user.id, decision = decision.as_str(), "decision delivered");
                    Ok(confirmed())
                }
                Ok(TaskDelivery::Gone(why)) => {
                    // Expired only while this token is still the one in use:
                    // else a newer attempt of the wait took the decision over.
                    if receiver.approvals.expire(id, Some(&token)).await? {
                        tracing::info!(approval_id = id, why, "the check was no longer waiting");
                        return Ok(expired());
                    }
                    match receiver.approvals.get(id).await? {
                        Some(current) if current.status == ApprovalStatus::Decided => taken_over(),
                        _ => Ok(expired()),
                    }
                }
                Err(e) => {
                    // Let the person click again once Step Functions answers —
                    // unless a newer attempt of the wait took the decision over.
                    if receiver.approvals.undo_decision(id, &token).await? {
                        return Err(e);
                    }
                    match receiver.approvals.get(id).await? {
                        Some(current) if current.status == ApprovalStatus::Decided => taken_over(),
                        _ => Err(e),
                    }
                }
            }
        }
    }
}

async fn is_approver(
    user: &SlackUser,
    check: &CheckRef,
    receiver: &Receiver<'_>,
    now_epoch: i64,
) -> Result<bool> {
    let Some(route) = receiver.config.route(check) else {
        return Ok(false);
    };
    let approvers = &route.slack.approvers;
    if approvers.contains(&user.id) {
        return Ok(true);
    }
    for group in approvers.iter().filter(|a| a.starts_with('S')) {
        if receiver
            .groups
            .members(receiver.chat, group, now_epoch)
            .await?
            .contains(&user.id)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn already_decided(earlier: &ApprovalDecision) -> CallbackResponse {
    let who = earlier
        .by
        .as_ref()
        .map(|u| format!("<@{}>", u.id))
        .unwrap_or_else(|| "someone".into());
    CallbackResponse::new(
        200,
        false,
        format!(
            "Already decided: {who} chose {}{}. Nothing more was done.",
            earlier.decision.as_str(),
            earlier
                .decided_at
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
    )
}

fn confirmation(decided: &ApprovalDecision, request: &ApprovalRequest) -> String {
    match decided.decision {
        DriftDecision::Fix => format!(
            "Fix approved for {}: DriftGuard creates the targeted run now; the result follows in the thread.",
            request.check
        ),
        DriftDecision::Accept => format!(
            "Drift in {} accepted until {} (end of day, UTC).",
            request.check,
            decided.until.as_deref().unwrap_or("?")
        ),
        DriftDecision::Dismiss => {
            format!("Alert for {} dismissed; nothing is changed.", request.check)
        }
    }
}

/// The decision a click makes; for Accept the reason and date typed beside
/// the buttons (an instruction for the person when they are missing).
fn decision_of(
    actions: &BlockActions,
    decision: DriftDecision,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<ApprovalDecision, String> {
    let mut decided = ApprovalDecision {
        decision,
        automatic: false,
        by: Some(actions.user.clone()),
        decided_at: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        reason: None,
        until: None,
    };
    if decision != DriftDecision::Accept {
        return Ok(decided);
    }
    let reason = actions
        .text_input(action_ids::ACCEPT_REASON)
        .ok_or("Write why you accept this drift in the box above the buttons, then click Accept drift again.")?;
    let today = now.date_naive();
    let until = actions
        .selected_date(action_ids::ACCEPT_UNTIL)
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .ok_or("Pick the last day of the acceptance in the date picker beside the button, then click Accept drift again.")?;
    let days = (until - today).num_days();
    if !(1..=MAX_ACCEPT_DAYS).contains(&days) {
        return Err(format!(
            "Pick a date from tomorrow to {MAX_ACCEPT_DAYS} days ahead (you picked {until}), then click Accept drift again."
        ));
    }
    decided.reason = Some(reason.chars().take(MAX_REASON_CHARS).collect());
    decided.until = Some(until.format("%Y-%m-%d").to_string());
    Ok(decided)
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftguard_core::approval::{
        await_decision, new_approval_id, partition_key, read_decision,
    };
    use driftguard_core::model::{
        AwaitDecisionRequest, NO_RECORDED_DECISION, ReadDecisionRequest, ThreadRef,
    };
    use driftguard_core::secrets::StaticSecrets;
    use driftguard_testkit::{InMemoryApprovals, RecordingChat, RecordingTasks};

    const SECRET: &str = "signing";
    const KEY: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn check() -> CheckRef {
        CheckRef {
            organization: "acme".into(),
            workspace: "prod".into(),
        }
    }

    fn config() -> Config {
        let routes = r#"[{"organization":"acme","workspace":"prod","slack":{"channel":"C0DRIFT","approvers":["U0ALICE","S0OPS"]}}]"#;
        Config::from_lookup(|k| match k {
            "DRIFTGUARD_WORKSPACES" => Some(routes.to_string()),
            "DRIFTGUARD_SLACK_BOT_TOKEN_SECRET" => Some("bot".to_string()),
            _ => None,
        })
        .unwrap()
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    struct World {
        signing: SigningSecret,
        chat: RecordingChat,
        approvals: InMemoryApprovals,
        tasks: RecordingTasks,
        groups: GroupCache,
        config: Config,
        id: String,
    }

    impl World {
        async fn new() -> World {
            let world = World {
                signing: SigningSecret::new(
                    Arc::new(StaticSecrets::new().with(SECRET, KEY)),
                    SECRET,
                ),
                chat: RecordingChat::new().with_group("S0OPS", &["U0BOB"]),
                approvals: InMemoryApprovals::new(),
                tasks: RecordingTasks::default(),
                groups: GroupCache::default(),
                config: config(),
                id: new_approval_id().unwrap(),
            };
            world
                .approvals
                .create(
                    &ApprovalRequest {
                        id: world.id.clone(),
                        check: check(),
                        execution_id: "exec-1".into(),
                        thread: ThreadRef {
                            channel: "C1".into(),
                            ts: "1.1".into(),
                        },
                        status: ApprovalStatus::Posted,
                        deadline: None,
                        task_token: None,
                        decision: None,
                    },
                    0,
                )
                .await
                .unwrap();
            world
        }

        /// `Read the decision` of this world's check.
        fn read(&self) -> ReadDecisionRequest {
            ReadDecisionRequest {
                action: driftguard_core::model::NotifyAction::ReadDecision,
                check: check(),
                execution_id: "exec-1".into(),
                approval_id: self.id.clone(),
            }
        }

        fn receiver(&self) -> Receiver<'_> {
            Receiver {
                signing_secret: &self.signing,
                chat: &self.chat,
                approvals: &self.approvals,
                tasks: &self.tasks,
                groups: &self.groups,
                config: &self.config,
            }
        }

        async fn click(&self, user: &str, action: &str, state: Value) -> CallbackResponse {
            self.click_from("T1", "A0DRIFT", user, action, state).await
        }

        /// A click as Slack posts it from workspace `team` for the app `app`.
        async fn click_from(
            &self,
            team: &str,
            app: &str,
            user: &str,
            action: &str,
            state: Value,
        ) -> CallbackResponse {
            let request = self.signed_click(team, app, user, action, state);
            handle_callback(&request, &self.receiver(), now()).await
        }

        fn signed_click(
            &self,
            team: &str,
            app: &str,
            user: &str,
            action: &str,
            state: Value,
        ) -> CallbackRequest {
            let payload = json!({
                "type": "block_actions",
                "api_app_id": app,
                "user": {"id": user, "username": user.to_lowercase(), "team_id": team},
                "team": {"id": team},
                "response_url": "https://hooks.slack.com/actions/T1/1/abc",
                "state": {"values": state},
                "actions": [{"action_id": action, "block_id": "driftguard_decision", "type": "button", "value": self.id}],
            });
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &payload.to_string())
                .finish();
            let ts = now().timestamp().to_string();
            CallbackRequest {
                method: "POST".into(),
                headers: BTreeMap::from([
                    ("x-slack-request-timestamp".into(), ts.clone()),
                    (
                        "x-slack-signature".into(),
                        signature::sign(KEY.as_bytes(), &ts, body.as_bytes()),
                    ),
                ]),
                body: body.into_bytes(),
            }
        }
    }

    /// Step Functions while `Wait for approval` is retried: its new attempt
    /// (token-2) keeps its token just before the click's delivery to the old
    /// one (token-1) is answered — no longer waiting, or a passing error.
    struct RetriedWait {
        approvals: Arc<InMemoryApprovals>,
        approval_id: String,
        delivered: RecordingTasks,
        old_token_answer: Option<TaskDelivery>,
    }

    #[async_trait::async_trait]
    impl TaskCallbacks for RetriedWait {
        async fn send_success(&self, task_token: &str, output: &Value) -> Result<TaskDelivery> {
            if task_token != "token-1" {
                return self.delivered.send_success(task_token, output).await;
            }
            let retried = AwaitDecisionRequest {
                check: check(),
                execution_id: "exec-1".into(),
                approval_id: self.approval_id.clone(),
                task_token: "token-2".into(),
                timeout_seconds: 3600,
            };
            await_decision(
                &retried,
                &*self.approvals,
                &self.delivered,
                now().timestamp(),
            )
            .await?;
            self.old_token_answer
                .clone()
                .ok_or_else(|| Error::AwsUnavailable("SendTaskSuccess throttled".into()))
        }
    }

    #[tokio::test]
    async fn a_click_racing_a_retried_wait_is_answered_by_what_the_request_says() {
        for old_token_answer in [
            Some(TaskDelivery::Gone("InvalidToken".into())),
            Some(TaskDelivery::Gone("TaskTimedOut".into())),
            None,
        ] {
            let w = World::new().await;
            let approvals = Arc::new(InMemoryApprovals::new());
            let posted = w.approvals.get(&w.id).await.unwrap().unwrap();
            approvals.create(&posted, 0).await.unwrap();
            let tasks = RetriedWait {
                approvals: approvals.clone(),
                approval_id: w.id.clone(),
                delivered: RecordingTasks::default(),
                old_token_answer: old_token_answer.clone(),
            };
            let first = AwaitDecisionRequest {
                check: check(),
                execution_id: "exec-1".into(),
                approval_id: w.id.clone(),
                task_token: "token-1".into(),
                timeout_seconds: 3600,
            };
            await_decision(&first, &*approvals, &tasks, now().timestamp())
                .await
                .unwrap();
            let receiver = Receiver {
                approvals: &*approvals,
                tasks: &tasks,
                ..w.receiver()
            };
            let click = w.signed_click("T1", "A0DRIFT", "U0ALICE", action_ids::FIX, json!({}));
            let answer = handle_callback(&click, &receiver, now()).await;
            // The retried wait delivered Alice's fix to the waiting execution…
            let delivered = tasks.delivered.delivered.lock().unwrap().clone();
            assert_eq!(delivered.len(), 1, "{old_token_answer:?}");
            assert_eq!(delivered[0].0, "token-2");
            // …so the request keeps her decision and she is told so, not "expired".
            let stored = approvals.get(&w.id).await.unwrap().unwrap();
            assert_eq!(
                stored.status,
                ApprovalStatus::Decided,
                "{old_token_answer:?}"
            );
            assert_eq!(
                stored.decision.and_then(|d| d.by).map(|u| u.id).as_deref(),
                Some("U0ALICE"),
                "{old_token_answer:?}"
            );
            assert_eq!(answer.status, 200, "{old_token_answer:?}: {answer:?}");
            assert!(
                answer.text().contains("Fix approved"),
                "{old_token_answer:?}: {answer:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_wake_up_without_a_recorded_decision_decides_nothing() {
        let w = World::new().await;
        let req = AwaitDecisionRequest {
            check: check(),
            execution_id: "exec-1".into(),
            approval_id: w.id.clone(),
            task_token: "token-1".into(),
            timeout_seconds: 3600,
        };
        await_decision(&req, &w.approvals, &w.tasks, now().timestamp())
            .await
            .unwrap();
        // Someone with the token from the execution history calls
        // SendTaskSuccess with a "fix" of their own: the request says nothing.
        let read = read_decision(&w.read(), &w.approvals).await.unwrap();
        assert_eq!(read["decision"], NO_RECORDED_DECISION, "{read}");
        assert!(read.get("by").is_none(), "{read}");
        // Another check's request is never read as this one's.
        let mut elsewhere = w.read();
        elsewhere.execution_id = "exec-2".into();
        let err = read_decision(&elsewhere, &w.approvals).await.unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{err}");
        // After Alice's click the same read answers her decision.
        w.click("U0ALICE", action_ids::FIX, json!({})).await;
        let read = read_decision(&w.read(), &w.approvals).await.unwrap();
        assert_eq!(
            (read["decision"].as_str(), read["by"]["id"].as_str()),
            (Some("fix"), Some("U0ALICE"))
        );
    }

    #[tokio::test]
    async fn a_click_on_a_check_that_stopped_waiting_is_expired_and_decides_nothing() {
        let w = World::new().await;
        let req = AwaitDecisionRequest {
            check: check(),
            execution_id: "exec-1".into(),
            approval_id: w.id.clone(),
            task_token: "token-1".into(),
            timeout_seconds: 3600,
        };
        await_decision(&req, &w.approvals, &w.tasks, now().timestamp())
            .await
            .unwrap();
        w.tasks.gone.lock().unwrap().push("token-1".into());
        let late = w.click("U0ALICE", action_ids::FIX, json!({})).await;
        assert!(late.text().contains("This check has expired"), "{late:?}");
        let stored = w.approvals.get(&w.id).await.unwrap().unwrap();
        assert_eq!(stored.status, ApprovalStatus::Expired);
        assert!(
            stored.decision.is_none(),
            "an undelivered decision is not kept: {stored:?}"
        );
        let again = w.click("U0BOB", action_ids::DISMISS, json!({})).await;
        assert!(again.text().contains("This check has expired"), "{again:?}");
    }

    #[tokio::test]
    async fn a_fix_by_an_approver_reaches_the_waiting_execution_once() {
        let w = World::new().await;
        let req = AwaitDecisionRequest {
            check: check(),
            execution_id: "exec-1".into(),
            approval_id: w.id.clone(),
            task_token: "token-1".into(),
            timeout_seconds: 3600,
        };
        await_decision(&req, &w.approvals, &w.tasks, now().timestamp())
            .await
            .unwrap();
        let first = w.click("U0ALICE", action_ids::FIX, json!({})).await;
        assert_eq!(first.status, 200, "{first:?}");
        let delivered = w.tasks.delivered.lock().unwrap().clone();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].0, "token-1");
        // A wake-up only: the decision is what the receiver recorded.
        assert_eq!(delivered[0].1, wake_up());
        let read = read_decision(&w.read(), &w.approvals).await.unwrap();
        assert_eq!(read["decision"], "fix");
        assert_eq!(read["by"]["id"], "U0ALICE");
        // A second click (by a group member) is a no-op that says who decided.
        let second = w.click("U0BOB", action_ids::DISMISS, json!({})).await;
        assert_eq!(second.status, 200);
        assert!(
            second
                .text()
                .contains("Already decided: <@U0ALICE> chose fix"),
            "{second:?}"
        );
        assert_eq!(w.tasks.delivered.lock().unwrap().len(), 1);
        assert_eq!(
            w.chat.responses().len(),
            2,
            "both people got an ephemeral answer"
        );
    }

    #[tokio::test]
    async fn a_click_before_the_wait_is_delivered_by_the_wait() {
        let w = World::new().await;
        let clicked = w.click("U0BOB", action_ids::DISMISS, json!({})).await;
        assert_eq!(clicked.status, 200);
        assert!(w.tasks.delivered.lock().unwrap().is_empty());
        let req = AwaitDecisionRequest {
            check: check(),
            execution_id: "exec-1".into(),
            approval_id: w.id.clone(),
            task_token: "token-1".into(),
            timeout_seconds: 3600,
        };
        await_decision(&req, &w.approvals, &w.tasks, now().timestamp())
            .await
            .unwrap();
        let delivered = w.tasks.delivered.lock().unwrap().clone();
        assert_eq!(delivered[0].1, wake_up());
        let read = read_decision(&w.read(), &w.approvals).await.unwrap();
        assert_eq!(read["decision"], "dismiss");
        assert_eq!(read["by"]["id"], "U0BOB");
    }

    #[tokio::test]
    async fn strangers_forgers_and_late_clicks_change_nothing() {
        let w = World::new().await;
        let req = AwaitDecisionRequest {
            check: check(),
            execution_id: "exec-1".into(),
            approval_id: w.id.clone(),
            task_token: "token-1".into(),
            timeout_seconds: 60,
        };
        await_decision(&req, &w.approvals, &w.tasks, now().timestamp() - 61)
            .await
            .unwrap();
        let stranger = w.click("U0MALLORY", action_ids::FIX, json!({})).await;
        assert_eq!(stranger.status, 403);
        // Past the deadline: expired.
        let late = w.click("U0ALICE", action_ids::FIX, json!({})).await;
        assert_eq!(late.status, 200);
        assert!(late.text().contains("This check has expired"), "{late:?}");
        assert!(w.tasks.delivered.lock().unwrap().is_empty());

        // Forged: another key.
        let mut forged = CallbackRequest {
            method: "POST".into(),
            headers: BTreeMap::new(),
            body: b"payload=%7B%7D".to_vec(),
        };
        let ts = now().timestamp().to_string();
        forged
            .headers
            .insert("x-slack-request-timestamp".into(), ts.clone());
        forged.headers.insert(
            "x-slack-signature".into(),
            signature::sign(b"not the secret", &ts, &forged.body),
        );
        assert_eq!(
            handle_callback(&forged, &w.receiver(), now()).await.status,
            401
        );
        // Stale: signed correctly, ten minutes old.
        let old = (now().timestamp() - 600).to_string();
        forged
            .headers
            .insert("x-slack-request-timestamp".into(), old.clone());
        forged.headers.insert(
            "x-slack-signature".into(),
            signature::sign(KEY.as_bytes(), &old, &forged.body),
        );
        let stale = handle_callback(&forged, &w.receiver(), now()).await;
        assert_eq!(stale.status, 401);
        assert!(stale.text().contains("600 s"), "{stale:?}");
        forged.method = "GET".into();
        assert_eq!(
            handle_callback(&forged, &w.receiver(), now()).await.status,
            405
        );
    }

    #[tokio::test]
    async fn an_acceptance_needs_a_reason_and_a_date_ahead() {
        let w = World::new().await;
        let state = |reason: Option<&str>, until: &str| {
            json!({
                "driftguard_decision_reason": {"driftguard_accept_reason": {"type": "plain_text_input", "value": reason}},
                "driftguard_decision": {"driftguard_accept_until": {"type": "datepicker", "selected_date": until}}
            })
        };
        let no_reason = w
            .click("U0ALICE", action_ids::ACCEPT, state(None, "2026-12-01"))
            .await;
        assert!(no_reason.text().contains("Write why"), "{no_reason:?}");
        let past = w
            .click(
                "U0ALICE",
                action_ids::ACCEPT,
                state(Some("vendor"), "2026-11-22"),
            )
            .await;
        assert!(past.text().contains("from tomorrow"), "{past:?}");
        let ok = w
            .click(
                "U0ALICE",
                action_ids::ACCEPT,
                state(Some("vendor fix"), "2026-12-01"),
            )
            .await;
        assert_eq!(ok.status, 200);
        assert!(ok.text().contains("accepted until 2026-12-01"), "{ok:?}");
        let stored = w.approvals.get(&w.id).await.unwrap().unwrap();
        let decision = stored.decision.unwrap();
        assert_eq!(decision.reason.as_deref(), Some("vendor fix"));
        assert_eq!(decision.until.as_deref(), Some("2026-12-01"));
    }

    #[tokio::test]
    async fn a_rotated_signing_secret_replaces_the_old_one_within_its_time_to_live() {
        let secrets = Arc::new(StaticSecrets::new().with(SECRET, KEY));
        let signing = SigningSecret::new(secrets.clone(), SECRET);
        let signed = |key: &str, at: i64| {
            let body = b"payload=%7B%7D".to_vec();
            let ts = at.to_string();
            CallbackRequest {
                method: "POST".into(),
                headers: BTreeMap::from([
                    ("x-slack-request-timestamp".into(), ts.clone()),
                    (
                        "x-slack-signature".into(),
                        signature::sign(key.as_bytes(), &ts, &body),
                    ),
                ]),
                body,
            }
        };
        let t0 = now().timestamp();
        assert_eq!(signing.verify(&signed(KEY, t0), t0).await.unwrap(), Ok(()));
        // The secret is rotated (a leak): the old one must stop working soon,
        // even though requests signed with it keep verifying meanwhile.
        secrets.rotate(SECRET, "rotated-signing-secret");
        let later = t0 + SIGNING_SECRET_TTL_SECONDS + 1;
        assert_eq!(
            signing.verify(&signed(KEY, later), later).await.unwrap(),
            Err(Rejection::BadSignature),
            "the old secret is trusted past its time to live"
        );
        assert_eq!(
            signing
                .verify(&signed("rotated-signing-secret", later), later)
                .await
                .unwrap(),
            Ok(())
        );
    }

    #[tokio::test]
    async fn clicks_from_another_slack_workspace_or_app_decide_nothing() {
        let mut w = World::new().await;
        let routes = r#"[{"organization":"acme","workspace":"prod","slack":{"channel":"C0DRIFT","approvers":["U0ALICE","S0OPS"]}}]"#;
        w.config = Config::from_lookup(|k| match k {
            "DRIFTGUARD_WORKSPACES" => Some(routes.to_string()),
            "DRIFTGUARD_SLACK_BOT_TOKEN_SECRET" => Some("bot".to_string()),
            "DRIFTGUARD_SLACK_TEAM_ID" => Some("T1".to_string()),
            "DRIFTGUARD_SLACK_APP_ID" => Some("A0DRIFT".to_string()),
            _ => None,
        })
        .unwrap();
        let other_team = w
            .click_from("T9OTHER", "A0DRIFT", "U0ALICE", action_ids::FIX, json!({}))
            .await;
        assert_eq!(other_team.status, 403, "{other_team:?}");
        assert!(
            other_team.text().contains("Slack workspace"),
            "{other_team:?}"
        );
        let other_app = w
            .click_from("T1", "A9OTHER", "U0ALICE", action_ids::FIX, json!({}))
            .await;
        assert_eq!(other_app.status, 403, "{other_app:?}");
        assert!(other_app.text().contains("Slack app"), "{other_app:?}");
        let stored = w.approvals.get(&w.id).await.unwrap().unwrap();
        assert!(stored.decision.is_none(), "{stored:?}");
        // The configured workspace and app decide.
        let ok = w.click("U0ALICE", action_ids::DISMISS, json!({})).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert!(
            w.approvals
                .get(&w.id)
                .await
                .unwrap()
                .unwrap()
                .decision
                .is_some()
        );
    }

    #[test]
    fn approval_ids_are_opaque_random_and_distinct() {
        let a = new_approval_id().unwrap();
        assert!(is_approval_id(&a));
        assert_ne!(a, new_approval_id().unwrap());
        assert_eq!(partition_key(&a), format!("APPROVAL#{a}"));
    }
}
