#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/ from the
repository's own fixtures, examples and configuration, plus a few answers
in the shapes the providers' tests use. Run from anywhere:
`python3 fuzz/make_seeds.py` (needs PyYAML). libFuzzer grows its own
corpus from these in fuzz/corpus/, which is not committed."""

import json
import pathlib
import re
import shutil

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def read(path):
    return (ROOT / path).read_text()


def documents(paths):
    for path in paths:
        for doc in yaml.safe_load_all(read(path)):
            if isinstance(doc, dict):
                yield pathlib.Path(path).stem, doc


def compact(doc):
    return json.dumps(doc, separators=(",", ":"), default=str)


def write(target, name, text):
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    (directory / name).write_bytes(data)


def manifests():
    paths = sorted(
        str(p.relative_to(ROOT))
        for p in list((ROOT / "examples").glob("*.yaml"))
        + list((ROOT / "tests/fixtures/argo").glob("*.yaml"))
        + [ROOT / "tests/fixtures/invalid-rollout.yaml"]
    )
    return list(documents(paths))


def service_config():
    helpdesk = read("conductor-config/helpdesk.yaml")
    write("service_config", "helpdesk.yaml", helpdesk)
    shop = read("tests/fixtures/deploy/conductor-config/shop.yaml")
    write("service_config", "shop.yaml", shop)
    full = """service: helpdesk
chart: charts/helpdesk
releaseName: desk
revisionValue: image.tag
compareUrl: https://github.com/acme/helpdesk/compare/{from}...{to}
ledger:
  repository: ../ledger.git
  branch: conductor/ledger
environments:
  production:
    bakeTime: 10m
    clusters:
      - name: eu-west-1
        region: eu-west-1
        context: prod-eu
        namespace: helpdesk
        controllerNamespace: conductor
        wave: 1
      - name: us-east-1
        region: us-east-1
        context: prod-us
        namespace: helpdesk
        wave: 2
notifications:
  - name: team-chat
    type: slack
    urlFrom: {env: SLACK_WEBHOOK_URL}
    environments: [production]
    events: [clusterFailed, finished]
  - name: audit
    type: webhook
    urlFrom:
      file: /run/secrets/hook
"""
    write("service_config", "every-field.yaml", full)
    write("service_config", "duplicate-cluster.yaml",
          full.replace("name: us-east-1", "name: eu-west-1"))
    write("service_config", "wrong-type.yaml", full.replace("wave: 2", "wave: second"))
    write("service_config", "duplicate-key.yaml",
          full.replace("releaseName: desk\n", "releaseName: desk\nreleaseName: again\n"))
    write("service_config", "anchors.yaml",
          "service: helpdesk\nchart: charts/helpdesk\nenvironments:\n  a: &env\n"
          "    clusters: [{name: x, region: r, context: c, namespace: n}]\n  b: *env\n")


def values_merge():
    chart = read("charts/helpdesk/values.yaml")
    for env in ["production", "staging", "demo"]:
        env_text = read(f"charts/helpdesk/values/{env}.yaml")
        write("values_merge", f"{env}.yaml", chart + "\0" + env_text)
    for cluster in sorted((ROOT / "charts/helpdesk/values/production").glob("*.yaml")):
        write("values_merge", f"production-{cluster.stem}.yaml",
              chart + "\0" + read("charts/helpdesk/values/production.yaml") + "\0"
              + cluster.read_text())
    write("values_merge", "yaml11.yaml",
          "enabled: yes\nmode: 0777\nbig: 1_000\nempty: ~\nfloat: 1.0\nlist: [on, off, y, n]\n"
          "\0enabled: off\nlist: null\nnested: {a: {b: [1, 2]}}\n")
    write("values_merge", "anchors.yaml",
          "base: &base {replicas: 2, image: {tag: old}}\ncopy: *base\n"
          "\0copy: {replicas: 3}\n? [complex, key]\n: value\n")
    write("values_merge", "not-a-map.yaml", "# a list\n- a\n- b\n")


def cel_condition():
    conditions = set()
    for _, doc in manifests():
        text = json.dumps(doc)
        for key in ["successCondition", "failureCondition"]:
            for match in re.finditer(rf'"{key}": "((?:[^"\\]|\\.)*)"', text):
                conditions.add(json.loads(f'"{match.group(1)}"'))
    conditions |= {
        "result < 0.05",
        "result[0] <= 1",
        "result.all(x, x < 2.0)",
        "size(result) > 0 && result[0] < 1.0",
        "string(result).startsWith('0') || result.exists(x, x > 1.0)",
        "int(result) == 0 && double(1) > 0.0 && type(result) == double",
        "result.map(x, x * 2.0).filter(x, x > 1.0).size() == 1",
        "has(result.x) ? result.x : false",
    }
    for i, condition in enumerate(sorted(conditions)):
        value = ["", "\x000.5", "\x000.5,3,NaN", "\x00inf"][i % 4]
        write("cel_condition", f"condition-{i:02}", condition + value)


def rollout_decide():
    for name, doc in manifests():
        if doc.get("kind") == "Rollout":
            write("rollout_decide", f"{name}.json", compact(doc))
    canary = yaml.safe_load(read("examples/canary-rollout.yaml"))
    # Settle, roll out v2, promote twice, abort, retry, let time pass.
    script = bytes([0, 0, 4, 0, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0, 5, 2, 0, 0, 5, 3, 0, 0, 3, 60, 0, 0])
    write("rollout_decide", "canary-script.bin", compact(canary).encode() + b"\0" + script)
    blue_green = yaml.safe_load(read("examples/bluegreen-rollout.yaml"))
    # Analysis fails, then undo.
    script = bytes([0, 0, 4, 0, 7, 1, 7, 5, 0, 0, 0, 5, 4, 0, 0, 0])
    write("rollout_decide", "bluegreen-script.bin", compact(blue_green).encode() + b"\0" + script)
    with_status = dict(canary)
    with_status["status"] = {
        "phase": "Paused", "currentStepIndex": 1, "stableRS": "h-v1", "currentPodHash": "h-v2",
        "abort": False, "pauseConditions": [{"reason": "CanaryPauseStep",
                                             "startTime": "2026-11-24T09:59:00Z"}],
    }
    write("rollout_decide", "canary-with-status.json", compact(with_status))


def analysis_spec():
    for name, doc in manifests():
        if doc.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun"):
            write("analysis_spec", f"{name}.json", compact(doc))
    run = {
        "apiVersion": "conductor.dev/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "helpdesk-1"},
        "spec": {"args": [{"name": "service", "value": "helpdesk"}],
                 "metrics": [{"name": "error-rate", "interval": "10s", "count": 3,
                              "failureLimit": 1, "successCondition": "result < 0.05",
                              "provider": {"prometheus": {"address": "http://prometheus:9090",
                                                          "query": "rate({{args.service}}[1m])"}}}]},
        "status": {"phase": "Running", "startedAt": "2026-11-24T10:00:00Z",
                   "metricResults": [{"name": "error-rate", "phase": "Running", "count": 1,
                                      "successful": 1, "measurements": [
                                          {"phase": "Successful", "value": "0.01",
                                           "startedAt": "2026-11-24T10:00:00Z",
                                           "finishedAt": "2026-11-24T10:00:01Z"}]}]},
    }
    write("analysis_spec", "run-with-status.json", compact(run))


def provider_answers():
    prometheus = {
        "vector": '200\n{"status":"success","data":{"resultType":"vector","result":[{"metric":{"code":"500"},"value":[1700000000.1,"0.25"]},{"metric":{},"value":[1700000000.1,"NaN"]}]}}',
        "empty": '200\n{"status":"success","data":{"resultType":"vector","result":[]}}',
        "scalar": '200\n{"status":"success","data":{"resultType":"scalar","result":[1700000000,"+Inf"]}}',
        "string": '200\n{"status":"success","data":{"resultType":"string","result":[1,"0.5"]}}',
        "matrix": '200\n{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}',
        "error": '400\n{"status":"error","errorType":"bad_data","error":"1:8: parse error: unexpected end of input"}',
        "unavailable": "503\nService Unavailable",
    }
    for name, text in prometheus.items():
        write("prometheus_answer", name, text)
    datadog = {
        "v1-avg": 'v1 avg\n{"status":"ok","series":[{"metric":"errors","pointlist":[[1700000000000,0.5],[1700000010000,1.5],[1700000020000,null]]}]}',
        "v1-max": 'v1 max 2.5\n{"status":"ok","series":[{"pointlist":[[1,3],[2,-1]]},{"pointlist":[[1,100]]}]}',
        "v1-error": 'v1 last\n{"status":"error","error":"Rate limit of 300 requests in 3600 seconds reached"}',
        "v2-last": 'v2 last 1\n{"data":{"type":"timeseries_response","attributes":{"series":[{"query_index":0}],"times":[1,2],"values":[[0.01,0.02]]}}}',
        "v2-errors": 'v2 sum 3600\n{"errors":"query is invalid"}',
        "errors-list": 'v1 min NaN\n{"errors":["Forbidden","API key invalid"]}',
    }
    for name, text in datadog.items():
        write("datadog_answer", name, text)
    metrics = ("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
               'http_requests_total{method="GET",route="/tickets",code="200"} 90\n'
               'http_requests_total{method="GET",route="/tickets",code="500"} 10\n'
               'http_request_duration_seconds_bucket{le="+Inf"} 100 1700000000000\n'
               'weird{a="q\\"uote",b="new\\nline"} 2.5e1\nup 1\nnan NaN\n')
    later = metrics.replace("} 90", "} 150").replace("} 10\n", "} 15\n")
    write("prom_text", "helpdesk-metrics", metrics + "\0" + later)
    write("prom_text", "reset", metrics + "\0" + metrics.replace("} 90", "} 3"))
    write("prom_text", "malformed", "ok 1\nbad{a=1} 2\n")
    web = {
        "nested": '{$.data.rates[0].error}\n{"data":{"rates":[{"error":0.2}],"x.y":1}}',
        "quoted-key": "$.data['x.y']\n{\"data\":{\"x.y\":\"0.5\"}}",
        "list": "$.values\n{\"values\":[1,2.5,\"3\"]}",
        "whole": '\n0.25',
        "status": '{$.status}\n{"status":"healthy"}',
        "null": '$.missing\n{"missing":null}',
    }
    for name, text in web.items():
        write("web_jsonpath", name, text)


def ledger_record():
    sha = "3f2a9c1d5e6f708192a3b4c5d6e7f8091a2b3c4d"
    old = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
    cluster = f"""revision: {sha}
label: v1.4.0
state: Deploying
previousRevision: {old}
previousLabel: v1.3.2
generation: 7
applied:
  digest: sha256:{'ab' * 32}
  objects:
  - apiVersion: conductor.dev/v1alpha1
    kind: Rollout
    namespace: shop
    name: web
updatedAt: 2026-11-30T08:00:00Z
by: ci@example.com
message: |-
  rolled back: analysis error-rate failed
rollback: true
"""
    write("ledger_record", "cluster", "shop/production/eu-west-1.yaml\n" + cluster)
    write("ledger_record", "cluster-failed",
          "shop/production/us-east-1.yaml\n" + cluster.replace("Deploying", "Failed"))
    environment = f"""revision: {sha}
label: v1.4.0
generation: 3
updatedAt: 2026-11-30T08:00:00+01:00
by: ci@example.com
"""
    write("ledger_record", "environment", "shop/production/_environment.yaml\n" + environment)
    write("ledger_record", "bad-sha", "shop/production/eu-west-1.yaml\n"
          + cluster.replace(sha, "3F2A9C1"))


def helpdesk_request():
    requests = {
        "customer": ("POST /customers", {"name": "Bob", "email": "bob@example.com"}),
        "ticket": ("POST /tickets", {"subject": "it broke", "customer_id": 1, "channel": "email",
                                     "body": "help", "tags": ["billing", "t-1"]}),
        "message": ("POST /tickets/1/messages", {"author": "agent:zoe", "body": "on it"}),
        "assign": ("POST /tickets/1/assign", {"assignee": "zoe"}),
        "close": ("POST /tickets/1/close", {}),
        "reopen": ("POST /tickets/1/reopen", {}),
        "list": ("GET /tickets?status=open&channel=sms&limit=5&customer_id=1&tag=billing&cursor=t9", None),
        "get": ("GET /tickets/1", None),
        "customer-get": ("GET /customers/1", None),
        "bad-type": ("POST /tickets", {"subject": "s", "customer_id": "one", "channel": "email"}),
        "unknown-field": ("POST /customers", {"name": "A", "email": "x@y.z", "age": 3}),
        "tags": ("GET /tags", None),
    }
    for name, (line, body) in requests.items():
        write("helpdesk_request", name, line + "\n" + ("" if body is None else json.dumps(body)))


def main():
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    service_config()
    values_merge()
    cel_condition()
    rollout_decide()
    analysis_spec()
    provider_answers()
    ledger_record()
    helpdesk_request()
    for target in sorted(SEEDS.iterdir()):
        print(f"{target.name}: {len(list(target.iterdir()))} seeds")


main()
