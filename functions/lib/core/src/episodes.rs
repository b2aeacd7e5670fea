//! Drift episodes: one per (workspace, resource address), from the check that
//! finds the resource drifted to the check that finds it clean, remediated or
//! accepted. The record step plans the episode changes of a check here (a pure
//! function of the check's record and the workspace's open episodes) and
//! writes them in the same DynamoDB transaction as the check record.
//!
//! Only `resources[].address`/`type` of the drift report, its `resource_count`
//! and the coalesced changes (who, what, which AWS resource ids) are used.
//!
//! - **Opens**: a listed drifted resource without an open episode.
//! - **Stays open**: a listed resource with an open episode (last seen, count
//!   and expiry move forward).
//! - **Closes**: `Remediated` closes the listed resources' episodes as
//!   remediated. An open episode whose resource is not listed closes as clean
//!   only when the report is complete: a report capped at
//!   [`crate::model::MAX_RESOURCES_IN_STATE`] (`resource_count` larger than the
//!   list) cannot tell a clean resource from one left out, so such episodes
//!   stay open until a complete check (a clean one, typically) closes them.
//! - `CheckFailed` changes no episode.
//! - The outcome of a person's decision (approval mode: fixed, accepted,
//!   skipped, failed — possibly hours after its check) ends only the listed
//!   episodes that its check saw (opened by it, or before it started), and
//!   touches nothing else: newer checks may have moved the others on.
//!
//! A DynamoDB transaction holds at most 100 items; the record and the
//! workspace's fingerprint take two (and an acceptance, for `DriftAccepted`, one more). Transitions that do not fit in the
//! remaining [`EPISODE_ITEM_BUDGET`] (closing costs two items: the open item
//! goes, the resolved one comes) are **deferred**: nothing is written for them,
//! the record counts them, and the next check that sees the same state applies
//! them (so their times are later than the truth). Closes go first (oldest
//! first), then opens, then the "still open" refreshes, which are dropped
//! silently when no room is left (they only move `last_seen` and the expiry).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::history::{HistoryRecord, execution_name};
use crate::model::{Actor, Change, CheckRef, CheckStatus};

pub use crate::model::{
    Attribution, Cause, CheckLink, Episode, EpisodeState, EpisodeWrite, Resolution,
};

/// Items in one DynamoDB `TransactWriteItems` call.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// Items of a check's transaction left for episodes (the record and the
/// workspace's last fingerprint take two).
pub const EPISODE_ITEM_BUDGET: usize = MAX_TRANSACTION_ITEMS - 2;
/// Most AWS resource ids kept per episode.
pub const MAX_RESOURCE_IDS: usize = 5;

impl Resolution {
    pub fn as_str(&self) -> &'static str {
        match self {
            Resolution::Remediated => "remediated",
            Resolution::Reverted => "reverted",
            Resolution::CodeChanged => "code_changed",
            Resolution::Accepted => "accepted",
        }
    }

    /// A phrase for people ("remediated by DriftGuard").
    pub fn describe(&self) -> &'static str {
        match self {
            Resolution::Remediated => "remediated by DriftGuard",
            Resolution::Reverted => "changed back by a person",
            Resolution::CodeChanged => "code changed to match (Terraform run)",
            Resolution::Accepted => "accepted",
        }
    }
}

impl Cause {
    fn of(change: &Change, matched: Attribution) -> Self {
        Cause {
            event_id: change.event_id.clone(),
            event_name: change.event_name.clone(),
            event_source: change.event_source.clone(),
            event_time: change.event_time.clone(),
            account_id: change.account_id.clone(),
            aws_region: change.aws_region.clone(),
            actor: change.actor.clone(),
            matched,
        }
    }
}

impl CheckLink {
    pub fn of(record: &HistoryRecord) -> Self {
        CheckLink {
            at: record.recorded_at.clone(),
            execution_id: record.execution_id.clone(),
            execution_url: record.execution_url.clone(),
            run_url: record.run_url.clone(),
        }
    }
}

impl Episode {
    pub fn check(&self) -> CheckRef {
        CheckRef {
            organization: self.organization.clone(),
            workspace: self.workspace.clone(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == EpisodeState::Open
    }

    pub fn detected_at(&self) -> &str {
        &self.detected.at
    }

    pub fn resolved_at(&self) -> Option<&str> {
        self.resolved.as_ref().map(|r| r.at.as_str())
    }

    /// Seconds from detection to resolution (to `now` while open).
    pub fn duration_seconds(&self, now: chrono::DateTime<chrono::Utc>) -> i64 {
        let start = epoch(self.detected_at()).unwrap_or(now.timestamp());
        let end = self
            .resolved_at()
            .and_then(epoch)
            .unwrap_or(now.timestamp());
        (end - start).max(0)
    }

    /// Seconds from the causing change to detection, when the change is known.
    pub fn time_to_detect_seconds(&self) -> Option<i64> {
        let changed = epoch(&self.cause.as_ref()?.event_time)?;
        Some((epoch(self.detected_at())? - changed).max(0))
    }
}

/// Epoch seconds of an RFC 3339 time.
pub fn epoch(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

/// The id of the episode `execution_id` opens for `address`: readable, and
/// a hash when the address is too long for a Security Hub finding id.
pub fn episode_id(check: &CheckRef, address: &str, execution_id: &str) -> String {
    let readable = format!(
        "driftguard/{check}/{address}/{}",
        execution_name(execution_id)
    );
    if readable.len() <= 256 {
        return readable;
    }
    let digest = Sha256::digest(readable.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("driftguard/{check}/sha256-{hex}")
}

// ---------------------------------------------------------------------------
// Resource kinds: which AWS service, ids and Security Hub type a Terraform type has
// ---------------------------------------------------------------------------

/// What DriftGuard knows about a Terraform resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceKind {
    /// Service short name as in CloudTrail event sources (`ec2`), "" when unknown.
    pub service: &'static str,
    /// Prefix of the resource's ids (`sg-`), for EC2.
    pub id_prefix: Option<&'static str>,
    /// What CloudTrail event names touching this kind contain (`Role`), for name-keyed IAM resources.
    pub event_hint: Option<&'static str>,
    /// Resource type in the AWS Security Finding Format (`Other` when it has none).
    pub asff_type: &'static str,
    /// The resource part of its ARN before the id (`security-group`, `role`).
    pub arn_resource: Option<&'static str>,
    /// Controls who can reach what (IAM, security groups, network ACLs, bucket access).
    pub access_control: bool,
}

const fn kind(
    service: &'static str,
    id_prefix: Option<&'static str>,
    asff_type: &'static str,
    arn_resource: Option<&'static str>,
    access_control: bool,
) -> ResourceKind {
    ResourceKind {
        service,
        id_prefix,
        event_hint: None,
        asff_type,
        arn_resource,
        access_control,
    }
}

const fn iam(hint: &'static str, asff_type: &'static str, arn: &'static str) -> ResourceKind {
    ResourceKind {
        service: "iam",
        id_prefix: None,
        event_hint: Some(hint),
        asff_type,
        arn_resource: Some(arn),
        access_control: true,
    }
}

/// Terraform type prefixes, most specific first.
const KINDS: &[(&str, ResourceKind)] = &[
    (
        "aws_vpc_security_group_",
        kind(
            "ec2",
            Some("sg-"),
            "AwsEc2SecurityGroup",
            Some("security-group"),
            true,
        ),
    ),
    (
        "aws_default_security_group",
        kind(
            "ec2",
            Some("sg-"),
            "AwsEc2SecurityGroup",
            Some("security-group"),
            true,
        ),
    ),
    (
        "aws_security_group",
        kind(
            "ec2",
            Some("sg-"),
            "AwsEc2SecurityGroup",
            Some("security-group"),
            true,
        ),
    ),
    (
        "aws_default_network_acl",
        kind(
            "ec2",
            Some("acl-"),
            "AwsEc2NetworkAcl",
            Some("network-acl"),
            true,
        ),
    ),
    (
        "aws_network_acl",
        kind(
            "ec2",
            Some("acl-"),
            "AwsEc2NetworkAcl",
            Some("network-acl"),
            true,
        ),
    ),
    (
        "aws_network_interface",
        kind(
            "ec2",
            Some("eni-"),
            "AwsEc2NetworkInterface",
            Some("network-interface"),
            false,
        ),
    ),
    (
        "aws_instance",
        kind("ec2", Some("i-"), "AwsEc2Instance", Some("instance"), false),
    ),
    (
        "aws_vpc_endpoint",
        kind("ec2", Some("vpce-"), "Other", Some("vpc-endpoint"), false),
    ),
    (
        "aws_default_vpc",
        kind("ec2", Some("vpc-"), "AwsEc2Vpc", Some("vpc"), false),
    ),
    (
        "aws_vpc",
        kind("ec2", Some("vpc-"), "AwsEc2Vpc", Some("vpc"), false),
    ),
    (
        "aws_default_subnet",
        kind(
            "ec2",
            Some("subnet-"),
            "AwsEc2Subnet",
            Some("subnet"),
            false,
        ),
    ),
    (
        "aws_subnet",
        kind(
            "ec2",
            Some("subnet-"),
            "AwsEc2Subnet",
            Some("subnet"),
            false,
        ),
    ),
    (
        "aws_ebs_volume",
        kind("ec2", Some("vol-"), "AwsEc2Volume", Some("volume"), false),
    ),
    (
        "aws_eip",
        kind(
            "ec2",
            Some("eipalloc-"),
            "AwsEc2Eip",
            Some("elastic-ip"),
            false,
        ),
    ),
    (
        "aws_default_route_table",
        kind(
            "ec2",
            Some("rtb-"),
            "AwsEc2RouteTable",
            Some("route-table"),
            false,
        ),
    ),
    (
        "aws_route_table",
        kind(
            "ec2",
            Some("rtb-"),
            "AwsEc2RouteTable",
            Some("route-table"),
            false,
        ),
    ),
    (
        "aws_route",
        kind(
            "ec2",
            Some("rtb-"),
            "AwsEc2RouteTable",
            Some("route-table"),
            false,
        ),
    ),
    (
        "aws_internet_gateway",
        kind(
            "ec2",
            Some("igw-"),
            "Other",
            Some("internet-gateway"),
            false,
        ),
    ),
    (
        "aws_nat_gateway",
        kind("ec2", Some("nat-"), "Other", Some("natgateway"), false),
    ),
    (
        "aws_launch_template",
        kind(
            "ec2",
            Some("lt-"),
            "AwsEc2LaunchTemplate",
            Some("launch-template"),
            false,
        ),
    ),
    (
        "aws_key_pair",
        kind("ec2", Some("key-"), "Other", Some("key-pair"), false),
    ),
    (
        "aws_ami",
        kind("ec2", Some("ami-"), "Other", Some("image"), false),
    ),
    (
        "aws_s3_bucket_policy",
        kind("s3", None, "AwsS3Bucket", None, true),
    ),
    (
        "aws_s3_bucket_public_access_block",
        kind("s3", None, "AwsS3Bucket", None, true),
    ),
    (
        "aws_s3_bucket_acl",
        kind("s3", None, "AwsS3Bucket", None, true),
    ),
    (
        "aws_s3_bucket_ownership_controls",
        kind("s3", None, "AwsS3Bucket", None, true),
    ),
    (
        "aws_s3_bucket",
        kind("s3", None, "AwsS3Bucket", None, false),
    ),
    ("aws_iam_role", iam("Role", "AwsIamRole", "role")),
    ("aws_iam_user", iam("User", "AwsIamUser", "user")),
    ("aws_iam_group", iam("Group", "AwsIamGroup", "group")),
    ("aws_iam_policy", iam("Policy", "AwsIamPolicy", "policy")),
    (
        "aws_iam_instance_profile",
        iam("InstanceProfile", "Other", "instance-profile"),
    ),
    ("aws_iam_", iam("", "Other", "")),
];

/// What DriftGuard knows about a Terraform resource type (an unknown type
/// gets service "" and Security Hub type `Other`).
pub fn resource_kind(resource_type: &str) -> ResourceKind {
    KINDS
        .iter()
        .find(|(prefix, _)| resource_type.starts_with(prefix))
        .map(|(_, kind)| *kind)
        .unwrap_or(ResourceKind {
            service: "",
            id_prefix: None,
            event_hint: None,
            asff_type: "Other",
            arn_resource: None,
            access_control: false,
        })
}

fn service_of(change: &Change) -> &str {
    change.event_source.split('.').next().unwrap_or_default()
}

/// The ids of a change that belong to a resource of `kind`.
fn ids_of_kind(kind: &ResourceKind, change: &Change) -> Vec<String> {
    if kind.service.is_empty() || service_of(change) != kind.service {
        return Vec::new();
    }
    let ids = change.resources.iter().filter(|id| match kind.id_prefix {
        Some(prefix) => id.starts_with(prefix) || id.contains(&format!("/{prefix}")),
        None => match kind.event_hint {
            Some(hint) => change.event_name.contains(hint),
            // S3: requests name the bucket.
            None => true,
        },
    });
    ids.take(MAX_RESOURCE_IDS).cloned().collect()
}

/// The change that most likely caused the drift of a resource, and the
/// resource's AWS ids: the earliest change that touched a resource of its kind,
/// else the earliest change in its service, else the check's first change.
pub fn attribute(resource_type: &str, changes: &[Change]) -> (Option<Cause>, Vec<String>) {
    let kind = resource_kind(resource_type);
    let mut by_time: Vec<&Change> = changes.iter().collect();
    by_time.sort_by_key(|c| epoch(&c.event_time).unwrap_or(i64::MAX));
    if let Some((change, ids)) = by_time
        .iter()
        .map(|c| (*c, ids_of_kind(&kind, c)))
        .find(|(_, ids)| !ids.is_empty())
    {
        return (Some(Cause::of(change, Attribution::Resource)), ids);
    }
    if let Some(change) = by_time
        .iter()
        .find(|c| !kind.service.is_empty() && service_of(c) == kind.service)
    {
        return (Some(Cause::of(change, Attribution::Service)), Vec::new());
    }
    let first = changes.first().map(|c| Cause::of(c, Attribution::Check));
    (first, Vec::new())
}

/// Whether a CloudTrail resource id names the same resource as `known`.
fn same_resource(id: &str, known: &str) -> bool {
    id == known || id.ends_with(&format!("/{known}")) || known.ends_with(&format!("/{id}"))
}

/// How an episode whose resource is clean again was resolved: changed back
/// by a person when a change of the clean check touched its resource (the
/// latest such change), else by a Terraform run.
fn clean_resolution(episode: &Episode, changes: &[Change]) -> (Resolution, Option<Actor>) {
    let touching = changes
        .iter()
        .filter(|c| {
            c.resources.iter().any(|id| {
                episode
                    .aws_resource_ids
                    .iter()
                    .any(|known| same_resource(id, known))
            })
        })
        .max_by_key(|c| epoch(&c.event_time).unwrap_or(i64::MIN));
    match touching {
        Some(change) => (Resolution::Reverted, Some(change.actor.clone())),
        None => (Resolution::CodeChanged, None),
    }
}

// ---------------------------------------------------------------------------
// Planning the episode writes of one check
// ---------------------------------------------------------------------------

impl EpisodeWrite {
    pub fn episode(&self) -> &Episode {
        match self {
            EpisodeWrite::Open(e)
            | EpisodeWrite::Refresh(e)
            | EpisodeWrite::Close(e)
            | EpisodeWrite::OpenResolved(e) => e,
        }
    }

    /// Transaction items the write takes.
    pub fn items(&self) -> usize {
        match self {
            EpisodeWrite::Close(_) => 2,
            _ => 1,
        }
    }

    /// Whether the write starts or ends an episode (what Security Hub and metrics hear about).
    pub fn is_transition(&self) -> bool {
        !matches!(self, EpisodeWrite::Refresh(_))
    }
}

pub use crate::model::EpisodeSummary;

/// The episode writes of one check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EpisodePlan {
    pub writes: Vec<EpisodeWrite>,
    pub summary: EpisodeSummary,
    /// "Still open" refreshes left out for lack of room.
    pub refreshes_dropped: usize,
}

impl EpisodePlan {
    /// No writes: the workspace's `open` episodes stay as they are.
    pub fn unchanged(open: usize) -> Self {
        EpisodePlan {
            summary: EpisodeSummary {
                open,
                ..EpisodeSummary::default()
            },
            ..EpisodePlan::default()
        }
    }

    /// Transaction items of all writes.
    pub fn items(&self) -> usize {
        self.writes.iter().map(EpisodeWrite::items).sum()
    }
}

fn new_episode(record: &HistoryRecord, address: &str, resource_type: &str) -> Episode {
    let check = CheckRef {
        organization: record.organization.clone(),
        workspace: record.workspace.clone(),
    };
    let (cause, aws_resource_ids) = attribute(resource_type, &record.changes);
    let link = CheckLink::of(record);
    Episode {
        episode_id: episode_id(&check, address, &record.execution_id),
        organization: record.organization.clone(),
        workspace: record.workspace.clone(),
        address: address.to_string(),
        resource_type: resource_type.to_string(),
        state: EpisodeState::Open,
        detected: link.clone(),
        last_seen: link,
        checks: 1,
        cause,
        aws_resource_ids,
        resolved: None,
        resolution: None,
        resolved_by: None,
        expires_at: record.expires_at,
    }
}

fn resolve(
    mut episode: Episode,
    record: &HistoryRecord,
    resolution: Resolution,
    by: Option<Actor>,
) -> Episode {
    episode.state = EpisodeState::Resolved;
    episode.resolved = Some(CheckLink::of(record));
    episode.resolution = Some(resolution);
    episode.resolved_by = by;
    episode.expires_at = record.expires_at;
    episode
}

/// The episode writes of the check `record` describes, given the workspace's
/// open episodes (see the module documentation for the rules and the budget).
pub fn plan(record: &HistoryRecord, open: &[Episode]) -> EpisodePlan {
    // The acceptance a DriftAccepted record makes is one more item of its transaction.
    let acceptance = usize::from(crate::history::accepted_by(record).is_some());
    plan_within(record, open, EPISODE_ITEM_BUDGET - acceptance)
}

/// [`plan`] with an explicit item budget.
pub fn plan_within(record: &HistoryRecord, open: &[Episode], budget: usize) -> EpisodePlan {
    let unchanged = EpisodePlan::unchanged(open.len());
    let (listed, complete) = match (record.status, &record.drift) {
        // A failed check knows nothing; a dismissed or unanswered drift
        // alert changes nothing (its DriftDetected record saw the episodes).
        (
            CheckStatus::CheckFailed | CheckStatus::DriftDismissed | CheckStatus::ApprovalExpired,
            _,
        ) => {
            return unchanged;
        }
        // The same drift a person accepted (until a date): its episodes ended
        // as accepted and stay so while the acceptance lasts.
        (status, _) if status != CheckStatus::DriftAccepted && record.acceptance.is_some() => {
            return unchanged;
        }
        (CheckStatus::NoDrift, _) => (Vec::new(), true),
        (_, Some(report)) => {
            let mut seen = BTreeSet::new();
            let listed: Vec<(&str, &str)> = report
                .resources
                .iter()
                .filter(|r| seen.insert(r.address.as_str()))
                .map(|r| (r.address.as_str(), r.resource_type.as_str()))
                .collect();
            let complete = report.resource_count <= report.resources.len();
            (listed, complete)
        }
        // A drift outcome without its report: nothing to go on.
        (_, None) => return unchanged,
    };
    // Drift that DriftGuard fixed or a person accepted ends its episodes here.
    let ended_as = match record.status {
        CheckStatus::Remediated => Some(Resolution::Remediated),
        CheckStatus::DriftAccepted => Some(Resolution::Accepted),
        _ => None,
    };
    // The outcome of a person's decision (approval mode) may come hours
    // after its check, when newer checks have moved the episodes on: it ends
    // only the episodes its check listed and saw, and opens, refreshes or
    // closes as clean nothing (its DriftDetected record did that, at the time).
    let after_decision =
        record.status.follows_decision() && record.approval.as_ref().is_some_and(|a| !a.automatic);
    let seen_by_this_check = |e: &Episode| {
        e.detected.execution_id == record.execution_id
            || crate::history::time_key(e.detected_at())
                <= crate::history::time_key(&record.started_at)
    };
    let by_address: BTreeMap<&str, &Episode> = open
        .iter()
        .filter(|e| !after_decision || seen_by_this_check(e))
        .map(|e| (e.address.as_str(), e))
        .collect();

    let mut closes = Vec::new();
    let mut opens = Vec::new();
    let mut refreshes = Vec::new();
    for (address, resource_type) in &listed {
        if after_decision && (ended_as.is_none() || !by_address.contains_key(address)) {
            continue;
        }
        match (by_address.get(address), ended_as) {
            (Some(episode), Some(resolution)) => closes.push(EpisodeWrite::Close(resolve(
                (*episode).clone(),
                record,
                resolution,
                None,
            ))),
            (Some(episode), None) => {
                let mut seen = (*episode).clone();
                seen.last_seen = CheckLink::of(record);
                seen.checks = seen.checks.saturating_add(1);
                seen.expires_at = record.expires_at;
                refreshes.push(EpisodeWrite::Refresh(seen));
            }
            (None, Some(resolution)) => opens.push(EpisodeWrite::OpenResolved(resolve(
                new_episode(record, address, resource_type),
                record,
                resolution,
                None,
            ))),
            (None, None) => opens.push(EpisodeWrite::Open(new_episode(
                record,
                address,
                resource_type,
            ))),
        }
    }
    if complete && !after_decision {
        let listed: BTreeSet<&str> = listed.iter().map(|(a, _)| *a).collect();
        let mut clean: Vec<&Episode> = open
            .iter()
            .filter(|e| !listed.contains(e.address.as_str()))
            .collect();
        clean.sort_by(|a, b| a.detected_at().cmp(b.detected_at()));
        for episode in clean {
            let (resolution, by) = clean_resolution(episode, &record.changes);
            closes.push(EpisodeWrite::Close(resolve(
                episode.clone(),
                record,
                resolution,
                by,
            )));
        }
    }

    let mut plan = EpisodePlan::default();
    let mut room = budget;
    let mut closed = 0;
    for write in closes.into_iter().chain(opens) {
        if write.items() > room {
            plan.summary.deferred += 1;
            continue;
        }
        room -= write.items();
        match &write {
            EpisodeWrite::Close(_) => {
                closed += 1;
                plan.summary.resolved += 1;
            }
            EpisodeWrite::OpenResolved(_) => {
                plan.summary.opened += 1;
                plan.summary.resolved += 1;
            }
            _ => plan.summary.opened += 1,
        }
        plan.writes.push(write);
    }
    for write in refreshes {
        if room == 0 {
            plan.refreshes_dropped += 1;
            continue;
        }
        room -= 1;
        plan.writes.push(write);
    }
    let opened_still_open = plan
        .writes
        .iter()
        .filter(|w| matches!(w, EpisodeWrite::Open(_)))
        .count();
    plan.summary.open = open.len() - closed + opened_still_open;
    plan
}

// ---------------------------------------------------------------------------
// Figures over episodes (metrics and the dashboard use the same ones)
// ---------------------------------------------------------------------------

/// The share of `[since, now]` in which the workspace had no open episode
/// (episodes count from detection to resolution), from 0 to 1. A window of
/// no length is drift-free unless an episode is open.
pub fn drift_free_ratio(
    episodes: &[Episode],
    since: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> f64 {
    let (start, end) = (since.timestamp(), now.timestamp());
    if end <= start {
        return if episodes.iter().any(Episode::is_open) {
            0.0
        } else {
            1.0
        };
    }
    let mut spans: Vec<(i64, i64)> = episodes
        .iter()
        .filter_map(|e| {
            let from = epoch(e.detected_at())?.max(start);
            let to = e.resolved_at().and_then(epoch).unwrap_or(end).min(end);
            (to > from).then_some((from, to))
        })
        .collect();
    spans.sort_unstable();
    let mut covered = 0;
    let mut current: Option<(i64, i64)> = None;
    for (from, to) in spans {
        current = match current {
            Some((a, b)) if from <= b => Some((a, b.max(to))),
            Some((a, b)) => {
                covered += b - a;
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((a, b)) = current {
        covered += b - a;
    }
    1.0 - covered as f64 / (end - start) as f64
}

/// The median of some durations (seconds), if any.
pub fn median(values: &[i64]) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DriftReport, DriftedResource};

    fn change(
        id: &str,
        event: &str,
        source: &str,
        resources: &[&str],
        time: &str,
        who: &str,
    ) -> Change {
        Change {
            event_id: id.into(),
            event_name: event.into(),
            event_source: source.into(),
            event_time: time.into(),
            aws_region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            actor: Actor {
                actor_type: "IAMUser".into(),
                arn: Some(format!("arn:aws:iam::123456789012:user/{who}")),
                principal_id: None,
            },
            resources: resources.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn resource(address: &str, resource_type: &str) -> DriftedResource {
        DriftedResource {
            address: address.into(),
            resource_type: resource_type.into(),
            actions: vec!["update".into()],
            changed_attributes: vec!["ingress".into()],
            ..Default::default()
        }
    }

    fn record(
        execution: &str,
        at: &str,
        status: CheckStatus,
        resources: Vec<DriftedResource>,
        total: usize,
        changes: Vec<Change>,
    ) -> HistoryRecord {
        HistoryRecord {
            execution_mode: None,
            workspace_id: None,
            plan_seconds: None,
            pending_code: None,
            warnings: vec![],
            approval: None,
            acceptance: None,
            pk: "WS#acme/prod".into(),
            sk: format!("CHECK#{at}#{execution}"),
            organization: "acme".into(),
            workspace: "prod".into(),
            status,
            execution_id: format!("arn:aws:states:eu-west-1:1:execution:sm:{execution}"),
            execution_url: format!("https://console/{execution}"),
            started_at: at.into(),
            recorded_at: at.into(),
            expires_at: epoch(at).unwrap() + 90 * 86_400,
            run_id: Some(format!("run-{execution}")),
            run_url: Some(format!("https://app.terraform.io/runs/run-{execution}")),
            changes,
            changes_omitted: 0,
            drift: (status != CheckStatus::CheckFailed).then(|| DriftReport {
                drifted: !resources.is_empty(),
                resource_count: total,
                truncated: total > resources.len(),
                omitted: total.saturating_sub(resources.len()),
                ignored: 0,
                fingerprint: if resources.is_empty() {
                    String::new()
                } else {
                    "f".into()
                },
                resources,
                ..Default::default()
            }),
            remediation: None,
            failure: None,
            fingerprint: String::new(),
            previous_fingerprint: None,
            earlier_failures: vec![],
            episodes: None,
        }
    }

    fn apply(open: &[Episode], plan: &EpisodePlan) -> Vec<Episode> {
        let mut by: BTreeMap<String, Episode> = open
            .iter()
            .map(|e| (e.address.clone(), e.clone()))
            .collect();
        for w in &plan.writes {
            match w {
                EpisodeWrite::Open(e) | EpisodeWrite::Refresh(e) => {
                    by.insert(e.address.clone(), e.clone());
                }
                EpisodeWrite::Close(e) => {
                    by.remove(&e.address);
                }
                EpisodeWrite::OpenResolved(_) => {}
            }
        }
        by.into_values().collect()
    }

    fn sg_change(who: &str, time: &str) -> Change {
        change(
            &format!("e-{who}"),
            "AuthorizeSecurityGroupIngress",
            "ec2.amazonaws.com",
            &["sg-0abc"],
            time,
            who,
        )
    }

    #[test]
    fn drift_opens_then_a_clean_check_touching_the_resource_closes_as_reverted() {
        let first = record(
            "e1",
            "2026-11-22T10:05:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_security_group.web", "aws_security_group")],
            1,
            vec![sg_change("alice", "2026-11-22T10:00:00Z")],
        );
        let plan1 = plan(&first, &[]);
        assert_eq!(
            plan1.summary,
            EpisodeSummary {
                opened: 1,
                resolved: 0,
                open: 1,
                deferred: 0
            }
        );
        let EpisodeWrite::Open(episode) = &plan1.writes[0] else {
            panic!("{:?}", plan1.writes)
        };
        let cause = episode.cause.as_ref().unwrap();
        assert_eq!(cause.matched, Attribution::Resource);
        assert!(cause.actor.arn.as_deref().unwrap().ends_with("user/alice"));
        assert_eq!(episode.aws_resource_ids, vec!["sg-0abc"]);
        assert_eq!(episode.time_to_detect_seconds(), Some(300));
        assert_eq!(
            episode.detected.run_url.as_deref(),
            Some("https://app.terraform.io/runs/run-e1")
        );
        let open = apply(&[], &plan1);

        // Seen again: the same episode, one more check.
        let again = record(
            "e2",
            "2026-11-22T11:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_security_group.web", "aws_security_group")],
            1,
            vec![change(
                "e-x",
                "CreateTags",
                "ec2.amazonaws.com",
                &["i-1"],
                "2026-11-22T10:58:00Z",
                "carol",
            )],
        );
        let plan2 = plan(&again, &open);
        assert_eq!(
            plan2.summary,
            EpisodeSummary {
                opened: 0,
                resolved: 0,
                open: 1,
                deferred: 0
            }
        );
        let EpisodeWrite::Refresh(seen) = &plan2.writes[0] else {
            panic!()
        };
        assert_eq!(
            (seen.checks, seen.episode_id.as_str()),
            (2, episode.episode_id.as_str())
        );
        assert_eq!(seen.last_seen.at, "2026-11-22T11:00:00Z");
        let open = apply(&open, &plan2);

        // Bob revokes the rule: the clean check's change touched sg-0abc.
        let clean = record(
            "e3",
            "2026-11-22T12:00:00Z",
            CheckStatus::NoDrift,
            vec![],
            0,
            vec![change(
                "e-bob",
                "RevokeSecurityGroupIngress",
                "ec2.amazonaws.com",
                &["sg-0abc"],
                "2026-11-22T11:59:00Z",
                "bob",
            )],
        );
        let plan3 = plan(&clean, &open);
        assert_eq!(
            plan3.summary,
            EpisodeSummary {
                opened: 0,
                resolved: 1,
                open: 0,
                deferred: 0
            }
        );
        let EpisodeWrite::Close(closed) = &plan3.writes[0] else {
            panic!()
        };
        assert_eq!(closed.resolution, Some(Resolution::Reverted));
        assert!(
            closed
                .resolved_by
                .as_ref()
                .unwrap()
                .arn
                .as_deref()
                .unwrap()
                .ends_with("user/bob")
        );
        assert_eq!(closed.duration_seconds(chrono::Utc::now()), 7_200 - 300);
        assert_eq!(closed.state, EpisodeState::Resolved);
    }

    #[test]
    fn clean_without_a_touching_change_is_code_changed() {
        let first = record(
            "e1",
            "2026-11-22T10:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_iam_role.app", "aws_iam_role")],
            1,
            vec![change(
                "e",
                "PutRolePolicy",
                "iam.amazonaws.com",
                &["app-role"],
                "2026-11-22T09:59:00Z",
                "alice",
            )],
        );
        let open = apply(&[], &plan(&first, &[]));
        assert_eq!(open[0].aws_resource_ids, vec!["app-role"]);
        let clean = record(
            "e2",
            "2026-11-23T10:00:00Z",
            CheckStatus::NoDrift,
            vec![],
            0,
            vec![sg_change("x", "2026-11-23T09:59:00Z")],
        );
        let p = plan(&clean, &open);
        let EpisodeWrite::Close(closed) = &p.writes[0] else {
            panic!()
        };
        assert_eq!(closed.resolution, Some(Resolution::CodeChanged));
        assert!(closed.resolved_by.is_none());
    }

    #[test]
    fn an_accepted_drift_resolves_its_episodes_and_a_dismissed_one_changes_nothing() {
        let detected = record(
            "e1",
            "2026-11-22T10:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_security_group.web", "aws_security_group")],
            1,
            vec![sg_change("alice", "2026-11-22T09:59:00Z")],
        );
        let open = apply(&[], &plan(&detected, &[]));
        assert_eq!(open.len(), 1);
        // The decision's outcome replaces the same execution's record.
        let decided = |status| HistoryRecord {
            status,
            ..detected.clone()
        };
        let accepted = plan(&decided(CheckStatus::DriftAccepted), &open);
        assert_eq!(accepted.summary.resolved, 1, "{accepted:?}");
        assert!(
            matches!(&accepted.writes[0], EpisodeWrite::Close(e) if e.resolution == Some(Resolution::Accepted))
        );
        let mut covered = decided(CheckStatus::DriftDetected);
        covered.acceptance = Some(crate::model::Acceptance {
            fingerprint: "fp".into(),
            by: crate::model::SlackUser {
                id: "U01ALICE".into(),
                name: "alice".into(),
            },
            reason: "known".into(),
            until: "2026-12-31".into(),
            until_epoch: 0,
            accepted_at: "2026-11-22T10:05:00Z".into(),
            execution_id: "e1".into(),
        });
        let quiet = plan(&covered, &apply(&open, &accepted));
        assert!(
            quiet.writes.is_empty(),
            "accepted drift seen again: {quiet:?}"
        );
        for status in [CheckStatus::DriftDismissed, CheckStatus::ApprovalExpired] {
            let p = plan(&decided(status), &open);
            assert!(p.writes.is_empty(), "{status}: {p:?}");
            assert_eq!(p.summary.open, 1, "{status}: the drift stays open");
        }
    }

    #[test]
    fn remediated_closes_listed_resources_and_opens_resolved_ones_never_seen() {
        let first = record(
            "e1",
            "2026-11-22T10:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_security_group.web", "aws_security_group")],
            1,
            vec![sg_change("alice", "2026-11-22T09:59:00Z")],
        );
        let open = apply(&[], &plan(&first, &[]));
        let fixed = record(
            "e2",
            "2026-11-22T10:30:00Z",
            CheckStatus::Remediated,
            vec![
                resource("aws_security_group.web", "aws_security_group"),
                resource("aws_instance.api", "aws_instance"),
            ],
            2,
            vec![change(
                "e-i",
                "ModifyInstanceAttribute",
                "ec2.amazonaws.com",
                &["i-0123"],
                "2026-11-22T10:29:00Z",
                "dan",
            )],
        );
        let p = plan(&fixed, &open);
        assert_eq!(
            p.summary,
            EpisodeSummary {
                opened: 1,
                resolved: 2,
                open: 0,
                deferred: 0
            }
        );
        assert!(
            matches!(&p.writes[0], EpisodeWrite::Close(e) if e.resolution == Some(Resolution::Remediated))
        );
        let EpisodeWrite::OpenResolved(at_once) = &p.writes[1] else {
            panic!("{:?}", p.writes)
        };
        assert_eq!(at_once.address, "aws_instance.api");
        assert_eq!(at_once.aws_resource_ids, vec!["i-0123"]);
        assert_eq!(at_once.detected.at, at_once.resolved_at().unwrap());
    }

    #[test]
    fn a_capped_report_opens_listed_resources_and_closes_nothing_else() {
        let first = record(
            "e1",
            "2026-11-22T10:00:00Z",
            CheckStatus::DriftDetected,
            vec![
                resource("aws_instance.a", "aws_instance"),
                resource("aws_instance.b", "aws_instance"),
            ],
            2,
            vec![],
        );
        let open = apply(&[], &plan(&first, &[]));
        assert_eq!(open.len(), 2);
        // 60 drifted, only c listed: a and b may be among the 59 left out.
        let capped = record(
            "e2",
            "2026-11-22T11:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_instance.c", "aws_instance")],
            60,
            vec![],
        );
        let p = plan(&capped, &open);
        assert_eq!(
            p.summary,
            EpisodeSummary {
                opened: 1,
                resolved: 0,
                open: 3,
                deferred: 0
            }
        );
        // The same report complete: a and b are clean.
        let complete = record(
            "e3",
            "2026-11-22T12:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_instance.c", "aws_instance")],
            1,
            vec![],
        );
        let p = plan(&complete, &open);
        assert_eq!(
            p.summary,
            EpisodeSummary {
                opened: 1,
                resolved: 2,
                open: 1,
                deferred: 0
            }
        );
    }

    #[test]
    fn check_failed_and_reports_missing_change_nothing() {
        let open = apply(
            &[],
            &plan(
                &record(
                    "e1",
                    "2026-11-22T10:00:00Z",
                    CheckStatus::DriftDetected,
                    vec![resource("aws_vpc.main", "aws_vpc")],
                    1,
                    vec![],
                ),
                &[],
            ),
        );
        let failed = record(
            "e2",
            "2026-11-22T11:00:00Z",
            CheckStatus::CheckFailed,
            vec![],
            0,
            vec![],
        );
        let p = plan(&failed, &open);
        assert!(p.writes.is_empty());
        assert_eq!(p.summary.open, 1);
        let mut no_report = record(
            "e3",
            "2026-11-22T11:00:00Z",
            CheckStatus::DriftDetected,
            vec![],
            0,
            vec![],
        );
        no_report.drift = None;
        assert!(plan(&no_report, &open).writes.is_empty());
    }

    #[test]
    fn a_late_decision_outcome_touches_only_the_episodes_its_check_listed_and_saw() {
        let sg = |name: &str| resource(&format!("aws_security_group.{name}"), "aws_security_group");
        // Check A (10:00) finds a drifted and waits for a person.
        let a = record(
            "a",
            "2026-11-22T10:00:00Z",
            CheckStatus::DriftDetected,
            vec![sg("a")],
            1,
            vec![],
        );
        let open = apply(&[], &plan(&a, &[]));
        // Later checks (12:00, 13:00): b drifts, and c drifts anew.
        let c = record(
            "c",
            "2026-11-22T13:00:00Z",
            CheckStatus::DriftDetected,
            vec![sg("a"), sg("b"), sg("c")],
            3,
            vec![],
        );
        let open = apply(&open, &plan(&c, &open));
        assert_eq!(open.len(), 3);
        // At 14:00 Alice's fix of A's alert is remediated. A's report lists a
        // and c (what A's run targeted), complete: b was not drifted at 10:00.
        let mut fixed = record(
            "a",
            "2026-11-22T10:00:00Z",
            CheckStatus::Remediated,
            vec![sg("a"), sg("c")],
            2,
            vec![],
        );
        fixed.recorded_at = "2026-11-22T14:00:00Z".into();
        fixed.approval = Some(crate::model::ApprovalDecision {
            decision: crate::model::DriftDecision::Fix,
            automatic: false,
            by: Some(crate::model::SlackUser {
                id: "U0ALICE".into(),
                name: "alice".into(),
            }),
            decided_at: Some("2026-11-22T14:00:00Z".into()),
            reason: None,
            until: None,
        });
        let p = plan(&fixed, &open);
        let touched: Vec<&str> = p
            .writes
            .iter()
            .map(|w| w.episode().address.as_str())
            .collect();
        assert_eq!(
            touched,
            ["aws_security_group.a"],
            "b (a newer episode, not listed) stays open, and so does c (listed, but opened after A): {:?}",
            p.writes
        );
        assert!(
            matches!(&p.writes[0], EpisodeWrite::Close(e) if e.resolution == Some(Resolution::Remediated))
        );
    }

    #[test]
    fn transitions_past_the_transaction_budget_are_deferred() {
        // 40 open episodes, a report of 30 new resources, none of the old: 40 closes (80 items) + 30 opens.
        let old: Vec<DriftedResource> = (0..40)
            .map(|i| resource(&format!("aws_instance.old{i:02}"), "aws_instance"))
            .collect();
        let open = apply(
            &[],
            &plan(
                &record(
                    "e1",
                    "2026-11-22T10:00:00Z",
                    CheckStatus::DriftDetected,
                    old,
                    40,
                    vec![],
                ),
                &[],
            ),
        );
        assert_eq!(open.len(), 40);
        let new: Vec<DriftedResource> = (0..30)
            .map(|i| resource(&format!("aws_instance.new{i:02}"), "aws_instance"))
            .collect();
        let p = plan(
            &record(
                "e2",
                "2026-11-22T11:00:00Z",
                CheckStatus::DriftDetected,
                new,
                30,
                vec![],
            ),
            &open,
        );
        assert!(p.items() <= EPISODE_ITEM_BUDGET, "{}", p.items());
        assert_eq!(p.summary.resolved, 40);
        assert_eq!(p.summary.opened, 18);
        assert_eq!(p.summary.deferred, 12);
        assert_eq!(p.summary.open, 18);
        // A later check with the same drift opens the rest.
        let after = apply(&open, &p);
        let new: Vec<DriftedResource> = (0..30)
            .map(|i| resource(&format!("aws_instance.new{i:02}"), "aws_instance"))
            .collect();
        let p2 = plan(
            &record(
                "e3",
                "2026-11-22T12:00:00Z",
                CheckStatus::DriftDetected,
                new,
                30,
                vec![],
            ),
            &after,
        );
        assert_eq!(
            (p2.summary.opened, p2.summary.deferred, p2.summary.open),
            (12, 0, 30)
        );
        // A tiny budget drops refreshes first.
        let p3 = plan_within(
            &record(
                "e4",
                "2026-11-22T13:00:00Z",
                CheckStatus::DriftDetected,
                vec![resource("aws_instance.new00", "aws_instance")],
                1,
                vec![],
            ),
            &apply(&after, &p2),
            0,
        );
        assert_eq!(p3.refreshes_dropped, 1);
        assert_eq!(p3.summary.deferred, 29);
    }

    #[test]
    fn attribution_prefers_the_resource_then_the_service_then_the_check() {
        let changes = vec![
            change(
                "1",
                "PutBucketTagging",
                "s3.amazonaws.com",
                &["logs-bucket"],
                "2026-11-22T10:00:00Z",
                "sam",
            ),
            change(
                "2",
                "CreateTags",
                "ec2.amazonaws.com",
                &["i-9"],
                "2026-11-22T10:01:00Z",
                "ivy",
            ),
            change(
                "3",
                "AuthorizeSecurityGroupIngress",
                "ec2.amazonaws.com",
                &["sg-1"],
                "2026-11-22T10:02:00Z",
                "alice",
            ),
        ];
        let (cause, ids) = attribute("aws_security_group_rule", &changes);
        assert_eq!(
            (cause.unwrap().event_id, ids),
            ("3".to_string(), vec!["sg-1".to_string()])
        );
        let (cause, _) = attribute("aws_subnet", &changes);
        assert_eq!(cause.unwrap().matched, Attribution::Service);
        let (cause, ids) = attribute("aws_s3_bucket_policy", &changes);
        assert_eq!(
            (cause.unwrap().matched, ids),
            (Attribution::Resource, vec!["logs-bucket".to_string()])
        );
        let (cause, _) = attribute("aws_lambda_function", &changes);
        assert_eq!(cause.unwrap().matched, Attribution::Check);
        let (cause, ids) = attribute("aws_iam_user", &changes);
        assert_eq!((cause.unwrap().matched, ids.len()), (Attribution::Check, 0));
        assert_eq!(attribute("aws_instance", &[]).0, None);
    }

    #[test]
    fn kinds_know_security_hub_types_and_access_control() {
        assert_eq!(
            resource_kind("aws_security_group_rule").asff_type,
            "AwsEc2SecurityGroup"
        );
        assert!(resource_kind("aws_vpc_security_group_ingress_rule").access_control);
        assert_eq!(resource_kind("aws_vpc").asff_type, "AwsEc2Vpc");
        assert!(resource_kind("aws_iam_role_policy").access_control);
        assert!(!resource_kind("aws_instance").access_control);
        assert_eq!(resource_kind("google_compute_instance").asff_type, "Other");
    }

    #[test]
    fn episode_ids_are_readable_and_bounded() {
        let check = CheckRef {
            organization: "acme".into(),
            workspace: "prod".into(),
        };
        assert_eq!(
            episode_id(
                &check,
                "aws_instance.web",
                "arn:aws:states:eu-west-1:1:execution:sm:e1"
            ),
            "driftguard/acme/prod/aws_instance.web/e1"
        );
        let long = "module.x".repeat(60);
        let id = episode_id(&check, &long, "e1");
        assert!(
            id.len() < 100 && id.starts_with("driftguard/acme/prod/sha256-"),
            "{id}"
        );
    }

    #[test]
    fn drift_free_ratio_merges_overlapping_episodes() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let r = record(
            "e1",
            "2026-11-01T00:00:00Z",
            CheckStatus::DriftDetected,
            vec![resource("aws_vpc.a", "aws_vpc")],
            1,
            vec![],
        );
        let mut a = new_episode(&r, "aws_vpc.a", "aws_vpc");
        let mut b = new_episode(&r, "aws_vpc.b", "aws_vpc");
        // a: day 1 00:00 → 12:00; b: 06:00 → 18:00 (overlap): 18 h of 48.
        a.detected.at = "2026-11-01T00:00:00Z".into();
        a.resolved = Some(CheckLink {
            at: "2026-11-01T12:00:00Z".into(),
            ..a.detected.clone()
        });
        b.detected.at = "2026-11-01T06:00:00Z".into();
        b.resolved = Some(CheckLink {
            at: "2026-11-01T18:00:00Z".into(),
            ..b.detected.clone()
        });
        let ratio = drift_free_ratio(
            &[a.clone(), b],
            t("2026-11-01T00:00:00Z"),
            t("2026-11-03T00:00:00Z"),
        );
        assert!((ratio - 30.0 / 48.0).abs() < 1e-9, "{ratio}");
        // Open until now: the rest of the window counts.
        a.resolved = None;
        let ratio = drift_free_ratio(&[a], t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z"));
        assert_eq!(ratio, 0.0);
        assert_eq!(
            drift_free_ratio(&[], t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")),
            1.0
        );
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
        assert_eq!(median(&[]), None);
    }
}
