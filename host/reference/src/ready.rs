//! `/ready`: per-component status in seed 002's §6.1 shape (status, timestamp,
//! components, version). Ready when every service, the worker and the GPU core are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Target;
use aura_services::{ServiceStatus, health};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentStatus {
    /// `up` or `down`.
    pub status: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub timestamp: String,
    pub components: BTreeMap<String, ComponentStatus>,
    pub version: String,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.status == "ready"
    }
}

fn up(details: BTreeMap<String, serde_json::Value>) -> ComponentStatus {
    ComponentStatus {
        status: "up".into(),
        details,
        error: None,
    }
}

pub(super) async fn check(target: &Target) -> Readiness {
    let report = health::check(target.core.hub.config(), &[]).await;
    let mut components = BTreeMap::new();
    for s in report.services {
        let mut details = s.details.clone();
        details.insert("address".into(), s.address.clone().into());
        if let Some(v) = &s.version {
            details.insert("version".into(), v.clone().into());
        }
        let status = if s.status == ServiceStatus::Ready {
            "up"
        } else {
            "down"
        };
        components.insert(
            s.service.name().to_string(),
            ComponentStatus {
                status: status.into(),
                details,
                error: s.error.clone(),
            },
        );
    }
    let gpu = &target.core.gpu.status;
    let gpu_details = serde_json::to_value(gpu)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    components.insert("gpu".into(), up(gpu_details));
    let worker = if target.worker_running() {
        up(BTreeMap::from([(
            "task_queue".to_string(),
            target.core.config.task_queue.clone().into(),
        )]))
    } else {
        ComponentStatus {
            status: "down".into(),
            details: BTreeMap::new(),
            error: Some("the Temporal worker is not running".into()),
        }
    };
    components.insert("worker".into(), worker);
    let ready = components.values().all(|c| c.status == "up");
    Readiness {
        status: if ready { "ready" } else { "not_ready" }.into(),
        timestamp: chrono::Utc::now().to_rfc3339(),
        components,
        version: env!("CARGO_PKG_VERSION").into(),
    }
}
