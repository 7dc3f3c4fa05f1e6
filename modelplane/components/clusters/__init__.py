"""Cluster sources: EKS, GKE and Existing."""
