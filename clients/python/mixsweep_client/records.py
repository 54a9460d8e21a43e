"""Flat records from mixsweep API messages, ready for ``pandas.DataFrame``.

Every function here turns protobuf messages into plain dicts whose values
are only ``str``, ``int``, ``float``, ``bool`` or ``None``, so that a list of
them is a table: ``pandas.DataFrame(records)``, ``csv.DictWriter``, or plain
Python. Lists inside a record (achieved milestones, seeds, N values) are
joined with ``;``, as the ``mixsweep`` CLI's CSV output does. Enum values are
short lowercase names (``completed``, ``no_measurable_effect``); ``None``
stands where the CLI's CSV leaves a cell empty (a value that does not
exist, e.g. an eta that is undefined).

The estimate, result and trial records have the very columns of
``mixsweep util show ID --csv`` and ``mixsweep eval results ID [--trials]
--csv`` (plus ``sweep_id`` and ``source_kind``; timestamps are RFC 3339 UTC),
so a notebook and a spreadsheet read the same table.

Example (no server needed)::

    from mixsweep.v1 import utilization_pb2
    from mixsweep_client import records
    rows = records.eta_records([utilization_pb2.Estimate(scenario="in_domain")])
    # [] : an estimate with no local or global eta yet has no rows
"""

from mixsweep_client._api import common_pb2, utilization_pb2

Eta = utilization_pb2.Eta
EtaInterval = utilization_pb2.EtaInterval


def enum_name(enum_type, value, prefix):
    """The short lowercase name of an enum value: RUN_STATE_PENDING -> pending.

    Unknown values (from a newer server) read as "unspecified", as the API's
    conventions ask (common.proto).
    """
    try:
        name = enum_type.Name(value)
    except ValueError:
        return "unspecified"
    return name[len(prefix):].lower() if name.startswith(prefix) else name.lower()


def timestamp(ts):
    """RFC 3339 UTC text of a Timestamp ("2025-03-01T12:00:00.250Z"); None if unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToJsonString()


def joined(values):
    """A repeated field as one ';'-separated string (the CLI's CSV convention)."""
    return ";".join(repr(v) if isinstance(v, float) else str(v) for v in values)


def _counts(counts):
    """runs_total, jobs_total and one column per run state, job state and job kind.

    Every known state and kind gets its column (0 when absent) so that
    successive snapshots have the same columns.
    """
    out = {"runs_total": counts.runs_total, "jobs_total": counts.jobs_total}
    groups = (
        ("runs_", counts.runs_by_state, common_pb2.RunState, "RUN_STATE_"),
        ("jobs_", counts.jobs_by_state, common_pb2.JobState, "JOB_STATE_"),
        ("jobs_kind_", counts.jobs_by_kind, common_pb2.JobKind, "JOB_KIND_"),
    )
    for column, by_name, enum_type, prefix in groups:
        for name in enum_type.keys():
            if not name.endswith("_UNSPECIFIED"):
                out[column + name[len(prefix):].lower()] = 0
        for name, n in by_name.items():  # a newer server's names too
            short = name[len(prefix):] if name.startswith(prefix) else name
            out[column + short.lower()] = n
    return out


def sweep_record(sweep):
    """One Sweep as a flat dict: its spec's main values and its counts."""
    record = {
        "sweep_id": sweep.id,
        "name": sweep.name,
        "owner": sweep.owner,
        "state": enum_name(common_pb2.SweepState, sweep.state, "SWEEP_STATE_"),
        "task": sweep.task,
        "policy": sweep.policy,
        "code_version": sweep.code_version,
        "priority": sweep.priority,
        "revision": sweep.revision,
        "created_at": timestamp(sweep.created_at),
        "updated_at": timestamp(sweep.updated_at),
        "n_tele": joined(sweep.n_tele),
        "sources": joined(s.name for s in sweep.sources),
        "seeds": joined(sweep.seeds),
        "scenarios": joined(s.name for s in sweep.scenarios),
        "total_steps": sweep.total_steps,
        "pretrain_steps": sweep.pretrain_steps,
        "finetune_steps": sweep.finetune_steps,
        "max_attempts": sweep.max_attempts,
        "baseline_from_sweep": sweep.baseline_from_sweep or None,
        "cancel_reason": sweep.cancel_reason or None,
        "spec_yaml": sweep.spec_yaml,
    }
    record.update(_counts(sweep.counts))
    return record


def progress_record(progress):
    """One SweepProgress snapshot (WatchSweep) as a flat dict."""
    sweep = progress.sweep
    record = {
        "sweep_id": sweep.id,
        "name": sweep.name,
        "state": enum_name(common_pb2.SweepState, sweep.state, "SWEEP_STATE_"),
        "fraction_done": progress.fraction_done,
        "seconds_left_estimate": progress.seconds_left_estimate,
        "event_id": progress.event_id,
        "updated_at": timestamp(sweep.updated_at),
    }
    record.update(_counts(sweep.counts))
    return record


def run_record(run):
    """One Run: its mixture (N_tele, source, N_nt, seed), state, jobs and cost."""
    return {
        "sweep_id": run.sweep_id,
        "run_id": run.id,
        "key": run.key,
        "n_tele": run.n_tele,
        "source": run.source,
        "source_kind": enum_name(common_pb2.SourceKind, run.source_kind, "SOURCE_KIND_"),
        "n_nt": run.n_nt,
        "seed": run.seed,
        "state": enum_name(common_pb2.RunState, run.state, "RUN_STATE_"),
        "train_job_id": run.train_job_id or None,
        "pretrain_job_id": run.pretrain_job_id or None,
        "finetune_job_id": run.finetune_job_id or None,
        "checkpoint_uri": run.checkpoint_uri,
        "cost_collection_hours": run.cost_collection_hours,
        "cost_gpu_hours": run.cost_gpu_hours,
        "revision_added": run.revision_added,
    }


# --- Estimates: one row per eta, as `mixsweep util show ID --csv` ------------


def _has_interval(interval):
    # The CLI's HasInterval: an unset interval message reads as all zeros.
    return (interval.resamples > 0 or interval.shape != EtaInterval.SHAPE_UNSPECIFIED
            or interval.sign_established or interval.split)


def _shape(interval):
    # The CLI's ShapeOf: from the booleans when an older server sent no shape.
    if interval.shape in EtaInterval.Shape.values() and interval.shape != EtaInterval.SHAPE_UNSPECIFIED:
        return interval.shape
    if not _has_interval(interval):
        return EtaInterval.SHAPE_UNSPECIFIED
    if interval.sign_established:
        return EtaInterval.SHAPE_BOUNDED
    if interval.split:
        return EtaInterval.SHAPE_SPLIT
    return EtaInterval.SHAPE_UNSPECIFIED


def _eta_columns(eta, interval):
    has = _has_interval(interval)
    shape = _shape(interval)
    bounded = shape == EtaInterval.SHAPE_BOUNDED
    below = shape in (EtaInterval.SHAPE_SPLIT, EtaInterval.SHAPE_AT_OR_BELOW)
    above = shape in (EtaInterval.SHAPE_SPLIT, EtaInterval.SHAPE_AT_OR_ABOVE)
    return {
        "eta_status": enum_name(Eta.Status, eta.status, "STATUS_"),
        "eta": eta.value if eta.status == Eta.STATUS_DEFINED else None,
        "interval_shape": (None if shape == EtaInterval.SHAPE_UNSPECIFIED
                           else enum_name(EtaInterval.Shape, shape, "SHAPE_")),
        "eta_lower": interval.eta.lower if bounded else None,
        "eta_upper": interval.eta.upper if bounded else None,
        "split_at_or_below": interval.split_at_or_below if below else None,
        "split_at_or_above": interval.split_at_or_above if above else None,
        "inverse_lower": interval.inverse.lower if has else None,
        "inverse_upper": interval.inverse.upper if has else None,
        "sign_established": interval.sign_established if has else None,
        "level": interval.level if has else None,
        "resamples": interval.resamples if has else None,
        "resamples_undefined": interval.resamples_undefined if has else None,
    }


def _estimate_columns(e):
    fit = e.fit
    return {
        "sweep_id": e.sweep_id,
        "task": e.task,
        "scenario": e.scenario,
        "source": e.source,
        "source_kind": enum_name(common_pb2.SourceKind, e.source_kind, "SOURCE_KIND_"),
        "version": e.version,
        "trial_count": e.trial_count,
        "last_trial_id": e.last_trial_id,
        "n_t_star": e.n_t_star,
        "fit_defined": fit.defined,
        "alpha": fit.alpha if fit.defined else None,
        "beta": fit.beta if fit.defined else None,
        "r_squared": fit.r_squared if fit.defined else None,
        "points_excluded_zero": fit.points_excluded_zero,
        # Seed 001's protocol (docs/simulation.md): how checkpoints made S,
        # and for a scaling sweep the power law of the source alone.
        "aggregation": e.aggregation,
        "simulated": e.simulated,
        "scaling": e.scaling,
        "source_fit_defined": e.source_fit.defined if e.scaling else None,
        "source_alpha": e.source_fit.alpha if e.scaling and e.source_fit.defined else None,
        "source_beta": e.source_fit.beta if e.scaling and e.source_fit.defined else None,
        "source_r_squared": (e.source_fit.r_squared
                             if e.scaling and e.source_fit.defined else None),
        "n_from": None,
        "gain_per_demo": None,
    }


# N_eq means something only for these statuses (the CLI's NeqCell).
_NEQ_STATUSES = (Eta.STATUS_DEFINED, Eta.STATUS_N_EQ_EQUALS_N_TELE, Eta.STATUS_NO_MEASURABLE_EFFECT)


def eta_records(estimates):
    """One record per eta of each Estimate: every local eta (kind "local",
    n_tele = N_t*), then every global eta (kind "global"), with the
    estimate's own columns (scenario, source, version, the power-law fit).
    A scaling estimate adds one record of kind "marginal_gain" per pair of
    consecutive N: n_nt = N_to, n_from = N_from, s_t = S(N_from), s_mix =
    S(N_to), gain_per_demo."""
    rows = []
    for e in estimates:
        common = _estimate_columns(e)
        for local in e.local:
            row = dict(common, kind="local", n_tele=local.n_t_star, n_nt=local.n_nt,
                       s_t=local.s_t, s_mix=local.s_mix, n_eq=None)
            row.update(_eta_columns(local.eta, local.interval))
            rows.append(row)
        for g in getattr(e, "global"):  # a Python keyword: no attribute syntax
            row = dict(common, kind="global", n_tele=g.n_tele, n_nt=g.n_nt, s_t=None,
                       s_mix=g.s_mix, n_eq=g.n_eq if g.eta.status in _NEQ_STATUSES else None)
            row.update(_eta_columns(g.eta, g.interval))
            rows.append(row)
        no_eta = {column: None for column in _eta_columns(Eta(), EtaInterval())}
        for gain in e.marginal_gains:
            row = dict(common, kind="marginal_gain", n_tele=0, n_nt=gain.n_to, s_t=gain.s_from,
                       s_mix=gain.s_to, n_eq=None, n_from=gain.n_from,
                       gain_per_demo=gain.gain_per_demo)
            row.update(no_eta)
            rows.append(row)
    return rows


def curve_records(estimates):
    """One record per point of each Estimate's curve: the seed-mean S of one
    (N_tele, N_nt), kind "teleop" (N_nt = 0) or "mixed", with its cost."""
    rows = []
    for e in estimates:
        for kind, points in (("teleop", e.teleop_curve), ("mixed", e.mixed_curve)):
            for p in points:
                rows.append({
                    "sweep_id": e.sweep_id,
                    "task": e.task,
                    "scenario": e.scenario,
                    "source": e.source,
                    "version": e.version,
                    "kind": kind,
                    "n_tele": p.n_tele,
                    "n_nt": p.n_nt,
                    "mean_s": p.mean_s,
                    "std_s": p.std_s,
                    "n_seeds": p.n_seeds,
                    "seed_s": joined(p.seed_s),
                    "trials": p.trials,
                    "cost_collection_hours": p.cost_collection_hours,
                    "cost_gpu_hours": p.cost_gpu_hours,
                    "cost_money": p.cost_money,
                })
    return rows


# --- Results and trials, as `mixsweep eval results ID [--trials] --csv` -----


def result_record(sweep_id, r):
    """One ScenarioResult: a (run, scenario, checkpoint) with its mixture and S
    (None while no trial is recorded)."""
    return {
        "sweep_id": sweep_id,
        "run_id": r.run_id,
        "request_id": r.request_id,
        "n_tele": r.n_tele,
        "source": r.source,
        "n_nt": r.n_nt,
        "seed": r.seed,
        "scenario": r.scenario,
        "blind_label": r.blind_label,
        "state": r.state,
        "trials_recorded": r.trials_recorded,
        "trials_wanted": r.trials_wanted,
        "s": r.s if r.trials_recorded else None,
        "checkpoint_uri": r.checkpoint_uri,
        "checkpoint_step": r.checkpoint_step,
        "simulated": r.simulated,
    }


def trial_records(sweep_id, r):
    """One record per Trial of a ScenarioResult, each with the result's columns
    (so every trial carries its run's mixture: n_tele, source, n_nt, seed)."""
    base = result_record(sweep_id, r)
    rows = []
    for t in r.trials:
        i = t.input
        rows.append(dict(
            base,
            trial_id=t.id,
            trial_index=i.trial_index,
            achieved=joined(i.achieved),
            score=t.score,
            success=i.success,
            duration_s=(i.duration.seconds + i.duration.nanos * 1e-9
                        if i.HasField("duration") else None),
            intervention=i.intervention,
            safety_stop=i.safety_stop,
            operator=i.operator,
            robot_id=i.robot_id,
            notes=i.notes,
            video_uris=joined(i.video_uris),
            recorded_at=timestamp(t.recorded_at),
            supersedes_trial_id=t.supersedes_trial_id or None,
            superseded_by_trial_id=t.superseded_by_trial_id or None,
            correction_reason=t.correction_reason,
            simulated=t.simulated,
            episode_seed=t.episode.seed if t.simulated and t.HasField("episode") else None,
            sum_reward=t.episode.sum_reward if t.episode.has_rewards else None,
            max_reward=t.episode.max_reward if t.episode.has_rewards else None,
        ))
    return rows
