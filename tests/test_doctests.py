"""Every docstring example in the installed package runs and prints what it says."""
import doctest
import importlib
import pkgutil

import pytest

import fastlr


def _modules():
    names = ["fastlr"]
    for info in pkgutil.walk_packages(fastlr.__path__, "fastlr."):
        if info.name.startswith(("fastlr.recsys.__main__", "fastlr.schedules.__main__")):
            continue  # command lines: running them parses sys.argv
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    if name.endswith("._plot"):
        pytest.importorskip("matplotlib")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):  # globals: the module's own, as --doctest-modules
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
