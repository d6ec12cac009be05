"""Miniature reproductions of the papers' tables on the synthetic world (``avcourse reproduce``)."""
