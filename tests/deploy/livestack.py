"""A running sopstream for the deploy tests: `sop-stack up` (embedded broker, redis-server,
every built service on free loopback ports), events through `sopctl ingest`, /metrics scrapes.

Everything started here is stopped by stop() (SIGTERM to sop-stack, which stops the services,
redis and the broker; SIGKILL after a deadline). Waits are conditions with deadlines.
"""
import ctypes
import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.request


class StackError(RuntimeError):
    pass


def wait_for(what, predicate, timeout, interval=0.2):
    """Polls predicate() until it returns a truthy value; raises naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _stop_with_parent():
    """In the child before exec: SIGTERM when this test process dies, even by SIGKILL (a ctest
    timeout), so sop-stack stops its services in order instead of outliving the test."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


class LiveStack:
    def __init__(self, build_dir, work_dir):
        self.build = pathlib.Path(build_dir)
        self.work = pathlib.Path(work_dir)
        self.dir = self.work / "stack"
        self.process = None
        self.endpoints = {}

    def binary(self, relative):
        path = self.build / relative
        if not path.exists():
            raise StackError(f"{path} is not built")
        return str(path)

    def start(self, timeout=120):
        self.dir.mkdir(parents=True, exist_ok=True)
        stack_json = self.dir / "stack.json"
        if stack_json.exists():
            stack_json.unlink()
        self.stdout = open(self.work / "sop-stack.out", "w")
        self.stderr = open(self.work / "sop-stack.err", "w")
        self.process = subprocess.Popen(
            [self.binary("tools/stack/sop-stack"), "up", "--dir", str(self.dir)],
            stdout=self.stdout, stderr=self.stderr, start_new_session=True,
            preexec_fn=_stop_with_parent)

        def ready():
            if self.process.poll() is not None:
                raise StackError("sop-stack exited with %d: %s" % (
                    self.process.returncode, (self.work / "sop-stack.err").read_text()[-2000:]))
            return "ready" in (self.work / "sop-stack.out").read_text()

        wait_for("sop-stack to report ready", ready, timeout)
        stack = json.loads(stack_json.read_text())
        self.endpoints = stack["services"]
        return self

    def services(self):
        return sorted(self.endpoints)

    def metrics_url(self, service):
        return f"http://{self.endpoints[service]['metrics']}/metrics"

    def scrape(self, service):
        return http_get(self.metrics_url(service))

    def sopctl(self, *args, check=True):
        command = [self.binary("tools/sopctl/sopctl"), "--json", "--timeout", "60"]
        for service, endpoint in self.endpoints.items():
            if service in ("ingestion", "forecasting", "mrp", "capacity", "exceptions"):
                command += [f"--{service}", endpoint["grpc"]]
        # The stack's services enforce the call policy: calls go as its planner principal.
        env = dict(os.environ, SOPCTL_TOKEN=(self.dir / "pat.token").read_text().strip())
        result = subprocess.run(command + list(args), capture_output=True, text=True, timeout=120,
                                env=env)
        if check and result.returncode != 0:
            raise StackError(f"sopctl {' '.join(args)} exited {result.returncode}: "
                             f"{result.stderr.strip()} {result.stdout.strip()[:500]}")
        return result

    def stop(self, timeout=40):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise StackError(f"sop-stack did not stop within {timeout} s (killed)")
        finally:
            self.stdout.close()
            self.stderr.close()


def generate_events(build_dir, out, seed=3, history_weeks=8):
    """The generated S manufacturer (sop-gen) as JSON lines; returns the lines."""
    subprocess.run([str(pathlib.Path(build_dir) / "tools/gen/sop-gen"), "--scale", "S", "--seed",
                    str(seed), "--history-weeks", str(history_weeks), "--out", str(out)],
                   check=True, capture_output=True, timeout=120)
    return pathlib.Path(out).read_text().splitlines()


def rejected_event(lines, event_id):
    """One envelope every ingestion rejects: a sales order for a site nobody declared."""
    for line in lines:
        envelope = json.loads(line)
        if "salesOrder" in envelope:
            envelope["eventId"] = event_id
            envelope["site"] = "NOWHERE"
            envelope["salesOrder"]["siteId"] = "NOWHERE"
            return json.dumps(envelope)
    raise StackError("no salesOrder event in the generated stream")
