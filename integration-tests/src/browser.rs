//! A real browser for the dashboard: Debian's headless Chromium, driven by
//! playwright-core (`integration-tests/browser/view-page.mjs`), reports what
//! a person sees on a page (rendered text per section, links, console
//! messages, page errors) and saves a screenshot.
//!
//! Where Chromium cannot be found the check is skipped with a message that
//! says how to get it (`.ci/run` installs Debian's `chromium`); under
//! `CI=true` a missing Chromium is a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use driftguard_core::dashboard::{self, DashboardData, RenderOptions};
use serde::Deserialize;

use crate::events::repo_root;

/// What the browser rendered.
#[derive(Debug, Clone, Deserialize)]
pub struct PageView {
    pub title: String,
    /// The page's rendered text (`innerText`).
    pub text: String,
    /// Rendered text of each `<section id>`.
    pub sections: BTreeMap<String, String>,
    pub links: Vec<String>,
    /// `<svg>` elements and bars drawn in them.
    pub svgs: usize,
    pub bars: usize,
    /// Console errors and warnings.
    pub console: Vec<String>,
    /// Uncaught page errors and failed requests.
    pub errors: Vec<String>,
}

impl PageView {
    /// The rendered text of a section (empty when the section is missing).
    pub fn section(&self, id: &str) -> &str {
        self.sections.get(id).map(String::as_str).unwrap_or("")
    }

    /// Fails on any console error or warning or page error.
    pub fn ensure_clean(&self) -> Result<()> {
        ensure!(
            self.console.is_empty() && self.errors.is_empty(),
            "the browser reported problems:\n  {}",
            self.console
                .iter()
                .chain(&self.errors)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        Ok(())
    }
}

/// Debian's headless Chromium.
pub struct Chromium {
    executable: PathBuf,
    node: PathBuf,
    script: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Chromium {
    /// Chromium (`CHROMIUM`, else `chromium` on the PATH), node and
    /// playwright-core; `None` with a message when something is missing,
    /// an error under `CI=true`.
    pub fn find() -> Result<Option<Chromium>> {
        let executable = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .or_else(|| on_path("chromium"))
            .or_else(|| on_path("chromium-browser"));
        let script = repo_root().join("integration-tests/browser/view-page.mjs");
        let playwright = repo_root().join("node_modules/playwright-core/package.json");
        let missing = match (&executable, on_path("node"), playwright.is_file()) {
            (None, _, _) => Some(
                "Chromium is not installed: run `apt-get install -y chromium` as root (.ci/run does it), or set CHROMIUM to its path".to_string(),
            ),
            (_, None, _) => Some("node is not on the PATH".to_string()),
            (_, _, false) => Some(
                "node_modules/playwright-core is missing: run `npm ci` (make does it)".to_string(),
            ),
            _ => None,
        };
        if let Some(reason) = missing {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                bail!("the dashboard browser check cannot run under CI: {reason}");
            }
            eprintln!("skipping the dashboard browser check: {reason}");
            return Ok(None);
        }
        Ok(Some(Chromium {
            executable: executable.context("chromium")?,
            node: on_path("node").context("node")?,
            script,
        }))
    }

    /// Opens `page` (a file) and saves a full-page screenshot to `screenshot`.
    pub async fn view(&self, page: &Path, screenshot: &Path) -> Result<PageView> {
        let page = page
            .canonicalize()
            .with_context(|| format!("{} does not exist", page.display()))?;
        if let Some(dir) = screenshot.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            tokio::process::Command::new(&self.node)
                .arg(&self.script)
                .arg(&self.executable)
                .arg(format!("file://{}", page.display()))
                .arg(screenshot)
                .current_dir(repo_root())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .context("Chromium did not finish within 120 s")?
        .context("run node view-page.mjs")?;
        ensure!(
            out.status.success(),
            "view-page.mjs failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "view-page.mjs printed no page view: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// Where pages and screenshots of the dashboard go (`target/dashboard/`).
pub fn output_dir() -> PathBuf {
    repo_root().join("target/dashboard")
}

/// Writes the standalone page of `data` to `target/dashboard/<name>.html`.
pub fn write_page(data: &DashboardData, name: &str) -> Result<PathBuf> {
    let path = output_dir().join(format!("{name}.html"));
    std::fs::create_dir_all(output_dir())?;
    let html = dashboard::render(
        data,
        &RenderOptions {
            standalone: true,
            ..RenderOptions::default()
        },
    );
    std::fs::write(&path, html).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// Writes a widget's HTML fragment inside a page, as the CloudWatch
/// console shows it, to `target/dashboard/<name>.html`.
pub fn write_widget_page(fragment: &str, dark: bool, name: &str) -> Result<PathBuf> {
    let path = output_dir().join(format!("{name}.html"));
    std::fs::create_dir_all(output_dir())?;
    let background = if dark { "#0f1b2a" } else { "#ffffff" };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DriftGuard widget</title></head>
<body style="margin:16px;background:{background}">{fragment}</body></html>
"#
    );
    std::fs::write(&path, html).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}
