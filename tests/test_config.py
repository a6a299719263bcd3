import pytest
import yaml

from kerascnn import config, rundir
from kerascnn.config import ConfigError
from kerascnn.search.run import check_experiment


def test_default_experiment_file_resolves():
    cfg = config.load("experiments/digits.yaml")
    assert cfg.data.source == "digits" and cfg.model.architecture == "simple_cnn"
    assert cfg.search.objective == "val_f1_macro"
    assert cfg.train.optimizer == "adam"  # defaults filled
    assert cfg.search.constraints.max_rejections == 1000


def test_issue_example_experiment_resolves():
    raw = yaml.safe_load("""
name: digits-simple
seed: 0
data: {source: digits, validation_split: 0.15, test_split: 0.2}
model:
  architecture: simple_cnn
  params: {conv_layers: 3, pool: max}
search:
  tuner: random
  max_trials: 20
  objective: val_f1_macro
  space:
    kernel_size: [3, 5, 7]
    filters: [16, 32, 64]
    strides: [1, 2]
    padding: [valid, same]
    dropout: {min: 0.0, max: 0.5, step: 0.1}
    bn_placement: [before_activation, after_activation, none]
  constraints: {max_params: 2000000}
train: {epochs: 10, batch_size: 64, optimizer: adam, learning_rate: 0.001}
""")
    cfg = config.resolve(raw)
    assert cfg.search.space["kernel_size"] == [3, 5, 7]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"trian": {}}, "Unknown key `trian` (did you mean 'train'?)"),
        ({"train": {"epoch": 3}}, "Unknown key `train.epoch` (did you mean 'epochs'?)"),
        (
            {"search": {"constraints": {"max_param": 5}}},
            "Unknown key `search.constraints.max_param` (did you mean 'max_params'?)",
        ),
        (
            {"search": {"space": {"kernal_size": [3]}}},
            "Unknown key `search.space.kernal_size` (did you mean 'kernel_size'?)",
        ),
        (
            {"model": {"params": {"conv_layer": 2}}},
            "Unknown key `model.params.conv_layer` (did you mean 'conv_layers'?)",
        ),
        (
            {"model": {"architecture": "vgg16", "params": {"batch_norm": True}}},
            "Unknown key `model.params.batch_norm` (renamed to `bn_placement`: batch_norm=True is "
            "bn_placement='before_activation')",
        ),
        (
            {"train": {"epochs": "ten"}},
            "Invalid `train.epochs`: expected an integer >= 1. Received: train.epochs='ten'",
        ),
        ({"train": {"optimizer": "adamw"}}, "'adam', 'sgd', 'rmsprop', 'adagrad'"),
        ({"search": {"tuner": "evolution"}}, "'random', 'bayesian', 'hyperband', 'grid'"),
        ({"data": {"source": "imagenet"}}, "Received: data.source='imagenet'"),
        ({"data": {"validation_split": 1.5}}, "Invalid `data.validation_split`: expected a number in (0, 1)"),
        ({"model": {"architecture": "resnet9000"}}, "unknown model 'resnet9000'"),
        ({"search": {"objective": "val_f1"}}, "Invalid `search.objective` (did you mean"),
        ({"search": {"space": {"dropout": {"min": 0.5, "max": 0.1}}}}, "min < max"),
        ({"search": {"space": {"kernel_size": ["3by3"]}}}, "write tuples as '1x3'"),
        ({"data": {"source": "npz"}}, "`data.path` is required"),
        ({"model": "simple_cnn"}, "`model` must be a mapping"),
        ({"search": {"prunning": "median"}}, "Unknown key `search.prunning` (did you mean 'pruning'?)"),
        (
            {"search": {"pruning": "mean"}},
            "Invalid `search.pruning`: expected one of 'none', 'median'. Received: search.pruning='mean'",
        ),
        ({"search": {"pruning_min_trial": 2}}, "(did you mean 'pruning_min_trials'?)"),
        ({"search": {"pruning_warmup_epochs": -1}}, "Invalid `search.pruning_warmup_epochs`: expected an integer >= 0"),
        ({"search": {"refit": "yes please"}}, "Invalid `search.refit`: expected true or false"),
        ({"search": {"ensemble": 1}}, "Invalid `search.ensemble`: expected 0 (off) or the number of top trials"),
        ({"search": {"cv_fold": 3}}, "(did you mean 'cv_folds'?)"),
        ({"search": {"refit_seed": 3}}, "(did you mean 'refit_seeds'?)"),
        ({"search": {"refit_seeds": 0}}, "Invalid `search.refit_seeds`: expected an integer >= 1"),
        (
            {"search": {"refit_seeds": 3, "refit": False}},
            "`search.refit_seeds` (3) averages refits of the best trial, so it needs `search.refit: true`",
        ),
        (
            {"train": {"lr_schedule": "cosin"}},
            "Invalid `train.lr_schedule`: expected one of 'constant', 'cosine'. Received: train.lr_schedule='cosin'",
        ),
        ({"train": {"lr_shedule": "cosine"}}, "(did you mean 'lr_schedule'?)"),
        ({"search": {"cv_folds": 1}}, "Invalid `search.cv_folds`: expected an integer >= 2 or null"),
        ({"search": {"refit_epochs": "last"}}, "Invalid `search.refit_epochs`: expected one of 'best', 'all'"),
        ({"search": {"baselines": "svc"}}, "Invalid `search.baselines`: expected a list of distinct names"),
        ({"search": {"baselines": ["svc", "svc"]}}, "Invalid `search.baselines`"),
        (
            {"data": {"layout": "sequence"}},
            "Invalid `data.layout`: expected one of 'auto', 'signals', 'images', 'volumes'",
        ),
        (
            {"data": {"augmentation": {"noise": -0.1}}},
            "Invalid `data.augmentation.noise`: expected a standard deviation >= 0",
        ),
        ({"data": {"augmentation": {"flip": "diagonal"}}}, "Invalid `data.augmentation.flip`"),
        ({"search": {"cv_folds": True}}, "Received: search.cv_folds=True"),
        (
            {"search": {"max_seconds": 0}},
            "Invalid `search.max_seconds`: expected a positive (finite) number or null. Received: search.max_seconds=0",
        ),
        ({"search": {"max_seconds": "8m"}}, "Received: search.max_seconds='8m'"),
        ({"search": {"max_second": 60}}, "(did you mean 'max_seconds'?)"),
        ({"search": {"cv_folds": 3}, "train": {"strategy": "mirrored"}}, "`search.cv_folds` (3) and `train.strategy`"),
    ],
)
def test_bad_experiments_fail_with_the_key_path(raw, message):
    """Checked once at the entry: the typed experiment's own rules, then what the registry, the space and the
    metrics own (:func:`kerascnn.search.run.check_experiment`)."""
    with pytest.raises(ConfigError) as err:
        check_experiment(raw)
    assert message in str(err.value)


def test_knob_that_applies_to_no_architecture():
    with pytest.raises(ConfigError, match="not a setting of lenet5"):
        check_experiment({"model": {"architecture": "lenet5"}, "search": {"space": {"conv_layers": [1, 2]}}})


def test_set_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("name: x\ntrain: {epochs: 5}\n")
    cfg = config.load(path, ["train.epochs=2", "search.space.kernel_size=[3, '1x3']", "data.subset=300"])
    assert cfg.train.epochs == 2
    assert cfg.search.space["kernel_size"] == [3, "1x3"]
    assert cfg.data.subset == 300
    with pytest.raises(ConfigError, match="expected key.path=value"):
        config.load(path, ["train.epochs"])


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad)


def test_saved_config_round_trips(tmp_path):
    cfg = config.load("experiments/digits.yaml")
    rundir.write_config(tmp_path / "config.yaml", cfg.to_dict())
    assert config.resolve(yaml.safe_load((tmp_path / "config.yaml").read_text())) == cfg


def test_numbers_written_like_1e_3_are_numbers(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("name: x\ntrain: {learning_rate: 1e-3}\nsearch:\n  space:\n    learning_rate: [1e-4, 3E-3]\n")
    cfg = config.load(path)
    assert cfg.train.learning_rate == 0.001
    assert cfg.search.space["learning_rate"] == [0.0001, 0.003]
    assert config.load(path, ["train.learning_rate=5e-4"]).train.learning_rate == 0.0005
    assert config.yaml_load("kernel: 1x3\nn: 10\nx: 1_000")["kernel"] == "1x3"  # strings and ints unchanged


def test_files_that_are_not_experiments(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- name: a\n")
    with pytest.raises(ConfigError, match="mapping of sections .* holds a list"):
        config.load(listed)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not a text file|not valid YAML"):
        config.load(binary)
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: x\n")
    with pytest.raises(ConfigError, match=r"Invalid --set 'name=\{unclosed': the value is not valid YAML"):
        config.load(plain, ["name={unclosed"])


def test_npz_keys_and_skipping_bad_images_are_settings():
    cfg = config.resolve({"data": {"source": "npz", "path": "d.npz", "x_key": "images", "y_key": "labels"}})
    assert (cfg.data.x_key, cfg.data.y_key) == ("images", "labels")
    with pytest.raises(ConfigError, match="did you mean 'skip_bad_images'"):
        config.resolve({"data": {"skip_bad_image": True}})


def test_the_typed_experiment_holds_the_only_defaults_and_checks_python_construction_too():
    exp = config.Experiment(train={"epochs": 3})  # a mapping for a section is checked and completed
    assert exp.train.epochs == 3 and exp.train.batch_size == config.TrainSettings().batch_size
    assert config.DEFAULTS == config.Experiment().to_dict()
    assert list(config.DEFAULTS) == ["name", "seed", "data", "model", "search", "train"]
    with pytest.raises(ConfigError, match="Invalid `train.epochs`: expected an integer >= 1. Received: train.epochs=0"):
        config.TrainSettings(epochs=0)
    with pytest.raises(ConfigError, match="Invalid `search.constraints.max_params`"):
        config.SearchSettings(constraints={"max_params": -1})
    with pytest.raises(Exception):  # frozen: a checked experiment cannot drift
        exp.train.epochs = 5  # type: ignore[misc]


def test_the_experiment_module_imports_nothing_of_the_kit_above_validation():
    """config sits at the bottom: what only the registry, the space or the metrics can judge is checked by them."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(config.__file__).read_text())
    imported = {
        f"{n.module}.{a.name}" if n.module == "kerascnn" else n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom)
        for a in n.names
    }
    kit = {m for m in imported if m and m.startswith("kerascnn")}
    assert kit <= {"kerascnn.validation", "kerascnn.experiments"}, kit  # experiments: the shipped YAML files


def test_an_alias_bomb_or_deep_nesting_is_refused_before_anything_is_built(tmp_path):
    """A 500-byte file whose aliases expand to billions of values, or nesting deeper than Python's stack."""
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"{x}: &{x} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, x in zip("abcdefgh", "bcdefghi")
    ]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\ntrain: {epochs: *i}\n")
    assert len(bomb.read_bytes()) < 1000
    with pytest.raises(ConfigError, match=r"bomb.yaml: the YAML holds [\d,]+ values once its aliases"):
        config.load(bomb)
    deep = tmp_path / "deep.yaml"
    deep.write_text("train: {epochs: " + "[" * 5000 + "]" * 5000 + "}\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        config.load(deep)
    shallow = tmp_path / "shallow.yaml"  # aliases a real file uses are fine; a bad value's message stays short
    shallow.write_text("seed: &x 3\ntrain: {epochs: *x, batch_size: [1, 2]}\n")
    assert config.load(shallow, ["train.batch_size=4"]).train.epochs == 3
    with pytest.raises(ConfigError, match=r"Invalid `train.batch_size`.*Received: train.batch_size=\[1, 2\]"):
        config.load(shallow)
    with pytest.raises(ConfigError) as err:
        config.resolve({"train": {"epochs": [[list(range(1000))] * 50] * 50}})
    assert len(str(err.value)) < 400


def test_an_infinite_learning_rate_or_timeout_is_refused():
    for key, section in (("learning_rate", "train"), ("worker_timeout", "search")):
        for value in (float("inf"), float("nan")):
            with pytest.raises(
                ConfigError, match=f"Invalid `{section}.{key}`: expected a positive \\(finite\\) number"
            ):
                config.resolve({section: {key: value}})
    assert config.yaml_load("lr: .inf")["lr"] == float("inf")  # YAML reads it; the rule refuses it
