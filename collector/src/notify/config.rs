//! Notification flags.

use std::time::Duration;

use clap::Args;
use nodebom_proto::retry::Backoff;
use reqwest::Url;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Webhook flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Call this webhook when an exposure worth acting on appears in a running workload
    /// (a vulnerability in CISA KEV, or with EPSS at least --notify-min-epss) and when
    /// it is resolved; repeatable. `slack=URL` sends Slack-compatible messages
    /// (`{"text": …}`, also understood by Mattermost and others), `json=URL` or a bare
    /// URL the generic JSON document. Needs exposures: --dtrack-url (and --kev-catalog
    /// for KEV). The environment variable takes a comma-separated list.
    #[arg(
        long = "webhook",
        env = "NODEBOM_WEBHOOKS",
        value_delimiter = ',',
        value_name = "[slack=|json=]URL",
        hide_env_values = true
    )]
    pub webhooks: Vec<String>,
    /// Least EPSS score (0 to 1) of a vulnerability outside KEV that is worth a
    /// notification.
    #[arg(long, env = "NODEBOM_NOTIFY_MIN_EPSS", default_value_t = 0.5)]
    pub notify_min_epss: f64,
    /// How often exposures are compared with the open alerts.
    #[arg(long, env = "NODEBOM_NOTIFY_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub notify_interval: Duration,
}

/// How notifications are made.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    pub webhooks: Vec<Webhook>,
    pub min_epss: f64,
    pub interval: Duration,
    /// Waits between tries of one call.
    pub backoff: Backoff,
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: Url,
    pub format: WebhookFormat,
}

/// What a webhook is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The alert as a JSON document.
    Json,
    /// `{"text": …}` in Slack's markup.
    Slack,
}

impl Webhook {
    /// `[slack=|json=]URL`.
    pub fn parse(text: &str) -> Result<Webhook> {
        let text = text.trim();
        let (format, url) = match text.split_once('=') {
            Some(("slack", url)) => (WebhookFormat::Slack, url),
            Some(("json", url)) => (WebhookFormat::Json, url),
            _ => (WebhookFormat::Json, text),
        };
        let url = Url::parse(url).map_err(|err| {
            Error::Config(format!("--webhook: {err} (give [slack=|json=]http(s)://…)"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "--webhook: {} URLs are not webhooks; give http(s)://…",
                url.scheme()
            )));
        }
        Ok(Webhook { url, format })
    }

    /// What names it in the store and in logs: a hash, since webhook URLs carry secrets.
    pub fn name(&self) -> String {
        let format = match self.format {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        };
        let hash = Sha256::digest(format!("{format}={}", self.url).as_bytes());
        format!("{format}-{}", hex::encode(&hash[..6]))
    }
}

impl NotifyArgs {
    /// The settings, when exposures are known (`dtrack`: the collector forwards to
    /// Dependency-Track, whose findings they come from); webhooks without it are an
    /// error.
    pub fn resolve(&self, dtrack: bool, backoff: Backoff) -> Result<Option<NotifySettings>> {
        let webhooks = self
            .webhooks
            .iter()
            .filter(|text| !text.trim().is_empty())
            .map(|text| Webhook::parse(text))
            .collect::<Result<Vec<_>>>()?;
        if !dtrack {
            if webhooks.is_empty() {
                return Ok(None);
            }
            return Err(Error::Config(
                "--webhook needs --dtrack-url: exposures come from Dependency-Track's findings"
                    .into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.notify_min_epss) {
            return Err(Error::Config(
                "--notify-min-epss is an EPSS score, between 0 and 1".into(),
            ));
        }
        Ok(Some(NotifySettings {
            webhooks,
            min_epss: self.notify_min_epss,
            interval: self.notify_interval.max(Duration::from_millis(100)),
            backoff,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_need_dependency_track_and_an_epss_score_between_0_and_1() {
        let args = |webhooks: &[&str], min_epss: f64| NotifyArgs {
            webhooks: webhooks.iter().map(|w| w.to_string()).collect(),
            notify_min_epss: min_epss,
            notify_interval: Duration::from_secs(60),
        };
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
        let err = args(&["https://x.example"], 0.5)
            .resolve(false, backoff)
            .unwrap_err();
        assert!(err.to_string().contains("--dtrack-url"), "{err}");
        assert_eq!(args(&[], 0.5).resolve(false, backoff).unwrap(), None);
        // With Dependency-Track, exposure events are recorded even without webhooks.
        let settings = args(&[], 0.5).resolve(true, backoff).unwrap().unwrap();
        assert!(settings.webhooks.is_empty());
        assert!(args(&[], 1.5).resolve(true, backoff).is_err());
    }

    #[test]
    fn webhooks_name_their_format_or_are_json() {
        let slack = Webhook::parse("slack=https://hooks.slack.com/services/T/B/x").unwrap();
        assert_eq!(slack.format, WebhookFormat::Slack);
        assert_eq!(slack.url.host_str(), Some("hooks.slack.com"));
        assert_eq!(
            Webhook::parse("https://alerts.example/hook?a=b")
                .unwrap()
                .format,
            WebhookFormat::Json
        );
        assert!(Webhook::parse("ftp://x").is_err());
        assert!(Webhook::parse("slack=not a url").is_err());
        // Names never show the URL.
        assert!(!slack.name().contains("hooks"));
        assert_ne!(
            slack.name(),
            Webhook::parse("slack=https://hooks.slack.com/services/T/B/y")
                .unwrap()
                .name()
        );
    }
}
