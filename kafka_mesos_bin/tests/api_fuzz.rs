//! Property: no request the OpenAPI document describes, nor any variation of one (random
//! values, extra or repeated parameters, other methods, query or body, hostile values, with
//! or without the API token), makes the server answer with a server error. Refusals are 400
//! (401 without the token, 413 for an oversized body) with a JSON error text.
//!
//! `KAFKA_MESOS_API_FUZZ_CASES=N` sets the number of cases (default 300, for CI); the test
//! prints the count it ran and how many answers had each status.

mod api_support;

use std::collections::BTreeMap;
use std::sync::Mutex;

use api_support::{Mesos, SimulatedScheduler, serve_app};
use kafka_mesos_bin::api::{auth, router};
use kafka_mesos_bin::config::Secret;
use proptest::prelude::*;

const TOKEN: &str = "fuzz-token";

#[derive(Debug, Clone)]
struct Operation {
    path: String,
    params: Vec<String>,
}

fn operations(doc: &serde_json::Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let params = item["get"]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Operation {
            path: path.clone(),
            params,
        });
    }
    out
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("0".to_string()),
        Just("0..2".to_string()),
        Just("*".to_string()),
        Just("*[rack=r1]".to_string()),
        Just("0s".to_string()),
        Just("1s".to_string()),
        Just("99999999999d".to_string()),
        Just("-1".to_string()),
        Just("4294967296".to_string()),
        Just("1e309".to_string()),
        Just("NaN".to_string()),
        Just("true".to_string()),
        Just("a=1,b=\\".to_string()),
        Just("hostname=unique".to_string()),
        Just("31000..30000".to_string()),
        Just("0..2147483647".to_string()),
        Just("((((".repeat(5000)),
        Just("[".repeat(3000)),
        Just("-1s".to_string()),
        Just("$(touch /tmp/pwned);`id`|cat".to_string()),
        Just("x".repeat(30_000)),
        "[0-9]{1,12}",
        "[0-9.]{1,8}[smhd]?",
        "\\PC{0,20}",
    ]
}

#[derive(Debug, Clone)]
struct Case {
    op: usize,
    method: &'static str,
    params: Vec<(String, String)>,
    in_body: bool,
    /// Raw bytes appended to the encoded parameters: `%ff`-style sequences that are not
    /// UTF-8 once decoded, stray `%` and `&`.
    raw_suffix: &'static str,
    authorized: bool,
}

fn case(ops: Vec<Operation>) -> impl Strategy<Value = Case> {
    let n = ops.len();
    (0..n).prop_flat_map(move |op| {
        let names = if ops[op].params.is_empty() {
            vec!["unknown".to_string()]
        } else {
            ops[op].params.clone()
        };
        let known = proptest::collection::vec((proptest::sample::select(names), value()), 0..6);
        let extra = proptest::collection::vec(("[a-zA-Z]{1,8}", value()), 0..2);
        (
            Just(op),
            proptest::sample::select(vec!["GET", "POST", "POST", "GET", "PUT", "DELETE"]),
            known,
            extra,
            any::<bool>(),
            proptest::sample::select(vec![
                "",
                "",
                "",
                "&broker=%ff%fe",
                "&options=a%3D%C3",
                "&%",
                "&&=&",
            ]),
            proptest::bool::weighted(0.9),
        )
            .prop_map(
                |(op, method, mut params, extra, in_body, raw_suffix, authorized)| {
                    params.extend(extra);
                    Case {
                        op,
                        method,
                        params,
                        in_body,
                        raw_suffix,
                        authorized,
                    }
                },
            )
    })
}

/// The number of cases: `KAFKA_MESOS_API_FUZZ_CASES`, else 300.
fn case_count() -> u32 {
    match std::env::var("KAFKA_MESOS_API_FUZZ_CASES") {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("KAFKA_MESOS_API_FUZZ_CASES={n:?} is not a number")),
        Err(_) => 300,
    }
}

#[test]
fn no_request_makes_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = auth::protect(
        router(SimulatedScheduler::new(Mesos::Responsive)),
        Some(Secret::new(TOKEN)),
    );
    let addr = rt.block_on(serve_app(app));
    let bearer = format!("Bearer {TOKEN}");
    let doc: serde_json::Value = rt.block_on(async {
        let (status, body) =
            api_support::request_with(addr, "GET", "/api/openapi.json", None, Some(&bearer)).await;
        assert_eq!(status, 200);
        serde_json::from_str(&body).expect("the document is JSON")
    });
    let ops = operations(&doc);
    assert!(ops.len() >= 17, "{} operations", ops.len());
    // Brokers to act on, so that commands get past "not found" too.
    let (status, _) = rt.block_on(api_support::request_with(
        addr,
        "GET",
        "/api/broker/add?broker=0..3",
        None,
        Some(&bearer),
    ));
    assert_eq!(status, 200);
    let cases = case_count();
    let config = ProptestConfig {
        cases,
        ..ProptestConfig::default()
    };
    let statuses: Mutex<BTreeMap<u16, u64>> = Mutex::default();
    proptest!(config, |(c in case(ops.clone()))| {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &c.params {
            form.append_pair(k, v);
        }
        let mut encoded = form.finish();
        encoded.push_str(c.raw_suffix);
        let path = &ops[c.op].path;
        // A request line holds at most 64 KiB: long parameters go in a body.
        let in_body = (c.in_body || encoded.len() > 60_000) && c.method != "GET";
        let target = if in_body || encoded.is_empty() {
            path.clone()
        } else if encoded.len() > 60_000 {
            format!("{path}?{}", &encoded[..60_000].trim_end_matches('%'))
        } else {
            format!("{path}?{encoded}")
        };
        let body = in_body.then_some(encoded.as_str());
        let authorization = c.authorized.then_some(bearer.as_str());
        let (status, body) =
            rt.block_on(api_support::request_with(addr, c.method, &target, body, authorization));
        *statuses.lock().unwrap().entry(status).or_default() += 1;
        // 503 is the one server-side answer allowed: a topic verb that cannot reach the brokers
        // the simulated scheduler runs (their hosts do not exist) says so, as it must.
        let unreachable = status == 503 && body.contains("cannot reach");
        prop_assert!(
            status < 500 || unreachable,
            "{} {} {:.200?}: {} {:.300}", c.method, path, c.params, status, body
        );
        if !c.authorized && !auth::is_open(path) {
            prop_assert_eq!(status, 401, "{} {}", c.method, path);
        }
        if matches!(status, 400 | 401 | 413) {
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            prop_assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{:.300}", body);
        }
    });
    let statuses = statuses.into_inner().unwrap();
    let total: u64 = statuses.values().sum();
    eprintln!("api fuzz: {total} requests, none a server error; by status: {statuses:?}");
    // The saved regression cases run first, on top of the new ones.
    assert!(
        total >= u64::from(cases),
        "{total} requests for {cases} cases"
    );
}
