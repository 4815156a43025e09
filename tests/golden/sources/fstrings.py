class Report(Workflow):
    def run(self, input):
        width = 10
        name = input["name"]
        a = f"{name!r:>{width}}"
        b = f"plain {name} and {width:04d} and {width=} {{braces}}"
        c = f"{name:{width}.{width}}" + f'{"nested"!s}' + rf"\d{width}"
        d = f"""multi
        {name}"""
        return [a, b, c, d, f"{width:#x}", f"{3.5:.2f}"]
