//! The sessions open on this collector process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::NodeKey;
use crate::store::Session;

/// Sessions open on this process, so that one background task can send the heartbeats
/// of all of them in one write, and an upload can wake the session of its node.
#[derive(Debug, Default)]
pub struct LiveSessions {
    open: Mutex<HashMap<NodeKey, Entry>>,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    wake: Arc<Notify>,
}

/// Keeps a session registered until dropped.
#[derive(Debug)]
pub struct Registration {
    sessions: Arc<LiveSessions>,
    session: Session,
    wake: Arc<Notify>,
}

impl Registration {
    /// Notified when an upload of this node finished, so the session can hand out more
    /// builds.
    pub fn wake(&self) -> &Notify {
        &self.wake
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self
            .sessions
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A newer session of the node may have replaced this one already.
        if open
            .get(&self.session.node)
            .is_some_and(|entry| entry.session.generation == self.session.generation)
        {
            open.remove(&self.session.node);
        }
    }
}

impl LiveSessions {
    /// Registers `session`, replacing an older one of the same node.
    pub fn register(self: &Arc<Self>, session: &Session) -> Registration {
        let wake = Arc::new(Notify::new());
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                session.node.clone(),
                Entry {
                    session: session.clone(),
                    wake: Arc::clone(&wake),
                },
            );
        Registration {
            sessions: Arc::clone(self),
            session: session.clone(),
            wake,
        }
    }

    /// Wakes the open session of `node`, if any.
    pub fn wake(&self, node: &NodeKey) {
        if let Some(entry) = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
        {
            entry.wake.notify_one();
        }
    }

    /// The open sessions.
    pub fn snapshot(&self) -> Vec<Session> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|entry| entry.session.clone())
            .collect()
    }

    /// Number of open sessions of each cluster that has one.
    pub fn count_by_cluster(&self) -> BTreeMap<String, usize> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for node in open.keys() {
            *counts.entry(node.cluster.clone()).or_default() += 1;
        }
        counts
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(generation: u64) -> Session {
        session_of("prod", "worker-1", generation)
    }

    fn session_of(cluster: &str, node: &str, generation: u64) -> Session {
        Session {
            node: NodeKey::new(cluster, node).unwrap(),
            node_id: 1,
            generation,
        }
    }

    #[test]
    fn sessions_are_counted_by_cluster_once_per_node() {
        let sessions = Arc::new(LiveSessions::default());
        let _a1 = sessions.register(&session_of("prod-a", "a1", 1));
        let _a1_again = sessions.register(&session_of("prod-a", "a1", 2));
        let _a2 = sessions.register(&session_of("prod-a", "a2", 1));
        let b1 = sessions.register(&session_of("prod-b", "b1", 1));
        assert_eq!(
            sessions.count_by_cluster(),
            BTreeMap::from([("prod-a".to_owned(), 2), ("prod-b".to_owned(), 1)])
        );
        drop(b1);
        assert_eq!(
            sessions.count_by_cluster(),
            BTreeMap::from([("prod-a".to_owned(), 2)])
        );
    }

    #[test]
    fn dropping_a_replaced_session_keeps_the_newer_one() {
        let sessions = Arc::new(LiveSessions::default());
        let old = sessions.register(&session(1));
        let new = sessions.register(&session(2));
        drop(old);
        assert_eq!(sessions.snapshot(), vec![session(2)]);
        drop(new);
        assert!(sessions.is_empty());
    }
}
