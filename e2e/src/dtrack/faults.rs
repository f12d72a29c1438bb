//! Injected failures: the next requests (optionally only those under a path) get an error
//! status, a body of the test's choosing, or an answer that takes its time.

use std::sync::Arc;
use std::time::Duration;

/// What a fault does to the request it hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status without handling the request (nothing changes on the
    /// server). 429 answers carry `Retry-After: 1`.
    Status(u16),
    /// Answer with this status and this body as `application/json`, without handling
    /// the request: a malformed, truncated or oversized answer.
    Body { status: u16, body: Arc<[u8]> },
    /// Wait, then handle the request; a client that gives up first changes nothing.
    Delay(Duration),
    /// Handle the request at once, then wait before answering: a client that times out
    /// has still had its effect, like a Dependency-Track whose answer got lost.
    DelayResponse(Duration),
}

/// A fault for the next `times` requests whose path starts with `path_prefix`.
///
/// ```
/// use std::time::Duration;
/// use nodebom_e2e::dtrack::Fault;
///
/// let outage = Fault::status(503).times(3).on_path("/api/v1/bom");
/// let slow = Fault::delay(Duration::from_secs(2));
/// let garbled = Fault::body(200, "[{\"component\":").on_path("/api/v1/finding/project/");
/// # let _ = (outage, slow, garbled);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub times: usize,
    pub path_prefix: Option<String>,
}

impl Fault {
    /// The next request gets `status` (e.g. 500, 502, 503).
    pub fn status(status: u16) -> Fault {
        Fault::new(FaultKind::Status(status))
    }

    /// The next request gets 500 Internal Server Error.
    pub fn server_error() -> Fault {
        Fault::status(500)
    }

    /// The next request gets 429 Too Many Requests.
    pub fn too_many_requests() -> Fault {
        Fault::status(429)
    }

    /// The next request gets 401 whatever its key, like a revoked key.
    pub fn unauthorized() -> Fault {
        Fault::status(401)
    }

    /// The next request gets `status` with `body` as its JSON answer, e.g.
    /// `Fault::body(200, "not json")`.
    pub fn body(status: u16, body: impl Into<Vec<u8>>) -> Fault {
        Fault::new(FaultKind::Body {
            status,
            body: body.into().into(),
        })
    }

    /// The next request is handled after `delay`.
    pub fn delay(delay: Duration) -> Fault {
        Fault::new(FaultKind::Delay(delay))
    }

    /// The next request is handled at once and answered after `delay`.
    pub fn delay_response(delay: Duration) -> Fault {
        Fault::new(FaultKind::DelayResponse(delay))
    }

    /// Hit the next `times` matching requests instead of one.
    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    /// Hit only requests whose path (as sent, e.g. `/api/v1/bom`) starts with `prefix`.
    pub fn on_path(mut self, prefix: impl Into<String>) -> Fault {
        self.path_prefix = Some(prefix.into());
        self
    }

    fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            times: 1,
            path_prefix: None,
        }
    }

    fn matches(&self, path: &str) -> bool {
        self.times > 0
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// Faults in the order they were injected; a request takes the first that matches.
#[derive(Default)]
pub(crate) struct FaultQueue {
    faults: Vec<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    /// Requests the queued faults will still hit.
    pub(crate) fn remaining(&self) -> usize {
        self.faults.iter().map(|f| f.times).sum()
    }

    /// Consumes one hit of the first fault matching `path`.
    pub(crate) fn take(&mut self, path: &str) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| f.matches(path))?;
        let fault = self.faults.get_mut(index)?;
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_hit_matching_paths_in_order_and_run_out() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::server_error().times(2).on_path("/api/v1/bom"));
        queue.push(Fault::too_many_requests());
        assert_eq!(queue.remaining(), 3);

        assert_eq!(
            queue.take("/api/v1/project/lookup"),
            Some(FaultKind::Status(429))
        );
        assert_eq!(queue.take("/api/v1/project/lookup"), None);
        assert_eq!(queue.take("/api/v1/bom"), Some(FaultKind::Status(500)));
        assert_eq!(queue.take("/api/v1/bom"), Some(FaultKind::Status(500)));
        assert_eq!(queue.take("/api/v1/bom"), None);
        assert_eq!(queue.remaining(), 0);

        queue.push(Fault::body(200, "not json"));
        assert_eq!(
            queue.take("/api/v1/finding/project/x"),
            Some(FaultKind::Body {
                status: 200,
                body: Arc::from(&b"not json"[..])
            })
        );
    }
}
