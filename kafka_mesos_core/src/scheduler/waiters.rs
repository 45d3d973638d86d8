//! Commands that wait for brokers: start and stop with a timeout, and the rolling restart,
//! which stops and starts each broker in turn.

use super::broker_log::PendingLog;
use super::{Action, CommandError, CommandId, Response, Scheduler, WaitStatus};
use crate::model::{BrokerId, TaskState};
use crate::time::{Period, Timestamp};

/// What a waiting command waits for.
#[derive(Debug, Clone)]
pub(super) enum WaitKind {
    Start,
    Stop,
    Restart {
        index: usize,
        phase: RestartPhase,
    },
    /// `broker log`: waits for the executor's answer.
    Log(PendingLog),
}

/// Where a roll is with its current broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RestartPhase {
    Stopping,
    Starting,
}

/// A command waiting for its brokers to get somewhere before it is answered.
#[derive(Debug, Clone)]
pub(super) struct Waiter {
    pub(super) command: CommandId,
    pub(super) kind: WaitKind,
    pub(super) brokers: Vec<BrokerId>,
    /// When to give up and reply; `None` for a restart answered at once (timeout zero), whose
    /// roll goes on until it ends, or until a later command takes one of its brokers over.
    pub(super) deadline: Option<Timestamp>,
    /// The reply has been sent (for a restart with no deadline).
    pub(super) answered: bool,
}

impl Scheduler {
    /// A start, stop or restart of a broker ends the scheduled rolls (restarts answered at
    /// once) that include it: the user's latest word about a broker wins, and the roll must
    /// not go on to restart the next broker on its own later.
    pub(super) fn take_over_from_scheduled_rolls(&mut self, ids: &[BrokerId]) {
        self.waiters.retain(|w| {
            w.deadline.is_some()
                || !matches!(w.kind, WaitKind::Restart { .. })
                || !w.brokers.iter().any(|b| ids.contains(b))
        });
    }

    pub(super) fn begin_restart_step(&mut self, id: BrokerId) {
        if let Some(b) = self.brokers.get_mut(&id) {
            b.active = false;
            b.failover.reset();
        }
        self.kill(id, false);
    }

    pub(super) fn wait_or_reply(
        &mut self,
        now: Timestamp,
        command: CommandId,
        kind: WaitKind,
        ids: Vec<BrokerId>,
        timeout: Period,
    ) -> Option<Response> {
        if timeout.is_zero() {
            let brokers = self.listed(&ids);
            return Some(match kind {
                WaitKind::Stop => Response::Stopped {
                    brokers,
                    status: WaitStatus::Scheduled,
                },
                _ => Response::Started {
                    brokers,
                    status: WaitStatus::Scheduled,
                },
            });
        }
        self.waiters.push(Waiter {
            command,
            kind,
            brokers: ids,
            deadline: Some(now + timeout),
            answered: false,
        });
        None
    }

    fn is_running(&self, id: BrokerId) -> bool {
        self.brokers
            .get(&id)
            .and_then(|b| b.task.as_ref())
            .is_some_and(|t| t.state == TaskState::Running)
    }

    fn is_stopped(&self, id: BrokerId) -> bool {
        self.brokers.get(&id).is_none_or(|b| b.task.is_none())
    }

    pub(super) fn check_waiters(&mut self, now: Timestamp) {
        let mut waiters = std::mem::take(&mut self.waiters);
        let mut keep = Vec::with_capacity(waiters.len());
        for mut w in waiters.drain(..) {
            let outcome = self.advance_waiter(now, &mut w);
            if w.deadline.is_none() {
                // A scheduled roll is answered at once and then just goes on until it ends.
                if !w.answered {
                    w.answered = true;
                    let brokers = self.listed(&w.brokers);
                    self.out.push(Action::Reply(
                        w.command,
                        Ok(Response::Restarted {
                            brokers,
                            status: WaitStatus::Scheduled,
                        }),
                    ));
                }
                if outcome.is_none() {
                    keep.push(w);
                }
                continue;
            }
            match outcome {
                Some(reply) => self.out.push(Action::Reply(w.command, reply)),
                None => keep.push(w),
            }
        }
        // Commands handled during this call may have added waiters of their own.
        keep.append(&mut self.waiters);
        self.waiters = keep;
    }

    fn advance_waiter(
        &mut self,
        now: Timestamp,
        w: &mut Waiter,
    ) -> Option<Result<Response, CommandError>> {
        let timed_out = w.deadline.is_some_and(|d| now >= d);
        match &mut w.kind {
            WaitKind::Log(pending) => self.advance_log(w.brokers[0], pending, timed_out),
            WaitKind::Start | WaitKind::Stop => {
                let start = matches!(w.kind, WaitKind::Start);
                let done = w.brokers.iter().all(|i| {
                    if start {
                        self.is_running(*i)
                    } else {
                        self.is_stopped(*i)
                    }
                });
                (done || timed_out).then(|| {
                    let status = if done {
                        WaitStatus::Done
                    } else {
                        WaitStatus::Timeout
                    };
                    let brokers = self.listed(&w.brokers);
                    Ok(if start {
                        Response::Started { brokers, status }
                    } else {
                        Response::Stopped { brokers, status }
                    })
                })
            }
            WaitKind::Restart { index, phase } => loop {
                let Some(&current) = w.brokers.get(*index) else {
                    return Some(Ok(Response::Restarted {
                        brokers: self.listed(&w.brokers),
                        status: WaitStatus::Done,
                    }));
                };
                if !self.brokers.contains_key(&current) {
                    return Some(Err(CommandError::NotFound(vec![current])));
                }
                match phase {
                    RestartPhase::Stopping if self.is_stopped(current) => {
                        let b = self.brokers.get_mut(&current).expect("checked above");
                        b.active = true;
                        b.failover.reset();
                        self.dirty = true;
                        self.revive();
                        *phase = RestartPhase::Starting;
                    }
                    RestartPhase::Starting if self.is_running(current) => {
                        *index += 1;
                        *phase = RestartPhase::Stopping;
                        if let Some(&next) = w.brokers.get(*index) {
                            self.begin_restart_step(next);
                            self.dirty = true;
                        }
                    }
                    _ if timed_out => {
                        let phase = if *phase == RestartPhase::Stopping {
                            "stop"
                        } else {
                            "start"
                        };
                        return Some(Err(CommandError::RestartTimeout {
                            broker: current,
                            phase,
                        }));
                    }
                    _ => return None,
                }
            },
        }
    }
}
