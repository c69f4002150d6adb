"""Kubernetes manifests and Dockerfile, checked offline (no cluster, no Docker).

1. scripts/k8s_check.sh renders k8s/base and every overlay with kustomize and validates
   them with `kubernetes-validate --strict` (skipped only when those tools are missing).
2. The rendered objects are read with PyYAML: security settings on every container,
   probes, the NetworkPolicy, the Service, --expect-workers against the worker replicas.
3. The containers' real arguments, environment (ConfigMaps, Secrets) and config files
   are run through the project's Locust CLI: a distributed headless run (master Job +
   the worker Deployment's args) and a web-mode master with a worker, on 127.0.0.1,
   with only hosts, ports, paths, the run time and --target/--max-records replaced.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config as BotoConfig
from helpers import LOCUST, SharedEmulators
from prometheus_client.parser import text_string_to_metric_families

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, RunningEmulator

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "k8s_check.sh"
PYTHON = Path(sys.executable)

OVERLAYS = ("base", "web", "headless", "local", "irsa")  # each one a run: master, workers, ...
MONITORING = "monitoring"  # beside a run: the PodMonitor and the dashboard's ConfigMap
HEADLESS_LIKE = ("headless", "local", "irsa")
MASTER_LABELS = {"app.kubernetes.io/name": "locust", "app.kubernetes.io/component": "master"}
WORKER_LABELS = {"app.kubernetes.io/name": "locust", "app.kubernetes.io/component": "worker"}
IMAGE_APP_DIR = "/app"  # WORKDIR of the image: the repository root here
MASTER_PORT = 5557
WEB_PORT = 8089
# The command the headless overlay's README gives for the JSON in `kubectl logs`.
SED_JSON = r"/^\[$/,/^\]$/p"


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def rendered_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("k8s-render")
    proc = subprocess.run(
        ["bash", str(CHECK)],
        env={**os.environ, "K8S_RENDER_DIR": str(out)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if proc.returncode == 3:
        pytest.skip(f"kustomize/kubernetes-validate missing ({proc.stderr.strip()})")
    assert proc.returncode == 0, f"scripts/k8s_check.sh failed:\n{proc.stdout}\n{proc.stderr}"
    if shutil.which("node"):  # the custom resources were validated against their operator's schema too
        assert "ok   PodMonitor/locust-master (monitoring.coreos.com/v1)" in proc.stdout, proc.stdout
    docs = {p.stem: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in out.glob("*.yaml")}
    assert set(docs) == {*OVERLAYS, MONITORING}, f"rendered {sorted(docs)}"
    return docs


@pytest.fixture(scope="module")
def rendered(rendered_all: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The overlays that make a run."""
    return {name: docs for name, docs in rendered_all.items() if name in OVERLAYS}


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name_prefix: str) -> dict[str, Any]:
    """The object of this kind whose name is name_prefix (or name_prefix-<kustomize hash>)."""
    found = [
        d
        for d in objects(docs, kind)
        if d["metadata"]["name"] == name_prefix
        or re.fullmatch(rf"{re.escape(name_prefix)}-[a-z0-9]{{10}}", d["metadata"]["name"])
    ]
    assert len(found) == 1, f"{len(found)} {kind} named {name_prefix!r}"
    return found[0]


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet", "Pod")]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"] if workload["kind"] == "Pod" else workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def master(docs: list[dict[str, Any]]) -> dict[str, Any]:
    masters = [w for w in workloads(docs) if selects(MASTER_LABELS, pod_labels(w))]
    assert len(masters) == 1, f"{len(masters)} master workloads"
    return masters[0]


def worker(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers: a Deployment (web UI runs), a Job (headless runs: they end with the run)."""
    found = [w for w in workloads(docs) if w["metadata"]["name"] == "locust-worker"]
    assert len(found) == 1, f"{len(found)} worker workloads"
    return found[0]


def worker_count(workload: dict[str, Any]) -> int:
    spec = workload["spec"]
    if workload["kind"] == "Job":
        assert spec["parallelism"] == spec["completions"], spec  # every worker at once, each one once
        return int(spec["parallelism"])
    return int(spec["replicas"])


def seconds(text: str) -> int:
    """A --run-time value (10m, 1h30m, 90s, 45) in seconds."""
    parts = re.findall(r"(\d+)([hms]?)", text)
    assert parts and "".join(n + u for n, u in parts) == text, text
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1, "": 1}[u] for n, u in parts)


def locust_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = [c for c in pod_spec(workload)["containers"] if c["name"] == "locust"]
    assert len(containers) == 1
    return containers[0]


def selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in match_labels.items())


def arg_value(args: list[str], flag: str) -> str:
    for i, arg in enumerate(args):
        if arg == flag:
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{flag} not in {args}")


# --------------------------------------------------------------------------- static checks


def test_every_overlay_renders_and_validates(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert {"ServiceAccount", "Service", "NetworkPolicy", "ConfigMap"} <= kinds, name
        assert (name in HEADLESS_LIKE) == ("Job" in kinds), name
        assert (name in HEADLESS_LIKE) == (worker(docs)["kind"] == "Job"), name  # Deployments serve the web UI
    one(rendered["local"], "Deployment", "aws-emulators")
    one(rendered["local"], "Service", "aws-emulators")
    one(rendered["local"], "NetworkPolicy", "aws-emulators")
    one(rendered["local"], "Secret", "aws-credentials")


def test_every_container_is_locked_down(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        assert workloads(docs), name  # each overlay's pods are checked below
        assert any(selects(MASTER_LABELS, pod_labels(w)) for w in workloads(docs)), name  # its /reports too
        for workload in workloads(docs):
            where = f"{name}: {workload['kind']}/{workload['metadata']['name']}"
            spec = pod_spec(workload)
            pod_sc = spec.get("securityContext", {})
            assert pod_sc.get("runAsNonRoot") is True, where
            assert pod_sc.get("runAsUser") == 10001, where
            assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert spec.get("automountServiceAccountToken") is False, where
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for container in spec["containers"] + spec.get("initContainers", []):
                cwhere = f"{where} container {container['name']}"
                sc = container.get("securityContext", {})
                assert sc.get("allowPrivilegeEscalation") is False, cwhere
                assert sc.get("readOnlyRootFilesystem") is True, cwhere
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], cwhere
                assert not sc.get("capabilities", {}).get("add"), cwhere
                assert sc.get("privileged") is not True, cwhere
                assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, cwhere
                assert sc.get("runAsUser", pod_sc.get("runAsUser")) == 10001, cwhere
                assert sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type") == "RuntimeDefault"
                for part in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container.get("resources", {}).get(part, {})), f"{cwhere} {part}"
                image = container["image"]
                assert re.search(r":[\w.-]+$", image.rsplit("/", 1)[-1]) and not image.endswith(":latest"), cwhere
                if container in spec["containers"]:  # long-running: a writable /tmp on an emptyDir
                    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                    assert "emptyDir" in volumes[mounts["/tmp"]], cwhere
            if selects(MASTER_LABELS, pod_labels(workload)):
                mounts = {m["mountPath"]: m["name"] for m in locust_container(workload)["volumeMounts"]}
                assert "emptyDir" in volumes[mounts["/reports"]], where


def test_master_probes_service_and_worker_address(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        container = locust_container(master(docs))
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["master"] == MASTER_PORT, name

        def port_of(probe: dict[str, Any], ports: dict[str, int] = ports) -> int:
            action = probe.get("httpGet") or probe.get("tcpSocket")
            assert action, probe
            value = action["port"]
            return ports[value] if isinstance(value, str) else int(value)

        assert "tcpSocket" in container["livenessProbe"] and port_of(container["livenessProbe"]) == MASTER_PORT, name
        if name in HEADLESS_LIKE:
            assert "--headless" in container["args"], name
            assert port_of(container["readinessProbe"]) == MASTER_PORT, name
        else:
            assert "--headless" not in container["args"], name
            assert ports["web"] == WEB_PORT, name
            assert "httpGet" in container["readinessProbe"] and port_of(container["readinessProbe"]) == WEB_PORT
        assert "--master" in container["args"], name

        service = one(docs, "Service", "locust-master")
        assert selects(service["spec"]["selector"], pod_labels(master(docs))), name
        assert not selects(service["spec"]["selector"], pod_labels(worker(docs))), name
        assert {p["port"] for p in service["spec"]["ports"]} == {MASTER_PORT, WEB_PORT}, name
        worker_args = locust_container(worker(docs))["args"]
        assert "--worker" in worker_args and arg_value(worker_args, "--master-host") == "locust-master", name


def test_master_exposes_its_metrics_port_to_prometheus(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The web and headless masters serve --metrics-port (LOCUST_METRICS_PORT in locust-env)
    on a named container port, announce it with prometheus.io/* annotations, and the
    NetworkPolicy lets a Prometheus in any namespace reach it."""
    for name, docs in rendered.items():
        workload = master(docs)
        env = one(docs, "ConfigMap", "locust-env")["data"]
        port = int(env["LOCUST_METRICS_PORT"])
        ports = {p["name"]: p["containerPort"] for p in locust_container(workload)["ports"]}
        assert ports["metrics"] == port, name
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/port") == str(port), name
        assert annotations.get("prometheus.io/path") == "/metrics", name
        assert "annotations" not in worker(docs)["spec"]["template"]["metadata"], name  # workers serve nothing
        policy = one(docs, "NetworkPolicy", "locust-master")
        rules = [r for r in policy["spec"]["ingress"] if port in {p.get("port") for p in r.get("ports", [])}]
        assert rules and rules[0]["from"] == [{"namespaceSelector": {}}], name


def test_headless_waits_for_every_worker(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in HEADLESS_LIKE:
        docs = rendered[name]
        job = master(docs)
        assert job["kind"] == "Job" and job["spec"]["backoffLimit"] == 0, name
        assert pod_spec(job)["restartPolicy"] == "Never", name
        args = locust_container(job)["args"]
        assert int(arg_value(args, "--expect-workers")) == worker_count(worker(docs)), name
        assert arg_value(args, "--exit-code-on-error") == "1", name
        # --json alone: Locust 2.47 resets the stats while printing them, so with --json-file
        # too the second report would be empty.
        assert "--json" in args and not any(a.startswith("--json-file") for a in args), name
        assert not objects([d for d in docs if d["metadata"]["name"] == "locust-master"], "Deployment"), name


def test_headless_runs_leave_nothing_behind(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Headless runs end clean: no Deployment outlives the master (the workers are a Job whose
    pods exit when the master quits), every Job is deleted after it finished, and the worker
    Job has a deadline past the master's wait for workers plus its run time."""
    for name in HEADLESS_LIKE:
        docs = rendered[name]
        locust = [w for w in workloads(docs) if w["metadata"]["name"].startswith("locust-")]
        assert {w["kind"] for w in locust} == {"Job"}, f"{name}: {[(w['kind'], w['metadata']['name']) for w in locust]}"
        for job in objects(docs, "Job"):
            assert 0 < job["spec"]["ttlSecondsAfterFinished"] <= 86400, f"{name}: {job['metadata']['name']}"
        workers = worker(docs)
        assert pod_spec(workers)["restartPolicy"] == "OnFailure", name  # a crash restarts; a quit completes
        args = locust_container(master(docs))["args"]
        needed = int(arg_value(args, "--expect-workers-max-wait")) + seconds(arg_value(args, "--run-time"))
        assert workers["spec"]["activeDeadlineSeconds"] >= needed + 300, (name, needed)  # + the end of the run
        worker_args = locust_container(workers)["args"]
        assert "--worker" in worker_args and arg_value(worker_args, "--exit-code-on-error") == "0", name


def test_headless_keeps_its_report_in_s3(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The headless run uploads its report (the local smoke run, against emulators, does not)."""
    for name in HEADLESS_LIKE:
        env = one(rendered[name], "ConfigMap", "locust-env")["data"]
        expected = "" if name == "local" else "s3://aws-load-reports/runs/"
        assert env["LOCUST_REPORT_S3_URI"] == expected, name
    assert "LOCUST_REPORT_S3_URI" not in one(rendered["web"], "ConfigMap", "locust-env")["data"]


def test_monitoring_overlay_scrapes_the_master_and_ships_the_dashboard(
    rendered_all: dict[str, list[dict[str, Any]]],
) -> None:
    """k8s/overlays/monitoring: a PodMonitor whose selector picks the master of every run overlay
    (never a worker) on its named metrics port and path, and the dashboard as a ConfigMap for
    Grafana's sidecar: the JSON file itself, a datasource variable, no __inputs. (kubernetes-
    validate has no schema for PodMonitor, a custom resource: k8s_check.sh validates it against
    the operator's types, which check required fields and types; unknown fields are checked here.)"""
    docs = rendered_all[MONITORING]
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "PodMonitor"]
    monitor = one(docs, "PodMonitor", "locust-master")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) == {"selector", "podMetricsEndpoints"}
    assert set(monitor["spec"]["selector"]) == {"matchLabels"}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) == {"port", "path", "interval"} and re.fullmatch(r"\d+s", endpoint["interval"])
    for name, run in rendered_all.items():
        if name == MONITORING:
            continue
        master_pod = master(run)
        assert selects(monitor["spec"]["selector"]["matchLabels"], pod_labels(master_pod)), name
        assert not selects(monitor["spec"]["selector"]["matchLabels"], pod_labels(worker(run))), name
        ports = {p["name"]: p["containerPort"] for p in locust_container(master_pod)["ports"]}
        assert ports[endpoint["port"]] == int(one(run, "ConfigMap", "locust-env")["data"]["LOCUST_METRICS_PORT"])
        assert endpoint["path"] == master_pod["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]
    dashboard_map = one(docs, "ConfigMap", "aws-load-dashboard")
    assert dashboard_map["metadata"]["name"] == "aws-load-dashboard"  # no hash suffix: one dashboard, replaced
    assert dashboard_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    text = dashboard_map["data"]["aws-load.json"]
    assert text == (ROOT / "k8s" / "dashboards" / "aws-load.json").read_text()
    dashboard = json.loads(text)
    assert "__inputs" not in dashboard and "${DS_" not in text
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    sources = [p["datasource"] for p in dashboard["panels"]]
    sources += [t["datasource"] for p in dashboard["panels"] for t in p["targets"]] + [variables["job"]["datasource"]]
    assert all(source == {"type": "prometheus", "uid": "${datasource}"} for source in sources), sources


def test_network_policy_lets_only_workers_reach_the_master_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        master_labels = pod_labels(master(docs))
        pods = {w["metadata"]["name"]: pod_labels(w) for w in workloads(docs)}
        policies = [
            p
            for p in objects(docs, "NetworkPolicy")
            if selects(p["spec"]["podSelector"].get("matchLabels", {}), master_labels)
        ]
        assert policies, f"{name}: no NetworkPolicy selects the master"
        worker_allowed = web_allowed = False
        for policy in policies:
            assert "Ingress" in policy["spec"]["policyTypes"], name
            for rule in policy["spec"].get("ingress", []):
                ports = {p.get("port") for p in rule.get("ports", [])}
                covers_master = not rule.get("ports") or MASTER_PORT in ports or "master" in ports
                peers = rule.get("from")
                if covers_master:
                    assert peers, f"{name}: {policy['metadata']['name']} opens {MASTER_PORT} to everyone"
                    for peer in peers:
                        assert set(peer) == {"podSelector"}, f"{name}: {peer} is not a same-namespace pod selector"
                        selector = peer["podSelector"]
                        assert set(selector) == {"matchLabels"} and selector["matchLabels"], (
                            f"{name}: {policy['metadata']['name']} opens {MASTER_PORT} to {selector or 'every pod'}"
                        )
                        chosen = [pod for pod, labels in pods.items() if selects(selector["matchLabels"], labels)]
                        assert chosen == ["locust-worker"], f"{name}: {MASTER_PORT} reachable from {chosen}"
                        assert selects(selector["matchLabels"], pod_labels(worker(docs))), name
                    worker_allowed = True
                if WEB_PORT in ports and peers == [{"podSelector": {}}]:
                    web_allowed = True
        assert worker_allowed, f"{name}: workers cannot reach the master port"
        assert web_allowed, f"{name}: the web UI port is not open to the namespace"
        worker_policy = one(docs, "NetworkPolicy", "locust-worker")
        assert worker_policy["spec"]["ingress"] == [] and worker_policy["spec"]["policyTypes"] == ["Ingress"]


def test_credentials_come_from_irsa_or_an_optional_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        account = one(docs, "ServiceAccount", "locust")
        annotations = account["metadata"].get("annotations", {})
        if name == "irsa":
            assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::"), name
        else:
            assert "eks.amazonaws.com/role-arn" not in annotations, name
        secrets = {s["metadata"]["name"] for s in objects(docs, "Secret")}
        for workload in (master(docs), worker(docs)):
            assert pod_spec(workload)["serviceAccountName"] == "locust", name
            refs = [e["secretRef"] for e in locust_container(workload)["envFrom"] if "secretRef" in e]
            assert len(refs) == 1 and refs[0]["name"].startswith("aws-credentials"), name
            if name == "local":
                assert refs[0]["name"] in secrets, name  # the emulators' fake keys, generated
            else:
                assert refs[0]["optional"] is True and not secrets, name  # never a key in git


def test_dockerfile_builds_the_image_the_manifests_use(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$", dockerfile, re.M | re.I)
    stages = {alias: image for image, alias in froms if alias}
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile)
    assert re.search(r"ARG NODE_IMAGE=node:20\b", dockerfile)
    assert {"build", "npm", "runtime", "emulators"} <= set(stages), stages
    assert froms[-1][1] == "runtime", "the last stage (the default target) must be the Locust image"
    assert re.search(r"^USER 10001(:10001)?$", dockerfile, re.M)
    assert re.search(r"^WORKDIR /app$", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["locust"\]$', dockerfile, re.M)
    assert "requirements.txt" in dockerfile and "npm ci" in dockerfile
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "**/node_modules", "reports", ".git"} <= ignored
    # Every /app path a manifest names exists in the repository and is copied into the image.
    named = {name: set(re.findall(r"/app/([\w./-]+)", yaml.safe_dump_all(docs))) for name, docs in rendered.items()}
    assert "locustfiles/dynamodb.py" in named["base"], named["base"]  # the paths were found (LOCUST_LOCUSTFILE)
    for name, paths in named.items():
        for path in paths:
            assert (ROOT / path).exists(), f"{name} names /app/{path}, missing from the repository"
            assert re.search(rf"^COPY .*\b{re.escape(path.split('/')[0])}/", dockerfile, re.M), path


def pinned_names(requirements: str) -> dict[str, str]:
    """name (normalised) -> the `name==version` lines of a requirements file."""
    lines = (ROOT / requirements).read_text().splitlines()
    return {_norm(line.split("==")[0]): line for line in lines if "==" in line and not line.startswith("#")}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_locust_image_packages_cover_every_import_and_are_pinned() -> None:
    """The Locust image installs requirements.txt, the runtime pins: pyproject.toml's
    dependencies and everything they pull in (extras followed), exactly, so the image gets
    no development package (pytest aside: locust itself requires it) and nothing unpinned.
    Every third-party import of writers/, locustfiles/ and fault_proxy/ (what the image
    copies) is of a package pyproject.toml declares, not one that comes along by chance;
    requirements-dev.txt holds the development pins, none of them a runtime one."""
    import ast
    import importlib.metadata as metadata
    import tomllib

    from packaging.requirements import Requirement

    norm = _norm
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install -r requirements\.txt\b", dockerfile), "the Locust image installs the runtime pins"
    assert re.search(r"pip install --no-deps --no-build-isolation \.", dockerfile), "and the project, no deps"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    roots = {norm(Requirement(line).name) for line in project["dependencies"]}
    assert {"locust", "boto3", "aiobotocore"} <= roots
    setuptools = re.search(r"^ARG SETUPTOOLS=setuptools==(\S+)$", dockerfile, re.M)
    assert setuptools and metadata.version("setuptools") == setuptools.group(1), "pin the .venv's setuptools"
    pinned = set(pinned_names("requirements.txt"))
    assert roots <= pinned, f"dependencies not in requirements.txt: {sorted(roots - pinned)}"
    image: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(name, frozenset()) for name in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        image.add(name)
        for requirement in metadata.distribution(name).requires or []:
            req = Requirement(requirement)
            if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in ("", *extras)):
                todo.append((norm(req.name), frozenset(req.extras)))
    unpinned = image - pinned - {"setuptools"}
    assert not unpinned, f"the Locust image would get unpinned packages: {sorted(unpinned)}"
    assert pinned == image - {"setuptools"}, (
        f"requirements.txt pins what the image does not need: {sorted(pinned - image)}"
    )
    dev = pinned_names("requirements-dev.txt")
    assert (ROOT / "requirements-dev.txt").read_text().splitlines().count("-r requirements.txt") == 1
    assert not set(dev) & pinned, f"pinned twice: {sorted(set(dev) & pinned)}"
    extras = project["optional-dependencies"]
    dev_roots = {norm(Requirement(line).name) for name in ("dev", "compare") for line in extras[name]}
    assert dev_roots <= set(dev) | pinned, f"dev extra not pinned: {sorted(dev_roots - set(dev) - pinned)}"
    providers = metadata.packages_distributions()
    own = {"writers", "aws_locust", "fault_proxy"}
    image_packages = ("writers", "locustfiles", "fault_proxy")  # what the Dockerfile copies
    for package in image_packages:
        assert re.search(rf"^COPY {package}/", dockerfile, re.M), package
    assert not re.search(r"^COPY comparison/", dockerfile, re.M), "a development tool (the compare extra)"
    for source in [path for package in image_packages for path in (ROOT / package).rglob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in own or top in sys.stdlib_module_names:
                    continue
                dists = {norm(d) for d in providers.get(top, [])}
                assert dists & roots, (
                    f"{source.relative_to(ROOT)} imports {module} ({sorted(dists) or 'not installed'}), "
                    "which pyproject.toml does not declare: add it to its dependencies (and requirements.txt)"
                )


def test_the_project_installs_its_packages() -> None:
    """aws_locust is installed with the project (no sys.path edits): it imports from the
    installed location, and pyproject.toml finds every package, wherever it lives."""
    import importlib.metadata as metadata

    import aws_locust

    assert Path(aws_locust.__file__).resolve().is_relative_to(ROOT / "locustfiles" / "aws_locust")
    assert str(ROOT / "locustfiles") not in sys.path  # found through the install, not a path edit
    files = {str(path) for path in metadata.files("aws-load-writers") or []}
    assert any("aws_locust" in name or "__editable__" in name for name in files), sorted(files)[:20]


# --------------------------------------------------------------------------- running the CLI


def test_master_conf_fits_every_locustfile(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """k8s/base/locust.conf parses for every service's locustfile as it is, with the master's
    args: the resource names are LOCUST_TABLE, LOCUST_BUCKET, ... in locust.env (each
    locustfile reads its own), so switching the service is LOCUST_LOCUSTFILE alone."""
    from writers.services import SERVICES, workload_class, workloads

    docs = rendered["web"]
    deployment = master(docs)
    pod = Pod(docs, deployment, locust_container(deployment), tmp_path)
    conf = Path(pod.map(arg_value(pod.container["args"], "--config")))
    kinds = ("table", "bucket", "queue", "stream")
    assert not re.search(rf"^({'|'.join(kinds)}) *=", conf.read_text(), re.M)  # in locust.env instead
    locustfiles = sorted((ROOT / "locustfiles").glob("*.py"))
    assert locustfiles
    for locustfile in locustfiles:
        # a service's locustfile reads its own resource's name; mixed.py (every service) reads them all
        services = [workload_class(locustfile.stem)] if locustfile.stem in SERVICES else workloads()
        for kind in (w.resource_kind for w in services):
            assert pod.env().get(f"LOCUST_{kind.upper()}"), f"no LOCUST_{kind.upper()} in locust.env"
        env = {**pod.env(), "LOCUST_LOCUSTFILE": str(locustfile)}
        done = subprocess.run(
            pod.argv(extra=("--list",)), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and "SequentialUser" in done.stdout, f"{locustfile.name}: {done.stderr[-2000:]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, procs: tuple[subprocess.Popen[bytes], ...] = ()) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        for proc in procs:
            assert proc.poll() is None, f"{proc.args!r} exited with {proc.returncode} while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Pod:
    """One container of a rendered workload, its files and env mapped onto this machine."""

    docs: list[dict[str, Any]]
    workload: dict[str, Any]
    container: dict[str, Any]
    tmp: Path
    hosts: dict[str, str] = field(default_factory=dict)  # "host:port" or "http://host:port" -> local
    paths: dict[str, Path] = field(default_factory=dict)
    metrics_port: int = field(default_factory=lambda: free_port())  # LOCUST_METRICS_PORT, on 127.0.0.1 here
    extra_env: dict[str, str] = field(default_factory=dict)  # what the cluster would give: S3's endpoint, keys

    def __post_init__(self) -> None:
        spec = pod_spec(self.workload)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        self.paths[IMAGE_APP_DIR] = ROOT
        for mount in self.container.get("volumeMounts", []):
            local = self.tmp / mount["mountPath"].strip("/").replace("/", "_")
            local.mkdir(parents=True, exist_ok=True)
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                data = one(self.docs, "ConfigMap", volume["configMap"]["name"])["data"]
                for key, text in data.items():
                    (local / key).write_text(text)
            self.paths[mount["mountPath"]] = local

    def map(self, value: str) -> str:
        for remote, local in self.hosts.items():
            value = value.replace(remote, local)
        for remote, local_path in sorted(self.paths.items(), key=lambda kv: -len(kv[0])):
            if value == remote or value.startswith(remote + "/"):
                return str(local_path) + value[len(remote) :]
        return value

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCUST_"))}
        # Safety net: nothing this test starts may reach a real AWS endpoint or IMDS.
        env.update(
            PYTHONUNBUFFERED="1",
            HOME=str(self.tmp),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_ENDPOINT_URL="http://127.0.0.1:9",
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        for source in self.container.get("envFrom", []):
            if "configMapRef" in source:
                env.update(one(self.docs, "ConfigMap", source["configMapRef"]["name"])["data"])
            elif "secretRef" in source:
                secrets = [
                    s for s in objects(self.docs, "Secret") if s["metadata"]["name"] == source["secretRef"]["name"]
                ]
                assert secrets or source["secretRef"].get("optional"), source
                for secret in secrets:
                    env.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
        for item in self.container.get("env", []):
            env[item["name"]] = item["value"]
        if "LOCUST_METRICS_PORT" in env:  # the pod's port, moved to a free one on loopback
            env.update(LOCUST_METRICS_PORT=str(self.metrics_port), LOCUST_METRICS_HOST="127.0.0.1")
        env.update(self.extra_env)
        return {k: self.map(v) if k.startswith(("AWS_ENDPOINT_URL", "LOCUST_")) else v for k, v in env.items()}

    def argv(self, replace: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> list[str]:
        """The container's command line; `replace` swaps the value of a --flag."""
        args = [self.map(a) for a in self.container.get("args", [])]
        for flag, value in (replace or {}).items():
            index = args.index(flag)
            args[index + 1] = value
        command = [self.map(c) for c in self.container.get("command", [])] or [str(LOCUST)]
        if command[0] == "python":
            command[0] = str(PYTHON)
        return [*command, *args, *extra]

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                argv, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def dynalite(local: SharedEmulators) -> RunningEmulator:
    return local.get("dynamodb")


def run_distributed(
    docs: list[dict[str, Any]],
    tmp: Path,
    master_extra: tuple[str, ...],
    hosts: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[Pod, str]:
    """Run the master Job's args with --expect-workers workers from the worker Job's (or Deployment's) args."""
    port = free_port()
    job = master(docs)
    master_pod = Pod(docs, job, locust_container(job), tmp / "master", hosts=dict(hosts or {}), extra_env=env or {})
    workers = [
        Pod(docs, worker(docs), locust_container(worker(docs)), tmp / f"worker{i}", hosts=dict(hosts or {}),
            extra_env=env or {})
        for i in range(worker_count(worker(docs)))
    ]  # fmt: skip
    master_argv = master_pod.argv(
        replace={"--run-time": "25s"},
        extra=("--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), *master_extra),
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        master_proc = master_pod.start(master_argv, tmp / "master.log")
        procs.append(master_proc)
        for i, pod in enumerate(workers):
            argv = pod.argv(replace={"--master-host": "127.0.0.1"}, extra=("--master-port", str(port)))
            procs.append(pod.start(argv, tmp / f"worker{i}.log"))
        try:
            code = master_proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            code = None
        output = (tmp / "master.log").read_text()
        assert code == 0, f"master exit {code}:\n{output[-4000:]}"
        for i, proc in enumerate(procs[1:]):  # the master tells its workers to quit
            assert proc.wait(timeout=15) == 0, (tmp / f"worker{i}.log").read_text()[-2000:]
    finally:
        stop(procs)
    return master_pod, output


def json_report(output: str) -> list[dict[str, Any]]:
    """The final stats, taken from the output the way the README says for `kubectl logs`."""
    extracted = subprocess.run(["sed", "-n", SED_JSON], input=output, capture_output=True, text=True, check=True).stdout
    stats = json.loads(extracted)
    assert sum(s["num_requests"] for s in stats) > 0, stats
    assert sum(s["num_failures"] for s in stats) == 0, stats
    return stats


def report_store(local: SharedEmulators, uri: str) -> tuple[dict[str, str], Any, str, str]:
    """SeaweedFS standing in for the overlay's report bucket: the pods' S3 environment, a client,
    the bucket and the prefix (the bucket made if missing)."""
    seaweedfs = local.get("s3", "seaweedfs")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3", endpoint_url=seaweedfs.endpoint, region_name="us-east-1", aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY, config=BotoConfig(s3={"addressing_style": "path"}),
    )  # fmt: skip
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
    env = {"AWS_ENDPOINT_URL_S3": seaweedfs.endpoint, "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}  # fmt: skip
    return env, client, bucket, prefix


def object_names(client: Any, bucket: str, prefix: str) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}


@pytest.mark.slow
def test_headless_job_and_worker_args_run(
    rendered: dict[str, list[dict[str, Any]]], local: SharedEmulators, tmp_path: Path
) -> None:
    """The headless overlay's own args and environment (its report kept in S3: SeaweedFS here),
    a local target and a small record quota; the workers end with the master."""
    docs = rendered["headless"]
    uri = one(docs, "ConfigMap", "locust-env")["data"]["LOCUST_REPORT_S3_URI"]
    s3_env, client, bucket, prefix = report_store(local, uri)
    before = object_names(client, bucket, prefix)
    _, output = run_distributed(docs, tmp_path, ("--target", "local", "--max-records", "200"), env=s3_env)
    stats = json_report(output)
    kept = object_names(client, bucket, prefix) - before
    names = {key.removeprefix(prefix) for key in kept}
    reports = {name for name in names if name.startswith("aws-report-")}
    assert len(reports) == 2 and {name for name in names if name.startswith("aws-summary-")}, sorted(names)
    (summary_key,) = [key for key in kept if "aws-summary-" in key]
    summary = json.loads(client.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    assert summary["acked"] >= 200 and len(summary["acked_by_worker"]) == worker_count(worker(docs))
    assert any(s["method"] == "DynamoDB" for s in stats), stats


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_headless_workers_end_when_the_master_dies(
    rendered: dict[str, list[dict[str, Any]]], local: SharedEmulators, tmp_path: Path
) -> None:
    """A master killed without a word (OOM, a lost node): its worker notices the missing heartbeat
    and exits 0 within Locust's 60 s, which completes the worker Job instead of leaving it waiting."""
    docs = rendered["headless"]
    s3_env, *_ = report_store(local, one(docs, "ConfigMap", "locust-env")["data"]["LOCUST_REPORT_S3_URI"])
    port = free_port()
    job, workers = master(docs), worker(docs)
    master_pod = Pod(docs, job, locust_container(job), tmp_path / "master", extra_env=s3_env)
    worker_pod = Pod(docs, workers, locust_container(workers), tmp_path / "worker", extra_env=s3_env)
    master_argv = master_pod.argv(
        replace={"--run-time": "180s", "--expect-workers": "1"},
        extra=("--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--target", "local"),
    )
    worker_argv = worker_pod.argv(replace={"--master-host": "127.0.0.1"}, extra=("--master-port", str(port)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(master_pod.start(master_argv, tmp_path / "master.log"))
        procs.append(worker_pod.start(worker_argv, tmp_path / "worker.log"))
        wait_for(lambda: "All users spawned" in (tmp_path / "master.log").read_text(), 60, "the swarm", tuple(procs))
        os.killpg(procs[0].pid, signal.SIGKILL)  # the master and the emulator it started
        killed = time.monotonic()
        code = procs[1].wait(timeout=120)
        waited = time.monotonic() - killed
    finally:
        stop(procs)
    log = (tmp_path / "worker.log").read_text()
    assert code == 0, log[-3000:]  # 0: the Job counts the pod complete; never restarted to wait again
    assert 55 <= waited <= 100, waited
    assert "heartbeat" in log, log[-2000:]


@pytest.mark.slow
def test_local_overlay_runs_against_its_endpoint_settings(
    rendered: dict[str, list[dict[str, Any]]], dynalite: RunningEmulator, tmp_path: Path
) -> None:
    """--target aws with the overlay's AWS_ENDPOINT_URL_* and fake-key Secret, the init
    container's wait, all pointed at 127.0.0.1 (DynamoDB at a real dynalite)."""
    docs = rendered["local"]
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]  # stand-ins for S3, SQS
    try:
        ports = [dynalite.port, *(s.getsockname()[1] for s in listeners)]
        hosts = {f"aws-emulators:{4566 + i}": f"127.0.0.1:{port}" for i, port in enumerate(ports)}
        job = master(docs)
        inits = pod_spec(job).get("initContainers", [])
        assert inits, "the local overlay's master has no init container to wait for its endpoints"
        for init in inits:
            pod = Pod(docs, job, init, tmp_path / init["name"], hosts=hosts)
            done = subprocess.run(pod.argv(), cwd=ROOT, env=pod.env(), capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stdout + done.stderr
        env = Pod(docs, job, locust_container(job), tmp_path / "env", hosts=hosts).env()
        assert env["AWS_ENDPOINT_URL_DYNAMODB"] == dynalite.endpoint
        assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    finally:
        for listener in listeners:
            listener.close()
    _, output = run_distributed(docs, tmp_path, ("--max-records", "300"), hosts=hosts)
    json_report(output)
    assert "deleted DynamoDB table" in output  # teardown = true in the overlay's locust.conf


@pytest.mark.slow
def test_web_master_probes_and_worker_args(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    docs = rendered["web"]
    deployment = master(docs)
    container = locust_container(deployment)
    master_pod = Pod(docs, deployment, container, tmp_path / "master")
    worker_pod = Pod(docs, worker(docs), locust_container(worker(docs)), tmp_path / "worker")
    bind, web = free_port(), free_port()
    master_argv = master_pod.argv(
        extra=(
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(bind),
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(web),
            "--target",
            "local",
        )
    )
    readiness = container["readinessProbe"]["httpGet"]["path"]

    def get(path: str) -> tuple[int, bytes] | None:
        connection = http.client.HTTPConnection("127.0.0.1", web, timeout=2)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        except OSError:
            return None
        finally:
            connection.close()

    procs: list[subprocess.Popen[bytes]] = []
    try:
        master_proc = master_pod.start(master_argv, tmp_path / "master.log")
        procs.append(master_proc)
        status, _ = wait_for(lambda: get(readiness), 30, f"readiness probe GET {readiness}", (master_proc,))
        assert 200 <= status < 400
        socket.create_connection(("127.0.0.1", bind), timeout=2).close()  # the liveness probe
        argv = worker_pod.argv(replace={"--master-host": "127.0.0.1"}, extra=("--master-port", str(bind)))
        procs.append(worker_pod.start(argv, tmp_path / "worker.log"))

        def workers() -> list[Any]:
            answer = get("/stats/requests")
            return json.loads(answer[1]).get("workers", []) if answer and answer[0] == 200 else []

        assert len(wait_for(workers, 30, "the worker to connect", tuple(procs))) == 1
        scrape = http.client.HTTPConnection("127.0.0.1", master_pod.metrics_port, timeout=5)
        scrape.request("GET", master(docs)["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"])
        answer = scrape.getresponse()
        assert answer.status == 200
        served = {s.name: s.value for f in text_string_to_metric_families(answer.read().decode()) for s in f.samples}
        scrape.close()
        assert served["aws_load_workers"] == 1 and served["aws_load_users"] == 0  # what Prometheus scrapes: no test yet
    finally:
        stop(procs)
    assert master_proc.returncode == 0, (tmp_path / "master.log").read_text()[-3000:]


@pytest.mark.slow
def test_emulators_deployment_args(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """The local overlay's emulators pod: its command, args and readiness probe."""
    docs = rendered["local"]
    deployment = one(docs, "Deployment", "aws-emulators")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "/app/scripts/emulators.py"]
    help_text = subprocess.run(
        [str(PYTHON), str(ROOT / "scripts" / "emulators.py"), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    if "--bind" not in help_text or "--port-base" not in help_text:
        pytest.skip("scripts/emulators.py has no --bind/--port-base yet (the local overlay's emulators pod needs them)")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    base = next(b for b in range(24566, 60000, 7) if all(_free(b + i) for i in range(3)))
    pod = Pod(docs, deployment, container, tmp_path / "emulators")
    argv = pod.argv(replace={"--bind": "127.0.0.1", "--port-base": str(base)})
    probe = [str(PYTHON), *container["readinessProbe"]["exec"]["command"][1:]]
    probe[-1] = probe[-1].replace("(4566, 4567, 4568)", f"({base}, {base + 1}, {base + 2})")
    procs = [pod.start(argv, tmp_path / "emulators.log")]
    try:
        wait_for(
            lambda: subprocess.run(probe, capture_output=True, timeout=10).returncode == 0,
            90,
            "the emulators' readiness probe",
            tuple(procs),
        )
    finally:
        stop(procs)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
