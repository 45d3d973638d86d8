use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{AgentId, ExecutorId, TaskId, TaskState};

fn ids(v: &[u32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

fn cluster(n: u32) -> BTreeMap<BrokerId, Broker> {
    (0..n)
        .map(|i| (BrokerId(i), Broker::new(BrokerId(i))))
        .collect()
}

fn with_task(
    brokers: &mut BTreeMap<BrokerId, Broker>,
    id: u32,
    host: &str,
    attrs: &[(&str, &str)],
) {
    let b = brokers
        .entry(BrokerId(id))
        .or_insert_with(|| Broker::new(BrokerId(id)));
    b.task = Some(Task::new(
        TaskId(format!("kafka-{id}-x")),
        AgentId(format!("agent-{host}")),
        ExecutorId(format!("kafka-{id}-e")),
        host,
        attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        TaskState::Running,
    ));
}

fn expand(expr: &str, brokers: &BTreeMap<BrokerId, Broker>) -> Vec<BrokerId> {
    expr.parse::<BrokerExpr>().unwrap().expand(brokers)
}

#[test]
fn case_44_id_lists() {
    let b = cluster(5);
    assert!("".parse::<BrokerExpr>().is_err());
    assert_eq!(expand("0", &b), ids(&[0]));
    assert_eq!(expand("0,2,4", &b), ids(&[0, 2, 4]));
    assert_eq!(expand("1..3", &b), ids(&[1, 2, 3]));
    assert_eq!(expand("0..1,3..4", &b), ids(&[0, 1, 3, 4]));
    assert_eq!(expand("*", &b), ids(&[0, 1, 2, 3, 4]));
    assert_eq!(expand("0..3,2..4", &b), ids(&[0, 1, 2, 3, 4]));
    assert_eq!(expand("4,3,2", &b), ids(&[2, 3, 4]));
    assert_eq!(expand("5,6,7", &b), ids(&[5, 6, 7]));
    assert_eq!(expand(" 0 , 1 ", &b), ids(&[0, 1]));
}

/// The original expanded `3..1` to nothing and accepted negative ids; both are errors here,
/// because Kafka broker ids are never negative and an inverted range is a typo.
#[test]
fn case_44_inverted_ranges_and_negative_ids_are_errors_unlike_the_original() {
    let err = "3..1".parse::<BrokerExpr>().unwrap_err();
    assert!(err.problem.contains("3..1 starts after it ends"), "{err}");
    let err = "-1".parse::<BrokerExpr>().unwrap_err();
    assert_eq!(err.position, 0);
}

#[test]
fn errors_point_at_the_problem_and_list_the_forms() {
    let err = "0..x".parse::<BrokerExpr>().unwrap_err();
    assert_eq!((err.position, err.problem.as_str()), (3, "unexpected 'x'"));
    assert!(err.to_string().contains("0,1..2"), "{err}");
    let err = "0,,1".parse::<BrokerExpr>().unwrap_err();
    assert_eq!(err.position, 2);
    let err = "0]".parse::<BrokerExpr>().unwrap_err();
    assert!(err.problem.contains("] without ["), "{err}");
    let err = "*[rack=r1".parse::<BrokerExpr>().unwrap_err();
    assert!(err.problem.contains("not closed"), "{err}");
    let err = "*[a=1,,b]".parse::<BrokerExpr>().unwrap_err();
    assert_eq!(err.position, 6);
    let err = "[a]".parse::<BrokerExpr>().unwrap_err();
    assert!(err.problem.contains("id list is empty"), "{err}");
    let err = "99999999999".parse::<BrokerExpr>().unwrap_err();
    assert!(err.problem.contains("larger than 2147483647"), "{err}");
}

#[test]
fn case_45_attribute_filters() {
    let mut b = cluster(4);
    with_task(&mut b, 0, "master", &[("a", "1")]);
    with_task(&mut b, 1, "slave0", &[("a", "2"), ("b", "2")]);
    with_task(&mut b, 2, "slave1", &[("b", "2")]);
    assert_eq!(expand("*[a=1]", &b), ids(&[0]));
    assert_eq!(expand("*[b=2]", &b), ids(&[1, 2]));
    assert_eq!(expand("*[a]", &b), ids(&[0, 1]));
    assert_eq!(expand("*[b]", &b), ids(&[1, 2]));
    assert_eq!(expand("*[hostname=master]", &b), ids(&[0]));
    assert_eq!(expand("*[hostname=slave*]", &b), ids(&[1, 2]));
    assert_eq!(expand("5[a]", &b), ids(&[]));
    assert_eq!(expand("5[]", &b), ids(&[]));
    // With a filter the written order is kept.
    assert_eq!(expand("2,1[b]", &b), ids(&[2, 1]));
}

#[test]
fn case_46_rack_interleaving() {
    let mut b = BTreeMap::new();
    with_task(&mut b, 0, "h0", &[("r", "2"), ("a", "1")]);
    with_task(&mut b, 1, "h1", &[("r", "0"), ("a", "1")]);
    with_task(&mut b, 2, "h2", &[("r", "1"), ("a", "1")]);
    with_task(&mut b, 3, "h3", &[("r", "1"), ("a", "2")]);
    with_task(&mut b, 4, "h4", &[("r", "0"), ("a", "2")]);
    with_task(&mut b, 5, "h5", &[("r", "0"), ("a", "2")]);
    with_task(&mut b, 6, "h6", &[("a", "2")]);
    let sorted = |e: &str| e.parse::<BrokerExpr>().unwrap().expand_interleaved(&b);
    assert_eq!(sorted("*"), ids(&[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(sorted("*[r]"), ids(&[1, 2, 0, 4, 3, 5]));
    assert_eq!(sorted("*[r,a]"), ids(&[1, 4, 2, 3, 0, 5]));
    assert_eq!(sorted("*[r=*,a=1]"), ids(&[1, 2, 0]));
    assert_eq!(sorted("*[r,a=2]"), ids(&[4, 3, 5]));
}

#[test]
fn case_47_topic_expressions() {
    let existing = ["t0", "t1", "x"];
    let expand = |e: &str| e.parse::<TopicExpr>().unwrap().expand(existing);
    assert_eq!(expand(""), Vec::<String>::new());
    assert_eq!(expand("t5,t6"), ["t5", "t6"]);
    assert_eq!(expand("t0"), ["t0"]);
    assert_eq!(expand("t0, t1"), ["t0", "t1"]);
    assert_eq!(expand("*"), ["t0", "t1", "x"]);
    assert_eq!(expand("t*"), ["t0", "t1"]);
}

/// The original expanded `t0,t*` to `t0,t0,t1` and acted on `t0` twice.
#[test]
fn case_47_a_topic_named_twice_is_listed_once_unlike_the_original() {
    let existing = ["t0", "t1", "x"];
    let expand = |e: &str| e.parse::<TopicExpr>().unwrap().expand(existing);
    assert_eq!(expand("t0,t*"), ["t0", "t1"]);
    assert_eq!(expand("t1,t1"), ["t1"]);
    assert_eq!(expand("new,x,new"), ["new", "x"]);
}

#[test]
fn topic_names_are_checked() {
    for bad in ["a b", "t/1", "..", "t0,t 1", "a*b", "é"] {
        let err = bad.parse::<TopicExpr>().unwrap_err();
        assert!(err.to_string().contains("t0,t1"), "{bad}: {err}");
    }
    let long = "a".repeat(250);
    assert!(long.parse::<TopicExpr>().is_err());
    assert!(is_valid_topic_name(&"a".repeat(249)));
}

#[test]
fn huge_and_deep_expressions_are_refused_quickly() {
    let e = "0..2147483647".parse::<BrokerExpr>().unwrap_err();
    assert_eq!(e.position, 0);
    assert!(
        e.problem
            .starts_with("the expression lists more than 10000 broker ids"),
        "{e}"
    );
    assert!("0..5000,6000..11000".parse::<BrokerExpr>().is_err());
    assert!("0..9999".parse::<BrokerExpr>().is_ok());
    assert!("*,0..9999".parse::<BrokerExpr>().is_ok());
    let deep = "(".repeat(100_000);
    assert_eq!(deep.parse::<BrokerExpr>().unwrap_err().position, 0);
    assert!(deep.parse::<TopicExpr>().is_err());
    let nested = format!("*{}", "[".repeat(100_000));
    assert!(nested.parse::<BrokerExpr>().is_err());
    let long_list = vec!["0"; 100_000].join(",");
    assert!(long_list.parse::<BrokerExpr>().is_err());
    let topics = vec!["t"; 100_000].join(",");
    assert!(topics.parse::<TopicExpr>().is_ok());
}

fn arb_broker_expr() -> impl Strategy<Value = BrokerExpr> {
    let item = prop_oneof![
        Just(IdItem::All),
        (0u32..1000).prop_map(|i| IdItem::One(BrokerId(i))),
        (0u32..1000, 0u32..10).prop_map(|(a, l)| IdItem::Range(BrokerId(a), BrokerId(a + l))),
    ];
    let filter = proptest::option::of(proptest::collection::vec(
        (
            "[a-z=,\\\\]{1,4}",
            proptest::option::of("[a-z0-9*,=\\\\]{0,4}"),
        ),
        0..3,
    ));
    (proptest::collection::vec(item, 1..5), filter).prop_map(|(items, filter)| BrokerExpr {
        items,
        filter: filter.map(|f| f.into_iter().collect()),
    })
}

fn arb_topic_expr() -> impl Strategy<Value = TopicExpr> {
    let item = prop_oneof![
        "[a-zA-Z0-9_-]{1,8}".prop_map(TopicItem::Name),
        "[a-z0-9._-]{0,4}".prop_map(TopicItem::Prefix),
    ];
    proptest::collection::vec(item, 0..5).prop_map(TopicExpr)
}

proptest! {
    #[test]
    fn broker_expr_round_trips(e in arb_broker_expr()) {
        let text = e.to_string();
        prop_assert_eq!(text.parse::<BrokerExpr>().unwrap(), e);
    }

    #[test]
    fn topic_expr_round_trips(e in arb_topic_expr()) {
        prop_assert_eq!(e.to_string().parse::<TopicExpr>().unwrap(), e);
    }

    /// Without a filter the result is sorted and free of duplicates; `*` adds exactly the
    /// existing brokers.
    #[test]
    fn expansion_is_sorted_and_unique(e in arb_broker_expr(), n in 0u32..20) {
        let brokers = cluster(n);
        let e = BrokerExpr { filter: None, ..e };
        let out = e.expand(&brokers);
        prop_assert!(out.windows(2).all(|w| w[0] < w[1]));
        if e.items().contains(&IdItem::All) {
            prop_assert!(brokers.keys().all(|id| out.contains(id)));
        }
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,24}") {
        let _ = s.parse::<BrokerExpr>();
        let _ = s.parse::<TopicExpr>();
    }
}
