//! The golden transcripts captured from a real Mesos 1.12 master and agent, kept in the
//! repository (`testdata/mesos-1.12`, with their README). Shared by the tests of the adapter
//! (`golden_decode.rs`) and of the embedded master (`kafka_mesos_local/tests/conformance.rs`),
//! which include this file with `#[path]`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The transcripts' directory; the test fails if it is missing.
pub(crate) fn dir() -> PathBuf {
    // Both crates including this file sit beside `testdata/`.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/mesos-1.12");
    assert!(
        dir.is_dir(),
        "golden transcripts missing at {}",
        dir.display()
    );
    dir
}

/// The `items` of the transcript at `path`: HTTP exchanges, stream openings, records and ends.
pub(crate) fn items(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut file: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    match file["items"].take() {
        Value::Array(items) => items,
        _ => panic!("{} has no list of items", path.display()),
    }
}

/// The bytes of a transcript's base64 text (`raw_base64`, `body.base64`).
pub(crate) fn bytes(value: &Value) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let text = value.as_str().ok_or("no base64 text")?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))
}
