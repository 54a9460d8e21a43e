"""Proves that check_deploy.py's checks can fail: each case breaks a copy of
the chart (a template, a value) or of a Dockerfile in one way, runs the
checks on it, and expects the named check to fail. Nothing on disk changes.
"""

import copy
import os
import tempfile

# (check expected to fail, what is broken, template file, old text, new text)
TEMPLATE_CASES = [
    ("render", "a value read that values.yaml does not declare",
     "scheduler-deployment.yaml", "scheduler.replicas }}", "scheduler.replica }}"),
    ("render", "a function outside the template subset",
     "configmap.yaml", "logLevel | quote", "logLevel | upper"),
    ("yaml", "a template that renders invalid YAML",
     "scheduler-service.yaml", "spec:\n  type:", "spec: [\n  type:"),
    ("structure", "a manifest without kind",
     "configmap.yaml", "kind: ConfigMap\n", ""),
    ("selector", "a Deployment selector that misses its pods",
     "scheduler-deployment.yaml",
     'matchLabels:\n      {{- include "mixsweep.schedulerSelector" . | nindent 6 }}',
     "matchLabels:\n      app: other"),
    ("selector", "a Service that selects no pods",
     "scheduler-service.yaml", "selector:\n", "selector:\n    tier: none\n"),
    ("ports", "a probe on a port the container does not have",
     "scheduler-deployment.yaml",
     "startupProbe:\n            grpc:\n              port: {{ .Values.scheduler.probes.healthPort }}",
     "startupProbe:\n            grpc:\n              port: 50099"),
    ("ports", "a Service targetPort the container does not have",
     "scheduler-service.yaml", "targetPort: metrics", "targetPort: metric"),
    ("refs", "a Secret name that values.yaml does not give",
     "scheduler-deployment.yaml", "name: {{ .Values.database.existingSecret }}",
     "name: mixsweep-db"),
    ("refs", "a ConfigMap the Deployment mounts but the chart does not make",
     "configmap.yaml", '{{ include "mixsweep.fullname" . }}-config',
     '{{ include "mixsweep.fullname" . }}-conf'),
    ("refs", "the TLS certificate path outside the mounted Secret",
     "configmap.yaml", 'tls-cert = "/etc/mixsweep/tls/', 'tls-cert = "/etc/mixsweep/certs/'),
    ("refs", "$(VAR) in args without the env entry",
     "worker-deployment.yaml", "- name: NODE_NAME", "- name: NODE"),
    ("gpu", "a worker without nvidia.com/gpu",
     "worker-deployment.yaml", "nvidia.com/gpu: {{ .Values.worker.gpusPerPod }}", "cpu: 1"),
    ("flags", "a worker flag the binary does not have",
     "worker-deployment.yaml", "--cpu-slots=", "--cpu-slot="),
    ("flags", "a mixsweepd.toml key that is no mixsweepd flag",
     "configmap.yaml", "db-pool-size =", "db-pool ="),
    ("config", "listening off loopback without TLS",
     "configmap.yaml", 'tls-cert = "/etc/mixsweep/tls/{{ .Values.tls.certKey }}"\n', ""),
    ("config", "a token-gated dashboard off loopback",
     "configmap.yaml", 'dashboard-listen = "127.0.0.1:', 'dashboard-listen = "0.0.0.0:'),
    ("pdb", "a PDB that selects the workers",
     "scheduler-pdb.yaml", "mixsweep.schedulerSelector", "mixsweep.workerSelector"),
    ("servicemonitor", "a job label that rules.yml does not alert on",
     "scheduler-service.yaml", "mixsweep.io/job: mixsweepd", "mixsweep.io/job: scheduler"),
]

# (check, what is broken, values override)
VALUE_CASES = [
    ("replicas", "one scheduler replica by default", {"scheduler": {"replicas": 1}}),
    ("pdb", "minAvailable equal to replicas", {"scheduler": {"pdb": {"minAvailable": 2}}}),
    ("grace", "terminationGracePeriodSeconds not above the stop grace",
     {"worker": {"terminationGracePeriodSeconds": 30}}),
    ("flags", "an extra mixsweepd flag that does not exist",
     {"scheduler": {"extraArgs": ["--no-such-flag=1"]}}),
    ("security", "a pod allowed to run as root",
     {"worker": {"podSecurityContext": {"runAsNonRoot": False}}}),
    ("config", "heartbeat not below the lease TTL",
     {"scheduler": {"config": {"heartbeatSeconds": 60}}}),
    ("config", "a startup probe shorter than the database wait",
     {"scheduler": {"probes": {"startup": {"failureThreshold": 5}}}}),
    ("refs", "an artifact root outside the workers' mount",
     {"artifacts": {"root": "file:///data/artifacts"}}),
]

# (check, what is broken, Dockerfile, old text, new text)
DOCKER_CASES = [
    ("docker-packages", "a library's package left out",
     "mixsweepd.Dockerfile", "      libpqxx-6.4 \\\n", ""),
    ("docker-packages", "the worker without libstdc++6",
     "mixsweep-worker.Dockerfile", "      libstdc++6 \\\n", ""),
    ("docker-copy", "COPY of a file not in the repository",
     "mixsweepd.Dockerfile", "COPY scripts/install-deps.sh", "COPY scripts/install-dependencies.sh"),
    ("docker-copy", "COPY --from=build of a file the build does not make",
     "mixsweep-worker.Dockerfile", "/build/workers/mixsweep-worker ", "/build/workers/worker "),
    ("docker-build", "a build stage without scripts/install-deps.sh",
     "mixsweepd.Dockerfile", "RUN scripts/install-deps.sh", "RUN apt-get update"),
    ("docker-build", "a build stage without scripts/build.sh",
     "mixsweep-worker.Dockerfile", "RUN scripts/build.sh /build", "RUN cmake --build /build"),
    ("docker-stages", "a runtime stage on another base",
     "mixsweepd.Dockerfile", "FROM debian:12-slim", "FROM ubuntu:22.04"),
    ("docker-user", "a runtime stage running as root",
     "mixsweep-worker.Dockerfile", "USER 10001:10001", "USER root"),
]


def run_self_test(cd, files, meta, values, flags, dockerfiles, build_dir, dpkg, uid):
    variants = {k: cd.VARIANTS[k] for k in ("defaults", "everything-on")}
    missed = []

    def expect(check, what, failures):
        if check not in failures.ids():
            missed.append(f"{check}: not caught: {what}")

    for check, what, name, old, new in TEMPLATE_CASES:
        if old not in files[name]:
            missed.append(f"self-test case out of date: {name} has no {old!r}")
            continue
        broken = dict(files)
        broken[name] = files[name].replace(old, new, 1)
        f = cd.Failures()
        cd.run_chart(broken, meta, values, flags, f, variants, lint=False)
        expect(check, what, f)

    for check, what, override in VALUE_CASES:
        f = cd.Failures()
        cd.run_chart(files, meta, cd.deep_merge(values, override), flags, f,
                     {"defaults": {}}, lint=False)
        expect(check, what, f)

    # yamllint on values.yaml: trailing spaces and a tab-free but wrongly
    # indented key.
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "values.yaml")
        text = open(os.path.join(cd.CHART, "values.yaml")).read()
        open(p, "w").write(text.replace("replicas: 2", "replicas: 2   ", 1))
        f = cd.Failures()
        cd.yamllint([p], f)
        expect("yamllint", "trailing spaces in values.yaml", f)

    for check, what, name, old, new in DOCKER_CASES:
        if old not in dockerfiles[name]:
            missed.append(f"self-test case out of date: {name} has no {old!r}")
            continue
        f = cd.Failures()
        cd.check_dockerfile(name, dockerfiles[name].replace(old, new, 1), build_dir, dpkg, uid, f)
        expect(check, what, f)

    # A transitive library whose package nothing listed depends on: libpq5
    # reaches the image only through libpqxx-6.4's Depends.
    cut = copy.copy(dpkg)
    cut.depends = {k: [alts for alts in v if "libpq5" not in alts]
                   for k, v in dpkg.depends.items()}
    f = cd.Failures()
    cd.check_dockerfile("mixsweepd.Dockerfile", dockerfiles["mixsweepd.Dockerfile"],
                        build_dir, cut, uid, f)
    expect("docker-packages", "libpq.so.5 not reached through Depends", f)

    # .dockerignore excluding the scripts the build stage needs.
    saved = cd.dockerignore_patterns
    cd.dockerignore_patterns = lambda: ["scripts"]
    try:
        f = cd.Failures()
        cd.check_dockerfile("mixsweepd.Dockerfile", dockerfiles["mixsweepd.Dockerfile"],
                            build_dir, dpkg, uid, f)
        expect("docker-copy", ".dockerignore excluding scripts/", f)
    finally:
        cd.dockerignore_patterns = saved

    total = len(TEMPLATE_CASES) + len(VALUE_CASES) + len(DOCKER_CASES) + 3
    for m in missed:
        print("FAIL self-test", m)
    if missed:
        return 1
    print(f"self-test: all {total} broken copies caught")
    return 0
