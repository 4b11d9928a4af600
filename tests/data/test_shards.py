import hashlib
import io
import json
import shutil
import tarfile

import numpy as np
import pytest
import webdataset
from PIL import Image

from florenz.data.shards import (
    ShardSample,
    check_shards,
    list_shards,
    read_shard,
    shard_bytes,
    write_shard,
)
from florenz.errors import FlorenzError


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_samples(count=3):
    return [ShardSample(f"{i:06d}", png_bytes(10 * i), [
        {"task": "caption", "lang": "zh", "detail": "short", "target": f"图为{i}个圆形。"},
        {"task": "translation", "lang": "ru", "detail": "short", "target": "Круг.", "source": "A circle."},
    ]) for i in range(count)]


def test_shard_round_trips_keys_images_and_annotations(tmp_path):
    samples = make_samples()
    write_shard(tmp_path / "000000.tar", samples)
    read = list(read_shard(tmp_path / "000000.tar"))
    assert [(s.key, s.image, s.annotations, s.image_extension) for s in read] == [
        (s.key, s.image, s.annotations, "png") for s in samples]


def test_decoded_images_are_rgb_with_the_stored_pixels(tmp_path):
    write_shard(tmp_path / "a.tar", make_samples(2))
    images = [s.image for s in read_shard(tmp_path / "a.tar", decode_images=True)]
    assert all(image.mode == "RGB" for image in images)
    np.testing.assert_array_equal(np.asarray(images[1]), np.full((8, 8, 3), 10, np.uint8))


def test_webdataset_reads_our_shards(tmp_path):
    samples = make_samples()
    write_shard(tmp_path / "000000.tar", samples)
    dataset = webdataset.WebDataset(str(tmp_path / "000000.tar"), shardshuffle=False)
    read = [(item["__key__"], item["png"], json.loads(item["json"])) for item in dataset]
    assert read == [(s.key, s.image, s.annotations) for s in samples]


def test_tar_members_have_fixed_metadata_and_bytes_are_reproducible(tmp_path):
    first = shard_bytes(make_samples())
    assert first == shard_bytes(make_samples())
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members[:2]] == ["000000.png", "000000.json"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
    write_shard(tmp_path / "x.tar", make_samples())
    assert hashlib.sha256((tmp_path / "x.tar").read_bytes()).digest() == hashlib.sha256(first).digest()
    assert not list(tmp_path.glob("*.tmp"))


def test_list_shards_is_sorted_and_ignores_temporaries(tmp_path):
    for name in ("000001.tar", "000000.tar", "000002.tar.tmp", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_shards(tmp_path)] == ["000000.tar", "000001.tar"]
    with pytest.raises(FlorenzError, match="does not exist"):
        list_shards(tmp_path / "missing")


def test_keys_with_dots_are_refused():
    with pytest.raises(ValueError, match="a.b"):
        shard_bytes([ShardSample("a.b", b"x", [{"task": "caption", "lang": "en", "target": "x"}])])


def raw_tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_corrupt_tar_error_names_the_shard(tmp_path):
    (tmp_path / "bad.tar").write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(FlorenzError, match="bad.tar"):
        list(read_shard(tmp_path / "bad.tar"))
    write_shard(tmp_path / "cut.tar", make_samples())
    (tmp_path / "cut.tar").write_bytes((tmp_path / "cut.tar").read_bytes()[:700])  # inside the first image
    with pytest.raises(FlorenzError, match="cut.tar"):
        list(read_shard(tmp_path / "cut.tar"))


@pytest.mark.parametrize("members, message", [
    ([("k.png", png_bytes(0)), ("k.json", b"{not json")], "k: annotations are not valid"),
    ([("k.png", png_bytes(0)), ("k.json", b"\xff\xfe")], "k: annotations are not valid"),
    ([("k.png", png_bytes(0)), ("k.json", b"[]")], "non-empty JSON list"),
    ([("k.png", png_bytes(0)), ("k.json", b'[{"task": "caption"}]')], "lacks"),
    ([("k.png", png_bytes(0))], "needs an image"),
])
def test_broken_samples_raise_errors_naming_shard_and_key(tmp_path, members, message):
    raw_tar(tmp_path / "s.tar", members)
    with pytest.raises(FlorenzError, match=message) as error:
        list(read_shard(tmp_path / "s.tar"))
    assert "s.tar" in str(error.value)


def test_undecodable_image_is_reported_only_when_decoding(tmp_path):
    raw_tar(tmp_path / "s.tar", [("k.png", b"not a png"),
                                 ("k.json", b'[{"task": "caption", "lang": "en", "target": "x"}]')])
    assert list(read_shard(tmp_path / "s.tar"))[0].image == b"not a png"
    with pytest.raises(FlorenzError, match=r"s\.tar, sample k: the image cannot be decoded"):
        list(read_shard(tmp_path / "s.tar", decode_images=True))


def test_missing_shard_error_names_the_path(tmp_path):
    with pytest.raises(FlorenzError, match="nope.tar does not exist"):
        list(read_shard(tmp_path / "nope.tar"))


def test_we_read_shards_written_by_webdataset(tmp_path):
    samples = make_samples()
    with webdataset.TarWriter(str(tmp_path / "wds.tar")) as sink:
        for sample in samples:
            sink.write({"__key__": sample.key, "jpg": sample.image,
                        "json": json.dumps(sample.annotations).encode()})
    read = list(read_shard(tmp_path / "wds.tar"))
    assert [(s.key, s.image, s.annotations, s.image_extension) for s in read] == [
        (s.key, s.image, s.annotations, "jpg") for s in samples]


@pytest.fixture
def world_copy(tiny_world, tmp_path):
    copy = tmp_path / "world"
    shutil.copytree(tiny_world / "train", copy / "train")
    shutil.copy(tiny_world / "manifest.json", copy / "manifest.json")
    return copy


def _rewrite(shard, change):
    samples = list(read_shard(shard))
    write_shard(shard, change(samples))


def test_shards_matching_their_manifest_pass(world_copy):
    note = check_shards(world_copy, "train", list_shards(world_copy / "train"), verify_sha256=True)
    assert note.startswith("3 shards match") and "sha256" in note


def test_missing_and_cut_shards_are_named_with_their_sample_counts(world_copy):
    (world_copy / "train" / "000002.tar").unlink()
    _rewrite(world_copy / "train" / "000001.tar", lambda samples: samples[:27])  # cut at a member boundary
    with pytest.raises(FlorenzError, match=r"missing shard\(s\) train/000002.tar; train/000001.tar holds 27 "
                                           r"of its 32 samples"):
        check_shards(world_copy, "train", list_shards(world_copy / "train"), verify_sha256=False)


def test_changed_shard_bytes_are_found_only_with_the_full_check(world_copy):
    def edit(samples):
        samples[0].annotations[0]["target"] += " edited"
        return samples

    _rewrite(world_copy / "train" / "000000.tar", edit)
    shards = list_shards(world_copy / "train")
    assert check_shards(world_copy, "train", shards, verify_sha256=False).startswith("3 shards match")
    with pytest.raises(FlorenzError, match="sha256 differs from the manifest for train/000000.tar"):
        check_shards(world_copy, "train", shards, verify_sha256=True)


def test_real_data_without_a_manifest_is_used_with_a_note(world_copy):
    (world_copy / "manifest.json").unlink()
    note = check_shards(world_copy, "train", list_shards(world_copy / "train"), verify_sha256=True)
    assert "no manifest.json" in note and "3 shards" in note
