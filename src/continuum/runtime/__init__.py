"""The replay runtime: one attempt of one run, from journal to outcome.

`context` holds the attempt's journal cursor and its way out (halts);
`primitives` and `continuum.activity` are what workflow code calls; `attempt`
drives a claimed run from its journal to completion, suspension or failure.
"""
