"""A local twin of the fleet: real Kubernetes control planes with kwok nodes, and the real Pulumi toolchain."""
