"""Client: one connection to mixsweepd and the helpers a notebook needs.

    from mixsweep_client import Client, MixsweepError

    c = Client("127.0.0.1:50051", token_file="alice.token")   # plaintext, this machine
    c = Client("sched.lab:50051", ca_file="ca.pem")           # TLS; token from $MIXSWEEP_TOKEN_FILE
    c.submit_spec({"version": 1, ...}, validate_only=True)    # {'sweep_id': None, 'runs': 18, 'jobs': 21, ...}
    try:
        c.sweep(999)
    except MixsweepError as e:
        print(e.code, e.message)                              # NOT_FOUND ...

Every call but gRPC health needs a bearer token. It comes from ``token``,
else ``token_file``, else $MIXSWEEP_TOKEN, else the file $MIXSWEEP_TOKEN_FILE
names: the order of the C++ clients (services/channel/channel.h). The server
is ``server``, else $MIXSWEEP_SERVER, else 127.0.0.1:50051; with a CA file
(``ca_file`` or $MIXSWEEP_TLS_CA) the channel is TLS, else plaintext, which
mixsweepd only offers on loopback.

The raw gRPC stubs are there too, token attached:
``c.stubs.utilization.GetEstimates(utilization_pb2.GetEstimatesRequest(sweep_id=1))``.
"""

import collections
import json
import os
import types
import uuid

import grpc

from mixsweep_client import records
from mixsweep_client._api import (
    auth_pb2, auth_pb2_grpc, common_pb2, evaluation_pb2, evaluation_pb2_grpc, sweep_pb2,
    sweep_pb2_grpc, utilization_pb2, utilization_pb2_grpc, worker_pb2_grpc)


class MixsweepError(Exception):
    """A call refused by mixsweepd (or unreachable): the gRPC status code name
    (``INVALID_ARGUMENT``, ``NOT_FOUND``, ``UNAUTHENTICATED``, ...) and the
    server's message (for a bad spec: one line per problem, naming its field)."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, error):
        return cls(error.code().name, error.details() or "")


class FollowTimeout(MixsweepError, TimeoutError):
    """follow() ran past its timeout before the sweep ended."""


def _call(method, request, **kwargs):
    """Calls a unary stub method, turning gRPC errors into MixsweepError."""
    try:
        return method(request, **kwargs)
    except grpc.RpcError as error:
        raise MixsweepError.from_rpc(error) from None


# --- Token on every call ------------------------------------------------------


class _CallDetails(
        collections.namedtuple(
            "_CallDetails",
            ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
        grpc.ClientCallDetails):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ("authorization", "Bearer <token>") to every call's metadata.

    Metadata rather than call credentials: grpc-python refuses call
    credentials on an insecure channel, and mixsweepd's plaintext listener
    (loopback only) is what a notebook on the lab machine uses.
    """

    def __init__(self, token):
        self._entry = ("authorization", "Bearer " + token)

    def _details(self, d):
        return _CallDetails(d.method, d.timeout, list(d.metadata or []) + [self._entry],
                            d.credentials, getattr(d, "wait_for_ready", None),
                            getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


def _load_token(token, token_file):
    if token:
        return token.strip()
    path = token_file
    if not path:
        if os.environ.get("MIXSWEEP_TOKEN"):
            return os.environ["MIXSWEEP_TOKEN"].strip()
        path = os.environ.get("MIXSWEEP_TOKEN_FILE")
    if not path:
        return None  # the server will answer UNAUTHENTICATED
    with open(os.path.expanduser(path), encoding="utf-8") as f:
        secret = f.read().strip()
    if not secret:
        raise ValueError(f"token file {path} is empty")
    return secret


def _read_bytes(path):
    with open(os.path.expanduser(path), "rb") as f:
        return f.read()


# --- Specs ----------------------------------------------------------------------


def spec_text(spec, use_yaml=None):
    """The YAML text to submit for ``spec``: a path (str without a newline, or
    os.PathLike) is read; a str with a newline is YAML text already; a dict is
    dumped as YAML when PyYAML is there (``use_yaml=None``), else as indented
    JSON, which is YAML too (the server's yaml-cpp parses it); the line numbers
    in the server's error messages are those of the text sent."""
    if isinstance(spec, dict):
        yaml = None
        if use_yaml is not False:
            try:
                import yaml  # python3-yaml; optional
            except ImportError:
                if use_yaml:
                    raise
        if yaml is not None:
            class NoAliases(yaml.SafeDumper):
                # A dict used twice (one template for train and pretrain) is
                # written out twice, not as an &anchor and *alias.
                def ignore_aliases(self, data):
                    return True
            return yaml.dump(spec, Dumper=NoAliases, sort_keys=False, default_flow_style=False)
        return json.dumps(spec, indent=2) + "\n"
    if isinstance(spec, bytes):
        return spec.decode("utf-8")
    if isinstance(spec, str) and "\n" in spec:
        return spec
    if isinstance(spec, (str, os.PathLike)):
        with open(os.path.expanduser(spec), encoding="utf-8") as f:
            return f.read()
    raise TypeError(f"a spec is a path, YAML text or a dict, not {type(spec).__name__}")


def _key(idempotency_key):
    # A retry with the same key returns the first answer; a fresh one per call
    # otherwise (keys are at most 128 bytes).
    return idempotency_key or "py-" + uuid.uuid4().hex


# --- The client -------------------------------------------------------------------


class Client:
    """A connection to mixsweepd; see the module docstring.

    Args:
        server: host:port; default $MIXSWEEP_SERVER, else 127.0.0.1:50051.
        token, token_file: the bearer token (default: $MIXSWEEP_TOKEN, then
            the file named by $MIXSWEEP_TOKEN_FILE).
        ca_file: the CA of mixsweepd's certificate; given (or
            $MIXSWEEP_TLS_CA), the channel is TLS. cert_file and key_file add
            a client certificate (mutual TLS); server_name overrides the name
            checked in the server's certificate.
        timeout: seconds each unary call may take.
    """

    def __init__(self, server=None, token=None, token_file=None, ca_file=None, cert_file=None,
                 key_file=None, server_name=None, timeout=60.0):
        self.server = server or os.environ.get("MIXSWEEP_SERVER") or "127.0.0.1:50051"
        self.timeout = timeout
        # Reconnect soon after a restart of mixsweepd, as the C++ clients do.
        options = [("grpc.initial_reconnect_backoff_ms", 200),
                   ("grpc.max_reconnect_backoff_ms", 2000),
                   ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        ca_file = ca_file or os.environ.get("MIXSWEEP_TLS_CA")
        if ca_file:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_bytes(ca_file),
                private_key=_read_bytes(key_file) if key_file else None,
                certificate_chain=_read_bytes(cert_file) if cert_file else None)
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            self._channel = grpc.secure_channel(self.server, credentials, options=options)
        else:
            if cert_file:
                raise ValueError("cert_file needs ca_file (mutual TLS is TLS)")
            self._channel = grpc.insecure_channel(self.server, options=options)
        channel = self._channel
        secret = _load_token(token, token_file)
        if secret:
            channel = grpc.intercept_channel(channel, _BearerToken(secret))
        self.stubs = types.SimpleNamespace(
            sweep=sweep_pb2_grpc.SweepServiceStub(channel),
            evaluation=evaluation_pb2_grpc.EvaluationServiceStub(channel),
            utilization=utilization_pb2_grpc.UtilizationServiceStub(channel),
            auth=auth_pb2_grpc.AuthServiceStub(channel),
            worker=worker_pb2_grpc.WorkerServiceStub(channel))

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _unary(self, method, request):
        return _call(method, request, timeout=self.timeout)

    # --- Who am I ---

    def whoami(self):
        """{'principal': ..., 'role': 'researcher', 'token_id': ...}"""
        r = self._unary(self.stubs.auth.WhoAmI, auth_pb2.WhoAmIRequest())
        return {"principal": r.principal, "role": records.enum_name(auth_pb2.Role, r.role, "ROLE_"),
                "token_id": r.token_id}

    # --- Sweeps ---

    def submit_spec(self, spec, validate_only=False, idempotency_key=None):
        """Submits a sweep spec: a path, YAML text or a dict (see spec_text).

        Returns {'sweep_id', 'runs', 'jobs', 'replayed', 'validate_only'};
        sweep_id is None with validate_only (nothing is stored). A bad spec
        raises MixsweepError INVALID_ARGUMENT listing every problem, one per
        line: "line L: field.path: what is wrong".
        """
        request = sweep_pb2.SubmitSweepRequest(spec_yaml=spec_text(spec),
                                               idempotency_key=_key(idempotency_key),
                                               validate_only=validate_only)
        r = self._unary(self.stubs.sweep.SubmitSweep, request)
        return {"sweep_id": r.sweep.id if r.HasField("sweep") else None, "runs": r.runs,
                "jobs": r.jobs, "replayed": r.replayed, "validate_only": validate_only}

    def cancel(self, sweep_id, reason="", idempotency_key=None):
        """Cancels a sweep: queued jobs stop at once, running ones are asked to."""
        request = sweep_pb2.CancelSweepRequest(sweep_id=sweep_id, reason=reason,
                                               idempotency_key=_key(idempotency_key))
        r = self._unary(self.stubs.sweep.CancelSweep, request)
        return {"sweep_id": r.sweep.id,
                "state": records.enum_name(common_pb2.SweepState, r.sweep.state, "SWEEP_STATE_"),
                "jobs_cancelled": r.jobs_cancelled, "jobs_stopping": r.jobs_stopping}

    def sweep(self, sweep_id):
        """One sweep as a record (records.sweep_record)."""
        r = self._unary(self.stubs.sweep.GetSweep, sweep_pb2.GetSweepRequest(sweep_id=sweep_id))
        return records.sweep_record(r.sweep)

    def sweeps(self, owner="", states=(), task=""):
        """Every sweep (newest first), as records; states: e.g. ["active"]."""
        request = sweep_pb2.ListSweepsRequest(
            owner=owner, task=task,
            states=[common_pb2.SweepState.Value("SWEEP_STATE_" + s.upper()) for s in states])
        out = []
        while True:
            r = self._unary(self.stubs.sweep.ListSweeps, request)
            out.extend(records.sweep_record(s) for s in r.sweeps)
            if not r.next_page_token:
                return out
            request.page.page_token = r.next_page_token

    def follow(self, sweep_id, timeout=None):
        """Yields a progress record (records.progress_record) now and at every
        change, until the sweep is completed or cancelled (the last record
        says which). Raises FollowTimeout after ``timeout`` seconds if it has
        not ended. Leaving the loop early (break) hangs up the stream."""
        call = self.stubs.sweep.WatchSweep(sweep_pb2.WatchSweepRequest(sweep_id=sweep_id),
                                           timeout=timeout)
        last = None
        try:
            for progress in call:
                last = records.progress_record(progress)
                yield last
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and timeout is not None:
                raise FollowTimeout("DEADLINE_EXCEEDED",
                                    f"sweep {sweep_id} did not end within {timeout} s") from None
            raise MixsweepError.from_rpc(error) from None
        finally:
            call.cancel()
        if last is None or last["state"] not in ("completed", "cancelled"):
            # The server ends the stream only when the sweep ends; anything
            # else (e.g. mixsweepd shutting down) must not read as success.
            raise MixsweepError("UNAVAILABLE", f"the watch of sweep {sweep_id} ended early")

    def runs(self, sweep_id):
        """The sweep's runs: one record per (N_tele, source, N_nt, seed)."""
        r = self._unary(self.stubs.sweep.GetSweep,
                        sweep_pb2.GetSweepRequest(sweep_id=sweep_id, include_runs=True))
        return [records.run_record(run) for run in r.runs]

    # --- Estimates ---

    def _estimates(self, sweep_id, scenario, source, parameters):
        request = utilization_pb2.GetEstimatesRequest(sweep_id=sweep_id, scenario=scenario,
                                                      source=source)
        if parameters:  # computed now with these, rather than the stored estimates
            request.parameters.CopyFrom(utilization_pb2.EstimateParameters(**parameters))
        return self._unary(self.stubs.utilization.GetEstimates, request).estimates

    def estimates(self, sweep_id, scenario="", source="", **parameters):
        """One record per eta (records.eta_records): per (scenario, source),
        the local etas (kind "local") and the global eta of each mixed point
        (kind "global"), with value, status, interval and sign_established.
        The stored estimates; with parameters (n_t_star, resamples, level)
        computed now with those."""
        return records.eta_records(self._estimates(sweep_id, scenario, source, parameters))

    def curve(self, sweep_id, scenario="", source="", **parameters):
        """One record per curve point (records.curve_records): seed-mean S per
        (scenario, source, N_tele, N_nt), for plotting S against N_tele."""
        return records.curve_records(self._estimates(sweep_id, scenario, source, parameters))

    # --- Results and trials ---

    def _results(self, sweep_id, scenario, include_trials, include_superseded=False):
        request = evaluation_pb2.ListResultsRequest(
            sweep_id=sweep_id, scenario=scenario, include_trials=include_trials,
            include_superseded=include_superseded)
        while True:
            r = self._unary(self.stubs.evaluation.ListResults, request)
            yield from r.results
            if not r.next_page_token:
                return
            request.page.page_token = r.next_page_token

    def results(self, sweep_id, scenario=""):
        """One record per (run, scenario) with its mixture and S (records.result_record)."""
        return [records.result_record(sweep_id, r)
                for r in self._results(sweep_id, scenario, include_trials=False)]

    def trials(self, sweep_id, scenario="", include_superseded=False):
        """One record per trial, with its run's mixture (records.trial_records);
        corrected trials only in their latest version unless include_superseded."""
        out = []
        for r in self._results(sweep_id, scenario, True, include_superseded):
            out.extend(records.trial_records(sweep_id, r))
        return out
