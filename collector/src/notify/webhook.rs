//! Webhook calls: what each format says, and sending the queued calls.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{Alert, NotifySettings, Webhook, WebhookFormat, BATCH, LEASE};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::store::{Delivery, EventKind, Store};

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of a receiver's refusal kept in the log.
const MAX_ERROR_TEXT: usize = 300;

/// What happened to an exposure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Appeared,
    Resolved,
}

impl Event {
    /// The `Watch` event that says it.
    pub fn kind(self) -> EventKind {
        match self {
            Event::Appeared => EventKind::ExposureAppeared,
            Event::Resolved => EventKind::ExposureResolved,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Event::Appeared => "exposure-appeared",
            Event::Resolved => "exposure-resolved",
        }
    }
}

impl Webhook {
    /// The request body announcing `event` of `alert`.
    pub fn body(&self, event: Event, alert: &Alert, now: Timestamp) -> String {
        let document = match self.format {
            WebhookFormat::Json => json!({
                "event": event.name(),
                "time": humantime::format_rfc3339_seconds(now.to_system_time()).to_string(),
                "exposure": alert,
            }),
            WebhookFormat::Slack => json!({ "text": slack_text(event, alert) }),
        };
        document.to_string()
    }
}

/// The Slack message: what, where, why it matters, the fix.
fn slack_text(event: Event, alert: &Alert) -> String {
    let mut why = Vec::new();
    if let Some(due) = &alert.kev_due_date {
        why.push(format!("in CISA KEV, fix due {due}"));
    }
    if alert.ransomware {
        why.push("used in ransomware campaigns".to_owned());
    }
    if let Some(epss) = alert.epss {
        why.push(format!("EPSS {epss:.2}"));
    }
    why.push(alert.severity.to_lowercase());
    let mut places = alert.workloads.join(", ");
    if alert.workload_count > alert.workloads.len() {
        places.push_str(&format!(
            " and {} more",
            alert.workload_count - alert.workloads.len()
        ));
    }
    let fix = if alert.fixed_versions.is_empty() {
        String::new()
    } else {
        format!(" Fixed in {}.", slack(&alert.fixed_versions))
    };
    match event {
        Event::Appeared => format!(
            ":rotating_light: *{}* ({}) in `{}` of image `{}` runs in {}.{fix}",
            slack(&alert.vulnerability),
            slack(&why.join(", ")),
            slack(&alert.package),
            slack(&alert.image),
            slack(&places)
        ),
        Event::Resolved => format!(
            ":white_check_mark: Resolved: *{}* in `{}` of image `{}` no longer runs ({}).",
            slack(&alert.vulnerability),
            slack(&alert.package),
            slack(&alert.image),
            slack(&alert.clusters.join(", "))
        ),
    }
}

/// `text` for Slack's markup: `&`, `<` and `>` escaped as Slack asks, so that nothing
/// from an image becomes a link or a mention; backticks dropped (they would end code).
fn slack(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '`' && !c.is_control())
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Sends queued calls.
pub(super) struct Sender {
    http: reqwest::Client,
    webhooks: BTreeMap<String, Webhook>,
    backoff: nodebom_proto::retry::Backoff,
}

enum Outcome {
    Sent,
    Retry(String),
    Refused(String),
}

impl Sender {
    pub(super) fn new(settings: &NotifySettings) -> Result<Self> {
        Ok(Self {
            http: crate::dtrack::client::http_client(CALL_TIMEOUT)?,
            webhooks: settings
                .webhooks
                .iter()
                .map(|webhook| (webhook.name(), webhook.clone()))
                .collect(),
            backoff: settings.backoff,
        })
    }

    /// Sends the due head call of each webhook once; returns how many were settled
    /// (sent or dropped).
    pub(super) async fn send_due(&self, store: &dyn Store, now: Timestamp) -> Result<usize> {
        let mut settled = 0;
        for delivery in store.deliveries_take(now, BATCH, LEASE).await? {
            let Some(webhook) = self.webhooks.get(&delivery.target) else {
                tracing::warn!(
                    webhook = %delivery.target,
                    "a queued call's webhook is no longer configured; dropped"
                );
                store.delivery_done(delivery.id).await?;
                settled += 1;
                continue;
            };
            match self.call(webhook, &delivery).await {
                Outcome::Sent => {
                    store.delivery_done(delivery.id).await?;
                    settled += 1;
                }
                Outcome::Refused(message) => {
                    tracing::warn!(
                        webhook = %delivery.target,
                        error = %message,
                        "the webhook refused a call; dropped"
                    );
                    store.delivery_done(delivery.id).await?;
                    settled += 1;
                }
                Outcome::Retry(message) => {
                    let wait = self.backoff.after(delivery.attempts);
                    tracing::warn!(
                        webhook = %delivery.target,
                        attempts = delivery.attempts + 1,
                        retry_in_ms = wait.as_millis() as u64,
                        error = %message,
                        "webhook call failed; will retry"
                    );
                    store
                        .delivery_retry(delivery.id, now.saturating_add(wait), message)
                        .await?;
                }
            }
        }
        Ok(settled)
    }

    async fn call(&self, webhook: &Webhook, delivery: &Delivery) -> Outcome {
        let sent = self
            .http
            .post(webhook.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(delivery.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // The URL stays out of the message: it may hold a secret.
            Err(err) => return Outcome::Retry(format!("no answer: {}", error_kind(&err))),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent;
        }
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(MAX_ERROR_TEXT)
            .collect();
        let message = format!("{status}: {}", text.trim());
        if status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
        {
            Outcome::Retry(message)
        } else {
            Outcome::Refused(message)
        }
    }
}

fn error_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            key: "k".into(),
            vulnerability: "CVE-2021-44228".into(),
            aliases: vec!["GHSA-jfh8-c2jp-5v3q".into()],
            severity: "CRITICAL".into(),
            epss: Some(0.944),
            kev_due_date: Some("2021-12-24".into()),
            ransomware: true,
            package: "log4j-core 2.14.1 <@here>".into(),
            purl: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".into(),
            fixed_versions: "2.17.1".into(),
            manifest_digest: "sha256:aa".into(),
            image: "registry.example/shop/web:1.0".into(),
            clusters: vec!["prod-a".into()],
            workloads: vec!["prod-a/shop/web-0".into()],
            workload_count: 3,
        }
    }

    #[test]
    fn slack_messages_say_what_where_why_and_the_fix_and_mention_no_one() {
        let webhook = Webhook::parse("slack=https://hooks.example/x").unwrap();
        let body: serde_json::Value = serde_json::from_str(&webhook.body(
            Event::Appeared,
            &alert(),
            Timestamp::from_unix_millis(0),
        ))
        .unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("*CVE-2021-44228*"), "{text}");
        assert!(text.contains("fix due 2021-12-24"), "{text}");
        assert!(text.contains("prod-a/shop/web-0 and 2 more"), "{text}");
        assert!(text.contains("Fixed in 2.17.1"), "{text}");
        assert!(
            !text.contains("<@here>") && text.contains("&lt;@here&gt;"),
            "{text}"
        );
    }

    #[test]
    fn json_calls_carry_the_event_and_the_whole_alert() {
        let webhook = Webhook::parse("https://hooks.example/x").unwrap();
        let body: serde_json::Value = serde_json::from_str(&webhook.body(
            Event::Resolved,
            &alert(),
            Timestamp::from_unix_millis(0),
        ))
        .unwrap();
        assert_eq!(body["event"], "exposure-resolved");
        assert_eq!(body["time"], "1970-01-01T00:00:00Z");
        assert_eq!(body["exposure"]["vulnerability"], "CVE-2021-44228");
        assert_eq!(body["exposure"]["workload_count"], 3);
    }
}
