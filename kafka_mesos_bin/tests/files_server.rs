//! The file server: each route, HEAD, 404s, and a large file streamed byte for byte.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kafka_mesos_bin::files::{FetchUri, FilesConfig, router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

struct Served {
    _dir: tempfile::TempDir,
    files: FilesConfig,
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let files = FilesConfig {
        executor: write(dir.path(), "executor-build", b"executor bytes"),
        kafka_dist: Some(write(dir.path(), "kafka_2.13-3.7.0.tgz", b"kafka bytes")),
        tansu: Some(write(dir.path(), "tansu-0.6", b"tansu bytes")),
        jre: Some(write(dir.path(), "jre 17.zip", b"jre bytes")),
    };
    Served { _dir: dir, files }
}

async fn request(
    files: &FilesConfig,
    method: Method,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = router(files.clone())
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn each_route_serves_its_file() {
    let s = served();
    for (uri, content) in [
        ("/executor/kafka-mesos", &b"executor bytes"[..]),
        ("/kafka/kafka_2.13-3.7.0.tgz", b"kafka bytes"),
        ("/tansu/tansu", b"tansu bytes"),
        ("/jre/jre%2017.zip", b"jre bytes"),
    ] {
        let (status, headers, body) = request(&s.files, Method::GET, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(body, content, "{uri}");
        assert_eq!(
            headers[header::CONTENT_LENGTH],
            content.len().to_string(),
            "{uri}"
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
    }
}

#[tokio::test]
async fn head_answers_the_length_without_a_body() {
    let s = served();
    let (status, headers, body) =
        request(&s.files, Method::HEAD, "/kafka/kafka_2.13-3.7.0.tgz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_LENGTH], "11");
    assert!(body.is_empty());
}

#[tokio::test]
async fn unknown_or_unconfigured_files_are_404_with_what_is_served() {
    let s = served();
    let (status, _, body) = request(&s.files, Method::GET, "/kafka/kafka_2.12-1.1.0.tgz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body = String::from_utf8(body).unwrap();
    assert_eq!(
        body,
        "no file /kafka/kafka_2.12-1.1.0.tgz is served here; served: /executor/kafka-mesos, /kafka/kafka_2.13-3.7.0.tgz, /tansu/tansu, /jre/jre 17.zip\n"
    );

    let bare = FilesConfig {
        jre: None,
        tansu: None,
        kafka_dist: None,
        ..s.files.clone()
    };
    for uri in [
        "/jre/jre%2017.zip",
        "/tansu/tansu",
        "/kafka/kafka_2.13-3.7.0.tgz",
    ] {
        let (status, _, body) = request(&bare, Method::GET, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            String::from_utf8(body)
                .unwrap()
                .ends_with("served: /executor/kafka-mesos\n"),
            "{uri}"
        );
    }
    let (status, _, _) = request(&bare, Method::GET, "/other/file").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_vanished_file_is_a_clear_server_error() {
    let s = served();
    let gone = FilesConfig {
        executor: PathBuf::from("/nonexistent/kafka-mesos"),
        ..s.files.clone()
    };
    let (status, _, body) = request(&gone, Method::GET, "/executor/kafka-mesos").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.starts_with(
            "the file served as /executor/kafka-mesos (/nonexistent/kafka-mesos) cannot be read"
        ),
        "{body}"
    );
}

#[test]
fn fetch_uris_for_a_base_url() {
    let s = served();
    assert_eq!(
        s.files.uris("http://scheduler:7000"),
        [
            FetchUri {
                url: "http://scheduler:7000/executor/kafka-mesos".into(),
                executable: true,
                extract: false
            },
            FetchUri {
                url: "http://scheduler:7000/kafka/kafka_2.13-3.7.0.tgz".into(),
                executable: false,
                extract: true
            },
            FetchUri {
                url: "http://scheduler:7000/tansu/tansu".into(),
                executable: true,
                extract: false
            },
            FetchUri {
                url: "http://scheduler:7000/jre/jre%2017.zip".into(),
                executable: false,
                extract: true
            },
        ]
    );
}

/// A file of `len` bytes that are not all alike.
fn large_content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn a_large_file_streams_in_many_chunks() {
    let s = served();
    let content = large_content(8 * 1024 * 1024 + 17);
    let dir = tempfile::tempdir().unwrap();
    let files = FilesConfig {
        kafka_dist: Some(write(dir.path(), "kafka_big.tgz", &content)),
        ..s.files.clone()
    };
    let response = router(files)
        .oneshot(
            Request::get("/kafka/kafka_big.tgz")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        content.len().to_string()
    );
    let mut body = response.into_body();
    let (mut frames, mut received) = (0, Vec::new());
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(
            data.len() < content.len(),
            "the whole file came in one piece"
        );
        received.extend_from_slice(&data);
        frames += 1;
    }
    assert!(frames > 100, "only {frames} chunks");
    assert!(received == content, "the bytes differ");
}

#[tokio::test]
async fn over_http_head_and_get_of_a_large_file() {
    let s = served();
    let content = large_content(3 * 1024 * 1024 + 5);
    let dir = tempfile::tempdir().unwrap();
    let files = FilesConfig {
        executor: write(dir.path(), "kafka-mesos", &content),
        ..s.files.clone()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(files)).await.unwrap() });

    let exchange = |method: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "{method} /executor/kafka-mesos HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec())
            .unwrap()
            .to_ascii_lowercase();
        (head, raw[split + 4..].to_vec())
    };
    let (head, body) = exchange("HEAD").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", content.len())),
        "{head}"
    );
    assert!(body.is_empty());

    let (head, body) = exchange("GET").await;
    assert!(
        head.contains(&format!("content-length: {}", content.len())),
        "{head}"
    );
    assert!(
        body == content,
        "the bytes differ ({} received)",
        body.len()
    );
}
