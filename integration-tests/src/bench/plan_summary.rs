//! Part 6: the drift summary at scale. Generates plans of 1k, 10k and 100k
//! resource changes from the real lab plans (`functions/lib/core/tests/fixtures/
//! plans/`: one workspace copy in ten with console drift, one in ten with
//! unapplied code, the rest unchanged), each copy an instance of one module
//! (`module.lab["00042"]`) with its `planned_values`, `prior_state`,
//! `resource_drift` and `resource_changes` entries, and measures the release
//! build of `driftguard summarize` on them: wall time and peak RSS (its
//! `ru_maxrss` from `wait4`, taken by the small `peak-rss` process). The plans are written to disk, never held in
//! memory, and removed afterwards.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// One measured plan size.
#[derive(Debug, Clone)]
pub struct PlanSizeFigures {
    pub resource_changes: usize,
    pub bytes: u64,
    pub drifted: usize,
    pub pending: usize,
    pub seconds: f64,
    pub peak_rss_kib: u64,
}

/// The budget: a plan of 100,000 resource changes summarized in ≤ 64 MiB.
pub const BUDGET_MIB: u64 = 64;

/// The lab plans a generated plan is made of.
struct Templates {
    /// (resource_drift, resource_changes, planned root module, prior root module)
    kinds: Vec<Template>,
    configuration: Value,
}

struct Template {
    drift: Vec<Value>,
    changes: Vec<Value>,
    planned: Value,
    prior: Value,
}

impl Templates {
    fn load(repo: &Path) -> Result<Self> {
        let dir = repo.join("functions/lib/core/tests/fixtures/plans");
        let read = |name: &str| -> Result<Value> {
            let path = dir.join(name);
            serde_json::from_reader(std::io::BufReader::new(
                File::open(&path).with_context(|| format!("open {}", path.display()))?,
            ))
            .with_context(|| format!("parse {}", path.display()))
        };
        let list = |plan: &Value, key: &str| -> Vec<Value> {
            plan.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut kinds = Vec::new();
        let mut configuration = Value::Null;
        for name in ["no-drift.json", "out-of-band.json", "code-only.json"] {
            let plan = read(name)?;
            if name == "code-only.json" {
                configuration = plan["configuration"].clone();
            }
            kinds.push(Template {
                drift: list(&plan, "resource_drift"),
                changes: list(&plan, "resource_changes"),
                planned: plan["planned_values"]["root_module"].clone(),
                prior: plan["prior_state"]["values"]["root_module"].clone(),
            });
        }
        Ok(Templates {
            kinds,
            configuration,
        })
    }

    /// Copy `k`: one in ten drifted, one in ten with unapplied code, the rest unchanged.
    fn kind(&self, k: usize) -> &Template {
        match k % 10 {
            0 => &self.kinds[1],
            5 => &self.kinds[2],
            _ => &self.kinds[0],
        }
    }
}

fn instance(k: usize) -> String {
    format!("module.lab[\"{k:05}\"]")
}

/// An entry of `resource_drift`/`resource_changes` moved into copy `k`.
fn relocate_entry(entry: &Value, k: usize) -> Value {
    let mut e = entry.clone();
    let module = instance(k);
    if let Some(address) = entry.get("address").and_then(Value::as_str) {
        e["address"] = json!(format!("{module}.{address}"));
    }
    e["module_address"] = match entry.get("module_address").and_then(Value::as_str) {
        Some(inner) => json!(format!("{module}.{inner}")),
        None => json!(module),
    };
    e
}

/// A module tree of `planned_values`/`prior_state` moved into copy `k`.
fn relocate_module(module: &Value, k: usize) -> Value {
    let prefix = instance(k);
    let mut out = json!({ "address": prefix });
    let resources: Vec<Value> = module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let mut r = r.clone();
            if let Some(a) = r.get("address").and_then(Value::as_str) {
                r["address"] = json!(format!("{prefix}.{a}"));
            }
            r
        })
        .collect();
    out["resources"] = json!(resources);
    let children: Vec<Value> = module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|child| {
            let mut c = relocate_module(child, k);
            if let Some(a) = child.get("address").and_then(Value::as_str) {
                c["address"] = json!(format!("{prefix}.{a}"));
            }
            c
        })
        .collect();
    if !children.is_empty() {
        out["child_modules"] = json!(children);
    }
    out
}

/// Writes a plan with at least `changes` resource changes; answers the count written.
fn write_plan(path: &Path, changes: usize, t: &Templates) -> Result<usize> {
    let per_copy = t.kinds[0].changes.len().max(1);
    let copies = changes.div_ceil(per_copy);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let list = |w: &mut BufWriter<File>, items: &mut dyn Iterator<Item = Value>| -> Result<usize> {
        w.write_all(b"[")?;
        let mut n = 0;
        for item in items {
            if n > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, &item)?;
            n += 1;
        }
        w.write_all(b"]")?;
        Ok(n)
    };
    write!(
        w,
        r#"{{"format_version":"1.2","terraform_version":"1.11.4","planned_values":{{"root_module":{{"child_modules":"#
    )?;
    list(
        &mut w,
        &mut (0..copies).map(|k| relocate_module(&t.kind(k).planned, k)),
    )?;
    write!(w, r#"}}}},"resource_drift":"#)?;
    list(
        &mut w,
        &mut (0..copies).flat_map(|k| t.kind(k).drift.iter().map(move |e| relocate_entry(e, k))),
    )?;
    write!(w, r#","resource_changes":"#)?;
    let written = list(
        &mut w,
        &mut (0..copies)
            .flat_map(|k| t.kind(k).changes.iter().map(move |e| relocate_entry(e, k)))
            .take(changes),
    )?;
    write!(
        w,
        r#","prior_state":{{"format_version":"1.0","terraform_version":"1.11.4","values":{{"root_module":{{"child_modules":"#
    )?;
    list(
        &mut w,
        &mut (0..copies).map(|k| relocate_module(&t.kind(k).prior, k)),
    )?;
    let configuration = json!({
        "provider_config": t.configuration["provider_config"],
        "root_module": {"module_calls": {"lab": {
            "source": "./lab",
            "for_each_expression": {"references": ["local.copies"]},
            "module": t.configuration["root_module"],
        }}}
    });
    write!(w, r#"}}}}}},"configuration":"#)?;
    serde_json::to_writer(&mut w, &configuration)?;
    write!(
        w,
        r#","timestamp":"2025-01-01T00:00:00Z","applyable":true,"complete":true,"errored":false}}"#
    )?;
    w.flush()?;
    Ok(written)
}

/// Runs `driftguard summarize` once, through `peak-rss` (see there: a child
/// of this large process would report this process's peak); answers
/// (seconds, peak RSS KiB, JSON report).
fn measure(peak_rss: &Path, driftguard: &Path, plan: &Path) -> Result<(f64, u64, Value)> {
    let out_path = plan.with_extension("report.json");
    let rss_path = plan.with_extension("rss");
    let started = Instant::now();
    let status = Command::new(peak_rss)
        .arg(&rss_path)
        .arg(driftguard)
        .args(["summarize", "--json", "--plan"])
        .arg(plan)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("run {}", peak_rss.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    // 2 = drift found (the generated plans carry drift); anything else is a failure.
    if status.code() != Some(2) {
        bail!("driftguard summarize exited {status} on {}", plan.display());
    }
    let peak_kib: u64 = std::fs::read_to_string(&rss_path)
        .with_context(|| format!("read {}", rss_path.display()))?
        .trim()
        .parse()
        .context("peak-rss wrote no number")?;
    let report: Value = serde_json::from_reader(File::open(&out_path)?)?;
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&rss_path);
    Ok((seconds, peak_kib, report))
}

/// Generates and measures each size; `driftguard` is the release CLI.
pub fn run(repo: &Path, work: &Path, sizes: &[usize]) -> Result<Vec<PlanSizeFigures>> {
    let driftguard: PathBuf = repo.join("target/release/driftguard");
    if !driftguard.exists() {
        bail!(
            "{} is missing: `cargo build --release --bin driftguard` (make bench does it)",
            driftguard.display()
        );
    }
    // Built beside this benchmark (make bench builds both).
    let peak_rss = std::env::current_exe()?.with_file_name("peak-rss");
    if !peak_rss.exists() {
        bail!(
            "{} is missing: `cargo build -p driftguard-integration-tests --bin peak-rss` (make bench does it)",
            peak_rss.display()
        );
    }
    let templates = Templates::load(repo)?;
    std::fs::create_dir_all(work)?;
    let mut figures = Vec::new();
    for &size in sizes {
        let path = work.join(format!("plan-{size}.json"));
        eprintln!("[bench] part 6: writing a plan of {size} resource changes");
        let written = write_plan(&path, size, &templates)?;
        let bytes = std::fs::metadata(&path)?.len();
        eprintln!(
            "[bench] part 6: summarizing {:.1} MiB",
            bytes as f64 / (1024.0 * 1024.0)
        );
        let measured = measure(&peak_rss, &driftguard, &path);
        let _ = std::fs::remove_file(&path);
        let (seconds, peak_rss_kib, report) = measured?;
        figures.push(PlanSizeFigures {
            resource_changes: written,
            bytes,
            drifted: report["resource_count"].as_u64().unwrap_or(0) as usize,
            pending: report["pending_changes"]["count"].as_u64().unwrap_or(0) as usize,
            seconds,
            peak_rss_kib,
        });
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_plans_are_judged_like_the_lab_plans() {
        let repo = crate::events::repo_root();
        let templates = Templates::load(&repo).unwrap();
        let dir = std::env::temp_dir().join(format!("dg-plan-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.json");
        let per_copy = templates.kinds[0].changes.len();
        let written = write_plan(&path, per_copy * 20, &templates).unwrap();
        assert_eq!(written, per_copy * 20);
        let summary = driftguard_core::plan::summarize(
            File::open(&path).unwrap(),
            &driftguard_core::plan::Options::default(),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        // Copies 0 and 10 drifted (8 resources each), 5 and 15 carry code (3 each).
        assert_eq!(summary.analysis.drifted.len(), 16);
        assert_eq!(summary.analysis.pending.len(), 6);
        assert!(
            summary
                .analysis
                .drifted
                .iter()
                .any(|r| r.address == "module.lab[\"00010\"].aws_security_group.web")
        );
    }
}
