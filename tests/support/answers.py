"""Reading the controller-protocol answers of image models in tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def post(client, model_id: str, body: dict):
    """The JSON answer to `body`, which must be a 200."""
    response = client.post(f"/models/{model_id}", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def written(public_dir: Path, path: str) -> Image.Image:
    """The PNG an answer's `path` names under public/."""
    assert path.startswith("/images/") and path.endswith(".png")
    return Image.open(public_dir / path.lstrip("/"))
