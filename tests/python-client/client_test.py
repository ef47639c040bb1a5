#!/usr/bin/python3
"""A gRPC client not written in C++ calls every running sopstream service (issue 6).

Starts sop-devbroker, a redis-server on a free loopback port and the given service binaries as
processes (gRPC and metrics on port 0; the port is read from the service's "listening" log line),
then, with Debian's python3-grpcio and python3-protobuf and stubs generated at build time:

- grpc.health.v1 Check on every service (overall and its sop.v1 service name): SERVING;
- Ingestion.Submit: a small hand-made manufacturer (site P1, FG1 with 100 on hand and a sales
  order of 150 due in bucket 1 inside its 2-week frozen fence; FG2 shipping 10 a week for 20
  weeks) plus 3 invalid events, then one re-sent event: counts received/accepted/rejected/
  duplicates; ListRejected names field and reason of each invalid event;
- Forecasting.GetForecast (FG2: statistical 10 a week), AdjustForecast (+5 SALES in bucket 2 by
  a named owner → consensus 15, recorded with owner and reason), GetAccuracy (FG2 over 4
  buckets: actual 40, forecast 40, WMAPE 0, bias 0) and their errors;
- Mrp.GetPlan (FG1: gross 150 in bucket 1, projected available 100 then -50, no planned order
  inside the fence, 50 planned for bucket 2; FG2: the consensus 15 reaches its gross
  requirements), GetSupplyPlan (the 50-unit gap of family BIKES in bucket 1), Replan and their
  errors (INVALID_ARGUMENT naming the field, NOT_FOUND naming what is unknown);
- capacity and exceptions (when given): health, and each RPC answers with a documented status.

Waits use deadlines and poll a gRPC read until the expected value; no fixed sleeps decide
anything. Every process started here is stopped here (SIGTERM, then SIGKILL after 10 s).
Exit status 0 = every check passed.
"""

import argparse
import collections
import datetime as dt
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------

STARTUP_TIMEOUT = 30.0


class Process:
    """A child process with its output in a log file; stopped by pid only."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.popen = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)

    def running(self):
        return self.popen.poll() is None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=10.0):
        """SIGTERM, wait, SIGKILL if needed. Returns the exit code (or -9 when killed)."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()
        return self.popen.returncode


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout, interval=0.05):
    """Polls predicate() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - reported on timeout
            last_error = error
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s%s" % (
        timeout, what, "" if last_error is None else " (last error: %r)" % (last_error,)))


# Test secrets: the services see only their SHA-256 (tokens file written by Stack.start).
PLANNER_TOKEN = "py-planner-6c1e"
READER_TOKEN = "py-reader-42d0"
TOKENS = [(PLANNER_TOKEN, "anna.planner", "planner,integration"),
          (READER_TOKEN, "rita", "reader")]


def bearer_channel(grpc, address, token):
    """A channel whose every call carries "authorization: Bearer <token>"."""
    details = collections.namedtuple(
        "Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                    "compression"))

    class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
        def _with_token(self, call_details):
            metadata = list(call_details.metadata or []) + [("authorization", "Bearer " + token)]
            return details(call_details.method, call_details.timeout, metadata,
                           call_details.credentials, call_details.wait_for_ready,
                           call_details.compression)

        def intercept_unary_unary(self, continuation, call_details, request):
            return continuation(self._with_token(call_details), request)

        def intercept_stream_unary(self, continuation, call_details, request_iterator):
            return continuation(self._with_token(call_details), request_iterator)

    return grpc.intercept_channel(grpc.insecure_channel(address), Bearer())


class Stack:
    """sop-devbroker + redis-server + the service processes."""

    def __init__(self, args):
        self.args = args
        self.processes = []
        self.grpc = {}  # service name -> "127.0.0.1:port"

    def start(self):
        work = self.args.workdir
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        bootstrap_file = os.path.join(work, "bootstrap")
        broker = self._spawn("devbroker", [self.args.devbroker, "--partitions", "3",
                                            "--bootstrap-file", bootstrap_file], os.environ.copy())
        bootstrap = wait_until("sop-devbroker's bootstrap file",
                               lambda: self._alive(broker) and os.path.exists(bootstrap_file)
                               and open(bootstrap_file).read().strip(), STARTUP_TIMEOUT)
        redis_port = self._start_redis(work)
        # The platform call policy (libs/auth): only SHA-256 hashes of the tokens in the file.
        tokens_file = os.path.join(work, "tokens")
        with open(tokens_file, "w") as out:
            for token, principal, roles in TOKENS:
                out.write("sha256:%s  %s  %s\n" % (hashlib.sha256(token.encode()).hexdigest(),
                                                   principal, roles))
        for name, binary in self.args.service:
            env = os.environ.copy()
            env.update({
                "SOP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "SOP_REDIS_HOST": "127.0.0.1",
                "SOP_REDIS_PORT": str(redis_port),
                "SOP_GRPC_HOST": "127.0.0.1",
                "SOP_GRPC_PORT": "0",
                "SOP_METRICS_HOST": "127.0.0.1",
                "SOP_METRICS_PORT": "0",
                # A local group: members notice each other quickly, fetches answer quickly.
                "SOP_KAFKA_SESSION_TIMEOUT_MS": "6000",
                "SOP_KAFKA_HEARTBEAT_INTERVAL_MS": "300",
                "SOP_KAFKA_FETCH_WAIT_MAX_MS": "50",
                "SOP_AUTH_TOKENS_FILE": tokens_file,
            })
            process = self._spawn(name, [binary], env)
            pattern = re.compile(r'"msg":"listening".*?"grpc_port":([0-9]+)')

            def listening(process=process, pattern=pattern):
                self._alive(process)
                match = pattern.search(process.log_text())
                return match and int(match.group(1))

            port = wait_until("%s's \"listening\" log line" % name, listening, STARTUP_TIMEOUT)
            self.grpc[name] = "127.0.0.1:%d" % port

    def _alive(self, process):
        if not process.running():
            raise RuntimeError("%s exited with %s; log:\n%s" % (
                process.name, process.popen.returncode, process.log_text()[-3000:]))
        return True

    def _spawn(self, name, argv, env):
        process = Process(name, argv, env, os.path.join(self.args.workdir, name + ".log"))
        self.processes.append(process)
        return process

    def _start_redis(self, work):
        redis = shutil.which("redis-server")
        if redis is None:
            raise RuntimeError("redis-server not found (apt: redis-server)")
        for attempt in range(5):
            port = free_port()
            process = self._spawn("redis-%d" % attempt, [
                redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", work], os.environ.copy())

            def ready():
                if not process.running():
                    return "exited"
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG") and "up"

            state = wait_until("redis-server PONG on port %d" % port, ready, 10.0)
            if state == "up":
                return port
            process.stop()  # the port was taken meanwhile: pick another
        raise RuntimeError("redis-server: every picked port was taken")

    def stop(self):
        """Services in reverse start order, then redis and the broker. Returns the exit codes."""
        codes = {}
        for process in reversed(self.processes):
            codes[process.name] = process.stop()
        return codes


# ------------------------------------------------------------------------------------------------
# The instance (site P1, weekly buckets from Monday 2026-11-23, 12 buckets)
# ------------------------------------------------------------------------------------------------

PLAN_START = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


def week(w, day=0):
    return PLAN_START + dt.timedelta(days=7 * w + day)


class Instance:
    def __init__(self, pb):
        self.pb = pb  # module namespace with events_pb2

    def envelope(self, event_id, site="P1"):
        e = self.pb.events_pb2.Envelope()
        e.event_id = event_id
        e.source_system = "python-client-test"
        e.site = site
        e.occurred_at.FromDatetime(PLAN_START - dt.timedelta(days=1))
        return e

    def valid(self):
        ev = self.pb.events_pb2
        out = []
        e = self.envelope("py:settings")
        e.planning_settings.plan_start.FromDatetime(PLAN_START)
        e.planning_settings.bucket_size = ev.BUCKET_SIZE_WEEK
        e.planning_settings.horizon_buckets = 12
        out.append(e)
        e = self.envelope("py:site:P1")
        e.site_master.site_id = "P1"
        e.site_master.name = "Plant 1"
        e.site_master.type = ev.SITE_TYPE_PLANT
        out.append(e)
        for item, price, fence in (("FG1", 10.0, 14.0), ("FG2", 20.0, 0.0)):
            e = self.envelope("py:item:%s" % item)
            m = e.item
            m.item_id = item
            m.site_id = "P1"
            m.description = "finished good " + item
            m.unit_of_measure = "EA"
            m.type = ev.ITEM_TYPE_BUY
            m.unit_price = price
            m.unit_cost = price / 2
            m.currency = "EUR"
            m.lead_time_days = 7
            m.frozen_fence_days = fence
            m.family = "BIKES"
            m.active = True
            out.append(e)
        e = self.envelope("py:inv:FG1")
        e.inventory_snapshot.item_id = "FG1"
        e.inventory_snapshot.site_id = "P1"
        e.inventory_snapshot.on_hand = 100
        e.inventory_snapshot.as_of.FromDatetime(PLAN_START)
        out.append(e)
        out.append(self.sales_order("py:so:SO-1", "SO-1", "FG1", 150, week(1, 2)))
        for w in range(-20, 0):  # FG2 shipped 10 every week of the 20 before the plan start
            e = self.envelope("py:ship:FG2:%d" % w)
            s = e.shipment
            s.shipment_id = "SH-FG2%d" % w
            s.customer_id = "C1"
            s.item_id = "FG2"
            s.site_id = "P1"
            s.quantity = 10
            s.shipped_at.FromDatetime(week(w, 2))
            out.append(e)
        return out

    def sales_order(self, event_id, order_id, item, quantity, due, site="P1"):
        e = self.envelope(event_id, site)
        so = e.sales_order
        so.order_id = order_id
        so.line = 1
        so.customer_id = "C1"
        so.item_id = item
        so.site_id = site
        so.quantity = quantity
        so.unit_price = 10
        so.due_date.FromDatetime(due)
        so.status = self.pb.events_pb2.ORDER_STATUS_OPEN
        return e

    def invalid(self):
        """(envelope, site, field, reason fragment) of events ingestion must reject."""
        return [
            (self.sales_order("py:bad:negative", "SO-9", "FG1", -5, week(3)), "P1",
             "sales_order.quantity", "must be >= 0, got '-5'"),
            (self.sales_order("py:bad:ghost", "SO-8", "GHOST", 5, week(3)), "P1",
             "sales_order.item_id", "got 'GHOST'"),
            (self.sales_order("py:bad:site", "SO-7", "FG1", 5, week(3), site="NOPE"), "NOPE",
             "site", "unknown site"),
        ]


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------

RESULTS = []


def check(name):
    def wrap(fn):
        def run(*args):
            started = time.monotonic()
            try:
                fn(*args)
                RESULTS.append((name, True, ""))
                print("PASS %-58s %5.1f s" % (name, time.monotonic() - started), flush=True)
            except Exception:  # noqa: BLE001 - every failure is reported, then the run goes on
                RESULTS.append((name, False, traceback.format_exc()))
                print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
        return run
    return wrap


def expect_eq(actual, expected, what):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def expect_near(actual, expected, what, tolerance=1e-6):
    if abs(actual - expected) > tolerance:
        raise AssertionError("%s: expected %r ± %g, got %r" % (what, expected, tolerance, actual))


def expect_status(grpc, call, code, fragments, what):
    """Calls call(); expects an RpcError with `code` whose details contain every fragment."""
    try:
        response = call()
    except grpc.RpcError as error:
        if error.code() != code:
            raise AssertionError("%s: expected %s, got %s: %s" % (
                what, code, error.code(), error.details()))
        for fragment in fragments:
            if fragment not in (error.details() or ""):
                raise AssertionError("%s: %s details %r do not name %r" % (
                    what, code, error.details(), fragment))
        return error
    raise AssertionError("%s: expected %s, got a response: %s" % (what, code, response))


def row(values, b):
    return values[b] if b < len(values) else None


class Client:
    def __init__(self, grpc, pb, stack):
        self.grpc = grpc
        self.pb = pb
        self.stack = stack
        # Every call as the planner: the services run with a tokens file (reads need a token too).
        self.channels = {name: bearer_channel(grpc, address, PLANNER_TOKEN)
                         for name, address in stack.grpc.items()}
        self.instance = Instance(pb)

    def stub(self, service, module, cls):
        return getattr(getattr(self.pb, module), cls)(self.channels[service])

    # -- health ---------------------------------------------------------------------------------

    @check("health: every service SERVING (overall and its sop.v1 service)")
    def health(self):
        names = {"ingestion": "sop.v1.Ingestion", "forecasting": "sop.v1.Forecasting",
                 "mrp": "sop.v1.Mrp", "capacity": "sop.v1.Capacity",
                 "exceptions": "sop.v1.Exceptions"}
        hp = self.pb.health_pb2
        for service in self.channels:
            stub = self.stub(service, "health_pb2_grpc", "HealthStub")
            for name in ("", names[service]):
                response = wait_until(
                    "%s health(%r) SERVING" % (service, name),
                    lambda: stub.Check(hp.HealthCheckRequest(service=name), timeout=2).status
                    == hp.HealthCheckResponse.SERVING, STARTUP_TIMEOUT)
                expect_eq(response, True, "%s health(%r)" % (service, name))

    # -- ingestion ------------------------------------------------------------------------------

    @check("ingestion: Submit counts accepted, rejected and duplicates")
    def submit(self):
        ingestion = self.stub("ingestion", "ingestion_pb2_grpc", "IngestionStub")
        valid = self.instance.valid()
        invalid = [entry[0] for entry in self.instance.invalid()]
        summary = ingestion.Submit(iter(valid + invalid), timeout=60)
        expect_eq(summary.received, len(valid) + len(invalid), "Submit.received")
        expect_eq(summary.accepted, len(valid), "Submit.accepted")
        expect_eq(summary.rejected, 3, "Submit.rejected")
        expect_eq(summary.duplicates, 0, "Submit.duplicates")
        expect_eq(summary.pending, 0, "Submit.pending")
        fields = sorted(r.field for r in summary.rejections)
        expect_eq(fields, ["sales_order.item_id", "sales_order.quantity", "site"],
                  "Submit.rejections fields")
        # The same sales order again: a duplicate, nothing changes.
        again = ingestion.Submit(iter([valid[5]]), timeout=60)
        expect_eq((again.received, again.accepted, again.duplicates, again.rejected),
                  (1, 0, 1, 0), "re-sent SO-1 (received, accepted, duplicates, rejected)")

    @check("ingestion: ListRejected names field and reason of each invalid event")
    def list_rejected(self):
        ingestion = self.stub("ingestion", "ingestion_pb2_grpc", "IngestionStub")
        ip = self.pb.ingestion_pb2
        listed = ingestion.ListRejected(ip.ListRejectedRequest(page_size=50), timeout=10)
        by_id = {r.event_id: r for r in listed.rejections}
        for envelope, site, field, reason in self.instance.invalid():
            r = by_id.get(envelope.event_id)
            if r is None:
                raise AssertionError("ListRejected lacks %s (has %s)" % (
                    envelope.event_id, sorted(by_id)))
            expect_eq(r.field, field, "%s field" % envelope.event_id)
            expect_eq(r.site, site, "%s site" % envelope.event_id)
            if reason not in r.reason:
                raise AssertionError("%s reason %r lacks %r" % (envelope.event_id, r.reason,
                                                                reason))
            expect_eq(len(r.original) > 0, True, "%s original bytes kept" % envelope.event_id)
        expect_eq(len(listed.rejections), 3, "ListRejected count (all sites)")
        # Site filter and paging.
        p1 = ingestion.ListRejected(ip.ListRejectedRequest(site="P1", page_size=1), timeout=10)
        expect_eq(len(p1.rejections), 1, "ListRejected(P1, page_size=1) page 1")
        expect_eq(bool(p1.next_page_token), True, "ListRejected(P1) has a next page")
        p2 = ingestion.ListRejected(ip.ListRejectedRequest(
            site="P1", page_size=1, page_token=p1.next_page_token), timeout=10)
        expect_eq(len(p2.rejections), 1, "ListRejected(P1) page 2")
        expect_eq(sorted([p1.rejections[0].event_id, p2.rejections[0].event_id]),
                  ["py:bad:ghost", "py:bad:negative"], "ListRejected(P1) event ids")

    # -- forecasting ----------------------------------------------------------------------------

    def forecast_of(self, item):
        forecasting = self.stub("forecasting", "forecasting_pb2_grpc", "ForecastingStub")
        return forecasting.GetForecast(
            self.pb.forecasting_pb2.GetForecastRequest(item_id=item, site_id="P1"), timeout=10)

    @check("forecasting: GetForecast of 10 a week is 10 a week, with owners and history")
    def get_forecast(self):
        response = wait_until("a forecast of FG2@P1", lambda: self.forecast_of("FG2"), 30.0)
        f = response.forecast
        expect_eq((f.item_id, f.site_id, f.family), ("FG2", "P1", "BIKES"), "forecast ids")
        expect_eq(len(f.periods), 12, "periods (horizon 12)")
        for period in f.periods:
            expect_near(period.statistical, 10.0, "statistical bucket %d" % period.bucket, 0.05)
            expect_near(period.consensus, period.statistical, "consensus = statistical", 1e-9)
        expect_eq(list(response.history_actuals), [10.0] * 20, "history the model saw")
        expect_eq(any(o.layer == self.pb.events_pb2.FORECAST_LAYER_STATISTICAL
                      for o in response.owners), True, "statistical layer has an owner")

    @check("forecasting: AdjustForecast +5 SALES by a named owner → consensus 15, recorded")
    def adjust_forecast(self):
        forecasting = self.stub("forecasting", "forecasting_pb2_grpc", "ForecastingStub")
        ev, fp = self.pb.events_pb2, self.pb.forecasting_pb2
        adjustment = ev.ForecastAdjustment(
            adjustment_id="py-adj-1", item_id="FG2", site_id="P1",
            layer=ev.FORECAST_LAYER_SALES, quantity_delta=5, owner="anna.planner",
            reason="trade fair order expected")
        adjustment.period_start.FromDatetime(week(2))
        response = forecasting.AdjustForecast(fp.AdjustForecastRequest(adjustment=adjustment),
                                              timeout=30)
        expect_eq((response.recorded.owner, response.recorded.reason, response.recorded.bucket),
                  ("anna.planner", "trade fair order expected", 2), "recorded adjustment")
        period = response.forecast.periods[2]
        expect_near(period.sales_adjustment, 5.0, "sales adjustment bucket 2")
        expect_near(period.consensus, period.statistical + 5.0, "consensus bucket 2")
        expect_near(response.forecast.periods[1].sales_adjustment, 0.0, "bucket 1 untouched")
        # A retry with the same adjustment id returns the first record, adds nothing.
        retry = forecasting.AdjustForecast(fp.AdjustForecastRequest(adjustment=adjustment),
                                           timeout=30)
        expect_near(retry.forecast.periods[2].sales_adjustment, 5.0, "retry adds nothing")
        after = self.forecast_of("FG2")
        expect_eq([(h.adjustment_id, h.owner) for h in after.history],
                  [("py-adj-1", "anna.planner")], "adjustment history")
        expect_eq(any(o.layer == ev.FORECAST_LAYER_SALES and o.owner == "anna.planner"
                      for o in after.owners), True, "SALES layer owner")

    @check("forecasting: errors name the field / the unknown item-site")
    def forecast_errors(self):
        grpc = self.grpc
        forecasting = self.stub("forecasting", "forecasting_pb2_grpc", "ForecastingStub")
        ev, fp = self.pb.events_pb2, self.pb.forecasting_pb2
        no_owner = ev.ForecastAdjustment(item_id="FG2", site_id="P1", quantity_delta=1,
                                         layer=ev.FORECAST_LAYER_SALES, reason="why not")
        no_owner.period_start.FromDatetime(week(2))
        expect_status(grpc, lambda: forecasting.AdjustForecast(
            fp.AdjustForecastRequest(adjustment=no_owner), timeout=10),
            grpc.StatusCode.INVALID_ARGUMENT, ["adjustment.owner"], "AdjustForecast without owner")
        expect_status(grpc, lambda: self.forecast_of("GHOST"), grpc.StatusCode.NOT_FOUND,
                      ["GHOST"], "GetForecast of an unknown item")
        expect_status(grpc, lambda: forecasting.GetAccuracy(fp.GetAccuracyRequest(
            level=fp.ACCURACY_LEVEL_CHANNEL), timeout=10), grpc.StatusCode.INVALID_ARGUMENT,
            [], "GetAccuracy by channel")

    @check("forecasting: GetAccuracy of a perfect constant forecast: WMAPE 0, bias 0")
    def accuracy(self):
        forecasting = self.stub("forecasting", "forecasting_pb2_grpc", "ForecastingStub")
        fp = self.pb.forecasting_pb2
        response = forecasting.GetAccuracy(fp.GetAccuracyRequest(
            level=fp.ACCURACY_LEVEL_SKU, lookback_buckets=4), timeout=30)
        rows = {r.key: r for r in response.rows}
        if len(rows) != 1 or not any("FG2" in key for key in rows):
            raise AssertionError("expected one SKU row for FG2@P1, got %s" % sorted(rows))
        r = next(iter(rows.values()))
        expect_near(r.actual, 40.0, "actual over 4 buckets")
        expect_near(r.forecast, 40.0, "forecast over 4 buckets", 0.2)
        expect_near(r.wmape, 0.0, "wmape", 0.005)
        expect_near(r.bias, 0.0, "bias", 0.005)
        family = forecasting.GetAccuracy(fp.GetAccuracyRequest(
            level=fp.ACCURACY_LEVEL_FAMILY, lookback_buckets=4), timeout=30)
        expect_eq([r.key for r in family.rows], ["BIKES"], "family rows")

    # -- mrp ------------------------------------------------------------------------------------

    def plan_of(self, item, site="P1"):
        mrp = self.stub("mrp", "mrp_pb2_grpc", "MrpStub")
        return mrp.GetPlan(self.pb.mrp_pb2.GetPlanRequest(item_id=item, site_id=site), timeout=10)

    @check("mrp: GetPlan of FG1: 150 due in the frozen fence against 100 on hand")
    def get_plan(self):
        response = wait_until("an MRP record of FG1@P1 with its sales order",
                              lambda: self.plan_of("FG1").plan.gross_requirements[1] == 150
                              and self.plan_of("FG1"), 30.0)
        p = response.plan
        expect_eq((p.item_id, p.site_id, p.family), ("FG1", "P1", "BIKES"), "record ids")
        expect_near(p.on_hand, 100.0, "on hand")
        expect_eq(len(p.gross_requirements), 12, "buckets")
        expect_eq(list(p.gross_requirements), [0.0, 150.0] + [0.0] * 10, "gross requirements")
        expect_near(p.projected_available[0], 100.0, "projected available bucket 0")
        expect_near(p.projected_available[1], -50.0, "projected available bucket 1 (short 50)")
        expect_eq([o for o in p.planned_orders if o.receipt_bucket < 2], [],
                  "no planned order inside the 2-bucket frozen fence")
        expect_near(p.planned_receipts[2], 50.0, "50 planned for bucket 2 (first free bucket)")
        expect_near(p.planned_releases[1], 50.0, "released a week earlier (lead time 7 days)")
        expect_eq(response.plan_version > 0, True, "plan version")

    @check("mrp: the consensus forecast (statistical + 5) reaches FG2's plan")
    def consensus_in_plan(self):
        forecast = self.forecast_of("FG2").forecast
        expected = [p.consensus for p in forecast.periods]

        def matches():
            gross = list(self.plan_of("FG2").plan.gross_requirements)
            return all(abs(a - b) < 1e-9 for a, b in zip(gross, expected)) and gross
        gross = wait_until("FG2's gross requirements = the consensus", matches, 30.0)
        expect_near(gross[2] - gross[1], expected[2] - expected[1], "bucket 2 carries the +5")

    @check("mrp: GetSupplyPlan shows the 50-unit gap of BIKES in bucket 1")
    def supply_plan(self):
        mrp = self.stub("mrp", "mrp_pb2_grpc", "MrpStub")
        mp = self.pb.mrp_pb2
        response = mrp.GetSupplyPlan(mp.GetSupplyPlanRequest(site_id="P1"), timeout=10)
        gaps = [(g.family, g.site_id, g.bucket) for g in response.gaps]
        expect_eq(("BIKES", "P1", 1) in gaps, True, "a BIKES gap in bucket 1 (gaps: %s)" % gaps)
        gap = next(g for g in response.gaps if (g.family, g.bucket) == ("BIKES", 1))
        expect_near(gap.shortage_quantity, 50.0, "shortage quantity")
        expect_near(gap.demand, 150.0, "demand of the items short (FG1's gross) in bucket 1")
        expect_eq(list(gap.items), ["FG1"], "items short")
        expect_near(gap.revenue_at_risk, 500.0, "revenue at risk: 50 units of SO-1 × 10")
        by_family = mrp.GetSupplyPlan(mp.GetSupplyPlanRequest(family="NO-SUCH-FAMILY"),
                                      timeout=10)
        expect_eq(len(by_family.gaps), 0, "no gaps for an unknown family")

    @check("mrp: Replan counts item-sites and planned orders; a new version")
    def replan(self):
        mrp = self.stub("mrp", "mrp_pb2_grpc", "MrpStub")
        before = self.plan_of("FG1").plan_version
        response = mrp.Replan(self.pb.mrp_pb2.ReplanRequest(
            site_id="P1", requested_by="anna.planner", reason="python client test"), timeout=30)
        expect_eq(response.item_sites, 2, "item-sites planned (FG1, FG2)")
        fg1 = self.plan_of("FG1").plan
        fg2 = self.plan_of("FG2").plan
        expect_eq(response.planned_orders, len(fg1.planned_orders) + len(fg2.planned_orders),
                  "planned orders = FG1's + FG2's")
        expect_eq(response.plan_version > before, True, "plan version grew")
        expect_near(fg1.projected_available[1], -50.0, "the same plan after Replan")

    @check("mrp: errors are INVALID_ARGUMENT naming the field, NOT_FOUND naming the item/site")
    def mrp_errors(self):
        grpc = self.grpc
        mrp = self.stub("mrp", "mrp_pb2_grpc", "MrpStub")
        mp = self.pb.mrp_pb2
        expect_status(grpc, lambda: self.plan_of(""), grpc.StatusCode.INVALID_ARGUMENT,
                      ["item_id"], "GetPlan without item")
        expect_status(grpc, lambda: self.plan_of("FG1", ""), grpc.StatusCode.INVALID_ARGUMENT,
                      ["site_id"], "GetPlan without site")
        expect_status(grpc, lambda: self.plan_of("GHOST"), grpc.StatusCode.NOT_FOUND,
                      ["GHOST"], "GetPlan of an unknown item")
        expect_status(grpc, lambda: mrp.Replan(mp.ReplanRequest(site_id="NOPE"), timeout=10),
                      grpc.StatusCode.NOT_FOUND, ["NOPE"], "Replan of an unknown site")
        expect_status(grpc, lambda: mrp.GetSupplyPlan(mp.GetSupplyPlanRequest(site_id="NOPE"),
                                                      timeout=10),
                      grpc.StatusCode.NOT_FOUND, ["NOPE"], "GetSupplyPlan of an unknown site")

    # -- the platform call policy ----------------------------------------------------------------

    @check("auth: no token -> UNAUTHENTICATED, a reader's Replan -> PERMISSION_DENIED")
    def auth(self):
        grpc = self.grpc
        mp = self.pb.mrp_pb2
        address = self.stack.grpc["mrp"]
        anonymous = grpc.insecure_channel(address)
        reader = bearer_channel(grpc, address, READER_TOKEN)
        try:
            nobody = self.pb.mrp_pb2_grpc.MrpStub(anonymous)
            expect_status(grpc, lambda: nobody.Replan(mp.ReplanRequest(site_id="P1"), timeout=10),
                          grpc.StatusCode.UNAUTHENTICATED, ["missing bearer token"],
                          "Replan without a token")
            expect_status(grpc, lambda: nobody.GetPlan(
                mp.GetPlanRequest(item_id="FG1", site_id="P1"), timeout=10),
                grpc.StatusCode.UNAUTHENTICATED, ["missing bearer token"],
                "GetPlan without a token (reads are not open)")
            rita = self.pb.mrp_pb2_grpc.MrpStub(reader)
            expect_status(grpc, lambda: rita.Replan(mp.ReplanRequest(site_id="P1"), timeout=10),
                          grpc.StatusCode.PERMISSION_DENIED,
                          ["principal 'rita' needs role planner or supply_lead"],
                          "Replan by a reader")
            plan = rita.GetPlan(mp.GetPlanRequest(item_id="FG1", site_id="P1"), timeout=10)
            expect_eq(plan.plan.item_id, "FG1", "a reader reads the plan")
        finally:
            anonymous.close()
            reader.close()

    # -- capacity and exceptions (when running) -------------------------------------------------

    @check("capacity: GetLoad and EvaluateScenarios answer; errors name the field / site")
    def capacity(self):
        grpc = self.grpc
        capacity = self.stub("capacity", "capacity_pb2_grpc", "CapacityStub")
        cp = self.pb.capacity_pb2
        # The instance has no routings and no work centers: no load anywhere.
        load = wait_until("GetLoad(P1) with a plan",
                          lambda: capacity.GetLoad(cp.GetLoadRequest(site_id="P1"), timeout=10),
                          30.0)
        expect_eq((len(load.work_centers), load.horizon), (0, 12), "work centers, horizon")
        expect_status(grpc, lambda: capacity.GetLoad(cp.GetLoadRequest(), timeout=10),
                      grpc.StatusCode.INVALID_ARGUMENT, ["site_id"], "GetLoad without a site")
        expect_status(grpc, lambda: capacity.GetLoad(cp.GetLoadRequest(site_id="NOPE"),
                                                     timeout=10),
                      grpc.StatusCode.NOT_FOUND, ["NOPE"], "GetLoad of an unknown site")
        response = capacity.EvaluateScenarios(cp.EvaluateScenariosRequest(), timeout=30)
        print("     EvaluateScenarios(): base + %d seed scenario(s)" % len(response.scenarios),
              flush=True)

    @check("exceptions: FG1's 50-unit shortage is listed, ranked and acknowledged")
    def exceptions(self):
        grpc = self.grpc
        exceptions = self.stub("exceptions", "exceptions_pb2_grpc", "ExceptionsStub")
        xp, pp = self.pb.exceptions_pb2, self.pb.planning_pb2
        shortage_type = pp.EXCEPTION_TYPE_PROJECTED_SHORTAGE

        def shortage():
            listed = exceptions.ListExceptions(xp.ListExceptionsRequest(site_id="P1"), timeout=10)
            return next((x for x in listed.exceptions
                         if x.type == shortage_type and x.item_id == "FG1"), None)
        x = wait_until("FG1's projected shortage in ListExceptions", shortage, 30.0)
        expect_eq((x.site_id, x.family, x.first_impact_bucket), ("P1", "BIKES", 1),
                  "shortage site, family, first bucket")
        expect_near(x.quantity, 50.0, "units short")
        expect_near(x.revenue_at_risk, 500.0, "revenue at risk (50 × 10)")
        expect_eq(x.rank >= 1 and bool(x.explanation), True, "ranked, explained")
        at_risk = exceptions.ListExceptions(xp.ListExceptionsRequest(
            site_id="P1", types=[pp.EXCEPTION_TYPE_ORDER_AT_RISK]), timeout=10)
        expect_eq([(o.subject, o.quantity) for o in at_risk.exceptions], [("SO-1:1", 50.0)],
                  "orders at risk")
        top = exceptions.ListExceptions(xp.ListExceptionsRequest(top=1), timeout=10)
        expect_eq([o.rank for o in top.exceptions], [1], "top 1")

        acknowledged = exceptions.Acknowledge(xp.AcknowledgeRequest(
            exception_id=x.exception_id, who="anna.planner", reason="expediting PO"), timeout=10)
        expect_eq((acknowledged.exception.acknowledged_by,
                   acknowledged.exception.acknowledge_reason),
                  ("anna.planner", "expediting PO"), "acknowledged by, reason")
        expect_eq(shortage(), None, "an acknowledged exception leaves the default list")
        everything = exceptions.ListExceptions(xp.ListExceptionsRequest(
            site_id="P1", include_acknowledged=True), timeout=10)
        expect_eq(any(o.exception_id == x.exception_id for o in everything.exceptions), True,
                  "include_acknowledged lists it")
        expect_status(grpc, lambda: exceptions.Acknowledge(xp.AcknowledgeRequest(
            exception_id="no-such-exception", who="anna.planner", reason="x"), timeout=10),
            grpc.StatusCode.NOT_FOUND, ["no-such-exception"], "Acknowledge of an unknown id")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stubs", required=True, help="directory of the generated *_pb2 modules")
    parser.add_argument("--devbroker", required=True)
    parser.add_argument("--service", action="append", default=[], required=True,
                        type=lambda text: tuple(text.split("=", 1)), help="name=binary")
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()

    if not os.path.isdir(os.path.join(args.stubs, "sop", "v1")):
        print("no Python stubs in %s: build the target sop_python_client_e2etest_deps first"
              % args.stubs, flush=True)
        return 1
    sys.path.insert(0, args.stubs)
    import grpc  # noqa: E402 - Debian python3-grpcio
    import importlib
    import types
    pb = types.SimpleNamespace()
    for module in ("events_pb2", "planning_pb2", "ingestion_pb2", "ingestion_pb2_grpc", "forecasting_pb2",
                   "forecasting_pb2_grpc", "mrp_pb2", "mrp_pb2_grpc", "capacity_pb2",
                   "capacity_pb2_grpc", "exceptions_pb2", "exceptions_pb2_grpc"):
        setattr(pb, module, importlib.import_module("sop.v1." + module))
    pb.health_pb2 = importlib.import_module("sop_health.health_pb2")
    pb.health_pb2_grpc = importlib.import_module("sop_health.health_pb2_grpc")

    started = time.monotonic()
    stack = Stack(args)
    codes = {}
    try:
        stack.start()
        print("stack up in %.1f s: %s" % (time.monotonic() - started, stack.grpc), flush=True)
        client = Client(grpc, pb, stack)
        client.health()
        client.submit()
        client.list_rejected()
        client.get_forecast()
        client.adjust_forecast()
        client.forecast_errors()
        client.accuracy()
        client.get_plan()
        client.consensus_in_plan()
        client.supply_plan()
        client.replan()
        client.mrp_errors()
        client.auth()
        if "capacity" in stack.grpc:
            client.capacity()
        if "exceptions" in stack.grpc:
            client.exceptions()
        for channel in client.channels.values():
            channel.close()
    except Exception:  # noqa: BLE001 - start-up failure: reported with the logs' tails
        RESULTS.append(("stack", False, traceback.format_exc()))
        print("FAIL stack\n%s" % traceback.format_exc(), flush=True)
    finally:
        codes = stack.stop()
    for name, code in codes.items():
        if code != 0 and not name.startswith("redis"):
            RESULTS.append(("%s exit code" % name, False, "exited %s on SIGTERM" % code))
            print("FAIL %s exited %s on SIGTERM (log %s/%s.log)" % (
                name, code, args.workdir, name), flush=True)
    failed = [name for name, ok, _ in RESULTS if not ok]
    print("%d checks, %d failed, %.1f s wall" % (len(RESULTS), len(failed),
                                                 time.monotonic() - started), flush=True)
    if failed:
        print("logs: %s" % args.workdir, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
