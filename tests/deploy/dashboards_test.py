#!/usr/bin/env python3
"""Static checks of deploy/grafana/dashboards (no binaries needed): valid JSON, uid = file name,
stable and unique; the datasource and namespace variables on every dashboard; every query uses
the datasource variable and the namespace selector; every metric name it queries belongs to a
sopstream service (or the runtime's shared families); the committed JSON is what
deploy/grafana/generate-dashboards writes.

usage: dashboards_test.py REPO_DIR
"""
import json
import pathlib
import subprocess
import sys

import metricrefs

UIDS = {"sop-overview", "sop-business", "sop-ingestion", "sop-forecasting", "sop-mrp",
        "sop-capacity", "sop-exceptions", "sop-workflow"}
SERVICES = ["ingestion", "forecasting", "mrp", "capacity", "exceptions", "workflow"]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    repo = pathlib.Path(argv[1])
    folder = repo / "deploy/grafana/dashboards"
    failures = []

    def fail(message):
        failures.append(message)
        print(f"FAIL {message}")

    seen = set()
    queries = 0
    for path in sorted(folder.glob("*.json")):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            fail(f"{path.name}: not JSON: {error}")
            continue
        uid = board.get("uid")
        if uid != path.stem:
            fail(f"{path.name}: uid {uid!r} differs from the file name")
        if uid in seen:
            fail(f"{path.name}: uid {uid} used twice")
        seen.add(uid)
        variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
        if variables.get("datasource", {}).get("type") != "datasource":
            fail(f"{path.name}: no datasource variable")
        if "namespace" not in variables:
            fail(f"{path.name}: no namespace variable")
        if uid.removeprefix("sop-") in SERVICES and "instance" not in variables:
            fail(f"{path.name}: a service dashboard needs the instance variable")
        if uid == "sop-overview" and "service" not in variables:
            fail(f"{path.name}: the overview needs the service variable")
        ids = [p["id"] for p in board["panels"]]
        if len(ids) != len(set(ids)):
            fail(f"{path.name}: panel ids repeat")
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                queries += 1
                where = f"{path.name}: {panel['title']}"
                if target.get("datasource", {}).get("uid") != "${datasource}":
                    fail(f"{where}: target does not use the datasource variable")
                if 'namespace=~"$namespace"' not in target["expr"]:
                    fail(f"{where}: query lacks the namespace selector: {target['expr']}")
                for name in metricrefs.names_in(target["expr"]):
                    if not (name.startswith(tuple(f"sop_{s}_" for s in SERVICES))
                            or name.startswith(("sop_grpc_server_", "sop_build_info", "process_"))
                            or name == "up"):
                        fail(f"{where}: {name} is not a sopstream metric")
    missing = UIDS - seen
    if missing:
        fail(f"dashboards missing: {', '.join(sorted(missing))}")
    generator = subprocess.run([str(repo / "deploy/grafana/generate-dashboards"), "--check"],
                               capture_output=True, text=True)
    if generator.returncode != 0:
        fail(f"generate-dashboards --check: {generator.stderr.strip()}")
    print(f"{len(seen)} dashboards, {queries} queries, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
