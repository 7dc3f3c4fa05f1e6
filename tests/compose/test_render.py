"""Render: one YAML file per object under DIR/<cluster>/<namespace or _cluster>/, deterministic, written fresh."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from modelplane.compose.fleet import compose_fleet
from modelplane.compose.outdir import OutputError
from modelplane.compose.render import MARKER, SECRETS_FILE, dump, write
from tests.compose.fixtures import ADDRESSES, rich_fleet, rich_placement


def render(out: Path) -> list[Path]:
    return write(compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=ADDRESSES), out)


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_layout_round_trips_every_object(tmp_path: Path) -> None:
    """One file per cluster and namespace (`_cluster.yaml` for cluster-scoped objects), documents in bundle order."""
    composition = compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=ADDRESSES)
    written = write(composition, tmp_path)
    loaded = {
        path: list(yaml.safe_load_all((tmp_path / path).read_text())) for path in written if path.suffix == ".yaml"
    }
    expected: dict[Path, list[dict]] = {}
    for bundle in composition.bundles:
        for item in bundle.manifests:
            path = Path(bundle.cluster, f"{item['metadata'].get('namespace', '_cluster')}.yaml")
            expected.setdefault(path, []).append(item)
    assert loaded == expected
    assert sorted(path.as_posix() for path in written if path.parts[0] == "gke-b") == [
        "gke-b/_cluster.yaml",
        "gke-b/ml-team.yaml",
        "gke-b/modelplane-system.yaml",
    ]
    assert Path("SECRETS.txt") in written


def test_documents_name_their_owner(tmp_path: Path) -> None:
    render(tmp_path)
    text = (tmp_path / "eks-a" / "ml-team.yaml").read_text()
    assert text.startswith("---\n# ModelCache ml-team/qwen\napiVersion: v1\nkind: PersistentVolumeClaim\n")
    kinds = [item["kind"] for item in yaml.safe_load_all(text)]
    assert kinds.index("ResourceClaimTemplate") < kinds.index("Deployment") < kinds.index("HTTPRoute")
    assert text.count("# ModelReplica ml-team/qwen-f3def\n") == 4  # its Deployment, claim template, Service, route


def test_cluster_scoped_file_sorts_first(tmp_path: Path) -> None:
    """kubectl applies a directory in lexical order, so `_cluster.yaml` (the Namespaces) must come first."""
    render(tmp_path)
    for cluster in (path for path in tmp_path.iterdir() if path.is_dir()):
        assert sorted(path.name for path in cluster.glob("*.yaml"))[0] == "_cluster.yaml"


def test_bytes_are_deterministic(tmp_path: Path) -> None:
    render(tmp_path / "one")
    render(tmp_path / "two")
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    text = (tmp_path / "one" / "eks-a" / "ml-team.yaml").read_text()
    assert "epp-config.yaml: |" in text and "&id" not in text  # literal block, no YAML anchors


def test_rerender_replaces_only_its_own_directories(tmp_path: Path) -> None:
    (tmp_path / "gone-cluster").mkdir()
    (tmp_path / "gone-cluster" / MARKER).write_text("")
    (tmp_path / "gone-cluster" / "stale.yaml").write_text("stale")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    render(tmp_path)
    assert not (tmp_path / "gone-cluster").exists()
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_a_file_the_render_did_not_write_stops_the_rerender_and_nothing_changes(tmp_path: Path) -> None:
    render(tmp_path)
    (tmp_path / "eks-a" / "notes.md").write_text("mine")
    before = tree(tmp_path)
    with pytest.raises(OutputError, match=r"^eks-a/notes.md was not written by modelplane render"):
        render(tmp_path)
    assert tree(tmp_path) == before


def test_secrets_file_names_secrets_not_values(tmp_path: Path) -> None:
    render(tmp_path)
    text = (tmp_path / SECRETS_FILE).read_text()
    for cluster in ("byo-e", "eks-a", "gke-b"):
        assert (
            f"kubectl --context {cluster} --namespace ml-team create secret generic modelcache-ml-team-qwen-auth-ae01b"
            ' --from-literal=HF_TOKEN="$VALUE"'
        ) in text
    assert "config key secrets.hf-token.HF_TOKEN" in text
    assert "kind: Secret" not in "".join(path.read_text() for path in tmp_path.rglob("*.yaml"))


def test_no_secrets_no_secrets_file(tmp_path: Path) -> None:
    render(tmp_path)
    write(compose_fleet(replace(rich_fleet(), caches={}), rich_placement()), tmp_path)
    assert not (tmp_path / SECRETS_FILE).exists()


def test_a_secrets_file_the_render_did_not_write_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / SECRETS_FILE).write_text("mine")
    write(compose_fleet(replace(rich_fleet(), caches={}), rich_placement()), tmp_path)
    assert (tmp_path / SECRETS_FILE).read_text() == "mine"
    with pytest.raises(OutputError, match=r"^SECRETS.txt was not written by modelplane render"):
        render(tmp_path)
    assert (tmp_path / SECRETS_FILE).read_text() == "mine"


def test_dump_is_plain_block_yaml() -> None:
    item = {"a": {"b": [1, True]}, "s": "one\ntwo\n", "l": [{"k": "v", "m": ["x"]}], "e": {}, "q": "yes", "n": "8000"}
    assert dump(item) == (
        'a:\n  b:\n  - 1\n  - true\ns: |\n  one\n  two\nl:\n- k: v\n  m:\n  - x\ne: {}\nq: "yes"\nn: "8000"\n'
    )


def test_dump_matches_pyyaml_on_composed_objects() -> None:
    """Same text as `yaml.safe_dump(sort_keys=False)` wherever PyYAML writes a plain scalar the same way."""
    composition = compose_fleet(rich_fleet(), rich_placement(), gateway_addresses=ADDRESSES)
    for bundle in composition.bundles:
        for item in bundle.manifests:
            assert yaml.safe_load(dump(item)) == item


scalars = st.one_of(
    st.text(),
    st.integers(),
    st.booleans(),
    st.sampled_from(
        [
            "yes",
            "null",
            "~",
            "1e3",
            "0x1f",
            "- a",
            "a: b",
            "a #b",
            "$(X)",
            "x\n",
            "x\ny",
            " x\n",
            "x \ny\n",
            "\t",
            "2024-01-01",
        ]
    ),
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=12), documents, min_size=1, max_size=5))
def test_dump_round_trips_anything(item: dict) -> None:
    assert yaml.safe_load(dump(item)) == item
