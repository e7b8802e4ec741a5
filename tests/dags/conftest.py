"""Parse the DAGs in a throwaway AIRFLOW_HOME, with no connections or services."""

import os
import tempfile

_home = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "dags")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

DAGS = Path(__file__).resolve().parents[2] / "dags"
sys.path.insert(0, str(DAGS))  # as the dag-processor does for the dags folder


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    t0 = time.monotonic()
    bag = DagBag(dag_folder=str(DAGS), bundle_path=DAGS)
    bag.parse_seconds = time.monotonic() - t0
    return bag


@pytest.fixture(scope="session")
def airflow_db():
    """An initialised metadata database in the throwaway home, for ``dag.test()``."""
    from airflow.utils.db import initdb

    initdb()
