"""Every name Airlock writes into MLflow, in one place: tags, aliases, experiments.

Reviewers filter and dashboards query on these; changing one is a migration.
"""

from __future__ import annotations

# aliases on a registered model
CHAMPION = "champion"  # what the whole fleet serves; moves only after a rollout completes
CHALLENGER = "challenger"  # the latest version with a pass verdict
PREVIOUS = "previous"  # the champion before the last rollout: rollback's default target
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)


class Tag:
    """Tag keys on runs, model versions and registered models."""

    MODEL = "airlock.model"
    DIGEST = "airlock.digest"  # the manifest digest: a version's identity
    GATE = "airlock.gate"  # which gate a run belongs to: intake | evaluate
    AIRFLOW_RUN = "airlock.airflow_run"  # link to the Airflow run that wrote it
    VERDICT = "airlock.verdict"  # on a run: pass | fail | invalid; on a version: pass | rejected
    VERDICT_REASONS = "airlock.verdict_reasons"
    RESULT_GATE = "airlock.result_gate"  # Great Expectations: pass | fail
    EVALUATION_RUN = "airlock.evaluation_run"  # on a version: the run holding its evidence
    MODEL_VERSION = "airlock.model_version"  # on a run: the version it registered
    REVISION = "airlock.revision"
    ROLLOUT_HISTORY = "airlock.rollout_history"  # JSON list of past rollouts of this version
    DEPLOYED_AT = "airlock.deployed_at"
    SIGNED_PASS = "airlock.signed_pass"  # display only: the pass in the registry is the evidence
    SIGNED_AT = "airlock.signed_at"
    NOTE = "mlflow.note.content"  # MLflow's own: the run's description in the UI


GATE_INTAKE = "intake"
GATE_EVALUATE = "evaluate"
TAG_LIMIT = 4900  # MLflow caps tag values at 5000 characters


def experiment_name(model: str) -> str:
    """One experiment per model: its intakes and evaluations side by side."""
    return f"airlock/{model}"
