"""Contract of every registered model before serving: fit, use before fit, parameters and repr."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import xsell
from xsell.models.registry import MODELS
from tests.contract.helpers import K, not_fitted_message, raises_exactly


def _bad_value(annotation: str) -> Any:
    """One value a parameter of this declared type must refuse: for whole numbers a float, for other
    numbers a string, for a choice among strings an unknown one."""
    kinds = {part.strip() for part in annotation.split("|")}
    if "int" in kinds:
        return 1.5
    if "float" in kinds:
        return "x"
    if "str" in kinds:
        return "no-such-choice"
    raise AssertionError(f"the contract suite has no bad value for a parameter of type {annotation!r}; "
                         f"add one to _bad_value")


def _declared_parameters() -> list[tuple[str, str, str]]:
    """(model name, parameter, annotation) of every constructor parameter of every registered model."""
    out = []
    for name, entry in MODELS.items():
        for p in inspect.signature(entry.cls.__init__).parameters.values():
            if p.name != "self":
                out.append((name, p.name, str(p.annotation)))
    return out


def test_fit_returns_the_model(entry, tiny_orders):
    model = entry.cls(**entry.quick)
    assert model.fit(tiny_orders) is model
    assert model.n_items == tiny_orders.n_items


@pytest.mark.parametrize("not_orders", ["frame", "list"])
def test_fit_refuses_what_is_not_orders(entry, tiny_orders, not_orders):
    data = tiny_orders.to_frame() if not_orders == "frame" else [("1", "a")]
    kind = "DataFrame" if not_orders == "frame" else "list"
    with raises_exactly(xsell.InputError, f"fit expects an Orders (from xsell.load_orders), not {kind}"):
        entry.cls(**entry.quick).fit(data)


@pytest.mark.parametrize("use", ["recommend", "recommend_batch", "also_bought", "recommend_for_customer"])
def test_use_before_fit_raises_not_fitted(entry, use):
    model = entry.cls(**entry.quick)
    call = {"recommend": lambda: model.recommend(["a"], k=K),
            "recommend_batch": lambda: model.recommend_batch({"b": ["a"]}, k=K),
            "also_bought": lambda: model.also_bought("a", k=K),
            "recommend_for_customer": lambda: model.recommend_for_customer("x", k=K)}[use]
    with raises_exactly(xsell.NotFittedError, not_fitted_message(entry.cls)):
        call()


def test_save_model_refuses_unfitted(entry, tmp_path):
    path = tmp_path / "model.xsell"
    with raises_exactly(xsell.NotFittedError, not_fitted_message(entry.cls)):
        xsell.save_model(entry.cls(**entry.quick), path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("params", ["defaults", "quick"])
def test_get_params_round_trip_and_repr(entry, params):
    model = entry.cls(**(entry.quick if params == "quick" else {}))
    got = model.get_params()
    defaults = {p.name: p.default for p in inspect.signature(entry.cls.__init__).parameters.values()
                if p.name != "self"}
    assert got == defaults | (dict(entry.quick) if params == "quick" else {})
    again = type(model)(**got)
    assert again.get_params() == got
    assert repr(again) == repr(model)
    assert repr(model) == f"{entry.cls.__name__}(" + ", ".join(f"{k}={v!r}" for k, v in got.items()) + ")"


def test_unknown_keyword_raises_type_error(entry):
    message = f"{entry.cls.__init__.__qualname__}() got an unexpected keyword argument 'no_such_param'"
    with raises_exactly(TypeError, message):
        entry.cls(no_such_param=1)


@pytest.mark.parametrize("name, param, annotation", _declared_parameters(),
                         ids=[f"{n}-{p}" for n, p, _ in _declared_parameters()])
def test_bad_parameter_value_raises_input_error(name, param, annotation):
    bad = _bad_value(annotation)
    with pytest.raises(xsell.InputError) as info:
        MODELS[name].cls(**{param: bad})
    assert str(info.value).startswith(f"{param} "), str(info.value)
    assert repr(bad) in str(info.value)
