"""Workflow classes, generated entrypoints and the in-process registry."""

from __future__ import annotations

import importlib
import sys
import threading
import types
import warnings
from pathlib import Path

import pytest

import continuum
from continuum.errors import WorkflowDefinitionError
from continuum.registry import EntrypointRegistry
from continuum.workflow import entrypoint_of, entrypoints, importable_name


class Greeting(continuum.Workflow, version=2):
    """Says hello."""

    def run(self, input):
        return f"hello {input}"


class Shared(continuum.Workflow, workflow="shared.identity"):
    def run(self, input):
        return 1


def test_entrypoint_is_a_hidden_hash_named_class() -> None:
    ep = Greeting.__continuum_entrypoint__()
    assert ep.__name__ == f"V_{Greeting.version_hash}"
    assert ep.__qualname__ == f"Greeting.V_{Greeting.version_hash}"
    assert ep.__module__ == Greeting.__module__
    assert ep.__doc__ is None
    assert (ep.workflow, ep.version, ep.version_hash) == (
        f"{__name__}.Greeting",
        2,
        Greeting.version_hash,
    )
    assert ep.run is Greeting.run
    assert getattr(Greeting, ep.__name__) is ep


def test_logical_identity_defaults_to_module_and_qualname() -> None:
    assert Greeting.__continuum_workflow__() == f"{__name__}.Greeting"
    assert Shared.__continuum_workflow__() == "shared.identity"


def test_registry_resolves_by_workflow_and_hash() -> None:
    ep = Greeting.__continuum_entrypoint__()
    assert entrypoints.resolve(ep.workflow, ep.version_hash) is ep
    assert entrypoints.resolve(ep.workflow, "0" * 16) is None


def test_classes_sharing_an_identity_share_the_registry_slot() -> None:
    class SharedToo(continuum.Workflow, workflow="shared.identity"):
        def run(self, input):
            return 2

    new = SharedToo.__continuum_entrypoint__()
    assert entrypoints.resolve("shared.identity", new.version_hash) is new
    assert new in entrypoints.versions(frozenset({"shared.identity"}))
    old = Shared.__continuum_entrypoint__()
    assert entrypoints.resolve("shared.identity", old.version_hash) is old


def test_reload_keeps_the_old_entrypoint(module_dir: Path) -> None:
    path = module_dir / "reloadable_flow.py"
    path.write_text(
        "import continuum\n\nclass Flow(continuum.Workflow, version=1):\n"
        "    def run(self, input):\n        return 'v1'\n"
    )
    module = importlib.import_module("reloadable_flow")
    old = module.Flow.__continuum_entrypoint__()
    path.write_text(
        "import continuum\n\nclass Flow(continuum.Workflow, version=2):\n"
        "    def run(self, input):\n        return 'v2'\n"
    )
    importlib.reload(module)
    new = module.Flow.__continuum_entrypoint__()
    assert new.version_hash != old.version_hash
    assert entrypoints.resolve(old.workflow, old.version_hash) is old
    assert entrypoints.resolve(new.workflow, new.version_hash) is new
    assert old().run(None) == "v1" and new().run(None) == "v2"
    del sys.modules["reloadable_flow"]


def test_same_named_classes_in_one_scope_are_told_apart() -> None:
    class Twin(continuum.Workflow):
        def run(self, input):
            return "first"

    first = Twin

    class Twin(continuum.Workflow):  # type: ignore[no-redef]
        def run(self, input):
            return "second"

    assert first.version_hash != Twin.version_hash


def test_abstract_base_has_no_entrypoint_and_subclasses_do() -> None:
    class Base(continuum.Workflow):
        def helper(self):
            return 1

    class Concrete(Base):
        def run(self, input):
            return self.helper()

    with pytest.raises(WorkflowDefinitionError, match="defines no run"):
        Base.__continuum_entrypoint__()
    assert Concrete.__continuum_entrypoint__()().run(None) == 1


def test_class_without_readable_source_is_a_clear_error() -> None:
    namespace: dict[str, object] = {"continuum": continuum}
    with pytest.raises(WorkflowDefinitionError, match="cannot hash workflow"):
        exec(
            "class Ghost(continuum.Workflow):\n    def run(self, input):\n        return 1\n",
            namespace,
        )


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"version": 0}, "positive int"),
        ({"version": "2"}, "positive int"),
        ({"workflow": ""}, "non-empty str"),
        ({"version": True}, "positive int"),
    ],
)
def test_bad_class_keywords_are_refused(keywords: dict[str, object], message: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        type("Bad", (continuum.Workflow,), {"run": lambda self, i: 1}, **keywords)


def test_run_must_be_a_function() -> None:
    with pytest.raises(WorkflowDefinitionError, match="plain method"):

        class Weird(continuum.Workflow):
            run = 5


@pytest.mark.parametrize("thing", [int, object(), "OrderFlow", continuum.Workflow])
def test_non_workflows_cannot_be_started(thing: object) -> None:
    with pytest.raises(WorkflowDefinitionError):
        entrypoint_of(thing)


def test_registry_reads_are_consistent_while_writers_run() -> None:
    registry = EntrypointRegistry()
    ep = Greeting.__continuum_entrypoint__()
    registry.register(ep)
    stop = threading.Event()
    misses: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            if registry.resolve(ep.workflow, ep.version_hash) is not ep:
                misses.append(1)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(2000):
        fake = type(f"V_{i:016x}", (), {"workflow": f"wf{i}", "version_hash": f"{i:016x}"})
        registry.register(fake)  # type: ignore[arg-type]
    stop.set()
    for t in threads:
        t.join()
    assert not misses
    assert len(registry.versions()) == 2001


SCRIPT = (
    "import continuum\n\n"
    "class Greet(continuum.Workflow{keywords}):\n"
    "    def run(self, input):\n"
    "        return 'hi'\n"
)


def define_in_main(
    monkeypatch: pytest.MonkeyPatch, script: Path, keywords: str = "", spec_name: str | None = None
) -> type[continuum.Workflow]:
    """Run `script` as `python script.py` (or `python -m spec_name`) would: as __main__."""
    script.write_text(SCRIPT.format(keywords=keywords))
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__spec__ = (
        importlib.machinery.ModuleSpec(spec_name, None, origin=str(script)) if spec_name else None
    )
    monkeypatch.setitem(sys.modules, "__main__", main)
    exec(compile(script.read_text(), str(script), "exec"), main.__dict__)
    cls: type[continuum.Workflow] = main.__dict__["Greet"]
    return cls


def test_a_script_workflow_is_named_after_its_importable_module(
    module_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = define_in_main(monkeypatch, module_dir / "shop_script.py")
    assert cls.__module__ == "__main__"
    assert cls.__continuum_workflow__() == "shop_script.Greet"
    ep = cls.__continuum_entrypoint__()
    assert ep.workflow == "shop_script.Greet" and ep.__module__ == "__main__"
    assert entrypoints.resolve("shop_script.Greet", cls.version_hash) is ep


def test_python_dash_m_uses_the_spec_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = define_in_main(monkeypatch, tmp_path / "shop.py", spec_name="pkg.shop")
    assert cls.__continuum_workflow__() == "pkg.shop.Greet"


def test_an_unimportable_script_workflow_warns_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.warns(continuum.WorkflowIdentityWarning, match='workflow="') as caught:
        cls = define_in_main(monkeypatch, tmp_path / "not-a-module.py")
    assert cls.__continuum_workflow__() == "__main__.Greet"
    assert caught[0].filename == str(tmp_path / "not-a-module.py")  # points at the class
    assert issubclass(continuum.WorkflowIdentityWarning, UserWarning)


def test_explicit_workflow_wins_and_does_not_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cls = define_in_main(monkeypatch, tmp_path / "not-a-module.py", ', workflow="shop.Hi"')
    assert cls.__continuum_workflow__() == "shop.Hi"


def test_importable_name_follows_sys_path_and_packages(tmp_path: Path) -> None:
    package = tmp_path / "app" / "flows"
    package.mkdir(parents=True)
    for folder in (tmp_path / "app", package):
        (folder / "__init__.py").write_text("")
    script = package / "orders.py"
    script.write_text("")
    assert importable_name(str(script), [str(package)]) == "orders"
    # the folder above the outermost package wins over the script's own folder
    assert importable_name(str(script), [str(package), str(tmp_path)]) == "app.flows.orders"
    assert importable_name(str(package / "__init__.py"), [str(tmp_path)]) == "app.flows"
    assert importable_name(str(script), [str(tmp_path / "elsewhere")]) is None
    assert importable_name(str(tmp_path / "my-flow.py"), [str(tmp_path)]) is None
    assert importable_name(str(tmp_path / "class.py"), [str(tmp_path)]) is None
    assert importable_name(str(tmp_path / "__main__.py"), [str(tmp_path)]) is None
    assert importable_name(str(tmp_path / "flow.pyc"), [str(tmp_path)]) is None
    # a name that already means another loaded module is not this file's
    assert importable_name(str(tmp_path / "json.py"), [str(tmp_path)]) is None
