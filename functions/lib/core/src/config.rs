//! Configuration from environment variables, validated once at start.
//! Every error names the variable and what a valid value looks like.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::CheckRef;
use crate::pacing::{self, PaceLimits};
use crate::pattern::PrincipalPattern;

pub const DEFAULT_TFC_ADDRESS: &str = "https://app.terraform.io";

/// Resource address / attribute patterns to leave out of drift reports (like a `.driftignore`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRules {
    /// Glob patterns on resource addresses, e.g. `aws_autoscaling_group.*`.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Glob patterns on attribute paths, optionally `address:attribute`, e.g. `tags.LastSeen`
    /// or `aws_instance.web:user_data`.
    #[serde(default)]
    pub attributes: Vec<String>,
}

/// One workspace DriftGuard checks, and which changes route to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceRoute {
    pub organization: String,
    pub workspace: String,
    /// AWS account ids; empty = any.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// AWS regions; empty = any.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Service short names (`ec2`, `s3`, `iam`); empty = any monitored service.
    #[serde(default)]
    pub services: Vec<String>,
    /// Tag key/value pairs the change's tags must carry (when the event shows tags); empty = any.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub ignore: IgnoreRules,
    /// Where the Slack app posts this workspace's alerts, and who may decide.
    #[serde(default)]
    pub slack: SlackRoute,
}

/// The Slack app's settings for one workspace route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackRoute {
    /// Channel id (`C…`) the app posts alerts to; empty: the incoming webhook.
    #[serde(default)]
    pub channel: String,
    /// Slack user ids (`U…`, `W…`) and user-group ids (`S…`) allowed to press
    /// Fix / Accept / Dismiss; empty: nobody (the buttons answer 403).
    #[serde(default)]
    pub approvers: Vec<String>,
}

impl WorkspaceRoute {
    /// A route that takes every monitored change, with no ignore rules.
    pub fn new(organization: impl Into<String>, workspace: impl Into<String>) -> Self {
        Self {
            organization: organization.into(),
            workspace: workspace.into(),
            accounts: vec![],
            regions: vec![],
            services: vec![],
            tags: Default::default(),
            ignore: IgnoreRules::default(),
            slack: SlackRoute::default(),
        }
    }

    pub fn check_ref(&self) -> CheckRef {
        CheckRef {
            organization: self.organization.clone(),
            workspace: self.workspace.clone(),
        }
    }
}

/// What the admission filter lets through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmissionConfig {
    /// Service short names in scope (`ec2`, `s3`, `iam`, …).
    pub monitored_services: Vec<String>,
    /// Principal ARN glob patterns whose changes are Terraform's own (e.g. the HCP
    /// Terraform dynamic-credentials role): never checked, so remediation cannot loop.
    pub ignore_principal_arns: Vec<PrincipalPattern>,
    /// DriftGuard's own role ARNs (the module passes the exact ARNs of the
    /// roles it creates).
    pub own_principal_arns: Vec<PrincipalPattern>,
    /// The OIDC provider host HCP Terraform's dynamic credentials come through
    /// (`app.terraform.io`, or a Terraform Enterprise host): a session of a
    /// role in `ignore_principal_arns` is Terraform's only when its record
    /// names this provider. Empty (`off` in the environment): any session of
    /// the role is Terraform's.
    #[serde(default = "default_terraform_oidc_provider")]
    pub terraform_oidc_provider: String,
}

/// HCP Terraform's OIDC provider (its workload identity tokens' issuer host).
pub const DEFAULT_TERRAFORM_OIDC_PROVIDER: &str = "app.terraform.io";

fn default_terraform_oidc_provider() -> String {
    DEFAULT_TERRAFORM_OIDC_PROVIDER.to_string()
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            monitored_services: vec!["ec2".into(), "s3".into(), "iam".into()],
            ignore_principal_arns: Vec::new(),
            own_principal_arns: Vec::new(),
            terraform_oidc_provider: default_terraform_oidc_provider(),
        }
    }
}

/// Adaptive poll schedule bounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PollConfig {
    pub min_wait_seconds: u64,
    pub max_wait_seconds: u64,
    /// A plan (queue time included) still running after this many seconds from
    /// the run's creation is canceled or discarded.
    pub plan_timeout_seconds: u64,
    /// A remediation apply still going after this many seconds from its request
    /// fails the check with `ApplyTimedOut` (and an alert); it is never canceled.
    #[serde(default = "default_apply_timeout_seconds")]
    pub apply_timeout_seconds: u64,
}

fn default_apply_timeout_seconds() -> u64 {
    PollConfig::default().apply_timeout_seconds
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            min_wait_seconds: 5,
            max_wait_seconds: 60,
            plan_timeout_seconds: 1800,
            apply_timeout_seconds: 7200,
        }
    }
}

/// Everything a DriftGuard function may need. Optional parts are checked by
/// the accessor of the function that needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tfc_address: String,
    pub tfc_token_secret: Option<String>,
    pub slack_webhook_secret: Option<String>,
    pub history_table: Option<String>,
    pub workspaces: Vec<WorkspaceRoute>,
    pub admission: AdmissionConfig,
    pub poll: PollConfig,
    /// The shared HCP Terraform request budget; `None` when pacing is off.
    pub tfc_pace: Option<PaceLimits>,
    pub settle_seconds: u64,
    pub history_retention_days: u32,
    pub notify_on_no_drift: bool,
    pub allow_destructive_remediation: bool,
    /// The deployed `remediation_mode` (the remediate function's environment,
    /// which `terraform apply` updates for executions already in flight; the
    /// mode templated into the state machine is fixed per execution).
    /// `None` when not set: remediate then remediates nothing.
    pub remediation_mode: Option<crate::model::RemediationMode>,
    pub aws_region: String,
    /// Where the record step imports drift-episode findings; `None` when
    /// Security Hub findings are off.
    pub security_hub: Option<crate::findings::SecurityHubTarget>,
    /// The Slack app: secret names of its bot token and signing secret, and
    /// its Web API address (`https://slack.com/api`; GovSlack differs).
    pub slack_app: SlackAppConfig,
}

/// Where the Slack app's credentials are (secret names only) and its API.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackAppConfig {
    pub bot_token_secret: Option<String>,
    pub signing_secret_secret: Option<String>,
    pub api_url: String,
    /// The Slack workspace (team id, `T…`) the app is installed in: a click
    /// from another one is refused. `None`: not checked.
    pub team_id: Option<String>,
    /// The app's id (`A…`, Basic Information → App Credentials): a click for
    /// another app is refused. `None`: not checked.
    pub app_id: Option<String>,
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// Environment variable names (documented in the README).
pub mod env {
    pub const TFC_ADDRESS: &str = "DRIFTGUARD_TFC_ADDRESS";
    pub const TFC_TOKEN_SECRET: &str = "DRIFTGUARD_TFC_TOKEN_SECRET";
    pub const SLACK_WEBHOOK_SECRET: &str = "DRIFTGUARD_SLACK_WEBHOOK_SECRET";
    pub const HISTORY_TABLE: &str = "DRIFTGUARD_HISTORY_TABLE";
    pub const WORKSPACES: &str = "DRIFTGUARD_WORKSPACES";
    pub const ORGANIZATION: &str = "DRIFTGUARD_ORGANIZATION";
    pub const WORKSPACE: &str = "DRIFTGUARD_WORKSPACE";
    pub const MONITORED_SERVICES: &str = "DRIFTGUARD_MONITORED_SERVICES";
    pub const IGNORE_PRINCIPAL_ARNS: &str = "DRIFTGUARD_IGNORE_PRINCIPAL_ARNS";
    pub const OWN_PRINCIPAL_ARNS: &str = "DRIFTGUARD_OWN_PRINCIPAL_ARNS";
    pub const TERRAFORM_OIDC_PROVIDER: &str = "DRIFTGUARD_TERRAFORM_OIDC_PROVIDER";
    pub const PLAN_TIMEOUT_SECONDS: &str = "DRIFTGUARD_PLAN_TIMEOUT_SECONDS";
    pub const APPLY_TIMEOUT_SECONDS: &str = "DRIFTGUARD_APPLY_TIMEOUT_SECONDS";
    pub const TFC_REQUESTS_PER_SECOND: &str = "DRIFTGUARD_TFC_REQUESTS_PER_SECOND";
    pub const TFC_BURST: &str = "DRIFTGUARD_TFC_BURST";
    pub const POLL_MIN_WAIT_SECONDS: &str = "DRIFTGUARD_POLL_MIN_WAIT_SECONDS";
    pub const POLL_MAX_WAIT_SECONDS: &str = "DRIFTGUARD_POLL_MAX_WAIT_SECONDS";
    pub const SETTLE_SECONDS: &str = "DRIFTGUARD_SETTLE_SECONDS";
    pub const HISTORY_RETENTION_DAYS: &str = "DRIFTGUARD_HISTORY_RETENTION_DAYS";
    pub const NOTIFY_ON_NO_DRIFT: &str = "DRIFTGUARD_NOTIFY_ON_NO_DRIFT";
    pub const ALLOW_DESTRUCTIVE_REMEDIATION: &str = "DRIFTGUARD_ALLOW_DESTRUCTIVE_REMEDIATION";
    pub const REMEDIATION_MODE: &str = "DRIFTGUARD_REMEDIATION_MODE";
    pub const SECURITY_HUB_PRODUCT_ARN: &str = "DRIFTGUARD_SECURITY_HUB_PRODUCT_ARN";
    pub const SLACK_BOT_TOKEN_SECRET: &str = "DRIFTGUARD_SLACK_BOT_TOKEN_SECRET";
    pub const SLACK_SIGNING_SECRET_SECRET: &str = "DRIFTGUARD_SLACK_SIGNING_SECRET_SECRET";
    pub const SLACK_API_URL: &str = "DRIFTGUARD_SLACK_API_URL";
    pub const SLACK_TEAM_ID: &str = "DRIFTGUARD_SLACK_TEAM_ID";
    pub const SLACK_APP_ID: &str = "DRIFTGUARD_SLACK_APP_ID";
    pub const AWS_REGION: &str = "AWS_REGION";
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let tfc_address = get(env::TFC_ADDRESS).unwrap_or_else(|| DEFAULT_TFC_ADDRESS.to_string());
        let parsed = url::Url::parse(&tfc_address).map_err(|e| {
            Error::ConfigError(format!(
                "{} = '{tfc_address}' is not a URL ({e}); use https://app.terraform.io or your Terraform Enterprise address",
                env::TFC_ADDRESS
            ))
        })?;
        if !secure_or_loopback(&parsed) {
            return Err(Error::ConfigError(format!(
                "{} must start with https:// (got '{tfc_address}'): the API token is sent there; http:// is accepted only on a loopback address (a local emulator)",
                env::TFC_ADDRESS
            )));
        }

        let workspaces = match get(env::WORKSPACES) {
            Some(json) => parse_workspaces(&json)?,
            None => match (get(env::ORGANIZATION), get(env::WORKSPACE)) {
                (Some(organization), Some(workspace)) => {
                    vec![WorkspaceRoute::new(organization, workspace)]
                }
                _ => Vec::new(),
            },
        };

        let list = |name: &str| -> Option<Vec<String>> {
            get(name).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        let mut admission = AdmissionConfig::default();
        if let Some(services) = list(env::MONITORED_SERVICES) {
            admission.monitored_services = services
                .into_iter()
                .map(|s| s.to_ascii_lowercase())
                .collect();
        }
        // Compiled once per container; a typo is an error rather than a pattern matching nothing.
        admission.ignore_principal_arns = compile_patterns(
            env::IGNORE_PRINCIPAL_ARNS,
            &list(env::IGNORE_PRINCIPAL_ARNS).unwrap_or_default(),
        )?;
        admission.own_principal_arns = compile_patterns(
            env::OWN_PRINCIPAL_ARNS,
            &list(env::OWN_PRINCIPAL_ARNS).unwrap_or_default(),
        )?;
        // `off` (or set and empty) switches the check off: static keys that assume the role.
        if let Some(provider) = lookup(env::TERRAFORM_OIDC_PROVIDER) {
            let provider = provider.trim().to_ascii_lowercase();
            admission.terraform_oidc_provider = if provider == "off" {
                String::new()
            } else {
                provider
            };
        }
        for route in &workspaces {
            let name = format!(
                "{} ({}/{}) ignore",
                env::WORKSPACES,
                route.organization,
                route.workspace
            );
            check_patterns(&name, &route.ignore.addresses)?;
            check_patterns(&name, &route.ignore.attributes)?;
            check_slack_route(route)?;
        }
        let slack_api_url = get(env::SLACK_API_URL)
            .unwrap_or_else(|| DEFAULT_SLACK_API_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        match url::Url::parse(&slack_api_url) {
            Ok(u) if secure_or_loopback(&u) => {}
            _ => {
                return Err(Error::ConfigError(format!(
                    "{} = '{slack_api_url}' is not an https:// URL (the bot token is sent there; http:// is accepted only on a loopback address, a local emulator); use {DEFAULT_SLACK_API_URL}",
                    env::SLACK_API_URL
                )));
            }
        }

        let defaults = PollConfig::default();
        let poll = PollConfig {
            min_wait_seconds: number(
                &get,
                env::POLL_MIN_WAIT_SECONDS,
                defaults.min_wait_seconds,
                1,
                3600,
            )?,
            max_wait_seconds: number(
                &get,
                env::POLL_MAX_WAIT_SECONDS,
                defaults.max_wait_seconds,
                1,
                3600,
            )?,
            plan_timeout_seconds: number(
                &get,
                env::PLAN_TIMEOUT_SECONDS,
                defaults.plan_timeout_seconds,
                1,
                86_400,
            )?,
            apply_timeout_seconds: number(
                &get,
                env::APPLY_TIMEOUT_SECONDS,
                defaults.apply_timeout_seconds,
                1,
                86_400,
            )?,
        };
        if poll.min_wait_seconds > poll.max_wait_seconds {
            return Err(Error::ConfigError(format!(
                "{} ({}) must not be larger than {} ({})",
                env::POLL_MIN_WAIT_SECONDS,
                poll.min_wait_seconds,
                env::POLL_MAX_WAIT_SECONDS,
                poll.max_wait_seconds
            )));
        }

        let requests_per_second = number(
            &get,
            env::TFC_REQUESTS_PER_SECOND,
            u64::from(pacing::DEFAULT_REQUESTS_PER_SECOND),
            0,
            1000,
        )? as u32;
        let burst = number(
            &get,
            env::TFC_BURST,
            u64::from(pacing::DEFAULT_BURST),
            1,
            1000,
        )? as u32;
        // 0 requests per second switches pacing off (a Terraform Enterprise without limits).
        let tfc_pace =
            (requests_per_second > 0).then(|| PaceLimits::per_second(requests_per_second, burst));

        Ok(Config {
            tfc_address: tfc_address.trim_end_matches('/').to_string(),
            tfc_token_secret: get(env::TFC_TOKEN_SECRET),
            slack_webhook_secret: get(env::SLACK_WEBHOOK_SECRET),
            history_table: get(env::HISTORY_TABLE),
            workspaces,
            admission,
            poll,
            tfc_pace,
            settle_seconds: number(&get, env::SETTLE_SECONDS, 60, 0, 3600)?,
            history_retention_days: number(&get, env::HISTORY_RETENTION_DAYS, 90, 1, 3650)? as u32,
            notify_on_no_drift: boolean(&get, env::NOTIFY_ON_NO_DRIFT, false)?,
            allow_destructive_remediation: boolean(
                &get,
                env::ALLOW_DESTRUCTIVE_REMEDIATION,
                false,
            )?,
            remediation_mode: remediation_mode(&get)?,
            aws_region: get(env::AWS_REGION).unwrap_or_else(|| "us-east-1".to_string()),
            security_hub: get(env::SECURITY_HUB_PRODUCT_ARN)
                .map(|arn| {
                    crate::findings::SecurityHubTarget::from_product_arn(&arn).map_err(|e| {
                        Error::ConfigError(format!("{}: {e}", env::SECURITY_HUB_PRODUCT_ARN))
                    })
                })
                .transpose()?,
            slack_app: SlackAppConfig {
                bot_token_secret: get(env::SLACK_BOT_TOKEN_SECRET),
                signing_secret_secret: get(env::SLACK_SIGNING_SECRET_SECRET),
                api_url: slack_api_url,
                team_id: get(env::SLACK_TEAM_ID),
                app_id: get(env::SLACK_APP_ID),
            },
        })
    }

    /// The Slack channel the app posts a workspace's alerts to, when the app
    /// is configured (bot token secret) and the route names a channel.
    pub fn slack_channel(&self, check: &CheckRef) -> Option<&str> {
        self.slack_app.bot_token_secret.as_ref()?;
        self.route(check)
            .map(|r| r.slack.channel.as_str())
            .filter(|c| !c.is_empty())
    }

    pub fn slack_bot_token_secret(&self) -> Result<&str> {
        required(
            &self.slack_app.bot_token_secret,
            env::SLACK_BOT_TOKEN_SECRET,
            "the Secrets Manager secret name holding the Slack app's bot token (xoxb-…)",
        )
    }

    pub fn slack_signing_secret_secret(&self) -> Result<&str> {
        required(
            &self.slack_app.signing_secret_secret,
            env::SLACK_SIGNING_SECRET_SECRET,
            "the Secrets Manager secret name holding the Slack app's signing secret",
        )
    }

    pub fn tfc_token_secret(&self) -> Result<&str> {
        required(
            &self.tfc_token_secret,
            env::TFC_TOKEN_SECRET,
            "the Secrets Manager secret name holding the HCP Terraform API token",
        )
    }

    pub fn slack_webhook_secret(&self) -> Result<&str> {
        required(
            &self.slack_webhook_secret,
            env::SLACK_WEBHOOK_SECRET,
            "the Secrets Manager secret name holding the Slack incoming-webhook URL",
        )
    }

    pub fn history_table(&self) -> Result<&str> {
        required(
            &self.history_table,
            env::HISTORY_TABLE,
            "the DynamoDB history table name",
        )
    }

    /// Workspaces to route to; at least one is required for admission.
    pub fn require_workspaces(&self) -> Result<&[WorkspaceRoute]> {
        if self.workspaces.is_empty() {
            return Err(Error::ConfigError(format!(
                "no workspace configured: set {} and {}, or {} to a JSON list of {{\"organization\",\"workspace\"}} objects",
                env::ORGANIZATION,
                env::WORKSPACE,
                env::WORKSPACES
            )));
        }
        Ok(&self.workspaces)
    }

    /// The route (and ignore rules) of a workspace, if configured.
    pub fn route(&self, check: &CheckRef) -> Option<&WorkspaceRoute> {
        self.workspaces
            .iter()
            .find(|w| w.organization == check.organization && w.workspace == check.workspace)
    }

    /// Seconds an open batch accepts joiners: the settle window plus a margin for
    /// the create step. Past it a new batch is opened (its owner may have died).
    pub fn batch_join_window_seconds(&self) -> i64 {
        (self.settle_seconds as i64) + 120
    }

    /// Step Functions console link to an execution.
    pub fn execution_url(&self, execution_arn: &str) -> String {
        let region = execution_arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.aws_region);
        format!(
            "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
        )
    }
}

/// Glob patterns must compile: a typo would otherwise silently match nothing.
fn compile_patterns(name: &str, patterns: &[String]) -> Result<Vec<PrincipalPattern>> {
    patterns
        .iter()
        .map(|pattern| {
            PrincipalPattern::parse(pattern).map_err(|e| {
                Error::ConfigError(format!(
                    "{name}: '{pattern}' is not a valid glob pattern ({e})"
                ))
            })
        })
        .collect()
}

/// Slack ids are upper-case letters and digits with a known first letter: a
/// channel name or a user name here would silently never match.
fn check_slack_route(route: &WorkspaceRoute) -> Result<()> {
    let is_id = |id: &str, kinds: &str| {
        id.len() >= 3
            && id.starts_with(|c: char| kinds.contains(c))
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    let channel = &route.slack.channel;
    if !channel.is_empty() && !is_id(channel, "CG") {
        return Err(Error::ConfigError(format!(
            "{} ({}/{}): slack.channel '{channel}' is not a channel id such as C0123456789 (right-click the channel → View channel details → the id at the bottom)",
            env::WORKSPACES,
            route.organization,
            route.workspace
        )));
    }
    if let Some(bad) = route.slack.approvers.iter().find(|a| !is_id(a, "UWS")) {
        return Err(Error::ConfigError(format!(
            "{} ({}/{}): slack.approvers entry '{bad}' is not a Slack user id (U…, W…) or user-group id (S…)",
            env::WORKSPACES,
            route.organization,
            route.workspace
        )));
    }
    Ok(())
}

/// Glob patterns must compile: a typo would otherwise silently match nothing.
fn check_patterns(name: &str, patterns: &[String]) -> Result<()> {
    compile_patterns(name, patterns).map(|_| ())
}

fn required<'a>(value: &'a Option<String>, name: &str, what: &str) -> Result<&'a str> {
    value
        .as_deref()
        .ok_or_else(|| Error::ConfigError(format!("{name} is not set; set it to {what}")))
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64> {
    match get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(Error::ConfigError(format!(
                "{name} = '{raw}' is not a whole number from {min} to {max}"
            ))),
        },
    }
}

/// `DRIFTGUARD_REMEDIATION_MODE`: `off`, `approval` or `auto`; absent: `None`.
fn remediation_mode(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::model::RemediationMode>> {
    use crate::model::RemediationMode;
    let Some(raw) = get(env::REMEDIATION_MODE) else {
        return Ok(None);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(Some(RemediationMode::Off)),
        "approval" => Ok(Some(RemediationMode::Approval)),
        "auto" => Ok(Some(RemediationMode::Auto)),
        _ => Err(Error::ConfigError(format!(
            "{} = '{raw}' must be off, approval or auto (terraform remediation_mode)",
            env::REMEDIATION_MODE
        ))),
    }
}

fn boolean(get: &impl Fn(&str) -> Option<String>, name: &str, default: bool) -> Result<bool> {
    match get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" || v == "1" => Ok(true),
        Some(v) if v == "false" || v == "0" => Ok(false),
        Some(v) => Err(Error::ConfigError(format!(
            "{name} = '{v}' must be true or false"
        ))),
    }
}

/// Parses the `DRIFTGUARD_WORKSPACES` JSON list.
/// An address a token may be sent to: `https://` with a host, or `http://`
/// on a loopback address only (`localhost`, `127.0.0.0/8`, `[::1]`: a local
/// API emulator in tests), so a token never crosses a network in clear text.
pub fn secure_or_loopback(url: &url::Url) -> bool {
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(name))) => name.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

pub fn parse_workspaces(json: &str) -> Result<Vec<WorkspaceRoute>> {
    let routes: Vec<WorkspaceRoute> = serde_json::from_str(json).map_err(|e| {
        Error::ConfigError(format!(
            "{} is not a JSON list of workspace routes ({e}); example: [{{\"organization\":\"acme\",\"workspace\":\"prod\",\"regions\":[\"eu-west-1\"]}}]",
            env::WORKSPACES
        ))
    })?;
    for (i, r) in routes.iter().enumerate() {
        if r.organization.trim().is_empty() || r.workspace.trim().is_empty() {
            return Err(Error::ConfigError(format!(
                "{}[{i}] needs a non-empty organization and workspace",
                env::WORKSPACES
            )));
        }
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn token_bearing_addresses_take_http_only_on_loopback() {
        for (name, base) in [
            (env::TFC_ADDRESS, "tfe.example.com"),
            (env::SLACK_API_URL, "slack.example.com/api"),
        ] {
            for remote in [
                format!("http://{base}"),
                "http://10.0.0.5:8080".to_string(),
                "http://127.0.0.1.nip.io".to_string(),
            ] {
                let refused = config(&[(name, remote.as_str())]);
                assert!(
                    matches!(&refused, Err(Error::ConfigError(m)) if m.contains("https://") && m.contains("loopback")),
                    "{name} = {remote}: {refused:?}"
                );
            }
            for local in [
                "http://127.0.0.1:41234",
                "http://localhost:8080",
                "http://[::1]:9000",
                "https://tfe.example.com",
            ] {
                assert!(config(&[(name, local)]).is_ok(), "{name} = {local}");
            }
        }
    }

    #[test]
    fn defaults_are_sensible() {
        let c = config(&[]).unwrap();
        assert_eq!(c.tfc_address, DEFAULT_TFC_ADDRESS);
        assert_eq!(c.admission.monitored_services, vec!["ec2", "s3", "iam"]);
        assert_eq!(c.history_retention_days, 90);
        assert!(!c.notify_on_no_drift);
        assert!(c.require_workspaces().is_err());
        assert_eq!(c.tfc_pace, Some(PaceLimits::default()));
    }

    #[test]
    fn the_terraform_oidc_provider_defaults_to_hcp_terraform_and_can_be_switched_off() {
        let c = config(&[]).unwrap();
        assert_eq!(c.admission.terraform_oidc_provider, "app.terraform.io");
        let tfe = config(&[(env::TERRAFORM_OIDC_PROVIDER, " TFE.example.com ")]).unwrap();
        assert_eq!(tfe.admission.terraform_oidc_provider, "tfe.example.com");
        for off in ["off", ""] {
            let c = config(&[(env::TERRAFORM_OIDC_PROVIDER, off)]).unwrap();
            assert_eq!(c.admission.terraform_oidc_provider, "", "{off:?}");
        }
    }

    #[test]
    fn pacing_is_configurable_and_can_be_switched_off() {
        let c = config(&[(env::TFC_REQUESTS_PER_SECOND, "10"), (env::TFC_BURST, "3")]).unwrap();
        let pace = c.tfc_pace.unwrap();
        assert_eq!((pace.requests, pace.burst), (10, 3));
        assert_eq!(pace.period, std::time::Duration::from_secs(1));
        let off = config(&[(env::TFC_REQUESTS_PER_SECOND, "0")]).unwrap();
        assert_eq!(off.tfc_pace, None);
        let e = config(&[(env::TFC_BURST, "0")]).unwrap_err().to_string();
        assert!(e.contains(env::TFC_BURST), "{e}");
    }

    #[test]
    fn the_deployed_remediation_mode_is_read_from_the_environment() {
        use crate::model::RemediationMode;
        assert_eq!(config(&[]).unwrap().remediation_mode, None);
        for (raw, mode) in [
            ("off", RemediationMode::Off),
            ("approval", RemediationMode::Approval),
            ("AUTO", RemediationMode::Auto),
        ] {
            let c = config(&[(env::REMEDIATION_MODE, raw)]).unwrap();
            assert_eq!(c.remediation_mode, Some(mode), "{raw}");
        }
        let e = config(&[(env::REMEDIATION_MODE, "sometimes")]).unwrap_err();
        assert!(e.to_string().contains(env::REMEDIATION_MODE), "{e}");
    }

    #[test]
    fn single_workspace_from_two_variables() {
        let c = config(&[(env::ORGANIZATION, "acme"), (env::WORKSPACE, "prod")]).unwrap();
        assert_eq!(
            c.require_workspaces().unwrap()[0].check_ref().to_string(),
            "acme/prod"
        );
    }

    #[test]
    fn workspace_list_with_filters_and_ignore_rules() {
        let c = config(&[(
            env::WORKSPACES,
            r#"[{"organization":"acme","workspace":"net","services":["ec2"],"ignore":{"addresses":["aws_instance.*"]}}]"#,
        )])
        .unwrap();
        assert_eq!(c.workspaces[0].services, vec!["ec2"]);
        assert_eq!(c.workspaces[0].ignore.addresses, vec!["aws_instance.*"]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[(env::PLAN_TIMEOUT_SECONDS, "soon")]).unwrap_err();
        assert!(e.to_string().contains(env::PLAN_TIMEOUT_SECONDS), "{e}");
        let e = config(&[(env::WORKSPACES, "prod")]).unwrap_err();
        assert!(e.to_string().contains(env::WORKSPACES), "{e}");
        let e = config(&[(env::IGNORE_PRINCIPAL_ARNS, "arn:aws:iam::*:role/[tfc")]).unwrap_err();
        assert!(e.to_string().contains(env::IGNORE_PRINCIPAL_ARNS), "{e}");
        let e = config(&[(
            env::WORKSPACES,
            r#"[{"organization":"a","workspace":"b","ignore":{"addresses":["aws_instance.{x"]}}]"#,
        )])
        .unwrap_err();
        assert!(e.to_string().contains("a/b"), "{e}");
        let e = config(&[(env::NOTIFY_ON_NO_DRIFT, "yes")]).unwrap_err();
        assert!(e.to_string().contains(env::NOTIFY_ON_NO_DRIFT), "{e}");
        let e = config(&[]).unwrap().history_table().unwrap_err();
        assert!(e.to_string().contains(env::HISTORY_TABLE), "{e}");
    }

    #[test]
    fn security_hub_is_on_with_a_default_product_arn() {
        assert_eq!(config(&[]).unwrap().security_hub, None);
        let c = config(&[(
            env::SECURITY_HUB_PRODUCT_ARN,
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default",
        )])
        .unwrap();
        assert_eq!(c.security_hub.unwrap().account_id, "123456789012");
        let e = config(&[(env::SECURITY_HUB_PRODUCT_ARN, "arn:aws:sns:x")]).unwrap_err();
        assert!(e.to_string().contains(env::SECURITY_HUB_PRODUCT_ARN), "{e}");
    }

    #[test]
    fn slack_routes_need_ids_and_the_app_to_have_a_channel() {
        let routes = r#"[{"organization":"a","workspace":"b","slack":{"channel":"C0123ABCD","approvers":["U01ALICE","S0PLATFORM"]}}]"#;
        let c = config(&[(env::WORKSPACES, routes)]).unwrap();
        let check = c.workspaces[0].check_ref();
        assert_eq!(c.slack_channel(&check), None, "no bot token: the webhook");
        let c = config(&[
            (env::WORKSPACES, routes),
            (env::SLACK_BOT_TOKEN_SECRET, "driftguard/slack-bot-token"),
        ])
        .unwrap();
        assert_eq!(c.slack_channel(&check), Some("C0123ABCD"));
        assert_eq!(c.slack_app.api_url, DEFAULT_SLACK_API_URL);
        let e = config(&[(
            env::WORKSPACES,
            r##"[{"organization":"a","workspace":"b","slack":{"channel":"#ops"}}]"##,
        )])
        .unwrap_err();
        assert!(e.to_string().contains("channel id"), "{e}");
        let e = config(&[(
            env::WORKSPACES,
            r#"[{"organization":"a","workspace":"b","slack":{"approvers":["alice"]}}]"#,
        )])
        .unwrap_err();
        assert!(e.to_string().contains("'alice'"), "{e}");
        let e = config(&[(env::SLACK_API_URL, "slack.com")]).unwrap_err();
        assert!(e.to_string().contains(env::SLACK_API_URL), "{e}");
    }

    #[test]
    fn execution_url_uses_the_arn_region() {
        let c = config(&[]).unwrap();
        let url = c.execution_url("arn:aws:states:eu-west-1:123456789012:execution:sm:abc");
        assert!(url.starts_with("https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states"));
    }
}
