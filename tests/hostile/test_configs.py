"""Catalogue: config files given to ``trainer.pretrain --config``: the demo config, damaged. Each stops the
command before anything is built, with one line naming the file (and the line, where YAML knows it)."""
from pathlib import Path

from hostile.outcomes import assert_failed_cleanly
from trainer.pretrain import main as pretrain_main

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo_tiny_wae.yaml"


def _pretrain(config: Path, tmp_path: Path) -> int:
    return pretrain_main(["--config", str(config), f"output_dir={tmp_path / 'run'}"])


def test_config_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "utf16.yaml"
    path.write_bytes(DEMO.read_text(encoding="utf-8").encode("utf-16"))  # as Windows editors save "Unicode"
    assert_failed_cleanly(_pretrain(path, tmp_path), capsys.readouterr().err, str(path), "is not UTF-8")
    assert not (tmp_path / "run").exists()


def test_config_with_a_yaml_syntax_error(tmp_path, capsys):
    lines = DEMO.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if line.startswith("model:"))
    lines.insert(at + 1, "  name_or_path: [unclosed\n")
    path = tmp_path / "broken.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    assert_failed_cleanly(_pretrain(path, tmp_path), capsys.readouterr().err, f"{path}:", "not valid YAML")
    assert not (tmp_path / "run").exists()
