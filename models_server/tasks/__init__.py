"""What the server runs: each task's contract, declared once, and its implementations, grouped
by the library they run on.

`contracts.py` declares every task: its name, the request fields it reads and its knobs. An
implementation (`transformers/`, `diffusers/`, `tensorflow/`, `speechbrain.py`, `espnet.py`,
`asteroid.py`, `controlnet_aux.py`, `scikit_learn.py`) holds, for its models: the loaders that
build a model object from local weight folders, the handlers `handler(model, inputs, params) ->
result`, and a `Task(contract, handler)` per task it serves. Handlers know nothing of Flask, of
files or of globals: they return JSON-able data, in which images, audio and video may stand as
`PIL.Image.Image`, `media.Audio` or `media.Video`; the app writes those under `public/`.

Beside them: `loading.py` the loader contract, `pickled.py` and `pickled_estimators.py` the
start-time reading of pickled estimators, `generic.py` each task's loaders for a model the
catalog does not list, `libraries.py` how each library is imported, `work_size.py` and
`audio_outputs.py` what several implementations share.

Heavy libraries (torch, transformers, diffusers, controlnet_aux) are imported inside the
loaders and handlers, so that importing the catalog stays cheap and the port opens at once.
"""
