//! Fleet inventory: what agents report, one session per node, and the background work
//! that keeps it current (heartbeats of live sessions, expiry of silent nodes, pruning of
//! old history).

mod janitor;
mod model;
mod session;
mod sessions;

pub use janitor::{spawn_janitor, JanitorSettings};
pub use model::{
    bounded_text, name, Agent, FullInventory, Image, InventoryDelta, Limits, NodeKey, NodeSoftware,
    Workload, WorkloadKey, MAX_LAYERS_PER_IMAGE, MAX_NAMES_PER_IMAGE, MAX_NAME_LEN, MAX_TEXT_LEN,
};
pub use session::{AgentMessage, AgentSession, SessionSettings, STAGING_DEADLINE};
pub use sessions::{LiveSessions, Registration};
