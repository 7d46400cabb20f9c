"""The expected-failures manifest: parsing, validation, and its effect on verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.errors import UsageError
from conformance.judge.manifest import EXPECTED, OPT_OUT, load_manifest, parse_manifest
from conformance.run.cli import main
from tests.crashing_adapters import FAKE_REQUIREMENTS, use_fake_catalogue
from tests.report_samples import record, sample_records, sample_report

ROOT = Path(__file__).resolve().parent.parent
KNOWN = [r.id for r in FAKE_REQUIREMENTS]
DOUBLED = "tests.crashing_adapters:DoubledGradientAdapter"


def manifest(text: str) -> object:
    return parse_manifest(text, "expect.toml", KNOWN)


def by_id(report: dict) -> dict:
    return {r["id"]: r for r in report["requirements"]}


def test_parses_both_kinds_with_links_and_backends() -> None:
    parsed = manifest(
        """
        [[expected-failure]]
        requirement = "FAKE-002"
        reason = "doubles gradients"
        link = "https://example.org/issues/1"
        backends = ["torch"]

        [[opt-out]]
        test = "suite.py::test_product"
        reason = "slow"
        """
    )
    first, second = parsed.entries
    assert (first.kind, first.requirement, first.link, first.backends) == (
        EXPECTED, "FAKE-002", "https://example.org/issues/1", ("torch",),
    )  # fmt: skip
    assert (second.kind, second.test, second.reason) == (OPT_OUT, "suite.py::test_product", "slow")
    assert first.applies_to("torch:cpu") and first.applies_to("torch:cuda")
    assert not first.applies_to("reference:cpu")
    assert parsed.for_backend("reference:cpu").entries == (second,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[expected-failure]\nreason = 1", "is not valid TOML"),
        ('[[expected-failure]]\nrequirement = "NOPE-9"\nreason = "x"', "unknown requirement id"),
        ('[[expected-failure]]\nrequirement = "FAKE-001"', "needs a reason"),
        ('[[expected-failure]]\nreason = "x"', "exactly one of"),
        ('[[expected-failure]]\nrequirement = "FAKE-001"\ntest = "t"\nreason = "x"', "exactly one"),
        ('[[expected-failure]]\nrequirement = "FAKE-001"\nreason = "x"\nwhy = 1', "unknown key"),
        ('[[xfail]]\nrequirement = "FAKE-001"\nreason = "x"', "unknown key(s) 'xfail'"),
        ('[[opt-out]]\ntest = ""\nreason = "x"', "non-empty string"),
        ('[[opt-out]]\ntest = "t"\nreason = "x"\nbackends = "torch"', "backends must be a list"),
        ("expected-failure = 3", "array of tables"),
        (
            '[[expected-failure]]\nrequirement = "FAKE-001"\nreason = "a"\n'
            '[[expected-failure]]\nrequirement = "FAKE-001"\nreason = "b"',
            "duplicate entries for FAKE-001",
        ),
    ],
)
def test_bad_manifests_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        manifest(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read manifest"):
        load_manifest(tmp_path / "absent.toml", KNOWN)


def test_expected_failure_of_a_requirement_is_xfail_and_not_passed() -> None:
    parsed = manifest('[[expected-failure]]\nrequirement = "FAKE-002"\nreason = "known bug"')
    report = sample_report(manifest=parsed)
    fake2 = by_id(report)["FAKE-002"]
    assert fake2["status"] == "xfail"
    assert fake2["expectation"]["reason"] == "known bug"
    assert fake2["message"].startswith("expected failure (known bug):")
    summary = report["summary"]
    assert summary["conforms"] is True
    assert summary["requirements"]["passed"] == 2
    assert summary["pass_rate"] == pytest.approx(2 / 3, abs=1e-6)  # the xfail is not a pass
    assert report["expectations"]["stale"] == []


def test_unexpected_pass_and_stale_entries_are_reported() -> None:
    parsed = manifest(
        '[[expected-failure]]\nrequirement = "FAKE-001"\nreason = "fixed since"\n'
        '[[expected-failure]]\nrequirement = "FAKE-003"\nreason = "n/a anyway"\n'
        '[[expected-failure]]\ntest = "suite.py::test_gone"\nreason = "removed test"\n'
        '[[opt-out]]\ntest = "suite.py::test_also_gone"\nreason = "slow"'
    )
    report = sample_report(manifest=parsed)
    assert by_id(report)["FAKE-001"]["status"] == "xpass"
    assert by_id(report)["FAKE-003"]["status"] == "not-applicable"
    expectations = report["expectations"]
    assert expectations["unexpected_passes"] == ["FAKE-001"]
    why = {e.get("requirement") or e.get("test"): e["why"] for e in expectations["stale"]}
    assert why == {
        "FAKE-001": "passed (unexpected pass)",
        "FAKE-003": "was not-applicable, not a failure",
        "suite.py::test_gone": "matched no test that ran",
        "suite.py::test_also_gone": "matched no test",
    }
    # An unexpected pass passed: it is no failure and counts towards the pass rate.
    assert report["summary"]["requirements"]["xpass"] == 1


def test_selection_narrows_stale_reporting() -> None:
    parsed = manifest(
        '[[expected-failure]]\nrequirement = "FAKE-004"\nreason = "x"\n'
        '[[expected-failure]]\ntest = "suite.py::test_elsewhere"\nreason = "y"'
    )
    records = sample_records()[:1]
    report = sample_report(records, manifest=parsed, selection=["FAKE-001"])
    assert report["expectations"]["stale"] == []


def test_expected_failure_of_one_test() -> None:
    parsed = manifest('[[expected-failure]]\ntest = "suite.py::test_gradients"\nreason = "x"')
    report = sample_report(manifest=parsed)
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert tests["suite.py::test_gradients"]["status"] == "xfail"
    assert tests["suite.py::test_gradients"]["expectation"]["reason"] == "x"
    assert by_id(report)["FAKE-002"]["status"] == "xfail"
    assert report["summary"]["conforms"] is True


def test_parametrized_test_ids_match_by_prefix() -> None:
    parsed = manifest('[[expected-failure]]\ntest = "suite.py::test_p"\nreason = "x"')
    records = [record("suite.py::test_p[float32]", "FAKE-001", "failed", message="m")]
    report = sample_report(records, manifest=parsed, selection=["FAKE-001"])
    assert report["tests"][0]["status"] == "xfail"


# -- through the CLI and a worker ---------------------------------------------------------------
@pytest.fixture
def fake_suite(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    use_fake_catalogue(monkeypatch)
    monkeypatch.chdir(ROOT)
    return ["--suite", "tests/fake_suite.py"]


def test_run_with_expected_failures_and_an_opt_out_exits_0(
    fake_suite: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expect = tmp_path / "expect.toml"
    expect.write_text(
        f'[[expected-failure]]\nrequirement = "FAKE-002"\nreason = "doubles"\n'
        f'backends = ["{DOUBLED}"]\n'
        f'[[opt-out]]\ntest = "tests/fake_suite.py::test_product_rule"\nreason = "not today"\n'
    )
    out = tmp_path / "out"
    code = main(
        ["run", *fake_suite, "--backend", DOUBLED, "--expect", str(expect), "--out", str(out)]
    )
    assert code == 0, capsys.readouterr()
    report = json.loads(
        (out / "tests.crashing_adapters.DoubledGradientAdapter-cpu.json").read_text()
    )
    reqs = by_id(report)
    assert reqs["FAKE-002"]["status"] == "xfail"
    assert reqs["FAKE-004"]["status"] == "skipped"
    assert reqs["FAKE-004"]["message"] == "opted out: not today"
    assert reqs["FAKE-001"]["status"] == "passed"
    assert report["summary"]["requirements"]["passed"] == 1


def test_run_with_a_bad_manifest_exits_2_and_writes_nothing(
    fake_suite: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    for text in ('[[expected-failure]]\nrequirement = "LEAF-999"\nreason = "x"', "[[oops"):
        expect = tmp_path / "expect.toml"
        expect.write_text(text)
        code = main(
            [
                "run",
                *fake_suite,
                "--backend",
                "reference",
                "--expect",
                str(expect),
                "--out",
                str(out),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("conformance: error: manifest ") and err.count("\n") == 1
        assert not out.exists()
