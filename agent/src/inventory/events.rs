//! The containerd events the inventory follows, and their payloads.

use crate::containerd::api::events::{ContainerCreate, ContainerDelete, ContainerUpdate};
use crate::containerd::api::images::{ImageCreate, ImageDelete, ImageUpdate};
use crate::containerd::api::types::Envelope;
use prost::Message;

/// Topics that change the inventory. Image events carry only the name and container
/// events (mostly) only the id, so each is followed by a `Get` of the record.
const TOPICS: [&str; 6] = [
    "/images/create",
    "/images/update",
    "/images/delete",
    "/containers/create",
    "/containers/update",
    "/containers/delete",
];

/// What an event says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Event {
    /// The image record with this name was created or updated.
    ImageChanged(String),
    ImageDeleted(String),
    /// The container record with this id was created or updated.
    ContainerChanged(String),
    ContainerDeleted(String),
}

/// Subscription filters: the followed topics in `namespace`. containerd ORs filters and
/// ANDs the comma-separated parts of one.
pub(super) fn filters(namespace: &str) -> Vec<String> {
    // containerd namespace names are letters, digits and `._-` only, so quoting needs
    // no escapes.
    TOPICS
        .iter()
        .map(|topic| format!("namespace==\"{namespace}\",topic==\"{topic}\""))
        .collect()
}

/// The change an event announces; `Ok(None)` for a topic the inventory does not follow,
/// `Err` with the reason when the payload cannot be read (a gap: list again).
pub(super) fn decode(envelope: &Envelope) -> Result<Option<Event>, String> {
    if !TOPICS.contains(&envelope.topic.as_str()) {
        return Ok(None);
    }
    let payload = envelope
        .event
        .as_ref()
        .map(|any| any.value.as_slice())
        .ok_or("event without payload")?;
    let event = match envelope.topic.as_str() {
        "/images/create" => ImageCreate::decode(payload).map(|e| Event::ImageChanged(e.name)),
        "/images/update" => ImageUpdate::decode(payload).map(|e| Event::ImageChanged(e.name)),
        "/images/delete" => ImageDelete::decode(payload).map(|e| Event::ImageDeleted(e.name)),
        "/containers/create" => {
            ContainerCreate::decode(payload).map(|e| Event::ContainerChanged(e.id))
        }
        "/containers/update" => {
            ContainerUpdate::decode(payload).map(|e| Event::ContainerChanged(e.id))
        }
        "/containers/delete" => {
            ContainerDelete::decode(payload).map(|e| Event::ContainerDeleted(e.id))
        }
        _ => return Ok(None),
    }
    .map_err(|e| format!("payload of {}: {e}", envelope.topic))?;
    let subject = match &event {
        Event::ImageChanged(s)
        | Event::ImageDeleted(s)
        | Event::ContainerChanged(s)
        | Event::ContainerDeleted(s) => s,
    };
    if subject.is_empty() {
        return Err(format!(
            "{} event names no image or container",
            envelope.topic
        ));
    }
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// containerd wraps an event in an `Any`; decode goes by topic, not type name.
    fn any(event: &impl Message) -> prost_types::Any {
        prost_types::Any {
            type_url: String::new(),
            value: event.encode_to_vec(),
        }
    }

    fn envelope(topic: &str, payload: prost_types::Any) -> Envelope {
        Envelope {
            timestamp: None,
            namespace: "k8s.io".into(),
            topic: topic.into(),
            event: Some(payload),
        }
    }

    #[test]
    fn image_create_names_the_image() {
        let event = ImageCreate {
            name: "docker.io/library/nginx:1.27".into(),
            labels: Default::default(),
        };
        let decoded = decode(&envelope("/images/create", any(&event)));
        assert_eq!(
            decoded,
            Ok(Some(Event::ImageChanged(
                "docker.io/library/nginx:1.27".into()
            )))
        );
    }

    #[test]
    fn container_delete_names_the_container() {
        let event = ContainerDelete { id: "4f1c".into() };
        let decoded = decode(&envelope("/containers/delete", any(&event)));
        assert_eq!(decoded, Ok(Some(Event::ContainerDeleted("4f1c".into()))));
    }

    #[test]
    fn unfollowed_topic_is_ignored() {
        let event = ContainerDelete { id: "4f1c".into() };
        let decoded = decode(&envelope("/tasks/exit", any(&event)));
        assert_eq!(decoded, Ok(None));
    }

    #[test]
    fn garbage_payload_is_a_gap() {
        let garbage = prost_types::Any {
            type_url: "containerd.events.ContainerCreate".into(),
            value: vec![0xff, 0xff, 0xff],
        };
        assert!(decode(&envelope("/containers/create", garbage)).is_err());
    }

    #[test]
    fn event_without_a_name_is_a_gap() {
        let event = ImageDelete {
            name: String::new(),
        };
        assert!(decode(&envelope("/images/delete", any(&event))).is_err());
    }

    #[test]
    fn filters_cover_every_topic_in_the_namespace() {
        let filters = filters("k8s.io");
        assert_eq!(filters.len(), TOPICS.len());
        assert!(filters.contains(&r#"namespace=="k8s.io",topic=="/containers/delete""#.to_string()));
    }
}
