"""Run a stage of independent tasks in parallel: worker processes here, or SLURM jobs through submitit.

A task is a picklable call ("module:function" and its config) plus a relative cost. Tasks start longest first
(the stage ends when its longest task does), each in a fresh process with its own torch thread count, its
output in a log file of its own (parallel progress bars would garble the terminal). The study's own bar counts
tasks done and estimates the time left from their costs. Every task is idempotent — a finished run, a cached
starting point or an evaluated checkpoint is skipped by the task itself — so a killed stage is simply rerun.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from florenz.allocator import keep_freed_memory
from florenz.errors import FlorenzError


@dataclass(frozen=True)
class Task:
    name: str  # what the progress display and errors call it, e.g. "train world-xs B"
    target: str  # "module:function", called with `config`
    config: Any  # a config dataclass (picklable)
    cost: float  # relative cost (e.g. samples x FLOPs): orders the tasks and weights the ETA
    log: str  # file that receives the task's stdout and stderr


def run_task(target: str, config: Any, threads: int, log: str, own_process: bool) -> tuple[Any, float]:
    """Run one task with `threads` torch threads, its output appended to `log`; (its result, its wall-clock
    seconds). In a process of its own (`own_process`) the file descriptors are redirected too, so that
    C-level output (torch warnings) and subprocesses cannot write over the study's progress bar."""
    started = time.monotonic()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    keep_freed_memory()  # as a `florenz` verb does: a worker runs what the verb would
    import torch

    torch.set_num_threads(threads)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    module, name = target.split(":")
    with open(log, "a", encoding="utf-8", buffering=1) as handle:
        stdout, stderr = sys.stdout, sys.stderr
        saved_fds = [os.dup(1), os.dup(2)] if own_process else []
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in (1, 2) if own_process else ():
            os.dup2(handle.fileno(), fd)
        sys.stdout = sys.stderr = handle
        try:
            return getattr(importlib.import_module(module), name)(config), time.monotonic() - started
        except Exception:
            traceback.print_exc(file=handle)  # the log keeps the whole story; the study names the log
            raise
        finally:
            sys.stdout, sys.stderr = stdout, stderr
            for fd, saved in zip((1, 2), saved_fds):
                os.dup2(saved, fd)
                os.close(saved)


def _exit_with_parent() -> None:
    """Worker initializer: end this worker when the study process dies, even by SIGKILL (a pool's workers
    outlive it otherwise), so that no orphan keeps training and holding a run's lock against the restart."""
    parent = multiprocessing.parent_process()

    def watch() -> None:
        parent.join()  # returns once the parent's end of the spawn pipe closes, i.e. the parent is gone
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def cpu_seconds() -> float:
    """CPU seconds of this process and of all its children: finished ones (os.times) and, on Linux, the
    ones still running (/proc), so that a stage's running tasks are booked before they end, and a study
    killed in the middle of an hour-long task still counts that hour."""
    live = multiprocessing.active_children()  # first: it reaps the finished ones, whose time os.times holds
    ticks, running = os.sysconf("SC_CLK_TCK"), 0
    for child in live:
        try:  # utime, stime, cutime, cstime: fields 14-17, after the parenthesised command name
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            running += sum(int(field) for field in fields[11:15])
        except (OSError, IndexError, ValueError):  # no /proc (not Linux), or the child has just gone
            continue
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system + running / ticks


@dataclass
class Launcher:
    """Where tasks run: 'local' worker processes, or 'slurm' jobs through submitit's executor `cluster`
    ('slurm' in use; tests run the same path on submitit's 'local' (subprocesses) or 'debug' (in-process))."""

    kind: str = "local"
    workers: int = 2
    threads: int = 1
    folder: str = "runs/study/slurm"
    slurm: dict[str, Any] | None = None
    cluster: str = "slurm"

    def __post_init__(self) -> None:
        """Local workers share this machine's cores: never more torch threads in all than the cores this
        process may use (oversubscribed, OpenMP threads spin-wait on each other: tiny models 5-10x slower)."""
        cores = len(os.sched_getaffinity(0))
        if self.kind == "local" and self.workers * self.threads > cores:
            fitting = max(1, cores // self.threads)
            print(f"study: {self.workers} workers x {self.threads} thread(s) would oversubscribe the {cores} "
                  f"core(s) this process may use; running {fitting} worker(s) at a time", flush=True)
            self.workers = fitting

    @property
    def own_process(self) -> bool:
        """Whether each task runs in a process of its own (all but submitit's in-process 'debug' executor)."""
        return self.kind == "local" or self.cluster != "debug"

    def executor(self) -> concurrent.futures.Executor:
        if self.kind == "local":
            # spawn: a fresh interpreter per task, so no torch state or thread pool leaks between runs
            return concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=1,
                initializer=_exit_with_parent,
            )
        if self.kind != "slurm":
            raise FlorenzError(f"launcher {self.kind!r} is not known; use 'local' or 'slurm'")
        try:
            import submitit
        except ImportError:
            raise FlorenzError("--launcher slurm needs submitit: pip install submitit==1.5.4") from None
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise FlorenzError(
                "--launcher slurm: no sbatch on PATH, so this machine cannot submit SLURM jobs; start the "
                "study on a SLURM login node, or run it here with --launcher local"
            )
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**(self.slurm or {}))
        return _SubmititPool(executor)


class _SubmititPool(concurrent.futures.Executor):
    """submitit's jobs behind the concurrent.futures interface the stage loop uses."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor

    def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001 — the Executor signature
        job = self._executor.submit(fn, *args, **kwargs)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def wait() -> None:
            try:
                future.set_result(job.result())
            except Exception as error:  # noqa: BLE001 — handed to the stage loop, which names the task
                future.set_exception(_job_error(error))

        threading.Thread(target=wait, daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def _job_error(error: Exception) -> Exception:
    """A failed submitit job's error as the task's own last traceback line, less the type of a Florenz error
    (whose message says it all): submitit wraps it in a FailedJobError whose message is the whole traceback
    between two rules of dashes."""
    parts = str(error).split("----------------------\n")
    lines = [line for line in parts[1].splitlines() if line.strip()] if len(parts) > 2 else []
    if not lines:
        return error
    return FlorenzError(lines[-1].split(": ", 1)[-1] if lines[-1].startswith("florenz.") else lines[-1])


def _summary(error: BaseException) -> str:
    message = str(error).splitlines()[0] if str(error) else ""
    return message if isinstance(error, FlorenzError) else f"{type(error).__name__}: {message}".rstrip(": ")


# a task that ends sooner found its work already done (a resumed study): it says nothing of the stage's pace
DONE_BEFORE_S = 20.0


def eta_seconds(finished: list[tuple[float, float]], remaining_cost: float, parallel: int,
                done_before_s: float = DONE_BEFORE_S) -> float | None:
    """Seconds left in a stage: the remaining cost at the pace (seconds per unit of cost) of the finished
    tasks that did their work here, given as (cost, seconds), run `parallel` at a time;
    None before one has."""
    if remaining_cost <= 0:
        return 0.0
    worked = [(cost, seconds) for cost, seconds in finished if seconds >= done_before_s]
    if not worked:
        return None
    pace = sum(seconds for _, seconds in worked) / max(sum(cost for cost, _ in worked), 1e-12)
    return remaining_cost * pace / max(parallel, 1)


def run_stage(stage: str, tasks: list[Task], launcher: Launcher, tick: Callable[[str], None] | None = None,
              tick_s: float = 30.0) -> list[Any]:
    """Run `tasks` (longest first) and return their results in the given order; FlorenzError naming every
    failed task and its log once all have ended (the others' work is kept). `tick(stage)` is called after
    each task, at least every `tick_s` seconds while tasks run, and once the stage has ended (the study books
    its time with it, so a killed study loses at most that much of the stage's time)."""
    from tqdm import tqdm

    if not tasks:
        if tick is not None:
            tick(stage)
        return []
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].cost)
    total_cost = sum(task.cost for task in tasks) or 1.0
    results: list[Any] = [None] * len(tasks)
    failures = []
    with (
        launcher.executor() as pool,
        # the ETA is the study's own, from the tasks' costs: tqdm's (time per task) would count a tiny
        # eval-loss task like a long training run
        tqdm(
            total=len(tasks),
            desc=stage,
            unit="task",
            dynamic_ncols=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} tasks done |{bar}| {elapsed}{postfix}",
        ) as bar,
    ):
        threads, own_process = launcher.threads, launcher.own_process
        futures = {
            pool.submit(run_task, tasks[i].target, tasks[i].config, threads, tasks[i].log, own_process): i
            for i in order
        }
        done_cost, pending, paces = 0.0, set(futures), []
        # local workers run `workers` tasks at a time; SLURM runs every submitted job at once
        parallel = launcher.workers if launcher.kind == "local" else len(tasks)
        while pending:
            finished, pending = concurrent.futures.wait(
                pending, timeout=tick_s, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                index = futures[future]
                task = tasks[index]
                try:
                    results[index], seconds = future.result()
                    paces.append((task.cost, seconds))
                except Exception as error:  # noqa: BLE001 — every task's failure is collected and reported
                    failures.append(f"{task.name}: {_summary(error)} (log: {task.log})")
                done_cost += task.cost
                eta = eta_seconds(paces, total_cost - done_cost, min(parallel, max(len(pending), 1)))
                left = "ETA after the first task that runs here" if eta is None else f"ETA {eta / 60:.1f} min"
                bar.set_postfix_str(f"{left}, last: {task.name}", refresh=False)
                bar.update(1)
            bar.refresh()  # the elapsed time moves on between tasks too
            if tick is not None:
                tick(stage)
    if tick is not None:  # the pool's shutdown is the stage's time too
        tick(stage)
    if failures:
        raise FlorenzError(
            f"{len(failures)} of {len(tasks)} {stage} task(s) failed; what finished is kept, and "
            f"rerunning the study resumes:\n  " + "\n  ".join(failures)
        )
    return results
