class Sync(Workflow, workflow="billing.Sync"):
    """Class docstring."""

    limit: int = 5

    async def run(self, input):
        results = await asyncio.gather(*(fetch(i) for i in range(self.limit)))
        async with lock() as held:
            total = sum([r async for r in stream(results) if r])
        async for item in stream(results):
            await continuum.sleep_async(1)
        return {k: v for k, v in zip(results, range(3), strict=False)}, {*results}, total

    @staticmethod
    def helper(*args, key=None, **kwargs) -> dict[str, int]:
        return {"n": len(args)}
