"""Rewrite tests/pulumi/data/*_resources.txt from a mock run (after an intended change; review the diff)."""

from tests.pulumi import conftest  # noqa: F401  (mocks first)
from tests.pulumi.helpers import run, stack_config
from tests.pulumi.test_stacks import DATA, listing

if __name__ == "__main__":
    for stack in ("dev", "prod"):
        result = run(stack_config(stack), stack)
        assert result.error is None, result.error
        (DATA / f"{stack}_resources.txt").write_text("\n".join(listing(result)) + "\n")
