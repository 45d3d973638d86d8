//! How the scheduler carries out user commands (their types are in `command`): all or
//! nothing, replying at once or handing the wait to a waiter.

use super::waiters::{RestartPhase, WaitKind, Waiter};
use super::{Action, Command, CommandError, CommandId, Response, Scheduler};
use crate::expr::{BrokerExpr, IdItem};
use crate::model::{Broker, BrokerId, TaskState};
use crate::time::Timestamp;

impl Scheduler {
    pub(super) fn on_command(&mut self, now: Timestamp, id: CommandId, command: Command) {
        let snapshot = self.brokers.clone();
        let result = self.apply_command(now, id, command);
        match result {
            Ok(Some(response)) => self.out.push(Action::Reply(id, Ok(response))),
            Ok(None) => {}
            Err(e) => {
                // All or nothing: a refused command leaves no trace.
                self.brokers = snapshot;
                self.out
                    .retain(|a| !matches!(a, Action::Kill { .. } | Action::Revive));
                self.out.push(Action::Reply(id, Err(e)));
            }
        }
    }

    fn expand_existing(&self, expr: &BrokerExpr) -> Result<Vec<BrokerId>, CommandError> {
        let ids = expr.expand(&self.brokers);
        if ids.is_empty() {
            return Err(CommandError::NoMatch(expr.to_string()));
        }
        let missing: Vec<BrokerId> = ids
            .iter()
            .copied()
            .filter(|i| !self.brokers.contains_key(i))
            .collect();
        if !missing.is_empty() {
            return Err(CommandError::NotFound(missing));
        }
        Ok(ids)
    }

    fn expand_new(&self, expr: &BrokerExpr) -> Result<Vec<BrokerId>, CommandError> {
        if expr.filter().is_some() || expr.items().contains(&IdItem::All) {
            return Err(CommandError::InvalidExpr(format!(
                "{expr:?} selects existing brokers; new brokers are named by ids (0, 0,1, 0..2)",
                expr = expr.to_string()
            )));
        }
        let ids = expr.expand(&self.brokers);
        let existing: Vec<BrokerId> = ids
            .iter()
            .copied()
            .filter(|i| self.brokers.contains_key(i))
            .collect();
        if !existing.is_empty() {
            return Err(CommandError::AlreadyExists(existing));
        }
        Ok(ids)
    }

    /// The existing brokers `expr` selects; all when absent.
    fn selected(&self, expr: Option<&BrokerExpr>) -> Vec<BrokerId> {
        match expr {
            Some(e) => e
                .expand(&self.brokers)
                .into_iter()
                .filter(|i| self.brokers.contains_key(i))
                .collect(),
            None => self.brokers.keys().copied().collect(),
        }
    }

    pub(super) fn listed(&self, ids: &[BrokerId]) -> Vec<Broker> {
        ids.iter()
            .filter_map(|i| self.brokers.get(i).cloned())
            .collect()
    }

    fn apply_command(
        &mut self,
        now: Timestamp,
        id: CommandId,
        command: Command,
    ) -> Result<Option<Response>, CommandError> {
        match command {
            Command::List { expr } => {
                let ids = self.selected(expr.as_ref());
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Overview => Ok(Some(Response::Overview(Box::new(self.overview(now))))),
            Command::Why { expr } => {
                let ids = self.selected(expr.as_ref());
                let why = ids.iter().filter_map(|i| self.why(*i, now)).collect();
                Ok(Some(Response::Why(why)))
            }
            Command::Add { expr, settings } => {
                let ids = self.expand_new(&expr)?;
                let spec = settings.apply(&Default::default())?;
                for i in &ids {
                    self.brokers.insert(*i, Broker::with_spec(*i, spec.clone()));
                }
                self.dirty = true;
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Clone { expr, source } => {
                let spec = self
                    .brokers
                    .get(&source)
                    .ok_or(CommandError::NotFound(vec![source]))?
                    .spec
                    .clone();
                let ids = self.expand_new(&expr)?;
                for i in &ids {
                    self.brokers.insert(*i, Broker::with_spec(*i, spec.clone()));
                }
                self.dirty = true;
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Update { expr, settings } => {
                let ids = self.expand_existing(&expr)?;
                let mut updated = Vec::with_capacity(ids.len());
                for i in &ids {
                    let b = &self.brokers[i];
                    updated.push(settings.apply(&b.spec)?);
                }
                let mut changed_candidate = false;
                for (i, spec) in ids.iter().zip(updated) {
                    let b = self.brokers.get_mut(i).expect("expanded ids exist");
                    if b.spec != spec {
                        if b.active || b.task.is_some() {
                            b.needs_restart = b.task.is_some() || b.needs_restart;
                        }
                        changed_candidate |= b.should_start();
                        b.spec = spec;
                    }
                }
                if changed_candidate {
                    self.revive();
                }
                self.dirty = true;
                Ok(Some(Response::Brokers(self.listed(&ids))))
            }
            Command::Remove { expr } => {
                let ids = self.expand_existing(&expr)?;
                let active: Vec<BrokerId> = ids
                    .iter()
                    .copied()
                    .filter(|i| self.brokers[i].active)
                    .collect();
                if !active.is_empty() {
                    return Err(CommandError::Active(active));
                }
                let busy: Vec<BrokerId> = ids
                    .iter()
                    .copied()
                    .filter(|i| self.brokers[i].task.is_some())
                    .collect();
                if !busy.is_empty() {
                    return Err(CommandError::HasTask(busy));
                }
                for i in &ids {
                    self.brokers.remove(i);
                    self.explanations.remove(i);
                }
                self.dirty = true;
                Ok(Some(Response::Removed(ids)))
            }
            Command::Start { expr, timeout } => {
                let ids = self.expand_existing(&expr)?;
                self.take_over_from_scheduled_rolls(&ids);
                for i in &ids {
                    let b = self.brokers.get_mut(i).expect("expanded ids exist");
                    b.active = true;
                    b.failover.reset();
                }
                self.dirty = true;
                self.revive();
                Ok(self.wait_or_reply(now, id, WaitKind::Start, ids, timeout))
            }
            Command::Stop {
                expr,
                timeout,
                force,
            } => {
                let ids = self.expand_existing(&expr)?;
                self.take_over_from_scheduled_rolls(&ids);
                for i in &ids {
                    let b = self.brokers.get_mut(i).expect("expanded ids exist");
                    b.active = false;
                    b.failover.reset();
                    let killing = b
                        .task
                        .as_ref()
                        .is_some_and(|t| t.state == TaskState::Stopping);
                    if !killing || force {
                        self.kill(*i, force);
                    }
                }
                self.dirty = true;
                Ok(self.wait_or_reply(now, id, WaitKind::Stop, ids, timeout))
            }
            Command::Log {
                broker,
                name,
                lines,
                timeout,
            } => {
                self.request_log(now, id, broker, name, lines, timeout)?;
                Ok(None)
            }
            Command::Restart { expr, timeout } => {
                let ids = self.expand_existing(&expr)?;
                self.take_over_from_scheduled_rolls(&ids);
                self.begin_restart_step(ids[0]);
                self.dirty = true;
                // With no deadline the reply comes from the waiter, once the roll's first step
                // is taken, so that it shows the state persisted with it.
                self.waiters.push(Waiter {
                    command: id,
                    kind: WaitKind::Restart {
                        index: 0,
                        phase: RestartPhase::Stopping,
                    },
                    brokers: ids,
                    deadline: (!timeout.is_zero()).then(|| now + timeout),
                    answered: false,
                });
                Ok(None)
            }
        }
    }
}
