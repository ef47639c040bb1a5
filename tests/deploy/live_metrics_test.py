#!/usr/bin/env python3
"""Live /metrics of every built service: promtool check metrics passes, labels are bounded, and
every metric the dashboards and alert rules query is exposed (or, for a service not built yet,
listed in expected-metrics.txt, reported as EXPECTED).

usage: live_metrics_test.py REPO_DIR BUILD_DIR WORK_DIR

Starts `sop-stack up` (broker, redis-server, every built service), sends the generated S
manufacturer (30,769 events) and one event for an unknown site through ingestion, asks each
service for its health (RED metrics), waits until every referenced family shows a series (a
labelled family appears with its first series), then checks. Exit 0 when every check passed.
"""
import pathlib
import re
import subprocess
import sys

import livestack
import metricrefs

SERVICES = ["ingestion", "forecasting", "mrp", "capacity", "exceptions", "workflow"]
SHARED = ("sop_grpc_server_", "sop_build_info", "process_")
# Labels that would make a series per business object (unbounded cardinality).
FORBIDDEN_LABELS = {"item", "item_id", "order", "order_id", "event_id", "customer",
                    "customer_id", "sku", "purchase_order", "work_order"}
MAX_SERIES_PER_FAMILY = 1000


def owner(name):
    for service in SERVICES:
        if name.startswith(f"sop_{service}_"):
            return service
    if name.startswith(SHARED):
        return "*"
    return None


def sample_names(text):
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M)}


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[4], file=sys.stderr)
        return 2
    repo, build, work = (pathlib.Path(a) for a in argv[1:])
    work.mkdir(parents=True, exist_ok=True)
    refs = metricrefs.referenced(repo)
    expected = metricrefs.load_expected(pathlib.Path(__file__).parent / "expected-metrics.txt")
    known_lint = set()
    for raw in (pathlib.Path(__file__).parent / "known-metric-lint.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            known_lint.add(raw.strip())
    failures = []

    def fail(message):
        failures.append(message)
        print(f"FAIL {message}")

    stack = livestack.LiveStack(build, work)
    try:
        stack.start()
        running = stack.services()
        print(f"running: {', '.join(running)}; not built: "
              f"{', '.join(s for s in SERVICES if s not in running) or 'none'}")
        lines = livestack.generate_events(build, work / "events.jsonl")
        (work / "rejected.jsonl").write_text(livestack.rejected_event(lines, "deploy-test:unknown-site") + "\n")
        if "ingestion" in running:
            stack.sopctl("ingest", str(work / "events.jsonl"), "--batch", "20000")
            bad = stack.sopctl("ingest", str(work / "rejected.jsonl"), check=False)
            if '"rejected":1' not in bad.stdout.replace(" ", ""):
                fail(f"the unknown-site event was not rejected: {bad.stdout.strip()[:300]}")
        stack.sopctl("status", *[s for s in running if s != "workflow"], check=False)

        wanted = {s: set() for s in running}
        for name in refs:
            who = owner(name)
            for service in (running if who == "*" else [who] if who in running else []):
                wanted[service].add(name)

        scrapes = {}

        def all_present():
            for service in running:
                scrapes[service] = stack.scrape(service)
            return all(wanted[s] <= sample_names(scrapes[s]) for s in running)

        try:
            livestack.wait_for("every referenced metric on the running services", all_present, 90, 1.0)
        except livestack.StackError as error:
            print(f"note: {error}")

        exposed = {s: sample_names(scrapes[s]) for s in running}
        ok = 0
        for name in sorted(refs):
            who = owner(name)
            where = refs[name][0] + (f" (+{len(refs[name]) - 1} more)" if len(refs[name]) > 1 else "")
            if who is None:
                fail(f"{name}: not a sopstream metric name ({where})")
            elif who == "*":
                missing = [s for s in running if name not in exposed[s]]
                if missing:
                    fail(f"{name}: not exposed by {', '.join(missing)} ({where})")
                else:
                    ok += 1
            elif who in running:
                if name in exposed[who]:
                    ok += 1
                else:
                    fail(f"{name}: not exposed by the running {who} service ({where})")
            elif metricrefs.family_of(name) in expected.get(who, set()) or name in expected.get(who, set()):
                print(f"EXPECTED {name}: sop-{who} not built; listed in expected-metrics.txt ({where})")
            else:
                fail(f"{name}: sop-{who} is not built and the name is not in expected-metrics.txt ({where})")
        for service in running:
            if expected.get(service):
                print(f"note: expected-metrics.txt lists {len(expected[service])} names of {service}, "
                      "which now runs (its names were checked live above; the lines can go)")

        for service in running:
            text = scrapes[service]
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                                   text=True, timeout=30)
            findings = [line.strip() for line in (check.stdout + check.stderr).splitlines() if line.strip()]
            unknown = [f for f in findings if f"{service}: {f}" not in known_lint]
            for finding in findings:
                if finding not in unknown:
                    print(f"KNOWN promtool check metrics ({service}): {finding} (known-metric-lint.txt)")
            if unknown or (check.returncode != 0 and not findings):
                fail(f"promtool check metrics ({service}): {' | '.join(unknown) or 'exit %d' % check.returncode}")
            else:
                print(f"ok   promtool check metrics ({service}, {len(text.splitlines())} lines)")
            series = {}
            for match in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", text, re.M):
                series[match.group(1)] = series.get(match.group(1), 0) + 1
                for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=", match.group(2)):
                    if label in FORBIDDEN_LABELS:
                        fail(f"{service}: {match.group(1)} has the unbounded label {label}")
            for family, count in series.items():
                if count > MAX_SERIES_PER_FAMILY:
                    fail(f"{service}: {family} has {count} series (> {MAX_SERIES_PER_FAMILY})")
        print(f"ok   {ok} referenced metric names exposed by the running services")
    except livestack.StackError as error:
        fail(str(error))
    finally:
        try:
            stack.stop()
        except livestack.StackError as error:
            fail(str(error))
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
