"""Mock-monitor tests of the Pulumi program.

Mocks are set here, before any program module is imported (the SDK binds to the monitor in force). Each program run
then goes through `mockview.run_program`, which builds a fresh event loop, settings, config and root stack, so many
programs run in one process without `@pulumi.runtime.test` (which must not be called inside a running event loop).
"""

import pulumi

from modelplane.components.mockview import RecordingMocks

pulumi.runtime.set_mocks(RecordingMocks(), project="modelplane", stack="test", preview=True)
