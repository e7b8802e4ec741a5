"""
### model_intake: the first gate

Fetches one **pinned** revision of a model into Airlock's private S3 registry.

1. **admit** — validates the Params, resolves the revision to an immutable id
   (a commit sha for the hub), lists the files and applies the admission
   policy (safetensors only, path sanity, size cap, trusted orgs, licences).
   Nothing is stored if any rule fails; the error lists every reason.
2. **ingest** — streams each file into `blobs/sha256/<hex>`, hashing on the
   way; a published sha256 that does not match aborts that upload. Blobs
   already present are skipped. The manifest is written last: it is the
   version.
3. **verify** — checks every blob against the manifest (stored checksums, or a
   full re-hash with `full_verify`).
4. **record** — logs the intake to MLflow and emits the `airlock_candidate`
   Asset (extra: model, digest, manifest URI, revision, MLflow run id);
   `candidate_dispatch` turns each such event into one `model_evaluate` run
   (`candidate__<model>__<digest>`: a version already evaluated is not again).

Sources: `hub` (repo id; `HF_ENDPOINT` for a mirror; token from the
`hf_hub` connection or `HF_TOKEN`), `s3` (an `s3://bucket/prefix` in the
vendor's store: `connection` names an Airflow connection with the vendor's
read key as login/password and `endpoint_url` in extra; the registry's own
credentials never read a source), `local` (an absolute directory on the
worker).

A bad input, a policy violation or a checksum mismatch fails its task at once;
an unreachable hub or store is retried with backoff.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from airlock.payloads import Admission, Candidate, IngestResult, IntakeRequest, VerifiedVersion
from airlock.sources import SOURCES
from lifecycle.common import CANDIDATE, airflow_run_url, cfg, default_args, form, source_credentials, step


@dag(
    dag_id="model_intake",
    schedule=None,
    catchup=False,
    tags=["airlock", "intake"],
    doc_md=__doc__,
    max_active_runs=4,
    default_args=default_args(timedelta(seconds=30), timeout=timedelta(hours=6)),  # 200 GB at 100 MB/s: ~35 min
    params={
        "model_name": Param(
            "airlock-demo",
            type="string",
            pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
            description="Registry name of the model (lowercase).",
        ),
        "source_kind": Param("hub", type="string", enum=sorted(SOURCES), description="Where the weights come from."),
        "location": Param(
            "",
            type="string",
            minLength=1,
            maxLength=1024,
            description="hub: org/name · s3: s3://bucket/prefix · local: /absolute/dir",
        ),
        "revision": Param(
            "main",
            type="string",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$",
            description="Branch, tag or commit sha (hub only); resolved to a commit.",
        ),
        "allow_patterns": Param(
            [], type="array", items={"type": "string"}, description="Only files matching these globs (hub)."
        ),
        "ignore_patterns": Param(
            [], type="array", items={"type": "string"}, description="Skip files matching these globs (hub)."
        ),
        "full_verify": Param(False, type="boolean", description="Re-hash every blob after ingest."),
        "connection": Param(
            "",
            type="string",
            pattern=r"^[A-Za-z0-9_.-]{0,250}$",
            description="Airflow connection holding the source's credentials: required for s3 (vendor "
            "endpoint_url in extra, read key as login/password); hub defaults to hf_hub.",
        ),
    },
)
def model_intake():
    from airlock import intake

    @task
    @step
    def admit() -> Admission:
        req = form(IntakeRequest)
        return intake.task_admit(req, cfg(), source_credentials(req))

    @task
    @step
    def ingest(admitted: Admission) -> IngestResult:
        return intake.task_ingest(admitted, cfg(), source_credentials(admitted.request))

    @task
    @step
    def verify(ingested: IngestResult) -> VerifiedVersion:
        return intake.task_verify(ingested, form(IntakeRequest).full_verify, cfg())

    @task(outlets=[CANDIDATE])
    @step
    def record(verified: VerifiedVersion, *, outlet_events=None) -> Candidate:
        extra = intake.task_record(verified, cfg(), airflow_run_url())
        outlet_events[CANDIDATE].extra = extra.model_dump(mode="json")
        return extra

    record(verify(ingest(admit())))


intake_dag = model_intake()

if __name__ == "__main__":
    intake_dag.test()
