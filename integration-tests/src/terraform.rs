//! Applying the real root module (terraform/) to the local stack: a copy of the
//! module beside `../statemachine/` (the path the module reads the ASL from),
//! the test-only `*_override.tf` from integration-tests/terraform-override/,
//! placeholder Lambda zips when `make package` was not run, and AWS endpoints
//! pointed at the gateway through `AWS_ENDPOINT_URL`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::events::repo_root;
use crate::gateway::functions;
use crate::process::run_logged;

/// The machine image's provider mirror.
const DEFAULT_PLUGIN_DIR: &str = "/opt/tf-plugins";

/// Where the provider plugins are (`terraform init -plugin-dir`): `TF_PLUGINS`
/// when set, else the machine image's mirror when it exists. `None` means
/// `terraform init` downloads the pinned provider from the registry.
pub fn plugin_dir() -> Option<PathBuf> {
    match std::env::var_os("TF_PLUGINS") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => Some(PathBuf::from(DEFAULT_PLUGIN_DIR)).filter(|dir| dir.exists()),
    }
}

/// The `terraform init` arguments that choose where the provider comes from.
/// Without a mirror, downloads go to a cache in `target/` so each working
/// directory does not download the provider again.
pub fn provider_source_args() -> Result<Vec<String>> {
    match plugin_dir() {
        Some(dir) if !dir.exists() => bail!(
            "{} is missing: terraform init needs the hashicorp/aws provider there (set TF_PLUGINS to another plugin directory, or unset it to download the provider)",
            dir.display()
        ),
        Some(dir) => Ok(vec![format!("-plugin-dir={}", dir.display())]),
        None => Ok(vec![]),
    }
}

/// Where `terraform init` keeps downloaded providers when no mirror is used
/// (`TF_PLUGIN_CACHE_DIR`), unless the caller set one: a cache in `target/`,
/// so each working directory does not download the provider again.
pub fn plugin_cache_dir() -> Option<PathBuf> {
    if plugin_dir().is_some() || std::env::var_os("TF_PLUGIN_CACHE_DIR").is_some() {
        return None;
    }
    let cache = repo_root().join("target/terraform/plugin-cache");
    // A missing cache directory only costs a download; terraform says so itself.
    let _ = std::fs::create_dir_all(&cache);
    Some(cache)
}

/// Sets the provider download cache on a terraform command when no mirror is used.
pub fn use_plugin_cache(cmd: &mut tokio::process::Command) {
    if let Some(cache) = plugin_cache_dir() {
        cmd.env("TF_PLUGIN_CACHE_DIR", cache);
    }
}

/// A prepared copy of the module.
pub struct Module {
    /// The copy's root (holds terraform/, statemachine/).
    pub root: PathBuf,
    pub endpoint: String,
    pub region: String,
    pub log: PathBuf,
    python: PathBuf,
}

/// The outputs the harness uses.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub state_machine_arn: String,
    pub history_table_name: String,
    /// DriftGuard function (admit-event, …) → deployed function name.
    pub function_names: BTreeMap<String, String>,
    pub cloudtrail_rule_name: String,
    pub failure_rule_name: String,
    pub raw: Value,
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform"
            || name_str.ends_with(".tfstate")
            || name_str.ends_with(".tfstate.backup")
            || name_str.ends_with(".tfvars")
        {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))
                .with_context(|| format!("copy {}", path.display()))?;
        }
    }
    Ok(())
}

impl Module {
    /// Copies terraform/ and statemachine/ into `work`, adds the override file and
    /// the Lambda zips (the built ones when present, else placeholders).
    pub async fn prepare(
        work: &Path,
        endpoint: &str,
        region: &str,
        python: &Path,
    ) -> Result<Module> {
        let repo = repo_root();
        let root = work.join("module");
        copy_dir(&repo.join("terraform"), &root.join("terraform"))?;
        std::fs::create_dir_all(root.join("statemachine"))?;
        std::fs::copy(
            repo.join("statemachine/drift-guard.asl.json"),
            root.join("statemachine/drift-guard.asl.json"),
        )
        .context("copy the state machine definition")?;
        for entry in std::fs::read_dir(repo.join("integration-tests/terraform-override"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tf") {
                std::fs::copy(
                    &path,
                    root.join("terraform").join(path.file_name().unwrap()),
                )?;
            }
        }
        let lambda_dir = root.join("lambda");
        let mut placeholders = Vec::new();
        for f in functions() {
            let dir = lambda_dir.join(f);
            std::fs::create_dir_all(&dir)?;
            let built = repo.join("target/lambda").join(f).join("bootstrap.zip");
            if built.exists() {
                std::fs::copy(&built, dir.join("bootstrap.zip"))?;
            } else {
                placeholders.push(dir.join("bootstrap.zip"));
            }
        }
        if !placeholders.is_empty() {
            let status = tokio::process::Command::new(python)
                .arg(repo.join("integration-tests/python/placeholder_zip.py"))
                .args(&placeholders)
                .status()
                .await
                .context("write placeholder Lambda zips")?;
            if !status.success() {
                bail!("writing placeholder Lambda zips failed ({status})");
            }
        }
        Ok(Module {
            log: work.join("terraform.log"),
            root,
            endpoint: endpoint.to_string(),
            region: region.to_string(),
            python: python.to_path_buf(),
        })
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join("terraform")
    }

    pub fn lambda_artifacts_dir(&self) -> PathBuf {
        self.root.join("lambda")
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("terraform");
        cmd.args(args)
            .current_dir(self.dir())
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", &self.region)
            .env("AWS_DEFAULT_REGION", &self.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("TF_DATA_DIR")
            .env_remove("TF_WORKSPACE");
        use_plugin_cache(&mut cmd);
        cmd
    }

    pub async fn init(&self) -> Result<()> {
        let mut args = vec![
            "init".to_string(),
            "-input=false".into(),
            "-no-color".into(),
        ];
        args.extend(provider_source_args()?);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_logged("terraform init", self.command(&args), &self.log).await
    }

    /// `terraform apply` with these variables (written to a .tfvars.json file).
    pub async fn apply(&self, variables: &Value) -> Result<()> {
        let file = self.dir().join("local-stack.tfvars.json");
        std::fs::write(&file, serde_json::to_string_pretty(variables)?)?;
        run_logged(
            "terraform apply",
            self.command(&[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-parallelism=20",
                "-var-file=local-stack.tfvars.json",
            ]),
            &self.log,
        )
        .await
    }

    pub async fn outputs(&self) -> Result<Outputs> {
        let out = self
            .command(&["output", "-json"])
            .output()
            .await
            .context("terraform output")?;
        if !out.status.success() {
            bail!(
                "terraform output failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let raw: Value = serde_json::from_slice(&out.stdout)?;
        let value = |name: &str| raw.get(name).and_then(|o| o.get("value"));
        let string = |name: &str| -> Result<String> {
            value(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| format!("terraform output {name} is missing"))
        };
        let function_names: BTreeMap<String, String> = value("function_names")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .context("terraform output function_names is missing")?;
        Ok(Outputs {
            state_machine_arn: string("state_machine_arn")?,
            history_table_name: string("history_table_name")?,
            cloudtrail_rule_name: string("cloudtrail_rule_name")?,
            failure_rule_name: string("failure_rule_name")?,
            function_names,
            raw,
        })
    }

    /// `terraform destroy` (used by the check that the module destroys cleanly).
    pub async fn destroy(&self) -> Result<()> {
        run_logged(
            "terraform destroy",
            self.command(&[
                "destroy",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-var-file=local-stack.tfvars.json",
            ]),
            &self.log,
        )
        .await
    }

    pub fn python(&self) -> &Path {
        &self.python
    }
}
