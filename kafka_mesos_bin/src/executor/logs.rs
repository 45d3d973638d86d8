//! `broker log`: the scheduler asks the executor with the framework message
//! `log,<request id>,<lines>,<name>` and gets `{"log":{"requestId":..,"content":".."}}` back:
//! the last `lines` lines of the sandbox's `stdout` or `stderr`, or of a broker log file
//! `<name>.log` (in the Kafka distribution's `log/` directory), at most [`MAX_BYTES`].

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use kafka_mesos_core::scheduler::{LogName, LogReply, LogRequest};

/// The most content an answer carries.
pub const MAX_BYTES: u64 = 100 * 1024;

/// The answer to `message` if it is a log request.
pub fn answer(message: &[u8], sandbox: &Path) -> Option<Vec<u8>> {
    let request = LogRequest::parse(message)?;
    let content = read(&request, sandbox).unwrap_or_else(|problem| problem);
    let reply = LogReply {
        request_id: request.request_id,
        content,
    };
    Some(reply.to_message())
}

/// The content asked for, or a message saying why there is none.
fn read(request: &LogRequest, sandbox: &Path) -> Result<String, String> {
    let name = request.name.to_string();
    let path = match &request.name {
        LogName::Stdout | LogName::Stderr => sandbox.join(&name),
        LogName::File(file) => {
            broker_log(sandbox, file).ok_or_else(|| format!("{name} doesn't exist"))?
        }
    };
    let mut file = std::fs::File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{name} doesn't exist"),
        _ => format!("{name} not readable: {e}"),
    })?;
    let len = file
        .metadata()
        .map_err(|e| format!("{name} not readable: {e}"))?
        .len();
    let start = len.saturating_sub(MAX_BYTES);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("{name} not readable: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name} not readable: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let wanted = usize::try_from(request.lines.get()).unwrap_or(usize::MAX);
    let from = lines.len().saturating_sub(wanted);
    Ok(lines[from..].join("\n"))
}

/// `<sandbox>/kafka*/log/<name>`, the first that exists.
fn broker_log(sandbox: &Path, name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(sandbox)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("kafka"))
        .map(|e| e.path().join("log").join(name))
        .filter(|p| p.is_file())
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(reply: &[u8]) -> (i64, String) {
        let v: serde_json::Value = serde_json::from_slice(reply).unwrap();
        (
            v["log"]["requestId"].as_i64().unwrap(),
            v["log"]["content"].as_str().unwrap().to_string(),
        )
    }

    #[test]
    fn other_messages_get_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(answer(b"stop", dir.path()), None);
        assert_eq!(answer(b"log,x,5,stdout", dir.path()), None);
        assert_eq!(answer(b"log,6,1,../../etc/passwd.log", dir.path()), None);
        assert_eq!(answer(b"log,7,1,passwd", dir.path()), None);
    }

    #[test]
    fn the_last_lines_of_the_sandbox_and_broker_logs() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("stderr"), &text).unwrap();
        std::fs::create_dir_all(dir.path().join("kafka_2.13-3.9.0/log")).unwrap();
        std::fs::write(dir.path().join("kafka_2.13-3.9.0/log/server.log"), "a\nb\n").unwrap();
        let (id, c) = content(&answer(b"log,3,2,stderr", dir.path()).unwrap());
        assert_eq!((id, c.as_str()), (3, "line 9\nline 10"));
        let (_, c) = content(&answer(b"log,4,100,server.log", dir.path()).unwrap());
        assert_eq!(c, "a\nb");
        let (_, c) = content(&answer(b"log,5,1,stdout", dir.path()).unwrap());
        assert_eq!(c, "stdout doesn't exist");
        let (_, c) = content(&answer(b"log,6,1,controller.log", dir.path()).unwrap());
        assert_eq!(c, "controller.log doesn't exist");
    }

    #[test]
    fn content_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(1000) + "\n";
        std::fs::write(dir.path().join("stdout"), big.repeat(300)).unwrap();
        let (_, c) = content(&answer(b"log,1,1000000,stdout", dir.path()).unwrap());
        assert!(c.len() as u64 <= MAX_BYTES, "{}", c.len());
    }
}
