-- MLflow's backend store lives next to Airflow's metadata database.
CREATE DATABASE mlflow OWNER airflow;
