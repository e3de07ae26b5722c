//! Conductor's own values merge (shown by `plan`) against the real helm:
//! the chart renders `.Values | toYaml`, and both trees must be equal.

#[path = "support/common.rs"]
mod common;

use common::TestRepo;
use serde_yaml::Value;

/// Values per cluster as `conductor plan --output yaml` reports them.
fn planned(repo: &TestRepo, revision: Option<&str>) -> Vec<(String, Value)> {
    let mut args = vec!["plan", "shop", "--env", "production", "--output", "yaml"];
    if let Some(r) = revision {
        args.extend(["--revision", r]);
    }
    let out = repo.conductor(&args).success().stdout();
    let report: Value = serde_yaml::from_str(&out).unwrap();
    report["clusters"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["values"].clone()))
        .collect()
}

/// `.Values` as helm rendered it for one cluster.
fn rendered(repo: &TestRepo, cluster: &str, revision: Option<&str>) -> Value {
    let mut args = vec![
        "render",
        "shop",
        "--env",
        "production",
        "--cluster",
        cluster,
    ];
    if let Some(r) = revision {
        args.extend(["--revision", r]);
    }
    let out = repo.conductor(&args).success().stdout();
    let config_map: Value = serde_yaml::from_str(&out).unwrap();
    let text = config_map["data"]["values.yaml"].as_str().unwrap();
    serde_yaml::from_str(text).unwrap()
}

fn assert_same_as_helm(repo: &TestRepo, revision: Option<&str>, expect: &[(&str, &str)]) {
    for (cluster, values) in planned(repo, revision) {
        let helm = rendered(repo, &cluster, revision);
        assert_eq!(
            values,
            helm,
            "cluster {cluster}: conductor's merge differs from helm's\nconductor: {}\nhelm: {}",
            serde_yaml::to_string(&values).unwrap(),
            serde_yaml::to_string(&helm).unwrap()
        );
        // The trees agree; also pin what they agree on, so a change in both
        // (a helm upgrade) is noticed.
        if let Some((_, expected)) = expect.iter().find(|(c, _)| *c == cluster) {
            let expected: Value = serde_yaml::from_str(expected).unwrap();
            assert_eq!(values, expected, "cluster {cluster}");
        }
    }
}

#[test]
fn maps_merge_across_three_layers() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values.yaml",
        "replicas: 1\nimage: {repository: shop, tag: latest}\nresources: {requests: {cpu: 100m, memory: 64Mi}}\n",
    );
    repo.write(
        "charts/shop/values/production.yaml",
        "replicas: 4\nresources: {requests: {cpu: 500m}}\n",
    );
    repo.write(
        "charts/shop/values/production/eu-west-1.yaml",
        "replicas: 6\nresources: {limits: {memory: 1Gi}}\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[
            (
                "eu-west-1",
                "replicas: 6\nimage: {repository: shop, tag: latest}\nresources: {requests: {cpu: 500m, memory: 64Mi}, limits: {memory: 1Gi}}\n",
            ),
            (
                "us-east-1",
                "replicas: 4\nimage: {repository: shop, tag: latest}\nresources: {requests: {cpu: 500m, memory: 64Mi}}\n",
            ),
        ],
    );
}

#[test]
fn null_deletes_chart_keys_at_any_depth() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values.yaml",
        "replicas: 1\nimage: {tag: latest}\nprobe: {path: /healthz, port: 80}\nsidecar: {image: envoy}\n",
    );
    repo.write(
        "charts/shop/values/production.yaml",
        "sidecar: null\nprobe: {port: null}\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[(
            "eu-west-1",
            "replicas: 1\nimage: {tag: latest}\nprobe: {path: /healthz}\n",
        )],
    );
}

#[test]
fn null_over_a_key_only_an_environment_set_stays_null() {
    // Helm only deletes keys the chart itself defines; a cluster nulling an
    // environment-only key leaves `key: null`. Conductor must show the same.
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production.yaml",
        "extra: {debug: true}\nflag: null\n",
    );
    repo.write(
        "charts/shop/values/production/eu-west-1.yaml",
        "extra: null\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[
            (
                "eu-west-1",
                "replicas: 1\nimage: {tag: latest}\nextra: null\nflag: null\n",
            ),
            (
                "us-east-1",
                "replicas: 1\nimage: {tag: latest}\nextra: {debug: true}\nflag: null\n",
            ),
        ],
    );
}

#[test]
fn lists_replace_whole() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values.yaml",
        "replicas: 1\nimage: {tag: latest}\nhosts: [a.example, b.example]\nsteps: [{setWeight: 10}, {pause: {}}]\n",
    );
    repo.write("charts/shop/values/production.yaml", "hosts: [c.example]\n");
    repo.write(
        "charts/shop/values/production/us-east-1.yaml",
        "steps: [{setWeight: 50}]\nhosts: []\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[
            (
                "eu-west-1",
                "replicas: 1\nimage: {tag: latest}\nhosts: [c.example]\nsteps: [{setWeight: 10}, {pause: {}}]\n",
            ),
            (
                "us-east-1",
                "replicas: 1\nimage: {tag: latest}\nhosts: []\nsteps: [{setWeight: 50}]\n",
            ),
        ],
    );
}

#[test]
fn maps_and_scalars_replace_each_other_where_the_user_sets_them() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values.yaml",
        "replicas: 1\nimage: {tag: latest}\nlimits: {cpu: 1}\nmode: simple\nratio: 1.0\n",
    );
    repo.write(
        "charts/shop/values/production.yaml",
        "limits: none\nmode: {kind: advanced}\nratio: 0.25\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[(
            "eu-west-1",
            "replicas: 1\nimage: {tag: latest}\nlimits: none\nmode: {kind: advanced}\nratio: 0.25\n",
        )],
    );
}

#[test]
fn revision_override_wins_over_every_file() {
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production/eu-west-1.yaml",
        "image: {tag: pinned, pullPolicy: Always}\n",
    );
    assert_same_as_helm(
        &repo,
        Some("3f2a9c1"),
        &[
            (
                "eu-west-1",
                "replicas: 1\nimage: {tag: \"3f2a9c1\", pullPolicy: Always}\n",
            ),
            ("us-east-1", "replicas: 1\nimage: {tag: \"3f2a9c1\"}\n"),
        ],
    );
}

#[test]
fn empty_and_comment_only_files_change_nothing() {
    let repo = TestRepo::new();
    repo.write("charts/shop/values/production.yaml", "");
    repo.write(
        "charts/shop/values/production/eu-west-1.yaml",
        "# nothing here yet\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[("eu-west-1", "replicas: 1\nimage: {tag: latest}\n")],
    );
}

#[test]
fn yaml_1_1_scalars_read_as_helm_reads_them() {
    // Helm parses values as YAML 1.1: these are not the strings they look like.
    let repo = TestRepo::new();
    repo.write(
        "charts/shop/values/production.yaml",
        "enabled: yes\ndebug: Off\nshort: y\nmode: 0777\nhex: 0x1F\nbig: 1_000\nexp: 1e3\nratio: 1.50\nquoted: 'yes'\nversion: 1.2.3\nempty:\nanchors: {base: &b {a: 1}, copy: *b}\non: switch\n",
    );
    assert_same_as_helm(
        &repo,
        None,
        &[(
            "eu-west-1",
            "replicas: 1\nimage: {tag: latest}\nenabled: true\ndebug: false\nshort: true\nmode: 511\nhex: 31\nbig: 1000\nexp: 1000\nratio: 1.5\nquoted: 'yes'\nversion: 1.2.3\nempty: null\nanchors: {base: {a: 1}, copy: {a: 1}}\n'true': switch\n",
        )],
    );
}
