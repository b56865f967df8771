"""hasuite.drivers.k8s.images.official: the official stack's Go pieces, built (or refused, why)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from hasuite.drivers.k8s.images import gobuild, official
from hasuite.drivers.k8s.images.build import BuildError, BuildSettings

from .conftest import ROOT


def test_every_piece_says_what_plays_its_role_and_is_built_or_blocked() -> None:
    pieces = {p.name: p for p in official.load_pieces(ROOT)}
    assert {"postgres-operator", "prometheus-operator", "traefik", "cert-manager"} <= set(pieces)
    for p in pieces.values():
        assert p.role and p.instead, p.name
        assert (p.build is None) == bool(p.blocked), p.name  # one or the other
    built = [p for p in pieces.values() if p.build is not None]
    assert all(p.build.in_module and p.build.version.startswith("v") for p in built if p.build)
    assert "AGPL" in pieces["loki"].blocked and "AGPL" in pieces["grafana"].blocked


def test_a_failed_build_is_kept_and_the_next_piece_still_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_build(spec: gobuild.GoBuild, *, settings: BuildSettings, progress: Any) -> Path:
        if spec.name == "official-bad":
            raise BuildError("official-bad: go build ./cmd failed (exit 1): undefined: x")
        out = settings.cache / spec.name / "bin"
        out.mkdir(parents=True)
        (out / spec.programs[0][0]).write_bytes(b"\0" * 2**20)
        (out.parent / "build-times.json").write_text(json.dumps({"total_s": 42.5}))
        return out

    monkeypatch.setattr(official, "build_go", fake_build)
    monkeypatch.setattr(official, "cached_build", lambda spec, settings: None)

    def piece(name: str, **kw: Any) -> official.Piece:
        build = gobuild.GoBuild(
            name=f"official-{name}", module="m", version="v1", programs=((name, "."),)
        )
        return official.Piece(name=name, role="r", instead="i", **({"build": build} | kw))

    outcomes = official.measure(
        [piece("bad"), piece("good"), piece("gone", build=None, blocked="not served")],
        settings=BuildSettings(cache=tmp_path),
        progress=lambda _: None,
    )
    assert [(o.name, o.status) for o in outcomes] == [
        ("bad", "failed"),
        ("good", "built"),
        ("gone", "blocked"),
    ]
    assert "undefined: x" in outcomes[0].detail
    assert outcomes[1].seconds == 42.5 and "1 MiB" in outcomes[1].detail
    assert outcomes[2].detail == "not served"


def test_an_unknown_piece_is_refused_with_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert official.main(["no-such-piece"], {}) == 2
    err = capsys.readouterr().err
    assert "no-such-piece" in err and "traefik" in err


def test_a_module_is_built_in_a_writable_copy_of_its_own_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module cache is read-only: the build works in a copy, with the module's go.mod."""
    source = tmp_path / "modcache" / "example.com" / "tool@v1.0.0"
    (source / "cmd").mkdir(parents=True)
    (source / "go.mod").write_text("module example.com/tool\n\nreplace x => ./x\n")
    (source / "cmd" / "main.go").write_text("package main\n")
    for path in [*source.rglob("*"), source]:
        path.chmod(stat.S_IRUSR | (stat.S_IXUSR if path.is_dir() else 0))
    calls: list[list[str]] = []

    def fake_step(argv: list[str], **kw: Any) -> str:
        calls.append(argv)
        if argv[:3] == ["go", "mod", "download"]:
            assert "GOFLAGS" not in kw["env"]  # outside a module
        return json.dumps({"Path": "example.com/tool", "Dir": str(source)})

    monkeypatch.setattr(gobuild, "run_step", fake_step)
    spec = gobuild.GoBuild(
        name="tool",
        module="example.com/tool",
        version="v1.0.0",
        programs=(("tool", "./cmd"),),
        in_module=True,
    )
    mod = tmp_path / "work" / "mod"
    mod.parent.mkdir()
    gobuild._module_source(spec, mod, {"GOFLAGS": "-mod=mod"}, lambda _: None)
    assert calls == [
        ["go", "mod", "download", "-json", "example.com/tool@v1.0.0"],
        ["go", "mod", "edit", "-dropreplace=x"],  # ./x is not in the zip
    ]
    assert "replace x => ./x" in (mod / "go.mod").read_text()  # its own go.mod, copied
    (mod / "cmd" / "main.go").write_text("package main // writable\n")
    assert spec.key("go1.26") != gobuild.GoBuild(**{**spec.__dict__, "in_module": False}).key(
        "go1.26"
    )
    for path in [*source.rglob("*"), source]:
        path.chmod(0o755)


def test_a_source_folder_that_is_not_named_is_a_clear_build_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobuild, "run_step", lambda argv, **kw: '{"Error": "403"}')
    spec = gobuild.GoBuild(name="t", module="m", version="v1", programs=(), in_module=True)
    with pytest.raises(BuildError, match="t: go mod download m@v1 named no source folder"):
        gobuild._module_source(spec, tmp_path / "mod", {}, lambda _: None)


def test_a_nested_module_missing_from_the_zip_is_built_at_its_published_version(
    tmp_path: Path,
) -> None:
    """prometheus-operator's go.mod replaces its nested modules with folders that are not in
    the module's zip: those replaces are dropped (go.mod requires the published versions)."""
    (tmp_path / "pkg" / "here").mkdir(parents=True)
    (tmp_path / "go.mod").write_text(
        "module example.com/op\n\nrequire example.com/op/pkg/client v1.0.0\n\n"
        "replace (\n\texample.com/op/pkg/client => ./pkg/client\n"
        "\texample.com/op/pkg/here => ./pkg/here\n)\n"
        "replace example.com/fork => example.com/other v1.2.3\n"
    )
    assert gobuild._missing_local_replaces(tmp_path) == ["example.com/op/pkg/client"]
