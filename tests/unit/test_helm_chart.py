"""The Helm chart (deploy/helm/t2i-triton) renders offline and its objects are valid; compose.yaml parses.

The chart is rendered by Helm's own engine (Helm v4's Go SDK, bundled in the helm-python-sdk wheel: no
helm binary, no cluster, no network), and every rendered object is checked against the Kubernetes
OpenAPI schemas shipped in kubernetes-validate, in strict mode (an unknown or misspelt field fails).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "t2i-triton"
ADAPTER_VALUES = ROOT / "deploy" / "helm" / "prometheus-adapter-values.yaml"
COMPOSE = ROOT / "deploy" / "compose.yaml"
# The newest Kubernetes kubernetes-validate ships schemas for (its version follows Kubernetes').
KUBERNETES_VERSION = "1.37.0"
RELEASE = "t2i"
NAMESPACE = "images"
TRITON = "t2i-t2i-triton-triton"
FRONTEND = "t2i-t2i-triton-frontend"

# The frontend's secrets have no defaults (the chart refuses to invent a URL secret or a database).
SECRETS: dict[str, Any] = {
    "frontend": {
        "secrets": {
            "urlSecret": "0123456789abcdef",
            "databaseUrl": "postgresql://t2i:pw@postgres:5432/t2i",
            "blobStoreUrl": "s3://t2i-images/images",
            "s3EndpointUrl": "http://seaweedfs:8333",
            "awsAccessKeyId": "AKIA-TEST",
            "awsSecretAccessKey": "secret-test",
            "redisUrl": "redis://redis:6379/0",
        }
    }
}
S3_REPOSITORY: dict[str, Any] = {
    "triton": {
        "modelRepository": {"url": "s3://https://s3.example:443/models/sd15", "persistentVolumeClaim": ""},
        "s3": {"accessKeyId": "AKIA-MODELS", "secretAccessKey": "models-secret", "region": "eu-west-1"},
    }
}
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
FRONTEND_SECRET_KEYS = {
    "T2I_URL_SECRET",
    "T2I_DATABASE_URL",
    "T2I_BLOB_STORE_URL",
    "T2I_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "T2I_REDIS_URL",
}
# Kinds that are not built into Kubernetes, so kubernetes-validate has no schema for them; their fields
# are asserted by hand below.
CUSTOM_RESOURCE_KINDS = {"PodMonitor"}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Several values files merged as `helm -f a.yaml -f b.yaml` does: later keys win, maps merge."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def values_file(name: str) -> dict[str, Any]:
    """A values file of the chart, parsed by Helm's own YAML reader (as `helm -f` reads it)."""
    return helm.values_from_yaml((CHART / name).read_text())


def render_files(*layers: dict[str, Any]) -> dict[str, str]:
    """`helm template` of the chart: template path -> rendered text (NOTES.txt included)."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(merged(*layers), name=RELEASE, namespace=NAMESPACE)


def render(*layers: dict[str, Any]) -> list[dict[str, Any]]:
    """The rendered Kubernetes objects."""
    return [
        doc
        for path, text in render_files(*layers).items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def only(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def container(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    (result,) = pod_spec(objects, deployment)["containers"]
    return result


def pod_spec(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    return only(objects, "Deployment", deployment)["spec"]["template"]["spec"]


def volumes_of(objects: list[dict[str, Any]], deployment: str) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(objects, deployment)["volumes"]}


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def secret_names(c: dict[str, Any]) -> set[str]:
    """The Secrets a container's environment reads."""
    return {e["valueFrom"]["secretKeyRef"]["name"] for e in env_of(c).values() if "valueFrom" in e}


def repository(**source: str) -> dict[str, Any]:
    return {"triton": {"modelRepository": source}}


# Two Triton Deployments: SDXL on GPU nodes from one folder of the volume, SD 1.5 on CPU nodes from another,
# plus a third reading its own S3 repository.
GPU_POOL = "t2i-t2i-triton-triton-sdxl-gpu"
CPU_POOL = "t2i-t2i-triton-triton-sd15-cpu"
S3_POOL = "t2i-t2i-triton-triton-turbo"
DEPLOYMENTS: dict[str, Any] = {
    "triton": {
        "deployments": [
            {
                "name": "sdxl-gpu",
                "modelRepository": {"persistentVolumeClaim": "t2i-model-repository", "subPath": "gpu"},
                "resources": {"limits": {"memory": "32Gi", "nvidia.com/gpu": 1}},
                "nodeSelector": {"nvidia.com/gpu.present": "true"},
                "autoscaling": {"maxReplicas": 8},
            },
            {
                "name": "sd15-cpu",
                "modelRepository": {"persistentVolumeClaim": "t2i-model-repository", "subPath": "cpu"},
                "autoscaling": {"enabled": False},
                "replicas": 2,
            },
            {
                "name": "turbo",
                "modelRepository": {"url": "s3://models/turbo"},
                "s3": {"accessKeyId": "AKIA-TURBO", "secretAccessKey": "turbo-secret", "region": "eu-west-1"},
            },
        ]
    }
}

SCENARIOS = {
    "defaults": [SECRETS],
    "gpu": [values_file("values-gpu.yaml"), SECRETS],
    "s3-repository": [SECRETS, S3_REPOSITORY],
    "host-path-repository": [SECRETS, repository(persistentVolumeClaim="", hostPath="/srv/models")],
    "existing-secrets": [
        {"frontend": {"existingSecret": "t2i-frontend-env"}},
        S3_REPOSITORY,
        {"triton": {"s3": {"existingSecret": "t2i-model-store"}}},
    ],
    "no-autoscaling": [SECRETS, {"autoscaling": {"enabled": False}, "triton": {"replicas": 3}}],
    "pod-monitor": [SECRETS, {"triton": {"podMonitor": {"enabled": True, "labels": {"release": "prom"}}}}],
    "several-deployments": [SECRETS, DEPLOYMENTS, {"triton": {"podMonitor": {"enabled": True}}}],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_is_valid_kubernetes(scenario: str) -> None:
    objects = render(*SCENARIOS[scenario])
    assert objects
    for obj in objects:
        if obj["kind"] in CUSTOM_RESOURCE_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    unvalidated = {o["kind"] for o in objects if o["kind"] in CUSTOM_RESOURCE_KINDS}
    assert unvalidated == ({"PodMonitor"} if scenario in {"pod-monitor", "several-deployments"} else set())


def test_strict_validation_catches_a_misspelt_field() -> None:
    """The check above is not vacuous: an unknown field in a rendered object fails it."""
    deployment = only(render(SECRETS), "Deployment", TRITON)
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_helm_lint_finds_no_warning() -> None:
    report = helm.lint(CHART, SECRETS, strict=True, kube_version=f"v{KUBERNETES_VERSION}")
    assert report["errors"] == []
    # Severity 1 is informational (Chart.yaml has no icon); 2 and 3 are warnings and errors.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_api_versions() -> None:
    objects = render(SECRETS)
    versions = {(o["kind"], o["apiVersion"]) for o in objects}
    assert versions == {
        ("Deployment", "apps/v1"),
        ("Service", "v1"),
        ("Secret", "v1"),
        ("HorizontalPodAutoscaler", "autoscaling/v2"),
    }
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment") == [FRONTEND, TRITON]


def test_triton_ports_probes_metrics_and_shared_memory() -> None:
    objects = render(SECRETS)
    triton = container(objects, TRITON)
    assert {p["name"]: p["containerPort"] for p in triton["ports"]} == TRITON_PORTS
    assert triton["args"][0] == "tritonserver"
    assert {"--metrics-port=8002", "--allow-metrics=true", "--grpc-port=8001"} <= set(triton["args"])
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    startup = triton["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/health/ready"
    # Model loading may take minutes: at least ten before the pod is restarted.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600

    pod = only(objects, "Deployment", TRITON)["spec"]["template"]
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8002",
        "prometheus.io/path": "/metrics",
    }
    volumes = volumes_of(objects, TRITON)
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert {"name": "shm", "mountPath": "/dev/shm"} in triton["volumeMounts"]
    assert "nvidia.com/gpu" not in triton["resources"].get("limits", {})

    service = only(objects, "Service", TRITON)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == TRITON_PORTS
    selector = only(objects, "Deployment", TRITON)["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    # The headless Service the frontends resolve into every ready pod (dns:/// in T2I_TRITON_URL).
    pods = only(objects, "Service", f"{TRITON}-pods")
    assert pods["spec"]["clusterIP"] == "None"
    assert pods["spec"]["selector"] == selector
    assert [p["port"] for p in pods["spec"]["ports"]] == [8001]


def test_frontend_probes_env_and_triton_address() -> None:
    objects = render(SECRETS)
    deployment = only(objects, "Deployment", FRONTEND)
    assert deployment["spec"]["replicas"] == 2
    frontend = container(objects, FRONTEND)
    assert frontend["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert frontend["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert frontend["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    env = env_of(frontend)
    assert env["T2I_HOST"]["value"] == "0.0.0.0"
    # Every Triton pod behind the headless Service, re-resolved by the frontend (frontend/triton/pool.py).
    assert env["T2I_TRITON_URL"]["value"] == f"dns:///{TRITON}-pods:8001"
    assert set(env) >= FRONTEND_SECRET_KEYS
    for name in FRONTEND_SECRET_KEYS:
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": FRONTEND,
            "key": name,
            **({"optional": True} if name in {"T2I_S3_ENDPOINT_URL", "T2I_REDIS_URL"} else {}),
        }

    secret = only(objects, "Secret", FRONTEND)
    given = SECRETS["frontend"]["secrets"]
    assert secret["stringData"] == {
        "T2I_URL_SECRET": given["urlSecret"],
        "T2I_DATABASE_URL": given["databaseUrl"],
        "T2I_BLOB_STORE_URL": given["blobStoreUrl"],
        "T2I_S3_ENDPOINT_URL": given["s3EndpointUrl"],
        "AWS_ACCESS_KEY_ID": given["awsAccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": given["awsSecretAccessKey"],
        "T2I_REDIS_URL": given["redisUrl"],
    }
    assert only(objects, "Service", FRONTEND)["spec"]["ports"][0]["port"] == 8000


def test_hpa_scales_triton_on_the_adapter_queue_metric() -> None:
    objects = render(SECRETS)
    hpa = only(objects, "HorizontalPodAutoscaler", TRITON)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": TRITON}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
    (metric,) = hpa["metrics"]
    assert metric == {
        "type": "Pods",
        "pods": {
            "metric": {"name": "avg_time_queue_us"},
            # Printed whole: Helm's floats would print 1e+06.
            "target": {"type": "AverageValue", "averageValue": "1000000"},
        },
    }
    # The HPA owns the replica count: the Deployment leaves it unset so an upgrade does not reset it.
    assert "replicas" not in only(objects, "Deployment", TRITON)["spec"]

    # The metric the HPA asks for is the one the shipped prometheus-adapter rule defines, from Triton's
    # queue time and request count, attached to pods.
    adapter = yaml.safe_load(ADAPTER_VALUES.read_text())
    (rule,) = adapter["rules"]["custom"]
    assert rule["name"]["as"] == metric["pods"]["metric"]["name"]
    assert rule["seriesQuery"].startswith("nv_inference_queue_duration_us{")
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    query = rule["metricsQuery"]
    assert "nv_inference_queue_duration_us{<<.LabelMatchers>>}" in query
    assert "nv_inference_request_success{<<.LabelMatchers>>}" in query
    assert "by (<<.GroupBy>>)" in query


def test_hpa_can_be_disabled() -> None:
    objects = render(*SCENARIOS["no-autoscaling"])
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert only(objects, "Deployment", TRITON)["spec"]["replicas"] == 3


def test_gpu_values_request_a_gpu_on_gpu_nodes() -> None:
    objects = render(*SCENARIOS["gpu"])
    triton = container(objects, TRITON)
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    pod = pod_spec(objects, TRITON)
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    # The frontend needs no GPU and stays off the GPU nodes' taint.
    assert "nvidia.com/gpu" not in container(objects, FRONTEND)["resources"].get("limits", {})
    assert "tolerations" not in pod_spec(objects, FRONTEND)


def test_existing_secrets_are_referenced_not_created() -> None:
    objects = render(*SCENARIOS["existing-secrets"])
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert secret_names(container(objects, FRONTEND)) == {"t2i-frontend-env"}
    assert secret_names(container(objects, TRITON)) == {"t2i-model-store"}


def test_s3_model_repository_is_passed_to_tritonserver() -> None:
    objects = render(*SCENARIOS["s3-repository"])
    triton = container(objects, TRITON)
    assert "--model-repository=s3://https://s3.example:443/models/sd15" in triton["args"]
    env = env_of(triton)
    secret_name = f"{TRITON}-s3"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret_name, "key": name}
    assert only(objects, "Secret", secret_name)["stringData"] == {
        "AWS_ACCESS_KEY_ID": "AKIA-MODELS",
        "AWS_SECRET_ACCESS_KEY": "models-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    # No model volume; Triton's copy of the repository goes to a bounded emptyDir.
    assert env["TRITON_AWS_MOUNT_DIRECTORY"]["value"] == "/model-cache"
    volumes = volumes_of(objects, TRITON)
    assert set(volumes) == {"shm", "model-cache"}
    assert volumes["model-cache"]["emptyDir"] == {"sizeLimit": "20Gi"}
    assert "/models" not in {m["mountPath"] for m in triton["volumeMounts"]}


@pytest.mark.parametrize(
    ("scenario", "volume"),
    [
        ("defaults", {"persistentVolumeClaim": {"claimName": "t2i-model-repository", "readOnly": True}}),
        ("host-path-repository", {"hostPath": {"path": "/srv/models", "type": "Directory"}}),
    ],
)
def test_volume_model_repository_is_mounted_read_only(scenario: str, volume: dict[str, Any]) -> None:
    objects = render(*SCENARIOS[scenario])
    triton = container(objects, TRITON)
    assert "--model-repository=/models" in triton["args"]
    assert {"name": "model-repository", "mountPath": "/models", "readOnly": True} in triton["volumeMounts"]
    volumes = volumes_of(objects, TRITON)
    assert volumes["model-repository"] == {"name": "model-repository", **volume}
    assert "AWS_ACCESS_KEY_ID" not in env_of(triton)


def test_pod_monitor_selects_the_triton_pods() -> None:
    objects = render(*SCENARIOS["pod-monitor"])
    monitor = only(objects, "PodMonitor", TRITON)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    selector = only(objects, "Deployment", TRITON)["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["selector"]["matchLabels"] == selector
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "15s"}


def test_several_triton_deployments_each_serve_their_own_repository() -> None:
    objects = render(*SCENARIOS["several-deployments"])
    pools = (GPU_POOL, CPU_POOL, S3_POOL)
    deployments = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment")
    assert deployments == sorted([FRONTEND, *pools])

    # Each Deployment's Services, HPA and PodMonitor select its own pods and no other's.
    selectors = {name: only(objects, "Deployment", name)["spec"]["selector"]["matchLabels"] for name in pools}
    for name, selector in selectors.items():
        labels = only(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert only(objects, "Service", name)["spec"]["selector"] == selector
        assert only(objects, "Service", f"{name}-pods")["spec"]["selector"] == selector
        assert only(objects, "PodMonitor", name)["spec"]["selector"]["matchLabels"] == selector
        for other in set(pools) - {name}:
            other_labels = only(objects, "Deployment", other)["spec"]["template"]["metadata"]["labels"]
            assert not selector.items() <= other_labels.items(), f"{name}'s selector matches {other}'s pods"

    # One volume, one folder of it each.
    for name, folder in ((GPU_POOL, "gpu"), (CPU_POOL, "cpu")):
        mount = {"name": "model-repository", "mountPath": "/models", "readOnly": True, "subPath": folder}
        assert mount in container(objects, name)["volumeMounts"]
        assert "--model-repository=/models" in container(objects, name)["args"]
    turbo = container(objects, S3_POOL)
    assert "--model-repository=s3://models/turbo" in turbo["args"]
    assert secret_names(turbo) == {f"{S3_POOL}-s3"}
    assert only(objects, "Secret", f"{S3_POOL}-s3")["stringData"]["AWS_ACCESS_KEY_ID"] == "AKIA-TURBO"

    # An entry's keys replace triton's whole; the others come from triton.
    gpu = container(objects, GPU_POOL)
    assert gpu["resources"] == {"limits": {"memory": "32Gi", "nvidia.com/gpu": 1}}
    assert pod_spec(objects, GPU_POOL)["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "nodeSelector" not in pod_spec(objects, CPU_POOL)
    assert container(objects, CPU_POOL)["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    assert gpu["args"][-1] == "--log-verbose=0"

    # Autoscaling per Deployment: its own maximum, or none and fixed replicas.
    hpas = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    assert set(hpas) == {GPU_POOL, S3_POOL}
    assert (hpas[GPU_POOL]["minReplicas"], hpas[GPU_POOL]["maxReplicas"]) == (1, 8)
    assert hpas[S3_POOL]["maxReplicas"] == 4
    assert hpas[GPU_POOL]["scaleTargetRef"]["name"] == GPU_POOL
    assert only(objects, "Deployment", CPU_POOL)["spec"]["replicas"] == 2
    assert "replicas" not in only(objects, "Deployment", GPU_POOL)["spec"]

    # The frontend resolves every Deployment's pods and routes by model (frontend/triton/pool.py).
    urls = env_of(container(objects, FRONTEND))["T2I_TRITON_URL"]["value"]
    assert urls == ",".join(f"dns:///{name}-pods:8001" for name in pools)
    notes = render_files(*SCENARIOS["several-deployments"])["t2i-triton/templates/NOTES.txt"]
    assert f"kubectl get hpa --namespace {NAMESPACE} {GPU_POOL} {S3_POOL}" in notes


def test_frontend_accepts_the_chart_triton_urls() -> None:
    """The comma-separated dns:/// list the chart writes is one the frontend's parser takes."""
    from frontend.triton.pool import check_urls, parse_urls

    objects = render(*SCENARIOS["several-deployments"])
    urls = parse_urls(env_of(container(objects, FRONTEND))["T2I_TRITON_URL"]["value"])
    check_urls(urls)
    assert len(urls) == 3


def deployment(**entry: Any) -> dict[str, Any]:
    return merged(SECRETS, {"triton": {"deployments": [entry]}})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "frontend.secrets.urlSecret is required"),
        (merged(SECRETS, repository(hostPath="/srv/models")), "set exactly one of"),
        (
            merged(SECRETS, repository(url="gs://bucket/models", persistentVolumeClaim="")),
            "must start with s3://",
        ),
        (
            merged(SECRETS, repository(url="s3://b/m", persistentVolumeClaim="")),
            "triton.s3.accessKeyId is required",
        ),
        (merged(SECRETS, {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}), "minReplicas (5) is above"),
        (
            deployment(modelRepository={"persistentVolumeClaim": "pvc"}),
            "triton.deployments[0].name is required",
        ),
        (deployment(name="GPU_pool"), "triton.deployments[0].name must be 1 to 20 lowercase"),
        (
            merged(SECRETS, {"triton": {"deployments": [{"name": "a"}, {"name": "a"}]}}),
            'triton.deployments[1].name "a" is used by another entry',
        ),
        (deployment(name="a", nodeSelectr={}), "triton.deployments[0].nodeSelectr is not a key of triton"),
        (
            deployment(name="a", modelRepository={"hostPath": "/srv", "persistentVolumeClaim": "pvc"}),
            "set exactly one of triton.deployments[0].modelRepository.url",
        ),
        (
            deployment(
                name="a", modelRepository={"url": "s3://b/m", "subPath": "gpu"}, s3={"existingSecret": "x"}
            ),
            "triton.deployments[0].modelRepository.subPath is for a volume",
        ),
        (
            deployment(name="a", autoscaling={"minReplicas": 3, "maxReplicas": 2}),
            "triton.deployments[0].autoscaling.minReplicas (3) is above its maxReplicas (2)",
        ),
        (
            deployment(name="a", modelRepository={"url": "s3://b/m"}, s3={}),
            "triton.deployments[0].s3.accessKeyId is required",
        ),
    ],
)
def test_bad_values_fail_with_a_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_files(values)


def test_notes_explain_the_first_api_key() -> None:
    """The first key comes from a one-off pod (the replicas do not start before one exists) with the
    frontend's image and Secret; later ones from any running replica."""
    notes = render_files(SECRETS)["t2i-triton/templates/NOTES.txt"]
    overrides = json.loads(re.search(r"--overrides='([^']*)'", notes).group(1))
    (keys,) = overrides["spec"]["containers"]
    assert keys["command"] == ["python", "-m", "frontend.keys", "create", "--name", "me"]
    assert keys["envFrom"] == [{"secretRef": {"name": FRONTEND}}]
    assert keys["image"] == "t2i-frontend:0.1.0"
    exec_command = f"kubectl exec --namespace {NAMESPACE} deploy/{FRONTEND} -- python -m frontend.keys create"
    assert exec_command in notes


def test_compose_runs_the_scale_out_services() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"triton", "frontend-a", "frontend-b", "postgres", "redis", "s3", "s3-init"} <= set(services)
    assert services["triton"]["shm_size"]
    assert "../model_repository:/models:ro" in services["triton"]["volumes"]
    for name in ("frontend-a", "frontend-b"):
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/frontend.Dockerfile"
        env = service["environment"]
        assert FRONTEND_SECRET_KEYS | {"T2I_HOST", "T2I_TRITON_URL"} <= set(env)
        assert env["T2I_TRITON_URL"] == "triton:8001"
        assert env["T2I_DATABASE_URL"].startswith("postgresql://")
        assert env["T2I_BLOB_STORE_URL"].startswith("s3://")
        assert set(service["depends_on"]) == {"triton", "postgres", "redis", "s3-init"}
    # Two replicas on two host ports, one container port.
    assert services["frontend-a"]["ports"] != services["frontend-b"]["ports"]
    assert services["s3"]["image"].startswith("chrislusf/seaweedfs")
    assert "-s3" in services["s3"]["command"].split()
