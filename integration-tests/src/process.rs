//! Child processes of the local stack (moto, cargo lambda watch): each runs in
//! its own process group so stopping it also stops what it started (cargo run,
//! the Lambda binaries), and it is stopped when its handle is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A running child process, stopped (with its whole process group) on drop.
pub struct ManagedChild {
    name: String,
    child: Option<tokio::process::Child>,
    log: PathBuf,
}

impl ManagedChild {
    /// Starts `command` in a new process group, stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: tokio::process::Command, log: &Path) -> Result<Self> {
        output_to_log(&mut command, log)?;
        command.process_group(0).kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("start {name} ({command:?})"))?;
        if let Some(pid) = child.id() {
            STARTED.lock().unwrap().push(pid);
        }
        Ok(ManagedChild {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Fails if the process already exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            bail!(
                "{} exited ({status}); last log lines ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(30)
            );
        }
        Ok(())
    }

    /// Stops the process group: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            STARTED.lock().unwrap().retain(|p| *p != pid);
            signal_group(pid, "TERM");
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Children of the group (cargo run, Lambda binaries) may outlive the leader.
            signal_group(pid, "KILL");
        }
        let _ = child.start_kill();
        let _ = child.try_wait();
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Process groups started by [`ManagedChild::spawn`] and not stopped yet.
static STARTED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Stops every process group this harness started and has not stopped yet
/// (for an interrupted run, when destructors will not run).
pub fn stop_all_started() {
    let groups: Vec<u32> = std::mem::take(&mut *STARTED.lock().unwrap());
    for pid in &groups {
        signal_group(*pid, "TERM");
    }
    if !groups.is_empty() {
        std::thread::sleep(Duration::from_secs(2));
    }
    for pid in &groups {
        signal_group(*pid, "KILL");
    }
}

/// Sends a signal to the process group led by `pid` (a group this harness created).
fn signal_group(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of a text file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a local stack).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_for_port(
    port: u16,
    timeout: Duration,
    child: &mut ManagedChild,
    what: &str,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        child.check_running()?;
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{what} did not listen on port {port} within {timeout:?}; last log lines ({}):\n{}",
                child.log_path().display(),
                child.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a command to completion with its output in `log`; on failure the
/// error shows the log's tail.
pub async fn run_logged(
    what: &str,
    mut command: tokio::process::Command,
    log: &Path,
) -> Result<()> {
    output_to_log(&mut command, log)?;
    let status = command
        .kill_on_drop(true)
        .status()
        .await
        .with_context(|| format!("start {what} ({command:?})"))?;
    if !status.success() {
        bail!(
            "{what} failed ({status}); last log lines ({}):\n{}",
            log.display(),
            log_tail(log, 40)
        );
    }
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The stack's processes run in their
/// own process groups (so a terminal's Ctrl-C does not reach them directly):
/// a program using the stack selects on this and drops the stack, which stops them.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// No stdin; stdout and stderr appended to `log`.
pub fn output_to_log(command: &mut tokio::process::Command, log: &Path) -> Result<()> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open log {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    Ok(())
}
