"""A recipe fix reaches existing projects: `recipe.py` belongs to the template and is merged by
`dlstart update`, while `model.py` is the user's (`USER_OWNED`, generated once, never updated).
So model.py must not write the recipe's constants out but take them from recipe.py (directly
or through another template-owned module), and a release that changes one changes every project
that updates, the user's model edits kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from update_helpers import (
    MODEL,
    ROOT,
    SHARED,
    TemplateHistory,
    cli,
    commit_all,
    generate,
    status,
)

RECIPE = SHARED + "/src/{{cookiecutter.package_name}}/recipe.py"
OLD, NEW = "BATCH_NORM_EPSILON = 1e-5\n", "BATCH_NORM_EPSILON = 1e-3  # a recipe fix\n"
MY_MODEL_EDIT = "\n\n# my change: a wider head\n"


@pytest.fixture(scope="module")
def recipe_history(tmp_path_factory: pytest.TempPathFactory) -> TemplateHistory:
    """v0.1.0: the templates as they are; v0.2.0: the same with a recipe constant fixed, and a
    template change to model.py that projects do not take."""
    repo = TemplateHistory(tmp_path_factory.mktemp("templates"))
    repo.release("v0.1.0")
    recipe = (repo.path / RECIPE).read_text()
    assert OLD in recipe
    repo.write(RECIPE, recipe.replace(OLD, NEW))
    repo.write(MODEL, (repo.path / MODEL).read_text() + "# the template's v0.2.0 model\n")
    repo.release("v0.2.0")
    return repo


def test_recipe_fix_reaches_a_project_and_the_users_model_is_kept(
    recipe_history: TemplateHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(recipe_history, tmp_path / "demo", "v0.1.0")
    recipe, model = project / "src/demo/recipe.py", project / "src/demo/model.py"
    assert OLD in recipe.read_text()
    mine = model.read_text() + MY_MODEL_EDIT
    model.write_text(mine)
    commit_all(project, "my model")

    assert cli("update", project, "--template", recipe_history.path) == 0

    assert NEW in recipe.read_text() and OLD not in recipe.read_text()
    assert model.read_text() == mine
    assert status(project) == [" M .copier-answers.yml", " M src/demo/recipe.py"]
    assert "modified  src/demo/recipe.py" in capsys.readouterr().out


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow", "jax"])
def test_model_py_takes_the_recipe_constants_from_template_owned_code(framework: str) -> None:
    """The constants are read from recipe.py (in model.py or in a module of the template's),
    and model.py writes none of them out."""
    package = next((ROOT / "templates" / framework).glob("*/src/*"))
    sources = {path.name: path.read_text() for path in package.rglob("*.py")}
    code = "".join(sources.values())
    assert "recipe.BATCH_NORM_EPSILON" in code and "recipe.LAYER_NORM_EPSILON" in code
    number = r"[0-9.]+(?:[eE][-+]?[0-9]+)?"
    written_out = re.findall(
        rf"\b(?:eps|epsilon|momentum)\s*=\s*{number}\s*[,)]", sources["model.py"]
    )
    assert not written_out, written_out
