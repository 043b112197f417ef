"""The request pipeline: from a request's bytes to an answer's bytes, with no web framework."""
