//! What a cluster's objects went through, as anyone with watch access sees
//! it: every version of the watched kinds in one namespace, with the time
//! it arrived. It works the same on the fake API server and on a real
//! cluster, so the deploy scenarios assert on it rather than on the fake's
//! audit log.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde_json::Value;

/// A kind the scenarios look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

impl Kind {
    pub fn resource(&self) -> ApiResource {
        let (group, version) = self
            .api_version
            .split_once('/')
            .unwrap_or(("", self.api_version));
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.kind),
            self.plural,
        )
    }
}

pub const ROLLOUTS: Kind = Kind {
    api_version: "conductor.dev/v1alpha1",
    kind: "Rollout",
    plural: "rollouts",
};
pub const ANALYSIS_TEMPLATES: Kind = Kind {
    api_version: "conductor.dev/v1alpha1",
    kind: "AnalysisTemplate",
    plural: "analysistemplates",
};
pub const ROUTES: Kind = Kind {
    api_version: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    plural: "httproutes",
};
pub const SERVICES: Kind = Kind {
    api_version: "v1",
    kind: "Service",
    plural: "services",
};
pub const CONFIG_MAPS: Kind = Kind {
    api_version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
};
pub const DEPLOYMENTS: Kind = Kind {
    api_version: "apps/v1",
    kind: "Deployment",
    plural: "deployments",
};
pub const JOBS: Kind = Kind {
    api_version: "batch/v1",
    kind: "Job",
    plural: "jobs",
};
pub const LEASES: Kind = Kind {
    api_version: "coordination.k8s.io/v1",
    kind: "Lease",
    plural: "leases",
};

/// One version of an object as a watcher received it.
#[derive(Clone, Debug)]
pub struct Observed {
    pub time: jiff::Timestamp,
    pub kind: Kind,
    pub name: String,
    pub object: Value,
    pub deleted: bool,
}

impl Observed {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.object
            .pointer("/metadata/annotations")?
            .get(key)?
            .as_str()
    }

    pub fn pointer(&self, path: &str) -> Option<&Value> {
        self.object.pointer(path)
    }
}

pub struct Recorder {
    seen: Arc<Mutex<Vec<Observed>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    /// Watches `kinds` in `namespace`; returns once every watch has listed
    /// what exists, so nothing written afterwards is missed.
    pub async fn start(client: &Client, namespace: &str, kinds: &[Kind]) -> Recorder {
        let seen: Arc<Mutex<Vec<Observed>>> = Arc::default();
        let mut tasks = Vec::new();
        for &kind in kinds {
            let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &kind.resource());
            tasks.push(tokio::spawn(record(api, kind, seen.clone(), listed_tx)));
            tokio::time::timeout(Duration::from_secs(30), listed_rx)
                .await
                .unwrap_or_else(|_| panic!("no list of {} within 30s", kind.plural))
                .expect("the watch task lists");
        }
        Recorder { seen, tasks }
    }

    pub fn history(&self) -> Vec<Observed> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn record(
    api: Api<DynamicObject>,
    kind: Kind,
    seen: Arc<Mutex<Vec<Observed>>>,
    listed: tokio::sync::oneshot::Sender<()>,
) {
    let mut listed = Some(listed);
    // A relist after a dropped watch repeats versions already recorded.
    let mut last_version: HashMap<String, String> = HashMap::new();
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = stream.next().await {
        let (object, deleted) = match event {
            Ok(Event::Apply(o) | Event::InitApply(o)) => (o, false),
            Ok(Event::Delete(o)) => (o, true),
            Ok(Event::InitDone) => {
                if let Some(tx) = listed.take() {
                    let _ = tx.send(());
                }
                continue;
            }
            Ok(Event::Init) | Err(_) => continue,
        };
        let name = object.metadata.name.clone().unwrap_or_default();
        let version = object.metadata.resource_version.clone().unwrap_or_default();
        if !deleted && last_version.get(&name) == Some(&version) {
            continue;
        }
        last_version.insert(name.clone(), version);
        let Ok(object) = serde_json::to_value(&object) else {
            continue;
        };
        seen.lock().unwrap().push(Observed {
            time: jiff::Timestamp::now(),
            kind,
            name,
            object,
            deleted,
        });
    }
}
