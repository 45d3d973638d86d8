//! Logging: levels from `--debug` and `RUST_LOG`, the `--log` file, and clear errors.

use kafka_mesos_bin::logging::{LogSettings, LoggingError, init};

/// Logs one INFO and one DEBUG line from this project's crates, and one INFO line from a
/// library kept quiet, with `settings`; returns what the log file holds afterwards.
fn log_with(settings: &LogSettings, rust_log: Option<&str>) -> String {
    let (subscriber, guard) = settings.subscriber(rust_log).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "kafka_mesos_bin::scheduler", "info line");
        tracing::debug!(target: "kafka_mesos_core::scheduler", "debug line");
        tracing::info!(target: "zookeeper_client::session", "library chatter");
    });
    drop(guard);
    std::fs::read_to_string(settings.file.as_ref().unwrap()).unwrap()
}

#[test]
fn info_by_default_debug_with_debug_appended_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scheduler.log");
    std::fs::write(&file, "earlier run\n").unwrap();
    let settings = LogSettings {
        debug: false,
        file: Some(file.clone()),
    };
    let text = log_with(&settings, None);
    assert!(
        text.starts_with("earlier run\n"),
        "the file was not appended to: {text}"
    );
    assert!(text.contains("info line"), "{text}");
    assert!(!text.contains("debug line"), "{text}");
    assert!(!text.contains("library chatter"), "{text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text}");

    let debug = LogSettings {
        debug: true,
        file: Some(file.clone()),
    };
    let text = log_with(&debug, None);
    assert!(text.contains("debug line"), "{text}");
    assert_eq!(text.matches("info line").count(), 2, "{text}");
}

#[test]
fn rust_log_decides_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let settings = LogSettings {
        debug: true,
        file: Some(dir.path().join("a.log")),
    };
    let text = log_with(&settings, Some("warn"));
    assert!(
        !text.contains("info line") && !text.contains("debug line"),
        "{text}"
    );

    let settings = LogSettings {
        debug: false,
        file: Some(dir.path().join("b.log")),
    };
    let text = log_with(
        &settings,
        Some("kafka_mesos_core=debug,zookeeper_client=info"),
    );
    assert!(
        text.contains("debug line") && text.contains("library chatter"),
        "{text}"
    );
    // A blank RUST_LOG is as if unset.
    assert_eq!(settings.directives(Some(" ")), settings.directives(None));
}

#[test]
fn bad_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("scheduler.log");
    let settings = LogSettings {
        debug: false,
        file: Some(missing.clone()),
    };
    let err = settings.subscriber(None).err().expect("an error");
    assert!(matches!(err, LoggingError::File { .. }));
    assert!(
        err.to_string().starts_with(&format!(
            "Invalid log {missing:?}: cannot open it for appending"
        )),
        "{err}"
    );
    let err = LogSettings::default()
        .subscriber(Some("kafka_mesos_core=loud"))
        .err()
        .expect("an error");
    assert!(
        err.to_string()
            .starts_with("invalid RUST_LOG \"kafka_mesos_core=loud\""),
        "{err}"
    );
}

#[test]
fn init_installs_one_logger_per_process() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scheduler.log");
    let settings = LogSettings {
        debug: false,
        file: Some(file.clone()),
    };
    let guard = init(&settings).unwrap();
    tracing::info!(target: "kafka_mesos_bin", "through the global logger");
    assert!(matches!(init(&settings), Err(LoggingError::AlreadySet)));
    drop(guard);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("through the global logger"), "{text}");
}
