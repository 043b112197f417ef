"""`models-server serve --engine ray`: the same catalog and HTTP contract on Ray Serve.

Nothing here is imported by the single-process server. `grouping` (which models share a
process) and `worker`/`cluster` (the replica's and the ingress's halves, plain Python) import
no Ray; only `deployments` and `engine` do.
"""
