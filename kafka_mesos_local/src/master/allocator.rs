//! Offers: what each agent has free, decline filters, offer rounds.

use super::*;

impl Master {
    /// The free resources of agent `i`: its total less tasks, executors and outstanding offers.
    pub(super) fn free(&self, i: usize) -> Pool {
        let mut pool = Pool::of(&self.config.agents[i]);
        // An unreachable task's agent was lost with its executors: nothing of it is left.
        for t in self.tasks.values().filter(|t| {
            t.agent == i && !is_terminal(t.state) && t.state != v1::TaskState::TaskUnreachable
        }) {
            pool.subtract(&t.info.resources);
        }
        for e in self
            .executors
            .values()
            .filter(|e| e.agent == i && !e.terminating)
        {
            pool.subtract(&e.resources);
        }
        for o in self.offers.values().filter(|o| o.agent == i) {
            pool.subtract(&o.resources);
        }
        pool
    }

    pub(super) fn filter(
        &mut self,
        framework_id: &str,
        agent: usize,
        refuse_seconds: f64,
        now: Instant,
    ) {
        if let Some(f) = self.frameworks.get_mut(framework_id)
            && refuse_seconds > 0.0
            && let Ok(d) = Duration::try_from_secs_f64(refuse_seconds.min(365.0 * 86400.0))
        {
            f.filters.insert(agent, now + d);
        }
    }

    /// Offers every agent's free resources to the frameworks that want offers, one offer per
    /// agent, skipping agents a framework has filtered.
    pub(super) fn allocate(&mut self, now: Instant) -> Vec<Effect> {
        self.last_allocation = Some(now);
        let mut effects = Vec::new();
        let frameworks: Vec<(String, StreamId, String)> = self
            .frameworks
            .iter()
            .filter(|(_, f)| !f.suppressed)
            .filter_map(|(id, f)| {
                let role = f
                    .info
                    .roles
                    .first()
                    .cloned()
                    .unwrap_or_else(|| f.info.role.clone().unwrap_or_else(|| "*".into()));
                f.stream.clone().map(|s| (id.clone(), s, role))
            })
            .collect();
        for (framework_id, stream, role) in frameworks {
            let mut offers = Vec::new();
            for agent in (0..self.config.agents.len()).filter(|a| self.agents_up[*a]) {
                let filtered = self
                    .frameworks
                    .get(&framework_id)
                    .and_then(|f| f.filters.get(&agent))
                    .is_some_and(|until| *until > now);
                if filtered {
                    continue;
                }
                let pool = self.free(agent);
                if pool.is_empty() {
                    continue;
                }
                // Offer ids count from 0, as Mesos's (`<master id>-O0`, `-O1`, ...).
                let offer_id = format!("{}-O{}", self.id, self.next_offer);
                self.next_offer += 1;
                let resources = pool.resources(&role);
                let a = &self.config.agents[agent];
                let address = &self.config.address;
                offers.push(v1::Offer {
                    id: v1::OfferId {
                        value: offer_id.clone(),
                    },
                    framework_id: v1::FrameworkId {
                        value: framework_id.clone(),
                    },
                    agent_id: v1::AgentId {
                        value: self.agent_id(agent),
                    },
                    hostname: a.hostname.clone(),
                    url: Some(v1::Url {
                        scheme: "http".into(),
                        address: v1::Address {
                            hostname: Some(address.host().to_string()),
                            ip: Some(address.host().to_string()),
                            port: i32::from(address.port()),
                        },
                        path: Some(Self::agent_process(agent).path()),
                        ..Default::default()
                    }),
                    resources: resources.clone(),
                    attributes: self.agent_info(agent).attributes,
                    // The framework's executors running on the agent.
                    executor_ids: self
                        .executors
                        .iter()
                        .filter(|((f, _), e)| *f == framework_id && e.agent == agent)
                        .map(|((_, id), _)| v1::ExecutorId { value: id.clone() })
                        .collect(),
                    allocation_info: Some(v1::resource::AllocationInfo {
                        role: Some(role.clone()),
                    }),
                    ..Default::default()
                });
                self.offers.insert(
                    offer_id,
                    OutstandingOffer {
                        framework_id: framework_id.clone(),
                        agent,
                        resources,
                    },
                );
            }
            if !offers.is_empty() {
                let mut event = Self::event(scheduler::event::Type::Offers);
                event.offers = Some(scheduler::event::Offers { offers });
                effects.push(Effect::SchedulerEvent(stream, Box::new(event)));
            }
        }
        effects
    }
}
