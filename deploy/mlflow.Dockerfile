FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir psycopg2-binary boto3 "Flask-WTF>=1.1" \
    && useradd --system --uid 10001 --home-dir /var/lib/mlflow --create-home mlflow
# The auth database lives on the mlflow-auth volume, which starts as this folder (owned by mlflow).
USER mlflow
