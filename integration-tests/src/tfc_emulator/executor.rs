//! Runs that really plan: a workspace backed by a real Terraform working
//! directory. Like HCP Terraform, the emulator keeps the workspace's state and
//! gives every run a fresh working directory with the configuration and that
//! state: a run plans with `terraform plan -out` (`-refresh-only` and
//! `-target` when the run asks) and serves `terraform show -json` of the saved
//! plan; an apply applies that saved plan, against the workspace's *current*
//! state (so a plan made stale by another apply fails, as it does in HCP
//! Terraform), and the new state becomes the workspace's.
//!
//! The provider runs against the local stack: the backing's environment names
//! the endpoint (`AWS_ENDPOINT_URL`) and dummy credentials. One `terraform
//! init` per workspace (with the provider mirror when there is one) is shared
//! by its runs through `TF_DATA_DIR`. At most one Terraform process per core
//! runs at a time; the others wait, as runs wait for capacity.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Exec, Outcome, Shared, plan_json};

/// How often the driver starts the plans and applies that are due.
const TICK: Duration = Duration::from_millis(100);

/// A real Terraform configuration behind an emulated workspace.
#[derive(Debug, Clone)]
pub struct TerraformBacking {
    /// The configuration (its `*.tf` files are copied).
    pub config_dir: PathBuf,
    /// `-var` values.
    pub variables: Vec<(String, String)>,
    /// Environment of every `terraform` process (the local stack's endpoint and credentials).
    pub env: Vec<(String, String)>,
    /// Where the workspace's working directories and logs go.
    pub work_dir: PathBuf,
}

/// A prepared, applied working directory and the workspace's state.
pub(crate) struct Backed {
    backing: TerraformBacking,
    /// The configuration version's `-var` values (a new version may change them).
    variables: Mutex<Vec<(String, String)>>,
    root: PathBuf,
    /// The initialized configuration; its `.terraform` is every run's `TF_DATA_DIR`.
    template: PathBuf,
    /// The workspace's current state file.
    state: Mutex<Vec<u8>>,
}

/// A plan or apply in a Terraform process: started by the driver when the run
/// reaches it, finished when the process ends.
#[derive(Default)]
pub(crate) struct Job {
    started: Mutex<bool>,
    done: Mutex<Option<(Instant, Outcome)>>,
}

impl Job {
    pub fn finished(&self) -> Option<(Instant, Outcome)> {
        self.done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// True the first time only.
    fn start(&self) -> bool {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        !std::mem::replace(&mut *started, true)
    }

    fn finish(&self, outcome: Outcome) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), outcome));
    }
}

fn copy_tf_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.ends_with(".tf") || name == ".terraform.lock.hcl" {
            std::fs::copy(&path, to.join(&name))
                .with_context(|| format!("copy {}", path.display()))?;
        }
    }
    Ok(())
}

impl Backed {
    /// Copies and initializes the configuration, then applies it once (the
    /// workspace's first run) to create its resources and state.
    pub async fn prepare(backing: TerraformBacking, label: &str) -> Result<Backed> {
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let root = backing.work_dir.join(safe);
        let template = root.join("configuration");
        copy_tf_files(&backing.config_dir, &template)?;
        let backed = Backed {
            variables: Mutex::new(backing.variables.clone()),
            backing,
            root,
            template,
            state: Mutex::new(Vec::new()),
        };
        let mut init = vec![
            "init".to_string(),
            "-input=false".into(),
            "-no-color".into(),
        ];
        init.extend(crate::terraform::provider_source_args()?);
        let (ok, log) = backed.terraform(&backed.template, &init).await?;
        std::fs::write(backed.root.join("init.log"), &log)?;
        if !ok {
            bail!(
                "terraform init of {} failed:\n{log}",
                backed.template.display()
            );
        }
        let dir = backed.run_dir("initial-apply")?;
        let mut apply = vec![
            "apply".to_string(),
            "-auto-approve".into(),
            "-input=false".into(),
            "-no-color".into(),
            "-lock=false".into(),
        ];
        apply.extend(backed.var_args());
        let (ok, log) = backed.terraform(&dir, &apply).await?;
        std::fs::write(dir.join("apply.log"), &log)?;
        if !ok {
            bail!("the first terraform apply of {label} failed:\n{log}");
        }
        let state =
            std::fs::read(dir.join("terraform.tfstate")).context("read the applied state")?;
        *backed.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
        Ok(backed)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The current state's outputs.
    pub fn outputs(&self) -> Option<Value> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let parsed: Value = serde_json::from_slice(&state).ok()?;
        parsed.get("outputs").cloned()
    }

    fn var_args(&self) -> Vec<String> {
        self.variables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .flat_map(|(k, v)| ["-var".to_string(), format!("{k}={v}")])
            .collect()
    }

    /// A new configuration version: later runs plan with these variable values
    /// (others unchanged), so the workspace has code that is not applied yet.
    pub fn set_variables(&self, changed: &[(String, String)]) {
        let mut variables = self
            .variables
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (key, value) in changed {
            match variables.iter_mut().find(|(k, _)| k == key) {
                Some(existing) => existing.1 = value.clone(),
                None => variables.push((key.clone(), value.clone())),
            }
        }
    }

    /// A fresh working directory: the configuration, its lock file and the
    /// workspace's current state.
    fn run_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("runs").join(name);
        copy_tf_files(&self.template, &dir)?;
        let state = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if !state.is_empty() {
            std::fs::write(dir.join("terraform.tfstate"), state)?;
        }
        Ok(dir)
    }

    async fn terraform(&self, dir: &Path, args: &[String]) -> Result<(bool, String)> {
        let output = tokio::process::Command::new("terraform")
            .args(args)
            .current_dir(dir)
            .env("TF_DATA_DIR", self.template.join(".terraform"))
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("TF_WORKSPACE")
            .env_remove("AWS_PROFILE")
            .envs(crate::terraform::plugin_cache_dir().map(|dir| ("TF_PLUGIN_CACHE_DIR", dir)))
            .envs(self.backing.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .output()
            .await
            .context("run terraform")?;
        let mut log = String::from_utf8_lossy(&output.stdout).to_string();
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        Ok((output.status.success(), log))
    }

    /// `terraform plan -out` in the run's directory, then `show -json`.
    async fn plan(&self, run_id: &str, refresh_only: bool, targets: &[String]) -> Outcome {
        let attempt = async {
            let dir = self.run_dir(run_id)?;
            let mut args = vec![
                "plan".to_string(),
                "-input=false".into(),
                "-no-color".into(),
                "-lock=false".into(),
                "-out=tfplan".into(),
            ];
            if refresh_only {
                args.push("-refresh-only".into());
            }
            args.extend(targets.iter().map(|t| format!("-target={t}")));
            args.extend(self.var_args());
            let (ok, log) = self.terraform(&dir, &args).await?;
            std::fs::write(dir.join("plan.log"), &log)?;
            if !ok {
                return Ok(Outcome {
                    ok: false,
                    log,
                    json: None,
                    has_changes: false,
                });
            }
            let shown = tokio::process::Command::new("terraform")
                .args(["show", "-json", "tfplan"])
                .current_dir(&dir)
                .env("TF_DATA_DIR", self.template.join(".terraform"))
                .env("TF_CLI_CONFIG_FILE", "/dev/null")
                .output()
                .await
                .context("terraform show -json")?;
            if !shown.status.success() {
                bail!(
                    "terraform show -json failed: {}",
                    String::from_utf8_lossy(&shown.stderr)
                );
            }
            let json: Value = serde_json::from_slice(&shown.stdout).context("plan JSON")?;
            std::fs::write(dir.join("plan.json"), &shown.stdout)?;
            Ok::<_, anyhow::Error>(Outcome {
                ok: true,
                has_changes: plan_json::has_changes(&json),
                log,
                json: Some(json),
            })
        };
        attempt.await.unwrap_or_else(|e| Outcome {
            ok: false,
            log: format!("Error: the emulator could not run terraform plan: {e:#}"),
            json: None,
            has_changes: false,
        })
    }

    /// `terraform apply` of the run's saved plan against the workspace's
    /// current state; on success that state becomes the workspace's.
    async fn apply(&self, run_id: &str) -> Outcome {
        let attempt = async {
            let dir = self.root.join("runs").join(run_id);
            let current = self
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            std::fs::write(dir.join("terraform.tfstate"), current)?;
            let args = [
                "apply".to_string(),
                "-input=false".into(),
                "-no-color".into(),
                "-lock=false".into(),
                "tfplan".into(),
            ];
            let (ok, log) = self.terraform(&dir, &args).await?;
            std::fs::write(dir.join("apply.log"), &log)?;
            if ok {
                let state = std::fs::read(dir.join("terraform.tfstate"))?;
                *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
            }
            Ok::<_, anyhow::Error>(Outcome {
                ok,
                log,
                json: None,
                has_changes: false,
            })
        };
        attempt.await.unwrap_or_else(|e| Outcome {
            ok: false,
            log: format!("Error: the emulator could not run terraform apply: {e:#}"),
            json: None,
            has_changes: false,
        })
    }
}

enum Due {
    Plan {
        backed: Arc<Backed>,
        job: Arc<Job>,
        run_id: String,
        refresh_only: bool,
        targets: Vec<String>,
    },
    Apply {
        backed: Arc<Backed>,
        job: Arc<Job>,
        run_id: String,
    },
}

/// Starts, every tick, the Terraform plans and applies whose runs reached
/// `planning` or `applying`. Stops with the emulator.
pub(crate) fn spawn_driver(shared: Weak<Shared>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            for due in due_jobs(&shared) {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(_slot) = shared.terraform_slots.acquire().await else {
                        return;
                    };
                    match due {
                        Due::Plan {
                            backed,
                            job,
                            run_id,
                            refresh_only,
                            targets,
                        } => {
                            tracing::info!(%run_id, "emulator: terraform plan");
                            job.finish(backed.plan(&run_id, refresh_only, &targets).await);
                        }
                        Due::Apply {
                            backed,
                            job,
                            run_id,
                        } => {
                            tracing::info!(%run_id, "emulator: terraform apply");
                            job.finish(backed.apply(&run_id).await);
                        }
                    }
                });
            }
        }
    });
}

fn due_jobs(shared: &Shared) -> Vec<Due> {
    let state = shared.lock();
    let now = Instant::now();
    let mut due = Vec::new();
    for run in &state.runs {
        let Some(backed) = state
            .workspace_by_id(&run.workspace_id)
            .and_then(|w| w.backed.clone())
        else {
            continue;
        };
        let timeline = state.timeline(run, now);
        match (timeline.status(), &run.plan, &run.apply) {
            ("planning", Exec::Terraform(job), _) if job.start() => due.push(Due::Plan {
                backed,
                job: job.clone(),
                run_id: run.id.clone(),
                refresh_only: run.refresh_only,
                targets: run.target_addrs.clone().unwrap_or_default(),
            }),
            ("applying", _, Exec::Terraform(job)) if job.start() => due.push(Due::Apply {
                backed,
                job: job.clone(),
                run_id: run.id.clone(),
            }),
            _ => {}
        }
    }
    due
}
