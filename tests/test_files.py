import json
import os
import socket
import subprocess
import sys

import pytest

from florenz.errors import FlorenzError
from florenz.files import lock_path, owned_directory, write_directory_atomically


def test_a_failed_write_leaves_the_previous_checkpoint_untouched(tmp_path):
    target = tmp_path / "step-00000001"
    write_directory_atomically(target, lambda d: (d / "a.txt").write_text("old"))

    def crash(directory):
        (directory / "a.txt").write_text("new, half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_directory_atomically(target, crash)
    assert (target / "a.txt").read_text() == "old"
    write_directory_atomically(target, lambda d: (d / "a.txt").write_text("new"))
    assert (target / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001"]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_directory_owned_by_a_live_process_is_refused_with_its_owner(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom florenz.files import owned_directory\n"
         "with owned_directory(sys.argv[1], 'train'):\n    print('held', flush=True)\n    time.sleep(60)",
         str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FlorenzError, match=rf"in use by `florenz train` \(pid {holder.pid} on "
                                                rf"{socket.gethostname()}"):
            with owned_directory(out, "train"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with owned_directory(out, "train"):  # the kernel dropped the killed holder's lock
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    assert not lock_path(out).exists()


def test_a_second_owner_in_the_same_process_is_refused_too(tmp_path):
    with owned_directory(tmp_path / "run", "world build"):
        with pytest.raises(FlorenzError, match="in use by `florenz world build`"):
            with owned_directory(tmp_path / "run", "pretrain vision"):
                pass


def test_a_stale_lock_of_a_dead_process_is_named_and_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    pid = _dead_pid()
    lock_path(out).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "verb": "train",
                                          "started": 0}))
    with owned_directory(out, "train"):
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    assert f"taking over {out} from `florenz train` (pid {pid}" in capsys.readouterr().err
    assert not lock_path(out).exists() and out.is_dir()


def test_owning_a_path_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(FlorenzError, match="is a file, not a directory"):
        with owned_directory(tmp_path / "run", "train"):
            pass
