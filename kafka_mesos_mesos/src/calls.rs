//! Scheduler and executor calls as ready-to-send HTTP requests, built without sending them.
//!
//! Every request is a `POST` of one protobuf `Call` with `Content-Type` and `Accept` set to
//! exactly `application/x-protobuf` (Mesos answers JSON to anything else), the `Host` header,
//! `Mesos-Stream-Id` on every scheduler call but SUBSCRIBE, and HTTP Basic credentials when
//! the framework has them.
//!
//! ```
//! use kafka_mesos_mesos::api::SCHEDULER_PATH;
//! use kafka_mesos_mesos::calls::{Endpoint, revive};
//! use kafka_mesos_mesos::master::HostPort;
//! use kafka_mesos_mesos::proto::v1::FrameworkId;
//!
//! let master = HostPort::new("127.0.0.1", 5050).unwrap();
//! let endpoint = Endpoint::new(master, SCHEDULER_PATH).with_stream_id("S-1");
//! let call = revive(&FrameworkId { value: "F".into() }, &[]);
//! let request = endpoint.request(&call).unwrap();
//! assert_eq!(request.uri(), "http://127.0.0.1:5050/master/api/v1/scheduler");
//! assert_eq!(request.headers()["Mesos-Stream-Id"], "S-1");
//! assert_eq!(request.headers()["Content-Type"], "application/x-protobuf");
//! ```

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use prost::Message;

use crate::api::{PROTOBUF, STREAM_ID_HEADER};
use crate::master::HostPort;
use crate::proto::v1::{self, scheduler::Call, scheduler::call};

/// Principal and secret for HTTP Basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The principal (user name).
    pub principal: String,
    /// The secret (password).
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("principal", &self.principal)
            .field("secret", &"*****")
            .finish()
    }
}

impl Credentials {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.principal, self.secret));
        format!("Basic {token}")
    }
}

/// Where calls go: a master or agent, an API path, the current stream id and credentials.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The master or agent.
    pub host: HostPort,
    /// The API path.
    pub path: String,
    /// The subscription's `Mesos-Stream-Id`, sent on every call but SUBSCRIBE.
    pub stream_id: Option<String>,
    /// HTTP Basic credentials.
    pub credentials: Option<Credentials>,
}

impl Endpoint {
    /// An endpoint without stream id or credentials.
    pub fn new(host: HostPort, path: &str) -> Self {
        Endpoint {
            host,
            path: path.to_string(),
            stream_id: None,
            credentials: None,
        }
    }

    /// The same endpoint with a stream id.
    pub fn with_stream_id(mut self, stream_id: &str) -> Self {
        self.stream_id = Some(stream_id.to_string());
        self
    }

    /// The same endpoint with credentials.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.path)
    }

    /// The HTTP request for `message` (a scheduler or executor `Call`). The host is valid by
    /// construction; a path or stream id that cannot go into a request is an error.
    pub fn request(&self, message: &impl Message) -> Result<Request<Bytes>, InvalidRequest> {
        let invalid = |problem: String| InvalidRequest {
            url: self.url(),
            problem,
        };
        let body = Bytes::from(message.encode_to_vec());
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.url())
            .header(http::header::HOST, self.host.to_string())
            .header(http::header::CONTENT_TYPE, PROTOBUF)
            .header(http::header::ACCEPT, PROTOBUF);
        if let Some(stream_id) = &self.stream_id {
            let value = HeaderValue::from_str(stream_id).map_err(|_| {
                invalid(format!("the stream id {stream_id:?} is not a header value"))
            })?;
            builder = builder.header(STREAM_ID_HEADER, value);
        }
        if let Some(credentials) = &self.credentials {
            let value = HeaderValue::from_str(&credentials.header())
                .map_err(|_| invalid("the credentials are not a header value".into()))?;
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        builder.body(body).map_err(|e| invalid(e.to_string()))
    }
}

/// Why an [`Endpoint`] cannot make a request: its path or stream id holds characters a URL or
/// header cannot (the host is checked when it is built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build a request to {url:?}: {problem}")]
pub struct InvalidRequest {
    /// The URL the request would go to.
    pub url: String,
    /// What is wrong.
    pub problem: String,
}

fn call(framework_id: Option<&v1::FrameworkId>, kind: call::Type) -> Call {
    Call {
        framework_id: framework_id.cloned(),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// SUBSCRIBE; with `framework_info.id` set, re-subscribes as that framework (failover), in
/// which case `Call.framework_id` carries the same id, as Mesos requires.
pub fn subscribe(framework_info: &v1::FrameworkInfo) -> Call {
    Call {
        subscribe: Some(call::Subscribe {
            framework_info: framework_info.clone(),
            suppressed_roles: Vec::new(),
        }),
        ..call(framework_info.id.as_ref(), call::Type::Subscribe)
    }
}

/// TEARDOWN: ends the framework and kills its tasks.
pub fn teardown(framework_id: &v1::FrameworkId) -> Call {
    call(Some(framework_id), call::Type::Teardown)
}

/// Refuse filter of `refuse`, rounded to milliseconds.
fn filters(refuse: Option<Duration>) -> Option<v1::Filters> {
    refuse.map(|d| v1::Filters {
        refuse_seconds: Some((d.as_millis() as f64) / 1000.0),
    })
}

/// ACCEPT of `offer_ids` with `operations`; unused resources are refused for `refuse`.
pub fn accept(
    framework_id: &v1::FrameworkId,
    offer_ids: &[v1::OfferId],
    operations: Vec<v1::offer::Operation>,
    refuse: Option<Duration>,
) -> Call {
    Call {
        accept: Some(call::Accept {
            offer_ids: offer_ids.to_vec(),
            operations,
            filters: filters(refuse),
        }),
        ..call(Some(framework_id), call::Type::Accept)
    }
}

/// A LAUNCH operation.
pub fn launch(task_infos: Vec<v1::TaskInfo>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Launch as i32),
        launch: Some(v1::offer::operation::Launch { task_infos }),
        ..Default::default()
    }
}

/// A RESERVE operation (dynamic reservation of `resources`).
pub fn reserve(resources: Vec<v1::Resource>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Reserve as i32),
        reserve: Some(v1::offer::operation::Reserve {
            source: Vec::new(),
            resources,
        }),
        ..Default::default()
    }
}

/// An UNRESERVE operation.
pub fn unreserve(resources: Vec<v1::Resource>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Unreserve as i32),
        unreserve: Some(v1::offer::operation::Unreserve { resources }),
        ..Default::default()
    }
}

/// A CREATE operation (persistent volumes).
pub fn create(volumes: Vec<v1::Resource>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Create as i32),
        create: Some(v1::offer::operation::Create { volumes }),
        ..Default::default()
    }
}

/// A DESTROY operation (persistent volumes).
pub fn destroy(volumes: Vec<v1::Resource>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Destroy as i32),
        destroy: Some(v1::offer::operation::Destroy { volumes }),
        ..Default::default()
    }
}

/// DECLINE of `offer_ids`, refused for `refuse` (Mesos's default is 5 s).
pub fn decline(
    framework_id: &v1::FrameworkId,
    offer_ids: &[v1::OfferId],
    refuse: Option<Duration>,
) -> Call {
    Call {
        decline: Some(call::Decline {
            offer_ids: offer_ids.to_vec(),
            filters: filters(refuse),
        }),
        ..call(Some(framework_id), call::Type::Decline)
    }
}

/// REVIVE for `roles` (all the framework's roles when empty); also clears decline filters.
pub fn revive(framework_id: &v1::FrameworkId, roles: &[String]) -> Call {
    Call {
        revive: Some(call::Revive {
            roles: roles.to_vec(),
        }),
        ..call(Some(framework_id), call::Type::Revive)
    }
}

/// SUPPRESS for `roles` (all the framework's roles when empty).
pub fn suppress(framework_id: &v1::FrameworkId, roles: &[String]) -> Call {
    Call {
        suppress: Some(call::Suppress {
            roles: roles.to_vec(),
        }),
        ..call(Some(framework_id), call::Type::Suppress)
    }
}

/// KILL of a task; `grace` overrides the task's kill grace period (zero kills at once).
pub fn kill(
    framework_id: &v1::FrameworkId,
    task_id: &str,
    agent_id: Option<&str>,
    grace: Option<Duration>,
) -> Call {
    Call {
        kill: Some(call::Kill {
            task_id: v1::TaskId {
                value: task_id.to_string(),
            },
            agent_id: agent_id.map(|a| v1::AgentId {
                value: a.to_string(),
            }),
            kill_policy: grace.map(|g| v1::KillPolicy {
                grace_period: Some(v1::DurationInfo {
                    nanoseconds: i64::try_from(g.as_nanos()).unwrap_or(i64::MAX),
                }),
            }),
        }),
        ..call(Some(framework_id), call::Type::Kill)
    }
}

/// SHUTDOWN of an executor.
pub fn shutdown(framework_id: &v1::FrameworkId, executor_id: &str, agent_id: &str) -> Call {
    Call {
        shutdown: Some(call::Shutdown {
            executor_id: v1::ExecutorId {
                value: executor_id.to_string(),
            },
            agent_id: v1::AgentId {
                value: agent_id.to_string(),
            },
        }),
        ..call(Some(framework_id), call::Type::Shutdown)
    }
}

/// ACKNOWLEDGE of a status update, echoing its uuid bytes.
pub fn acknowledge(
    framework_id: &v1::FrameworkId,
    agent_id: &str,
    task_id: &str,
    uuid: &[u8],
) -> Call {
    Call {
        acknowledge: Some(call::Acknowledge {
            agent_id: v1::AgentId {
                value: agent_id.to_string(),
            },
            task_id: v1::TaskId {
                value: task_id.to_string(),
            },
            uuid: uuid.to_vec(),
        }),
        ..call(Some(framework_id), call::Type::Acknowledge)
    }
}

/// RECONCILE of `tasks` (task id, agent id); an empty list asks for every task (implicit).
pub fn reconcile(framework_id: &v1::FrameworkId, tasks: &[(String, Option<String>)]) -> Call {
    Call {
        reconcile: Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|(t, a)| call::reconcile::Task {
                    task_id: v1::TaskId { value: t.clone() },
                    agent_id: a.as_ref().map(|a| v1::AgentId { value: a.clone() }),
                })
                .collect(),
        }),
        ..call(Some(framework_id), call::Type::Reconcile)
    }
}

/// MESSAGE to an executor.
pub fn message(
    framework_id: &v1::FrameworkId,
    agent_id: &str,
    executor_id: &str,
    data: Vec<u8>,
) -> Call {
    Call {
        message: Some(call::Message {
            agent_id: v1::AgentId {
                value: agent_id.to_string(),
            },
            executor_id: v1::ExecutorId {
                value: executor_id.to_string(),
            },
            data,
        }),
        ..call(Some(framework_id), call::Type::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SCHEDULER_PATH;
    use crate::proto::v1::executor;

    fn fw() -> v1::FrameworkId {
        v1::FrameworkId { value: "F".into() }
    }

    fn master() -> HostPort {
        HostPort::new("127.0.0.1", 5050).unwrap()
    }

    #[test]
    fn subscribe_requests_have_the_exact_headers_and_no_stream_id() {
        let info = v1::FrameworkInfo {
            user: "root".into(),
            name: "kafka".into(),
            ..Default::default()
        };
        let r = Endpoint::new(master(), SCHEDULER_PATH)
            .request(&subscribe(&info))
            .unwrap();
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.uri(), "http://127.0.0.1:5050/master/api/v1/scheduler");
        let headers: Vec<(&str, &str)> = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("host", "127.0.0.1:5050"),
                ("content-type", "application/x-protobuf"),
                ("accept", "application/x-protobuf"),
                ("content-length", &r.body().len().to_string()[..]),
            ]
        );
        let decoded = Call::decode(r.body().clone()).unwrap();
        assert_eq!(decoded.r#type(), call::Type::Subscribe);
        assert_eq!(decoded.framework_id, None);
    }

    #[test]
    fn resubscription_carries_the_framework_id_twice() {
        let info = v1::FrameworkInfo {
            user: "root".into(),
            name: "kafka".into(),
            id: Some(fw()),
            ..Default::default()
        };
        let c = subscribe(&info);
        assert_eq!(c.framework_id, Some(fw()));
        assert_eq!(c.subscribe.unwrap().framework_info.id, Some(fw()));
    }

    #[test]
    fn calls_carry_stream_id_and_credentials() {
        let creds = Credentials {
            principal: "kafka".into(),
            secret: "s3cret".into(),
        };
        let e = Endpoint::new(master(), SCHEDULER_PATH)
            .with_stream_id("S")
            .with_credentials(Some(creds.clone()));
        let r = e
            .request(&decline(
                &fw(),
                &[v1::OfferId { value: "O".into() }],
                Some(Duration::from_millis(1500)),
            ))
            .unwrap();
        assert_eq!(r.headers()["mesos-stream-id"], "S");
        assert_eq!(r.headers()["authorization"], "Basic a2Fma2E6czNjcmV0");
        assert_eq!(
            format!("{creds:?}"),
            "Credentials { principal: \"kafka\", secret: \"*****\" }"
        );
        let c = Call::decode(r.body().clone()).unwrap();
        assert_eq!(
            c.decline.unwrap().filters.unwrap().refuse_seconds,
            Some(1.5)
        );
    }

    #[test]
    fn every_scheduler_call_has_its_type_and_payload() {
        let o = [v1::OfferId { value: "O".into() }];
        let ti = v1::TaskInfo {
            name: "t".into(),
            ..Default::default()
        };
        let res = vec![v1::Resource {
            name: "disk".into(),
            ..Default::default()
        }];
        let cases: Vec<(Call, call::Type)> = vec![
            (teardown(&fw()), call::Type::Teardown),
            (
                accept(
                    &fw(),
                    &o,
                    vec![
                        launch(vec![ti]),
                        reserve(res.clone()),
                        unreserve(res.clone()),
                        create(res.clone()),
                        destroy(res),
                    ],
                    None,
                ),
                call::Type::Accept,
            ),
            (decline(&fw(), &o, None), call::Type::Decline),
            (revive(&fw(), &["kafka".into()]), call::Type::Revive),
            (suppress(&fw(), &[]), call::Type::Suppress),
            (
                kill(&fw(), "T", Some("A"), Some(Duration::ZERO)),
                call::Type::Kill,
            ),
            (shutdown(&fw(), "E", "A"), call::Type::Shutdown),
            (
                acknowledge(&fw(), "A", "T", &[1; 16]),
                call::Type::Acknowledge,
            ),
            (
                reconcile(&fw(), &[("T".into(), Some("A".into()))]),
                call::Type::Reconcile,
            ),
            (
                message(&fw(), "A", "E", b"log".to_vec()),
                call::Type::Message,
            ),
        ];
        for (c, kind) in cases {
            let back = Call::decode(&c.encode_to_vec()[..]).unwrap();
            assert_eq!(back.r#type(), kind);
            assert_eq!(back.framework_id, Some(fw()), "{kind:?}");
            assert_eq!(back, c);
        }
        let accept_ops = accept(&fw(), &o, vec![reserve(vec![]), launch(vec![])], None)
            .accept
            .unwrap()
            .operations;
        let types: Vec<_> = accept_ops.iter().map(|op| op.r#type()).collect();
        assert_eq!(
            types,
            [
                v1::offer::operation::Type::Reserve,
                v1::offer::operation::Type::Launch
            ]
        );
        let k = kill(&fw(), "T", None, Some(Duration::from_secs(2)))
            .kill
            .unwrap();
        assert_eq!(
            k.kill_policy.unwrap().grace_period.unwrap().nanoseconds,
            2_000_000_000
        );
        assert_eq!(decline(&fw(), &o, None).decline.unwrap().filters, None);
        assert!(reconcile(&fw(), &[]).reconcile.unwrap().tasks.is_empty());
    }

    #[test]
    fn executor_requests_go_to_the_agents_process() {
        let agent = crate::api::AgentProcess::from_pid("slave(1)@127.0.0.1:5051");
        let e = Endpoint::new(
            HostPort::new("127.0.0.1", 5051).unwrap(),
            &crate::api::executor_path(agent),
        );
        let r = e
            .request(&executor::Call {
                r#type: Some(executor::call::Type::Subscribe as i32),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.uri(), "http://127.0.0.1:5051/slave(1)/api/v1/executor");
        assert!(r.headers().get("mesos-stream-id").is_none());
    }

    #[test]
    fn requests_that_cannot_be_built_are_errors() {
        let call = revive(&fw(), &[]);
        let bad_path = Endpoint::new(master(), "/a path with spaces");
        let err = bad_path.request(&call).unwrap_err();
        assert_eq!(err.url, "http://127.0.0.1:5050/a path with spaces");
        let bad_stream = Endpoint::new(master(), SCHEDULER_PATH).with_stream_id("S\n1");
        let err = bad_stream.request(&call).unwrap_err().to_string();
        assert!(err.contains("stream id"), "{err}");
    }
}
