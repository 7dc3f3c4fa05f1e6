"""Files on disk stay consistent: render swaps in a complete output, scale edits one value atomically, and
`modelplane:manifests` stays inside the project."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.hostile.harness import (
    BASE,
    PROJECT_FILE,
    Case,
    assert_refused,
    base_documents,
    invoke,
    snapshot,
    stack_text,
    write_project,
)

RENDER = ["render", "{dir}/fleet.yaml", "--out", "{dir}/out"]
SCALE = ["scale", "qwen", "2", "--stack", "dev", "--project-dir", "{dir}", "--no-nudge"]
CACHE = """\
---
apiVersion: modelplane.ai/v1alpha1
kind: ModelCache
metadata: {name: weights, namespace: ml-team}
spec:
  source: HuggingFace
  huggingFace: {repo: Qwen/Qwen3-8B, sizeGiB: 20, authSecret: {name: hf-token}}
"""
WITH_SECRETS = (
    BASE.replace(
        "secretRef: {name: lab-kubeconfig}", "secretRef: {name: lab-kubeconfig}, cache: {storageClassName: rwx}"
    )
    + CACHE
)


def rendered(root: Path, fleet: str = BASE) -> None:
    """A previous render in `out/`."""
    (root / "fleet.yaml").write_text(fleet)
    outcome = invoke(["render", str(root / "fleet.yaml"), "--out", str(root / "out")])
    assert outcome.exit_code == 0, outcome.stderr


def render_case(expect: str, setup: object = None, files: dict[str, str] | None = None, fleet: str = BASE) -> Case:
    return Case({"fleet.yaml": fleet, **(files or {})}, RENDER, expect, setup=setup)  # type: ignore[arg-type]


def after_render(action: object, fleet: str = BASE) -> object:
    def setup(root: Path) -> None:
        rendered(root, fleet)
        action(root)  # type: ignore[operator]

    return setup


MANIFEST_STACK = "config:\n  modelplane:manifests: [m]\n"
BOMB = (
    "[&a [l,l,l,l,l,l,l,l,l], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], "
    "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]]"
)


def fifo(root: Path) -> None:
    """A manifest that is a FIFO: reading it would never end."""
    (root / "m").mkdir()
    os.mkfifo(root / "m" / "fifo.yaml")


def stack_case(text: str, expect: str, args: list[str] = SCALE, **files: str) -> Case:
    return Case({"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text, **files}, args, expect)


def stack_with(deployment_fields: dict[str, object] | None = None, **extra: object) -> str:
    documents = base_documents()
    config = yaml.safe_load(stack_text(documents, extra))
    config["config"]["modelplane:deployments"]["qwen"].update(deployment_fields or {})
    return yaml.safe_dump(config, sort_keys=False)


def link(name: str, target: str) -> object:
    def setup(root: Path) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(target)

    return setup


def outside(root: Path) -> None:
    (root.parent / f"{root.name}-outside").mkdir(exist_ok=True)
    (root.parent / f"{root.name}-outside" / "fleet.yaml").write_text(BASE)


def manifests_case(entries: list[str], expect: str, setup: object = None) -> Case:
    text = f"config:\n  modelplane:manifests: {json.dumps(entries)}\n"
    return Case(
        {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text},
        ["plan", "--stack", "dev", "--project-dir", "{dir}"],
        expect,
        setup=setup,  # type: ignore[arg-type]
    )


def escape_by_symlink(root: Path) -> None:
    outside(root)
    (root / "m").symlink_to(root.parent / f"{root.name}-outside")


def escape_by_file_symlink(root: Path) -> None:
    outside(root)
    (root / "m").mkdir()
    (root / "m" / "a.yaml").symlink_to(root.parent / f"{root.name}-outside" / "fleet.yaml")


CASES = {
    # --- render --out ---
    "out-is-a-file": render_case("--out {dir}/out: exists and is not a directory", files={"out": "mine"}),
    "out-parent-is-a-file": Case(
        {"fleet.yaml": BASE, "file": "mine"},
        ["render", "{dir}/fleet.yaml", "--out", "{dir}/file/out"],
        "cannot create the directory: Not a directory",
    ),
    "out-under-proc": Case(
        {"fleet.yaml": BASE},
        ["render", "{dir}/fleet.yaml", "--out", "/proc/modelplane"],
        "--out /proc/modelplane: cannot create the directory",
    ),
    "cluster-named-user-folder": render_case(
        "lab exists and was not written by modelplane render (remove or rename it); nothing was changed",
        files={"out/lab/notes.md": "mine"},
    ),
    "cluster-named-file": render_case("lab exists and was not written by modelplane render", files={"out/lab": "x"}),
    "cluster-named-symlink": render_case(
        "lab is a symlink; render replaces only what it wrote", setup=link("out/lab", "/tmp")
    ),
    "cluster-symlink-to-previous-render": render_case(
        "lab is a symlink",
        setup=after_render(
            lambda root: (
                (root / "out" / "lab").rename(root / "elsewhere"),
                (root / "out" / "lab").symlink_to(root / "elsewhere"),
            )
        ),
    ),
    "user-file-inside-rendered-cluster": render_case(
        "lab/notes.md was not written by modelplane render (move it out first)",
        setup=after_render(lambda root: (root / "out" / "lab" / "notes.md").write_text("mine")),
    ),
    "user-folder-inside-rendered-cluster": render_case(
        "lab/mine/a.txt was not written by modelplane render",
        setup=after_render(
            lambda root: (
                (root / "out" / "lab" / "mine").mkdir(),
                (root / "out" / "lab" / "mine" / "a.txt").write_text("x"),
            )
        ),
    ),
    "symlink-inside-rendered-cluster": render_case(
        "lab/etc was not written by modelplane render",
        setup=after_render(lambda root: (root / "out" / "lab" / "etc").symlink_to("/etc")),
    ),
    "marker-is-a-symlink": render_case(
        "lab exists and was not written by modelplane render",
        setup=after_render(
            lambda root: (
                (root / "out" / "lab" / ".modelplane-render").unlink(),
                (root / "out" / "lab" / ".modelplane-render").symlink_to("/etc/hostname"),
            )
        ),
    ),
    "user-file-in-a-cluster-that-left": render_case(
        "old/notes.md was not written by modelplane render",
        setup=after_render(
            lambda root: (
                (root / "out" / "lab").rename(root / "out" / "old"),
                (root / "out" / "old" / "notes.md").write_text("mine"),
            )
        ),
    ),
    "foreign-secrets-file": render_case(
        "SECRETS.txt was not written by modelplane render", files={"out/SECRETS.txt": "my notes"}, fleet=WITH_SECRETS
    ),
    "secrets-file-a-symlink": render_case(
        "SECRETS.txt is a symlink", setup=link("out/SECRETS.txt", "/etc/hostname"), fleet=WITH_SECRETS
    ),
    # --- modelplane scale ---
    "scale-nested-replicas": stack_case(stack_with({"replicas": {"n": 3}}), "is a mapping, not a number"),
    "scale-replicas-a-list": stack_case(stack_with({"replicas": [3]}), "is a list, not a number"),
    "scale-placement-not-json": stack_case(
        stack_with(**{"modelplane:placement": "{oops"}), "modelplane:placement: not a placement record: JSON syntax"
    ),
    "scale-placement-out-of-bounds": stack_case(
        stack_with(
            **{
                "modelplane:placement": json.dumps(
                    {
                        "deployments": [
                            {
                                "namespace": "ml-team",
                                "name": "qwen",
                                "replicas": [{"cluster": "lab", "index": -1, "engines": []}],
                            }
                        ]
                    }
                )
            }
        ),
        "the new plan is invalid; nothing changed",
    ),
    "scale-unknown-deployment": stack_case(
        stack_text(base_documents()),
        "declares no deployment 'kimi' under modelplane:deployments (known: qwen)",
        args=["scale", "kimi", "2", "--stack", "dev", "--project-dir", "{dir}", "--no-nudge"],
    ),
    "scale-stack-missing": Case({"Pulumi.yaml": PROJECT_FILE}, SCALE, "no such stack file"),
    "scale-stack-broken-yaml": stack_case("config: [\n", "YAML syntax error at line 2"),
    "scale-stack-without-config": stack_case(
        "modelplane:deployments: {qwen: {replicas: 1}}\n", "must be under `config:`"
    ),
    "scale-stack-bomb": stack_case(
        "config:\n  modelplane:deployments:\n    qwen:\n      replicas: 1\n      x: "
        "[&a [l,l,l,l,l,l,l,l,l], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], "
        "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]]\n",
        "excessive aliasing",
    ),
    "scale-deployments-not-a-mapping": stack_case("config:\n  modelplane:deployments: [qwen]\n", "known: none"),
    "scale-over-int32": stack_case(
        stack_text(base_documents()),
        "less than or equal to 2147483647",
        args=["scale", "qwen", str(2**31), "--stack", "dev", "--project-dir", "{dir}", "--no-nudge"],
    ),
    "scale-beyond-capacity": stack_case(
        stack_text(base_documents()),
        "qwen: 1 of 3 replicas cannot be placed",
        args=["scale", "qwen", "3", "--stack", "dev", "--project-dir", "{dir}", "--no-nudge"],
    ),
    "scale-invalid-fleet": stack_case(
        stack_with({"template": {"spec": {"engines": []}}}), "the new plan is invalid; nothing changed"
    ),
    # --- modelplane scale of a deployment defined in a file of modelplane:manifests ---
    "scale-manifest-beyond-capacity": stack_case(
        MANIFEST_STACK,
        "qwen: 1 of 3 replicas cannot be placed",
        args=["scale", "qwen", "3", "--stack", "dev", "--project-dir", "{dir}", "--no-nudge"],
        **{"m/fleet.yaml": BASE},
    ),
    "scale-manifest-replicas-a-mapping": stack_case(
        MANIFEST_STACK,
        "m/fleet.yaml:3: spec.replicas is a mapping",
        **{"m/fleet.yaml": BASE.replace("  replicas: 1\n", "  replicas: {n: 1}\n")},
    ),
    "scale-manifest-a-fifo": Case(
        {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": "config:\n  modelplane:manifests: [m/fifo.yaml]\n"},
        SCALE,
        "declares no deployment 'qwen' under modelplane:deployments (known: none) nor in the files of",
        setup=fifo,
    ),
    "scale-manifest-bomb": stack_case(
        MANIFEST_STACK,
        "nor in the files of modelplane:manifests",
        **{"m/fleet.yaml": f"a: {BOMB}\n"},
    ),
    # --- modelplane:manifests ---
    "manifests-etc-passwd": manifests_case(
        ["/etc/passwd"], "modelplane:manifests[0]: '/etc/passwd' resolves to /etc/passwd, outside the project"
    ),
    "manifests-etc": manifests_case(
        ["/etc"], "outside the project directory; allow other directories with MODELPLANE_MANIFEST_ROOTS"
    ),
    "manifests-dot-dot": manifests_case(["../x"], "'../x' resolves to", setup=outside),
    "manifests-symlinked-directory": manifests_case(["m"], "'m' resolves to", setup=escape_by_symlink),
    "manifests-symlinked-file": manifests_case(["m"], "m/a.yaml: resolves to", setup=escape_by_file_symlink),
    "manifests-absolute-inside-is-fine-but-missing": manifests_case(["/nonexistent/m"], "outside the project"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_files_on_disk_stay_consistent(case: Case, tmp_path: Path) -> None:
    assert_refused(case, tmp_path / "project")


def test_a_rerender_swaps_in_the_complete_output(tmp_path: Path) -> None:
    rendered(tmp_path, WITH_SECRETS)
    first = snapshot(tmp_path / "out")
    assert {"lab/.modelplane-render", "lab/ml-team.yaml", "SECRETS.txt"} <= set(first)
    rendered(tmp_path, BASE)  # no cache: SECRETS.txt (the render's own) goes
    second = snapshot(tmp_path / "out")
    assert "SECRETS.txt" not in second and "lab/ml-team.yaml" in second
    assert not [name for name in second if ".modelplane-staging-" in name]


def scale(root: Path, replicas: int) -> None:
    outcome = invoke(["scale", "qwen", str(replicas), "--stack", "dev", "--project-dir", str(root), "--no-nudge"])
    assert outcome.exit_code == 0, outcome.stderr


def test_scale_keeps_a_symlinked_stack_file_a_symlink(tmp_path: Path) -> None:
    write_project(tmp_path, {"Pulumi.yaml": PROJECT_FILE, "shared/dev.yaml": stack_text(base_documents())})
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").symlink_to("../shared/dev.yaml")
    scale(tmp_path, 2)
    assert (tmp_path / "stacks" / "Pulumi.dev.yaml").is_symlink()
    assert "replicas: 2" in (tmp_path / "shared" / "dev.yaml").read_text()


def test_scale_changes_only_the_edited_value_of_a_pyyaml_styled_file(tmp_path: Path) -> None:
    text = stack_text(base_documents())  # yaml.safe_dump's style: sequences not indented under their key
    assert "\n          engines:\n          - name: engine\n" in text
    write_project(tmp_path, {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text})
    scale(tmp_path, 2)
    after = (tmp_path / "stacks" / "Pulumi.dev.yaml").read_text()
    changed = [(old, new) for old, new in zip(text.splitlines(), after.splitlines(), strict=True) if old != new]
    assert changed == [("      replicas: 1", "      replicas: 2")]


def test_scale_adds_replicas_where_unset_as_one_line(tmp_path: Path) -> None:
    text = stack_text(base_documents()).replace("      replicas: 1\n", "")
    write_project(tmp_path, {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": text})
    scale(tmp_path, 2)
    after = (tmp_path / "stacks" / "Pulumi.dev.yaml").read_text().splitlines()
    assert [line for line in after if line not in text.splitlines()] == ["      replicas: 2"]
    assert len(after) == len(text.splitlines()) + 1


def test_an_allowed_root_admits_absolute_manifest_paths(tmp_path: Path) -> None:
    outside(tmp_path / "project")
    root = tmp_path / "project-outside"
    write_project(
        tmp_path / "project",
        {"Pulumi.yaml": PROJECT_FILE, "stacks/Pulumi.dev.yaml": f"config:\n  modelplane:manifests: ['{root}']\n"},
    )
    args = ["plan", "--stack", "dev", "--project-dir", str(tmp_path / "project")]
    assert invoke(args).exit_code == 2
    outcome = invoke(args, {"MODELPLANE_MANIFEST_ROOTS": str(root)})
    assert outcome.exit_code == 0, outcome.stderr
