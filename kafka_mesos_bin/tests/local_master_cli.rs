//! `kafka-mesos local-master` serves a Mesos-compatible master any framework can use.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kafka_mesos_mesos::client::{ClientConfig, SchedulerClient, SchedulerEvent};
use kafka_mesos_mesos::proto::v1;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_gets_one_offer_per_configured_agent() {
    let work = tempfile::tempdir().unwrap();
    let agents = work.path().join("agents.json");
    std::fs::write(
        &agents,
        r#"[{"hostname": "kafka1", "attributes": {"rack": "r1"}, "cpus": 2, "mem": 4096, "ports": "32000..32009"},
            {"hostname": "kafka2", "attributes": {"rack": "r2", "dc": "d1"}, "cpus": 8, "mem": 16384, "disk": 500, "ports": "32010..32019"}]"#,
    )
    .unwrap();
    let port = free_port();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
            .args(["local-master", "--port", &port.to_string(), "--agents-file"])
            .arg(&agents)
            .arg("--work-dir")
            .arg(work.path().join("sandboxes"))
            .args(["--allocation-interval", "100ms"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(
        first.trim(),
        format!("local Mesos master on 127.0.0.1:{port} with 2 agent(s):")
    );

    let framework = v1::FrameworkInfo {
        user: "root".into(),
        name: "cli-test".into(),
        ..Default::default()
    };
    let (client, mut rx) = SchedulerClient::start(ClientConfig::new(
        format!("127.0.0.1:{port}").parse().unwrap(),
        framework,
    ));
    let offers = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event in time")
            .unwrap()
        {
            SchedulerEvent::Event(e) if e.offers.is_some() => break e.offers.unwrap().offers,
            _ => {}
        }
    };
    let mut seen: Vec<(String, String)> = offers
        .iter()
        .map(|o| {
            let d = kafka_mesos_mesos::convert::offer(o);
            let text = kafka_mesos_core::model::Resources(d.resources.clone()).to_string();
            (
                format!("{} {}", d.hostname, d.attribute("rack").unwrap()),
                text,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "kafka1 r1".to_string(),
                "ports:32000..32009; cpus:2; mem:4096".to_string()
            ),
            (
                "kafka2 r2".to_string(),
                "ports:32010..32019; cpus:8; mem:16384; disk:500".to_string()
            ),
        ]
    );
    client.stop();
}

#[test]
fn bad_options_are_refused_with_what_is_accepted() {
    let work = tempfile::tempdir().unwrap();
    let bad = work.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"hostname": "a", "cpus": 1, "mem": 1, "ports": "70000"}]"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["local-master", "--agents-file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid agents file") && err.contains("between 1 and 65535"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["local-master", "--agents", "700", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("past 65535"));

    let out = Command::new(env!("CARGO_BIN_EXE_kafka-mesos"))
        .args(["local-master", "--heartbeat", "5x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
}
