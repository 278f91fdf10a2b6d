"""The HTML report: every section present, nothing fetched from the network, renders in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import samplescope as ss
from samplescope.report import SECTIONS, build_report, write_report
from samplescope.select import SelectionReport

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I), "external URL"
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html, re.I)
    assert "<script" not in html.lower()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The full report on a small ranking-free binary problem with ids."""
    rng = np.random.default_rng(0)
    n, m = 400, 150
    X = rng.normal(size=(n + m, 4))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n + m) > 0).astype(float)
    train = ss.from_arrays(X[:n], y[:n], ids=np.array([f"item{i:04d}" for i in range(n)]), name="train.csv")
    valid = ss.from_arrays(X[n:], y[n:], name="valid.csv")
    model = ss.fit_model("logistic", train)
    path = tmp_path_factory.mktemp("report") / "report.html"
    out = build_report(path, model, train, valid, goal="noise", budget_s=20, max_seconds=10,
                       methods=["influence", "newton_loo", "tracin"])
    return path, out, train


def test_full_report_has_every_section_and_no_external_urls(built):
    path, out, train = built
    html = path.read_text(encoding="utf-8")
    for sec in SECTIONS:
        assert f'id="{sec}"' in html, sec
    _assert_self_contained(html)
    sel = out["selection"]
    assert sel.recommendation and sel.recommendation in html
    assert html.count("<svg") >= len(out["results"]) + 2  # distributions, cost bars, removal curves
    assert "item0" in html  # top rows show the dataset's ids
    assert "Optional section" not in html and "supports" in html  # explanations from the explain action
    assert np.isfinite(sel.table.loc[sel.recommendation, "full_seconds"])  # measured next to the prediction
    from markupsafe import escape

    for reason in sel.reasons:
        assert str(escape(reason)) in html


def test_report_without_selection_still_has_every_section(tmp_path, binary):
    train, valid = binary
    res = ss.score("self_loss", ss.fit_model("logistic", train), train)
    path = write_report(tmp_path / "r.html", train=train, results=[res], title="plain")
    html = path.read_text(encoding="utf-8")
    for sec in SECTIONS:
        assert f'id="{sec}"' in html, sec
    _assert_self_contained(html)
    assert "samplescope select" in html  # says how to get the missing sections


def test_selection_to_html_and_ranking_distributions(tmp_path, built):
    _, out, _ = built
    sel = SelectionReport.from_json(out["selection"].to_json())
    html = sel.to_html(tmp_path / "s.html").read_text(encoding="utf-8")
    assert all(f'id="{sec}"' in html for sec in SECTIONS) and 'id="recommendation"' in html
    # per-query boxes for grouped data
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(12), 5)
    train = ss.from_arrays(rng.normal(size=(60, 3)), rng.integers(0, 2, 60).astype(float), group=g)
    res = ss.score("self_loss", ss.fit_model("logistic", train), train)
    html = write_report(tmp_path / "q.html", train=train, results=[res]).read_text(encoding="utf-8")
    assert "per query (12 largest of 12)" in html


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(built):
    path, _, _ = built
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as shots:
        png = Path(shots) / "report.png"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,4000", path.as_uri()]
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        assert png.exists(), "chromium wrote no screenshot"
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a page with content, not a blank one


def test_cli_report_reuses_a_selection(tmp_path, built):
    import pandas as pd
    from typer.testing import CliRunner

    from samplescope.cli import app

    _, out, train = built
    df = pd.DataFrame(train.X, columns=list("abcd"))
    df["y"], df["id"] = train.y.astype(int), train.row_ids
    df.to_csv(tmp_path / "train.csv", index=False)
    runner = CliRunner()
    base = ["report", str(tmp_path / "train.csv"), "--label", "y", "--id", "id", "--model", "logistic",
            "--explain", "0", "--out", str(tmp_path / "r.html")]
    same = SelectionReport.from_json(out["selection"].to_json())  # the same rows, read back from CSV
    same.to_json(tmp_path / "sel.json")
    res = runner.invoke(app, [*base, "--selection", str(tmp_path / "sel.json")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert all(f'id="{sec}"' in html for sec in SECTIONS) and same.recommendation in html
    same.dataset["fingerprint"] = "0" * 16
    same.to_json(tmp_path / "other.json")
    res = runner.invoke(app, [*base, "--selection", str(tmp_path / "other.json")])
    assert res.exit_code == 2 and "measured on other training data" in res.output
