# Stand-in for ghcr.io/mlflow/mlflow:v3.17.2 (no registry here): MLflow on the Debian base, so that
# deploy/mlflow.Dockerfile builds on it unchanged.
FROM airlock/python:local
RUN pip install --progress-bar off "mlflow==3.17.2"
