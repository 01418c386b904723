"""Optional dependencies: a missing extra is named with the pip command that brings it, and reaches the user as one
line; a module that is there but broken stays a real error."""

import importlib
import sys
from pathlib import Path

import pytest

from shufflenet.cli.main import main
from shufflenet.utils import optional
from shufflenet.utils.optional import MissingExtra, require


def test_a_present_module_is_imported() -> None:
    assert require("json", "onnx") is importlib.import_module("json")


def test_a_missing_module_names_its_extra() -> None:
    with pytest.raises(MissingExtra, match=r"^no_such_runtime\.api is not installed; install it with: pip install "
                       r"'shufflenet\[litert\]'$"):  # fmt: skip
        require("no_such_runtime.api", "litert")


def test_a_present_module_with_a_broken_import_is_not_called_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_installed.py").write_text("import no_such_dependency_of_it\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("half_installed", "litert")
    assert not isinstance(info.value, MissingExtra) and info.value.name == "no_such_dependency_of_it"
    sys.modules.pop("half_installed", None)


def test_the_cli_says_which_extra_to_install_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.import_module

    def without_openvino(name: str, package: str | None = None):  # OpenVINO as if its extra were not installed
        if name.split(".")[0] == "openvino":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, package)

    monkeypatch.setattr(optional.importlib, "import_module", without_openvino)
    out = tmp_path / "v2.xml"
    assert main(["export", "shufflenet_v2_x0_5", "--format", "openvino", "--img-size", "64", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: openvino is not installed; install it with: pip install 'shufflenet[openvino]'"]
    assert list(tmp_path.iterdir()) == []  # nothing half-written
