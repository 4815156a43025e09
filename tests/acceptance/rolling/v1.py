"""Release 1 of a workflow that changes incompatibly in release 2."""

import continuum
from tests.acceptance.proc_flows import record


class Flow(continuum.Workflow, workflow="rolling.Flow", version=1):
    def run(self, input):
        record(input["log"], input["run"], "v1-start")
        continuum.wait_for_signal("go")
        record(input["log"], input["run"], "v1-end")
        return "v1"
