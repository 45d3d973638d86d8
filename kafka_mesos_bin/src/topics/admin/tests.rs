use super::*;
use crate::topics::connection::{decode_response, encode_request};
use bytes::{Buf, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::{
    Encodable, HeaderVersion, Request, decode_request_header_from_buffer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn ids(v: &[u32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

/// Encodes `request` at every version we send and decodes it back as a broker would.
fn round_trip<R: Request + PartialEq + std::fmt::Debug>(request: &R, versions: (i16, i16)) {
    for version in versions.0..=versions.1 {
        let bytes = encode_request(request, version, 7).unwrap();
        let mut buf = bytes.freeze();
        let size = buf.get_i32();
        assert_eq!(size as usize, buf.len());
        let header = decode_request_header_from_buffer(&mut buf).unwrap();
        assert_eq!(header.request_api_key, R::KEY);
        assert_eq!(header.request_api_version, version);
        assert_eq!(header.correlation_id, 7);
        let decoded = R::decode(&mut buf, version).unwrap();
        assert_eq!(&decoded, request, "v{version}");
        assert_eq!(buf.remaining(), 0, "v{version}");
    }
}

const T: Duration = Duration::from_secs(5);

#[test]
fn create_partitions_requests_decode_back() {
    let request = create_partitions_request("t", 4, Some(&[ids(&[1, 2]), ids(&[2, 0])]), T);
    round_trip(&request, CREATE_PARTITIONS);
    let topic = &request.topics[0];
    assert_eq!((topic.name.0.as_str(), topic.count), ("t", 4));
    let a = topic.assignments.as_ref().unwrap();
    assert_eq!(a[1].broker_ids, vec![KafkaBrokerId(2), KafkaBrokerId(0)]);
    assert_eq!(request.timeout_ms, 5000);
    let broker_placed = create_partitions_request("t", 4, None, T);
    round_trip(&broker_placed, CREATE_PARTITIONS);
    assert_eq!(broker_placed.topics[0].assignments, None);
}

#[test]
fn alter_reassignments_requests_decode_back() {
    let mut changes = Layout::new();
    changes.insert(
        "a".into(),
        [(0, ids(&[1, 2])), (3, ids(&[2, 0]))].into_iter().collect(),
    );
    changes.insert("b".into(), [(1, ids(&[0]))].into_iter().collect());
    let request = alter_reassignments_request(&changes, T);
    round_trip(&request, ALTER_REASSIGNMENTS);
    let names: Vec<&str> = request.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let p = &request.topics[0].partitions[1];
    assert_eq!(p.partition_index, 3);
    assert_eq!(p.replicas, Some(vec![KafkaBrokerId(2), KafkaBrokerId(0)]));
}

#[test]
fn the_other_requests_decode_back() {
    let explicit = NewTopic {
        name: "t".into(),
        placement: Placement::Explicit(
            [(0, ids(&[1, 0])), (1, ids(&[0, 1]))].into_iter().collect(),
        ),
        configs: vec![("retention.ms".into(), "1000".into())],
    };
    let counts = NewTopic {
        name: "u".into(),
        placement: Placement::Counts {
            partitions: 3,
            replicas: 2,
        },
        configs: Vec::new(),
    };
    let request = create_topics_request(&[explicit, counts], T);
    round_trip(&request, CREATE_TOPICS);
    let t = &request.topics[0];
    // An explicit assignment leaves the counts to Kafka (-1), as the protocol requires.
    assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
    assert_eq!(
        t.assignments[0].broker_ids,
        vec![KafkaBrokerId(1), KafkaBrokerId(0)]
    );
    assert_eq!(
        (
            request.topics[1].num_partitions,
            request.topics[1].replication_factor
        ),
        (3, 2)
    );
    round_trip(&metadata_request(None), METADATA);
    round_trip(&metadata_request(Some(&["t".into()])), METADATA);
    round_trip(&delete_topics_request(&["t".into()], T), DELETE_TOPICS);
    round_trip(&delete_topics_request_v6(&["t".into()], T), (6, 6));
    round_trip(&describe_configs_request(&["t".into()]), DESCRIBE_CONFIGS);
    let alter = incremental_alter_configs_request(
        "t",
        &[("a".into(), Some("1".into())), ("b".into(), None)],
    );
    round_trip(&alter, INCREMENTAL_ALTER_CONFIGS);
    let ops: Vec<i8> = alter.resources[0]
        .configs
        .iter()
        .map(|c| c.config_operation)
        .collect();
    assert_eq!(ops, [0, 1], "SET then DELETE");
    round_trip(&list_reassignments_request(T), LIST_REASSIGNMENTS);
}

/// A peer that answers ApiVersions with `apis` and then nothing: enough to reach the point
/// where a client picks a version.
async fn broker_offering(apis: Vec<(i16, i16, i16)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let apis = apis.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(size) = s.read_i32().await else { return };
                    let mut body = vec![0; size as usize];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let mut buf = bytes::Bytes::from(body);
                    let header = decode_request_header_from_buffer(&mut buf).unwrap();
                    if header.request_api_key != 18 {
                        // Anything else is never answered.
                        continue;
                    }
                    let response = ApiVersionsResponse::default().with_api_keys(
                        apis.iter()
                            .map(|(k, min, max)| {
                                ApiVersion::default()
                                    .with_api_key(*k)
                                    .with_min_version(*min)
                                    .with_max_version(*max)
                            })
                            .collect(),
                    );
                    let mut out = BytesMut::new();
                    ResponseHeader::default()
                        .with_correlation_id(header.correlation_id)
                        .encode(&mut out, ApiVersionsResponse::header_version(0))
                        .unwrap();
                    response.encode(&mut out, 0).unwrap();
                    let mut framed = (out.len() as i32).to_be_bytes().to_vec();
                    framed.extend_from_slice(&out);
                    if s.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_api_the_broker_lacks_is_named() {
    // Metadata only, like a broker without the admin APIs.
    let addr = broker_offering(vec![(3, 0, 12)]).await;
    let admin = AdminClient::new(vec![addr.clone()], Duration::from_millis(300)).unwrap();
    let e = admin
        .create_partitions("t", 2, None)
        .await
        .unwrap_err()
        .to_string();
    // The controller lookup asks Metadata first, which this peer never answers: the bound holds.
    assert!(e.contains("did not answer Metadata"), "{e}");
    let mut c = Connection::open(&addr, T).await.unwrap();
    let e = c
        .send(
            &create_partitions_request("t", 2, None, T),
            CREATE_PARTITIONS,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "broker {addr} does not support CreatePartitions (it offers versions none; we speak 0..3)"
        )
    );
    let e = c.send(&metadata_request(None), (13, 13)).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("does not support Metadata (it offers versions 0..12"),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_broker_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let e = Connection::open(&addr, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        AdminError::Timeout {
            broker: addr,
            api: "ApiVersions".into(),
            timeout: Duration::from_secs(3)
        }
    );
}

#[tokio::test]
async fn unreachable_brokers_are_each_named() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = closed.local_addr().unwrap().to_string();
    drop(closed);
    let admin = AdminClient::new(vec![a.clone(), a.clone()], T).unwrap();
    let e = admin.metadata(None).await.unwrap_err().to_string();
    assert!(
        e.starts_with("cannot reach any broker: cannot reach broker "),
        "{e}"
    );
    assert_eq!(e.matches(&a).count(), 2, "{e}");
    assert_eq!(
        AdminClient::new(Vec::new(), T).unwrap_err(),
        AdminError::NoBrokers
    );
}

#[test]
fn answers_are_matched_by_correlation_id() {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(3)
        .encode(&mut out, 0)
        .unwrap();
    ApiVersionsResponse::default().encode(&mut out, 0).unwrap();
    let e =
        decode_response::<kafka_protocol::messages::ApiVersionsRequest>(&out, 0, 4).unwrap_err();
    assert_eq!(e, "answer to request 3 where 4 was expected");
    assert!(decode_response::<kafka_protocol::messages::ApiVersionsRequest>(&out, 0, 3).is_ok());
}
