"""The study's stage runner: order, results, failures, output isolation and orphans, on local worker processes
and through submitit's own executors (the `--launcher slurm` code path)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from florenz.errors import FlorenzError
from florenz.study.config import StudyConfig
from florenz.study.runner import Launcher, Task, cpu_seconds, eta_seconds, run_stage

# Task targets must be importable by name in a fresh worker process, so they live in a module written to a
# directory on PYTHONPATH (the test modules themselves are imported by pytest's importlib mode, off sys.path).
TASKS_MODULE = textwrap.dedent(
    """
    import os
    import sys
    import time

    import torch

    from florenz.errors import FlorenzError


    def record(config):
        time.sleep(config.get("sleep", 0))
        with open(config["order"], "a") as handle:
            handle.write(f"{config['name']} {torch.get_num_threads()} {os.getpid()}\\n")
        return {"name": config["name"], "threads": torch.get_num_threads(), "pid": os.getpid()}


    def fail(config):
        time.sleep(config.get("sleep", 0))
        raise config.get("type", FlorenzError)(config["message"])


    def noisy(config):
        print("PY-STDOUT", flush=True)
        print("PY-STDERR", file=sys.stderr, flush=True)
        os.write(1, b"FD-STDOUT\\n")  # what C code (torch warnings) and subprocesses write
        os.write(2, b"FD-STDERR\\n")
        return "quiet"


    def burn_then_wait(seconds, done):
        started = time.process_time()
        while time.process_time() - started < seconds:
            pass
        done.wait()


    def hang(config):
        with open(config["pid_file"], "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(120)
    """
)


@pytest.fixture
def tasks_module(tmp_path, monkeypatch):
    """The task module `study_tasks` on the path of this process, its spawned workers and submitit's jobs."""
    directory = tmp_path / "module"
    directory.mkdir()
    (directory / "study_tasks.py").write_text(TASKS_MODULE)
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")]))
    return directory


def task(tmp_path: Path, name: str, function: str, cost: float, **config) -> Task:
    log = str(tmp_path / f"{name}.log")
    return Task(name, f"study_tasks:{function}", {"name": name, **config}, cost, log)


def test_tasks_run_longest_first_with_their_threads_and_results_come_back_in_order(tmp_path, tasks_module):
    order = str(tmp_path / "order.txt")
    costs = {"a": 1, "b": 3, "c": 2}
    tasks = [task(tmp_path, name, "record", cost, order=order) for name, cost in costs.items()]
    results = run_stage("stage", tasks, Launcher("local", workers=1, threads=3))
    assert Path(order).read_text().split()[::3] == ["b", "c", "a"]  # one worker: it takes them by cost
    assert [result["name"] for result in results] == ["a", "b", "c"]
    assert {result["threads"] for result in results} == {3}  # not the 2 of a 2-core machine's default
    assert len({result["pid"] for result in results}) == 3  # a fresh process per task
    assert run_stage("empty", [], Launcher("local")) == []


def test_the_tick_books_time_while_a_task_runs_not_only_when_it_ends(tmp_path, tasks_module):
    """A study killed in the middle of an hour-long training run must not lose the stage's hour."""
    ticks: list[tuple[float, bool, str]] = []
    done = tmp_path / "order.txt"
    started = time.monotonic()
    run_stage("train", [task(tmp_path, "long", "record", 1, order=str(done), sleep=2.0)], Launcher("local"),
              tick=lambda stage: ticks.append((time.monotonic() - started, done.exists(), stage)),
              tick_s=0.25)
    assert {stage for _, _, stage in ticks} == {"train"}
    running = [at for at, finished, _ in ticks if not finished]
    assert len(running) >= 3, ticks  # a worker's start-up is ~1 s; the task sleeps 2 s more
    assert max(b - a for a, b in zip(running, running[1:])) < 1.0, ticks
    assert ticks[-1][1], "the last tick comes after the task ended"


def test_cpu_seconds_count_a_running_child_before_it_ends(tasks_module):
    """The study books CPU time of tasks still running (a kill would lose them otherwise)."""
    import multiprocessing

    import study_tasks

    context = multiprocessing.get_context("spawn")
    done = context.Event()
    child = context.Process(target=study_tasks.burn_then_wait, args=(1.5, done))
    before = cpu_seconds()
    child.start()
    try:
        deadline = time.monotonic() + 60
        while cpu_seconds() - before < 1.5:  # the child's spin, seen while it runs
            assert child.is_alive() and time.monotonic() < deadline, "the running child's CPU was not seen"
            time.sleep(0.1)
        assert child.is_alive()
    finally:
        done.set()
        child.join()
    assert cpu_seconds() - before >= 1.5  # and still counted once it has been reaped


def test_the_eta_ignores_tasks_a_resumed_study_found_done():
    # two tasks of cost 10 found finished in 5 s each (resumed), one of cost 2 that worked 60 s: 30 s per unit
    finished = [(10.0, 5.0), (10.0, 5.0), (2.0, 60.0)]
    assert eta_seconds(finished, remaining_cost=4.0, parallel=2) == pytest.approx(4 * 30 / 2)
    assert eta_seconds(finished[:2], remaining_cost=4.0, parallel=2) is None  # no pace known yet
    assert eta_seconds(finished[:2], remaining_cost=0.0, parallel=2) == 0.0  # nothing left
    assert eta_seconds(finished, 4.0, 1, done_before_s=1.0) == pytest.approx(4 * 70 / 22)


def test_every_failure_is_named_with_its_log_after_the_others_finished(tmp_path, tasks_module):
    order = str(tmp_path / "order.txt")
    tasks = [
        task(tmp_path, "slow ok", "record", 3, order=order, sleep=2),
        task(tmp_path, "bad input", "fail", 2, message="the world in /x has no manifest; build it first"),
        task(tmp_path, "crash", "fail", 1, message="boom\nsecond line", type=ValueError),
    ]
    with pytest.raises(FlorenzError) as raised:
        run_stage("train", tasks, Launcher("local", workers=2))
    message = str(raised.value)
    assert "2 of 3 train task(s) failed" in message
    bad_log, crash_log = tmp_path / "bad input.log", tmp_path / "crash.log"
    assert f"bad input: the world in /x has no manifest; build it first (log: {bad_log})" in message
    assert f"crash: ValueError: boom (log: {crash_log})" in message
    assert "slow ok" not in message
    # the first failure did not stop the stage: the next task still ran, and so did the slow one to its end
    assert Path(order).read_text().startswith("slow ok ") and Path(order).read_text().count("\n") == 1
    assert "ValueError: boom" in (tmp_path / "crash.log").read_text()
    assert "Traceback" in (tmp_path / "bad input.log").read_text()


def test_worker_output_goes_to_its_log_and_the_terminal_shows_only_the_progress_bar(
    tmp_path, tasks_module, capfd
):
    assert run_stage("eval", [task(tmp_path, "noisy", "noisy", 1)], Launcher("local")) == ["quiet"]
    out, err = capfd.readouterr()
    for marker in ("PY-STDOUT", "PY-STDERR", "FD-STDOUT", "FD-STDERR"):
        assert marker not in out + err
        assert marker in (tmp_path / "noisy.log").read_text()
    assert "eval: 1/1 tasks done" in err and "ETA 0.0 min, last: noisy" in err


def test_killed_study_process_leaves_no_worker_behind(tmp_path, tasks_module):
    """A pool's workers outlive a SIGKILLed parent unless they watch it; an orphan would keep training and
    hold its run's lock against the restarted study."""
    pid_file = tmp_path / "worker.pid"
    script = (
        "from florenz.study.runner import Launcher, Task, cpu_seconds, eta_seconds, run_stage\n"
        f"run_stage('train', [Task('hang', 'study_tasks:hang', {{'pid_file': {str(pid_file)!r}}}, 1.0, "
        f"{str(tmp_path / 'hang.log')!r})], Launcher('local', workers=1))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (pid_file.is_file() and pid_file.read_text()):
        assert parent.poll() is None and time.monotonic() < deadline, "the worker never started"
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    assert _running(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(worker):
        os.kill(worker, signal.SIGKILL)  # the one process this test started, so that it does not linger
        pytest.fail(f"worker {worker} kept running after its study process was killed")


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an orphan is reaped by init, which a container may lack)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_submitit_local_executor_runs_the_slurm_code_path(tmp_path, tasks_module):
    """`--launcher slurm` goes through submitit; its 'local' executor runs each job as a subprocess the same
    way, with the study's SLURM parameters (the ones for SLURM only are ignored there)."""
    order = str(tmp_path / "order.txt")
    launcher = Launcher(
        "slurm",
        threads=2,
        folder=str(tmp_path / "slurm"),
        slurm={"timeout_min": 5, "cpus_per_task": 2, "slurm_partition": "gpu"},
        cluster="local",
    )
    tasks = [
        task(tmp_path, "ok", "record", 2, order=order),
        task(tmp_path, "bad", "fail", 1, message="checkpoint /r is corrupt; delete it and rerun"),
        task(tmp_path, "crash", "fail", 1, message="boom", type=ValueError),
    ]
    with pytest.raises(FlorenzError) as raised:
        run_stage("train", tasks, launcher)
    message, log = str(raised.value), tmp_path / "bad.log"
    assert "2 of 3 train task(s) failed" in message
    assert f"\n  bad: checkpoint /r is corrupt; delete it and rerun (log: {log})" in message
    assert f"\n  crash: ValueError: boom (log: {tmp_path / 'crash.log'})" in message
    name, threads, pid = Path(order).read_text().split()
    assert (name, threads) == ("ok", "2") and int(pid) != os.getpid()
    assert any((tmp_path / "slurm").iterdir())  # submitit's job files


def test_submitit_debug_executor_runs_tasks_in_process(tmp_path, tasks_module, capfd):
    order = str(tmp_path / "order.txt")
    launcher = Launcher("slurm", folder=str(tmp_path / "slurm"), cluster="debug")
    results = run_stage("eval", [task(tmp_path, "a", "record", 1, order=order)], launcher)
    assert results[0]["name"] == "a" and results[0]["pid"] == os.getpid()
    assert run_stage("eval", [task(tmp_path, "noisy", "noisy", 1)], launcher) == ["quiet"]
    assert "PY-STDOUT" in (tmp_path / "noisy.log").read_text()
    assert "PY-STDOUT" not in capfd.readouterr().out  # Python-level output still goes to the log


def test_slurm_launcher_on_a_machine_without_slurm_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    with pytest.raises(FlorenzError, match="no sbatch on PATH.*--launcher local"):
        Launcher("slurm", folder=str(tmp_path / "slurm")).executor()
    with pytest.raises(FlorenzError, match="launcher 'ssh' is not known"):
        Launcher("ssh").executor()


@pytest.mark.parametrize(("workers", "threads", "cores", "fitting"),
                         [(4, 1, 2, 2), (2, 2, 2, 1), (3, 2, 8, 3), (2, 3, 2, 1)])
def test_local_workers_are_capped_so_that_threads_never_exceed_the_cores(workers, threads, cores, fitting,
                                                                       monkeypatch, capsys):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert Launcher("local", workers=workers, threads=threads).workers == fitting
    said = capsys.readouterr().out
    assert (f"running {fitting} worker(s)" in said) == (fitting < workers)
    assert Launcher("slurm", workers=workers, threads=threads).workers == workers  # cores of other machines


def test_a_study_with_more_threads_per_worker_than_cores_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    with pytest.raises(ValueError, match=r"threads \(3\) exceed the 2 core\(s\).*--threads 2"):
        StudyConfig(threads=3)
    assert StudyConfig(threads=3, launcher="slurm").threads == 3
