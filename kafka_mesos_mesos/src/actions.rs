//! The scheduler's [`Action`]s as Mesos calls: a pure mapping, beside the builders of
//! [`calls`].
//!
//! The core decides in domain terms; [`Effects::of`] turns each action into what the driver
//! must do: persist, send a call, answer a command, or feed an input back (an offer that was
//! already gone by the time it was used comes back as TASK_LOST, as Mesos itself answers an
//! ACCEPT of an invalid offer). Offers are taken out of the [`OfferBook`] as they are used or
//! declined, so each is answered once.
//!
//! ```
//! use kafka_mesos_core::model::OfferId;
//! use kafka_mesos_core::scheduler::Action;
//! use kafka_mesos_core::time::Period;
//! use kafka_mesos_mesos::actions::{Effect, Effects};
//! use kafka_mesos_mesos::client::SchedulerEvent;
//! use kafka_mesos_mesos::convert::{ExecutorTemplate, OfferBook};
//! use kafka_mesos_mesos::proto::v1;
//!
//! let framework = v1::FrameworkId { value: "fw-1".into() };
//! let template = ExecutorTemplate::default();
//! let effects = Effects::new(&framework, "*", &template);
//! let mut book = OfferBook::new();
//! let offer = v1::Offer { id: v1::OfferId { value: "o1".into() }, ..Default::default() };
//! book.inputs(&SchedulerEvent::Event(Box::new(v1::scheduler::Event {
//!     r#type: Some(v1::scheduler::event::Type::Offers as i32),
//!     offers: Some(v1::scheduler::event::Offers { offers: vec![offer] }),
//!     ..Default::default()
//! })));
//! let decline = Action::Decline { offers: vec![OfferId("o1".into())], refuse_for: Period::from_secs(5) };
//! let calls = effects.of(decline.clone(), &mut book);
//! let [Effect::Call(call)] = calls.as_slice() else { panic!() };
//! assert_eq!(call.r#type(), v1::scheduler::call::Type::Decline);
//! assert_eq!(call.decline.as_ref().unwrap().filters.as_ref().unwrap().refuse_seconds, Some(5.0));
//! assert!(effects.of(decline, &mut book).is_empty(), "an offer is answered once");
//! ```

use std::time::Duration;

use kafka_mesos_core::model::{AgentId, TaskId};
use kafka_mesos_core::scheduler::{
    Action, CommandError, CommandId, Input, Response, TaskUpdate, UpdateState,
};

use crate::calls;
use crate::convert::{self, ExecutorTemplate, OfferBook};
use crate::proto::v1;

/// One thing the driver does for an action, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Save the state ([`Scheduler::snapshot`](kafka_mesos_core::scheduler::Scheduler::snapshot));
    /// nothing after it may happen before the save succeeded.
    Persist,
    /// Send a call to the master.
    Call(Box<v1::scheduler::Call>),
    /// Answer a command.
    Reply(CommandId, Result<Response, CommandError>),
    /// Hand an input back to the scheduler (what Mesos would have reported).
    Feedback(Box<Input>),
}

/// The mapping, for one framework.
#[derive(Debug, Clone, Copy)]
pub struct Effects<'a> {
    framework_id: &'a v1::FrameworkId,
    role: &'a str,
    template: &'a ExecutorTemplate,
}

impl<'a> Effects<'a> {
    /// Calls for the framework `framework_id` in `role`, launching executors as `template`
    /// says.
    pub fn new(
        framework_id: &'a v1::FrameworkId,
        role: &'a str,
        template: &'a ExecutorTemplate,
    ) -> Self {
        Effects {
            framework_id,
            role,
            template,
        }
    }

    /// What to do for `action`. Offers used or declined are taken out of `offers`.
    pub fn of(&self, action: Action, offers: &mut OfferBook) -> Vec<Effect> {
        match action {
            Action::Persist => vec![Effect::Persist],
            Action::Reply(id, result) => vec![Effect::Reply(id, result)],
            Action::Launch {
                offer,
                agent,
                tasks,
                ..
            } => {
                let lost = |reason: String| {
                    tasks
                        .iter()
                        .map(|t| lost_update(&t.task_id, Some(&agent), &reason))
                        .map(|i| Effect::Feedback(Box::new(i)))
                        .collect()
                };
                let Some(mesos_offer) = offers.take(&offer) else {
                    return lost(format!(
                        "offer {} is no longer available (rescinded or already used)",
                        offer.as_str()
                    ));
                };
                let infos: Result<Vec<_>, _> = tasks
                    .iter()
                    .map(|t| convert::task_info(&mesos_offer, t, self.template))
                    .collect();
                match infos {
                    // What the task leaves of the offer comes back in the next offer round
                    // (no filter), for the brokers still waiting: Mesos's default filter of 5 s
                    // would let each agent start one broker per 5 s.
                    Ok(infos) => vec![Effect::Call(Box::new(calls::accept(
                        self.framework_id,
                        std::slice::from_ref(&mesos_offer.id),
                        vec![calls::launch(infos)],
                        Some(Duration::ZERO),
                    )))],
                    Err(e) => {
                        // The offer stays unused: give it back at once rather than hold it.
                        let mut out: Vec<Effect> = lost(format!("cannot build the task: {e}"));
                        out.push(Effect::Call(Box::new(calls::decline(
                            self.framework_id,
                            std::slice::from_ref(&mesos_offer.id),
                            None,
                        ))));
                        out
                    }
                }
            }
            Action::Decline {
                offers: ids,
                refuse_for,
            } => {
                let ids: Vec<v1::OfferId> = ids
                    .iter()
                    .filter_map(|id| offers.take(id))
                    .map(|o| o.id)
                    .collect();
                if ids.is_empty() {
                    return Vec::new();
                }
                let refuse = Duration::from_millis(refuse_for.millis());
                vec![Effect::Call(Box::new(calls::decline(
                    self.framework_id,
                    &ids,
                    Some(refuse),
                )))]
            }
            Action::Kill { task, agent, force } => vec![Effect::Call(Box::new(calls::kill(
                self.framework_id,
                task.as_str(),
                agent.as_ref().map(AgentId::as_str),
                force.then_some(Duration::ZERO),
            )))],
            Action::Reconcile(tasks) => {
                let tasks: Vec<(String, Option<String>)> = tasks
                    .into_iter()
                    .map(|(t, a)| (t.0, a.map(|a| a.0)))
                    .collect();
                vec![Effect::Call(Box::new(calls::reconcile(
                    self.framework_id,
                    &tasks,
                )))]
            }
            Action::Acknowledge { task, agent, uuid } => match agent {
                Some(agent) => vec![Effect::Call(Box::new(calls::acknowledge(
                    self.framework_id,
                    agent.as_str(),
                    task.as_str(),
                    &uuid,
                )))],
                // Only updates from an agent carry a uuid, and those name their agent; an
                // update without one needs no acknowledgement.
                None => Vec::new(),
            },
            Action::Suppress => vec![Effect::Call(Box::new(calls::suppress(
                self.framework_id,
                &[self.role.to_string()],
            )))],
            Action::Revive => vec![Effect::Call(Box::new(calls::revive(
                self.framework_id,
                &[self.role.to_string()],
            )))],
            Action::SendMessage {
                agent,
                executor,
                data,
            } => vec![Effect::Call(Box::new(calls::message(
                self.framework_id,
                agent.as_str(),
                executor.as_str(),
                data,
            )))],
        }
    }
}

/// The TASK_LOST (reason REASON_INVALID_OFFERS) Mesos sends for a task launched on an offer it
/// no longer has.
fn lost_update(task: &TaskId, agent: Option<&AgentId>, message: &str) -> Input {
    Input::TaskStatus(TaskUpdate {
        task_id: task.clone(),
        agent_id: agent.cloned(),
        state: UpdateState::Lost,
        reason: Some(
            v1::task_status::Reason::InvalidOffers
                .as_str_name()
                .to_string(),
        ),
        message: Some(message.to_string()),
        data: None,
        uuid: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_mesos_core::model::OfferId;
    use kafka_mesos_core::range::Range;
    use kafka_mesos_core::scheduler::{Command, Config, Scheduler};
    use kafka_mesos_core::time::{Period, Timestamp};
    use v1::scheduler::call::Type;

    fn framework() -> v1::FrameworkId {
        v1::FrameworkId {
            value: "fw-1".into(),
        }
    }

    fn mesos_offer(id: &str) -> v1::Offer {
        v1::Offer {
            id: v1::OfferId { value: id.into() },
            framework_id: framework(),
            agent_id: v1::AgentId {
                value: "agent-1".into(),
            },
            hostname: "slave0".into(),
            resources: vec![
                v1::Resource::scalar("cpus", 4.0),
                v1::Resource::scalar("mem", 8192.0),
                v1::Resource::ranges("ports", Range::new(31000, 31009)),
            ],
            ..Default::default()
        }
    }

    fn offers_event(offers: Vec<v1::Offer>) -> crate::client::SchedulerEvent {
        crate::client::SchedulerEvent::Event(Box::new(v1::scheduler::Event {
            r#type: Some(v1::scheduler::event::Type::Offers as i32),
            offers: Some(v1::scheduler::event::Offers { offers }),
            ..Default::default()
        }))
    }

    /// A scheduler with broker 0 started, and the actions for one offer.
    fn launch_actions(book: &mut OfferBook) -> Vec<Action> {
        let mut s = Scheduler::new(
            Config::default(),
            kafka_mesos_core::scheduler::Snapshot::default(),
            1,
        );
        let now = Timestamp(1_700_000_000_000);
        s.handle(
            now,
            Input::Subscribed {
                framework_id: kafka_mesos_core::model::FrameworkId("fw-1".into()),
            },
        );
        let add = Command::Add {
            expr: "0".parse().unwrap(),
            settings: Default::default(),
        };
        s.handle(now, Input::Command(CommandId(1), add));
        let start = Command::Start {
            expr: "0".parse().unwrap(),
            timeout: Period::ZERO,
        };
        s.handle(now, Input::Command(CommandId(2), start));
        let inputs = book.inputs(&offers_event(vec![mesos_offer("o1")]));
        inputs.into_iter().flat_map(|i| s.handle(now, i)).collect()
    }

    #[test]
    fn a_launch_accepts_its_offer_once() {
        let fw = framework();
        let template = ExecutorTemplate::default();
        let effects = Effects::new(&fw, "*", &template);
        let mut book = OfferBook::new();
        let actions = launch_actions(&mut book);
        let launch = actions
            .iter()
            .find(|a| matches!(a, Action::Launch { .. }))
            .cloned()
            .expect("a launch");
        let out = effects.of(launch.clone(), &mut book);
        let [Effect::Call(call)] = out.as_slice() else {
            panic!("one call, got {out:?}")
        };
        assert_eq!(call.r#type(), Type::Accept);
        let accept = call.accept.as_ref().unwrap();
        assert_eq!(accept.offer_ids[0].value, "o1");
        // The rest of the agent is offered again in the next round, not filtered for 5 s.
        assert_eq!(accept.filters.as_ref().unwrap().refuse_seconds, Some(0.0));
        let infos = &accept.operations[0].launch.as_ref().unwrap().task_infos;
        assert_eq!(infos.len(), 1);
        assert!(infos[0].task_id.value.starts_with("kafka-0-"));
        // The offer is used: the same launch again finds it gone and reports the task lost.
        let again = effects.of(launch, &mut book);
        let [Effect::Feedback(input)] = again.as_slice() else {
            panic!("a lost update, got {again:?}")
        };
        let Input::TaskStatus(update) = input.as_ref() else {
            panic!("a lost update, got {again:?}")
        };
        assert_eq!(update.state, UpdateState::Lost);
        assert_eq!(update.reason.as_deref(), Some("REASON_INVALID_OFFERS"));
    }

    #[test]
    fn declines_skip_offers_already_answered() {
        let fw = framework();
        let template = ExecutorTemplate::default();
        let effects = Effects::new(&fw, "*", &template);
        let mut book = OfferBook::new();
        book.inputs(&offers_event(vec![mesos_offer("o1"), mesos_offer("o2")]));
        let decline = |ids: &[&str]| Action::Decline {
            offers: ids.iter().map(|i| OfferId((*i).into())).collect(),
            refuse_for: Period::from_secs(30),
        };
        let out = effects.of(decline(&["o1"]), &mut book);
        let [Effect::Call(call)] = out.as_slice() else {
            panic!("{out:?}")
        };
        let d = call.decline.as_ref().unwrap();
        assert_eq!(d.offer_ids.len(), 1);
        assert_eq!(d.filters.as_ref().unwrap().refuse_seconds, Some(30.0));
        // o1 was answered; only o2 is declined now, and nothing when both are gone.
        let out = effects.of(decline(&["o1", "o2"]), &mut book);
        let [Effect::Call(call)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(call.decline.as_ref().unwrap().offer_ids[0].value, "o2");
        assert!(effects.of(decline(&["o1", "o2"]), &mut book).is_empty());
    }

    #[test]
    fn kills_reconciles_acknowledgements_and_offer_flow() {
        let fw = framework();
        let template = ExecutorTemplate::default();
        let effects = Effects::new(&fw, "kafka", &template);
        let mut book = OfferBook::new();
        let one = |a: Action, book: &mut OfferBook| {
            let out = effects.of(a, book);
            match out.as_slice() {
                [Effect::Call(c)] => c.clone(),
                other => panic!("one call expected, got {other:?}"),
            }
        };
        let task = TaskId("kafka-0-x".into());
        let agent = AgentId("agent-1".into());
        let kill = one(
            Action::Kill {
                task: task.clone(),
                agent: Some(agent.clone()),
                force: true,
            },
            &mut book,
        );
        let k = kill.kill.unwrap();
        assert_eq!(k.task_id.value, "kafka-0-x");
        assert_eq!(
            k.kill_policy.unwrap().grace_period.unwrap().nanoseconds,
            0,
            "a forced kill has no grace period"
        );
        let kill = one(
            Action::Kill {
                task: task.clone(),
                agent: None,
                force: false,
            },
            &mut book,
        );
        assert!(kill.kill.unwrap().kill_policy.is_none());
        let rec = one(Action::Reconcile(vec![]), &mut book);
        assert!(rec.reconcile.unwrap().tasks.is_empty(), "implicit");
        let ack = one(
            Action::Acknowledge {
                task: task.clone(),
                agent: Some(agent),
                uuid: vec![1, 2, 3],
            },
            &mut book,
        );
        assert_eq!(ack.acknowledge.unwrap().uuid, vec![1, 2, 3]);
        let no_agent = Action::Acknowledge {
            task,
            agent: None,
            uuid: vec![1],
        };
        assert!(effects.of(no_agent, &mut book).is_empty());
        assert_eq!(
            one(Action::Suppress, &mut book).suppress.unwrap().roles,
            vec!["kafka"]
        );
        assert_eq!(
            one(Action::Revive, &mut book).revive.unwrap().roles,
            vec!["kafka"]
        );
        let message = one(
            Action::SendMessage {
                agent: AgentId("S1".into()),
                executor: kafka_mesos_core::model::ExecutorId("kafka-0-e".into()),
                data: b"log,1,100,stdout".to_vec(),
            },
            &mut book,
        );
        let m = message.message.unwrap();
        assert_eq!(
            (
                m.agent_id.value.as_str(),
                m.executor_id.value.as_str(),
                m.data.as_slice()
            ),
            ("S1", "kafka-0-e", b"log,1,100,stdout".as_slice())
        );
    }
}
