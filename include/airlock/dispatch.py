"""One worker run per Asset event: what the dispatcher DAGs trigger, and what they refuse.

Airflow does not create one asset-triggered run per event. Its queue holds one
entry per (Asset, DAG), and the run made from that entry takes only the events
up to the entry's creation; events that arrive while the entry waits (the DAG
is at ``max_active_runs``, or simply within one scheduler loop) are folded into
that entry, and when no later event comes they reach no run at all.

So ``model_evaluate`` and ``model_promote`` (one staging node, one rollout at a
time) are not scheduled on the Assets. A small dispatcher DAG per Asset is. Each
of its runs reads the Asset's events itself, from the oldest event that
triggered it up to now (:func:`window_start`), which covers the events Airflow
attached to no run; validates each event's extra (:func:`plan_candidates`,
:func:`plan_verdicts`: an unknown or missing key is refused by name); and
triggers one worker run per event, with a run id made of the model and digest.
Airflow refuses a second run with the same id, so an event read by two
dispatcher runs, or the same version announced twice, is evaluated (or
promoted) once. Refused events fail the dispatcher run after every valid event
was dispatched (:func:`refuse`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import field_validator

from airlock.errors import InvalidRequest
from airlock.manifest import NAME_RE, SHA256_RE
from airlock.payloads import Candidate, Payload, VerdictEvent, parse

log = logging.getLogger("airlock.dispatch")

# Keys Airflow itself adds to an event's extra: an event made in the UI ("Create Asset Event") or
# through the REST API carries ``from_rest_api``. They are Airflow's, not the event's payload.
AIRFLOW_EXTRA_KEYS = frozenset({"from_rest_api"})
# How far back a run that no event triggered (a manual run without ``since``) reads.
LOOKBACK = timedelta(hours=24)


def parse_since(value: str) -> datetime:
    """An ISO 8601 time with its UTC offset (a time without one is ambiguous: refused)."""
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"since {value!r} is not an ISO 8601 time, e.g. 2026-11-30T08:00:00+00:00") from None
    if t.tzinfo is None:
        raise InvalidRequest(f"since {value!r} has no UTC offset, e.g. 2026-11-30T08:00:00+00:00")
    return t


class DispatchRequest(Payload):
    """A dispatcher run's form: ``since`` re-reads every event from then on (empty: see :func:`window_start`)."""

    since: str = ""

    @field_validator("since")
    @classmethod
    def _since(cls, v: str) -> str:
        if v.strip():
            try:
                parse_since(v)
            except InvalidRequest as exc:
                raise ValueError(str(exc)) from None
        return v.strip()


@dataclass(frozen=True)
class Event:
    """One Asset event as a dispatcher reads it."""

    id: int
    timestamp: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # "<dag>/<run>/<task>" that emitted it; empty for the UI or the REST API

    def label(self) -> str:
        origin = f"from {self.source}" if self.source else "made in the UI or through the REST API"
        return f"event {self.id} of {self.timestamp.isoformat()} ({origin})"


class RunTrigger(Payload):
    """One worker run to create: ``TriggerDagRunOperator``'s kwargs. The run id is the version's identity."""

    trigger_run_id: str
    conf: dict[str, str]


class DispatchPlan(Payload):
    """What one dispatcher run does with the events it read."""

    triggers: list[RunTrigger] = []  # one per distinct version, oldest event first
    invalid: list[str] = []  # one line per refused event, naming its bad or unknown keys
    ignored: list[str] = []  # valid events with nothing to do (a verdict that is not a pass)


def _run_id(prefix: str, model: str, digest: str) -> str:
    # Airflow's allowed run ids are ^[A-Za-z0-9_.~:+-]+$; a model name and a digest stay within it
    if not NAME_RE.match(model) or not SHA256_RE.match(digest):
        raise InvalidRequest(f"no run id for model {model!r} digest {digest!r}: not a model name and a sha256")
    return f"{prefix}__{model}__{digest}"


def candidate_run_id(model: str, digest: str) -> str:
    """The one ``model_evaluate`` run of a candidate version."""
    return _run_id("candidate", model, digest)


def verdict_run_id(model: str, digest: str) -> str:
    """The one ``model_promote`` run of a passed version."""
    return _run_id("verdict", model, digest)


def payload_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """An event's extra without Airflow's own keys."""
    return {k: v for k, v in (extra or {}).items() if k not in AIRFLOW_EXTRA_KEYS}


def window_start(triggered: Iterable[datetime], run_after: datetime, since: str = "") -> datetime:
    """The time a dispatcher run reads events from (up to now, inclusive).

    ``since`` when given (a manual re-dispatch); else the oldest event that
    triggered the run: Airflow gives a run the events after the previous
    asset-triggered run's queue time, so every event from there on is read,
    including those it attached to no run; else (a manual run) ``LOOKBACK``
    before the run. Reading an event twice is harmless: its run id exists.
    """
    stamps = sorted(triggered)
    if since.strip():
        start, why = parse_since(since), "the form's since"
    elif stamps:
        start, why = stamps[0], f"the oldest of the {len(stamps)} event(s) that triggered this run"
    else:
        start, why = run_after - LOOKBACK, f"no event triggered this run: the last {LOOKBACK}"
    log.info("reading events from %s (%s) up to now", start.isoformat(), why)
    return start


def plan_candidates(events: Iterable[Event]) -> DispatchPlan:
    """One ``model_evaluate`` run per candidate version; conf: its model and digest."""
    return _plan(events, "airlock_candidate", Candidate, candidate_run_id, lambda c: None)


def plan_verdicts(events: Iterable[Event], auto_promote: bool) -> DispatchPlan:
    """One ``model_promote`` run per passed version, if ``promotion.auto_promote``."""

    def skip(v: Any) -> str | None:
        if not v.passed:
            return f"verdict {v.verdict!r}, not a pass: nothing to promote"
        if not auto_promote:
            return "promotion.auto_promote is false: promote by hand (model_promote)"
        return None

    return _plan(events, "airlock_verdict", VerdictEvent, verdict_run_id, skip)


def _plan(
    events: Iterable[Event],
    asset: str,
    payload: type[Candidate] | type[VerdictEvent],
    run_id: Callable[[str, str], str],
    skip: Callable[[Any], str | None],
) -> DispatchPlan:
    triggers: dict[str, RunTrigger] = {}
    invalid: list[str] = []
    ignored: list[str] = []
    read = sorted(events, key=lambda e: (e.timestamp, e.id))
    for ev in read:
        what = f"{asset} {ev.label()}"
        try:
            version: Candidate | VerdictEvent = parse(payload, payload_extra(ev.extra), what)
        except InvalidRequest as exc:
            log.error("refused: %s", exc)
            invalid.append(str(exc))
            continue
        why = skip(version)
        if why:
            ignored.append(f"{what}, {version.model}@{version.digest}: {why}")
            log.info("ignored: %s", ignored[-1])
            continue
        rid = run_id(version.model, version.digest)
        if rid in triggers:
            log.info("%s: %s@%s again, one run: %s", what, version.model, version.digest[:12], rid)
            continue
        log.info("%s: %s@%s -> run %s", what, version.model, version.digest[:12], rid)
        triggers[rid] = RunTrigger(trigger_run_id=rid, conf={"model": version.model, "digest": version.digest})
    log.info(
        "%d %s event(s) read: %d run(s) to trigger (an existing run id is skipped), %d refused, %d ignored",
        len(read),
        asset,
        len(triggers),
        len(invalid),
        len(ignored),
    )
    return DispatchPlan(triggers=list(triggers.values()), invalid=invalid, ignored=ignored)


def refuse(invalid: list[str]) -> None:
    """Fail loudly on the refused events (their valid neighbours were dispatched all the same)."""
    if invalid:
        raise InvalidRequest(
            f"{len(invalid)} asset event(s) refused; every valid event was dispatched. Fix the emitter, "
            "then create a correct event:\n  - " + "\n  - ".join(invalid)
        )
