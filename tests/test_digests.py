"""Supplied inputs by their content: a file's sha256 computed once per version of it."""

import hashlib
import os

from symmflow.digests import file_digest, folder_digest


def test_a_digest_is_kept_beside_the_file_and_redone_when_the_file_changes(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 1000)
    assert file_digest(weights) == hashlib.sha256(b"a" * 1000).hexdigest()
    record = tmp_path / ".model.safetensors.sha256"
    assert record.is_file()
    record.write_text(record.read_text().replace(hashlib.sha256(b"a" * 1000).hexdigest(), "kept"))
    assert file_digest(weights) == "kept"  # the record is read, the file is not
    weights.write_bytes(b"b" * 1000)  # same size, other bytes, a new modification time
    os.utime(weights, ns=(1, 1))
    assert file_digest(weights) == hashlib.sha256(b"b" * 1000).hexdigest()


def test_an_unwritable_folder_keeps_its_digests_in_the_user_cache(tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "w.bin").write_bytes(b"x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder.chmod(0o555)
    try:
        if os.access(folder / "probe", os.W_OK) or os.geteuid() == 0:  # root writes anywhere: force the fallback
            monkeypatch.setattr("symmflow.digests._records",
                                lambda path: [tmp_path / "cache" / "symmflow" / "digests" / f"{path.name}.json"])
        first = folder_digest(folder)
        assert list((tmp_path / "cache" / "symmflow" / "digests").iterdir())
        assert folder_digest(folder) == first and not (folder / ".w.bin.sha256").exists()
    finally:
        folder.chmod(0o755)


def test_two_folders_of_one_config_and_size_but_other_weights_differ(tmp_path):
    for name, byte in (("a", b"1"), ("b", b"2")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text('{"latent_channels": 4}')
        (tmp_path / name / "diffusion_pytorch_model.safetensors").write_bytes(byte * 64)
    assert folder_digest(tmp_path / "a") != folder_digest(tmp_path / "b")
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "a")
