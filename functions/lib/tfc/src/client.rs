//! The HCP Terraform / Terraform Enterprise API client.
//!
//! Every API request carries `Authorization: Bearer <token>` and the JSON:API
//! media type. Failures map to [`Error`] variants the state machine retries or
//! reports (docs/architecture.md, "Error names"):
//! 401 → re-read the token secret once and retry, then `TfcUnauthorized`;
//! 404 → `TfcNotFound`; 422 "Configuration version is missing" →
//! `TfcConfigurationMissing`; 429 → wait in-process when the reset is at most
//! 2 s (twice at most), else `TfcRateLimited`; 5xx, timeouts, connection
//! failures → `TfcUnavailable`; anything else unexpected → `TfcProtocol`.
//! Plan JSON needs workspace admin access: a 404 or 401 for it while the plan
//! itself is readable is `TfcPermissionDenied`, saying so.
//!
//! Download links (the plan JSON's 307 target, a plan's `log-read-url`) are
//! signed URLs: they get no token, whatever their origin, and neither they nor
//! their paths appear in a log line or an error.
//!
//! With a pacer ([`HttpTerraformCloud::with_pacer`]), each request first takes
//! a slot from the token's user's budget (the user comes from
//! `GET /account/details`, once per client); the runs list draws from its own,
//! per-minute budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use url::Url;

use super::jsonapi::{self, MEDIA_TYPE};
use driftguard_core::deadline;
use driftguard_core::error::{Error, Result};
use driftguard_core::model::CheckRef;
use driftguard_core::pacing::{self, Budget, PaceLimits};
use driftguard_core::ports::{
    ByteStream, PlanJsonStream, RequestPacer, RunSpec, SecretSource, TerraformCloud, TfcRun,
    TfcWorkspace,
};
use driftguard_core::tfc::{RunAction, log_tail};

/// Runs read when looking for the run a retried step already created. The
/// search narrows the list to runs whose message carries the tag.
const RUN_LIST_PAGE_SIZE: &str = "20";
/// Every run operation, so the runs list includes plan-only runs (it leaves
/// them out unless `filter[operation]` names them).
const ALL_RUN_OPERATIONS: &str =
    "plan_only,plan_and_apply,save_plan,refresh_only,destroy,empty_apply";
/// Largest plan log read for an errored plan's message.
const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;
/// Longest rate-limit reset waited out inside the Lambda; longer ones are left
/// to the state machine's retry.
const MAX_IN_PROCESS_RATE_LIMIT_WAIT: Duration = Duration::from_secs(2);
const MAX_RATE_LIMIT_RETRIES: u32 = 2;
/// `json-output` redirects once; a few more hops are tolerated.
const MAX_REDIRECTS: usize = 3;
/// Cap on ordinary API responses (a page of runs is a few dozen KiB).
const MAX_API_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Default cap on a streamed plan JSON (1 GiB).
pub const MAX_PLAN_JSON_BYTES: usize = 1024 * 1024 * 1024;
/// Only the start of an error body is read.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Timeouts and limits of [`HttpTerraformCloud`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Whole-request timeout, including reading the body.
    pub request_timeout: Duration,
    /// Largest plan JSON read: the plan is summarized as it streams in, so
    /// memory does not grow with it, but reading stops (a `TfcProtocol` error)
    /// past this size.
    pub max_plan_json_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_plan_json_bytes: MAX_PLAN_JSON_BYTES,
        }
    }
}

/// [`TerraformCloud`] over HTTP. Build once per Lambda container and reuse: it
/// keeps a connection pool.
pub struct HttpTerraformCloud {
    http: reqwest::Client,
    /// The address as configured, without a trailing slash (for browser links).
    address: String,
    base: Url,
    secrets: Arc<dyn SecretSource>,
    token_secret_name: String,
    max_plan_json_bytes: usize,
    /// One API request's timeout, cut to the time an invocation has left.
    request_timeout: Duration,
    /// Workspace id → "organization/name", so errors name the workspace a
    /// person knows rather than its id.
    workspace_names: Mutex<HashMap<String, String>>,
    /// The request budget shared with every other container, when configured.
    pacing: Option<Pacing>,
    /// How long a request may queue for a slot or wait out a 429 in-process
    /// ([`HttpTerraformCloud::with_patience`]); none: a few seconds.
    patience: Option<Duration>,
    /// The token's user id, once read ([`TerraformCloud::token_user`]).
    token_user: Mutex<Option<String>>,
}

/// Which of the token's user's budgets a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// Most endpoints: 30 requests per second per user.
    General,
    /// `GET /workspaces/:id/runs`: 30 requests per minute per user.
    RunList,
}

struct Pacing {
    pacer: Arc<dyn RequestPacer>,
    limits: PaceLimits,
    /// The token's user id, once read (`Some(None)`: it could not be read, so
    /// the host-wide budget is used). Never held across a request.
    user: Mutex<Option<Option<String>>>,
    /// One read of the user at a time: concurrent first requests wait for it
    /// rather than each reading the account.
    reading_user: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for HttpTerraformCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTerraformCloud")
            .field("address", &self.address)
            .field("token_secret_name", &self.token_secret_name)
            .finish_non_exhaustive()
    }
}

impl HttpTerraformCloud {
    /// A client for `address` (`https://app.terraform.io` or a Terraform
    /// Enterprise URL) whose token is read from the secret `token_secret_name`.
    /// The secret holds the token as plain text or as `{"token":"..."}`.
    pub fn new(
        address: &str,
        secrets: Arc<dyn SecretSource>,
        token_secret_name: impl Into<String>,
    ) -> Result<Self> {
        Self::with_options(
            address,
            secrets,
            token_secret_name,
            ClientOptions::default(),
        )
    }

    pub fn with_options(
        address: &str,
        secrets: Arc<dyn SecretSource>,
        token_secret_name: impl Into<String>,
        options: ClientOptions,
    ) -> Result<Self> {
        let address = address.trim().trim_end_matches('/').to_string();
        let base = Url::parse(&address).map_err(|e| {
            Error::ConfigError(format!(
                "HCP Terraform address '{address}' is not a URL ({e}); use e.g. https://app.terraform.io"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https")
            || base.cannot_be_a_base()
            || base.host_str().is_none()
        {
            return Err(Error::ConfigError(format!(
                "HCP Terraform address '{address}' must be an http(s) URL such as https://app.terraform.io"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            // Redirects are followed by hand so the token never leaves the API host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("driftguard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::ConfigError(format!(
                    "cannot build the HTTP client for HCP Terraform: {e}"
                ))
            })?;
        Ok(Self {
            http,
            address,
            base,
            secrets,
            token_secret_name: token_secret_name.into(),
            max_plan_json_bytes: options.max_plan_json_bytes,
            request_timeout: options.request_timeout,
            workspace_names: Mutex::new(HashMap::new()),
            pacing: None,
            patience: None,
            token_user: Mutex::new(None),
        })
    }

    /// Every API request first waits for a slot from `pacer`, in the token's
    /// user's budget with these limits (see [`driftguard_core::pacing`]).
    pub fn with_pacer(mut self, pacer: Arc<dyn RequestPacer>, limits: PaceLimits) -> Self {
        self.pacing = Some(Pacing {
            pacer,
            limits,
            user: Mutex::new(None),
            reading_user: tokio::sync::Mutex::new(()),
        });
        self
    }

    /// Lets a request queue up to `max_wait` for its slot in a shared budget,
    /// and wait out an HCP Terraform 429 whose reset is that close, instead of
    /// failing with `TfcRateLimited` after a few seconds. For callers with few
    /// retries of their own (on-failure is invoked asynchronously: Lambda
    /// retries it twice, then it goes to the DLQ); the invocation's deadline
    /// still bounds every wait.
    pub fn with_patience(mut self, max_wait: Duration) -> Self {
        self.patience = Some(max_wait);
        self
    }

    fn host(&self) -> &str {
        self.base.host_str().unwrap_or("unknown-host")
    }

    /// The budget a request to `endpoint` draws from, reading the token's
    /// user once (`GET /account/details`, itself paced in the host's budget).
    async fn budget(&self, pacing: &Pacing, endpoint: Endpoint) -> Budget {
        let cached = || {
            pacing
                .user
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        let user = match cached() {
            Some(user) => user,
            None => {
                let _one_at_a_time = pacing.reading_user.lock().await;
                match cached() {
                    Some(user) => user,
                    None => match self.read_user(pacing).await {
                        Ok(user) => {
                            *pacing.user.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some(user.clone());
                            user
                        }
                        // Asked again with the next request.
                        Err(()) => None,
                    },
                }
            }
        };
        let mut budget = match endpoint {
            Endpoint::General => Budget {
                key: pacing::budget_key(self.host(), user.as_deref(), None),
                limits: pacing.limits,
            },
            Endpoint::RunList => Budget {
                key: pacing::budget_key(self.host(), user.as_deref(), Some("runs-list")),
                limits: PaceLimits::run_list(),
            },
        };
        if let Some(patience) = self.patience {
            budget.limits.max_wait = budget.limits.max_wait.max(patience);
        }
        budget
    }

    /// The token's user id from `GET /account/details`: `Ok(None)` (the
    /// host-wide budget from now on) when the account cannot be read for good,
    /// `Err(())` when it failed for now (rate limit, outage: the host-wide
    /// budget for this request only).
    async fn read_user(&self, pacing: &Pacing) -> std::result::Result<Option<String>, ()> {
        let host_budget = Budget {
            key: pacing::budget_key(self.host(), None, None),
            limits: pacing.limits,
        };
        let url = self.api_url(&["account", "details"]);
        let read = async {
            let response = self
                .send_with(Method::GET, &url, None, Some(&host_budget))
                .await?;
            let body = self.success_body(response, "the token's account").await?;
            jsonapi::parse_account_id(&body)
        };
        match read.await {
            Ok(id) => {
                tracing::debug!(user_id = %id, "request budget keyed by the token's user");
                Ok(Some(id))
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cannot read the token's account now; pacing this request in the host-wide budget");
                Err(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the token's account; pacing requests in the host-wide budget");
                Ok(None)
            }
        }
    }

    /// Forgets the token's user (after a 401 the secret may hold another user's token).
    fn forget_user(&self) {
        if let Some(pacing) = &self.pacing {
            *pacing.user.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        *self
            .token_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// `{address}/api/v2/{segments…}`, each segment percent-encoded.
    fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // Cannot fail: `with_options` rejected cannot-be-a-base addresses.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v2"]).extend(segments);
        }
        url
    }

    async fn token(&self, refresh: bool) -> Result<String> {
        let name = &self.token_secret_name;
        let raw = if refresh {
            self.secrets.refresh(name).await?
        } else {
            self.secrets.secret(name).await?
        };
        token_from_secret(&raw, name)
    }

    /// Sends one API request in the general budget. See [`Self::send_to`].
    async fn send(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Response> {
        self.send_to(Endpoint::General, method, url, body).await
    }

    /// Sends one API request, paced in `endpoint`'s budget. Handles 401 (token
    /// re-read once), 429 (short waits), 5xx and transport failures; every
    /// other response is returned for the caller to interpret.
    async fn send_to(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Response> {
        let budget = match &self.pacing {
            Some(pacing) => Some(self.budget(pacing, endpoint).await),
            None => None,
        };
        self.send_with(method, url, body, budget.as_ref()).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        budget: Option<&Budget>,
    ) -> Result<Response> {
        // API paths only: nothing secret in them.
        let label = format!("{method} {}", url.path());
        let mut token = self.token(false).await?;
        let mut token_refreshed = false;
        let mut rate_limit_retries = 0;
        loop {
            if let (Some(pacing), Some(budget)) = (&self.pacing, budget) {
                pacing::pace(pacing.pacer.as_ref(), budget, &label).await?;
            }
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(&token)
                .header(header::ACCEPT, MEDIA_TYPE)
                // As in the API documents' samples, on every request.
                .header(header::CONTENT_TYPE, MEDIA_TYPE);
            if let Some(body) = body {
                request = request.body(body.to_string());
            }
            // The request must end before the invocation does, with time to answer.
            let Some(timeout) = deadline::request_timeout(self.request_timeout) else {
                return Err(out_of_time(&label));
            };
            tracing::debug!(request = %label, "HCP Terraform request");
            let response = request
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| transport_error(&label, e))?;
            let status = response.status();

            if status == StatusCode::UNAUTHORIZED {
                if token_refreshed {
                    return Err(Error::TfcUnauthorized {
                        secret: self.token_secret_name.clone(),
                    });
                }
                tracing::warn!(
                    request = %label,
                    secret = %self.token_secret_name,
                    "HCP Terraform answered 401; re-reading the token secret once in case it was rotated"
                );
                token = self.token(true).await?;
                token_refreshed = true;
                continue;
            }

            if status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = rate_limit_reset(response.headers());
                let message = jsonapi::error_summary(&read_error_body(response).await);
                match retry_after {
                    Some(wait)
                        if wait
                            <= self.patience.map_or(MAX_IN_PROCESS_RATE_LIMIT_WAIT, |p| {
                                p.max(MAX_IN_PROCESS_RATE_LIMIT_WAIT)
                            })
                            && rate_limit_retries < MAX_RATE_LIMIT_RETRIES
                            && deadline::can_wait(wait) =>
                    {
                        rate_limit_retries += 1;
                        tracing::warn!(request = %label, wait_ms = wait.as_millis() as u64, "HCP Terraform rate limit; waiting for the reset");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    _ => {
                        return Err(Error::TfcRateLimited {
                            message,
                            retry_after,
                        });
                    }
                }
            }

            if status.is_server_error() {
                let detail = jsonapi::error_summary(&read_error_body(response).await);
                return Err(Error::TfcUnavailable(format!(
                    "{label} answered {status} ({detail})"
                )));
            }
            if token_refreshed {
                // The secret held a new token, perhaps of another user.
                self.forget_user();
            }
            return Ok(response);
        }
    }

    /// The body of a 2xx response; any other status becomes an error about `what`.
    async fn success_body(&self, response: Response, what: &str) -> Result<Vec<u8>> {
        let status = response.status();
        if status.is_success() {
            return read_body(response, MAX_API_RESPONSE_BYTES, what).await;
        }
        let body = read_error_body(response).await;
        Err(api_error(status, &body, what))
    }

    fn workspace_label(&self, workspace_id: &str) -> String {
        let names = self
            .workspace_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        names
            .get(workspace_id)
            .cloned()
            .unwrap_or_else(|| workspace_id.to_string())
    }

    /// `GET` on a signed download link (the plan JSON's 307 target, a plan's
    /// log), without the API token whatever its origin: the link authenticates
    /// itself, and the token must not travel to another host. `what` names the
    /// download in messages; the link itself never appears in one.
    async fn download(&self, url: &Url, what: &str) -> Result<Response> {
        let label = if url.origin() == self.base.origin() {
            format!("{what} download (same host as the API)")
        } else {
            format!(
                "{what} download from {}",
                url.host_str().unwrap_or("an unnamed host")
            )
        };
        tracing::debug!(download = %label, "following a signed download link without the API token");
        // A large plan streams for a while: the time left, not the API's request timeout.
        let Some(timeout) = deadline::request_timeout(MAX_DOWNLOAD_TIME) else {
            return Err(out_of_time(&label));
        };
        let response = self
            .http
            .get(url.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport_error(&label, e))?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(response);
        }
        Err(Error::TfcUnavailable(format!(
            "{label} answered {status}; the short-lived link may have expired, and a retry asks for a new one"
        )))
    }

    /// The error for a 404 or 401 on plan JSON: a permission problem when the
    /// plan itself is readable (the endpoint needs workspace admin access).
    async fn plan_json_refused(&self, plan_id: &str, status: StatusCode, body: &[u8]) -> Error {
        let plan = self.api_url(&["plans", plan_id]);
        match self.send(Method::GET, &plan, None).await {
            Ok(response) if response.status().is_success() => Error::TfcPermissionDenied {
                what: format!("the JSON of plan {plan_id} (HTTP {status})"),
                needed: "the token needs workspace admin access to read plan JSON. Use a user or team token whose user or team has admin access to the workspace (organization tokens cannot read it)".to_string(),
            },
            Ok(response) => {
                let plan_status = response.status();
                let body = read_error_body(response).await;
                api_error(plan_status, &body, &format!("plan {plan_id}"))
            }
            Err(Error::TfcUnauthorized { secret }) => Error::TfcUnauthorized { secret },
            Err(e) => {
                tracing::warn!(plan_id, error = %e, "could not tell why plan JSON was refused");
                api_error(status, body, &format!("the JSON of plan {plan_id}"))
            }
        }
    }

    async fn run_action(&self, run_id: &str, action: RunAction, comment: &str) -> Result<()> {
        let url = self.api_url(&["runs", run_id, "actions", action.as_str()]);
        let response = self
            .send(Method::POST, &url, Some(&jsonapi::action_body(comment)))
            .await?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(
                run_id,
                action = action.as_str(),
                "HCP Terraform run action requested"
            );
            return Ok(());
        }
        let body = read_error_body(response).await;
        if status == StatusCode::CONFLICT {
            // Not allowed any more: fine if the run is already where we wanted it
            // (a retried step, or a person acted first).
            let run = self.read_run(run_id).await?;
            if action.is_settled_by(&run) {
                tracing::info!(run_id, action = action.as_str(), status = %run.status, "run action already done");
                return Ok(());
            }
            return Err(Error::TfcProtocol(format!(
                "cannot {action} run {run_id}: it is '{}' ({})",
                run.status,
                jsonapi::error_summary(&body)
            )));
        }
        Err(api_error(status, &body, &format!("run {run_id}")))
    }
}

#[async_trait]
impl TerraformCloud for HttpTerraformCloud {
    async fn workspace(&self, check: &CheckRef) -> Result<TfcWorkspace> {
        let url = self.api_url(&[
            "organizations",
            &check.organization,
            "workspaces",
            &check.workspace,
        ]);
        let response = self.send(Method::GET, &url, None).await?;
        let body = self
            .success_body(response, &format!("workspace '{check}'"))
            .await?;
        let workspace = jsonapi::parse_workspace(&body, &check.organization)?;
        tracing::debug!(workspace = %check, workspace_id = %workspace.id, "workspace found");
        self.workspace_names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(workspace.id.clone(), check.to_string());
        Ok(workspace)
    }

    async fn find_runs_by_tag(&self, workspace_id: &str, tag: &str) -> Result<Vec<TfcRun>> {
        let mut url = self.api_url(&["workspaces", workspace_id, "runs"]);
        url.query_pairs_mut()
            .append_pair("filter[operation]", ALL_RUN_OPERATIONS)
            .append_pair("search[basic]", tag)
            .append_pair("page[number]", "1")
            .append_pair("page[size]", RUN_LIST_PAGE_SIZE);
        let response = self
            .send_to(Endpoint::RunList, Method::GET, &url, None)
            .await?;
        let what = format!(
            "the runs of workspace '{}'",
            self.workspace_label(workspace_id)
        );
        let body = self.success_body(response, &what).await?;
        // The API lists runs newest first.
        let found: Vec<TfcRun> = jsonapi::parse_run_list(&body)?
            .into_iter()
            .filter(|run| run.message.contains(tag))
            .collect();
        if let Some(run) = found.first() {
            tracing::info!(workspace_id, run_id = %run.id, tagged = found.len(), "found runs tagged for this execution");
        }
        Ok(found)
    }

    async fn token_user(&self) -> Result<String> {
        let cached = || {
            self.token_user
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        if let Some(user) = cached() {
            return Ok(user);
        }
        // The pacer may have read it already.
        let paced = self.pacing.as_ref().and_then(|p| {
            p.user
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .flatten()
        });
        let user = match paced {
            Some(user) => user,
            None => {
                let url = self.api_url(&["account", "details"]);
                let response = self.send(Method::GET, &url, None).await?;
                let body = self.success_body(response, "the token's account").await?;
                jsonapi::parse_account_id(&body)?
            }
        };
        *self
            .token_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(user.clone());
        Ok(user)
    }

    async fn create_run(&self, workspace_id: &str, spec: &RunSpec) -> Result<TfcRun> {
        let url = self.api_url(&["runs"]);
        let payload = jsonapi::create_run_body(workspace_id, spec);
        let response = self.send(Method::POST, &url, Some(&payload)).await?;
        let workspace = self.workspace_label(workspace_id);
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            let body = read_error_body(response).await;
            if jsonapi::is_configuration_missing(&body) {
                return Err(Error::TfcConfigurationMissing { workspace });
            }
            return Err(api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &body,
                &format!("creating a run in workspace '{workspace}'"),
            ));
        }
        let body = self
            .success_body(response, &format!("workspace '{workspace}'"))
            .await?;
        let run = jsonapi::parse_run(&body)?;
        tracing::info!(workspace_id, run_id = %run.id, plan_only = spec.plan_only, targets = spec.target_addrs.len(), "run created");
        Ok(run)
    }

    async fn read_run(&self, run_id: &str) -> Result<TfcRun> {
        let url = self.api_url(&["runs", run_id]);
        let response = self.send(Method::GET, &url, None).await?;
        let body = self
            .success_body(response, &format!("run {run_id}"))
            .await?;
        let run = jsonapi::parse_run(&body)?;
        tracing::debug!(run_id, status = %run.status, "run read");
        Ok(run)
    }

    async fn plan_json_stream(&self, plan_id: &str) -> Result<Option<PlanJsonStream>> {
        let what = format!("plan {plan_id}");
        let url = self.api_url(&["plans", plan_id, "json-output"]);
        let mut response = match self.send(Method::GET, &url, None).await {
            Err(Error::TfcUnauthorized { .. }) => {
                return Err(self
                    .plan_json_refused(plan_id, StatusCode::UNAUTHORIZED, b"")
                    .await);
            }
            other => other?,
        };
        let mut current = url;
        for _ in 0..=MAX_REDIRECTS {
            let status = response.status();
            if status == StatusCode::NO_CONTENT {
                tracing::debug!(plan_id, "plan JSON not ready yet");
                return Ok(None);
            }
            if status.is_redirection() {
                let next = redirect_target(&current, response.headers(), &what)?;
                response = self.download(&next, &format!("the JSON of {what}")).await?;
                current = next;
                continue;
            }
            if status.is_success() {
                return PlanBody::open(response, self.max_plan_json_bytes, &what).map(Some);
            }
            let body = read_error_body(response).await;
            if status == StatusCode::NOT_FOUND
                && current.origin() == self.base.origin()
                && current.path().starts_with("/api/")
            {
                return Err(self.plan_json_refused(plan_id, status, &body).await);
            }
            return Err(api_error(status, &body, &format!("the JSON of {what}")));
        }
        Err(Error::TfcProtocol(format!(
            "{what}: more than {MAX_REDIRECTS} redirects for its JSON output"
        )))
    }

    async fn plan_log_tail(&self, plan_id: &str, lines: usize) -> Result<Option<String>> {
        let what = format!("plan {plan_id}");
        let url = self.api_url(&["plans", plan_id]);
        let response = self.send(Method::GET, &url, None).await?;
        let body = self.success_body(response, &what).await?;
        let Some(link) = jsonapi::parse_plan_log_url(&body)? else {
            return Ok(None);
        };
        let link = self
            .base
            .join(&link)
            .map_err(|_| Error::TfcProtocol(format!("{what}: its log-read-url is not a URL")))?;
        let response = self.download(&link, &format!("the log of {what}")).await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let log = read_tail(response, MAX_LOG_BYTES).await;
        Ok(Some(log_tail(&log, lines)).filter(|t| !t.is_empty()))
    }

    async fn apply_run(&self, run_id: &str, comment: &str) -> Result<()> {
        self.run_action(run_id, RunAction::Apply, comment).await
    }

    async fn discard_run(&self, run_id: &str, comment: &str) -> Result<()> {
        self.run_action(run_id, RunAction::Discard, comment).await
    }

    async fn cancel_run(&self, run_id: &str, comment: &str) -> Result<()> {
        self.run_action(run_id, RunAction::Cancel, comment).await
    }

    fn run_url(&self, check: &CheckRef, run_id: &str) -> String {
        format!(
            "{}/app/{}/workspaces/{}/runs/{run_id}",
            self.address, check.organization, check.workspace
        )
    }
}

/// The token from the secret's value: plain text or `{"token":"..."}`.
fn token_from_secret(raw: &str, secret_name: &str) -> Result<String> {
    let token = driftguard_core::secrets::secret_field(raw, "token").map_err(|_| {
        Error::ConfigError(format!(
            "secret '{secret_name}' holds JSON without a string \"token\" field; store the HCP Terraform token as plain text or as {{\"token\":\"...\"}}"
        ))
    })?;
    if token.is_empty() {
        return Err(Error::ConfigError(format!(
            "secret '{secret_name}' is empty; store an HCP Terraform user or team API token in it"
        )));
    }
    if header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
        return Err(Error::ConfigError(format!(
            "secret '{secret_name}' holds characters that cannot be sent in an HTTP header; store only the API token"
        )));
    }
    Ok(token)
}

/// Error for a non-2xx answer about `what` (5xx, 401 and 429 are handled in `send`).
fn api_error(status: StatusCode, body: &[u8], what: &str) -> Error {
    if status == StatusCode::NOT_FOUND {
        return Error::TfcNotFound {
            what: what.to_string(),
        };
    }
    Error::TfcProtocol(format!(
        "{what}: HTTP {status}: {}",
        jsonapi::error_summary(body)
    ))
}

fn transport_error(label: &str, error: reqwest::Error) -> Error {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // Without the URL: a download link carries a secret in its path.
    Error::TfcUnavailable(format!("{label} {kind}: {}", error.without_url()))
}

/// Seconds until the rate limit resets, from `X-RateLimit-Reset` (fractional
/// seconds), or `Retry-After` when that is all there is.
fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    ["x-ratelimit-reset", "retry-after"]
        .iter()
        .find_map(|name| {
            let seconds: f64 = headers.get(*name)?.to_str().ok()?.trim().parse().ok()?;
            if seconds < 0.0 {
                return None;
            }
            Duration::try_from_secs_f64(seconds).ok()
        })
}

fn redirect_target(current: &Url, headers: &HeaderMap, what: &str) -> Result<Url> {
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::TfcProtocol(format!("{what}: a redirect without a Location header"))
        })?;
    current
        .join(location)
        .map_err(|e| Error::TfcProtocol(format!("{what}: redirect to an invalid location ({e})")))
}

/// Reads the body, failing with `TfcProtocol` past `limit` bytes.
async fn read_body(mut response: Response, limit: usize, what: &str) -> Result<Vec<u8>> {
    let too_large = || Error::TfcProtocol(format!("{what} is larger than the {limit}-byte limit"));
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&format!("reading {what}"), e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A plan JSON body as it downloads, cut off past the size cap.
struct PlanBody {
    response: Response,
    read: usize,
    limit: usize,
    what: String,
}

impl PlanBody {
    fn open(response: Response, limit: usize, what: &str) -> Result<PlanJsonStream> {
        let body = PlanBody {
            response,
            read: 0,
            limit,
            what: format!("the JSON of {what}"),
        };
        if body
            .response
            .content_length()
            .is_some_and(|length| length > limit as u64)
        {
            return Err(body.too_large());
        }
        Ok(Box::new(body))
    }

    fn too_large(&self) -> Error {
        const MIB: usize = 1024 * 1024;
        let limit = if self.limit >= MIB {
            format!("{} MiB", self.limit / MIB)
        } else {
            format!("{} bytes", self.limit)
        };
        Error::TfcProtocol(format!(
            "{} is larger than {limit}, the most DriftGuard reads (max_plan_json_bytes); split the workspace into smaller ones so each plan stays below it",
            self.what
        ))
    }
}

#[async_trait]
impl ByteStream for PlanBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(chunk) = self
            .response
            .chunk()
            .await
            .map_err(|e| transport_error(&format!("reading {}", self.what), e))?
        else {
            tracing::debug!(bytes = self.read, "plan JSON read");
            return Ok(None);
        };
        self.read += chunk.len();
        if self.read > self.limit {
            return Err(self.too_large());
        }
        Ok(Some(chunk.to_vec()))
    }
}

/// The last `limit` bytes of a body; what cannot be read is left out.
async fn read_tail(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 2 * limit {
            body.drain(..body.len() - limit);
        }
    }
    if body.len() > limit {
        body.drain(..body.len() - limit);
    }
    body
}

/// The longest a download (plan JSON, plan log) may take outside an invocation.
const MAX_DOWNLOAD_TIME: Duration = Duration::from_secs(600);

/// The error for a request that no longer fits in the invocation: retried
/// by the state machine with a fresh budget.
fn out_of_time(label: &str) -> Error {
    Error::TfcUnavailable(format!(
        "{label}: too little time is left in this invocation for another request; the step is retried"
    ))
}

/// The start of an error body, for messages; unreadable bodies are empty.
async fn read_error_body(mut response: Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ERROR_BODY_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY_BYTES {
            break;
        }
    }
    body
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
