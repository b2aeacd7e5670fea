//! Real-shaped EventBridge events for the local stack: the committed CloudTrail
//! fixtures, made unique per delivery, and EventBridge's pattern matching done
//! by moto's own engine.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The repository root (the cargo workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests lives in the repository")
        .to_path_buf()
}

/// The directory of the committed CloudTrail event fixtures.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("functions/lib/core/tests/fixtures/events")
}

/// A committed fixture, e.g. `console-authorize-security-group-ingress`.
pub fn fixture(name: &str) -> Result<Value> {
    let file = name.strip_suffix(".json").unwrap_or(name);
    let path = fixtures_dir().join(format!("{file}.json"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

/// A random-looking UUID (v4 format) without a uuid dependency.
pub fn uuid() -> String {
    let a = fastish_random();
    let b = fastish_random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a as u16 & 0xfff,
        (b >> 48) as u16 & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn fastish_random() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// Makes a fixture a fresh event: new EventBridge id and CloudTrail eventID, the
/// current time, and (when given) another account, as if that account's
/// CloudTrail had just written it.
pub fn fresh(mut event: Value, account: Option<&str>) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(obj) = event.as_object_mut() {
        obj.insert("id".into(), json!(uuid()));
        if obj.contains_key("time") {
            obj.insert("time".into(), json!(now));
        }
    }
    let old_account = event
        .get("account")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(detail) = event.get_mut("detail").and_then(Value::as_object_mut) {
        if detail.contains_key("eventID") {
            detail.insert("eventID".into(), json!(uuid()));
        }
        if detail.contains_key("eventTime") {
            detail.insert("eventTime".into(), json!(now));
        }
    }
    if let Some(account) = account {
        // Every place CloudTrail writes the account id, including ARNs.
        let text = event.to_string();
        let text = match &old_account {
            Some(old) if !old.is_empty() => text.replace(old.as_str(), account),
            _ => text,
        };
        event = serde_json::from_str(&text).expect("still JSON");
        if let Some(obj) = event.as_object_mut() {
            obj.insert("account".into(), json!(account));
        }
        if let Some(detail) = event.get_mut("detail").and_then(Value::as_object_mut)
            && detail.contains_key("recipientAccountId")
        {
            detail.insert("recipientAccountId".into(), json!(account));
        }
    }
    event
}

/// The CloudTrail `eventID` of an event, if it has one.
pub fn event_id(event: &Value) -> Option<&str> {
    event.pointer("/detail/eventID").and_then(Value::as_str)
}

/// EventBridge pattern matching with moto's engine (one python process per batch).
pub async fn pattern_matches(python: &Path, pattern: &str, events: &[Value]) -> Result<Vec<bool>> {
    let script = repo_root().join("integration-tests/python/event_pattern.py");
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {} {}", python.display(), script.display()))?;
    let request = json!({"pattern": pattern, "events": events}).to_string();
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(request.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "event pattern matching failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let answer: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("parse {}", String::from_utf8_lossy(&out.stdout)))?;
    let matches: Vec<bool> = answer
        .get("matches")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|m| m.as_bool().unwrap_or(false)).collect())
        .unwrap_or_default();
    if matches.len() != events.len() {
        bail!("event pattern matching answered {answer}");
    }
    Ok(matches)
}
