"""The deployment recipes in examples/deploy/ are kept in step: nginx.conf, docker-compose.yml and
kubernetes.yaml parse, and name the same instance count, ports, environment variables, and
timeouts that fit together. Compose and Kubernetes cannot run here (no Docker, no cluster); the
nginx config runs for real in tests/e2e/test_scale_out.py."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from tests.support import nginx
from toolwire.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "examples" / "deploy"
NGINX = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
KUBE: list[dict[str, Any]] = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
INSTANCES = 3


def nginx_ports() -> list[int]:
    return [int(p) for p in re.findall(r"^\s+server 127\.0\.0\.1:(\d+) ", NGINX, re.MULTILINE)]


def nginx_seconds(directive: str) -> float:
    found = re.search(rf"^\s+{directive} (\d+)s;", NGINX, re.MULTILINE)
    assert found is not None, directive
    return float(found.group(1))


def compose_instances() -> dict[str, dict[str, str]]:
    """Service name -> environment, for every toolwire service."""
    return {
        name: {k: str(v) for k, v in service["environment"].items()}
        for name, service in COMPOSE["services"].items()
        if name.startswith("toolwire-")
    }


def kube(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in KUBE if d["kind"] == kind and d["metadata"]["name"] == name)


def kube_instances() -> dict[str, dict[str, str]]:
    """Container name -> environment (values, or `secret:<key>`), for every toolwire container."""
    pod = kube("Deployment", "toolwire")["spec"]["template"]["spec"]
    return {
        c["name"]: {
            e["name"]: e.get("value") or f"secret:{e['valueFrom']['secretKeyRef']['key']}"
            for e in c["env"]
        }
        for c in pod["containers"]
        if c["name"].startswith("toolwire-")
    }


def test_all_three_run_the_same_number_of_instances_on_the_same_ports() -> None:
    ports = nginx_ports()
    assert len(ports) == len(compose_instances()) == len(kube_instances()) == INSTANCES
    assert sorted(int(env["TOOLWIRE_PORT"]) for env in compose_instances().values()) == ports
    assert sorted(int(env["TOOLWIRE_PORT"]) for env in kube_instances().values()) == ports
    for envs in (compose_instances(), kube_instances()):
        assert {env["TOOLWIRE_HOST"] for env in envs.values()} == {"127.0.0.1"}


def test_every_instance_gets_the_same_settings_by_the_same_names() -> None:
    compose, kubernetes = compose_instances(), kube_instances()
    names = {frozenset(env) for env in (*compose.values(), *kubernetes.values())}
    assert len(names) == 1, names
    known = {f"TOOLWIRE_{f.name.upper()}" for f in fields(Settings)}
    assert set(next(iter(names))) <= known
    for envs in (compose, kubernetes):  # only the port differs between instances
        shared = [{k: v for k, v in env.items() if k != "TOOLWIRE_PORT"} for env in envs.values()]
        assert all(s == shared[0] for s in shared)
    a, b = next(iter(compose.values())), next(iter(kubernetes.values()))
    for same in ("TOOLWIRE_KEEP_ALIVE_S", "TOOLWIRE_DRAIN_TIMEOUT_S", "TOOLWIRE_LOG_FORMAT"):
        assert a[same] == b[same], same
    for shared_secret in ("TOOLWIRE_SECRET_KEY", "TOOLWIRE_ADMIN_KEY", "TOOLWIRE_DATABASE_URL"):
        assert b[shared_secret].startswith("secret:"), "Kubernetes takes secrets from a Secret"
    assert a["TOOLWIRE_STATE_URL"].startswith("redis://")
    assert b["TOOLWIRE_STATE_URL"].startswith("redis://")


def test_timeouts_fit_together() -> None:
    env = next(iter(compose_instances().values()))
    drain = float(env["TOOLWIRE_DRAIN_TIMEOUT_S"])
    # nginx closes idle upstream connections before the instance would
    assert nginx_seconds("keepalive_timeout") < float(env["TOOLWIRE_KEEP_ALIVE_S"])
    grace = COMPOSE["x-toolwire"]["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > drain
    pod = kube("Deployment", "toolwire")["spec"]["template"]["spec"]
    pre_stop = max(
        int(c["lifecycle"]["preStop"]["exec"]["command"][1])
        for c in pod["containers"]
        if c["name"].startswith("toolwire-")
    )
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain


def test_nginx_is_the_same_file_everywhere_and_listens_where_they_expect() -> None:
    assert kube("ConfigMap", "toolwire-nginx")["data"]["nginx.conf"] == NGINX
    nginx_service = COMPOSE["services"]["nginx"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx_service["volumes"]
    listen = re.search(r"^\s+listen (\d+);", NGINX, re.MULTILINE)
    assert listen is not None
    pod = kube("Deployment", "toolwire")["spec"]["template"]["spec"]
    proxy = next(c for c in pod["containers"] if c["name"] == "nginx")
    assert proxy["ports"][0]["containerPort"] == int(listen.group(1))
    assert kube("Service", "toolwire")["spec"]["ports"][0]["targetPort"] == "http"
    for directive in ("proxy_buffering off;", "proxy_http_version 1.1;", 'Connection "";'):
        assert directive in NGINX
    assert re.search(r"proxy_next_upstream error [^;]*http_503", NGINX)
    assert "non_idempotent" not in NGINX.split("proxy_next_upstream ", 1)[1].split(";", 1)[0]


def test_nginx_accepts_a_rendered_copy_of_the_recipe(tmp_path: Path) -> None:
    binary = nginx.nginx_binary()
    conf = nginx.render(tmp_path, listen_port=8080, upstream_ports=[8701, 8702, 8703])
    checked = nginx.check(binary, conf)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
