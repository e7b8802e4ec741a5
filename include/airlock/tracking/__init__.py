"""The only code that talks to MLflow.

* :mod:`~airlock.tracking.names`: every tag, alias and experiment name;
* :mod:`~airlock.tracking.client`: the client and its error classification;
* :mod:`~airlock.tracking.runs`: intake and evaluation runs, their evidence;
* :mod:`~airlock.tracking.versions`: model versions, verdict tags, aliases.
"""
