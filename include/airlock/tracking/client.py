"""The MLflow client, and how its failures map onto Airlock's errors.

Everything goes through ``MlflowClient`` against the tracking server;
artifacts are uploaded through the server's artifact proxy, so pipeline code
needs no credentials for the artifact store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airlock.errors import AccessDenied, AirlockError, InvalidRequest, NotFound, TrackingUnavailable

if TYPE_CHECKING:
    from airlock.config import AirlockConfig

DENIED = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})
INVALID = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE", "RESOURCE_ALREADY_EXISTS"})


def client(cfg: AirlockConfig) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)


def is_missing(exc: BaseException) -> bool:
    """Does this MLflow error mean "no such model, version or alias"?

    MLflow 3 answers a missing alias of an existing model with
    INVALID_PARAMETER_VALUE ("Registered model alias champion not found."),
    everything else missing with RESOURCE_DOES_NOT_EXIST.
    """
    code = str(getattr(exc, "error_code", ""))
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)
    )


def classify(exc: BaseException, what: str) -> AirlockError:
    """The Airlock error for an MLflow failure while doing ``what``."""
    if isinstance(exc, AirlockError):
        return exc
    code = str(getattr(exc, "error_code", "") or "")
    if is_missing(exc):
        return NotFound(f"{what}: not found in MLflow")
    if code in DENIED:
        return AccessDenied(f"{what}: MLflow refused the credentials or permission ({code})")
    if code in INVALID:
        return InvalidRequest(f"{what}: MLflow refused the request ({code}): {str(exc)[:300]}")
    return TrackingUnavailable(f"{what}: MLflow did not answer ({code or type(exc).__name__})")


@contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """Turn MLflow and connection failures inside the block into Airlock errors naming ``what``."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, OSError) as exc:
        raise classify(exc, what) from exc
