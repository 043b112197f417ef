"""The ways a request can speak on `POST /models/<id>`, each a decode/encode pair.

- The Hugging Face Inference API (`inference_api`): `{"inputs": ..., "parameters": ...}` or a
  raw file in, that API's answer shapes out, files inline.
- The controller's JSON protocol (`controller`): `{"img_url": ..., "text": ...}` in, JSON out
  with media as paths of files under public/.

The pipeline asks them in this order: the controller's bodies never carry `inputs` and never
come as raw bytes. OpenAI's API (`openai`) has routes of its own: a request names its protocol
(`RawRequest.protocol`), one of `NAMED_PROTOCOLS`, and only that one decodes it.
"""

from __future__ import annotations

from models_server.protocols.base import RequestProtocol
from models_server.protocols.controller import ControllerProtocol
from models_server.protocols.inference_api import InferenceApiProtocol
from models_server.protocols.openai import OPENAI_PROTOCOLS

PROTOCOLS: tuple[RequestProtocol, ...] = (InferenceApiProtocol(), ControllerProtocol())
NAMED_PROTOCOLS: dict[str, RequestProtocol] = dict(OPENAI_PROTOCOLS)
