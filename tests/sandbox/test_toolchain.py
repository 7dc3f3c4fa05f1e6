"""Toolchain recipes and the build cache: keyed by pins, a warm cache builds nothing, one pin rebuilds one tool."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelplane.sandbox import toolchain
from modelplane.sandbox.toolchain import Toolchain, load_pins, recipes

STAGING = ["k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go"]


class RecordingGo:
    """Stands in for the `go` command in cache tests: records each call and writes the outputs a build would."""

    def __init__(self, module_root: Path) -> None:
        self.calls: list[list[str]] = []
        self.module_root = module_root

    def run(self, args: list[str], cwd: Path) -> str:
        self.calls.append(args)
        if args[0] == "build":
            output = Path(args[args.index("-o") + 1])
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text("binary")
        return ""

    def module_dir(self, spec: str, cwd: Path) -> Path:
        self.calls.append(["mod", "download", spec])
        root = self.module_root / spec
        (root / "cmd/pulumi-resource-kubernetes").mkdir(parents=True, exist_ok=True)
        (root / "cmd/pulumi-resource-kubernetes/schema.json").write_text('{"name": "kubernetes"}')
        (root / "cmd/pulumi-resource-kubernetes/terraform-mapping.json").write_text("{}")
        (root / "python/cmd").mkdir(parents=True, exist_ok=True)
        (root / "python/cmd/pulumi-language-python-exec").write_text("#!/usr/bin/env python\n")
        return root

    def staging_modules(self, version: str, cwd: Path) -> list[str]:
        self.calls.append(["staging", version])
        return STAGING


def pins_file(tmp_path: Path, **changes: str) -> Path:
    text = toolchain.PINS_FILE.read_text()
    for table, version in changes.items():
        text = re.sub(rf'(\[{table}\]\n(?:#.*\n)*version = )"[^"]+"', rf'\1"{version}"', text)
    path = tmp_path / "pins.toml"
    path.write_text(text)
    return path


def test_every_pin_lives_in_the_one_file_and_names_a_version() -> None:
    pins = load_pins()
    assert set(pins) == {"pulumi", "pulumi-language-python", "pulumi-kubernetes", "kubernetes", "etcd", "kwok"}
    assert pins["kubernetes"]["version"].startswith("v1.34.")
    assert pins["etcd"]["version"].startswith("v3.6.")


def test_recipes_set_honest_version_strings() -> None:
    pins = load_pins()
    by_name = {recipe.name: recipe for recipe in recipes(pins, lambda _v: STAGING)}
    assert f"version.Version={pins['pulumi']['version']}" in " ".join(by_name["pulumi"].ldflags)
    kube = " ".join(by_name["kubernetes"].ldflags)
    assert f"k8s.io/component-base/version.gitVersion={pins['kubernetes']['version']}" in kube
    assert "k8s.io/client-go/pkg/version.gitMinor=34" in kube
    provider = " ".join(by_name["pulumi-resource-kubernetes"].ldflags)
    assert f"pkg/version.Version={pins['pulumi-kubernetes']['version']}" in provider


def test_kubernetes_module_replaces_each_staging_module_with_its_published_version() -> None:
    (kube,) = [r for r in recipes(load_pins(), lambda _v: STAGING) if r.name == "kubernetes"]
    version = load_pins()["kubernetes"]["version"]
    published = "v0." + version.removeprefix("v1.")
    for module in STAGING:
        assert f"\t{module} => {module} {published}" in kube.go_mod
    assert f"\tk8s.io/kubernetes {version}" in kube.go_mod
    assert sorted(kube.packages) == ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]


def test_pulumi_cli_module_repeats_the_clipboard_replace() -> None:
    (cli,) = [r for r in recipes(load_pins(), lambda _v: STAGING) if r.name == "pulumi"]
    assert "github.com/atotto/clipboard => github.com/tgummerer/clipboard" in cli.go_mod


def build(tmp_path: Path, pins: Path) -> tuple[Path, RecordingGo]:
    go = RecordingGo(tmp_path / "modules")
    chain = Toolchain(tmp_path / "tools", pins, go=go)  # type: ignore[arg-type]
    chain.staging = lambda version, offline=False: STAGING  # type: ignore[method-assign]
    lines: list[str] = []
    return chain.build_all(lines.append), go


def test_a_warm_cache_builds_nothing_and_links_one_bin_directory(tmp_path: Path) -> None:
    pins = pins_file(tmp_path)
    bin_dir, cold = build(tmp_path, pins)
    builds = [call for call in cold.calls if call[0] == "build"]
    assert len(builds) == 9  # pulumi, language host, provider, 4 Kubernetes binaries, etcd, kwok
    assert sorted(path.name for path in bin_dir.iterdir()) == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "kwok",
        "pulumi",
        "pulumi-language-python",
        "pulumi-language-python-exec",
        "pulumi-resource-kubernetes",
    ]
    again, warm = build(tmp_path, pins)
    assert again == bin_dir
    assert warm.calls == []


def test_a_changed_pin_rebuilds_only_that_tool(tmp_path: Path) -> None:
    _, _ = build(tmp_path, pins_file(tmp_path))
    bin_dir, go = build(tmp_path, pins_file(tmp_path, etcd="v3.6.15"))
    built = [Path(call[call.index("-o") + 1]).name for call in go.calls if call[0] == "build"]
    assert built == ["etcd"]
    assert (bin_dir / "etcd").is_file() and (bin_dir / "pulumi").is_file()


def test_the_provider_embeds_its_schema_with_the_pinned_version(tmp_path: Path) -> None:
    build(tmp_path, pins_file(tmp_path))
    (built,) = (tmp_path / "tools" / "builds").glob("pulumi-resource-kubernetes-*")
    schema = json.loads((built / "schema-embed.json").read_text())
    assert schema["version"] == load_pins()["pulumi-kubernetes"]["version"]
    assert (built / "main.go").read_text().startswith("package main")


def test_installed_bin_is_none_until_built(tmp_path: Path) -> None:
    chain = Toolchain(tmp_path / "tools", pins_file(tmp_path))
    assert chain.installed_bin() is None


def test_a_failed_build_leaves_no_build_directory(tmp_path: Path) -> None:
    class FailingGo(RecordingGo):
        def run(self, args: list[str], cwd: Path) -> str:
            if args[0] == "build":
                raise toolchain.ToolchainError("go build failed")
            return super().run(args, cwd)

    chain = Toolchain(tmp_path / "tools", pins_file(tmp_path), go=FailingGo(tmp_path / "m"))  # type: ignore[arg-type]
    chain.staging = lambda version, offline=False: STAGING  # type: ignore[method-assign]
    with pytest.raises(toolchain.ToolchainError):
        chain.build_all(lambda _line: None)
    assert list((tmp_path / "tools" / "builds").iterdir()) == []
