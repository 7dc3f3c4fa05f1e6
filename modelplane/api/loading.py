"""Reading the Fleet from YAML manifests and from a Pulumi stack's config, reporting every problem at once.

Two sources give the same objects: multi-document manifests (what Modelplane users apply today) and a stack's
`modelplane:<kinds>` config maps (name → spec fields, plus an optional `metadata`). Nothing here raises on the first
problem: readers collect every Problem, and the public loaders raise one InvalidInputError with all of them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from modelplane.api.common import API_VERSION, NamespacedResource, Resource
from modelplane.api.documents import (
    InputError,
    Limits,
    json_documents,
    read_text,
    yaml_documents,
)
from modelplane.api.errors import InvalidInputError, Origin, Problem
from modelplane.api.field_hints import unknown_field_hint
from modelplane.api.fleet import KINDS, Fleet, FleetSettings
from modelplane.api.manifest_files import (
    MANIFEST_SUFFIXES,
    OutsideProjectError,
    allowed_roots,
    contained,
    manifest_files,
)

API_GROUP = API_VERSION.partition("/")[0]
# Kinds of our group that Modelplane creates itself (one per replica): a dump of them is skipped, like other kinds.
CREATED_KINDS = frozenset({"ModelReplica"})
STACK_DIR = "stacks"
# A stack file's own keys besides `config` (Pulumi's): a file without `config:` but with `ns:key` keys lost it.
STACK_FILE_KEYS = frozenset({"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"})

# Stack config key → the kind of the objects it maps by name.
OBJECT_KEYS: dict[str, str] = {
    "modelplane:classes": "InferenceClass",
    "modelplane:clusters": "InferenceCluster",
    "modelplane:deployments": "ModelDeployment",
    "modelplane:caches": "ModelCache",
    "modelplane:services": "ModelService",
    "modelplane:endpoints": "ModelEndpoint",
    "modelplane:gateways": "InferenceGateway",
}
MANIFESTS_KEY = "modelplane:manifests"
ROLE_KEY = "modelplane:role"
FLEET_STACK_KEY = "modelplane:fleetStack"
SCHEDULING_KEY = "modelplane:scheduling"
PLACEMENT_KEY = "modelplane:placement"
SECRETS_KEY = "modelplane:secrets"
# Keys the Pulumi program reads for itself: accepted here and otherwise ignored.
PROGRAM_KEYS = frozenset(
    {
        ROLE_KEY,
        "modelplane:cluster",
        FLEET_STACK_KEY,
        "modelplane:recoverPlacement",
        "modelplane:chartVersions",
        "modelplane:gatewayAddresses",
        "modelplane:installCharts",
        "modelplane:clusterStacks",
    }
)
KNOWN_KEYS = frozenset({*OBJECT_KEYS, MANIFESTS_KEY, SCHEDULING_KEY, PLACEMENT_KEY, SECRETS_KEY, *PROGRAM_KEYS})

# Pydantic messages reworded for people editing YAML; other messages are kept as pydantic wrote them.
_MESSAGES = {"extra_forbidden": "unknown field", "missing": "required"}
_HINTED = 100  # problems per object that get a "did you mean"
_PLAIN_KEY = re.compile(r"^[^./\[\]\s]+$")
T = TypeVar("T")


@dataclass(frozen=True)
class StackInputs:
    """What one plan reads: the fleet, the previous placement record, and the stack config (minus secrets)."""

    fleet: Fleet
    previous: dict[str, Any] | None
    config: dict[str, Any]


def format_path(parts: Iterable[str | int]) -> str:
    """A field path as the user wrote it: `spec.engines[0].members[1].worker`, odd map keys as `labels[a.b/c]`."""
    text = ""
    for part in parts:
        if isinstance(part, str) and len(part) > 253:  # no field or key name is longer; a key may be megabytes long
            part = f"[{part[:250]}...]"
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("[") and part.endswith("]"):  # pydantic's own markers, e.g. `[key]`
            text += part
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part}]"
    return text


def load_paths(paths: Sequence[Path], *, settings: FleetSettings | None = None) -> Fleet:
    """Load manifest files and directories (recursively, `*.yaml`/`*.yml`, sorted) into a Fleet."""
    reader = _Reader()
    for path in paths:
        reader.read_path(path, str(path))
    fleet = reader.fleet(settings)
    reader.require_objects(", ".join(map(str, paths)) or "<input>")
    return _checked(fleet, reader.problems)


def fleet_from_stack_config(
    config: Mapping[str, Any], *, project_dir: Path, source: str, texts: Mapping[Path, str] | None = None
) -> Fleet:
    """The Fleet of a stack's `config:` mapping; `source` (e.g. `stacks/Pulumi.dev.yaml`) names it in problems.
    `texts` stands in for manifest files by their resolved path (an edit checked before it is written)."""
    reader = _Reader(texts=dict(texts or {}))
    fleet = reader.fleet(reader.read_config(config, project_dir, source))
    return _checked(fleet, reader.problems)


def previous_from_config(config: Mapping[str, Any], *, source: str = "stack config") -> dict[str, Any] | None:
    """The previous placement record (`modelplane:placement`, a JSON string or a mapping), or None."""
    previous, problems = _previous(config, source)
    return _checked(previous, problems)


def load_stack(project_dir: Path, stack: str) -> StackInputs:
    """Read `project_dir/stacks/Pulumi.<stack>.yaml`: its fleet, previous placement and config."""
    inputs, problems = collect_inputs((), stack, project_dir)
    return _checked(inputs, problems)


def collect_inputs(paths: Sequence[Path], stack: str | None, project_dir: Path) -> tuple[StackInputs, list[Problem]]:
    """Read a stack and/or manifest paths (merged into one fleet); return what is valid and every problem, unraised."""
    reader = _Reader()
    config: dict[str, Any] = {}
    settings, previous = None, None
    if stack is not None:
        source = stack_source(project_dir, stack)
        config = reader.read_stack_file(project_dir / source, source)
        settings = reader.read_config(config, project_dir, source)
        previous, problems = _previous(config, source)
        reader.problems.extend(problems)
    elif not paths:
        reader.problem(Origin("<input>"), "no input: give manifest paths or a stack")
    for path in paths:
        reader.read_path(path, str(path))
    fleet = reader.fleet(settings)
    where = stack_source(project_dir, stack) if stack is not None else ", ".join(map(str, paths))
    reader.require_objects(where, _cluster_stack(config) if config.get(ROLE_KEY) == "cluster" else "")
    # The loader never hands secrets on: the Pulumi program reads them itself, as secrets.
    public = {key: value for key, value in config.items() if key != SECRETS_KEY}
    return StackInputs(fleet, previous, public), reader.problems


def _cluster_stack(config: Mapping[str, Any]) -> str:
    """What a split fleet's cluster stack with no objects of its own says instead of 'nothing found'."""
    fleet_stack = config.get(FLEET_STACK_KEY)
    if not isinstance(fleet_stack, str) or not fleet_stack:
        return f"a cluster stack ({ROLE_KEY}: cluster) needs {FLEET_STACK_KEY}, the fleet stack that plans it"
    short = fleet_stack.rsplit("/", 1)[-1]
    return (
        f"a cluster stack of fleet stack {fleet_stack[:200]}: its objects and its share of the placement come from "
        f"that stack; plan or render the fleet with --stack {short[:64]} (`pulumi up` of this stack applies its share)"
    )


def stack_warnings(project_dir: Path, stack: str) -> list[str]:
    """What the offline commands cannot see in a stack file: the config of its ESC `environment:` imports, which
    only the Pulumi CLI resolves (with a backend login). None when the file cannot be read: the loader says why."""
    source = stack_source(project_dir, stack)
    try:
        settings = single_document(project_dir / source, Limits.from_env())
    except (OSError, InputError):
        return []
    imports = settings.get("environment") if isinstance(settings, dict) else None
    if not imports:
        return []
    names = [str(item)[:200] for item in imports] if isinstance(imports, list) else []
    named = f"ESC environment(s) {', '.join(names[:10])}" if names else "an ESC `environment:` block"
    return [
        f"{source}: environment: {named}: the offline commands (plan, render, synth, scale, status, the plan of "
        "preview) do not read ESC environments, so config they set is not seen here; `pulumi preview` and `pulumi up` "
        "see it"
    ]


def stack_source(project_dir: Path, stack: str) -> str:
    """The stack file, relative to the project, where Pulumi keeps it: `<stackConfigDir>/Pulumi.<short name>.yaml`
    (`org/proj/dev` → dev). Without a Pulumi.yaml, this project's own `stacks/`."""
    return str(PurePosixPath(_stack_config_dir(project_dir)) / f"Pulumi.{stack.rsplit('/', 1)[-1]}.yaml")


def missing_stack_file(path: Path) -> str:
    """The one wording of a missing stack file, for every command: the stacks that do exist, the closest first."""
    found = sorted(item.name[len("Pulumi.") : -len(".yaml")] for item in _stack_files(path.parent))
    if not found:
        return "no such stack file"
    wanted = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    guess = difflib.get_close_matches(wanted, found, n=1)
    hint = f"did you mean {guess[0]}? " if guess else ""
    shown = ", ".join(found[:20]) + (", ..." if len(found) > 20 else "")
    return f"no such stack file ({hint}stacks here: {shown})"


def _stack_files(directory: Path) -> list[Path]:
    try:
        return [item for item in directory.glob("Pulumi.*.yaml") if item.is_file()]
    except OSError:
        return []


def _stack_config_dir(project_dir: Path) -> str:
    try:
        project = single_document(project_dir / "Pulumi.yaml", Limits.from_env())
    except (OSError, InputError):
        return STACK_DIR
    # Pulumi's own default, when Pulumi.yaml names no stackConfigDir, is the project directory.
    return str(project.get("stackConfigDir", ".")) if isinstance(project, dict) else STACK_DIR


def _checked(value: T, problems: list[Problem]) -> T:
    if problems:
        raise InvalidInputError(problems)
    return value


@dataclass
class _Reader:
    """Objects read so far, notices for skipped documents, problems, and the objects that failed to validate."""

    objects: list[tuple[Resource, Origin]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # (kind, namespace, name) of invalid objects: a reference to one of them is not also reported as dangling.
    failed: set[tuple[str, str, str]] = field(default_factory=set)
    limits: Limits = field(default_factory=Limits)
    texts: dict[Path, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            self.limits = Limits.from_env()
        except InputError as error:
            self.problem(Origin("environment"), error.message)

    def problem(self, origin: Origin, message: str) -> None:
        """A problem about a file or config key rather than one object."""
        self.problems.append(Problem(origin, "", "", "", message))

    def read_path(self, path: Path, display: str, roots: tuple[Path, ...] = ()) -> None:
        """A manifest file, or every manifest file below a directory in sorted order; with `roots`, only files that
        resolve below one of them (a stack file's `modelplane:manifests`)."""
        if path.is_dir():
            files = manifest_files(path)
            if not files:
                suffixes = ", ".join(f"*{suffix}" for suffix in MANIFEST_SUFFIXES)
                self.problem(Origin(display), f"no manifest files ({suffixes}) in this directory")
            for item in files:
                self.read_file(item, str(Path(display) / item.relative_to(path)), roots)
        elif path.is_file():
            self.read_file(path, display, roots)
        else:
            self.problem(Origin(display), "no such file or directory")

    def read_file(self, path: Path, display: str, roots: tuple[Path, ...] = ()) -> None:
        """Every document of one YAML file (numbered from 1), or the one value of a JSON file."""
        try:
            if roots:
                contained(path, roots)
            text = self.texts.get(path.resolve()) if self.texts else None
            text = read_text(path, self.limits) if text is None else text
            parse = json_documents if path.suffix == ".json" else yaml_documents
            documents = parse(text, self.limits)
        except OSError as error:
            self.problem(Origin(display), f"cannot read: {error.strerror or error}")
            return
        except (InputError, OutsideProjectError) as error:
            self.problem(Origin(display, getattr(error, "document", None)), str(error))
            return
        for number, data in enumerate(documents, start=1):
            self.read_document(data, Origin(display, number))

    def read_document(self, data: Any, origin: Origin) -> None:
        """Validate a fleet kind; refuse any other kind of our API group (a misspelt kind must not pass); read the
        items of a `v1` List; skip any other Kubernetes object with one notice; ignore an empty document."""
        if data is None:
            return
        if not isinstance(data, dict):
            self.problem(origin, "document is not a mapping (a Kubernetes object)")
            return
        api_version, kind = data.get("apiVersion"), data.get("kind")
        if not (isinstance(api_version, str) and isinstance(kind, str) and api_version and kind):
            self.problem(origin, "apiVersion and kind are required strings")
        elif kind in KINDS and api_version.partition("/")[0] == API_GROUP:
            if api_version == API_VERSION:
                self.add(KINDS[kind], data, origin)
            else:
                self.problems.append(_object_problem(KINDS[kind], data, origin, "apiVersion", f"use {API_VERSION}"))
        elif api_version.partition("/")[0] == API_GROUP and kind not in CREATED_KINDS:
            self.problems.append(_unknown_kind(kind, data, origin))
        elif (api_version, kind) == ("v1", "List"):
            items = data.get("items")
            if not isinstance(items, list):
                self.problems.append(Problem(origin, "List", "", "items", "must be a list of objects"))
                return
            for item in items:
                self.read_document(item, origin)
        else:
            self.notices.append(f"{origin}: skipped {kind}{_display_name(data)} (not a Modelplane fleet kind)")

    def require_objects(self, where: str, instead: str = "") -> None:
        """Finding nothing is a problem, never an empty fleet (a wrong directory, a stack file missing `config:`);
        `instead` says why there is nothing here and where the objects are (a cluster stack's fleet stack)."""
        if self.objects or self.failed or self.problems:
            return
        skipped = f"; {len(self.notices)} object(s) of other kinds skipped" if self.notices else ""
        message = instead or f"no Modelplane objects found ({', '.join(KINDS)}){skipped}"
        self.problem(Origin(where or "<input>"), message)

    def add(self, model: type[Resource], data: Mapping[str, Any], origin: Origin) -> None:
        """Validate one object; its validation errors become problems naming the fields as written."""
        try:
            self.objects.append((model.model_validate(data), origin))
        except ValidationError as error:
            self.failed.add(_identity(model, data))
            self.problems.extend(
                _object_problem(model, data, origin, path, text) for path, text in _readable(error, model)
            )

    def read_stack_file(self, path: Path, source: str) -> dict[str, Any]:
        """The `config:` mapping of a Pulumi stack settings file ({} after a problem)."""
        try:
            settings = single_document(path, self.limits)
        except FileNotFoundError:
            self.problem(Origin(source), missing_stack_file(path))
            return {}
        except OSError as error:
            self.problem(Origin(source), f"cannot read: {error.strerror or error}")
            return {}
        except InputError as error:
            self.problem(Origin(source), error.message)
            return {}
        problem, config = stack_config(settings)
        if problem:
            self.problem(Origin(source), problem)
        return config

    def read_config(self, config: Mapping[str, Any], project_dir: Path, source: str) -> FleetSettings | None:
        """Fleet objects, manifests and scheduling settings of a stack config; returns the settings if given."""
        self.problems.extend(_key_problems(config, source))
        for key, kind in OBJECT_KEYS.items():
            self.read_objects(KINDS[kind], config.get(key), Origin(f"{source}:{key}"))
        manifests = _structured(config.get(MANIFESTS_KEY))
        if manifests is not None and not (isinstance(manifests, list) and all(isinstance(m, str) for m in manifests)):
            self.problem(Origin(f"{source}:{MANIFESTS_KEY}"), "must be a list of paths relative to the project")
        elif manifests:
            roots = allowed_roots(project_dir)
            for index, entry in enumerate(manifests):
                try:
                    contained(project_dir / entry, roots)
                except OutsideProjectError as error:
                    self.problem(Origin(f"{source}:{MANIFESTS_KEY}[{index}]"), f"{entry[:200]!r} {error}")
                    continue
                self.read_path(project_dir / entry, entry, roots)
        return self.read_settings(config.get(SCHEDULING_KEY), Origin(f"{source}:{SCHEDULING_KEY}"))

    def read_objects(self, model: type[Resource], value: Any, origin: Origin) -> None:
        """One `modelplane:<kinds>` map: object name → spec fields, with an optional `metadata`."""
        value = _structured(value)
        if value is None:
            return
        if not isinstance(value, Mapping):
            self.problem(origin, "must map object names to their spec fields")
            return
        for name in sorted(value, key=str):
            self.read_stack_object(model, str(name), value[name], Origin(_config_path(origin.file, str(name))))

    def read_stack_object(self, model: type[Resource], name: str, fields: Any, origin: Origin) -> None:
        """Turn one stack config entry into the document a manifest would hold, then validate it."""
        data = _stack_document(model, name, fields)
        if data is None:
            data = {"metadata": {"name": name}}
            path = "metadata" if isinstance(fields, Mapping) else ""
            self.problems.append(_object_problem(model, data, origin, path, "must be a mapping"))
            self.failed.add(_identity(model, data))
            return
        if isinstance(fields, Mapping) and "name" in (fields.get("metadata") or {}):
            message = "not allowed: the name is the key of the entry"
            self.problems.append(_object_problem(model, data, origin, "metadata.name", message))
        # Never validate a `secure:` value: pydantic would echo the ciphertext, and it is not a fleet field.
        secure = _secure_problems(model, data, origin)
        self.problems.extend(secure)
        if secure:
            self.failed.add(_identity(model, data))
        else:
            self.add(model, data, origin)

    def read_settings(self, value: Any, origin: Origin) -> FleetSettings | None:
        """`modelplane:scheduling` → FleetSettings (None when absent)."""
        value = _structured(value)
        if value is None:
            return None
        try:
            return FleetSettings.model_validate(value)
        except ValidationError as error:
            self.problems.extend(Problem(origin, "", "", path, text) for path, text in _readable(error, FleetSettings))
            return None

    def fleet(self, settings: FleetSettings | None) -> Fleet:
        """Build the Fleet of the valid objects; duplicates and dangling references join the problems."""
        unique: list[tuple[Resource, Origin]] = []
        first: dict[tuple[str, str], Origin] = {}
        for obj, origin in self.objects:
            identity = (obj.kind, obj.key)
            if identity in first:
                message = f"duplicate: first defined at {first[identity]}"
                self.problems.append(Problem(origin, obj.kind, obj.name, "", message, obj.namespace))
            else:
                first[identity] = origin
                unique.append((obj, origin))
        fleet = Fleet.build(unique, self.notices, settings)
        hidden = {_not_found_message(*identity) for identity in self.failed}
        self.problems.extend(problem for problem in fleet.reference_problems() if problem.message not in hidden)
        return fleet


def secret_problems(config: Mapping[str, Any], source: str) -> list[Problem]:
    """Every `secure:` value inside the fleet keys of a stack file's config, reported exactly as `plan` reports it
    (the Pulumi program, which only sees decrypted values, asks this of the stack file on disk)."""
    problems = []
    for key, kind in OBJECT_KEYS.items():
        value = config.get(key)
        for name in sorted(value, key=str) if isinstance(value, Mapping) else []:
            model = KINDS[kind]
            data = _stack_document(model, str(name), value[name])
            if data is not None:
                problems.extend(_secure_problems(model, data, Origin(_config_path(f"{source}:{key}", str(name)))))
    for key in (MANIFESTS_KEY, SCHEDULING_KEY):
        if next(_secure_paths(config.get(key), ()), None) is not None:
            problems.append(Problem(Origin(f"{source}:{key}"), "", "", "", f"secrets belong under {SECRETS_KEY}"))
    return problems


def stack_file_secret_problems(project_dir: Path, stack: str) -> list[Problem]:
    """`secret_problems` of the stack's settings file (none when it cannot be read: other problems say why)."""
    source = stack_source(project_dir, stack)
    return secret_problems(_Reader().read_stack_file(project_dir / source, source), source)


def _stack_document(model: type[Resource], name: str, fields: Any) -> dict[str, Any] | None:
    """The manifest document a stack config entry stands for; None when its fields or metadata are no mapping."""
    fields = {} if fields is None else fields
    metadata = (fields.get("metadata") or {}) if isinstance(fields, Mapping) else None
    if not isinstance(metadata, Mapping):
        return None
    spec = {key: value for key, value in fields.items() if key != "metadata"}
    return {"apiVersion": API_VERSION, "kind": _kind(model), "metadata": {**metadata, "name": name}, "spec": spec}


def _secure_problems(model: type[Resource], data: Mapping[str, Any], origin: Origin) -> list[Problem]:
    message = f"secrets belong under {SECRETS_KEY}"
    return [_object_problem(model, data, origin, format_path(path), message) for path in _secure_paths(data, ())]


def single_document(path: Path, limits: Limits) -> Any:
    """The one YAML document of a settings file (Pulumi.yaml, a stack file); raises OSError or InputError.

    Top-level config values are exempt from the string limit: the placement record is one JSON string there.
    """
    documents = yaml_documents(read_text(path, limits), limits, unlimited_strings_at=2)
    if len(documents) > 1:
        raise InputError(f"holds {len(documents)} YAML documents; a settings file holds one")
    return documents[0] if documents else None


def stack_config(settings: Any) -> tuple[str, dict[str, Any]]:
    """(problem or "", the `config:` mapping) of a parsed stack settings file."""
    if settings is None:
        return "", {}
    if not isinstance(settings, dict):
        return "not a Pulumi stack settings file: expected a mapping with a `config:` mapping", {}
    config = settings.get("config")
    if config is None:
        stray = sorted(str(key) for key in settings if key not in STACK_FILE_KEYS)
        if stray:
            shown = ", ".join(key[:64] for key in stray[:3])
            return f"not a Pulumi stack settings file: config keys ({shown}) must be under `config:`", {}
        return "", {}
    if not isinstance(config, dict):
        return "not a Pulumi stack settings file: `config` must be a mapping", {}
    return "", config


def _readable(error: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    """(field path, message) per pydantic error, in the words a YAML author needs; the first unknown fields of an
    object get a "did you mean" (past those, a document of thousands of them would pay for hints nobody reads)."""
    items = error.errors(include_url=False)
    return [(format_path(item["loc"]), _message(item, model if n < _HINTED else None)) for n, item in enumerate(items)]


def _message(item: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    if item["type"] == "extra_forbidden" and model is not None:
        return _MESSAGES["extra_forbidden"] + unknown_field_hint(model, item["loc"])
    if item["type"] in _MESSAGES:
        return _MESSAGES[item["type"]]
    message = str(item["msg"]).removeprefix("Value error, ")
    value = item.get("input")
    # A short scalar input helps ("... greater than or equal to 0 (got -1)"); value errors already name it. The size
    # is checked before anything is formatted: an input may be as large as the limits allow.
    if item["type"] != "value_error" and _short(value):
        message += f" (got {value!r})"
    return message


def _short(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= 62
    if isinstance(value, bool | float):
        return True
    return isinstance(value, int) and value.bit_length() <= 128


def _kind(model: type[Resource]) -> str:
    return str(model.model_fields["kind"].default)


def _identity(model: type[Resource], data: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of a document as written, with a namespaced kind's namespace defaulted."""
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace = str(metadata.get("namespace") or "default") if issubclass(model, NamespacedResource) else ""
    return _kind(model), namespace, str(metadata.get("name") or "")


def _object_problem(model: type[Resource], data: Mapping[str, Any], origin: Origin, path: str, text: str) -> Problem:
    kind, namespace, name = _identity(model, data)
    return Problem(origin, kind, name, path, text, namespace)


def _unknown_kind(kind: str, data: Mapping[str, Any], origin: Origin) -> Problem:
    """A kind our API group does not have, with the closest kind it does (case aside)."""
    by_lower = {known.lower(): known for known in KINDS}
    # No kind is longer than 253 characters; a longer one is compared with nothing (it may be megabytes long).
    guess = difflib.get_close_matches(kind.lower(), sorted(by_lower), n=1) if len(kind) <= 253 else []
    hint = f"did you mean {by_lower[guess[0]]}?" if guess else f"the kinds are {', '.join(KINDS)}"
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    namespace, name = (str(metadata.get(key) or "") for key in ("namespace", "name"))
    return Problem(origin, kind[:64], name, "kind", f"unknown kind in {API_GROUP}; {hint}", namespace)


def _not_found_message(kind: str, namespace: str, name: str) -> str:
    """The message Fleet.reference_problems gives for a missing `kind` named `name`."""
    return f"{kind} {name!r} not found in namespace {namespace!r}" if namespace else f"{kind} {name!r} not found"


def _display_name(data: Mapping[str, Any]) -> str:
    """` namespace/name` (or ` name`) of any Kubernetes document, empty when it has none."""
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping) or not metadata.get("name"):
        return ""
    namespace = metadata.get("namespace")
    return f" {namespace}/{metadata['name']}" if namespace else f" {metadata['name']}"


def _config_path(key: str, name: str) -> str:
    """`key.name`, or `key["name"]` when the name has a dot, as `pulumi config set --path` spells it."""
    return f"{key}.{name}" if _PLAIN_KEY.match(name) else f'{key}["{name}"]'


def _structured(value: Any) -> Any:
    """A config value as data: the Pulumi runtime hands structured config to programs as JSON text."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            return json_documents(value, Limits.from_env())[0]
        except InputError:
            return value
    return value


def _secure_paths(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """Where Pulumi `secure:` values (a mapping with the single key `secure`) sit inside `value`, in key order.

    Walked with a stack, not recursion: it runs over every stack config object, and shared (aliased) parts are
    bounded by the input limits, not by Python's recursion limit.
    """
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, dict):
            if len(item) == 1 and "secure" in item:
                yield where
                continue
            pending.extend((item[key], (*where, str(key))) for key in sorted(item, key=str, reverse=True))
        elif isinstance(item, list):
            pending.extend((item[index], (*where, index)) for index in range(len(item) - 1, -1, -1))


def _key_problems(config: Mapping[str, Any], source: str) -> list[Problem]:
    """Typo protection: every `modelplane:` key must be known; keys of other namespaces are not ours to judge."""
    problems = []
    for key in sorted(map(str, config)):
        if ":" not in key:
            problems.append(Problem(Origin(source), "", "", "", f"config key {key!r} must be written namespace:key"))
        elif key.startswith("modelplane:") and key not in KNOWN_KEYS:
            guess = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            hint = f"; did you mean {guess[0]}?" if guess else ""
            problems.append(Problem(Origin(f"{source}:{key}"), "", "", "", f"unknown config key{hint}"))
    return problems


def _previous(config: Mapping[str, Any], source: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """`modelplane:placement` as a mapping; its content is the scheduler's to judge."""
    value = config.get(PLACEMENT_KEY)
    origin = Origin(f"{source}:{PLACEMENT_KEY}")
    if value is None or value == "":
        return None, []
    if isinstance(value, str):
        try:
            value = json_documents(value, Limits.from_env())[0]
        except InputError as error:
            return None, [Problem(origin, "", "", "", f"not a placement record: {error.message}")]
    if not isinstance(value, Mapping):
        return None, [Problem(origin, "", "", "", "must be a mapping (the record `modelplane plan -o json` writes)")]
    return dict(value), []
