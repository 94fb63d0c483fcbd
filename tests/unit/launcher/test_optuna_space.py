"""Hydra sweep syntax -> the Optuna search space the sweeper asks trials from."""

from __future__ import annotations

import optuna.distributions as d
import pytest
from hydra_plugins.segtrain_optuna.space import as_override, search_space

from segtrain.errors import ConfigError


def test_log_interval_becomes_a_log_scale_float_range():
    (dim,), fixed = search_space(["model.lr=tag(log, interval(1e-4, 1e-2))"])
    assert fixed == []
    assert dim.distribution() == d.FloatDistribution(1e-4, 1e-2, log=True)


def test_integer_interval_and_stepped_range_are_integer_ranges_with_python_range_ends():
    dims, _ = search_space(
        ["a=tag(int, interval(1, 5))", "trainer.batch_size=range(4, 17, step=4)"]
    )
    by_key = {x.key: x.distribution() for x in dims}
    assert by_key["a"] == d.IntDistribution(1, 5)
    # range(4, 17, 4) is 4, 8, 12, 16: Optuna's inclusive high is 16
    assert by_key["trainer.batch_size"] == d.IntDistribution(4, 16, step=4)


def test_float_range_excludes_its_stop_like_python():
    (dim,), _ = search_space(["x=range(0.1, 0.4, step=0.1)"])
    assert dim.low == pytest.approx(0.1) and dim.high == pytest.approx(0.3)


def test_choices_and_comma_lists_are_categorical():
    dims, _ = search_space(["model.optimizer=choice(adam, adamw)", "trainer.max_epochs=5,10"])
    by_key = {x.key: x.distribution() for x in dims}
    assert by_key["model.optimizer"] == d.CategoricalDistribution(["adam", "adamw"])
    assert by_key["trainer.max_epochs"] == d.CategoricalDistribution([5, 10])


def test_plain_overrides_are_fixed_and_the_command_line_replaces_config_params():
    dims, fixed = search_space(
        ["model.lr=0.01", "trainer.max_epochs=3", "model.weight_decay=interval(0.0, 0.1)"],
        params={"model.lr": "tag(log, interval(1e-4, 1e-2))", "model.momentum": "0.8,0.9"},
    )
    assert sorted(x.key for x in dims) == ["model.momentum", "model.weight_decay"]
    assert fixed == ["model.lr=0.01", "trainer.max_epochs=3"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("x=interval(2, 1)", "low < high"),
        ("x=tag(log, interval(0, 1))", "low > 0"),
        ("x=range(5, 1)", "increasing"),
        ("x=tag(int, interval(0.5, 3))", "integer bounds"),
        ("x=shuffle(choice(1, 2))", "shuffle"),
    ],
)
def test_invalid_spaces_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        search_space([override])
    assert str(err.value).startswith("x:")


def test_a_sweep_with_nothing_to_search_is_an_error():
    with pytest.raises(ConfigError, match="nothing to search"):
        search_space(["model.lr=0.01"])


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "k=true"), (None, "k=null"), (0.1, "k=0.1"), (3, "k=3"), ("adam", "k=adam")],
)
def test_trial_values_are_written_back_as_overrides_hydra_parses(value, text):
    assert as_override("k", value) == text
