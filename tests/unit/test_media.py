import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image
from support.messages import assert_plain

from models_server.config import Limits
from models_server.errors import BadInput
from models_server.media import Audio
from models_server.media.decode import decode_image
from models_server.media.encode import EncodedFile
from models_server.media.outputs import OutputStore, encode_result
from models_server.media.resources import ResourceReader


@pytest.fixture
def public(tmp_path: Path) -> Path:
    public = tmp_path / "public"
    (public / "images").mkdir(parents=True)
    (public / "images" / "x.png").write_bytes(b"png bytes")
    (tmp_path / "secret.txt").write_text("not for callers")
    return public


@pytest.fixture
def reader(public: Path) -> ResourceReader:
    return ResourceReader(public, Limits())


@pytest.mark.parametrize("ref", ["public/images/x.png", "public//images/x.png", "/images/x.png", "images/x.png"])
def test_controller_path_forms_all_name_the_same_file(reader, ref):
    assert reader.read(ref, "img_url") == b"png bytes"


@pytest.mark.parametrize("ref", ["public/../secret.txt", "/../secret.txt", "public/images/../../secret.txt"])
def test_paths_outside_public_are_refused(reader, ref):
    with pytest.raises(BadInput, match="outside the public folder"):
        reader.read(ref, "img_url")


def test_symlink_out_of_public_is_refused(reader, public, tmp_path):
    os.symlink(tmp_path / "secret.txt", public / "images" / "link.txt")
    with pytest.raises(BadInput, match="outside the public folder"):
        reader.read("public/images/link.txt", "img_url")


def test_a_symlinked_folder_out_of_public_is_refused(reader, public, tmp_path):
    os.symlink(tmp_path, public / "images" / "elsewhere")
    with pytest.raises(BadInput, match="outside the public folder"):
        reader.read("public/images/elsewhere/secret.txt", "img_url")


def test_a_symlink_loop_is_bad_input_not_a_crash(reader, public):
    os.symlink(public / "images" / "loop-b.png", public / "images" / "loop-a.png")
    os.symlink(public / "images" / "loop-a.png", public / "images" / "loop-b.png")
    with pytest.raises(BadInput, match="leads nowhere"):
        reader.read("public/images/loop-a.png", "img_url")


def test_missing_file_and_other_schemes_are_bad_input(reader):
    with pytest.raises(BadInput, match="no file"):
        reader.read("public/images/absent.png", "img_url")
    with pytest.raises(BadInput, match="only http"):
        reader.read("file:///etc/passwd", "img_url")
    with pytest.raises(BadInput, match="img_url"):
        reader.read("", "img_url")


def test_data_uri_base64_and_plain(reader):
    encoded = base64.b64encode(b"\x89PNG data").decode()
    assert reader.read(f"data:image/png;base64,{encoded}", "img_url") == b"\x89PNG data"
    assert reader.read("data:text/plain,hello%20world", "text") == b"hello world"


def _encoded(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = decode_image(_encoded(image, "JPEG", exif=exif), max_pixels=10_000)
    assert decoded.size == (20, 40)


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "LA", "I;16"])
def test_every_mode_becomes_rgb(mode):
    image = Image.new(mode, (8, 8))
    assert decode_image(_encoded(image, "PNG"), max_pixels=10_000).mode == "RGB"


def test_transparent_areas_become_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert decode_image(_encoded(image, "PNG"), max_pixels=100).getpixel((0, 0)) == (255, 255, 255)


def test_pixel_cap_is_checked_before_decoding():
    huge = _encoded(Image.new("L", (3000, 3000)), "PNG")
    with pytest.raises(BadInput, match="max_image_pixels"):
        decode_image(huge, max_pixels=1_000_000)


def test_garbage_is_bad_input():
    with pytest.raises(BadInput, match="cannot decode image"):
        decode_image(b"definitely not an image", max_pixels=100)


def _noise_jpeg() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return _encoded(Image.fromarray(pixels), "JPEG")


def _wav() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(1600, np.float32), 16000, format="WAV")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"definitely not an image", "not an image"),
        (_wav(), "not an image"),  # a real file of another kind
        (_encoded(Image.new("RGB", (64, 64)), "PNG")[:60], "PNG data is truncated or corrupt"),
        (_noise_jpeg()[:1000], "JPEG data is truncated or corrupt"),
        (_noise_jpeg()[:300], "truncated or corrupt"),
    ],
    ids=["empty", "garbage", "wav", "png-cut", "jpeg-half", "jpeg-header-cut"],
)
def test_undecodable_images_say_what_is_wrong_without_internals(data, says):
    with pytest.raises(BadInput) as raised:
        decode_image(data, max_pixels=10_000)
    assert raised.value.message.startswith("cannot decode image:") and says in raised.value.message
    assert_plain(raised.value.message)


@pytest.mark.parametrize(
    ("model_id", "field", "data"),
    [
        ("canny-control", "img_url", b"not an image at all"),
        ("canny-control", "img_url", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
        ("openai/whisper-base", "audio_url", b"not audio at all" * 8),
        ("openai/whisper-base", "audio_url", b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\xff" * 40),
    ],
    ids=["image-garbage", "png-signature-only", "audio-garbage", "wav-bad-header"],
)
def test_decode_errors_reach_the_client_as_plain_400s(client, model_id, field, data):
    ref = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    response = client.post(f"/models/{model_id}", json={field: ref})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message.startswith("cannot decode")
    assert_plain(message)


def test_outputs_get_distinct_new_files_and_paths(tmp_path):
    store = OutputStore(tmp_path / "public")
    first = store.publish(encode_result(Image.new("RGB", (4, 4), "blue")))
    second = store.publish(encode_result({"path": Image.new("RGB", (4, 4)), "segments": [{"label": "sky"}]}))
    assert first["path"].startswith("/images/") and first["path"].endswith(".png")
    assert second["segments"] == [{"label": "sky"}]
    assert first["path"] != second["path"]
    for path in (first["path"], second["path"]):
        assert Image.open(tmp_path / "public" / path.lstrip("/")).size == (4, 4)
    assert not list((tmp_path / "public" / "images").glob(".*.part"))


def test_audio_output_is_a_wav(tmp_path):
    import numpy as np
    import soundfile

    store = OutputStore(tmp_path)
    path = store.publish(encode_result(Audio(np.zeros(1600, dtype=np.float32), 16000)))["path"]
    assert path.startswith("/audios/") and path.endswith(".wav")
    assert soundfile.info(tmp_path / path.lstrip("/")).samplerate == 16000


def test_one_media_named_in_several_places_is_one_file(tmp_path):
    """A separator names its first speaker under `path` and in `sources`: one file, one path."""
    store = OutputStore(tmp_path)
    first, second = (Audio(np.full(1600, level, dtype=np.float32), 16000) for level in (0.1, 0.2))
    answer = store.publish(encode_result({"path": first, "sources": [first, second]}))
    assert answer["sources"][0] == answer["path"] != answer["sources"][1]
    assert len(list((tmp_path / "audios").iterdir())) == 2


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    store = OutputStore(tmp_path)

    def broken_link(source, target):
        raise OSError("disk on fire")

    monkeypatch.setattr("models_server.media.outputs.os.link", broken_link)
    with pytest.raises(OSError):
        store.write(EncodedFile("images", "png", b"half"))
    assert list((tmp_path / "images").iterdir()) == []


def test_leftover_temporary_files_are_removed_at_start_and_finished_files_kept(tmp_path):
    store = OutputStore(tmp_path)
    kept = store.write(EncodedFile("images", "png", b"done"))
    (tmp_path / "audios").mkdir()
    (tmp_path / "audios" / ".0123.wav.part").write_bytes(b"killed mid-write")
    assert store.remove_leftovers() == 1
    assert not list((tmp_path / "audios").iterdir())
    assert (tmp_path / kept.lstrip("/")).read_bytes() == b"done"


def test_existing_files_are_never_overwritten(tmp_path, monkeypatch):
    store = OutputStore(tmp_path)
    (tmp_path / "images").mkdir()
    taken = tmp_path / "images" / f"{'0' * 32}.png"
    taken.write_bytes(b"precious")

    class FixedUUID:
        hex = "0" * 32

    monkeypatch.setattr("models_server.media.outputs.uuid.uuid4", lambda: FixedUUID())
    with pytest.raises(FileExistsError):
        store.write(EncodedFile("images", "png", b"new"))
    assert taken.read_bytes() == b"precious"
