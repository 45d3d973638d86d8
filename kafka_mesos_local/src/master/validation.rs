//! Validation of calls, frameworks, offers and tasks, in Mesos's order and with its texts.

use super::*;

/// Mesos's `id::UUID::fromBytes`: 16 bytes whose version nibble is one of RFC 4122's (1 to 5).
pub(super) fn valid_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 16 && (1..=5).contains(&(bytes[6] >> 4))
}

/// Mesos's `common::validation::validateID`.
pub(super) fn validate_id(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("ID must not be empty".into());
    }
    if id.len() > 255 {
        return Some("ID must not be greater than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Some(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|c| c.is_ascii_control() || c == b'/' || c == b'\\')
    {
        return Some(format!("'{id}' contains invalid characters"));
    }
    None
}

/// Mesos's `roles::validate`.
pub(super) fn validate_role(role: &str) -> Option<String> {
    if role == "*" {
        return None;
    }
    if role.starts_with('/') {
        return Some(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Some(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Some(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Some("Role names cannot be the empty string".into());
    }
    for component in components {
        match component {
            "." => return Some(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Some(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Some(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if component.starts_with('-') {
            return Some(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            ));
        }
        if component.bytes().any(|c| {
            matches!(
                c,
                b'\x08' | b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'
            )
        }) {
            return Some(format!(
                "Role component '{component}' is invalid because it contains backspace or \
                 whitespace"
            ));
        }
    }
    None
}

pub(super) fn has_capability(
    info: &v1::FrameworkInfo,
    kind: v1::framework_info::capability::Type,
) -> bool {
    info.capabilities.iter().any(|c| c.r#type() == kind)
}

/// Mesos's `validation::framework::validate` (roles, framework id, failover timeout), run on
/// SUBSCRIBE; an error is sent as an ERROR event on the new stream, which then ends.
pub(super) fn validate_framework(info: &v1::FrameworkInfo) -> Option<String> {
    use v1::framework_info::capability::Type as Capability;
    let multi_role = has_capability(info, Capability::MultiRole);
    if multi_role {
        if info.role.is_some() {
            return Some(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
    } else if !info.roles.is_empty() {
        return Some(
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                .into(),
        );
    }
    if multi_role {
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> = info
            .roles
            .iter()
            .filter(|r| !seen.insert(r.as_str()))
            .map(String::as_str)
            .collect();
        if !duplicates.is_empty() {
            let list: Vec<&str> = duplicates.into_iter().collect();
            return Some(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {} }}",
                list.join(", ")
            ));
        }
        for role in &info.roles {
            if let Some(e) = validate_role(role) {
                return Some(format!("'FrameworkInfo.roles' contains invalid role: {e}"));
            }
        }
    } else if let Some(e) = validate_role(info.role.as_deref().unwrap_or("*")) {
        return Some(format!("'FrameworkInfo.role' is not a valid role: {e}"));
    }
    if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty())
        && let Some(e) = validate_id(&id.value)
    {
        return Some(e);
    }
    let timeout = info.failover_timeout.unwrap_or(0.0);
    if !timeout.is_finite() || timeout * 1e9 > i64::MAX as f64 || timeout * 1e9 < i64::MIN as f64 {
        return Some(format!(
            "The framework failover_timeout ({timeout}) is invalid"
        ));
    }
    None
}

impl Master {
    /// Validates a scheduler call as Mesos's `validation::scheduler::call::validate` does,
    /// before anything else is looked at (HTTP 400 `Failed to validate scheduler::Call: ...`).
    pub fn validate_scheduler_call(call: &scheduler::Call) -> Result<(), Answer> {
        use scheduler::call::Type;
        let fail = |message: &str| {
            Err(Answer::bad(format!(
                "Failed to validate scheduler::Call: {message}"
            )))
        };
        // An enum value protobuf does not know is an unknown field: `type` is then absent.
        let Some(kind) = call.r#type.and_then(|t| Type::try_from(t).ok()) else {
            return fail("Expecting 'type' to be present");
        };
        let id = |f: Option<&v1::FrameworkId>| f.map(|f| f.value.clone()).unwrap_or_default();
        if kind == Type::Subscribe {
            let Some(subscribe) = &call.subscribe else {
                return fail("Expecting 'subscribe' to be present");
            };
            if id(subscribe.framework_info.id.as_ref()) != id(call.framework_id.as_ref()) {
                return fail("'framework_id' differs from 'subscribe.framework_info.id'");
            }
            return Ok(());
        }
        if call.framework_id.is_none() {
            return fail("Expecting 'framework_id' to be present");
        }
        let require = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                fail(&format!("Expecting '{field}' to be present"))
            }
        };
        match kind {
            Type::Accept => require(call.accept.is_some(), "accept"),
            Type::Decline => require(call.decline.is_some(), "decline"),
            Type::AcceptInverseOffers => require(
                call.accept_inverse_offers.is_some(),
                "accept_inverse_offers",
            ),
            Type::DeclineInverseOffers => require(
                call.decline_inverse_offers.is_some(),
                "decline_inverse_offers",
            ),
            Type::Kill => require(call.kill.is_some(), "kill"),
            Type::Shutdown => require(call.shutdown.is_some(), "shutdown"),
            Type::Acknowledge => {
                let Some(ack) = &call.acknowledge else {
                    return fail("Expecting 'acknowledge' to be present");
                };
                if !valid_uuid(&ack.uuid) {
                    return fail("Not a valid UUID");
                }
                Ok(())
            }
            Type::AcknowledgeOperationStatus => {
                let Some(ack) = &call.acknowledge_operation_status else {
                    return fail("Expecting 'acknowledge_operation_status' to be present");
                };
                if !valid_uuid(&ack.uuid) {
                    return fail("Not a valid UUID");
                }
                require(ack.agent_id.is_some(), "agent_id")
            }
            Type::Reconcile => require(call.reconcile.is_some(), "reconcile"),
            Type::ReconcileOperations => {
                require(call.reconcile_operations.is_some(), "reconcile_operations")
            }
            Type::Message => require(call.message.is_some(), "message"),
            Type::Request => require(call.request.is_some(), "request"),
            Type::UpdateFramework => {
                let Some(update) = &call.update_framework else {
                    return fail("Expecting 'update_framework' to be present");
                };
                if id(update.framework_info.id.as_ref()) != id(call.framework_id.as_ref()) {
                    return fail(
                        "'framework_id' differs from 'update_framework.framework_info.id'",
                    );
                }
                Ok(())
            }
            Type::Subscribe | Type::Teardown | Type::Revive | Type::Suppress | Type::Unknown => {
                Ok(())
            }
        }
    }

    /// Mesos's `validation::offer::validate`: the offers of an ACCEPT must be outstanding,
    /// distinct, the framework's own and on one agent.
    pub(super) fn validate_offers(
        &self,
        framework_id: &str,
        ids: &[v1::OfferId],
    ) -> Option<String> {
        if ids.is_empty() {
            return Some("No offers specified".into());
        }
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(id.value.as_str()) {
                return Some(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        for id in ids {
            if !self.offers.contains_key(&id.value) {
                return Some(format!("Offer {} is no longer valid", id.value));
            }
        }
        for id in ids {
            let offer = &self.offers[&id.value];
            if offer.framework_id != framework_id {
                return Some(format!(
                    "Offer {} has invalid framework {} while framework {framework_id} is expected",
                    id.value, offer.framework_id
                ));
            }
        }
        let first = self.offers[&ids[0].value].agent;
        for id in ids {
            let agent = self.offers[&id.value].agent;
            if agent != first {
                return Some(format!(
                    "Aggregated offers must belong to one single agent. Offer {} uses agent {} \
                     and agent {}",
                    id.value,
                    self.agent_id(agent),
                    self.agent_id(first)
                ));
            }
        }
        None
    }

    /// Mesos's `validation::task::validate` for one task of a LAUNCH (the checks that apply
    /// here, in Mesos's order), against the resources still `available` in the offers.
    pub(super) fn validate_task(
        &self,
        framework_id: &str,
        task: &v1::TaskInfo,
        agent: usize,
        available: &[v1::Resource],
    ) -> Result<Vec<v1::Resource>, String> {
        if let Some(e) = validate_id(&task.task_id.value) {
            return Err(e);
        }
        let key = (framework_id.to_string(), task.task_id.value.clone());
        if self.tasks.contains_key(&key) {
            return Err(format!("Task has duplicate ID: {}", task.task_id.value));
        }
        if self.agent_index(&task.agent_id.value) != Some(agent) {
            return Err(format!(
                "Task uses invalid agent {} while agent {} is expected",
                task.agent_id.value,
                self.agent_id(agent)
            ));
        }
        if task.resources.is_empty() {
            return Err("Task uses no resources".into());
        }
        if task.executor.is_some() == task.command.is_some() {
            return Err(
                "Task should have at least one (but not both) of CommandInfo or ExecutorInfo \
                 present"
                    .into(),
            );
        }
        let mut total = Vec::new();
        add_resources(&mut total, &task.resources);
        if let Some(executor) = &task.executor {
            if executor
                .r#type
                .is_some_and(|t| t != v1::executor_info::Type::Custom as i32)
            {
                return Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
            }
            if executor.command.is_none() {
                return Err("'ExecutorInfo.command' must be set".into());
            }
            let key = (framework_id.to_string(), executor.executor_id.value.clone());
            if !self.executors.contains_key(&key) {
                add_resources(&mut total, &executor.resources);
            }
        }
        match subtract_resources(available, &total) {
            Some(rest) => Ok(rest),
            None => Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                resources_text(&total),
                resources_text(available)
            )),
        }
    }
    /// Validates an executor call as the agent's `validateExecutorCall` does, before anything
    /// else is looked at (HTTP 400 `Failed to validate Executor::Call: ...`).
    pub fn validate_executor_call(call: &executor::Call) -> Result<(), Answer> {
        use executor::call::Type;
        let fail = |message: String| {
            Err(Answer::bad(format!(
                "Failed to validate Executor::Call: {message}"
            )))
        };
        let Some(kind) = call.r#type.and_then(|t| Type::try_from(t).ok()) else {
            return fail("Expecting 'type' to be present".into());
        };
        let (executor_id, framework_id) = (&call.executor_id.value, &call.framework_id.value);
        match kind {
            Type::Subscribe if call.subscribe.is_none() => {
                fail("Expecting 'subscribe' to be present".into())
            }
            Type::Update => {
                let Some(update) = &call.update else {
                    return fail("Expecting 'update' to be present".into());
                };
                let status = &update.status;
                let Some(id) = status.uuid.as_deref() else {
                    return fail("Expecting 'uuid' to be present".into());
                };
                if !valid_uuid(id) {
                    return fail("Not a valid UUID".into());
                }
                if let Some(other) = status
                    .executor_id
                    .as_ref()
                    .filter(|x| x.value != *executor_id)
                {
                    return fail(format!(
                        "ExecutorID in Call: {executor_id} does not match ExecutorID in \
                         TaskStatus: {}",
                        other.value
                    ));
                }
                if status.source() != v1::task_status::Source::Executor {
                    return fail(format!(
                        "Received Call from executor {executor_id} of framework {framework_id} \
                         with invalid source, expecting 'SOURCE_EXECUTOR'"
                    ));
                }
                if status.state() == v1::TaskState::TaskStaging {
                    return fail(format!(
                        "Received TASK_STAGING from executor {executor_id} of framework \
                         {framework_id} which is not allowed"
                    ));
                }
                Ok(())
            }
            Type::Message if call.message.is_none() => {
                fail("Expecting 'message' to be present".into())
            }
            _ => Ok(()),
        }
    }
}
