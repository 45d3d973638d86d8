//! `./kafka-mesos.sh` at the repository root runs the built binary with the caller's
//! arguments and working directory, so the seed's commands work as written.

use std::path::Path;
use std::process::Command;

#[test]
fn the_script_runs_the_binary_in_the_callers_directory() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kafka-mesos.sh");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(&script)
        .args(["help", "broker", "remove"])
        .current_dir(dir.path())
        .output()
        .expect("run kafka-mesos.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("Remove broker\nUsage: broker remove <broker-expr> [options]\n")
    );
    // The properties file is read from the caller's directory.
    std::fs::write(
        dir.path().join("kafka-mesos.properties"),
        "api=http://127.0.0.1:1\n",
    )
    .unwrap();
    let out = Command::new("bash")
        .arg(&script)
        .args(["broker", "list"])
        .current_dir(dir.path())
        .env_remove("KM_API")
        .output()
        .expect("run kafka-mesos.sh");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("Error: cannot reach the scheduler at http://127.0.0.1:1: ")
    );
}
