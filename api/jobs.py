"""Long commands run as jobs: a bounded pool of worker threads, one job per command id, visible to its principal.

A job *is* a command id (the request's ``Idempotency-Key``, or one the server draws: 122 random bits). Its
states: ``queued`` (waiting for a worker; at most ``Settings.http_jobs_max`` run at once), ``running``,
``succeeded`` (``result`` is the command's), ``failed`` (``errors``; nothing was written, or — a statement file —
what was recorded is in ``result``) and ``interrupted`` (a bulk command stopped half-way: its run is in the
store, and POSTing again with the same key resumes it, as rerunning a CLI command with its ``--command-id``
does).

The registry lives in the process. After a restart a job is found in the store instead
(:func:`commands.bulk.bulk_command_status`): a completed command is ``succeeded`` with its recorded result, a run
stopped half-way is ``interrupted`` with the members done / total it recorded.

Visibility: a job is shown to the principal that started it, and to an ``admin`` or ``auditor`` of scope
``all``; to anyone else it does not exist (404, the same answer as an unknown id), so a command id is no
handle on someone else's work.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from commands import bulk
from commands.authorise import Actor
from commands.bulk_admission import Check, bulk_admission, bulk_digest, members_of
from commands.handlers import execute
from commands.messages import Command
from eventstore.bootstrap import Ledger
from ledger.errors import IdempotencyConflict, LedgerError, NotFound
from ledger.values import Role

log = logging.getLogger("jamsos.http.jobs")

JobState = Literal["queued", "running", "succeeded", "failed", "interrupted"]
JOBS_KEPT_MAX = 1_000
"""Finished jobs kept in memory (the oldest are dropped first; the store still answers for bulk commands)."""
JOBS_WAITING_MAX = 256
"""Jobs queued or running at once in one process; one more is refused (429) until some finish."""
ERRORS_SHOWN_MAX = 1_000
"""Error lines a job lists (a cohort file with more bad rows says how many more)."""
RESUME_HINT = "POST again with the same Idempotency-Key (and the same body or file) to resume"

Work = Callable[[], dict[str, Any]]


class TooManyJobs(Exception):
    """The pool's queue is full: the request is refused (429) and nothing is started."""


class JobError(BaseModel):
    """One reason a job failed: the field (or a file's ``line N: field``) and why."""

    field: str
    reason: str
    line: int | None = Field(default=None, description="The file's line, for a row of a cohort file.")


class JobView(BaseModel):
    """A job as ``GET /api/v1/jobs/{id}`` shows it."""

    id: str = Field(description="The command id (`Idempotency-Key`).")
    kind: str = Field(description="The command kind: member.import, contribution.pay_cohort, reconcile.import.")
    state: JobState
    members_done: int | None = Field(default=None, description="Members written so far (a resumed run counts "
                                                                "those written before).")
    members_total: int | None = None
    errors: list[JobError] = Field(default_factory=list)
    result: dict[str, Any] | None = Field(default=None, description="The command's result once it succeeded.")
    file: str | None = Field(default=None, description="The uploaded file's name, as a label only.")
    warnings: list[str] = Field(default_factory=list, description="What the file reader did not read.")
    resume: str | None = Field(default=None, description="How to finish an interrupted job.")
    created_at: datetime
    updated_at: datetime


@dataclass
class Job:
    """A job in this process. Its fields change under the registry's lock only."""

    id: str
    kind: str
    principal: str
    digest: str
    created_at: datetime
    updated_at: datetime
    state: JobState = "queued"
    members_done: int | None = None
    members_total: int | None = None
    errors: list[JobError] = field(default_factory=list)
    result: dict[str, Any] | None = None
    file: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def view(self) -> JobView:
        return JobView(id=self.id, kind=self.kind, state=self.state, members_done=self.members_done,
                       members_total=self.members_total, errors=list(self.errors), result=self.result,
                       file=self.file, warnings=list(self.warnings),
                       resume=RESUME_HINT if self.state == "interrupted" else None,
                       created_at=self.created_at, updated_at=self.updated_at)


def new_job_id() -> str:
    """A command id nobody can guess (the server's, when the request carries no ``Idempotency-Key``)."""
    return uuid.uuid4().hex


def may_see_all(actor: Actor) -> bool:
    """An ``admin`` or ``auditor`` of scope ``all`` sees every principal's jobs."""
    return actor.has(Role.AUDITOR) and actor.scope.is_all


def errors_of(err: LedgerError) -> list[JobError]:
    """A refusal as job error lines: each bad row of a cohort file with its line, else the one field / reason."""
    rows = getattr(err, "errors", None)
    if isinstance(err, bulk.ImportRejected) and rows:
        shown = [JobError(field=f"line {r.line}: {r.field}", reason=r.reason, line=r.line)
                 for r in rows[:ERRORS_SHOWN_MAX]]
        if len(rows) > ERRORS_SHOWN_MAX:
            shown.append(JobError(field="rows", reason=f"and {len(rows) - ERRORS_SHOWN_MAX} more bad rows"))
        return shown
    details = [JobError(field=err.field, reason=str(d)) for d in getattr(err, "details", ())]
    return [JobError(field=err.field, reason=err.reason), *details]


class JobPool:
    """The process's jobs: a registry by command id and a pool of ``workers`` threads that run them.

    Invariants: one job per command id at a time (a POST for an id whose job is queued, running or succeeded
    gets that job, never a second run); at most :data:`JOBS_WAITING_MAX` jobs queued or running."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jamsos-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def find(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self, job: Job) -> JobView:
        with self._lock:
            return job.view()

    def submit(self, ledger: Ledger, job: Job, work: Work) -> tuple[Job, bool]:
        """Start ``job`` (``work`` runs the command) unless a job of its id is active or done: then that one.
        Returns the job and whether it is an earlier one (a replay)."""
        with self._lock:
            current = self._jobs.get(job.id)
            if current is not None and (current.active or current.state == "succeeded"):
                if current.digest != job.digest or current.principal != job.principal:
                    raise IdempotencyConflict("Idempotency-Key", "already used for another request; use a new key")
                return current, True
            if self._closed:
                raise TooManyJobs
            if sum(1 for j in self._jobs.values() if j.active) >= JOBS_WAITING_MAX:
                raise TooManyJobs
            self._jobs[job.id] = job
            self._jobs.move_to_end(job.id)
            self._forget_old()
            self._pool.submit(self._run, ledger, job, work)
            return job, False

    def record(self, job: Job) -> Job:
        """Keep a job that is already finished (a replay found in the store) without running anything."""
        with self._lock:
            current = self._jobs.get(job.id)
            if current is not None and (current.active or current.state == "succeeded"):
                return current
            self._jobs[job.id] = job
            self._forget_old()
            return job

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if not j.active]
        for key in finished[: max(0, len(finished) - JOBS_KEPT_MAX)]:
            del self._jobs[key]

    def _update(self, job: Job, ledger: Ledger, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)
            job.updated_at = ledger.clock.now()

    def _run(self, ledger: Ledger, job: Job, work: Work) -> None:
        self._update(job, ledger, state="running")

        def progress(done: int, total: int) -> None:
            self._update(job, ledger, members_done=done, members_total=total)

        try:
            with bulk.reporting_progress(progress):
                result = work()
        except LedgerError as err:
            self._stopped(ledger, job, errors_of(err), getattr(err, "summary", None))
        except Exception as err:  # never a stack trace in a job: the log has it, under the job's id
            log.error("job %s (%s) failed", job.id, job.kind, exc_info=err)
            self._stopped(ledger, job, [JobError(field="job", reason=f"internal error; quote job id {job.id}")],
                          None)
        else:
            result = {k: v for k, v in result.items() if k != "replayed"}
            failure = result.pop("failure", None)
            if failure is not None:  # a statement file stopped part-way: recorded ones stay recorded
                self._update(job, ledger, state="failed", result=result,
                             errors=[JobError(field=failure["field"], reason=failure["reason"])])
            else:
                self._update(job, ledger, state="succeeded", result=result)

    def _stopped(self, ledger: Ledger, job: Job, errors: list[JobError], result: dict[str, Any] | None) -> None:
        """A job that raised: ``interrupted`` if its bulk run is in the store half-done (resumable), else failed."""
        try:
            stored = bulk.bulk_command_status(ledger, job.id)
        except Exception:  # the store is down: it is still a failure to report
            stored = None
        if stored is not None and stored["status"] == "in progress":
            self._update(job, ledger, state="interrupted", errors=errors, members_done=stored["members_done"],
                         members_total=stored["members_total"])
        else:
            self._update(job, ledger, state="failed", errors=errors, result=result)

    def shutdown(self) -> None:
        """Refuse new jobs, drop the queued ones (never started: nothing written) and wait for the running ones
        (a batch is never cut; a process killed meanwhile leaves an interrupted, resumable run)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


def stored_view(ledger: Ledger, job_id: str) -> tuple[str, JobView] | None:
    """The job of ``job_id`` as the store knows it (after a restart) and who started it; None if unknown or not a
    job's kind."""
    stored = bulk.bulk_command_status(ledger, job_id)
    if stored is None or stored["kind"] not in JOB_KINDS:
        return None
    state: JobState = "succeeded" if stored["status"] == "completed" else "interrupted"
    result = stored["result"]
    done, total = stored["members_done"], stored["members_total"]
    if result is not None and done is None:  # one batch: no run recorded, the result says it
        done = total = members_of(result)
    view = JobView(id=job_id, kind=stored["kind"], state=state, members_done=done, members_total=total,
                   result=result, resume=RESUME_HINT if state == "interrupted" else None,
                   created_at=stored["created_at"], updated_at=stored["updated_at"])
    return str(stored["actor"]), view


JOB_KINDS = frozenset({"member.import", "contribution.pay_cohort", "reconcile.import"})


def job_for(ledger: Ledger, pool: JobPool, actor: Actor, job_id: str) -> JobView:
    """The job ``job_id`` if ``actor`` may see it (see the module docstring), from memory or else the store."""
    job = pool.find(job_id)
    if job is not None:
        if job.principal == actor.name or may_see_all(actor):
            return pool.snapshot(job)
    else:
        found = stored_view(ledger, job_id)
        if found is not None and (found[0] == actor.name or may_see_all(actor)):
            return found[1]
    raise NotFound("job_id", f"no job {job_id} of yours")


def admit_command(ledger: Ledger, pool: JobPool, actor: Actor, command: Command, check: Check | None = None, *,
                  file: str | None = None, warnings: Sequence[str] = ()) -> tuple[JobView, bool]:
    """Accept a bulk ``command`` as a job of ``actor`` once :mod:`commands.bulk_admission` has decided everything
    that can refuse it (nothing written); a job of its key already queued, running or done in this process is that
    job (a replay; another principal's or another body's key: 422). Returns the job and whether it was an earlier
    one."""
    kind: str = command.kind  # type: ignore[attr-defined]
    digest = bulk_digest(ledger, command, actor)
    key = command.command_id
    current = pool.find(key)
    if current is not None:
        if current.principal != actor.name or current.digest != digest:
            raise IdempotencyConflict("Idempotency-Key", "already used for another request; use a new key")
        if current.active or current.state == "succeeded":
            return pool.snapshot(current), True
    admission = bulk_admission(ledger, command, actor, digest, check)
    now = ledger.clock.now()
    if admission.prior is not None:
        done = pool.record(Job(key, kind, actor.name, digest, now, now, state="succeeded", result=admission.prior,
                               members_done=admission.members_done, members_total=admission.members_total,
                               file=file, warnings=list(warnings)))
        return pool.snapshot(done), True
    job = Job(key, kind, actor.name, digest, now, now, members_done=admission.members_done,
              members_total=admission.members_total, file=file, warnings=list(warnings))
    job, replay = pool.submit(ledger, job, lambda: execute(ledger, command, actor))
    return pool.snapshot(job), replay
