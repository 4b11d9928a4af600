import pytest

from florenz.files import write_directory_atomically


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
