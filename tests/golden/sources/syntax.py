class Everything(Workflow, version=3):
    retries = (1, 2.5, -3, 1e10, 2j, b"x", None, True, ...)

    def run(self, input, /, *rest, flag: bool = False, **options):
        global COUNTER
        match input:
            case {"kind": "a", **others} if others:
                x = 1
            case [first, *tail]:
                x = first
            case Point(x=0, y=yy) | Point(x=yy, y=0):
                x = yy
            case str() as text:
                x = text
            case _:
                x = None
        if (n := len(rest)) > 2 and 0 < n <= 10 or not flag:
            x = [i ** 2 for i in range(n) if i % 2][1:-1:2]
        try:
            del options["skip"]
            assert x is not None, "x missing"
        except* ValueError as group:
            raise RuntimeError("bad") from group
        finally:
            x = lambda y, z=2: y @ z if y else -z
        with open("a") as f, open("b") as g:
            pass
        while False:
            continue
        else:
            x = ~x
        for i in range(3):
            break

        class Inner:
            def method(self):
                nonlocal x
                return super().method()

        return x

    @classmethod
    def make(cls, a: "str", b: list[int] | None = None) -> "Everything":
        return cls()
