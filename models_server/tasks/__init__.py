"""Task handlers, one module per family.

A task module holds, for its models: the `Task` (the request fields it reads and its handler),
the loaders that build a model object from local weight folders, and the handlers
`handler(model, inputs, params) -> result`. Handlers know nothing of Flask, of files or of
globals: they return JSON-able data, in which images, audio and video may stand as
`PIL.Image.Image`, `media.Audio` or `media.Video`; the app writes those under `public/`.

Heavy libraries (torch, transformers, diffusers, controlnet_aux) are imported inside the
loaders and handlers, so that importing the catalog stays cheap and the port opens at once.
"""
