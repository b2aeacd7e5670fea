"""Lint every IAM policy document a DriftGuard deployment stored, as AWS (here:
moto) holds it after `terraform apply`: role trust, inline and attached
policies, and the resource policies of the SNS topic, KMS key, event buses,
SQS queues, S3 buckets and Lambda functions whose names start with a prefix.

Two passes:
  1. parliament (with its community auditors) on each document; a finding
     passes only when the justification file accepts it (with a reason);
  2. the scopes parliament cannot judge (issue "tighter scopes"): service trust
     and service grants carry aws:SourceAccount and aws:SourceArn, history-table
     access carries dynamodb:LeadingKeys with the expected partition keys, and
     bus-policy grants name principals by aws:PrincipalArn.

stdin:  {"endpoint": url, "regions": [...], "prefixes": [...], "justifications": path,
         "workspace_keys": ["WS#org/ws", ...], "pacing_keys": ["PACE#host", "PACE#host#*"],
         "approval_keys": ["APPROVAL#*"],
         "unscoped_service_principals": ["lambda.amazonaws.com", ...]}
        or, instead of endpoint/regions/prefixes, "documents": [{"label", "kind", "document"}]
        (kind: trust | identity | resource)
stdout: {"documents": [label, ...], "findings": [...], "justified": [...],
         "unused_justifications": [...], "scope_problems": [...]}
"""

import json
import re
import sys
from pathlib import Path

import boto3
import parliament
from botocore.exceptions import ClientError
import yaml
from parliament import analyze_policy_string, enhance_finding, override_config


def client(service, request, region):
    return boto3.client(
        service,
        endpoint_url=request["endpoint"],
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def as_document(policy):
    """A policy as IAM returns it (dict, JSON string or URL-encoded JSON)."""
    if isinstance(policy, dict):
        return policy
    if not policy:
        return None
    try:
        return json.loads(policy)
    except json.JSONDecodeError:
        from urllib.parse import unquote

        return json.loads(unquote(policy))


def named(name, prefixes):
    return any(name.startswith(p + "-") for p in prefixes)


def paginate(c, operation, key, **kwargs):
    for page in c.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def collect(request):
    """(label, kind, document) for every stored policy of the deployments."""
    prefixes = request["prefixes"]
    regions = request["regions"]
    docs = []

    iam = client("iam", request, regions[0])
    for role in paginate(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        if not named(name, prefixes):
            continue
        docs.append((f"iam-role/{name}/trust", "trust", as_document(role["AssumeRolePolicyDocument"])))
        for policy in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
            got = iam.get_role_policy(RoleName=name, PolicyName=policy)
            docs.append((f"iam-role/{name}/inline/{policy}", "identity", as_document(got["PolicyDocument"])))
        for attached in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            got = iam.get_policy_version(PolicyArn=arn, VersionId=version)
            docs.append((f"iam-role/{name}/attached/{arn}", "identity", as_document(got["PolicyVersion"]["Document"])))

    for region in regions:
        sns = client("sns", request, region)
        for topic in paginate(sns, "list_topics", "Topics"):
            arn = topic["TopicArn"]
            name = arn.rsplit(":", 1)[-1]
            if named(name, prefixes):
                attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
                docs.append((f"sns-topic/{region}/{name}", "resource", as_document(attributes.get("Policy"))))

        kms = client("kms", request, region)
        for alias in paginate(kms, "list_aliases", "Aliases"):
            name = alias["AliasName"].removeprefix("alias/")
            if named(name, prefixes) and alias.get("TargetKeyId"):
                policy = kms.get_key_policy(KeyId=alias["TargetKeyId"], PolicyName="default")["Policy"]
                docs.append((f"kms-key/{region}/alias/{name}", "resource", as_document(policy)))

        events = client("events", request, region)
        bus = events.describe_event_bus(Name="default")
        if bus.get("Policy"):
            docs.append((f"event-bus/{region}/default", "resource", as_document(bus["Policy"])))

        sqs = client("sqs", request, region)
        for url in sqs.list_queues().get("QueueUrls", []):
            name = url.rstrip("/").rsplit("/", 1)[-1]
            if named(name, prefixes):
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
                if attributes.get("Policy"):
                    docs.append((f"sqs-queue/{region}/{name}", "resource", as_document(attributes["Policy"])))

        lam = client("lambda", request, region)
        for function in paginate(lam, "list_functions", "Functions"):
            name = function["FunctionName"]
            if not named(name, prefixes):
                continue
            try:
                policy = lam.get_policy(FunctionName=name)["Policy"]
            except lam.exceptions.ResourceNotFoundException:
                continue
            docs.append((f"lambda/{region}/{name}", "resource", as_document(policy)))

    s3 = client("s3", request, regions[0])
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if not named(name, prefixes):
            continue
        try:
            policy = s3.get_bucket_policy(Bucket=name)["Policy"]
        except ClientError:
            continue
        docs.append((f"s3-bucket/{name}", "resource", as_document(policy)))
    return [(label, kind, doc) for label, kind, doc in docs if doc]


# ---------------------------------------------------------------------------
# parliament
# ---------------------------------------------------------------------------


def load_justifications(path):
    entries = yaml.safe_load(Path(path).read_text()) or []
    problems = []
    for i, entry in enumerate(entries):
        for key in ("issue", "document", "reason"):
            if not str(entry.get(key, "")).strip():
                problems.append(f"{path}: entry {i + 1} needs '{key}'")
    if problems:
        raise SystemExit("\n".join(problems))
    return entries


def accepts(entry, finding):
    if entry["issue"] != finding["issue"]:
        return False
    if not re.fullmatch(entry["document"], finding["document"]):
        return False
    for key in ("detail", "location"):
        pattern = entry.get(key)
        if pattern is not None and not re.fullmatch(pattern, json.dumps(finding[key], sort_keys=True), flags=re.S):
            return False
    return True


def lint(docs, justifications):
    override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))
    findings, justified = [], []
    used = [False] * len(justifications)
    for label, _kind, doc in docs:
        policy = analyze_policy_string(json.dumps(doc), filepath=label, include_community_auditors=True)
        for raw in policy.findings:
            f = enhance_finding(raw)
            finding = {
                "document": label,
                "issue": f.issue,
                "severity": f.severity,
                "title": f.title,
                "detail": f.detail,
                "location": {k: v for k, v in f.location.items() if k != "filepath"},
            }
            reason = None
            for i, entry in enumerate(justifications):
                if accepts(entry, finding):
                    used[i] = True
                    reason = entry["reason"].strip()
                    break
            if reason is None:
                findings.append(finding)
            else:
                justified.append({**finding, "reason": reason})
    unused = [j for j, u in zip(justifications, used) if not u]
    return findings, justified, unused


# ---------------------------------------------------------------------------
# Scopes parliament cannot judge
# ---------------------------------------------------------------------------


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def condition_values(statement, key):
    """Values of a condition key under any operator (keys compare case-insensitively)."""
    values = []
    for _operator, block in (statement.get("Condition") or {}).items():
        for k, v in block.items():
            if k.lower() == key.lower():
                values.extend(as_list(v))
    return values


def service_principals(statement):
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return []
    return as_list(principal.get("Service"))


def scope_problems(docs, request):
    problems = []
    unscoped = set(request.get("unscoped_service_principals", []))
    workspace_keys = set(request["workspace_keys"])
    pacing_keys = set(request["pacing_keys"])
    approval_keys = set(request.get("approval_keys", []))
    saw_history_access = False
    for label, kind, doc in docs:
        for n, statement in enumerate(as_list(doc.get("Statement"))):
            where = f"{label} statement {statement.get('Sid') or n + 1}"
            if statement.get("Effect") != "Allow":
                continue
            services = [s for s in service_principals(statement) if s not in unscoped]
            if services:
                for key in ("aws:SourceAccount", "aws:SourceArn"):
                    if not condition_values(statement, key):
                        problems.append(f"{where}: {', '.join(services)} is trusted without {key}")
            if label.startswith("event-bus/"):
                if not condition_values(statement, "aws:PrincipalArn"):
                    problems.append(f"{where}: grants PutEvents without naming the forwarder roles (aws:PrincipalArn)")
            if kind == "identity":
                actions = [a.lower() for a in as_list(statement.get("Action"))]
                if any(a.startswith("dynamodb:") for a in actions):
                    saw_history_access = True
                    keys = set(condition_values(statement, "dynamodb:LeadingKeys"))
                    if not keys:
                        problems.append(f"{where}: DynamoDB access without dynamodb:LeadingKeys")
                    elif keys not in (workspace_keys, pacing_keys, approval_keys):
                        problems.append(
                            f"{where}: dynamodb:LeadingKeys {sorted(keys)} is neither the workspaces' partition keys "
                            f"{sorted(workspace_keys)} (functions/lib/core/src/history.rs partition_key), the pacing "
                            f"items {sorted(pacing_keys)} (functions/lib/core/src/pacing.rs budget_key) nor the decision "
                            f"requests {sorted(approval_keys)} (functions/lib/core/src/approval.rs partition_key)"
                        )
    if not saw_history_access and request.get("expect_history_access", True):
        problems.append("no role policy grants DynamoDB access: the documents were not read back")
    return problems


def main():
    request = json.load(sys.stdin)
    # Documents given directly (the lint's own tests) or read from the deployment.
    if "documents" in request:
        docs = [(d["label"], d["kind"], d["document"]) for d in request["documents"]]
    else:
        docs = collect(request)
    justifications = load_justifications(request["justifications"])
    findings, justified, unused = lint(docs, justifications)
    json.dump(
        {
            "documents": [label for label, _, _ in docs],
            "findings": findings,
            "justified": justified,
            "unused_justifications": unused,
            "scope_problems": scope_problems(docs, request),
        },
        sys.stdout,
        default=str,
    )


if __name__ == "__main__":
    main()
