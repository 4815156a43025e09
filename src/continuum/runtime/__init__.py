"""The replay runtime: one attempt of one run, from journal to outcome.

- `context`: the attempt's journal cursor, its buffered writes and its ways out
  (halts: suspend, nondeterminism, interruption);
- `primitives` and `activity`: what workflow code calls;
- `attempt`: drives a claimed run from its journal to completion, suspension
  or failure, ending in exactly one fenced write;
- `lease_guard`: whether the attempt may still act, by this node's own clock.

The runtime executes attempts it is handed; claiming runs, keeping leases
alive and choosing which attempt runs where is the dispatcher's job
(`continuum.dispatcher`).
"""
