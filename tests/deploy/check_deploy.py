#!/usr/bin/env python3
"""Offline checks of the Helm chart (helm/mixsweep) and the Dockerfiles
(deploy/docker). Helm, a cluster and Docker are not available where this
runs; what it checks instead:

Chart
  - Chart.yaml and values.yaml pass yamllint;
  - the templates render (tests/deploy/gotemplate.py, the plain subset the
    chart uses; a value read but not declared in values.yaml is an error)
    with the defaults and with several sets of values (every option on,
    options off, gRPC probes);
  - every manifest parses as YAML and has apiVersion, kind, metadata.name;
  - Deployment selectors match their pod labels; Service and PDB selectors
    select pods; ServiceMonitor selects Services and their ports;
  - ports named by Services and probes exist on the containers;
  - Secret, ConfigMap and claim references are the ones values.yaml names,
    and the paths the flags name lie in mounted volumes;
  - every flag given to mixsweepd and mixsweep-worker, and every key of the
    rendered mixsweepd.toml, is in the binary's --help; the rules mixsweepd
    enforces at start-up (TLS off loopback, dashboard off loopback,
    heartbeat < lease TTL) hold;
  - the scheduler has 2 replicas by default, the worker requests
    nvidia.com/gpu and has terminationGracePeriodSeconds above its
    --stop-grace-seconds, pods run as non-root.
Dockerfiles
  - the build stage runs scripts/install-deps.sh and scripts/build.sh;
  - COPY sources exist (in the repository, not excluded by .dockerignore;
    or in the build directory, for COPY --from=build);
  - the runtime package list names the package of every library each
    binary links to directly (readelf NEEDED -> ldd path -> dpkg -S), and
    every library ldd lists comes from a listed package or one they depend
    on (this machine's dpkg database, Debian 12 like the images);
  - the image's user is the chart's runAsUser.

Every check is then run on deliberately broken copies (a wrong selector, a
missing GPU request, an unknown flag, a package dropped from a Dockerfile,
...), and each must fail there: a check that cannot fail is reported.

Usage: check_deploy.py --build-dir BUILD   (the CMake build directory
where services/mixsweepd and workers/mixsweep-worker were built; the
Dockerfiles' COPY --from=build /build/X are looked up as BUILD/X)
"""

import argparse
import copy
import fnmatch
import os
import re
import shlex
import subprocess
import sys
import tomllib

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gotemplate import Renderer, TemplateError, values_tree  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CHART = os.path.join(ROOT, "helm", "mixsweep")
DOCKER = os.path.join(ROOT, "deploy", "docker")
RELEASE = {"Name": "lab", "Namespace": "mixsweep", "Service": "Helm"}

API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "PodDisruptionBudget": "policy/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Failures:
    """Failures by check id: the self-test asks whether a given check failed."""

    def __init__(self):
        self.items = []

    def add(self, check, message):
        self.items.append((check, message))

    def ids(self):
        return {c for c, _ in self.items}


# ------------------------------------------------------------ inputs


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def help_flags(binary):
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^\s+(?:-\w,)?--([a-z0-9][a-z0-9-]*)", text, re.M))


def render_chart(chart_files, chart_meta, values):
    """{template file: rendered text} for the non-underscore templates."""
    r = Renderer(strict=True)
    bodies = {}
    for name in sorted(chart_files):
        body = r.load(name, chart_files[name])
        if not os.path.basename(name).startswith("_"):
            bodies[name] = body
    root = {
        "Values": values_tree(values),
        "Release": RELEASE,
        "Chart": {"Name": chart_meta["name"], "Version": chart_meta["version"],
                  "AppVersion": chart_meta["appVersion"]},
    }
    return {name: r.render(body, root) for name, body in bodies.items()}


def manifests_of(rendered, failures):
    docs = []
    for name, text in rendered.items():
        try:
            for doc in yaml.safe_load_all(text):
                if doc is not None:
                    docs.append((name, doc))
        except yaml.YAMLError as e:
            failures.add("yaml", f"{name}: not YAML: {e}")
    return docs


# ------------------------------------------------------------ chart checks


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def secret_refs_of(values):
    """The (Secret, key) pairs values.yaml names: the only ones a manifest may use."""
    v = values
    refs = {(v["database"]["existingSecret"], v["database"]["key"]),
            (v["tls"]["existingSecret"], v["tls"]["certKey"]),
            (v["tls"]["existingSecret"], v["tls"]["keyKey"]),
            (v["worker"]["token"]["existingSecret"], v["worker"]["token"]["key"]),
            (v["worker"]["tls"]["caSecret"], v["worker"]["tls"]["caKey"])}
    if v["tls"]["clientCA"]["enabled"]:
        refs.add((v["tls"]["clientCA"]["existingSecret"], v["tls"]["clientCA"]["key"]))
    cc = v["worker"]["tls"]["clientCert"]
    if cc["existingSecret"]:
        refs |= {(cc["existingSecret"], cc["certKey"]), (cc["existingSecret"], cc["keyKey"])}
    for vol in v["worker"]["extraVolumes"]:
        if "secret" in vol:
            for item in vol["secret"].get("items", []):
                refs.add((vol["secret"]["secretName"], item["key"]))
    return refs


def flag_values(args):
    """--name=value / --name value pairs of a container's args."""
    out = []
    i = 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            if "=" in a:
                name, value = a[2:].split("=", 1)
            elif i + 1 < len(args) and not str(args[i + 1]).startswith("-"):
                name, value = a[2:], str(args[i + 1])
                i += 1
            else:
                name, value = a[2:], None
            out.append((name, value))
        i += 1
    return out


def mounted_file(container, pod, path):
    """Where `path` comes from: (volume, item key) if it lies in a mounted
    volume, else None."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        vol = volumes.get(m["name"])
        if vol is None:
            continue
        if m.get("subPath") and path == mp:
            return vol, m["subPath"]
        if not m.get("subPath") and path.startswith(mp + "/"):
            rel = path[len(mp) + 1:]
            src = vol.get("secret") or vol.get("configMap")
            if src is not None and "items" in src:
                for item in src["items"]:
                    if item["path"] == rel:
                        return vol, item["key"]
                return None  # items restrict the files: this one is absent
            return vol, rel
    return None


def check_chart(docs, values, flags, failures, variant):
    def fail(check, msg):
        failures.add(check, f"[{variant}] {msg}")

    by_kind = {}
    seen = set()
    for name, doc in docs:
        if not isinstance(doc, dict):
            fail("yaml", f"{name}: a document is not a mapping")
            continue
        kind = doc.get("kind")
        meta = doc.get("metadata") or {}
        if not doc.get("apiVersion") or not kind or not meta.get("name"):
            fail("structure", f"{name}: apiVersion, kind and metadata.name are required")
            continue
        if API_VERSIONS.get(kind) != doc["apiVersion"]:
            fail("structure", f"{name}: {kind} with apiVersion {doc['apiVersion']}")
        if not DNS_LABEL.match(meta["name"]) or len(meta["name"]) > 63:
            fail("structure", f"{name}: name {meta['name']!r} is not a DNS label")
        if meta.get("namespace") != RELEASE["Namespace"]:
            fail("structure", f"{name}: namespace {meta.get('namespace')!r}")
        if (kind, meta["name"]) in seen:
            fail("structure", f"{name}: a second {kind} {meta['name']}")
        seen.add((kind, meta["name"]))
        by_kind.setdefault(kind, []).append(doc)

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])
    allowed_secrets = secret_refs_of(values)
    claim = values["artifacts"]["existingClaim"]

    sched = next((d for n, d in deployments.items() if n.endswith("-scheduler")), None)
    worker = next((d for n, d in deployments.items() if n.endswith("-worker")), None)
    if sched is None:
        fail("structure", "no scheduler Deployment")
        return
    if values["worker"]["enabled"] and worker is None:
        fail("structure", "worker.enabled but no worker Deployment")

    # Deployments: selectors, ports, probes, references, security.
    for dname, d in deployments.items():
        pod_labels = d["spec"]["template"]["metadata"].get("labels", {})
        if not selects(d["spec"]["selector"].get("matchLabels"), pod_labels):
            fail("selector", f"Deployment {dname}: selector does not match its pod labels")
        pod = pod_spec(d)
        psc = pod.get("securityContext", {})
        if not psc.get("runAsNonRoot") or not psc.get("runAsUser"):
            fail("security", f"Deployment {dname}: pod not runAsNonRoot with a non-zero runAsUser")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                fail("refs", f"Deployment {dname}: ConfigMap {v['configMap']['name']} is not rendered")
            if "secret" in v:
                for item in v["secret"].get("items", []) or [{"key": None}]:
                    if (v["secret"]["secretName"], item["key"]) not in allowed_secrets:
                        fail("refs", f"Deployment {dname}: Secret {v['secret']['secretName']} "
                                     f"key {item['key']} is not one values.yaml names")
            if "persistentVolumeClaim" in v and v["persistentVolumeClaim"]["claimName"] != claim:
                fail("refs", f"Deployment {dname}: claim {v['persistentVolumeClaim']['claimName']}")
        for c in pod["containers"]:
            if not c.get("image") or ":" not in c["image"] or c["image"].endswith(":"):
                fail("structure", f"{dname}/{c['name']}: image {c.get('image')!r} has no tag")
            if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
                fail("security", f"{dname}/{c['name']}: allowPrivilegeEscalation is not false")
            if not c.get("resources"):
                fail("structure", f"{dname}/{c['name']}: no resources")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            if len(ports) != len(c.get("ports", [])):
                fail("ports", f"{dname}/{c['name']}: two ports with one name")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                p = c.get(probe)
                if p is None:
                    continue
                action = p.get("tcpSocket") or p.get("httpGet")
                if action is not None:
                    port = action["port"]
                    if (port not in ports) if isinstance(port, str) else (port not in ports.values()):
                        fail("ports", f"{dname}/{c['name']}: {probe} port {port} is not a container port")
                elif "grpc" in p:
                    if p["grpc"]["port"] not in ports.values():
                        fail("ports", f"{dname}/{c['name']}: {probe} gRPC port "
                                      f"{p['grpc']['port']} is not a container port")
                else:
                    fail("structure", f"{dname}/{c['name']}: {probe} has no action")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    fail("refs", f"{dname}/{c['name']}: mount of undefined volume {m['name']}")
            env = {e["name"]: e for e in c.get("env", [])}
            for e in env.values():
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and (ref["name"], ref["key"]) not in allowed_secrets:
                    fail("refs", f"{dname}/{c['name']}: env {e['name']} from Secret "
                                 f"{ref['name']}/{ref['key']}, not one values.yaml names")
            for a in c.get("args", []):
                for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(a)):
                    if var not in env:
                        fail("refs", f"{dname}/{c['name']}: $({var}) in args but not in env")

    # The scheduler.
    pod = pod_spec(sched)
    c = pod["containers"][0]
    if sched["spec"]["replicas"] != values["scheduler"]["replicas"]:
        fail("replicas", f"scheduler replicas {sched['spec']['replicas']}")
    if variant == "defaults" and sched["spec"]["replicas"] != 2:
        fail("replicas", "the scheduler does not have 2 replicas by default")
    args = flag_values(c.get("args", []))
    for name, _ in args:
        if name not in flags["mixsweepd"]:
            fail("flags", f"mixsweepd has no --{name} (its --help)")
    config_path = dict(args).get("config")
    toml = None
    src = mounted_file(c, pod, config_path or "")
    if not config_path or src is None or "configMap" not in src[0]:
        fail("refs", f"mixsweepd --config {config_path} is not a mounted ConfigMap file")
    else:
        cm = configmaps.get(src[0]["configMap"]["name"])
        text = cm and cm.get("data", {}).get(src[1])
        if text is None:
            fail("refs", f"ConfigMap has no key {src[1]}")
        else:
            try:
                toml = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                fail("config", f"mixsweepd.toml does not parse: {e}")
    if toml is not None:
        for key in toml:
            if key not in flags["mixsweepd"]:
                fail("flags", f"mixsweepd.toml key {key}: mixsweepd has no --{key}")
        listen_host = str(toml.get("listen", "")).rsplit(":", 1)[0]
        loopback = listen_host in ("localhost", "::1", "[::1]") or listen_host.startswith("127.")
        if not loopback and not (toml.get("tls-cert") and toml.get("tls-key")):
            fail("config", "listen off loopback without tls-cert and tls-key: mixsweepd refuses")
        for key in ("tls-cert", "tls-key", "tls-client-ca"):
            if key in toml:
                got = mounted_file(c, pod, toml[key])
                if got is None or "secret" not in got[0]:
                    fail("refs", f"{key} = {toml[key]} is not a file of a mounted Secret")
        dash = toml.get("dashboard-listen")
        if dash and not dash.startswith("127.") and not toml.get("dashboard-open"):
            fail("config", "dashboard off loopback without dashboard-open: mixsweepd refuses")
        if toml.get("heartbeat-seconds", 10) >= toml.get("lease-ttl-seconds", 60):
            fail("config", "heartbeat-seconds not below lease-ttl-seconds: mixsweepd refuses")
        startup = c.get("startupProbe", {})
        budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
        if budget <= toml.get("db-wait-seconds", 60):
            fail("config", f"startup probe allows {budget} s, db-wait-seconds is "
                           f"{toml.get('db-wait-seconds', 60)}")
        cports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for key, port in (("listen", "grpc"), ("metrics-listen", "metrics"),
                          ("dashboard-listen", "dashboard")):
            if key in toml and cports.get(port) != int(str(toml[key]).rsplit(":", 1)[1]):
                fail("ports", f"{key} = {toml[key]} but container port {port} is {cports.get(port)}")

    # Services.
    for s in services:
        sname = s["metadata"]["name"]
        targets = [d for d in deployments.values()
                   if selects(s["spec"].get("selector"), d["spec"]["template"]["metadata"]["labels"])]
        if len(targets) != 1:
            fail("selector", f"Service {sname} selects {len(targets)} Deployments")
            continue
        cports = {p["name"] for ct in pod_spec(targets[0])["containers"] for p in ct.get("ports", [])}
        for p in s["spec"]["ports"]:
            if p.get("targetPort") not in cports:
                fail("ports", f"Service {sname}: targetPort {p.get('targetPort')} is not a container port")
    sched_svc = next((s for s in services if s["metadata"]["name"] == sched["metadata"]["name"]), None)
    if sched_svc is None:
        fail("structure", "no scheduler Service")
    else:
        names = {p["name"] for p in sched_svc["spec"]["ports"]}
        want = {"grpc", "metrics"} | ({"dashboard"} if values["dashboard"]["open"]
                                      and values["dashboard"]["enabled"] else set())
        if not want <= names:
            fail("ports", f"scheduler Service ports {sorted(names)}, want {sorted(want)}")

    # PodDisruptionBudget.
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selects(pdb["spec"]["selector"].get("matchLabels"),
                       sched["spec"]["template"]["metadata"]["labels"]):
            fail("pdb", f"PDB {pdb['metadata']['name']} does not select the scheduler pods")
        if pdb["spec"].get("minAvailable", 0) >= sched["spec"]["replicas"]:
            fail("pdb", "PDB minAvailable >= replicas: a node drain would block")
    if values["scheduler"]["pdb"]["enabled"] and not by_kind.get("PodDisruptionBudget"):
        fail("pdb", "scheduler.pdb.enabled but no PodDisruptionBudget")

    # ServiceMonitor.
    monitors = by_kind.get("ServiceMonitor", [])
    if values["metrics"]["serviceMonitor"]["enabled"] != bool(monitors):
        fail("servicemonitor", "ServiceMonitor present iff metrics.serviceMonitor.enabled")
    for sm in monitors:
        sel = sm["spec"]["selector"]
        picked = [s for s in services
                  if selects(sel.get("matchLabels"), s["metadata"]["labels"])
                  and all(e["key"] in s["metadata"]["labels"]
                          for e in sel.get("matchExpressions", []) if e["operator"] == "Exists")]
        if not picked:
            fail("servicemonitor", "the ServiceMonitor selects no Service")
        jobs = set()
        for s in picked:
            ports = {p["name"] for p in s["spec"]["ports"]}
            for ep in sm["spec"]["endpoints"]:
                if ep["port"] not in ports:
                    fail("servicemonitor", f"ServiceMonitor port {ep['port']} not on {s['metadata']['name']}")
            jobs.add(s["metadata"]["labels"].get(sm["spec"]["jobLabel"]))
        rules = open(os.path.join(ROOT, "deploy", "prometheus", "rules.yml")).read()
        for job in set(re.findall(r'job="([^"]+)"', rules)):
            if job not in jobs:
                fail("servicemonitor", f"rules.yml alerts on job={job!r}, which no scraped Service is")

    # The worker.
    if worker is not None:
        pod = pod_spec(worker)
        c = pod["containers"][0]
        gpus = c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
        if not isinstance(gpus, int) or gpus < 1:
            fail("gpu", f"the worker does not request nvidia.com/gpu (limits: {gpus!r})")
        args = flag_values(c.get("args", []))
        for name, _ in args:
            if name not in flags["mixsweep-worker"]:
                fail("flags", f"mixsweep-worker has no --{name} (its --help)")
        a = {}
        for name, value in args:
            a.setdefault(name, value)
        grace = float(a.get("stop-grace-seconds") or 30)
        if not pod.get("terminationGracePeriodSeconds", 30) > grace:
            fail("grace", f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)}"
                          f" is not above --stop-grace-seconds {grace}")
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        for path in [env.get("MIXSWEEP_TOKEN_FILE"), a.get("tls-ca"), a.get("tls-cert"), a.get("tls-key")]:
            if path is not None and not (mounted_file(c, pod, path) or [{}])[0].get("secret"):
                fail("refs", f"worker file {path} is not in a mounted Secret")
        if "MIXSWEEP_TOKEN_FILE" not in env:
            fail("refs", "the worker has no MIXSWEEP_TOKEN_FILE")
        server = a.get("server", "")
        host, _, port = server.rpartition(":")
        if sched_svc is not None and (
                host != f"{sched_svc['metadata']['name']}.{RELEASE['Namespace']}.svc"
                or int(port or 0) not in {p["port"] for p in sched_svc["spec"]["ports"]
                                           if p["name"] == "grpc"}):
            fail("refs", f"worker --server {server} is not the scheduler Service's gRPC port")
        root = values["artifacts"]["root"]
        if root.startswith("file://") and claim:
            if not mounted_file(c, pod, root[len("file://"):].rstrip("/") + "/x"):
                fail("refs", f"artifact root {root} is not on a volume mounted in the worker")
        if toml is not None and toml.get("artifact-root") != root:
            fail("config", "mixsweepd's artifact-root is not artifacts.root")


def yamllint(paths, failures, check="yamllint"):
    conf = ("{extends: default, rules: {line-length: {max: 100}, document-start: disable, "
            "indentation: {indent-sequences: whatever}}}")
    r = subprocess.run(["yamllint", "-s", "-f", "parsable", "-d", conf, *paths],
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.add(check, (r.stdout + r.stderr).strip())


# ------------------------------------------------------------ Dockerfiles


def dockerfile_instructions(text):
    """(instruction, arguments) with continuation lines joined."""
    out, cur = [], ""
    for line in text.splitlines():
        # Blank and comment lines are skipped, inside a continued line too
        # (as Docker does).
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def dockerignore_patterns():
    path = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(path):
        return []
    return [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]


def ignored(rel, patterns):
    """Docker's rule: the last matching pattern wins; a pattern also matches
    everything below a matching directory."""
    result = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        rx = re.escape(pat).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = rel.split("/")
        if any(re.fullmatch(rx, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not neg
    return result


class Dpkg:
    """This machine's dpkg database (Debian 12, like the images)."""

    def __init__(self):
        self.owner_cache = {}
        text = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Depends}\t${Pre-Depends}\n"],
                              capture_output=True, text=True, check=True).stdout
        self.depends = {}
        for line in text.splitlines():
            pkg, dep, pre = (line.split("\t") + ["", ""])[:3]
            alts = []
            for clause in filter(None, (x.strip() for x in (dep + "," + pre).split(","))):
                alts.append([re.split(r"[\s(:]", a.strip())[0] for a in clause.split("|")])
            self.depends[pkg] = alts

    def owner(self, path):
        if path in self.owner_cache:
            return self.owner_cache[path]
        real = os.path.realpath(path)
        candidates = []
        for p in (path, real):
            candidates += [p, p.replace("/usr/lib/", "/lib/", 1) if p.startswith("/usr/lib/")
                           else p.replace("/lib/", "/usr/lib/", 1)]
        pkg = None
        for p in dict.fromkeys(candidates):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                pkg = r.stdout.split(":", 1)[0].split(",")[0].strip()
                break
        self.owner_cache[path] = pkg
        return pkg

    def closure(self, pkgs):
        seen, todo = set(), list(pkgs)
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            for alts in self.depends.get(p, []):
                # The first alternative installed here stands for the clause.
                pick = next((a for a in alts if a in self.depends), None)
                if pick:
                    todo.append(pick)
        return seen


def libraries(binary):
    """(direct NEEDED names, {name: path} of everything ldd resolves)."""
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    resolved = {}
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            if m.group(2) == "not":
                raise RuntimeError(f"{binary}: {line.strip()}")
            resolved[m.group(1)] = m.group(2)
    return needed, resolved


def check_dockerfile(path, text, build_dir, dpkg, chart_uid, failures):
    name = os.path.basename(path)

    def fail(check, msg):
        failures.add(check, f"{name}: {msg}")

    ins = dockerfile_instructions(text)
    stages = []
    for word, rest in ins:
        if word == "FROM":
            parts = rest.split()
            stages.append({"image": parts[0], "alias": parts[2] if len(parts) > 2 else None,
                           "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, rest))
    if len(stages) < 2:
        fail("docker-stages", "not a multi-stage build")
        return
    build = next((s for s in stages if s["alias"] == "build"), None)
    final = stages[-1]
    if build is None or build["image"] != "debian:12":
        fail("docker-stages", "no build stage FROM debian:12 AS build")
        return
    if final["image"] != "debian:12-slim":
        fail("docker-stages", f"runtime stage FROM {final['image']}, not debian:12-slim")
    runs = " && ".join(rest for w, rest in build["ins"] if w == "RUN")
    if "scripts/install-deps.sh" not in runs:
        fail("docker-build", "the build stage does not run scripts/install-deps.sh")
    m = re.search(r"scripts/build\.sh\s+(\S+)([^&;]*)", runs)
    if not m:
        fail("docker-build", "the build stage does not run scripts/build.sh")
        return
    build_out = m.group(1)
    if "-DCMAKE_BUILD_TYPE=Release" not in m.group(2):
        fail("docker-build", "scripts/build.sh without -DCMAKE_BUILD_TYPE=Release")

    patterns = dockerignore_patterns()
    binaries = []
    for stage in stages:
        for word, rest in stage["ins"]:
            if word != "COPY":
                continue
            words = shlex.split(rest)
            opts = [w for w in words if w.startswith("--")]
            srcs = [w for w in words if not w.startswith("--")][:-1]
            if any(o.startswith("--from=") for o in opts):
                for s in srcs:
                    if not s.startswith(build_out + "/"):
                        fail("docker-copy", f"COPY --from of {s}, outside {build_out}")
                        continue
                    local = os.path.join(build_dir, s[len(build_out) + 1:])
                    if not os.path.isfile(local):
                        fail("docker-copy", f"COPY --from=build {s}: {local} was not built")
                    elif stage is final:
                        binaries.append(local)
            else:
                for s in srcs:
                    rel = os.path.normpath(s)
                    if not os.path.exists(os.path.join(ROOT, rel)):
                        fail("docker-copy", f"COPY {s}: not in the repository")
                    elif rel != "." and ignored(rel, patterns):
                        fail("docker-copy", f"COPY {s}: excluded by .dockerignore")
    for must in ("scripts/install-deps.sh", "scripts/build.sh", "CMakeLists.txt"):
        if ignored(must, patterns):
            fail("docker-copy", f".dockerignore excludes {must}")

    # Runtime packages.
    installs = [rest for w, rest in final["ins"] if w == "RUN" and "apt-get install" in rest]
    listed = set()
    for cmd in installs:
        after = cmd.split("apt-get install", 1)[1].split("&&")[0]
        listed |= {w for w in after.split() if not w.startswith("-")}
    closure = dpkg.closure(listed)
    for b in binaries:
        needed, resolved = libraries(b)
        for lib in needed:
            pkg = dpkg.owner(resolved.get(lib, lib))
            if pkg is None:
                fail("docker-packages", f"{os.path.basename(b)}: {lib} belongs to no package")
            elif pkg not in listed:
                fail("docker-packages", f"{os.path.basename(b)} links {lib} ({pkg}), not installed")
        for lib, p in resolved.items():
            pkg = dpkg.owner(p)
            if pkg is not None and pkg not in closure:
                fail("docker-packages", f"{os.path.basename(b)}: {lib} ({pkg}) is neither listed "
                                        f"nor a dependency of the listed packages")
    if not binaries:
        fail("docker-copy", "the runtime stage copies no built binary")

    users = [rest for w, rest in final["ins"] if w == "USER"]
    uid = users[-1].split(":")[0] if users else "0"
    if not uid.isdigit() or int(uid) == 0:
        fail("docker-user", f"runtime USER {uid!r}: not a numeric non-root uid")
    elif int(uid) != chart_uid:
        fail("docker-user", f"runtime USER {uid} but the chart's runAsUser is {chart_uid}")
    entry = [rest for w, rest in final["ins"] if w == "ENTRYPOINT"]
    copied = {shlex.split(rest)[-1] for w, rest in final["ins"] if w == "COPY"}
    if not entry or yaml.safe_load(entry[-1])[0] not in copied:
        fail("docker-user", "ENTRYPOINT is not a copied binary")


# ------------------------------------------------------------ driver


VARIANTS = {
    "defaults": {},
    "everything-on": {
        "fullnameOverride": "msw",
        "tls": {"clientCA": {"enabled": True}, "requireClientCert": True},
        "dashboard": {"open": True},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "scheduler": {"extraArgs": ["--rate-limit-per-second=500"],
                      "imagePullSecrets": [{"name": "regcred"}],
                      "nodeSelector": {"pool": "services"},
                      "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                      "affinity": {"nodeAffinity": {}}},
        "worker": {"replicas": 4, "gpusPerPod": 8, "labels": {"lab": "a", "rack": "r2"},
                   "tls": {"serverName": "sched.lab",
                           "clientCert": {"existingSecret": "mixsweep-worker-cert"}},
                   "extraEnv": [{"name": "HF_HOME", "value": "/cache/hf"}],
                   "extraVolumes": [{"name": "cache", "emptyDir": {}}],
                   "extraVolumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                   "nodeSelector": {"nvidia.com/gpu.present": "true"},
                   "affinity": {"nodeAffinity": {}}},
    },
    "everything-off": {
        "dashboard": {"enabled": False},
        "scheduler": {"pdb": {"enabled": False}},
        "artifacts": {"root": "s3://lab-bucket/mixsweep", "existingClaim": ""},
        "worker": {"enabled": False, "metrics": {"enabled": False}},
    },
    # Needs mixsweepd --health-listen (not implemented yet): its flag check
    # is reported, not failed, while the flag is missing.
    "grpc-probes": {"scheduler": {"probes": {"mode": "grpc"}}},
}


def load_chart():
    files = {}
    tdir = os.path.join(CHART, "templates")
    for f in os.listdir(tdir):
        if f.endswith((".yaml", ".tpl")):
            files[f] = open(os.path.join(tdir, f)).read()
    meta = yaml.safe_load(open(os.path.join(CHART, "Chart.yaml")))
    values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    return files, meta, values


def run_chart(files, meta, values, flags, failures, variants=VARIANTS, lint=True):
    notes = []
    for variant, override in variants.items():
        vals = deep_merge(values, override)
        try:
            rendered = render_chart(files, meta, vals)
        except TemplateError as e:
            failures.add("render", f"[{variant}] {e}")
            continue
        docs = manifests_of(rendered, failures)
        f = Failures()
        check_chart(docs, vals, flags, f, variant)
        for check, msg in f.items:
            if variant == "grpc-probes" and "health-listen" in msg and "health-listen" not in flags["mixsweepd"]:
                notes.append(msg + " -- expected until mixsweepd has --health-listen")
            else:
                failures.add(check, msg)
        if lint and variant == "defaults":
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                paths = []
                for name, text in rendered.items():
                    p = os.path.join(tmp, name)
                    open(p, "w").write(text)
                    paths.append(p)
                yamllint(paths, failures, "yamllint-rendered")
    return notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", required=True,
                    help="CMake build directory with services/mixsweepd and "
                         "workers/mixsweep-worker")
    ap.add_argument("--no-self-test", action="store_true",
                    help="skip the broken copies (faster; the checks are then unproven)")
    opts = ap.parse_args()
    build_dir = os.path.abspath(opts.build_dir)
    flags = {"mixsweepd": help_flags(os.path.join(build_dir, "services", "mixsweepd")),
             "mixsweep-worker": help_flags(os.path.join(build_dir, "workers", "mixsweep-worker"))}

    failures = Failures()
    yamllint([os.path.join(CHART, "Chart.yaml"), os.path.join(CHART, "values.yaml")], failures)
    files, meta, values = load_chart()
    notes = run_chart(files, meta, values, flags, failures)

    dpkg = Dpkg()
    dockerfiles = {}
    for f in sorted(os.listdir(DOCKER)):
        if f.endswith(".Dockerfile"):
            dockerfiles[f] = open(os.path.join(DOCKER, f)).read()
    if set(dockerfiles) != {"mixsweepd.Dockerfile", "mixsweep-worker.Dockerfile"}:
        failures.add("docker-stages", f"Dockerfiles: {sorted(dockerfiles)}")
    uid = values["scheduler"]["podSecurityContext"]["runAsUser"]
    for f, text in dockerfiles.items():
        check_dockerfile(os.path.join(DOCKER, f), text, build_dir, dpkg, uid, failures)

    for n in notes:
        print("note:", n)
    for check, msg in failures.items:
        print(f"FAIL {check}: {msg}")
    if failures.items:
        return 1
    print(f"chart: {len(VARIANTS)} value sets rendered and checked; "
          f"Dockerfiles: {len(dockerfiles)} checked")

    if not opts.no_self_test:
        from self_test import run_self_test
        return run_self_test(sys.modules[__name__], files, meta, values, flags,
                             dockerfiles, build_dir, dpkg, uid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
