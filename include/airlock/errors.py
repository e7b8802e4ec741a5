"""One error hierarchy: what a retry can fix, and what it cannot.

Every module raises these. The DAG layer maps :class:`PermanentError` to a
failure without retry (a policy violation or a tampered file fails the same
way every time, and retrying only hides it for minutes), and lets
:class:`RetryableError` retry with backoff (a store, tracking server, hub or
node that did not answer may answer next time).

Each message names the object and the rule that failed, so the task log alone
tells the user what to fix.
"""

from __future__ import annotations


class AirlockError(Exception):
    """Base of every error Airlock raises on purpose."""


# --- permanent: the same input fails the same way ----------------------------


class PermanentError(AirlockError):
    """Retrying cannot help: bad input, a broken rule, a failed gate."""


class InvalidRequest(PermanentError, ValueError):
    """A Param, trigger conf, Asset event or argument is invalid; names the field."""


class ConfigError(PermanentError, ValueError):
    """The configuration is invalid; the message names the file and the bad key."""


class NotFound(PermanentError, LookupError):
    """A model, version, alias, revision or file does not exist."""


class PolicyViolation(PermanentError, ValueError):
    """The candidate breaks the admission policy; ``reasons`` lists every rule."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("admission policy rejected the candidate:\n  - " + "\n  - ".join(reasons))


class IntegrityError(PermanentError, ValueError):
    """Bytes, a manifest or a signature do not match what was recorded; names the file."""


class AccessDenied(PermanentError):
    """A service refused our credentials or permissions: fix the config or the grant."""


class GateFailed(PermanentError):
    """A gate refused the candidate (a result check, a node that cannot load it)."""


class VerdictRejected(PermanentError):
    """The version's verdict forbids the requested action (e.g. promoting a fail)."""


class NodeFailed(PermanentError):
    """A serving node (or a service) could not stage, start or serve; carries its log tail."""


class RolloutFailed(PermanentError):
    """The rollout failed and the fleet was put back on the previous version."""


# --- retryable: the world may be different in a minute -----------------------


class RetryableError(AirlockError):
    """A dependency did not answer or was busy; a retry with backoff may succeed."""


class StoreUnavailable(RetryableError):
    """The S3 registry (or an S3 source) could not be reached or refused for now."""


class TrackingUnavailable(RetryableError):
    """The MLflow tracking server could not be reached."""


class HubUnavailable(RetryableError):
    """The model hub (or its mirror) could not be reached."""


class NodeUnavailable(RetryableError):
    """A serving node or the load balancer did not answer in time."""


class Busy(RetryableError):
    """Another operation holds what this one needs (e.g. the fleet's rollout lock)."""


def is_permanent(exc: BaseException) -> bool:
    """True when a retry would repeat the same failure."""
    return isinstance(exc, PermanentError)
