"""Rolling deploys of a model version across the fleet, with automatic rollback.

Per node, one at a time (the first is the canary, baked before the rest):
drain in HAProxy and wait for 0 sessions -> switch the node's ``current``
version -> restart -> wait for health -> smoke prompt -> wait for HAProxy's own
check -> ready. Any failure restores every touched node to the previous version
from its local cache (no download) and re-enables it.

One rollout at a time: an exclusive ``flock`` on ``<state>/rollout.lock``
(released by the kernel if the worker dies). Progress is persisted in
``<state>/rollouts/<model>.json``; rerunning an interrupted rollout resumes
it (nodes already on the target are skipped), so the fleet ends all-new or,
after a failure, all-old — never a mix.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from airlock import bake as bake_mod
from airlock.config import AirlockConfig
from airlock.errors import Busy, GateFailed, NodeFailed, NodeUnavailable, RolloutFailed
from airlock.materialize import materialize
from airlock.nodes import fleet as fleet_mod
from airlock.nodes.balancer import Balancer
from airlock.nodes.base import ServingNode
from airlock.payloads import RolloutResult
from airlock.registry import Registry

log = logging.getLogger(__name__)

__all__ = ["Busy", "Fleet", "RolloutFailed", "RolloutState", "load_state", "run", "stage_everywhere", "summary"]


@dataclass
class RolloutState:
    model: str
    target: str
    previous: str | None
    kind: Literal["promote", "rollback"] = "promote"
    phase: str = "running"  # running | done | rolled_back | rollback_failed
    nodes: dict[str, str] = field(default_factory=dict)  # name -> pending|updating|updated|restored
    events: list[dict[str, Any]] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def event(self, **kw: Any) -> None:
        self.events.append({"t": round(time.time(), 3), **kw})


def _state_path(cfg: AirlockConfig, model: str) -> Path:
    return cfg.state_dir / "rollouts" / f"{model}.json"


def load_state(cfg: AirlockConfig, model: str) -> RolloutState | None:
    try:
        return RolloutState(**json.loads(_state_path(cfg, model).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_state(cfg: AirlockConfig, st: RolloutState) -> None:
    p = _state_path(cfg, st.model)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(st), indent=1))
    tmp.replace(p)


@contextmanager
def fleet_lock(cfg: AirlockConfig, what: str) -> Iterator[None]:
    """Exclusive lock on the fleet; waits ``promotion.lock_wait_s`` then refuses."""
    path = cfg.state_dir / "rollout.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + cfg.promotion.lock_wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
                    raise Busy(f"another rollout holds the fleet ({holder}); refusing {what}") from None
                time.sleep(1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what}, pid {os.getpid()}, since {time.ctime()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def smoke(node: ServingNode, cfg: AirlockConfig) -> None:
    """One real completion through the node; its text is checked, never logged."""
    body = json.dumps(
        {
            "model": cfg.serving.served_model_name,
            "prompt": cfg.promotion.smoke_prompt,
            "max_tokens": cfg.promotion.smoke_max_tokens,
            "temperature": 0,
        }
    ).encode()
    req = urllib.request.Request(
        node.base_url + "/v1/completions", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - fleet URL from config
            out = json.loads(r.read())
    except OSError as exc:
        raise NodeUnavailable(f"{node.name}: smoke prompt failed ({type(exc).__name__}: {exc})") from None
    if not out.get("choices") or not isinstance(out["choices"][0].get("text"), str):
        raise NodeFailed(f"{node.name}: smoke prompt returned no completion")


@dataclass
class Fleet:
    """The nodes in rollout order, their HAProxy server names, and HAProxy."""

    cfg: AirlockConfig
    nodes: list[ServingNode]
    balancer: Balancer

    @classmethod
    def from_config(cls, cfg: AirlockConfig) -> Fleet:
        return cls(cfg, fleet_mod.fleet(cfg), fleet_mod.balancer(cfg))

    def server(self, node: ServingNode) -> str:
        return fleet_mod.server_name(self.cfg, node.name)

    def versions(self) -> dict[str, str | None]:
        return {n.name: n.current_version() for n in self.nodes}

    def switch(self, node: ServingNode, digest: str) -> dict[str, float]:
        """Drain, switch, restart, check, re-enable one node.

        Returns the seconds of each phase and their ``total``: the rollout
        records them so an operator sees where a slow restart spent its time.
        """
        phases: dict[str, float] = {}
        t0 = mark = time.monotonic()

        def lap(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[name] = round(now - mark, 2)
            mark = now

        srv, lb = self.server(node), self.balancer
        lb.drain(srv, self.cfg.promotion.drain_timeout_s)
        lap("drain")
        node.activate(digest)
        node.stop()
        lap("stop")
        node.start()
        node.wait_healthy()
        lap("start")
        for _ in range(self.cfg.promotion.warmup_requests):  # first requests after a start are slow
            smoke(node, self.cfg)
        lap("warmup")
        lb.wait_up(srv, timeout=60)
        lb.set_state(srv, "ready")
        lap("ready")
        phases["total"] = round(time.monotonic() - t0, 2)
        return phases

    def retire(self, node: ServingNode) -> dict[str, float]:
        """Take a node out of service (restoring a first promotion: there is nothing to go back to)."""
        t0 = time.monotonic()
        self.balancer.drain(self.server(node), self.cfg.promotion.drain_timeout_s)
        node.stop()
        return {"total": round(time.monotonic() - t0, 2)}


def stage_everywhere(
    cfg: AirlockConfig, registry: Registry, nodes: list[ServingNode], model: str, digests: list[str]
) -> None:
    """Materialise each version on each node before any node is touched: its signed pass must
    verify against the trusted keys, and every byte against the signed sha256."""
    keys = cfg.trusted_keys()
    for digest in digests:
        manifest = registry.get_manifest(model, digest)
        for n in nodes:
            materialize(registry, manifest, n.version_dir(digest), keys)


def _restore(fl: Fleet, st: RolloutState, say: Callable[[str], None]) -> list[str]:
    """Put every touched node back on ``st.previous``; returns the names restored."""
    restored: list[str] = []
    problems: list[str] = []
    for n in reversed(fl.nodes):
        if st.nodes.get(n.name) not in ("updating", "updated"):
            continue
        try:
            phases = fl.switch(n, st.previous) if st.previous else fl.retire(n)
            t = phases["total"]
            st.nodes[n.name] = "restored"
            st.event(node=n.name, action="restored", version=st.previous, seconds=round(t, 1), phases=phases)
            restored.append(n.name)
            say(f"{n.name}: {'restored to ' + st.previous[:12] if st.previous else 'out of service'} in {t:.1f}s")
        except Exception as exc:  # noqa: BLE001 - keep restoring the others
            problems.append(f"{n.name}: {exc}")
    st.phase = "rollback_failed" if problems else "rolled_back"
    save_state(fl.cfg, st)
    if problems:
        raise RolloutFailed("ROLLBACK INCOMPLETE, see docs/runbooks/stuck-rollout.md: " + "; ".join(problems))
    return restored


def run(
    cfg: AirlockConfig,
    model: str,
    target: str,
    previous: str | None,
    registry: Registry | None = None,
    kind: Literal["promote", "rollback"] = "promote",
    bake: bool = True,
    fleet: Fleet | None = None,
    say: Callable[[str], None] = log.info,
) -> RolloutState:
    """Roll the whole fleet to ``target``; on any failure restore ``previous``.

    Raises :class:`~airlock.errors.Busy` if another rollout runs and
    :class:`~airlock.errors.RolloutFailed` (after restoring) if this one fails.
    """
    registry = registry or Registry.from_config(cfg)
    fl = fleet or Fleet.from_config(cfg)
    with fleet_lock(cfg, f"{kind} {model} -> {target[:12]}"):
        st = load_state(cfg, model)
        if st and st.phase == "running" and st.target != target:
            say(f"an interrupted rollout to {st.target[:12]} is pending: restoring {str(st.previous)[:12]} first")
            _restore(fl, st, say)
        if st and st.target == target and st.phase == "done" and all(v == target for v in fl.versions().values()):
            say("the whole fleet already serves the target: nothing to do")
            return st
        if not (st and st.target == target and st.phase == "running"):
            st = RolloutState(model, target, previous, kind, nodes={n.name: "pending" for n in fl.nodes})
        # Every node verifies the pass and every byte before any node is touched: an unsigned or
        # tampered version fails here (IntegrityError), with no node changed and no rollout recorded.
        stage_everywhere(cfg, registry, fl.nodes, model, [d for d in (target, st.previous) if d])
        save_state(cfg, st)
        try:
            for i, n in enumerate(fl.nodes):
                if n.current_version() == target and n.healthy():
                    fl.balancer.set_state(fl.server(n), "ready")
                    st.nodes[n.name] = "updated"
                else:
                    st.nodes[n.name] = "updating"
                    save_state(cfg, st)
                    phases = fl.switch(n, target)
                    t = phases["total"]
                    st.nodes[n.name] = "updated"
                    st.event(
                        node=n.name, action="updated", version=target, seconds=round(t, 1), canary=i == 0, phases=phases
                    )
                    save_state(cfg, st)
                    say(f"{n.name}: now serving {target[:12]} ({t:.1f}s){' — canary' if i == 0 else ''}")
                # A resumed rollout whose worker died mid-bake bakes again: no
                # node past the canary moves without a passed bake on record.
                baked = any(e.get("action") == "bake" and e.get("passed") for e in st.events)
                if i == 0 and bake and len(fl.nodes) > 1 and not baked:
                    # compare with the nodes that serve; a first promotion onto an empty pool has none,
                    # and the canary is then judged on its own (error rate, the absolute TTFT ceiling)
                    rest = [r for r in fl.nodes[1:] if r.current_version() is not None]
                    res = bake_mod.bake(
                        (fl.server(n), n.base_url),
                        [(fl.server(r), r.base_url) for r in rest],
                        f"http://127.0.0.1:{cfg.balancer.stats_port}/metrics",
                        cfg.fleet.backend,
                        cfg.promotion.bake,
                    )
                    st.event(
                        node=n.name,
                        action="bake",
                        passed=res.passed,
                        reasons=res.reasons,
                        canary=res.canary,
                        rest=res.rest,
                    )
                    save_state(cfg, st)
                    say(f"bake: {'passed' if res.passed else 'BREACH'} — {'; '.join(res.reasons)}")
                    if not res.passed:
                        raise GateFailed("canary bake breached: " + "; ".join(res.reasons))
        except Exception as exc:
            st.event(action="failed", error=str(exc)[:2000])
            save_state(cfg, st)
            say(f"rollout failed: {exc}; restoring the previous version")
            restored = _restore(fl, st, say)
            raise RolloutFailed(
                f"rollout of {model} to {target[:12]} failed and was rolled back "
                f"({', '.join(restored) or 'no node had changed'}): {exc}"
            ) from exc
        st.phase = "done"
        st.event(action="done")
        save_state(cfg, st)
        return st


def summary(st: RolloutState) -> RolloutResult:
    """What to record on the model version: who moved where, how long, the bake."""
    return RolloutResult(
        kind=st.kind,
        model=st.model,
        target=st.target,
        previous=st.previous,
        phase=st.phase,
        started=st.started,
        nodes=[e for e in st.events if e.get("action") in ("updated", "restored")],
        bake=next((e for e in st.events if e.get("action") == "bake"), None),
    )
