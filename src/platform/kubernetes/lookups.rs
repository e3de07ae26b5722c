//! What a reconcile reads of the objects a Rollout names: its Services,
//! its routers' objects (HTTPRoutes and GRPCRoutes, Ingresses,
//! VirtualServices and DestinationRules, the TrafficSplit it owns), the
//! `workloadRef` Deployment. Each comes from an index a watch keeps, as
//! owned ReplicaSets do, so a reconcile makes no GET; until an index has
//! its first list (an HTTPRoute watch on a cluster without Gateway API
//! never does), and for an object it does not have, the object is read
//! from the API server instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::Value;

use super::named_index::{self, NamedIndex};
use super::router_objects::{DestinationRule, GrpcRoute, HttpRoute, SmiVersion, VirtualService};
use super::waiters::Waiters;
use super::{HASH_LABEL, KubeError, TEMPLATE_REVISION_ANNOTATION, Target, cache};
use crate::platform::template_hash;

/// A Service as a reconcile reads it: the pod-template hash it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSelector {
    pub hash: Option<String>,
}

impl From<&Service> for ServiceSelector {
    fn from(service: &Service) -> Self {
        Self {
            hash: service
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.get(HASH_LABEL))
                .cloned(),
        }
    }
}

/// An Ingress as the NGINX router reads it: the stable one is copied, the
/// canary one compared.
#[derive(Debug, Clone, PartialEq)]
pub struct IngressView {
    pub annotations: BTreeMap<String, String>,
    pub spec: Option<IngressSpec>,
}

impl From<&Ingress> for IngressView {
    fn from(ingress: &Ingress) -> Self {
        Self {
            annotations: ingress.annotations().clone(),
            spec: ingress.spec.clone(),
        }
    }
}

/// A TrafficSplit as the SMI router reads it: who controls it and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitView {
    /// The uid of its controller (a Rollout, when Conductor made it).
    pub controller: Option<String>,
    pub spec: Value,
}

impl From<&DynamicObject> for SplitView {
    fn from(split: &DynamicObject) -> Self {
        Self {
            controller: split
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true))
                .map(|o| o.uid.clone()),
            spec: split.data.get("spec").cloned().unwrap_or(Value::Null),
        }
    }
}

/// A Deployment as a `workloadRef` reads it: its template's identity, not
/// the template (a cluster's Deployments would cost ~10 KB each). The one
/// reader of the template itself, creating a revision's ReplicaSet,
/// fetches it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentView {
    pub replicas: i32,
    pub selector: LabelSelector,
    pub template_hash: String,
    pub label: String,
    pub has_spec: bool,
}

impl From<&Deployment> for DeploymentView {
    fn from(deployment: &Deployment) -> Self {
        let spec = deployment.spec.as_ref();
        let template = spec.map(|s| &s.template);
        let template_hash = template_hash(template);
        Self {
            replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
            selector: spec.map(|s| s.selector.clone()).unwrap_or_default(),
            label: template
                .and_then(revision_label)
                .unwrap_or_else(|| template_hash.clone()),
            template_hash,
            has_spec: spec.is_some(),
        }
    }
}

/// What a person calls the revision: the template's `conductor.dev/revision`
/// annotation (a chart sets it to the git sha), else the first image's tag.
pub fn revision_label(template: &PodTemplateSpec) -> Option<String> {
    let annotated = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(TEMPLATE_REVISION_ANNOTATION))
        .cloned();
    annotated.or_else(|| {
        let image = template.spec.as_ref()?.containers.first()?.image.as_ref()?;
        let tag = image.rsplit_once(':').map(|(_, t)| t)?;
        (!tag.contains('/')).then(|| tag.to_owned())
    })
}

#[derive(Clone)]
pub struct Lookups {
    client: Client,
    services: NamedIndex<ServiceSelector>,
    ingresses: NamedIndex<IngressView>,
    http_routes: NamedIndex<HttpRoute>,
    grpc_routes: NamedIndex<GrpcRoute>,
    virtual_services: NamedIndex<VirtualService>,
    destination_rules: NamedIndex<DestinationRule>,
    traffic_splits: NamedIndex<SplitView>,
    /// The TrafficSplit version the controller reads and writes.
    smi: SmiVersion,
    deployments: NamedIndex<DeploymentView>,
}

/// A Deployment whose template or scale changed, for the reconcile of the
/// Rollouts that name it.
pub type DeploymentChanges =
    std::pin::Pin<Box<dyn Stream<Item = Result<Deployment, watcher::Error>> + Send>>;

impl Lookups {
    pub fn new(client: Client, smi: SmiVersion) -> Self {
        Self {
            client,
            services: NamedIndex::default(),
            ingresses: NamedIndex::default(),
            http_routes: NamedIndex::default(),
            grpc_routes: NamedIndex::default(),
            virtual_services: NamedIndex::default(),
            destination_rules: NamedIndex::default(),
            traffic_splits: NamedIndex::default(),
            smi,
            deployments: NamedIndex::default(),
        }
    }

    /// The TrafficSplit resource at the version the controller writes.
    pub fn traffic_split_resource(&self) -> ApiResource {
        self.smi.traffic_splits()
    }

    /// The watches that fill the indexes, in `namespace` or everywhere:
    /// one future that keeps Services, Ingresses and the routers' objects
    /// (telling `waiters` of each one seen), and the stream of Deployment
    /// changes (poll it, or that index stays empty). A router's kind that
    /// the cluster does not serve only keeps its watch backing off: its
    /// lookups read from the API server.
    pub fn watches(
        &self,
        namespace: Option<&str>,
        waiters: &Waiters,
    ) -> (impl Future<Output = ()> + Send + use<>, DeploymentChanges) {
        let services = notify(
            named_index::fill(
                scoped::<Service>(&self.client, namespace),
                self.services.clone(),
                |s| ServiceSelector::from(s),
                true,
            ),
            waiters,
        );
        let ingresses = notify(
            named_index::fill(
                scoped::<Ingress>(&self.client, namespace),
                self.ingresses.clone(),
                |i| IngressView::from(i),
                true,
            ),
            waiters,
        );
        let routes = notify(
            named_index::fill(
                scoped::<HttpRoute>(&self.client, namespace),
                self.http_routes.clone(),
                lean,
                true,
            ),
            waiters,
        );
        let grpc_routes = notify(
            named_index::fill(
                scoped::<GrpcRoute>(&self.client, namespace),
                self.grpc_routes.clone(),
                lean,
                true,
            ),
            waiters,
        );
        let virtual_services = notify(
            named_index::fill(
                scoped::<VirtualService>(&self.client, namespace),
                self.virtual_services.clone(),
                lean,
                true,
            ),
            waiters,
        );
        let destination_rules = notify(
            named_index::fill(
                scoped::<DestinationRule>(&self.client, namespace),
                self.destination_rules.clone(),
                lean,
                true,
            ),
            waiters,
        );
        let resource = self.traffic_split_resource();
        let splits: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let splits = drain(named_index::fill(
            splits,
            self.traffic_splits.clone(),
            |s| SplitView::from(s),
            false,
        ));
        // The Rollouts naming a Deployment are found by a scan of the
        // Rollouts, once per change: never for every Deployment listed.
        let deployments = named_index::fill(
            scoped::<Deployment>(&self.client, namespace),
            self.deployments.clone(),
            |d| DeploymentView::from(d),
            false,
        )
        .boxed();
        // Boxed: the watchers side by side make a future too large to
        // move through a worker thread's stack in a debug build.
        let fill = Box::pin(async move {
            tokio::join!(
                Box::pin(services),
                Box::pin(ingresses),
                Box::pin(routes),
                Box::pin(grpc_routes),
                Box::pin(virtual_services),
                Box::pin(destination_rules),
                Box::pin(splits),
            );
        });
        (fill, deployments)
    }

    /// Yields after each relist of the Deployments (see
    /// [`super::index::Synced::relists`]): a template changed while the
    /// watch was away comes with the relist, not as an event.
    pub fn deployment_relists(&self) -> impl Stream<Item = ()> + Send + 'static {
        self.deployments.relists()
    }

    /// Returns once the built-in kinds have been listed (HTTPRoutes may
    /// not be served at all: they fall back to reads).
    pub fn listed(&self) -> impl Future<Output = ()> + Send + use<> {
        let (services, ingresses, deployments) = (
            self.services.clone(),
            self.ingresses.clone(),
            self.deployments.clone(),
        );
        async move {
            services.wait_synced().await;
            ingresses.wait_synced().await;
            deployments.wait_synced().await;
        }
    }

    pub async fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<ServiceSelector>>, KubeError> {
        lookup(&self.client, &self.services, namespace, name, |s| {
            ServiceSelector::from(s)
        })
        .await
    }

    pub async fn ingress(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<IngressView>>, KubeError> {
        lookup(&self.client, &self.ingresses, namespace, name, |i| {
            IngressView::from(i)
        })
        .await
    }

    pub async fn http_route(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<HttpRoute>>, KubeError> {
        lookup(&self.client, &self.http_routes, namespace, name, |r| {
            lean(r)
        })
        .await
    }

    pub async fn grpc_route(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<GrpcRoute>>, KubeError> {
        lookup(&self.client, &self.grpc_routes, namespace, name, |r| {
            lean(r)
        })
        .await
    }

    pub async fn virtual_service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<VirtualService>>, KubeError> {
        lookup(&self.client, &self.virtual_services, namespace, name, |r| {
            lean(r)
        })
        .await
    }

    pub async fn destination_rule(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<DestinationRule>>, KubeError> {
        lookup(&self.client, &self.destination_rules, namespace, name, lean).await
    }

    pub async fn traffic_split(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<SplitView>>, KubeError> {
        if let Some(Some(found)) = self.traffic_splits.get(namespace, name) {
            return Ok(Some(found));
        }
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            namespace,
            &self.traffic_split_resource(),
        );
        let read = api.get_opt(name).await.map_err(|e| {
            KubeError::from_request(e, Target::new("get", "TrafficSplit", namespace, name))
        })?;
        Ok(read.map(|s| Arc::new(SplitView::from(&s))))
    }

    pub async fn deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<DeploymentView>>, KubeError> {
        lookup(&self.client, &self.deployments, namespace, name, |d| {
            DeploymentView::from(d)
        })
        .await
    }

    /// The Deployment's pod template, read from the API server: needed
    /// only to create a revision's ReplicaSet.
    pub async fn deployment_template(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<PodTemplateSpec>, KubeError> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        let read = api.get_opt(name).await.map_err(|e| {
            KubeError::from_request(e, Target::new("get", "Deployment", namespace, name))
        })?;
        Ok(read.and_then(|d| d.spec).map(|s| s.template))
    }
}

/// A router object as an index keeps it: what a reconcile compares and
/// writes back, without the managed fields and annotations that are most
/// of a much-applied object.
fn lean<K: Resource + Clone>(object: &K) -> K {
    let mut lean = cache::without_managed_fields(object);
    lean.meta_mut().annotations = None;
    lean
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn drain<K>(stream: impl Stream<Item = Result<K, watcher::Error>>) {
    stream.for_each(|_| std::future::ready(())).await;
}

/// Tells `waiters` of every object `stream` yields.
fn notify<K, S>(stream: S, waiters: &Waiters) -> impl Future<Output = ()> + use<K, S>
where
    K: Resource<DynamicType = ()>,
    S: Stream<Item = Result<K, watcher::Error>>,
{
    let waiters = waiters.clone();
    stream.for_each(move |object| {
        if let Ok(object) = object {
            let meta = object.meta();
            waiters.seen(
                &K::kind(&()),
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            );
        }
        std::future::ready(())
    })
}

/// From the index once it has listed; from the API server before, and for
/// what the index does not have, which is either an error in the spec
/// (rare, worth one read) or an object created a moment ago whose watch
/// event is still on its way (a deploy applies a route with its Rollout).
async fn lookup<K, V>(
    client: &Client,
    index: &NamedIndex<V>,
    namespace: &str,
    name: &str,
    project: impl Fn(&K) -> V,
) -> Result<Option<Arc<V>>, KubeError>
where
    K: cache::Cacheable + kube::Resource<Scope = NamespaceResourceScope>,
    V: PartialEq,
{
    if let Some(Some(found)) = index.get(namespace, name) {
        return Ok(Some(found));
    }
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let read = api.get_opt(name).await.map_err(|e| {
        KubeError::from_request(e, Target::new("get", &K::kind(&()), namespace, name))
    })?;
    Ok(read.map(|o| Arc::new(project(&o))))
}
