"""Outputs never clobber: `conformance run` writes to its own default folder, not the published
reports/, and refuses a non-empty --out that holds no earlier run's output unless --force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.errors import EXIT_UNCHECKED, EXIT_USAGE
from conformance.report.publish import publish
from conformance.run import runner
from conformance.run.cli import build_parser, main
from conformance.run.options import RunOptions
from tests.report_samples import sample_backend_report


@pytest.fixture
def no_backends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`conformance run` with loading stubbed out: what reached the point of loading backends."""
    loaded: list[str] = []

    def load_backends(options: RunOptions) -> tuple[list[Any], None]:
        loaded.append(str(options.out_dir))
        return [], None

    monkeypatch.setattr(runner, "load_backends", load_backends)
    return loaded


def test_the_default_output_folder_is_not_the_published_reports() -> None:
    options = RunOptions.from_args(build_parser().parse_args(["run"]))
    assert options.out_dir == Path("conformance-reports")
    assert RunOptions(backends=[]).out_dir == Path("conformance-reports")
    ignored = (Path(__file__).resolve().parent.parent / ".gitignore").read_text().split()
    assert "/conformance-reports/" in ignored


def test_a_foreign_non_empty_folder_is_refused_before_any_backend_runs(
    tmp_path: Path, no_backends: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["run", "--backend", "reference", "--out", str(tmp_path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and str(tmp_path) in err
    assert no_backends == []  # refused before loading any backend
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert notes.read_text() == "mine"


def test_force_writes_into_a_foreign_folder(tmp_path: Path, no_backends: list[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    # No backend loaded (stubbed): nothing was checked, so exit 4, but the folder was accepted.
    assert main(["run", "--force", "--out", str(tmp_path)]) == EXIT_UNCHECKED
    assert no_backends == [str(tmp_path)]
    assert (tmp_path / runner.MARKER).is_file()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_earlier_output_is_written_into_again(tmp_path: Path, no_backends: list[str]) -> None:
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / runner.MARKER).write_text("")
    (marked / "index.html").write_text("<p>an earlier matrix</p>")
    published = tmp_path / "published"  # what `tox -e reports` leaves: reports, no marker
    publish(sample_backend_report(), published)
    assert not (published / runner.MARKER).exists()
    for folder in (marked, published, tmp_path / "new", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        assert main(["run", "--out", str(folder)]) == EXIT_UNCHECKED
        assert (folder / runner.MARKER).is_file()
    assert no_backends == [str(marked), str(published), str(tmp_path / "new"),
                           str(tmp_path / "empty")]  # fmt: skip


def test_a_json_file_that_is_no_report_does_not_make_a_folder_an_output(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text('{"schema_version": 1}')
    assert not runner.earlier_output(tmp_path)
    with pytest.raises(runner.UsageError, match="non-empty folder"):
        runner.check_out_dir(tmp_path, force=False)
    runner.check_out_dir(tmp_path, force=True)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--out", "a-file/below"], "a-file is a file"),
        (["--out", "a-file"], "is not a directory"),
        (["--db", "a-file"], "--db a-file is a file"),
    ],
)
def test_an_impossible_output_is_refused_before_any_backend_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_backends: list[str],
    args: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    assert main(["run", "--backend", "reference", *args]) == EXIT_USAGE
    assert words in capsys.readouterr().err
    assert no_backends == []


def test_matrix_refuses_a_foreign_folder_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "run"
    publish(sample_backend_report([]), report)
    json_report = next(report.glob("*.json"))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "index.html").write_text("my page\n")
    assert main(["matrix", str(json_report), "--out", str(foreign)]) == EXIT_USAGE
    assert "pass --force" in capsys.readouterr().err
    assert (foreign / "index.html").read_text() == "my page\n"
    assert main(["matrix", str(json_report), "--out", str(foreign), "--force"]) == 0
    assert (foreign / "matrix.md").is_file()
