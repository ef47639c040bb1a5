"""The metric names the dashboards and the alert rules query (shared by the deploy tests).

Names are read out of the PromQL text: strings, label matchers, `by (...)` lists and range
selectors are removed, then every identifier that is not a function, keyword or recording rule
(`a:b:c`) is a metric name. Histogram sample names (`_bucket`) are kept as written.
"""
import json
import pathlib
import re

FUNCTIONS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "delta", "deriv",
    "histogram_quantile", "label_values", "round", "abs", "clamp_min", "clamp_max", "topk",
    "bottomk", "absent", "time", "vector", "scalar", "sort", "sort_desc", "label_replace",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "quantile",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "offset", "bool"}
SYNTHETIC = {"up", "ALERTS", "ALERTS_FOR_STATE"}


def names_in(expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # string literals
    text = re.sub(r"label_values\((.*),\s*\w+\s*\)", r"(\1)", text)  # Grafana: label argument
    text = re.sub(r"\{[^}]*\}", " ", text)                      # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                     # range / subquery selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)                    # dashboard variables
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = match.group(0)
        following = text[match.end():].lstrip()[:1]
        if following == "(" or token in FUNCTIONS or token in KEYWORDS or ":" in token:
            continue
        if re.fullmatch(r"[0-9.e+-]+", token) or token in {"Inf", "NaN", "inf", "nan"}:
            continue
        names.add(token)
    return names


def dashboard_exprs(dashboards_dir):
    """{(file, panel title): [expr, ...]} plus the variables' queries."""
    found = []
    for path in sorted(pathlib.Path(dashboards_dir).glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                found.append((f"{path.name}: variable {variable['name']}", variable["definition"]))
    return found


def rule_exprs(rules_file):
    """The expr of every rule, from the project's rules file (block or single-line exprs)."""
    found = []
    lines = pathlib.Path(rules_file).read_text(encoding="utf-8").splitlines()
    name = "?"
    i = 0
    while i < len(lines):
        line = lines[i]
        header = re.match(r"\s*-\s*(record|alert):\s*(\S+)", line)
        if header:
            name = header.group(2)
        expr = re.match(r"(\s*)expr:\s*(.*)$", line)
        if expr:
            indent, rest = len(expr.group(1)), expr.group(2)
            if rest in ("|", ">", "|-", ">-"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                found.append((f"rule {name}", " ".join(body)))
                continue
            found.append((f"rule {name}", rest))
        i += 1
    return found


def referenced(repo):
    """{metric name: [where, ...]} over the dashboards and the alert rules."""
    refs = {}
    exprs = dashboard_exprs(pathlib.Path(repo) / "deploy/grafana/dashboards")
    exprs += rule_exprs(pathlib.Path(repo) / "deploy/prometheus/rules/sopstream.rules.yml")
    for where, expr in exprs:
        for name in names_in(expr):
            if name in SYNTHETIC:
                continue
            refs.setdefault(name, []).append(where)
    return refs


def load_expected(path):
    """{service: {family, ...}} from expected-metrics.txt."""
    expected = {}
    for raw in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        service, family = line.split()
        expected.setdefault(service, set()).add(family)
    return expected


def family_of(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
