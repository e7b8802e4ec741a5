"""MLflow's users, for a tracking server run with its basic-auth app.

Why here: deployment (``make up``, compose's ``mlflow-init``) must create the
pipeline's and the reviewers' accounts, and this package is the only code that
talks to MLflow. The auth app's own client takes credentials from the
environment only, so the admin's are set around the calls.

``python -m airlock.tracking.users`` does it from ``MLFLOW_TRACKING_URI``,
``MLFLOW_ADMIN_PASSWORD`` and one ``<USER>=<PASSWORD ENV>`` pair per argument.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from airlock.errors import ConfigError
from airlock.tracking.client import is_missing, mlflow_errors

ADMIN, PIPELINE, REVIEWER = "admin", "airlock-pipeline", "reviewer"


def ensure_users(url: str, admin_password: str, users: Mapping[str, str]) -> None:
    """Create each user (name -> password), or reset its password; nobody but the admin is admin.

    Writes are the pipeline's: it creates every experiment and registered
    model, so it owns them. Everyone else signed in reads (the server's
    ``default_permission = READ``); anonymous calls are refused.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    with (
        _environ(MLFLOW_TRACKING_USERNAME=ADMIN, MLFLOW_TRACKING_PASSWORD=admin_password),
        mlflow_errors(f"MLflow users at {url}"),
    ):
        auth = get_app_client("basic-auth", tracking_uri=url)
        for user, password in users.items():
            try:
                auth.get_user(user)
            except MlflowException as exc:
                if not is_missing(exc):
                    raise
                auth.create_user(user, password)
            else:
                auth.update_user_password(user, password)


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: list[str]) -> int:
    def env(name: str) -> str:
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{name} is not set")
        return value

    pairs = dict(a.split("=", 1) for a in argv)
    ensure_users(env("MLFLOW_TRACKING_URI"), env("MLFLOW_ADMIN_PASSWORD"), {u: env(v) for u, v in pairs.items()})
    print(f"MLflow users ready: {', '.join(pairs)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
