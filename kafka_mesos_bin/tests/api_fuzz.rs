//! Property: no request the OpenAPI document describes, nor any variation of one (random
//! values, extra or repeated parameters, other methods, query or body), makes the server
//! answer with a server error. Refusals are 400 with a JSON error text.

mod api_support;

use api_support::{Mesos, SimulatedScheduler, request, serve};
use proptest::prelude::*;

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
        )
            .prop_map(|(op, method, mut params, extra, in_body)| {
                params.extend(extra);
                Case {
                    op,
                    method,
                    params,
                    in_body,
                }
            })
    })
}

#[test]
fn no_request_makes_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(serve(SimulatedScheduler::new(Mesos::Responsive)));
    let doc: serde_json::Value = rt.block_on(async {
        let (status, body) = request(addr, "GET", "/api/openapi.json", None).await;
        assert_eq!(status, 200);
        serde_json::from_str(&body).expect("the document is JSON")
    });
    let ops = operations(&doc);
    assert!(ops.len() >= 17, "{} operations", ops.len());
    // Brokers to act on, so that commands get past "not found" too.
    rt.block_on(request(addr, "GET", "/api/broker/add?broker=0..3", None));
    let config = ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    };
    proptest!(config, |(c in case(ops.clone()))| {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &c.params {
            form.append_pair(k, v);
        }
        let encoded = form.finish();
        let path = &ops[c.op].path;
        let in_body = c.in_body && c.method == "POST";
        let target = if in_body || encoded.is_empty() {
            path.clone()
        } else {
            format!("{path}?{encoded}")
        };
        let body = in_body.then_some(encoded.as_str());
        let (status, body) = rt.block_on(request(addr, c.method, &target, body));
        // 503 is the one server-side answer allowed: a topic verb that cannot reach the brokers
        // the simulated scheduler runs (their hosts do not exist) says so, as it must.
        let unreachable = status == 503 && body.contains("cannot reach");
        prop_assert!(
            status < 500 || unreachable,
            "{} {} {:?}: {} {}", c.method, path, c.params, status, body
        );
        if status == 400 {
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            prop_assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", body);
        }
    });
}
