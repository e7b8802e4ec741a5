# Airflow 3.3 image for Airlock: the official image plus the pipeline's
# requirements and the package. Built by docker-compose.yml.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /var/lib/airlock && chown airflow: /var/lib/airlock  # the state volume starts as this
USER airflow
COPY requirements.txt /opt/airlock/requirements.txt
RUN pip install --no-cache-dir -r /opt/airlock/requirements.txt
COPY include /opt/airflow/include
COPY dags /opt/airflow/dags
COPY plugins /opt/airflow/plugins
COPY airlock.yaml /opt/airlock/airlock.yaml
ENV PYTHONPATH=/opt/airflow/include \
    AIRLOCK_CONFIG=/opt/airlock/airlock.yaml
