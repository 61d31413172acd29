"""``python -m fastlr.recsys`` end to end in --quick mode on synthetic data (no network)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastlr.recsys.cli import build_parser, main


SMALL = ["--data", "synthetic", "--n-users", "300", "--n-items", "200", "--n-interactions", "8000",
         "--no-progress"]


def test_quick_run_writes_results_and_plots(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--quick", *SMALL, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "popularity" in text and "NDCG@10" in text and "opt speed-up" in text
    results = json.loads((out / "results.json").read_text())
    labels = {(r["optimizer"], r["schedule"], r["backend"]) for r in results["rows"]}
    assert ("popularity", "-", "-") in labels
    assert {("sgd", "constant", "fastlr"), ("adagrad", "constant", "fastlr"), ("adam", "constant", "fastlr"),
            ("sgd", "constant", "numpy")} <= labels
    assert any(s == "cosine" for _, s, _ in labels)
    summary = results["summary"]
    assert set(summary["speedup"]) == {"sgd", "adagrad", "adam"}
    assert summary["ndcg_vs_popularity"]["n_seeds"] == 1
    for run in results["runs"]:
        assert len(run["history"]) == 3 and run["config"]["dim"] == 16
    if importlib.util.find_spec("matplotlib") is None:
        return  # plots are optional: fastlr[plot]
    for png in ("val_ndcg.png", "lr_curves.png", "time_split.png"):
        assert (out / png).stat().st_size > 1000
    assert (out / "table.md").read_text().startswith("| optimizer")


def test_seeds_give_mean_and_std(tmp_path):
    out = tmp_path / "seeds"
    assert main(["--quick", *SMALL, "--out", str(out), "--seeds", "2", "--optimizers", "adagrad",
                 "--schedules", "constant", "--no-reference", "--no-plots"]) == 0
    results = json.loads((out / "results.json").read_text())
    row = next(r for r in results["rows"] if r["optimizer"] == "adagrad")
    assert len(row["ndcg"]) == 2 and row["ndcg"][0] != row["ndcg"][1]
    assert results["summary"]["ndcg_vs_popularity"]["n_seeds"] == 2
    assert not (out / "val_ndcg.png").exists()


def test_module_entry_point_runs(tmp_path):
    import fastlr

    # from a neutral folder, with the fastlr under test first on the path (installed or built in place)
    env = {**os.environ, "PYTHONPATH": str(Path(fastlr.__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-m", "fastlr.recsys", "--quick", *SMALL, "--optimizers", "sgd",
                           "--schedules", "constant", "--no-plots", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results.json").is_file()


@pytest.mark.parametrize("argv", [["--optimizers", "lbfgs"], ["--schedules", "linear,cosine"],
                                  ["--epochs", "0"], ["--data", "ml-1m"], ["--dim", "2.5"]])
def test_bad_options_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(argv)
    assert err.value.code == 2
    assert "error" in capsys.readouterr().err


def test_all_keyword_and_names():
    args = build_parser().parse_args(["--optimizers", "all", "--schedules", "warmup-cosine,plateau"])
    assert "rowwise_adagrad" in args.optimizers and args.schedules == ["warmup_cosine", "plateau"]


def test_missing_local_file_is_a_clear_error(tmp_path, capsys):
    assert main(["--data-path", str(tmp_path / "u.data"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_data_path_needs_movielens(capsys):
    with pytest.raises(SystemExit):
        main(["--data", "synthetic", "--data-path", "x"])


def test_scale_mode_small_sizes(tmp_path, capsys):
    out = tmp_path / "scale"
    assert main(["--scale", "--scale-sizes", "20000,50000", "--dim", "8", "--epochs", "2", "--no-progress",
                 "--out", str(out)]) == 0
    results = json.loads((out / "scale_fixed.json").read_text())
    rows = results["scale"]
    assert [r["n_interactions"] for r in rows] == [20000, 50000]
    # fixed shape: the model of the largest size for every size
    assert {(r["n_users"], r["n_items"]) for r in rows} == {(500, 250)}
    assert all(r["interactions_per_s"] > 0 and r["peak_rss_mib"] > 0 for r in rows)
    assert "throughput max/min ratio" in capsys.readouterr().out
