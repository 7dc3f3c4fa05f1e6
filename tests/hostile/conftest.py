"""The hostile-input suite. Mocks are set before any program module is imported, as in tests/pulumi."""

import pulumi

from modelplane.components.mockview import RecordingMocks

pulumi.runtime.set_mocks(RecordingMocks(), project="modelplane", stack="test", preview=True)
