"""Release 2: the same logical workflow, a different body (a different hash)."""

import continuum
from tests.acceptance.proc_flows import hold


class Flow(continuum.Workflow, workflow="rolling.Flow", version=2):
    def run(self, input):
        held = hold(input["log"], input["run"], "v2-hold", input["release"])
        return ["v2", held]
