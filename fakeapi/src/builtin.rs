//! The built-in resource types a real API server serves, as discovery
//! lists them; with the stored CRDs, what the fake serves at all.

/// Every verb a read-write resource has.
pub(crate) const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces cannot be deleted as a collection.
const NO_COLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Review resources are answered, never stored.
const CREATE_ONLY: &[&str] = &["create"];

/// One built-in resource type.
#[derive(Debug)]
pub(crate) struct Builtin {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub status: bool,
    pub scale: bool,
}

const fn res(
    (group, version): (&'static str, &'static str),
    (plural, singular, kind): (&'static str, &'static str, &'static str),
    namespaced: bool,
    short_names: &'static [&'static str],
    (status, scale): (bool, bool),
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        verbs: ALL,
        short_names,
        status,
        scale,
    }
}

const CORE: (&str, &str) = ("", "v1");
const APPS: (&str, &str) = ("apps", "v1");
const BATCH: (&str, &str) = ("batch", "v1");
const NETWORKING: (&str, &str) = ("networking.k8s.io", "v1");
const RBAC: (&str, &str) = ("rbac.authorization.k8s.io", "v1");
const NS: bool = true;
const CLUSTER: bool = false;
const PLAIN: (bool, bool) = (false, false);
const STATUS: (bool, bool) = (true, false);
const SCALED: (bool, bool) = (true, true);

/// In the order a real server lists them: core first, then groups by priority.
pub(crate) const BUILTINS: &[Builtin] = &[
    res(CORE, ("pods", "pod", "Pod"), NS, &["po"], STATUS),
    res(
        CORE,
        ("services", "service", "Service"),
        NS,
        &["svc"],
        STATUS,
    ),
    res(
        CORE,
        ("configmaps", "configmap", "ConfigMap"),
        NS,
        &["cm"],
        PLAIN,
    ),
    res(CORE, ("secrets", "secret", "Secret"), NS, &[], PLAIN),
    Builtin {
        verbs: NO_COLLECTION,
        ..res(
            CORE,
            ("namespaces", "namespace", "Namespace"),
            CLUSTER,
            &["ns"],
            STATUS,
        )
    },
    res(
        CORE,
        ("serviceaccounts", "serviceaccount", "ServiceAccount"),
        NS,
        &["sa"],
        PLAIN,
    ),
    res(CORE, ("events", "event", "Event"), NS, &["ev"], PLAIN),
    res(
        CORE,
        ("endpoints", "endpoints", "Endpoints"),
        NS,
        &["ep"],
        PLAIN,
    ),
    res(
        CORE,
        (
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
        ),
        NS,
        &["pvc"],
        STATUS,
    ),
    res(CORE, ("nodes", "node", "Node"), CLUSTER, &["no"], STATUS),
    res(
        APPS,
        ("deployments", "deployment", "Deployment"),
        NS,
        &["deploy"],
        SCALED,
    ),
    res(
        APPS,
        ("replicasets", "replicaset", "ReplicaSet"),
        NS,
        &["rs"],
        SCALED,
    ),
    res(
        APPS,
        ("statefulsets", "statefulset", "StatefulSet"),
        NS,
        &["sts"],
        SCALED,
    ),
    res(
        APPS,
        ("daemonsets", "daemonset", "DaemonSet"),
        NS,
        &["ds"],
        STATUS,
    ),
    res(
        APPS,
        (
            "controllerrevisions",
            "controllerrevision",
            "ControllerRevision",
        ),
        NS,
        &[],
        PLAIN,
    ),
    res(BATCH, ("jobs", "job", "Job"), NS, &[], STATUS),
    res(
        BATCH,
        ("cronjobs", "cronjob", "CronJob"),
        NS,
        &["cj"],
        STATUS,
    ),
    res(
        NETWORKING,
        ("ingresses", "ingress", "Ingress"),
        NS,
        &["ing"],
        STATUS,
    ),
    res(
        NETWORKING,
        ("ingressclasses", "ingressclass", "IngressClass"),
        CLUSTER,
        &[],
        PLAIN,
    ),
    res(
        NETWORKING,
        ("networkpolicies", "networkpolicy", "NetworkPolicy"),
        NS,
        &["netpol"],
        PLAIN,
    ),
    res(
        ("coordination.k8s.io", "v1"),
        ("leases", "lease", "Lease"),
        NS,
        &[],
        PLAIN,
    ),
    res(
        ("events.k8s.io", "v1"),
        ("events", "event", "Event"),
        NS,
        &["ev"],
        PLAIN,
    ),
    res(
        ("autoscaling", "v2"),
        (
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
        ),
        NS,
        &["hpa"],
        STATUS,
    ),
    res(
        ("autoscaling", "v1"),
        (
            "horizontalpodautoscalers",
            "horizontalpodautoscaler",
            "HorizontalPodAutoscaler",
        ),
        NS,
        &["hpa"],
        STATUS,
    ),
    res(
        ("policy", "v1"),
        (
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
        ),
        NS,
        &["pdb"],
        STATUS,
    ),
    res(RBAC, ("roles", "role", "Role"), NS, &[], PLAIN),
    res(
        RBAC,
        ("rolebindings", "rolebinding", "RoleBinding"),
        NS,
        &[],
        PLAIN,
    ),
    res(
        RBAC,
        ("clusterroles", "clusterrole", "ClusterRole"),
        CLUSTER,
        &[],
        PLAIN,
    ),
    res(
        RBAC,
        (
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
        ),
        CLUSTER,
        &[],
        PLAIN,
    ),
    res(
        ("apiextensions.k8s.io", "v1"),
        (
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
        ),
        CLUSTER,
        &["crd", "crds"],
        STATUS,
    ),
    Builtin {
        verbs: CREATE_ONLY,
        ..res(
            ("authorization.k8s.io", "v1"),
            (
                "selfsubjectaccessreviews",
                "selfsubjectaccessreview",
                "SelfSubjectAccessReview",
            ),
            CLUSTER,
            &[],
            PLAIN,
        )
    },
];
