//! Whether the agent is ready: what `/readyz` answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The conditions for readiness, set by the parts of the agent that meet them; clones
/// share the same state.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    inventory_listed: AtomicBool,
    collector_connected: AtomicBool,
}

impl Readiness {
    /// Not ready: nothing listed, not connected.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first inventory was listed from containerd. Stays set across reconnects:
    /// the agent still knows the node's images while containerd restarts.
    pub fn set_inventory_listed(&self) {
        self.state.inventory_listed.store(true, Ordering::Release);
    }

    /// Whether the agent has a session with the collector now.
    pub fn set_collector_connected(&self, connected: bool) {
        self.state
            .collector_connected
            .store(connected, Ordering::Release);
    }

    /// Ready when the first inventory was listed and the collector is connected.
    pub fn is_ready(&self) -> bool {
        self.missing().is_empty()
    }

    /// What readiness still waits for, for `/readyz`'s answer.
    pub(super) fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.state.inventory_listed.load(Ordering::Acquire) {
            missing.push("first inventory from containerd");
        }
        if !self.state.collector_connected.load(Ordering::Acquire) {
            missing.push("connection to the collector");
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_inventory_and_collector() {
        let readiness = Readiness::new();
        let shared = readiness.clone();
        assert!(!readiness.is_ready());
        shared.set_inventory_listed();
        assert!(!readiness.is_ready());
        shared.set_collector_connected(true);
        assert!(readiness.is_ready());
        shared.set_collector_connected(false);
        assert_eq!(readiness.missing(), ["connection to the collector"]);
    }
}
