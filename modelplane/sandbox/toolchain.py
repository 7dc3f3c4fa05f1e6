"""The sandbox toolchain: the real Pulumi CLI, its Python language host, the Kubernetes provider plugin, etcd,
the Kubernetes control plane and kwok, built from their Go modules with the `go` command and cached by pins.

Each tool is built in a module of our own (a `go.mod` that requires the tool's module at its pin, plus the replaces
the upstream go.mod cannot carry over), in `builds/<tool>-<key>/` under the cache root; its key hashes the recipe,
so a changed pin rebuilds that tool only. `<root>/<pins key>/bin` links every tool's binaries together: that
directory goes first on PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PINS_FILE = Path(__file__).with_name("pins.toml")
# Bumped when a recipe changes in a way the pins do not show (flags, generated files).
RECIPE_VERSION = "1"
TOOLS_DIR_ENV = "MODELPLANE_TOOLS_DIR"


class ToolchainError(Exception):
    """The toolchain cannot be built or found; the message says what to do."""


@dataclass(frozen=True)
class Recipe:
    """How to build one tool: the module of our own, the main packages and where each binary goes."""

    name: str
    go_mod: str
    packages: Mapping[str, str]  # output binary name -> main package
    ldflags: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)  # Go files of the build module itself
    pinned: Mapping[str, str] = field(default_factory=dict)  # pins used outside go.mod (part of the key)
    prepare: Callable[[Path, Callable[[str], Path]], None] | None = None  # (build dir, module dir lookup)
    extras: tuple[str, ...] = ()  # non-Go files `prepare` puts in bin/ beside the binaries

    @property
    def outputs(self) -> tuple[str, ...]:
        return (*self.packages, *self.extras)

    def key(self) -> str:
        material = json.dumps(
            [
                RECIPE_VERSION,
                self.name,
                self.go_mod,
                dict(self.packages),
                self.ldflags,
                dict(self.sources),
                dict(self.pinned),
                self.extras,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]


def load_pins(path: Path = PINS_FILE) -> dict[str, dict[str, str]]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _go_mod(module: str, go: str, requires: Mapping[str, str], replaces: Mapping[str, str] = {}) -> str:
    lines = [f"module modelplane.local/toolchain/{module}", "", f"go {go}", ""]
    lines += ["require (", *(f"\t{path} {version}" for path, version in sorted(requires.items())), ")", ""]
    if replaces:
        lines += ["replace (", *(f"\t{path} => {target}" for path, target in sorted(replaces.items())), ")", ""]
    return "\n".join(lines)


def _version_flag(variable: str, value: str) -> str:
    return f"-X {variable}={value}"


_PULUMI_VERSION_VAR = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
# pulumi/pkg's go.mod replaces atotto/clipboard with a fork; a dependent module must repeat it.
_CLIPBOARD = {"github.com/atotto/clipboard": "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"}


def pulumi_cli(pins: Mapping[str, Any]) -> Recipe:
    version = pins["pulumi"]["version"]
    requires = {"github.com/pulumi/pulumi/pkg/v3": version, "github.com/pulumi/pulumi/sdk/v3": version}
    return Recipe(
        "pulumi",
        _go_mod("pulumi", "1.26.6", requires, _CLIPBOARD),
        {"pulumi": "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"},
        (_version_flag(_PULUMI_VERSION_VAR, version),),
    )


def language_python(pins: Mapping[str, Any]) -> Recipe:
    sdk, script_sdk = pins["pulumi-language-python"]["sdk"], pins["pulumi-language-python"]["exec-script-sdk"]

    def prepare(build: Path, module_dir: Callable[[str], Path]) -> None:
        # The host runs this script (beside its own binary) to start the Python program.
        script = module_dir(f"github.com/pulumi/pulumi/sdk/v3@{script_sdk}") / "python/cmd/pulumi-language-python-exec"
        target = build / "bin" / "pulumi-language-python-exec"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(script, target)
        target.chmod(0o755)

    return Recipe(
        "pulumi-language-python",
        _go_mod("pulumi-language-python", "1.24", {"github.com/pulumi/pulumi/sdk/v3": sdk}),
        {"pulumi-language-python": "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"},
        (_version_flag(_PULUMI_VERSION_VAR, sdk),),
        pinned={"exec-script-sdk": script_sdk},
        prepare=prepare,
        extras=("pulumi-language-python-exec",),
    )


_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
# Upstream's main embeds files `go generate` writes from the committed schema; ours embeds the same, generated here.
_PROVIDER_MAIN = """package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
"""


def kubernetes_provider(pins: Mapping[str, Any]) -> Recipe:
    commit, version = pins["pulumi-kubernetes"]["provider"], pins["pulumi-kubernetes"]["version"]

    def prepare(build: Path, module_dir: Callable[[str], Path]) -> None:
        sources = module_dir(f"{_PROVIDER}@{commit}") / "cmd/pulumi-resource-kubernetes"
        schema = json.loads((sources / "schema.json").read_text())
        schema["version"] = version
        (build / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
        mapping = json.loads((sources / "terraform-mapping.json").read_text())
        (build / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))

    return Recipe(
        "pulumi-resource-kubernetes",
        _go_mod("pulumi-kubernetes", "1.24.7", {_PROVIDER: commit}),
        {"pulumi-resource-kubernetes": "."},
        (_version_flag(f"{_PROVIDER}/pkg/version.Version", version),),
        sources={"main.go": _PROVIDER_MAIN},
        prepare=prepare,
    )


def kubernetes(pins: Mapping[str, Any], staging: Callable[[str], list[str]]) -> Recipe:
    """kube-apiserver, kube-controller-manager, kube-scheduler, kubectl; `staging(version)` lists the staging
    modules k8s.io/kubernetes replaces into ./staging, each replaced here by its published v0.x.y."""
    version = pins["kubernetes"]["version"]
    minor = version.lstrip("v").split(".")[1]
    published = "v0." + version.lstrip("v").split(".", 1)[1]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for variable, value in (
            ("gitVersion", version),
            ("gitMajor", "1"),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        ):
            flags.append(_version_flag(f"{package}.{variable}", value))
    replaces = {module: f"{module} {published}" for module in staging(version)}
    commands = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
    return Recipe(
        "kubernetes",
        _go_mod("kubernetes", "1.24.0", {"k8s.io/kubernetes": version}, replaces) + "godebug default=go1.24\n",
        {command: f"k8s.io/kubernetes/cmd/{command}" for command in commands},
        tuple(flags),
    )


def etcd(pins: Mapping[str, Any]) -> Recipe:
    version = pins["etcd"]["version"]
    return Recipe(
        "etcd",
        _go_mod("etcd", "1.26.0", {"go.etcd.io/etcd/server/v3": version}),
        {"etcd": "go.etcd.io/etcd/server/v3"},
    )


def kwok(pins: Mapping[str, Any]) -> Recipe:
    version = pins["kwok"]["version"]
    return Recipe(
        "kwok",
        _go_mod("kwok", "1.26.0", {"sigs.k8s.io/kwok": version}),
        {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
        (_version_flag("sigs.k8s.io/kwok/pkg/consts.Version", version.lstrip("v")),),
    )


class Go:
    """The `go` command, run with module mode on and no workspace, printing nothing unless it fails."""

    def __init__(self, executable: str | None = None) -> None:
        found = executable or shutil.which("go")
        if not found:
            raise ToolchainError("the `go` command is not on PATH: install Go 1.26 or newer to build the toolchain")
        self.executable = found
        self.env = {**os.environ, "GOFLAGS": "-mod=mod", "GOWORK": "off"}

    def run(self, args: list[str], cwd: Path) -> str:
        result = subprocess.run(
            [self.executable, *args], cwd=cwd, env=self.env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise ToolchainError(f"go {' '.join(args[:2])} failed in {cwd}:\n{tail}")
        return result.stdout

    def module_dir(self, spec: str, cwd: Path) -> Path:
        """The extracted source of `module@version` in the module cache (downloaded if missing)."""
        info = json.loads(self.run(["mod", "download", "-json", spec], cwd))
        return Path(info["Dir"])

    def staging_modules(self, version: str, cwd: Path) -> list[str]:
        """The modules k8s.io/kubernetes@version replaces into ./staging (read from its go.mod)."""
        info = json.loads(self.run(["mod", "download", "-json", f"k8s.io/kubernetes@{version}"], cwd))
        lines = Path(info["GoMod"]).read_text().splitlines()
        return sorted(line.split()[0] for line in lines if "=> ./staging/" in line)


def recipes(pins: Mapping[str, Any], staging: Callable[[str], list[str]]) -> list[Recipe]:
    return [
        pulumi_cli(pins),
        language_python(pins),
        kubernetes_provider(pins),
        kubernetes(pins, staging),
        etcd(pins),
        kwok(pins),
    ]


def tools_root() -> Path:
    configured = os.environ.get(TOOLS_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "modelplane" / "tools"


@dataclass(frozen=True)
class Built:
    recipe: Recipe
    directory: Path
    seconds: float | None  # None: taken from the cache

    @property
    def bin(self) -> Path:
        return self.directory / "bin"


class Toolchain:
    """Builds (or finds) every tool and links them into one bin directory."""

    def __init__(self, root: Path | None = None, pins_file: Path = PINS_FILE, go: Go | None = None) -> None:
        self.root = root or tools_root()
        self.pins = load_pins(pins_file)
        self._go = go

    @property
    def go(self) -> Go:
        if self._go is None:
            self._go = Go()
        return self._go

    def staging(self, version: str, *, offline: bool = False) -> list[str]:
        """k8s.io/kubernetes' staging modules, asked of `go` once per version and remembered beside the builds."""
        remembered = self.root / "staging" / f"{version}.json"
        if remembered.is_file():
            return json.loads(remembered.read_text())
        if offline:
            raise ToolchainError(f"Kubernetes {version} has not been built here")
        remembered.parent.mkdir(parents=True, exist_ok=True)
        modules = self.go.staging_modules(version, remembered.parent)
        remembered.write_text(json.dumps(modules))
        return modules

    def build_all(self, progress: Callable[[str], None]) -> Path:
        """Build what is missing, link the bin directory, return it."""
        built = []
        for recipe in recipes(self.pins, self.staging):
            item = self.build(recipe, progress)
            built.append(item)
            how = "cached" if item.seconds is None else f"built in {item.seconds:.0f} s"
            progress(f"{recipe.name}: {how} ({', '.join(recipe.outputs)})")
        return self.link(built)

    def build(self, recipe: Recipe, progress: Callable[[str], None]) -> Built:
        directory = self.root / "builds" / f"{recipe.name}-{recipe.key()}"
        if _complete(directory, recipe):
            return Built(recipe, directory, None)
        progress(f"{recipe.name}: building {', '.join(recipe.packages.values())} (a cold build takes minutes)")
        started = time.monotonic()
        directory.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{recipe.name}-"))
        try:
            self._build_in(work, recipe)
            (work / "built.json").write_text(json.dumps({"seconds": round(time.monotonic() - started, 1)}))
            if directory.exists():
                shutil.rmtree(directory)
            work.rename(directory)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return Built(recipe, directory, time.monotonic() - started)

    def _build_in(self, work: Path, recipe: Recipe) -> None:
        (work / "go.mod").write_text(recipe.go_mod)
        for name, text in recipe.sources.items():
            (work / name).write_text(text)
        imports = sorted(package for package in recipe.packages.values() if package != ".")
        if imports:
            (work / "tools.go").write_text(_tools_go(imports))
        if recipe.prepare:
            recipe.prepare(work, lambda spec: self.go.module_dir(spec, work))
        self.go.run(["mod", "tidy"], work)
        for output, package in recipe.packages.items():
            args = ["build", "-trimpath", "-o", str(work / "bin" / output)]
            if recipe.ldflags:
                args += ["-ldflags", " ".join(recipe.ldflags)]
            self.go.run([*args, package], work)

    def bin_dir(self, recipes_: list[Recipe]) -> Path:
        keys = " ".join(recipe.key() for recipe in recipes_)
        return self.root / hashlib.sha256(keys.encode()).hexdigest()[:16] / "bin"

    def link(self, built: list[Built]) -> Path:
        """Hard links (copies across file systems) of every output in one directory, swapped in whole."""
        target = self.bin_dir([item.recipe for item in built])
        if all((target / name).is_file() for item in built for name in item.recipe.outputs):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".bin-"))
        for item in built:
            for name in item.recipe.outputs:
                _link_or_copy(item.bin / name, staging / name)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        return target

    def installed_bin(self) -> Path | None:
        """The bin directory when every tool of the current pins is built; None otherwise. Never builds or
        downloads anything."""
        try:
            current = recipes(self.pins, lambda version: self.staging(version, offline=True))
        except ToolchainError:
            return None
        target = self.bin_dir(current)
        return target if all((target / name).is_file() for recipe in current for name in recipe.outputs) else None


def _complete(directory: Path, recipe: Recipe) -> bool:
    return (directory / "built.json").is_file() and all((directory / "bin" / n).is_file() for n in recipe.outputs)


def _tools_go(imports: list[str]) -> str:
    """Imports every main package the build needs, so `go mod tidy` keeps their requirements."""
    lines = ["//go:build tools", "", "package tools", "", "import ("]
    return "\n".join([*lines, *(f'\t_ "{package}"' for package in imports), ")", ""])


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
