//! The machine and source a benchmark ran on.

use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub cpus: String,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub commit: String,
    pub started_utc: String,
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn describe(repo: &std::path::Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let repo_s = repo.display().to_string();
    let commit = output("git", &["-C", &repo_s, "rev-parse", "--short=12", "HEAD"]);
    let dirty = !output("git", &["-C", &repo_s, "status", "--porcelain"]).is_empty();
    Machine {
        cpus: output("nproc", &[]),
        cpu_model,
        memory,
        kernel: output("uname", &["-srm"]),
        rustc: output("rustc", &["--version"]),
        commit: if dirty {
            format!("{commit} (with uncommitted changes)")
        } else {
            commit
        },
        started_utc: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// Load average (1, 5, 15 min) now, to show how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
