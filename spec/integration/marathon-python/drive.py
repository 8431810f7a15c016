"""A real Marathon client, not written by this project, driving paasbox's apps API (issue 21).

spec/integration/apps-api.spec.ts runs this with the venv python that has PyPI's `marathon`
(marathon-python) installed, one step per run, and checks each step's JSON line against the
API and the swarm. The API's URL and login come from the 0600 JSON file named by
PAASBOX_MARATHON_PY_CONFIG ({"url", "user", "password"} or {"url", "token"}); never argv.

    drive.py info | list | create (app JSON on stdin) | get ID | tasks ID | scale ID N
           | restart ID | versions ID | version ID VERSION | delete ID

Every call goes through marathon.MarathonClient's own methods and models (its parsing of the
answers included): an answer the library cannot read fails the step with its own exception.
"""
import collections
import collections.abc
import json
import os
import sys

# marathon 0.13.0 (the newest on PyPI) still names collections.Iterable, which Python 3.10
# removed: its JSON encoder fails on every nested model (container, health checks) without
# this alias. Nothing else of the library is touched.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable

from marathon import MarathonClient
from marathon.exceptions import MarathonHttpError
from marathon.models import MarathonApp, MarathonHealthCheck
from marathon.models.app import MarathonUpgradeStrategy
from marathon.models.container import (
    MarathonContainer,
    MarathonContainerPortMapping,
    MarathonDockerContainer,
)


def client():
    with open(os.environ["PAASBOX_MARATHON_PY_CONFIG"], encoding="utf-8") as f:
        c = json.load(f)
    if "token" in c:
        return MarathonClient(c["url"], auth_token=c["token"], timeout=30)
    return MarathonClient(c["url"], username=c["user"], password=c["password"], timeout=30)


def app_from_spec(spec):
    """The app as a library user writes it: the library's model classes, not raw JSON."""
    return MarathonApp(
        instances=spec["instances"],
        cpus=spec.get("cpus", 0.1),
        mem=spec.get("mem", 64),
        env=spec.get("env"),
        labels=spec.get("labels"),
        container=MarathonContainer(
            type="DOCKER",
            docker=MarathonDockerContainer(image=spec["image"], network="BRIDGE", force_pull_image=False),
            port_mappings=[
                MarathonContainerPortMapping(container_port=8080, host_port=0, protocol="tcp", name="http")
            ],
        ),
        health_checks=[
            MarathonHealthCheck(
                protocol="HTTP",
                path="/health",
                port_index=0,
                grace_period_seconds=10,
                interval_seconds=2,
                timeout_seconds=2,
                max_consecutive_failures=3,
            )
        ],
        upgrade_strategy=MarathonUpgradeStrategy(minimum_health_capacity=0.5, maximum_over_capacity=0.5),
    )


def summary(app):
    """What the spec checks of an app, read from the library's parsed model."""
    return {
        "id": app.id,
        "instances": app.instances,
        "tasksRunning": app.tasks_running,
        "tasksHealthy": app.tasks_healthy,
        "version": app.version,
        "image": app.container.docker.image if app.container and app.container.docker else None,
        "env": app.env,
        "deployments": [d.id if hasattr(d, "id") else d for d in (app.deployments or [])],
    }


def main(argv):
    c = client()
    step = argv[1] if len(argv) > 1 else ""
    if step == "info":
        info = c.get_info()
        out = {"name": info.name, "version": info.version}
    elif step == "list":
        out = {"apps": [summary(a) for a in c.list_apps()]}
    elif step == "create":
        spec = json.load(sys.stdin)
        app = c.create_app(spec["id"], app_from_spec(spec))
        out = {"created": summary(app) if app else None}
    elif step == "get":
        out = {"app": summary(c.get_app(argv[2]))}
    elif step == "tasks":
        out = {
            "tasks": [
                {"id": t.id, "appId": t.app_id, "host": t.host, "ports": t.ports, "version": t.version}
                for t in c.list_tasks(argv[2])
            ]
        }
    elif step == "scale":
        out = {"scaled": c.scale_app(argv[2], instances=int(argv[3]))}
    elif step == "restart":
        out = {"restarted": c.restart_app(argv[2])}
    elif step == "versions":
        out = {"versions": c.list_versions(argv[2])}
    elif step == "version":
        app = c.get_version(argv[2], argv[3])
        out = {"app": {"id": app.id, "instances": app.instances, "version": app.version}}
    elif step == "delete":
        out = {"deleted": c.delete_app(argv[2])}
    else:
        print(f"drive.py: unknown step {step!r}", file=sys.stderr)
        return 2
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except MarathonHttpError as e:
        # The library's own reading of Marathon's error shape: status and message.
        print(json.dumps({"error": {"status": e.status_code, "message": e.error_message}}))
        sys.exit(1)
