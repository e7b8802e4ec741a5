"""A small client for Airflow's REST API (v2): trigger a DAG and wait for it.

Used by the demo and the end-to-end tests, so they drive the real scheduler
the way a user's UI click does. Speaks HTTP only; imports no Airflow.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

TERMINAL = {"success", "failed"}


class AirflowError(RuntimeError):
    """The API refused a call, or a run did not finish in time."""


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base = base_url.rstrip("/")
        self._user, self._password = username, password
        self._token: str | None = None

    def _call(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token()}")
        attempts = 5 if method == "GET" else 1  # polling survives a busy api-server; writes never repeat
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - local URL
                    raw = r.read()
                break
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:500]
                raise AirflowError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
            except OSError:  # timeout or refused connection while the machine is loaded
                if attempt == attempts - 1:
                    raise
                time.sleep(3)
        return json.loads(raw) if raw else None

    def token(self) -> str:
        if self._token is None:
            out = self._call("POST", "/auth/token", {"username": self._user, "password": self._password}, auth=False)
            self._token = out["access_token"]
        return self._token

    def wait_dag(self, dag_id: str, timeout: float = 120) -> None:
        t0 = time.monotonic()
        while True:
            try:
                self._call("GET", f"/api/v2/dags/{dag_id}")
                return
            except AirflowError:
                if time.monotonic() - t0 > timeout:
                    raise
                time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        out = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return out["dag_run_id"]

    def asset_event(self, asset_name: str, extra: dict[str, Any]) -> None:
        """Create an event of the Asset named ``asset_name``, as the UI's "Create Asset Event" does."""
        found = self._call("GET", f"/api/v2/assets?name_pattern={asset_name}")["assets"]
        asset = next(a for a in found if a["name"] == asset_name)
        self._call("POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": extra})

    def asset_events(self, asset_name: str, extras: list[dict[str, Any]]) -> None:
        """Create several events of one Asset back to back (one look-up, then one POST each): a burst."""
        found = self._call("GET", f"/api/v2/assets?name_pattern={asset_name}")["assets"]
        asset = next(a for a in found if a["name"] == asset_name)
        for extra in extras:
            self._call("POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": extra})

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The newest 100 runs of ``dag_id`` (run id, state, run type, conf, ...), newest first."""
        out = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-run_after")
        return list(out["dag_runs"])

    def wait_run_exists(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """Wait until a run with this id exists (e.g. one a dispatcher triggers); returns it."""
        t0 = time.monotonic()
        while True:
            try:
                return self.run(dag_id, run_id)
            except AirflowError as exc:
                if "HTTP 404" not in str(exc):
                    raise
            if time.monotonic() - t0 > timeout:
                raise AirflowError(f"no {dag_id} run {run_id} after {timeout:.0f}s")
            time.sleep(2)

    def run_ids(self, dag_id: str) -> set[str]:
        out = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-run_after")
        return {r["dag_run_id"] for r in out["dag_runs"]}

    def wait_new_run(self, dag_id: str, known: set[str], timeout: float = 300) -> str:
        """Wait for a run of ``dag_id`` not in ``known`` (e.g. one an Asset scheduled)."""
        t0 = time.monotonic()
        while True:
            new = self.run_ids(dag_id) - known
            if new:
                return sorted(new)[-1]
            if time.monotonic() - t0 > timeout:
                raise AirflowError(f"no new {dag_id} run after {timeout:.0f}s")
            time.sleep(2)

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        out = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}/taskInstances")
        return out["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        rid = urllib.request.quote(run_id, safe="")
        out = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{rid}/taskInstances/{task_id}/xcomEntries/{key}")
        return out.get("value")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        t0 = time.monotonic()
        while True:
            state = self.run(dag_id, run_id)["state"]
            if state in TERMINAL:
                return state
            if time.monotonic() - t0 > timeout:
                raise AirflowError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")
            time.sleep(2)

    def wait_task_state(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 300) -> str:
        t0 = time.monotonic()
        while True:
            st = {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}.get(task_id)
            if st in states:
                return st
            if time.monotonic() - t0 > timeout:
                raise AirflowError(f"{dag_id}.{task_id} still {st} after {timeout:.0f}s")
            time.sleep(2)

    def answer_approval(self, dag_id: str, run_id: str, task_id: str, approve: bool) -> None:
        """Answer a Human-in-the-loop ApprovalOperator, as the UI's buttons do."""
        rid = urllib.request.quote(run_id, safe="")
        self._call(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{rid}/taskInstances/{task_id}/-1/hitlDetails",
            {"chosen_options": ["Approve" if approve else "Reject"], "params_input": {}},
        )

    def run_url(self, dag_id: str, run_id: str) -> str:
        return f"{self.base}/dags/{dag_id}/runs/{urllib.request.quote(run_id, safe='')}"
