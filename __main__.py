"""Modelplane on Pulumi: `pulumi up` realises the fleet declared in this stack's config (see README)."""

import pulumi

from modelplane.components.fleet import main

# An async entry point: the program awaits stack references (its own last placement, or the fleet stack's).
pulumi.run(main)
