import pytest

from kerascnn.validation import check_choice, check_int, check_keys, check_rate, int_tuple


def test_check_choice_names_argument_value_and_allowed_values():
    with pytest.raises(ValueError) as err:
        check_choice("padding", "vaild", ("valid", "same"))
    msg = str(err.value)
    assert "`padding`" in msg and "did you mean 'valid'" in msg
    assert "'valid', 'same'" in msg and "Received: padding='vaild'" in msg


def test_check_int_refuses_bools_zero_and_floats():
    assert check_int("filters", 8) == 8
    for bad in (0, -3, 2.5, True, "8", None):
        with pytest.raises(ValueError, match=r"Received: filters="):
            check_int("filters", bad)


def test_check_rate_bounds():
    assert check_rate("dropout", 0) == 0.0
    for bad in (1, 1.5, -0.1, "0.2"):
        with pytest.raises(ValueError, match="in \\[0, 1\\)"):
            check_rate("dropout", bad)


def test_int_tuple_broadcasts_and_checks_length():
    assert int_tuple("kernel_size", 3, 2) == (3, 3)
    assert int_tuple("kernel_size", (1, 3), 2) == (1, 3)
    with pytest.raises(ValueError, match="tuple of 2 integers"):
        int_tuple("kernel_size", (1, 3, 3), 2)


def test_check_keys_suggests_the_close_key():
    with pytest.raises(ValueError, match=r"Unknown key `layer.kernal_size` \(did you mean 'kernel_size'\?\)"):
        check_keys("layer", {"kernal_size": 3}, ("kernel_size", "strides"))
