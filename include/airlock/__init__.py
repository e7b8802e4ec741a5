"""Airlock: gates that LLM weights pass before they reach a serving fleet.

This package holds all pipeline logic and never imports Airflow, so it can be
tested and run without a scheduler. ``dags/`` only wires these calls together.
"""

__version__ = "0.1.0"
