//! The documentation must not drift from the code it describes.
//!
//! - docs/security.md's IAM table agrees with the `lambda_access` locals of
//!   terraform/iam.tf (local lists such as `dynamodb_rw` resolved, secret locals
//!   resolved to the Terraform variable that names the secret in main.tf, and
//!   the flag-guarded statements resolved to their IAM actions).
//! - Every error name a function can report (`Error::ALL_TYPES`) and every named
//!   `Fail` state of the state machine is explained in docs/architecture.md and
//!   docs/operations.md.
//! - The alarms of terraform/monitoring.tf and the variables in the tuning table
//!   of docs/operations.md exist.
//! - Every `make <target>` in the docs is a Makefile target (or a documented
//!   later one), and every `driftguard <command>` is a CLI subcommand.
//!
//! Run: `cargo test -p driftguard-integration-tests --test docs_consistency`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Make targets the docs may name before they exist, and why.
const LATER_MAKE_TARGETS: &[(&str, &str)] = &[("bench", "measured numbers, a later issue")];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests lives in the repository root")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

const DOCS: &[&str] = &[
    "docs/architecture.md",
    "docs/operations.md",
    "docs/security.md",
    "docs/spec-sheet.md",
];

// ---------------------------------------------------------------------------
// Small HCL reading helpers (enough for the shapes used in terraform/*.tf)
// ---------------------------------------------------------------------------

/// Text of the balanced `{ … }` or `[ … ]` group that opens at `open` (exclusive
/// of the delimiters). Quoted strings are skipped.
fn balanced(text: &str, open: usize) -> &str {
    let bytes = text.as_bytes();
    let (opener, closer) = match bytes[open] {
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        other => panic!("balanced() at '{}'", other as char),
    };
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = open;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if c == opener {
            depth += 1;
        } else if c == closer {
            depth -= 1;
            if depth == 0 {
                return &text[open + 1..i];
            }
        }
        i += 1;
    }
    panic!("unbalanced group at byte {open}");
}

/// Splits on `sep` at nesting depth 0 (outside strings, brackets and braces).
fn split_top_level(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut current = String::new();
    for c in text.chars() {
        if in_string {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.push(c);
            }
            '{' | '[' | '(' => {
                depth += 1;
                current.push(c);
            }
            '}' | ']' | ')' => {
                depth -= 1;
                current.push(c);
            }
            c if c == sep && depth == 0 => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Drops `# …` and `// …` comments outside strings.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut in_string = false;
            let chars: Vec<char> = line.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                if c == '"' && (i == 0 || chars[i - 1] != '\\') {
                    in_string = !in_string;
                } else if !in_string && (c == '#' || (c == '/' && chars.get(i + 1) == Some(&'/'))) {
                    return chars[..i].iter().collect::<String>();
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `name = value` assignments of every `locals { … }` block (one per line or
/// multi-line values), comments removed.
fn locals(hcl: &str) -> BTreeMap<String, String> {
    let hcl = strip_comments(hcl);
    let mut out = BTreeMap::new();
    let mut search = 0;
    while let Some(found) = hcl[search..].find("locals {") {
        let open = search + found + "locals ".len();
        let body = balanced(&hcl, open);
        // Assignments are separated by newlines at depth 0.
        for line in split_top_level(body, '\n') {
            if let Some((name, value)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.insert(name.to_string(), value.trim().to_string());
                }
            }
        }
        search = open + body.len();
    }
    out
}

/// A list literal of quoted strings: `["a", "b"]`.
fn string_list(value: &str) -> Vec<String> {
    let value = value.trim();
    assert!(
        value.starts_with('[') && value.ends_with(']'),
        "not a list literal: {value}"
    );
    split_top_level(&value[1..value.len() - 1], ',')
        .into_iter()
        .map(|item| item.trim_matches('"').to_string())
        .collect()
}

/// What iam.tf grants one function, reduced to what docs/security.md states.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Access {
    dynamodb: BTreeSet<String>,
    /// Terraform variables naming the secrets the function may read.
    secrets: BTreeSet<String>,
    /// IAM actions of the statements switched on by the function's flags.
    other: BTreeSet<String>,
}

/// The IAM actions of the dynamic statement guarded by `each.value.<flag> ?`
/// in iam.tf (or `try(each.value.<flag>, false)` for a flag only some
/// functions set).
fn flag_actions(iam: &str, flag: &str) -> BTreeSet<String> {
    let guard = format!("each.value.{flag} ?");
    let optional = format!("try(each.value.{flag}, false)");
    let at = iam
        .find(&guard)
        .or_else(|| iam.find(&optional))
        .or_fail(&format!("iam.tf has no statement guarded by '{guard}'"));
    let rest = &iam[at..];
    let actions_at = rest
        .find("actions")
        .or_fail(&format!("no actions after '{guard}'"));
    let open = actions_at + rest[actions_at..].find('[').expect("actions list");
    string_list(&format!("[{}]", balanced(rest, open)))
        .into_iter()
        .collect()
}

trait OrFail<T> {
    fn or_fail(self, message: &str) -> T;
}

impl<T> OrFail<T> for Option<T> {
    fn or_fail(self, message: &str) -> T {
        self.unwrap_or_else(|| panic!("{message}"))
    }
}

/// `lambda_access` of terraform/iam.tf, with every reference resolved.
fn lambda_access_from_terraform() -> BTreeMap<String, Access> {
    let iam = read("terraform/iam.tf");
    let main = read("terraform/main.tf");
    let iam_locals = locals(&iam);
    let main_locals = locals(&main);

    // Secret ARN locals → the variable that names the secret.
    let secret_variable = |reference: &str| -> String {
        let name = reference
            .strip_prefix("local.")
            .or_fail(&format!("secret '{reference}' is not a local"));
        let definition = main_locals
            .get(name)
            .or_fail(&format!("main.tf defines no local '{name}'"));
        let var_at = definition
            .find("var.")
            .or_fail(&format!("local '{name}' names no variable"));
        definition[var_at + 4..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };

    let access = iam_locals
        .get("lambda_access")
        .expect("iam.tf locals define lambda_access");
    let open = access.find('{').expect("lambda_access is a map");
    let body = balanced(access, open);

    let mut out = BTreeMap::new();
    for entry in split_top_level(body, '\n') {
        let (name, value) = entry.split_once('=').expect("\"function\" = { … }");
        let name = name.trim().trim_matches('"').to_string();
        let value = value.trim();
        let fields: BTreeMap<String, String> =
            split_top_level(balanced(value, value.find('{').expect("object")), ',')
                .into_iter()
                .map(|field| {
                    let (k, v) = field.split_once('=').expect("key = value");
                    (k.trim().to_string(), v.trim().to_string())
                })
                .collect();

        let dynamodb_value = &fields["dynamodb"];
        let dynamodb: BTreeSet<String> = match dynamodb_value.strip_prefix("local.") {
            Some(local) => string_list(
                iam_locals
                    .get(local)
                    .or_fail(&format!("iam.tf defines no local '{local}'")),
            ),
            None => string_list(dynamodb_value),
        }
        .into_iter()
        .collect();

        let secrets_value = fields["secrets"].trim();
        let secrets = split_top_level(&secrets_value[1..secrets_value.len() - 1], ',')
            .iter()
            .map(|s| secret_variable(s))
            .collect();

        let mut other = BTreeSet::new();
        for (flag, flag_value) in &fields {
            if flag == "dynamodb" || flag == "secrets" {
                continue;
            }
            match flag_value.as_str() {
                "true" => other.extend(flag_actions(&iam, flag)),
                "false" => {}
                v => panic!("lambda_access[{name}].{flag} = {v}: expected true or false"),
            }
        }
        out.insert(
            name,
            Access {
                dynamodb,
                secrets,
                other,
            },
        );
    }
    assert!(!out.is_empty(), "lambda_access parsed empty");
    out
}

// ---------------------------------------------------------------------------
// Markdown helpers
// ---------------------------------------------------------------------------

/// Rows (cells, trimmed) of the first markdown table whose header row starts with `first_header`.
fn markdown_table(markdown: &str, first_header: &str) -> Vec<Vec<String>> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let lines: Vec<&str> = markdown.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with('|') && cells(l)[0] == first_header)
        .or_fail(&format!("no table with first column '{first_header}'"));
    lines[start + 2..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| cells(l))
        .collect()
}

/// Every `code span` in a cell.
fn code_spans(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

fn access_from_security_md() -> BTreeMap<String, Access> {
    let doc = read("docs/security.md");
    let rows = markdown_table(&doc, "function");
    let mut out = BTreeMap::new();
    for row in rows {
        assert_eq!(
            row.len(),
            4,
            "security.md IAM table: 4 columns (function | DynamoDB actions | secrets | other): {row:?}"
        );
        let function = code_spans(&row[0])
            .into_iter()
            .next()
            .or_fail(&format!("function name in `code`: {row:?}"));
        let dynamodb = code_spans(&row[1])
            .into_iter()
            .map(|a| a.strip_prefix("dynamodb:").unwrap_or(&a).to_string())
            .collect();
        let secrets = code_spans(&row[2]).into_iter().collect();
        // Only `service:Action` spans are actions; the cell may name resources too.
        let other = code_spans(&row[3])
            .into_iter()
            .filter(|s| {
                s.split_once(':').is_some_and(|(service, action)| {
                    !service.is_empty()
                        && service.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                        && action
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_uppercase())
                })
            })
            .collect();
        let previous = out.insert(
            function.clone(),
            Access {
                dynamodb,
                secrets,
                other,
            },
        );
        assert!(previous.is_none(), "{function} is listed twice");
    }
    out
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn security_md_iam_table_matches_terraform_lambda_access() {
    let terraform = lambda_access_from_terraform();
    let documented = access_from_security_md();
    let tf_names: BTreeSet<_> = terraform.keys().collect();
    let doc_names: BTreeSet<_> = documented.keys().collect();
    assert_eq!(
        doc_names, tf_names,
        "docs/security.md lists other functions than lambda_access in terraform/iam.tf"
    );
    for (function, tf) in &terraform {
        let doc = &documented[function];
        assert_eq!(
            doc.dynamodb, tf.dynamodb,
            "{function}: DynamoDB actions in docs/security.md differ from terraform/iam.tf"
        );
        assert_eq!(
            doc.secrets, tf.secrets,
            "{function}: secrets (by the variable naming them) in docs/security.md differ from terraform/iam.tf"
        );
        assert_eq!(
            doc.other, tf.other,
            "{function}: other actions in docs/security.md differ from the flag-guarded statements of terraform/iam.tf"
        );
    }
}

#[test]
fn terraform_parser_reads_the_known_shape() {
    // Guards the parser itself: a parser that silently read nothing would make
    // the comparison above pass on an empty doc table.
    let terraform = lambda_access_from_terraform();
    let on_failure = &terraform["on-failure"];
    assert!(on_failure.dynamodb.contains("Query"), "{on_failure:?}");
    assert!(
        on_failure.other.contains("states:DescribeExecution"),
        "{on_failure:?}"
    );
    assert!(
        terraform["create-run"]
            .secrets
            .contains("terraform_api_token_secret")
    );
    assert!(terraform["admit-event"].secrets.is_empty());
}

#[test]
fn every_error_name_is_explained() {
    let asl: serde_json::Value =
        serde_json::from_str(&read("statemachine/drift-guard.asl.json")).expect("ASL is JSON");
    let mut fail_errors = Vec::new();
    collect_fail_errors(&asl["States"], &mut fail_errors);
    assert!(!fail_errors.is_empty(), "the ASL has named Fail states");

    for doc in ["docs/architecture.md", "docs/operations.md"] {
        let text = read(doc);
        for name in driftguard_core::Error::ALL_TYPES
            .iter()
            .copied()
            .chain(fail_errors.iter().map(String::as_str))
        {
            assert!(
                text.contains(&format!("`{name}`")),
                "{doc} does not explain the error name `{name}`"
            );
        }
    }
}

fn collect_fail_errors(states: &serde_json::Value, out: &mut Vec<String>) {
    for state in states.as_object().into_iter().flat_map(|m| m.values()) {
        if state["Type"] == "Fail" {
            if let Some(error) = state["Error"].as_str() {
                out.push(error.to_string());
            }
        }
        if let Some(inner) = state.pointer("/ItemProcessor/States") {
            collect_fail_errors(inner, out);
        }
        if let Some(branches) = state["Branches"].as_array() {
            for branch in branches {
                collect_fail_errors(&branch["States"], out);
            }
        }
    }
}

#[test]
fn operations_md_names_every_alarm() {
    let monitoring = read("terraform/monitoring.tf");
    let operations = read("docs/operations.md");
    let mut suffixes = Vec::new();
    for line in monitoring.lines() {
        let line = line.trim();
        if let Some(value) = line.strip_prefix("alarm_name") {
            let value = value
                .trim()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            let suffix = value
                .strip_prefix("${local.name_prefix}")
                .or_fail(&format!("alarm name without the name prefix: {value}"));
            // `${each.key}` (one alarm per function) is written <function> in the docs.
            suffixes.push(suffix.replace("${each.key}", "<function>"));
        }
    }
    assert!(suffixes.len() >= 4, "alarms found: {suffixes:?}");
    for suffix in suffixes {
        assert!(
            operations.contains(&suffix),
            "docs/operations.md does not name the alarm <prefix>{suffix}"
        );
    }
}

#[test]
fn operations_md_tuning_table_names_real_variables() {
    let variables = read("terraform/variables.tf");
    let declared: BTreeSet<String> = variables
        .lines()
        .filter_map(|l| l.trim().strip_prefix("variable \""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect();
    let rows = markdown_table(&read("docs/operations.md"), "variable");
    assert!(!rows.is_empty());
    for row in rows {
        for name in code_spans(&row[0]) {
            assert!(
                declared.contains(&name),
                "docs/operations.md tuning table: `{name}` is not a variable in terraform/variables.tf"
            );
        }
    }
}

#[test]
fn make_targets_and_cli_commands_in_docs_exist() {
    let makefile = read("Makefile");
    let targets: BTreeSet<String> = makefile
        .lines()
        .filter(|l| !l.starts_with('\t') && !l.starts_with('.') && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .filter(|(t, rest)| !rest.starts_with('=') && !t.contains('$') && !t.contains(' '))
        .map(|(t, _)| t.to_string())
        .collect();
    let later: BTreeSet<&str> = LATER_MAKE_TARGETS.iter().map(|(t, _)| *t).collect();
    let cli_commands = ["admit", "summarize", "check", "dashboard", "history"];

    for doc in DOCS {
        let text = read(doc);
        for (word, next) in words_after(&text, "make") {
            if next.is_empty() || !next.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                continue;
            }
            // "make" as an English verb is followed by other words; only check
            // targets written in code (`make x`).
            if !word {
                continue;
            }
            assert!(
                targets.contains(&next) || later.contains(next.as_str()),
                "{doc}: `make {next}` is not a Makefile target"
            );
        }
        for (word, next) in words_after(&text, "driftguard") {
            if word && !next.is_empty() && next.chars().all(|c| c.is_ascii_lowercase()) {
                assert!(
                    cli_commands.contains(&next.as_str()),
                    "{doc}: `driftguard {next}` is not a CLI command"
                );
            }
        }
    }
}

/// For every occurrence of `command ` inside code (spans or fenced blocks),
/// the next word. The bool says whether the occurrence is inside code.
fn words_after(markdown: &str, command: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        // A fence may follow a list marker ("2. ```sh").
        let fence = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '*')
            .trim_start();
        if fence.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let segments: Vec<(bool, &str)> = if in_fence {
            vec![(true, line)]
        } else {
            line.split('`')
                .enumerate()
                .map(|(i, s)| (i % 2 == 1, s))
                .collect()
        };
        for (in_code, segment) in segments {
            let tokens: Vec<&str> = segment
                .split_whitespace()
                .map(|t| t.trim_matches(|c: char| "`()[],;:".contains(c)))
                .collect();
            for pair in tokens.windows(2) {
                let first = pair[0].rsplit('/').next().unwrap_or(pair[0]);
                if first == command {
                    out.push((in_code, pair[1].to_string()));
                }
            }
        }
    }
    out
}

/// MiB in a cell like "9.3 MiB".
fn mib(cell: &str) -> f64 {
    cell.trim()
        .strip_suffix("MiB")
        .and_then(|n| n.trim().parse().ok())
        .or_fail(&format!("'{cell}' is not a size in MiB"))
}

/// Each function's `memory_mb` in terraform/lambda.tf.
fn function_memory() -> BTreeMap<String, f64> {
    let lambda = strip_comments(&read("terraform/lambda.tf"));
    let mut found = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in lambda.lines().map(str::trim) {
        if let Some(name) = line
            .strip_prefix('"')
            .and_then(|l| l.strip_suffix("\" = {"))
        {
            current = Some(name.to_string());
        } else if let (Some(name), Some(rest)) = (&current, line.strip_prefix("memory_mb")) {
            let mb: f64 = rest
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .parse()
                .ok()
                .or_fail(&format!("memory_mb of {name}"));
            found.insert(name.clone(), mb);
        }
    }
    found
}

#[test]
fn function_memory_follows_the_measured_peaks() {
    let bench = read("docs/benchmarks.md");
    let memory = function_memory();
    // The per-function table with a "peak RSS" column (part 1 of the bench).
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let lines: Vec<&str> = bench.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("| function |") && l.contains("peak RSS"))
        .or_fail("the per-function peak RSS table of docs/benchmarks.md");
    let column = cells(lines[header])
        .iter()
        .position(|c| c.starts_with("peak RSS"))
        .or_fail("a peak RSS column");
    let measured: Vec<(String, f64)> = lines[header + 2..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| cells(l))
        .filter(|row| row.len() > column)
        .map(|row| (row[0].clone(), mib(&row[column])))
        .collect();
    assert!(!measured.is_empty(), "no peak RSS measured per function");
    for (function, peak) in &measured {
        let mb = memory.get(function.as_str()).or_fail(&format!(
            "{function} has no memory_mb in terraform/lambda.tf"
        ));
        assert!(
            *mb >= (2.0 * peak * 1.048_576).max(128.0),
            "{function}: memory_mb {mb} is less than twice its measured peak {peak} MiB (or 128)"
        );
    }
    // Summarizing the largest plans measured (part 6) fits too.
    let largest = markdown_table(&bench, "resource changes")
        .iter()
        .map(|row| mib(&row[6]))
        .fold(0.0, f64::max);
    let summarize = memory
        .get("summarize-drift")
        .or_fail("summarize-drift memory");
    assert!(
        *summarize >= 2.0 * largest * 1.048_576,
        "summarize-drift: {summarize} MB is less than twice the {largest} MiB of the largest plan"
    );
}
