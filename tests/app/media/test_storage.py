"""Stored files are encrypted (a data key per file under a master key), private on disk, and
a damaged, swapped or foreign file is refused with a clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app import media
from app.config import Settings, new_media_key
from app.media import inventory, storage

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"a face, pixel by pixel " * 40
RELATIVE = "faces/p1/f1.jpg"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_stored_file_is_encrypted_and_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # development: no key configured
    path = media.store(settings=settings, relative=RELATIVE, data=JPEG)

    on_disk = path.read_bytes()
    assert not on_disk.startswith(b"\xff\xd8") and b"JFIF" not in on_disk
    assert b"a face, pixel by pixel" not in on_disk
    assert on_disk.startswith(storage.MAGIC)
    assert media.read(settings=settings, relative=RELATIVE) == JPEG
    # The same bytes stored twice give different files (fresh data key and nonce).
    other = media.store(settings=settings, relative="faces/p1/f2.jpg", data=JPEG)
    assert other.read_bytes()[storage.HEADER.size :] != on_disk[storage.HEADER.size :]

    assert _mode(path) == 0o600
    media_dir = settings.resolved_media_dir
    for folder in (media_dir, media_dir / "faces", media_dir / "faces" / "p1"):
        assert _mode(folder) == 0o700, folder
    assert not list(media_dir.rglob("*.part"))


def test_development_generates_the_master_key_once_into_the_data_folder(tmp_path: Path) -> None:
    media.store(settings=Settings(data_dir=tmp_path), relative=RELATIVE, data=JPEG)
    key_file = tmp_path / "media_master_key"
    assert _mode(key_file) == 0o600
    # Another process with the same data folder reads the file with the same key.
    assert media.read(settings=Settings(data_dir=tmp_path), relative=RELATIVE) == JPEG
    assert Settings(data_dir=tmp_path).media_keys == Settings(data_dir=tmp_path).media_keys


def test_a_loose_existing_folder_is_made_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    folder = settings.resolved_media_dir / "faces"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    media.store(settings=settings, relative=RELATIVE, data=JPEG)
    assert _mode(folder) == 0o700


def _flip(path: Path, offset: int) -> None:
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0x01
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize(
    "offset",
    [
        -1,  # the last byte of the authentication tag
        storage.HEADER.size + 3,  # the ciphertext
        storage.HEADER.size - 1,  # the data nonce
        4 + 1 + 8 + 12 + 5,  # the wrapped data key
    ],
)
def test_a_tampered_file_is_refused_with_a_clear_error(tmp_path: Path, offset: int) -> None:
    settings = Settings(data_dir=tmp_path)
    path = media.store(settings=settings, relative=RELATIVE, data=JPEG)
    _flip(path, offset)
    with pytest.raises(media.MediaUnreadable, match="integrity check"):
        media.read(settings=settings, relative=RELATIVE)


def test_a_file_copied_over_another_ones_name_does_not_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    mine = media.store(settings=settings, relative="faces/p1/mine.jpg", data=JPEG)
    theirs = media.store(settings=settings, relative="faces/p2/theirs.jpg", data=b"other")
    theirs.write_bytes(mine.read_bytes())
    with pytest.raises(media.MediaUnreadable):
        media.read(settings=settings, relative="faces/p2/theirs.jpg")


def test_truncated_plaintext_foreign_missing_and_deleted_files(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    path = media.store(settings=settings, relative=RELATIVE, data=JPEG)
    blob = path.read_bytes()

    path.write_bytes(blob[:20])  # cut inside the header
    with pytest.raises(media.MediaUnreadable, match="integrity check"):
        media.read(settings=settings, relative=RELATIVE)
    path.write_bytes(blob[: storage.HEADER.size + 5])  # cut inside the ciphertext
    with pytest.raises(media.MediaUnreadable, match="integrity check"):
        media.read(settings=settings, relative=RELATIVE)
    path.write_bytes(JPEG)  # a plaintext file put in its place
    with pytest.raises(media.MediaUnreadable, match="rotate-keys"):
        media.read(settings=settings, relative=RELATIVE)

    path.write_bytes(blob)
    stranger = Settings(data_dir=tmp_path / "elsewhere", media_master_key=new_media_key())
    stranger_ring = storage.keyring(stranger)
    with pytest.raises(media.MediaUnreadable, match="master key [0-9a-f]{16}"):
        storage.decrypt(settings=stranger, relative=RELATIVE, blob=blob)
    assert stranger_ring.current.id != storage.keyring(settings).current.id

    path.unlink()
    with pytest.raises(media.MediaMissing):
        media.read(settings=settings, relative=RELATIVE)
    with pytest.raises(media.MediaDeleted):
        media.read(settings=settings, relative="")
    for escape in ("../secret_key", "/etc/passwd"):
        with pytest.raises(ValueError, match="not a path inside"):
            media.read(settings=settings, relative=escape)


def test_rotation_rewraps_keys_and_files_stay_readable(tmp_path: Path) -> None:
    old, new = new_media_key(), new_media_key()
    before = Settings(data_dir=tmp_path, media_master_key=old)
    paths = [f"attempts/p1/a1/{name}" for name in ("selfie", "video", "frame_0.jpg")]
    for index, relative in enumerate(paths):
        media.store(settings=before, relative=relative, data=JPEG + bytes([index]))
    ciphertexts = [
        (before.resolved_media_dir / p).read_bytes()[storage.HEADER.size :] for p in paths
    ]
    # A file stored before encryption existed, readable by everyone.
    legacy = before.resolved_media_dir / "consular/p1/d1.pdf"
    legacy.parent.mkdir(parents=True, mode=0o755)
    legacy.parent.chmod(0o755)
    legacy.write_bytes(b"%PDF-1.4 a scan")
    legacy.chmod(0o644)

    rotating = Settings(data_dir=tmp_path, media_master_key=new, media_old_master_keys=[old])
    report = inventory.rotate_keys(settings=rotating)
    assert report.rewrapped == 3 and report.encrypted == 1 and report.failed == []
    assert report.key_id == storage.keyring(rotating).current.id_hex
    assert report.permissions_fixed >= 2  # the legacy file and its folder

    after = Settings(data_dir=tmp_path, media_master_key=new)  # the old key is gone
    for index, relative in enumerate(paths):
        blob = (after.resolved_media_dir / relative).read_bytes()
        header = storage.parse_header(blob)
        assert header is not None and header.key_id == storage.keyring(after).current.id
        assert blob[storage.HEADER.size :] == ciphertexts[index]  # only the key was re-wrapped
        assert media.read(settings=after, relative=relative) == JPEG + bytes([index])
    assert media.read(settings=after, relative="consular/p1/d1.pdf") == b"%PDF-1.4 a scan"
    assert _mode(legacy) == 0o600 and _mode(legacy.parent) == 0o700
    with pytest.raises(media.MediaUnreadable, match="not given"):
        media.read(settings=Settings(data_dir=tmp_path, media_master_key=old), relative=paths[0])

    again = inventory.rotate_keys(settings=after)
    assert (again.rewrapped, again.encrypted, again.current) == (0, 0, 4)


def test_rotation_reports_a_file_under_a_key_it_is_not_given_or_cut_short(
    tmp_path: Path,
) -> None:
    lost = Settings(data_dir=tmp_path, media_master_key=new_media_key())
    media.store(settings=lost, relative=RELATIVE, data=JPEG)
    cut = media.store(settings=lost, relative="faces/p1/cut.jpg", data=JPEG)
    cut.write_bytes(cut.read_bytes()[:30])
    report = inventory.rotate_keys(
        settings=Settings(data_dir=tmp_path, media_master_key=new_media_key())
    )
    assert sorted(report.failed) == ["faces/p1/cut.jpg", RELATIVE]
    assert report.rewrapped == report.encrypted == 0
    assert len(cut.read_bytes()) == 30  # left as found, not encrypted as if it were plaintext
