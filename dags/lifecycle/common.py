"""Shared DAG wiring: the Assets that chain the lifecycle, and the task glue.

Not a DAG file (it defines none). Kept small on purpose: every task is a
one-line call into ``include/airlock``; :func:`step` is the only translation
between the package and Airflow:

* a permanent error (bad input, policy, checksum, failed gate, rejected
  verdict) becomes ``AirflowFailException``: the task fails now, no retry;
* a retryable error (store, MLflow, hub or node unreachable) propagates, and
  Airflow retries it with exponential backoff (:func:`default_args`);
* payload arguments arrive from XCom as JSON and are validated into the
  annotated model; a returned model goes back to XCom as JSON.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import Asset

if TYPE_CHECKING:
    from airlock.config import AirlockConfig
    from airlock.payloads import IntakeRequest
    from airlock.sources.base import Credentials

CANDIDATE = Asset(name="airlock_candidate", uri="airlock://registry/candidates")
VERDICT = Asset(name="airlock_verdict", uri="airlock://verdicts/pass")


def default_args(
    retry_delay: timedelta = timedelta(seconds=20), timeout: timedelta = timedelta(hours=4), retries: int = 1
) -> dict[str, Any]:
    """Every lifecycle task's defaults: an owner, a timeout (no task may hang forever on a
    blocked read or a node that never answers), and retries with exponential backoff (which
    only retryable errors reach: :func:`step` fails permanent ones at once)."""
    return {
        "owner": "airlock",
        "retries": retries,
        "retry_delay": retry_delay,
        "execution_timeout": timeout,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }


F = TypeVar("F", bound=Callable[..., Any])


def step(fn: F) -> F:
    """Wrap a task body: typed payloads in and out, permanent errors fail at once."""
    hints = None

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        nonlocal hints
        from pydantic import BaseModel

        from airlock.errors import PermanentError

        if hints is None:
            hints = typing.get_type_hints(fn)
        bound = inspect.signature(fn).bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            model = hints.get(name)
            if isinstance(model, type) and issubclass(model, BaseModel) and isinstance(value, dict):
                from airlock.payloads import parse

                bound.arguments[name] = parse(model, value, f"input {name!r} of task {fn.__name__!r}")
        try:
            out = fn(*bound.args, **bound.kwargs)
        except PermanentError as exc:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
        if isinstance(out, BaseModel):
            return out.model_dump(mode="json")
        if isinstance(out, list):
            return [o.model_dump(mode="json") if isinstance(o, BaseModel) else o for o in out]
        return out

    run.__airlock_step__ = True  # type: ignore[attr-defined]  # tests/dags check every task has it
    return typing.cast(F, run)


def cfg() -> AirlockConfig:
    """The validated airlock.yaml (plus AIRLOCK__* overrides) of this worker (imported lazily)."""
    from airlock.config import load_config

    return load_config()


def form(model: type) -> Any:
    """This run's request: the trigger conf / Params validated as ``model`` (an unknown
    or missing key fails naming it). The dispatchers trigger the lifecycle DAGs with a
    conf of the event's model and digest (:mod:`airlock.dispatch`)."""
    from airflow.sdk import get_current_context

    from airlock.payloads import parse

    ctx = get_current_context()
    dag_id = ctx["dag"].dag_id
    conf = dict(ctx["dag_run"].conf or {}) if ctx.get("dag_run") is not None else {}
    return parse(model, {**dict(ctx["params"]), **conf}, f"{dag_id} request")


def signing_key() -> bytes:
    """The pipeline's private signing key: the ``airlock_signing`` connection's password (the PEM),
    else the file ``signing.private_key_file`` names. Never logged, never in XCom."""
    from airflow.sdk import Connection

    from airlock import passes

    try:
        pem = Connection.get("airlock_signing").password or None
    except Exception:  # noqa: BLE001 - no connection configured: fall back to the key file
        pem = None
    return passes.private_key(cfg(), pem)


def hf_token() -> str | None:
    """The hub token from the ``hf_hub`` connection; None falls back to HF_TOKEN."""
    creds = _connection("hf_hub", required=False)
    return creds.secret if creds else None


def source_credentials(req: IntakeRequest) -> Credentials | None:
    """The credentials of the connection the request names (``connection``); for the hub, of
    ``hf_hub`` when it names none. A named connection that does not exist fails the task."""
    if req.connection:
        return _connection(req.connection, required=True)
    return _connection("hf_hub", required=False) if req.source_kind == "hub" else None


def _connection(conn_id: str, required: bool) -> Credentials | None:
    """login/password, and ``endpoint_url`` / ``region_name`` from extra. Never logged."""
    from airflow.sdk import Connection

    from airlock.errors import InvalidRequest
    from airlock.sources.base import Credentials

    try:
        c = Connection.get(conn_id)
    except Exception as exc:  # noqa: BLE001 - the SDK raises its own "not found" type
        if required:
            raise InvalidRequest(f"connection {conn_id!r} does not exist ({type(exc).__name__})") from None
        return None
    extra = c.extra_dejson or {}
    return Credentials(
        login=c.login or None,
        secret=c.password or None,
        endpoint=extra.get("endpoint_url") or None,
        region=extra.get("region_name"),
    )


def airflow_run_url() -> str:
    """Link to this DAG run in the Airflow UI, recorded in MLflow and reports."""
    from urllib.parse import quote

    from airflow.sdk import conf, get_current_context

    ctx = get_current_context()
    base = conf.get("api", "base_url", fallback="http://127.0.0.1:8080").rstrip("/")
    return f"{base}/dags/{ctx['dag'].dag_id}/runs/{quote(ctx['run_id'], safe='')}"


def known_versions(limit: int = 20) -> list[str]:
    """Passing version numbers recorded by this installation, for the rollback form
    (read from a small local file, so parsing the DAG never calls MLflow or S3)."""
    from airlock import catalog

    return catalog.passing_versions(cfg().state_dir, limit)
