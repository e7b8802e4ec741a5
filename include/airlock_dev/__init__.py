"""Airlock's dev tooling: the embedded local stack, the model factory, the demo.

Nothing in production imports this package; it imports :mod:`airlock`, never
the other way round (``tests/dags/test_dag_integrity.py`` checks both).
"""
