"""Third-party noise goes to debug logging inside ``third_party_quiet``; our own warnings still show."""

import logging
import warnings

from onnx_pipelines.quiet import NOISE_LOGGER, is_third_party, third_party_quiet

TORCH_FILE = "/venv/lib/python3.11/site-packages/torch/jit/_trace.py"
OUR_FILE = "/src/onnx_pipelines/export.py"


def test_third_party_warnings_go_to_debug_and_ours_still_show(caplog):
    caplog.set_level(logging.DEBUG, logger=NOISE_LOGGER)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with third_party_quiet():
            warnings.warn_explicit("torch.tensor results are registered as constants", UserWarning, TORCH_FILE, 1)
            warnings.warn_explicit("this setting is ignored", UserWarning, OUR_FILE, 2)
        warnings.warn_explicit("outside the block", UserWarning, TORCH_FILE, 3)
    # ours, and anything raised outside the block, still reach the user
    assert [str(w.message) for w in caught] == ["this setting is ignored", "outside the block"]
    noise = [r.getMessage() for r in caplog.records if r.name == NOISE_LOGGER]
    assert len(noise) == 1 and "registered as constants" in noise[0] and noise[0].startswith("UserWarning")


def test_library_log_records_go_to_debug_errors_still_pass_and_handlers_come_back(caplog):
    import transformers  # noqa: F401  (installs transformers' own stderr handler)

    library = logging.getLogger("transformers")
    before = (list(library.handlers), library.propagate)
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    keep = Keep()
    library.addHandler(keep)
    caplog.set_level(logging.DEBUG, logger=NOISE_LOGGER)
    try:
        with third_party_quiet():
            logging.getLogger("transformers.pipelines.base").warning("Device set to use cpu")
            logging.getLogger("transformers.modeling_utils").error("real trouble")
        logging.getLogger("transformers.pipelines.base").warning("after the block")
    finally:
        library.removeHandler(keep)
    assert seen == ["real trouble", "after the block"]
    assert [r.getMessage() for r in caplog.records if r.name == NOISE_LOGGER] == [
        "transformers.pipelines.base: Device set to use cpu"
    ]
    assert (list(library.handlers), library.propagate) == before


def test_is_third_party():
    assert is_third_party(TORCH_FILE)
    assert is_third_party("/venv/lib/site-packages/optimum/exporters/onnx/convert.py")
    assert not is_third_party(OUR_FILE)
    assert not is_third_party("/home/me/script.py")
