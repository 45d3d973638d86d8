//! The OpenAPI 3 document of the REST API, served at `/api/openapi.json`.
//!
//! Paths and parameters come from [`ENDPOINTS`], the table the handlers check requests
//! against; the answer schemas come from the [`model`](super::model) types the handlers
//! serialize. Neither can drift from what the server does.
//!
//! ```
//! let doc = kafka_mesos_bin::api::openapi::document();
//! assert!(doc.paths.paths.contains_key("/api/broker/add"));
//! ```

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr,
    Required, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use super::endpoints::{ENDPOINTS, Endpoint, ParamKind, ReplyKind};
use super::model::{
    BrokerJson, BrokerLogReply, BrokersReply, ErrorReply, FailoverJson, LogStatus, PartitionJson,
    RebalanceReply, RemoveReply, RestartOutcome, RestartReply, StartStopReply, StickinessJson,
    TaskJson, TopicJson, TopicsReply, WaitOutcome,
};
use super::model::{ReasonJson, WhyJson, WhyReply};

/// The schema name of the `topic partitions` answer (a map, so it has no type of its own).
const PARTITIONS_REPLY: &str = "PartitionsReply";

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fn value_schema(kind: ParamKind, description: &str) -> ObjectBuilder {
    let t = match kind {
        ParamKind::Integer | ParamKind::Lines => Type::Integer,
        ParamKind::Flag => Type::Boolean,
        _ => Type::String,
    };
    ObjectBuilder::new()
        .schema_type(t)
        .description(Some(description))
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn operation(endpoint: &Endpoint, method: HttpMethod) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .summary(Some(endpoint.summary))
        .operation_id(Some(format!(
            "{}{}",
            endpoint.path.trim_start_matches("/api/").replace('/', "_"),
            match method {
                HttpMethod::Get => "_get",
                _ => "_post",
            }
        )))
        .tag(endpoint.path.split('/').nth(2).unwrap_or("api"));
    if method == HttpMethod::Get {
        for p in endpoint.params {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(p.name)
                    .parameter_in(ParameterIn::Query)
                    .required(if p.required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(p.description))
                    .schema(Some(value_schema(p.kind, p.description))),
            );
        }
    } else {
        let mut form = ObjectBuilder::new().schema_type(Type::Object);
        for p in endpoint.params {
            form = form.property(p.name, value_schema(p.kind, p.description));
            if p.required {
                form = form.required(p.name);
            }
        }
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .content(FORM, ContentBuilder::new().schema(Some(form)).build())
                .build(),
        ));
    }
    let success = match endpoint.reply {
        ReplyKind::Brokers => Some(BrokersReply::name()),
        ReplyKind::StartStop => Some(StartStopReply::name()),
        ReplyKind::Remove => Some(RemoveReply::name()),
        ReplyKind::Restart => Some(RestartReply::name()),
        ReplyKind::Topics => Some(TopicsReply::name()),
        ReplyKind::Rebalance => Some(RebalanceReply::name()),
        ReplyKind::Partitions => Some(PARTITIONS_REPLY.into()),
        ReplyKind::Log => Some(BrokerLogReply::name()),
        ReplyKind::Why => Some(WhyReply::name()),
        ReplyKind::Unavailable => None,
    };
    if let Some(name) = success {
        op = op.response(
            "200",
            ResponseBuilder::new()
                .description("the command succeeded")
                .content(
                    JSON,
                    ContentBuilder::new()
                        .schema(Some(schema_ref(&name)))
                        .build(),
                ),
        );
    }
    op.response(
        "400",
        ResponseBuilder::new()
            .description("the request was refused and changed nothing; the error says why")
            .content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(schema_ref(&ErrorReply::name())))
                    .build(),
            ),
    )
    .build()
}

/// The OpenAPI document of every endpoint in [`ENDPOINTS`], plus `/health`.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for endpoint in ENDPOINTS {
        let mut item = PathItem::new(HttpMethod::Get, operation(endpoint, HttpMethod::Get));
        item.merge_operations(PathItem::new(
            HttpMethod::Post,
            operation(endpoint, HttpMethod::Post),
        ));
        paths = paths.path(endpoint.path, item);
    }
    paths = paths.path(
        "/health",
        PathItem::new(
            HttpMethod::Get,
            OperationBuilder::new()
                .summary(Some("Liveness: answers ok"))
                .operation_id(Some("health"))
                .response(
                    "200",
                    ResponseBuilder::new().description("ok").content(
                        "text/plain",
                        ContentBuilder::new().schema(Some(String::schema())).build(),
                    ),
                ),
        ),
    );
    let mut components = ComponentsBuilder::new();
    let mut add = |name: std::borrow::Cow<'static, str>, schema: RefOr<Schema>| {
        components = std::mem::take(&mut components).schema(name, schema);
    };
    add(BrokerJson::name(), BrokerJson::schema());
    add(StickinessJson::name(), StickinessJson::schema());
    add(FailoverJson::name(), FailoverJson::schema());
    add(TaskJson::name(), TaskJson::schema());
    add(BrokersReply::name(), BrokersReply::schema());
    add(WaitOutcome::name(), WaitOutcome::schema());
    add(StartStopReply::name(), StartStopReply::schema());
    add(RemoveReply::name(), RemoveReply::schema());
    add(RestartOutcome::name(), RestartOutcome::schema());
    add(LogStatus::name(), LogStatus::schema());
    add(BrokerLogReply::name(), BrokerLogReply::schema());
    add(ReasonJson::name(), ReasonJson::schema());
    add(WhyJson::name(), WhyJson::schema());
    add(WhyReply::name(), WhyReply::schema());
    add(RestartReply::name(), RestartReply::schema());
    add(ErrorReply::name(), ErrorReply::schema());
    add(TopicJson::name(), TopicJson::schema());
    add(TopicsReply::name(), TopicsReply::schema());
    add(RebalanceReply::name(), RebalanceReply::schema());
    add(PartitionJson::name(), PartitionJson::schema());
    add(
        PARTITIONS_REPLY.into(),
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("topic name → its partitions"))
            .additional_properties(Some(
                utoipa::openapi::schema::ArrayBuilder::new()
                    .items(schema_ref(&PartitionJson::name())),
            ))
            .into(),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("kafka-mesos scheduler API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Broker and topic management. Parameters are accepted in the query string or as a form body; GET and POST are equivalent.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_and_schema_is_in_the_document() {
        let json: serde_json::Value =
            serde_json::from_str(&document().to_pretty_json().unwrap()).unwrap();
        assert_eq!(json["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        for e in ENDPOINTS {
            let get = &json["paths"][e.path]["get"];
            assert_eq!(
                get["parameters"].as_array().map(Vec::len),
                Some(e.params.len()),
                "{}",
                e.path
            );
            assert!(json["paths"][e.path]["post"]["requestBody"].is_object());
        }
        let broker = &json["components"]["schemas"]["BrokerJson"]["properties"];
        assert!(broker["failover"].is_object());
        assert!(json["paths"]["/api/broker/list"]["get"]["responses"]["200"].is_object());
    }
}
