"""The search space: every value a knob may take is checked as the builders check it."""

import pytest

from kerascnn.search.space import KNOBS, check_space


def test_every_knob_accepts_its_default_space_and_the_builders_default():
    from kerascnn.architectures import model_info
    from kerascnn.config import DEFAULTS

    for arch in ("simple_cnn", "transfer"):  # the transfer knobs are the transfer builder's settings
        defaults = {**model_info(arch).defaults(), **DEFAULTS["train"], "augment": False}
        for name, knob in KNOBS.items():
            if name not in defaults:  # a knob of the other builder
                continue
            assert knob.check is not None, name  # every knob says what a valid value is
            check_space({name: None}, [arch])
            check_space({name: knob.space}, [arch])
            check_space({name: defaults[name]}, [arch])


@pytest.mark.parametrize(
    "space, message",
    [
        (
            {"kernel_size": [0, 3]},
            "Invalid `search.space.kernel_size`: expected integers >= 1. Received: search.space.kernel_size=0",
        ),
        ({"kernel_size": ["1x0", 3]}, "search.space.kernel_size=(1, 0)"),
        ({"filters": [8, -1]}, "Received: search.space.filters=-1"),
        ({"filters": {"min": 0, "max": 64, "step": 8}}, "Invalid `search.space.filters.min`"),
        ({"filters": {"min": 8, "max": 64, "step": 0}}, "Invalid `search.space.filters.step`"),
        ({"padding": ["same", "half"]}, "Received: search.space.padding='half'"),
        ({"activation": ["relu", "relux"]}, "search.space.activation` (did you mean 'relu'?)"),
        ({"pool": "maxx"}, "Invalid `search.space.pool`"),
        ({"bn_placement": ["before", "none"]}, "Invalid `search.space.bn_placement`"),
        ({"dropout": {"min": 0.0, "max": 1.5}}, "Invalid `search.space.dropout.max`"),
        ({"learning_rate": [1e-3, 0]}, "search.space.learning_rate`: expected a positive number"),
        ({"optimizer": ["adam", "adamw"]}, "Invalid `search.space.optimizer`"),
        ({"batch_size": [32, 0]}, "Received: search.space.batch_size=0"),
        ({"dense_layers": [0, -1]}, "expected an integer >= 0"),
        ({"augment": ["yes"]}, "Invalid `search.space.augment`"),
    ],
)
def test_values_inside_choices_and_ranges_are_validated_like_single_values(space, message):
    with pytest.raises(ValueError) as err:
        check_space(space, ["simple_cnn"])
    assert message in str(err.value)


def test_a_choice_list_of_mixed_kinds_is_refused_by_name():
    from kerascnn.search.space import check_space

    with pytest.raises(ValueError, match=r"search.space.padding`: the choices mix numbers and strings"):
        check_space({"padding": ["same", 3]}, ["simple_cnn"])
    check_space({"kernel_size": [3, "1x3"]}, ["simple_cnn"])  # tuple knobs write every choice as text
