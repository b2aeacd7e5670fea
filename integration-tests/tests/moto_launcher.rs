//! The moto launcher's DynamoDB transactions (integration-tests/python/
//! moto_server.py back up only the items a transaction names): a cancelled
//! transaction restores each of them, a committed one writes them all. Needs
//! the project venv (moto), starts no stack.

use std::path::PathBuf;
use std::process::Command;

use local_stack::events;

fn python() -> PathBuf {
    std::env::var_os("DRIFTGUARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| events::repo_root().join(".venv"))
        .join("bin/python")
}

#[test]
fn a_cancelled_transaction_restores_every_item_it_named() {
    let script = events::repo_root().join("integration-tests/python/moto_server_check.py");
    let out = Command::new(python())
        .arg(&script)
        .output()
        .expect("the project venv's python (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "moto_server_check.py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.starts_with("ok:"), "{stdout}");
    println!("{stdout}");
}
